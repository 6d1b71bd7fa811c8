//! Commands that talk HTTP to `wollama serve`, laid out like ollama's.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::client::Client;

#[derive(Args)]
pub struct CreateArgs {
    /// Name of the model to create.
    name: String,
    /// The Modelfile (default: ./Modelfile).
    #[arg(short, long, default_value = "Modelfile")]
    file: PathBuf,
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn expand(base: &Path, p: &str) -> PathBuf {
    let p = match p.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(rest),
        None => PathBuf::from(p),
    };
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

/// Uploads a file as a blob unless the server has it; returns its `sha256:<hex>`.
pub(crate) fn upload(c: &Client, path: &Path) -> Result<String> {
    let hex = sha256_file(path)?;
    let blob = format!("/api/blobs/sha256:{hex}");
    if c.send("HEAD", &blob, 0, &mut std::io::empty())?.status != 200 {
        let len = std::fs::metadata(path)?.len();
        let f = std::fs::File::open(path)?;
        crate::progress::upload(&format!("copying file sha256:{hex}"), len, f, |r| {
            c.send("POST", &blob, len, r)?.ok().map(drop)
        })?;
    }
    Ok(format!("sha256:{hex}"))
}

/// The files of a safetensors directory a conversion may need, by relative path: the
/// weights, the JSON files, and JSON one level down (sentence-transformers' 1_Pooling/).
pub(crate) fn model_dir_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if path.is_file() && (name.ends_with(".safetensors") || name.ends_with(".json")) {
            out.push((name, path));
        } else if path.is_dir() && !name.starts_with('.') {
            let mut inner: Vec<_> = std::fs::read_dir(&path)?.collect::<std::io::Result<_>>()?;
            inner.sort_by_key(|e| e.file_name());
            for f in inner {
                let fname = f.file_name().to_string_lossy().into_owned();
                if f.path().is_file() && fname.ends_with(".json") {
                    out.push((format!("{name}/{fname}"), f.path()));
                }
            }
        }
    }
    if !out.iter().any(|(n, _)| n.ends_with(".safetensors")) {
        bail!("{} holds no .safetensors file", dir.display());
    }
    Ok(out)
}

pub fn create(a: CreateArgs) -> Result<()> {
    let c = Client::from_env()?;
    let bytes = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let mf = wollama_store::Modelfile::parse_bytes(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let req = mf.to_request().map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in &req.warnings {
        eprintln!("{w}");
    }
    let base = a.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut body = Map::new();
    body.insert("model".into(), json!(a.name));
    let mut files = Map::new();
    for from in &req.from {
        let path = expand(&base, from);
        if path.is_file() {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model.gguf".into());
            files.insert(name, json!(upload(&c, &path)?));
        } else if path.is_dir() {
            // A safetensors model directory, uploaded file by file as Ollama's CLI does.
            for (name, file) in model_dir_files(&path)? {
                files.insert(name, json!(upload(&c, &file)?));
            }
        } else {
            body.insert("from".into(), json!(from));
        }
    }
    if !files.is_empty() {
        body.insert("files".into(), Value::Object(files));
    }
    if let Some(t) = &req.template {
        body.insert("template".into(), json!(t));
    }
    if let Some(s) = &req.system {
        body.insert("system".into(), json!(s));
    }
    if !req.license.is_empty() {
        body.insert("license".into(), json!(req.license));
    }
    if !req.parameters.is_empty() {
        body.insert("parameters".into(), Value::Object(req.parameters.clone()));
    }
    if !req.messages.is_empty() {
        body.insert("messages".into(), serde_json::to_value(&req.messages)?);
    }
    let resp = c.json("POST", "/api/create", &Value::Object(body))?.ok()?;
    crate::progress::Progress::new().follow(resp.lines())
}

/// Decimal units as ollama prints sizes ("92 MB").
pub fn human_bytes(n: u64) -> String {
    let units = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")];
    for (scale, unit) in units {
        if n as f64 >= scale {
            let v = n as f64 / scale;
            return if v >= 10.0 { format!("{v:.0} {unit}") } else { format!("{v:.1} {unit}") };
        }
    }
    format!("{n} B")
}

fn human_ago(t: SystemTime) -> String {
    let d = SystemTime::now().duration_since(t).unwrap_or_default().as_secs();
    let (n, unit) = match d {
        0..=59 => return "Less than a minute ago".into(),
        60..=3599 => (d / 60, "minute"),
        3600..=86399 => (d / 3600, "hour"),
        86400..=604799 => (d / 86400, "day"),
        604800..=2_629_799 => (d / 604800, "week"),
        2_629_800..=31_557_599 => (d / 2_629_800, "month"),
        _ => (d / 31_557_600, "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

fn parse_time(s: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(SystemTime::from)
}

fn table(rows: Vec<Vec<String>>) {
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for r in rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", line.join("    ").trim_end());
    }
}

pub fn list(prefix: Option<&str>) -> Result<()> {
    let v = Client::from_env()?.get("/api/tags")?.ok()?.json()?;
    let mut rows = vec![vec!["NAME".into(), "ID".into(), "SIZE".into(), "MODIFIED".into()]];
    let shown = |m: &&Value| prefix.is_none_or(|p| m["name"].as_str().is_some_and(|n| n.starts_with(p)));
    for m in v["models"].as_array().into_iter().flatten().filter(shown) {
        rows.push(vec![
            m["name"].as_str().unwrap_or("").into(),
            m["digest"].as_str().unwrap_or("").chars().take(12).collect(),
            human_bytes(m["size"].as_u64().unwrap_or(0)),
            m["modified_at"].as_str().and_then(parse_time).map(human_ago).unwrap_or_default(),
        ]);
    }
    table(rows);
    Ok(())
}

pub fn ps() -> Result<()> {
    let v = Client::from_env()?.get("/api/ps")?.ok()?.json()?;
    let mut rows = vec![vec![
        "NAME".into(),
        "ID".into(),
        "SIZE".into(),
        "PROCESSOR".into(),
        "CONTEXT".into(),
        "UNTIL".into(),
    ]];
    for m in v["models"].as_array().into_iter().flatten() {
        let until = m["expires_at"].as_str().and_then(parse_time).map(|t| {
            let left = t.duration_since(SystemTime::now()).unwrap_or_default();
            if left > Duration::from_secs(100 * 365 * 86400) {
                "Forever".to_string()
            } else if left.is_zero() {
                "Stopping...".to_string()
            } else {
                let mins = left.as_secs() / 60;
                if mins == 0 {
                    "Less than a minute from now".into()
                } else {
                    format!("{mins} minute{} from now", if mins == 1 { "" } else { "s" })
                }
            }
        });
        rows.push(vec![
            m["name"].as_str().unwrap_or("").into(),
            m["digest"].as_str().unwrap_or("").chars().take(12).collect(),
            human_bytes(m["size"].as_u64().unwrap_or(0)),
            processor(m["size"].as_u64().unwrap_or(0), m["size_vram"].as_u64().unwrap_or(0)),
            m["context_length"].to_string(),
            until.unwrap_or_default(),
        ]);
    }
    table(rows);
    Ok(())
}

/// Ollama's PROCESSOR column: where the model's bytes are.
fn processor(size: u64, vram: u64) -> String {
    let cpu = size.saturating_sub(vram);
    if vram == 0 {
        "100% CPU".into()
    } else if cpu == 0 {
        "100% GPU".into()
    } else {
        let cpu_percent = (cpu as f64 / size as f64 * 100.0).round() as u64;
        format!("{cpu_percent}%/{}% CPU/GPU", 100 - cpu_percent)
    }
}

pub fn copy(src: &str, dst: &str) -> Result<()> {
    Client::from_env()?.json("POST", "/api/copy", &json!({"source": src, "destination": dst}))?.ok()?;
    println!("copied '{src}' to '{dst}'");
    Ok(())
}

pub fn stop(model: &str) -> Result<()> {
    let c = Client::from_env()?;
    let loaded = c.get("/api/ps")?.ok()?.json()?;
    let found = loaded["models"].as_array().into_iter().flatten().any(|m| {
        m["name"].as_str().is_some_and(|n| n == model || n == format!("{model}:latest"))
    });
    if !found {
        bail!("couldn't find model \"{model}\" to stop");
    }
    c.json("POST", "/api/generate", &json!({"model": model, "keep_alive": 0}))?.ok()?;
    Ok(())
}

pub fn remove(models: &[String]) -> Result<()> {
    let c = Client::from_env()?;
    for m in models {
        // Unload first, as ollama does; a model that is not loaded is fine.
        let _ = c.json("POST", "/api/generate", &json!({"model": m, "keep_alive": 0}));
        c.json("DELETE", "/api/delete", &json!({"model": m}))?.ok()?;
        println!("deleted '{m}'");
    }
    Ok(())
}

#[derive(Args)]
pub struct RunArgs {
    model: String,
    /// One-shot prompt; without it, an interactive chat (/bye to leave).
    prompt: Vec<String>,
    /// Pull a missing model over plain http.
    #[arg(long)]
    insecure: bool,
    /// How long the model stays loaded after the reply (e.g. 10m, 0, -1).
    #[arg(long)]
    keepalive: Option<String>,
    /// The reply's format (json).
    #[arg(long)]
    format: Option<String>,
    /// Print the reply's timings and rates.
    #[arg(long)]
    verbose: bool,
}

/// `run` of a model the server lacks pulls it first, as ollama's does.
fn pull_if_missing(c: &Client, model: &str, insecure: bool) -> Result<()> {
    if c.json("POST", "/api/show", &json!({"model": model}))?.status == 404 {
        crate::transfer::pull(&crate::transfer::TransferArgs { model: model.to_string(), insecure })?;
    }
    Ok(())
}

/// How `run` asks: the flags that go with every turn.
struct Turn<'a> {
    model: &'a str,
    keep_alive: Option<&'a str>,
    format: Option<&'a str>,
    verbose: bool,
}

/// Streams one chat turn to stdout; returns the assistant's text.
fn chat_turn(c: &Client, turn: &Turn, messages: &[Value], options: &Map<String, Value>) -> Result<String> {
    let mut body = json!({"model": turn.model, "messages": messages, "options": options});
    if let Some(k) = turn.keep_alive {
        // A bare number is seconds; the API takes those as a JSON number, not a string.
        body["keep_alive"] = k.parse::<f64>().map(|n| json!(n)).unwrap_or_else(|_| json!(k));
    }
    if let Some(f) = turn.format {
        body["format"] = json!(f);
    }
    let resp = c.json("POST", "/api/chat", &body)?.ok()?;
    let mut out = std::io::stdout().lock();
    let mut text = String::new();
    let mut last = Value::Null;
    for line in resp.lines() {
        let v = line?;
        if let Some(e) = v["error"].as_str() {
            bail!("{e}");
        }
        if let Some(t) = v["message"]["content"].as_str() {
            out.write_all(t.as_bytes())?;
            out.flush()?;
            text += t;
        }
        last = v;
    }
    writeln!(out)?;
    if turn.verbose {
        for l in crate::stats::lines(&last) {
            eprintln!("{l}");
        }
    }
    Ok(text)
}

const HELP: &str = "Available Commands:
  /set parameter NAME VALUE   Set a parameter (e.g. /set parameter temperature 0)
  /show                       Show model information
  /clear                      Clear session context
  /bye                        Exit
  /?, /help                   Help for a command
Use \"\"\" to begin and end a multi-line message.";

/// A parameter value as typed: a number, true/false, or text; `stop` accumulates a list.
fn parameter_value(name: &str, raw: &str, options: &Map<String, Value>) -> Value {
    if name == "stop" {
        let mut list = options.get("stop").and_then(Value::as_array).cloned().unwrap_or_default();
        list.push(json!(raw.trim_matches('"')));
        return Value::Array(list);
    }
    if let Ok(i) = raw.parse::<i64>() {
        return json!(i);
    }
    if let Ok(f) = raw.parse::<f64>() {
        return json!(f);
    }
    match raw {
        "true" => json!(true),
        "false" => json!(false),
        _ => json!(raw),
    }
}

pub fn run(a: RunArgs) -> Result<()> {
    let c = Client::from_env()?;
    pull_if_missing(&c, &a.model, a.insecure)?;
    let turn = Turn { model: &a.model, keep_alive: a.keepalive.as_deref(), format: a.format.as_deref(), verbose: a.verbose };
    let mut options = Map::new();
    if !a.prompt.is_empty() {
        chat_turn(&c, &turn, &[json!({"role": "user", "content": a.prompt.join(" ")})], &options)?;
        return Ok(());
    }
    let mut history: Vec<Value> = Vec::new();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        eprint!(">>> ");
        let Some(line) = lines.next().transpose()? else { return Ok(()) };
        let mut input = line.trim().to_string();
        // Multi-line input between triple quotes.
        if let Some(rest) = input.strip_prefix("\"\"\"") {
            let mut text = rest.to_string();
            while !text.ends_with("\"\"\"") {
                eprint!("... ");
                let Some(more) = lines.next().transpose()? else { break };
                text.push('\n');
                text.push_str(&more);
            }
            input = text.trim_end_matches("\"\"\"").to_string();
        } else if input.starts_with('/') {
            let parts: Vec<&str> = input.splitn(4, ' ').collect();
            match parts.as_slice() {
                ["/bye"] | ["/exit"] => return Ok(()),
                ["/clear"] => {
                    history.clear();
                    eprintln!("Cleared session context");
                }
                ["/?"] | ["/help"] => eprintln!("{HELP}"),
                ["/show", ..] => show(ShowArgs {
                    model: a.model.clone(),
                    modelfile: false,
                    parameters: false,
                    template: false,
                    system: false,
                    license: false,
                    verbose: false,
                })?,
                ["/set", "parameter", name, value] => {
                    let v = parameter_value(name, value, &options);
                    options.insert(name.to_string(), v);
                    eprintln!("Set parameter '{name}' to '{value}'");
                }
                _ => eprintln!("Unknown command '{input}'. Type /? for help"),
            }
            continue;
        }
        if input.trim().is_empty() {
            continue;
        }
        history.push(json!({"role": "user", "content": input}));
        let answer = chat_turn(&c, &turn, &history, &options)?;
        history.push(json!({"role": "assistant", "content": answer}));
    }
}

#[derive(Args)]
pub struct ShowArgs {
    model: String,
    #[arg(long)]
    modelfile: bool,
    #[arg(long)]
    parameters: bool,
    #[arg(long)]
    template: bool,
    #[arg(long)]
    system: bool,
    #[arg(long)]
    license: bool,
    /// Also print every metadata key of the model (its tensors' count, arrays in full).
    #[arg(short, long)]
    verbose: bool,
}

pub fn show(a: ShowArgs) -> Result<()> {
    let v = Client::from_env()?.json("POST", "/api/show", &json!({"model": a.model, "verbose": a.verbose}))?.ok()?.json()?;
    let field = |k: &str| v[k].as_str().unwrap_or("").to_string();
    for (flag, key) in [
        (a.modelfile, "modelfile"),
        (a.parameters, "parameters"),
        (a.template, "template"),
        (a.system, "system"),
        (a.license, "license"),
    ] {
        if flag {
            println!("{}", field(key));
            return Ok(());
        }
    }
    let info = &v["model_info"];
    let arch = info["general.architecture"].as_str().unwrap_or("");
    println!("  Model");
    let rows = [
        ("architecture", arch.to_string()),
        ("parameters", v["details"]["parameter_size"].as_str().unwrap_or("").to_string()),
        ("context length", info[format!("{arch}.context_length")].to_string()),
        ("embedding length", info[format!("{arch}.embedding_length")].to_string()),
        ("quantization", v["details"]["quantization_level"].as_str().unwrap_or("").to_string()),
    ];
    for (k, val) in rows {
        println!("    {k:<20}{val}");
    }
    println!("\n  Capabilities");
    for c in v["capabilities"].as_array().into_iter().flatten() {
        println!("    {}", c.as_str().unwrap_or(""));
    }
    if !field("parameters").is_empty() {
        println!("\n  Parameters");
        for l in field("parameters").lines() {
            println!("    {l}");
        }
    }
    if !field("system").is_empty() {
        println!("\n  System\n    {}", field("system"));
    }
    if !field("license").is_empty() {
        println!("\n  License\n    {}", field("license").lines().next().unwrap_or(""));
    }
    if a.verbose {
        println!("\n  Metadata");
        for (k, val) in info.as_object().into_iter().flatten() {
            println!("    {k:<40}{val}");
        }
    }
    println!();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::processor;

    #[test]
    fn processor_column_as_ollama_prints_it() {
        assert_eq!(processor(1000, 0), "100% CPU");
        assert_eq!(processor(1000, 1000), "100% GPU");
        assert_eq!(processor(1000, 250), "75%/25% CPU/GPU");
    }
}
