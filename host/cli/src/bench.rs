//! `wollama bench`: prefill (ppN) and decode (tgN) tokens/s per thread count, medians over
//! repetitions, interleaved with llama.cpp's llama-bench on the same file when its binary
//! folder is given, so drift on a shared machine hits both alike.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use wollama_runtime::{EngineOptions, Event, Request, Runtime, Sampling, Session};

#[derive(Args)]
pub struct BenchArgs {
    /// The model: a GGUF file (or, with --embed, also a safetensors directory).
    #[arg(long)]
    gguf: PathBuf,
    /// Thread counts to measure, comma separated.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    threads: Vec<usize>,
    /// Prompt tokens for the prefill test.
    #[arg(long, default_value_t = 512)]
    pp: u32,
    /// Generated tokens for the decode test.
    #[arg(long, default_value_t = 128)]
    tg: u32,
    /// Repetitions; medians are reported.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Folder holding llama.cpp's llama-bench (e.g. from `shared/bench/llama-cpp.sh bin`).
    #[arg(long, env = "LLAMA_CPP_BIN")]
    llama_cpp: Option<PathBuf>,
    /// Measure an embedding model instead: sentences/s for each of `--batches`.
    #[arg(long)]
    embed: bool,
    /// Batch sizes (sentences per call) for `--embed`, comma separated.
    #[arg(long, default_value = "1,8,64", value_delimiter = ',')]
    batches: Vec<usize>,
}

struct Figures {
    pp: Vec<f64>,
    tg: Vec<f64>,
    overhead: Vec<f64>,
}

pub fn run(a: BenchArgs) -> Result<()> {
    if a.embed {
        return crate::bench_embed::run(&a.gguf, &a.threads, &a.batches, a.reps);
    }
    let rt = Runtime::new()?;
    println!("model {}  pp{} tg{}  {} reps (medians)", a.gguf.display(), a.pp, a.tg, a.reps);
    println!(
        "{:>7}  {:>6}  {:>12}  {:>12}  {:>6}",
        "threads", "test", "wollama t/s", "llama.cpp t/s", "ratio"
    );
    for &threads in &a.threads {
        let mut s = rt.open(&a.gguf, threads)?;
        let vocab = s.info()?.vocab_size;
        s.start_engine(EngineOptions { max_slots: 1, ctx_cells: a.pp.max(a.tg) + 16, batch_tokens: a.pp.max(1) })?;
        // Warm-up: page the weights in and settle the thread pool.
        prefill(&mut s, 64.min(a.pp), vocab, 999)?;
        let mut ours = Figures { pp: vec![], tg: vec![], overhead: vec![] };
        let mut theirs = Figures { pp: vec![], tg: vec![], overhead: vec![] };
        for rep in 0..a.reps {
            ours.pp.push(prefill(&mut s, a.pp, vocab, rep as u64)?);
            let (tg, overhead) = decode(&mut s, a.tg, vocab, rep as u64)?;
            ours.tg.push(tg);
            ours.overhead.push(overhead);
            if let Some(bin) = &a.llama_cpp {
                let (pp, tg) = llama_bench(bin, &a, threads)?;
                theirs.pp.push(pp);
                theirs.tg.push(tg);
            }
        }
        for (test, o, t) in [(format!("pp{}", a.pp), &ours.pp, &theirs.pp), (format!("tg{}", a.tg), &ours.tg, &theirs.tg)] {
            let om = median(o);
            let (tm, ratio) = if t.is_empty() {
                ("-".to_string(), "-".to_string())
            } else {
                let tm = median(t);
                (format!("{tm:.1}"), format!("{:.2}", om / tm))
            };
            println!("{threads:>7}  {test:>6}  {om:>12.1}  {tm:>12}  {ratio:>6}");
        }
        println!(
            "{threads:>7}  non-kernel share of a decode step (guest + boundary): {:.2}%",
            median(&ours.overhead) * 100.0
        );
    }
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn greedy() -> Sampling {
    Sampling {
        temperature: 0.0,
        top_k: 1,
        top_p: 1.0,
        min_p: 0.0,
        typical_p: 1.0,
        repeat_penalty: 1.0,
        repeat_last_n: 0,
        presence_penalty: 0.0,
        frequency_penalty: 0.0,
        seed: Some(0),
    }
}

/// Random prompt tokens (as llama-bench uses), different per repetition so that the prefix
/// cache cannot serve them.
fn random_tokens(n: u32, vocab: u32, seed: u64) -> Vec<u32> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            10 + (x % (vocab as u64 - 10)) as u32
        })
        .collect()
}

fn run_to_done(s: &mut Session) -> Result<(Option<Instant>, u32)> {
    let mut first = None;
    loop {
        let Some(events) = s.step()? else { bail!("the engine went idle early") };
        for e in events {
            match e {
                Event::Token(_) => {
                    first.get_or_insert_with(Instant::now);
                }
                Event::Done((_, f)) => return Ok((first, f.eval_tokens)),
                Event::Failed((_, m)) => bail!("{m}"),
                Event::Embedding(_) => {}
            }
        }
    }
}

fn prefill(s: &mut Session, n: u32, vocab: u32, seed: u64) -> Result<f64> {
    let req = Request {
        prompt: random_tokens(n, vocab, seed + 1),
        sampling: greedy(),
        num_predict: 0,
        stop: vec![],
        stop_at_eog: false,
    };
    let t = Instant::now();
    s.submit(&req)?;
    run_to_done(s)?;
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

/// Decode tokens/s after a one-token prompt, and the share of step time spent outside the
/// executor's kernels.
fn decode(s: &mut Session, n: u32, vocab: u32, seed: u64) -> Result<(f64, f64)> {
    let req = Request {
        prompt: random_tokens(1, vocab, seed + 1000),
        sampling: greedy(),
        num_predict: n as i32,
        stop: vec![],
        stop_at_eog: false,
    };
    s.submit(&req)?;
    // The first step is the one-token prefill; time the steps after it.
    let Some(_) = s.step()? else { bail!("idle") };
    s.reset_times();
    let t = Instant::now();
    let (_, generated) = run_to_done(s)?;
    let elapsed = t.elapsed().as_secs_f64();
    let times = s.times();
    let overhead = 1.0 - times.kernel.as_secs_f64() / times.total.as_secs_f64().max(1e-12);
    Ok((generated.saturating_sub(1) as f64 / elapsed, overhead))
}

/// One repetition of llama-bench: (pp t/s, tg t/s).
fn llama_bench(bin: &std::path::Path, a: &BenchArgs, threads: usize) -> Result<(f64, f64)> {
    let out = Command::new(bin.join("llama-bench"))
        .args(["-m"])
        .arg(&a.gguf)
        .args(["-t", &threads.to_string(), "-p", &a.pp.to_string(), "-n", &a.tg.to_string(), "-r", "1", "-o", "json"])
        .output()
        .context("running llama-bench")?;
    if !out.status.success() {
        bail!("llama-bench failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("parsing llama-bench JSON")?;
    let mut pp = f64::NAN;
    let mut tg = f64::NAN;
    for r in v.as_array().into_iter().flatten() {
        let ts = r["avg_ts"].as_f64().unwrap_or(f64::NAN);
        if r["n_prompt"].as_u64().unwrap_or(0) > 0 {
            pp = ts;
        } else {
            tg = ts;
        }
    }
    Ok((pp, tg))
}
