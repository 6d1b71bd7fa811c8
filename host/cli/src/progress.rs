//! Ollama-style progress for the streamed statuses of pull, push and create: one bar per
//! layer (`pulling 4f659a1e86d7: 100% ▕████▏ 98 MB  45 MB/s`) and the other statuses as
//! lines. When stderr is not a terminal (logs, tests) each status is printed once instead.

use std::collections::HashMap;
use std::io::IsTerminal;

use anyhow::{bail, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

pub struct Progress {
    bars: MultiProgress,
    per_layer: HashMap<String, ProgressBar>,
    last_status: String,
    tty: bool,
}

impl Progress {
    pub fn new() -> Progress {
        let tty = std::io::stderr().is_terminal();
        let target = if tty { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        Progress { bars: MultiProgress::with_draw_target(target), per_layer: HashMap::new(), last_status: String::new(), tty }
    }

    fn style() -> ProgressStyle {
        ProgressStyle::with_template("{msg}: {percent:>3}% ▕{bar:25}▏ {decimal_bytes:>8}/{decimal_total_bytes:<8} {decimal_bytes_per_sec:>10} {eta}")
            .expect("a valid template")
            .progress_chars("██ ")
    }

    /// A line of text above the bars (or on its own without a terminal).
    pub fn println(&mut self, text: &str) {
        if self.tty {
            let _ = self.bars.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    /// One streamed object: `{"error"}` fails, a layer's counts move its bar, any other
    /// status is printed when it changes.
    pub fn update(&mut self, v: &Value) -> Result<()> {
        if let Some(e) = v["error"].as_str() {
            self.finish();
            bail!("{e}");
        }
        let status = v["status"].as_str().unwrap_or("").to_string();
        match (v["digest"].as_str(), v["total"].as_u64()) {
            (Some(digest), Some(total)) if total > 0 => {
                let completed = v["completed"].as_u64().unwrap_or(0);
                if !self.per_layer.contains_key(digest) {
                    let bar = self.bars.add(ProgressBar::new(total).with_style(Self::style()).with_message(status.clone()));
                    if !self.tty {
                        eprintln!("{status}");
                    }
                    self.per_layer.insert(digest.to_string(), bar);
                }
                let bar = &self.per_layer[digest];
                bar.set_length(total);
                bar.set_position(completed);
                if completed >= total {
                    bar.finish();
                }
            }
            _ if !status.is_empty() && status != self.last_status => {
                self.println(&status);
                self.last_status = status;
            }
            _ => {}
        }
        Ok(())
    }

    pub fn finish(&mut self) {
        for bar in self.per_layer.values() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }

    /// Drives a whole NDJSON progress stream.
    pub fn follow(mut self, lines: impl Iterator<Item = Result<Value>>) -> Result<()> {
        for line in lines {
            self.update(&line?)?;
        }
        self.finish();
        Ok(())
    }
}

/// Sends `len` bytes of `reader` through `send` with a bar (`copying file sha256:…`), or
/// one line when it is done without a terminal.
pub fn upload<R: std::io::Read>(
    label: &str,
    len: u64,
    reader: R,
    send: impl FnOnce(&mut dyn std::io::Read) -> Result<()>,
) -> Result<()> {
    if !std::io::stderr().is_terminal() {
        let mut reader = reader;
        send(&mut reader)?;
        eprintln!("{label} 100%");
        return Ok(());
    }
    let bar = ProgressBar::new(len).with_style(Progress::style()).with_message(label.to_string());
    let mut reader = bar.wrap_read(reader);
    send(&mut reader)?;
    bar.finish();
    Ok(())
}
