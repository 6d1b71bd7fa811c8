//! `wollama bench`: prefill (ppN) and decode (tgN) tokens/s per thread count, medians over
//! repetitions, interleaved with llama.cpp's llama-bench on the same file when its binary
//! folder is given, so drift on a shared machine hits both alike; then the server figures of
//! `bench_serve` (time to first token, cold start, peak RSS) against llama-server, and with
//! `--contention` decode with a busy loop holding one core. `--device gpu` measures the GPU
//! executor instead (one row label `gpu`; the servers run `serve --device gpu`), with the
//! compute dispatches of a decode step.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use wollama_runtime::{
    gpu_for, Device, DeviceChoice, EngineOptions, Event, LimitOverride, MetaValue, Request, Runtime, Sampling, Session,
};

#[derive(Args)]
pub struct BenchArgs {
    /// The model: a GGUF file (or, with --embed, also a safetensors directory).
    #[arg(long)]
    pub(crate) gguf: PathBuf,
    /// Thread counts to measure, comma separated (the CPU).
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    threads: Vec<usize>,
    /// What runs the model: `cpu`, `gpu` (the first adapter there is, lavapipe included) or
    /// `auto` (a hardware GPU, else the CPU).
    #[arg(long, default_value = "cpu")]
    pub(crate) device: DeviceChoice,
    /// Prompt tokens for the prefill test.
    #[arg(long, default_value_t = 512)]
    pp: u32,
    /// Generated tokens for the decode tests (and the decode before peak RSS is read); at
    /// least 2, since the first token comes from the prompt pass and only the rest are timed.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(2..))]
    pub(crate) tg: u32,
    /// Repetitions; medians are reported.
    #[arg(long, default_value_t = 5)]
    pub(crate) reps: usize,
    /// Folder holding llama.cpp's llama-bench and llama-server (e.g. from
    /// `shared/bench/llama-cpp.sh bin`).
    #[arg(long, env = "LLAMA_CPP_BIN")]
    pub(crate) llama_cpp: Option<PathBuf>,
    /// Skip the server figures (time to first token, cold start, peak RSS).
    #[arg(long)]
    skip_serve: bool,
    /// Context cells of the servers' one slot (num_ctx; llama-server's -c).
    #[arg(long, default_value_t = 4096)]
    pub(crate) ctx: u32,
    /// Cold starts with an empty compiled-component cache, so each compiles the guest.
    #[arg(long)]
    pub(crate) cold_component_cache: bool,
    /// Also decode with 2 threads and with 1 while a busy loop holds the last core.
    #[arg(long)]
    contention: bool,
    /// Print the table as Markdown.
    #[arg(long)]
    markdown: bool,
    /// Measure an embedding model instead: sentences/s for each of `--batches`.
    #[arg(long)]
    embed: bool,
    /// Batch sizes (sentences per call) for `--embed`, comma separated.
    #[arg(long, default_value = "1,8,64", value_delimiter = ',')]
    batches: Vec<usize>,
}

/// The result rows, printed as they come (aligned text or Markdown), and the notes that
/// explain them, printed after the table.
pub struct Table {
    markdown: bool,
    notes: Vec<String>,
}

impl Table {
    fn new(markdown: bool) -> Table {
        let cols = ["threads", "test", "unit", "wollama", "llama.cpp", "ratio"];
        if markdown {
            println!("| {} |\n|{}", cols.join(" | "), "---|".repeat(cols.len()));
        } else {
            println!("{:>7}  {:>12}  {:>4}  {:>9}  {:>9}  {:>6}", cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]);
        }
        Table { markdown, notes: Vec::new() }
    }

    /// One figure: wollama's median, llama.cpp's (when measured) and their ratio.
    pub fn row(&mut self, threads: &str, test: &str, unit: &str, ours: f64, theirs: Option<f64>) {
        let digits = if unit == "x" { 2 } else { 1 };
        let theirs_text = theirs.map_or("-".to_string(), |t| format!("{t:.digits$}"));
        let ratio = theirs.map_or("-".to_string(), |t| format!("{:.2}", ours / t));
        let ours = format!("{ours:.digits$}");
        if self.markdown {
            println!("| {threads} | {test} | {unit} | {ours} | {theirs_text} | {ratio} |");
        } else {
            println!("{threads:>7}  {test:>12}  {unit:>4}  {ours:>9}  {theirs_text:>9}  {ratio:>6}");
        }
    }

    /// A line for after the table; the same line twice (one per thread count) is kept once.
    pub fn note(&mut self, text: String) {
        if !self.notes.contains(&text) {
            self.notes.push(text);
        }
    }

    fn finish(self) {
        println!();
        for n in self.notes {
            println!("{}{n}", if self.markdown { "- " } else { "" });
        }
    }
}

struct Figures {
    pp: Vec<f64>,
    tg: Vec<f64>,
    overhead: Vec<f64>,
}

/// `--device` as `wollama serve` takes it.
pub(crate) fn device_arg(a: &BenchArgs) -> &'static str {
    match a.device {
        DeviceChoice::Auto => "auto",
        DeviceChoice::Cpu => "cpu",
        DeviceChoice::Gpu => "gpu",
    }
}

/// A row's first column: the thread count on the CPU, `gpu` on the GPU.
pub(crate) fn label(a: &BenchArgs, threads: usize) -> String {
    if a.device == DeviceChoice::Cpu { threads.to_string() } else { "gpu".into() }
}

/// Who a note speaks of: `N thread(s)` or `gpu`.
pub(crate) fn who(a: &BenchArgs, threads: usize) -> String {
    if a.device == DeviceChoice::Cpu { format!("{threads} thread(s)") } else { "gpu".into() }
}

pub fn run(mut a: BenchArgs) -> Result<()> {
    let gpu = gpu_for(a.device, LimitOverride::default())?;
    // From here on `device` is what runs: `auto` without a hardware GPU is the CPU.
    a.device = if gpu.is_some() { DeviceChoice::Gpu } else { DeviceChoice::Cpu };
    if let Some(g) = &gpu {
        println!("device: GPU {}", g.summary());
        if a.embed || a.contention || a.llama_cpp.is_some() {
            bail!("--embed, --contention and --llama-cpp measure the CPU: leave them out with --device gpu");
        }
    }
    if a.embed {
        return crate::bench_embed::run(&a.gguf, &a.threads, &a.batches, a.reps);
    }
    if let Some(bin) = &a.llama_cpp {
        for tool in ["llama-bench", "llama-server"] {
            if !bin.join(tool).is_file() {
                bail!("no {tool} in {}", bin.display());
            }
        }
    }
    let rt = Runtime::shared()?;
    let store = if a.skip_serve { None } else { Some(crate::bench_serve::Store::create(&a)?) };
    println!(
        "model {}  pp{} tg{}  {} reps (medians); ratio = wollama / llama.cpp (t/s: above 1 is faster; ms, MiB: below 1 is better)",
        a.gguf.display(),
        a.pp,
        a.tg,
        a.reps
    );
    let mut table = Table::new(a.markdown);
    let passes = if gpu.is_some() { vec![1] } else { a.threads.clone() };
    for threads in passes {
        let device = match &gpu {
            Some(g) => Device::Gpu(g.clone()),
            None => Device::Cpu { threads },
        };
        let layers = in_process(rt, &a, &device, threads, &mut table)?;
        if let Some(store) = &store {
            crate::bench_serve::run(store, &a, threads, layers, &mut table)?;
        }
    }
    if a.contention {
        contention(rt, &a, &mut table)?;
    }
    table.finish();
    Ok(())
}

/// The in-process pp and tg rows for one thread count (or the GPU, with the dispatches of a
/// decode step); returns the model's block count.
fn in_process(rt: &Runtime, a: &BenchArgs, device: &Device, threads: usize, table: &mut Table) -> Result<u64> {
    let mut s = rt.open_on(&a.gguf, device)?;
    let layers = s
        .metadata()?
        .iter()
        .find_map(|(k, v)| match v {
            MetaValue::Uint(n) if k.ends_with(".block_count") => Some(*n),
            _ => None,
        })
        .unwrap_or(0);
    let vocab = start(&mut s, a)?;
    let mut ours = Figures { pp: vec![], tg: vec![], overhead: vec![] };
    let mut theirs = Figures { pp: vec![], tg: vec![], overhead: vec![] };
    let mut dispatches = Vec::new();
    for rep in 0..a.reps {
        ours.pp.push(prefill(&mut s, a.pp, vocab, rep as u64)?);
        let (tg, overhead) = decode(&mut s, a.tg, vocab, rep as u64)?;
        ours.tg.push(tg);
        ours.overhead.push(overhead);
        dispatches.push(s.last_dispatches() as f64);
        if let Some(bin) = &a.llama_cpp {
            let (pp, tg) = llama_bench(bin, &a.gguf, threads, a.pp, a.tg)?;
            theirs.pp.push(pp);
            theirs.tg.push(tg);
        }
    }
    let label = label(a, threads);
    for (test, o, t) in [(format!("pp{}", a.pp), &ours.pp, &theirs.pp), (format!("tg{}", a.tg), &ours.tg, &theirs.tg)] {
        table.row(&label, &test, "t/s", median(o), (!t.is_empty()).then(|| median(t)));
    }
    if device.is_gpu() {
        table.row(&label, "dispatches", "/tok", median(&dispatches), None);
        table.note(format!("{device:?}: dispatches = compute passes' dispatches of the last decode step (one token)"));
    }
    table.note(format!(
        "{}: non-kernel share of a decode step (guest + boundary): {:.2}%",
        who(a, threads),
        median(&ours.overhead) * 100.0
    ));
    Ok(layers)
}

/// Starts the engine for the pp and tg tests and warms it up (pages the weights in, settles
/// the thread pool); returns the vocabulary size.
fn start(s: &mut Session, a: &BenchArgs) -> Result<u32> {
    let vocab = s.info()?.vocab_size;
    s.start_engine(EngineOptions { max_slots: 1, ctx_cells: a.pp.max(a.tg) + 16, batch_tokens: a.pp.max(1) })?;
    prefill(s, 64.min(a.pp), vocab, 999)?;
    Ok(vocab)
}

/// A busy loop pinned to one core, killed when dropped.
struct Busy(Child);

impl Drop for Busy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Decode with 2 threads and with 1 while a busy loop holds the last core, wollama and
/// llama-bench interleaved: the ratio 2-thread / 1-thread shows what a thread that loses its
/// core costs (the issue's target is at least 0.8).
fn contention(rt: &Runtime, a: &BenchArgs, table: &mut Table) -> Result<()> {
    let core = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) - 1;
    let mut sessions = Vec::new();
    for threads in [1, 2] {
        let mut s = rt.open(&a.gguf, threads)?;
        let vocab = start(&mut s, a)?;
        sessions.push((threads, s, vocab));
    }
    let busy = Busy(
        Command::new("taskset")
            .args(["-c", &core.to_string(), "sh", "-c", "while :; do :; done"])
            .stdin(Stdio::null())
            .spawn()
            .context("starting a busy loop with taskset")?,
    );
    let (mut ours, mut theirs) = ([vec![], vec![]], [vec![], vec![]]);
    for rep in 0..a.reps {
        for (i, (threads, s, vocab)) in sessions.iter_mut().enumerate() {
            ours[i].push(decode(s, a.tg, *vocab, rep as u64)?.0);
            if let Some(bin) = &a.llama_cpp {
                theirs[i].push(llama_bench(bin, &a.gguf, *threads, 0, a.tg)?.1);
            }
        }
    }
    drop(busy);
    let test = format!("tg{} busy", a.tg);
    let theirs_median = |i: usize| (!theirs[i].is_empty()).then(|| median(&theirs[i]));
    for (i, runs) in ours.iter().enumerate() {
        table.row(&(i + 1).to_string(), &test, "t/s", median(runs), theirs_median(i));
    }
    let scaling = median(&ours[1]) / median(&ours[0]);
    let their_scaling = theirs_median(1).zip(theirs_median(0)).map(|(t2, t1)| t2 / t1);
    table.row("2/1", &test, "x", scaling, their_scaling);
    table.note(format!(
        "contention: tg{} with a busy loop pinned to core {core} (`taskset -c {core} sh -c 'while :; do :; done'`); \
         2-thread / 1-thread: wollama {scaling:.2} (target >= 0.8: {}){}",
        a.tg,
        if scaling >= 0.8 { "met" } else { "NOT met" },
        their_scaling.map_or(String::new(), |r| format!(", llama.cpp {r:.2}"))
    ));
    Ok(())
}

pub(crate) fn median(v: &[f64]) -> f64 {
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
        grammar: None,
        top_logprobs: None,
        shift_keep: None,
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
        grammar: None,
        top_logprobs: None,
        shift_keep: None,
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

/// One repetition of llama-bench: (pp t/s, tg t/s); `pp` 0 runs only the decode test.
fn llama_bench(bin: &Path, gguf: &Path, threads: usize, pp: u32, tg: u32) -> Result<(f64, f64)> {
    let out = Command::new(bin.join("llama-bench"))
        .args(["-m"])
        .arg(gguf)
        .args(["-t", &threads.to_string(), "-p", &pp.to_string(), "-n", &tg.to_string(), "-r", "1", "-o", "json"])
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
