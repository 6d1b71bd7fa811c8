//! `wollama bench`'s server figures, each against llama.cpp's `llama-server` on the same file
//! when its folder is given: time to first token through `/api/generate` on a loaded model,
//! cold start (spawn to the first token of the first request) and peak RSS (VmHWM).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::bench::{median, BenchArgs, Table};
use crate::client::Client;

/// The request text (both servers get it raw, without a chat template): a few dozen tokens.
const PROMPT: &str = "Write a short story about a lighthouse keeper who finds a message in a bottle on the \
beach one stormy night. Describe the weather, the keeper's small stone house, and what the message says, \
in plain and simple words.";

/// The model's name in the temporary store.
const MODEL: &str = "bench:latest";

/// How long a server may take to accept requests before the bench gives up.
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// A temporary OLLAMA_MODELS store holding the GGUF as a model, for the `wollama serve`s the
/// tests start.
pub struct Store {
    dir: tempfile::TempDir,
    /// Requests sent so far: each prompt starts with a different letter, so that neither
    /// server's prefix cache can serve any of it.
    sent: std::cell::Cell<usize>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Wollama,
    LlamaServer,
}

/// A spawned server, killed when dropped; its output goes to a log in the store's folder.
struct Server {
    child: Child,
    addr: SocketAddr,
    client: Client,
    kind: Kind,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Store {
    /// Creates the model the way `wollama create` does: the file as a blob, then
    /// `/api/create` with `files`.
    pub fn create(a: &BenchArgs) -> Result<Store> {
        let store = Store { dir: tempfile::tempdir()?, sent: std::cell::Cell::new(0) };
        let mut server = store.spawn(Kind::Wollama, a, 1, None)?;
        store.wait_ready(&mut server, Instant::now())?;
        let digest = crate::remote::upload(&server.client, &a.gguf)?;
        let name = a.gguf.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model.gguf".into());
        let resp = server.client.json("POST", "/api/create", &json!({ "model": MODEL, "files": { name: digest } }))?.ok()?;
        for line in resp.lines() {
            if let Some(e) = line?["error"].as_str() {
                bail!("creating the model: {e}");
            }
        }
        Ok(store)
    }

    fn spawn(&self, kind: Kind, a: &BenchArgs, threads: usize, cache: Option<&Path>) -> Result<Server> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = self.dir.path().join(format!("{}-{port}.log", if kind == Kind::Wollama { "wollama" } else { "llama-server" }));
        let mut cmd = match kind {
            Kind::Wollama => {
                let mut c = Command::new(std::env::current_exe()?);
                c.args(["serve", "--threads", &threads.to_string(), "--device", crate::bench::device_arg(a)])
                    .env("OLLAMA_HOST", addr.to_string())
                    .env("OLLAMA_MODELS", self.dir.path().join("models"))
                    .env("OLLAMA_NUM_PARALLEL", "1");
                if let Some(cache) = cache {
                    c.env("WOLLAMA_CACHE", cache);
                }
                c
            }
            Kind::LlamaServer => {
                let bin = a.llama_cpp.as_ref().expect("checked").join("llama-server");
                let mut c = Command::new(&bin);
                let t = threads.to_string();
                // One slot of --ctx cells as wollama's OLLAMA_NUM_PARALLEL=1 and num_ctx, and no
                // host-memory prompt cache (Ollama has none).
                c.arg("-m").arg(&a.gguf).args(["-t", &t, "-tb", &t, "-c", &a.ctx.to_string(), "-np", "1", "-cram", "0"]);
                c.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--no-webui"]);
                c
            }
        };
        let out = std::fs::File::create(&log)?;
        cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        let child = cmd.spawn().with_context(|| format!("starting {:?}", cmd.get_program()))?;
        Ok(Server { child, addr, client: Client::new(addr), kind, log })
    }

    /// Returns once the server takes requests: wollama's port accepts (it loads the model on
    /// the first request); llama-server's `/health` answers 200 (it loads before that).
    fn wait_ready(&self, s: &mut Server, since: Instant) -> Result<()> {
        loop {
            let ready = match s.kind {
                Kind::Wollama => TcpStream::connect(s.addr).is_ok(),
                Kind::LlamaServer => s.client.get("/health").is_ok_and(|r| r.status == 200),
            };
            if ready {
                return Ok(());
            }
            if since.elapsed() > START_TIMEOUT {
                bail!("the server did not start in {START_TIMEOUT:?}; its log: {}", s.log.display());
            }
            if let Some(status) = s.child.try_wait()? {
                let log = std::fs::read_to_string(&s.log).unwrap_or_default();
                bail!("the server exited ({status}): {}", log.trim_end());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn next_prompt(&self) -> String {
        let n = self.sent.get();
        self.sent.set(n + 1);
        let letters = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        format!("{}. {PROMPT}", letters[n % letters.len()] as char)
    }

    /// Sends one greedy streamed request and returns when its first line came, with the
    /// prompt's token count from the last line; reads the rest of the reply first.
    fn first_token(&self, s: &Server, a: &BenchArgs, threads: usize, num_predict: u32) -> Result<(Instant, u64)> {
        let prompt = self.next_prompt();
        let (path, body) = request(s.kind, a, threads, &prompt, num_predict);
        let mut lines = s.client.json("POST", path, &body)?.ok()?.text_lines();
        let first = lines.next().context("an empty reply")??;
        let at = Instant::now();
        let mut last = first;
        for l in lines {
            last = l?;
        }
        let v: Value = serde_json::from_str(last.trim_start_matches("data: ")).context("a reply line that is not JSON")?;
        if let Some(e) = v.get("error") {
            bail!("the server failed: {e}");
        }
        Ok((at, v["prompt_eval_count"].as_u64().or(v["tokens_evaluated"].as_u64()).unwrap_or(0)))
    }
}

/// The request for `num_predict` greedy tokens: `/api/generate` for wollama, `/completion`
/// (without its prompt cache) for llama-server.
fn request(kind: Kind, a: &BenchArgs, threads: usize, prompt: &str, num_predict: u32) -> (&'static str, Value) {
    match kind {
        Kind::Wollama => (
            "/api/generate",
            json!({
                "model": MODEL, "prompt": prompt, "raw": true, "stream": true,
                "options": { "num_predict": num_predict, "temperature": 0, "seed": 0, "num_ctx": a.ctx, "num_thread": threads },
            }),
        ),
        Kind::LlamaServer => (
            "/completion",
            json!({ "prompt": prompt, "n_predict": num_predict, "stream": true, "temperature": 0, "seed": 0, "cache_prompt": false }),
        ),
    }
}

/// VmHWM (peak resident set) of a process, in bytes.
fn peak_rss(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/<pid>/status")?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("no VmHWM in /proc/<pid>/status")?;
    Ok(kb * 1024)
}

/// Both sides' samples of one figure.
#[derive(Default)]
struct Samples {
    ours: Vec<f64>,
    theirs: Vec<f64>,
}

impl Samples {
    fn push(&mut self, kind: Kind, v: f64) {
        match kind {
            Kind::Wollama => self.ours.push(v),
            Kind::LlamaServer => self.theirs.push(v),
        }
    }

    fn row(&self, table: &mut Table, label: &str, test: &str, unit: &str) {
        table.row(label, test, unit, median(&self.ours), (!self.theirs.is_empty()).then(|| median(&self.theirs)));
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// The server rows for one thread count, and their notes. `layers` is the model's
/// block_count, for the KV cache formula.
pub fn run(store: &Store, a: &BenchArgs, threads: usize, layers: u64, table: &mut Table) -> Result<()> {
    let kinds: &[Kind] = if a.llama_cpp.is_some() { &[Kind::Wollama, Kind::LlamaServer] } else { &[Kind::Wollama] };

    // Time to first token on loaded, warmed-up servers, interleaved per repetition.
    let mut servers = kinds.iter().map(|&k| store.spawn(k, a, threads, None)).collect::<Result<Vec<_>>>()?;
    let mut prompt_tokens = 0;
    for s in &mut servers {
        store.wait_ready(s, Instant::now())?;
        store.first_token(s, a, threads, 1)?;
    }
    let mut ttft = Samples::default();
    for _ in 0..a.reps {
        for s in &servers {
            let start = Instant::now();
            let (at, n) = store.first_token(s, a, threads, 1)?;
            ttft.push(s.kind, (at - start).as_secs_f64() * 1e3);
            if s.kind == Kind::Wollama {
                prompt_tokens = n;
            }
        }
    }
    // What the loaded model holds, as the server reports it: the file plus its KV cache.
    let ps = servers[0].client.get("/api/ps")?.ok()?.json()?;
    let reported = ps["models"][0]["size"].as_u64().context("no loaded model in /api/ps")?;
    drop(servers);

    // Cold starts: a fresh process each time, timed from spawning it to the first token of
    // its first request; then a decode of tg tokens, after which its VmHWM is the peak RSS.
    let (mut cold, mut rss) = (Samples::default(), Samples::default());
    for _ in 0..a.reps {
        for &k in kinds {
            let cache = if a.cold_component_cache && k == Kind::Wollama { Some(tempfile::tempdir()?) } else { None };
            let start = Instant::now();
            let mut s = store.spawn(k, a, threads, cache.as_ref().map(|d| d.path()))?;
            store.wait_ready(&mut s, start)?;
            let (at, _) = store.first_token(&s, a, threads, 1)?;
            cold.push(k, (at - start).as_secs_f64() * 1e3);
            store.first_token(&s, a, threads, a.tg)?;
            rss.push(k, peak_rss(s.child.id())? as f64 / MIB);
        }
    }

    let label = crate::bench::label(a, threads);
    ttft.row(table, &label, "ttft", "ms");
    cold.row(table, &label, "cold", "ms");
    rss.row(table, &label, "rss", "MiB");

    let file = std::fs::metadata(&a.gguf)?.len();
    let kv = reported.saturating_sub(file);
    let cells = a.ctx as u64;
    let width = kv / (layers * cells * 4).max(1);
    let target = (file + kv) as f64 / MIB + 64.0;
    let peak = median(&rss.ours);
    table.note(format!(
        "ttft = POST /api/generate (raw, streamed, num_predict 1, greedy) vs llama-server's POST \
         /completion (streamed, n_predict 1, cache_prompt false) on a loaded, warmed-up model, the same {prompt_tokens}-token \
         prompt (a different first letter each time, so no prefix cache serves it), from sending to the first streamed line"
    ));
    table.note(format!(
        "cold = from spawning `wollama serve` (compiled-component cache {}) / llama-server to the \
         first streamed line of the first request, the GGUF in the page cache; the port (llama-server: /health) is \
         polled every ms and the request sent at once",
        if a.cold_component_cache { "empty: the guest is compiled each time" } else { "warm" }
    ));
    if a.device != wollama_runtime::DeviceChoice::Cpu {
        // /api/ps reports the GPU's bytes there; a software adapter keeps them in the process.
        table.note(format!(
            "gpu: rss = VmHWM of the server process after its first request and a tg{} decode (a software adapter such \
             as lavapipe holds the model's GPU buffers in it too); the GPU holds {:.1} MiB (/api/ps size_vram)",
            a.tg,
            reported as f64 / MIB
        ));
        return Ok(());
    }
    table.note(format!(
        "{}: rss = VmHWM of the server process after its first request and a tg{} decode; target = \
         file {:.1} MiB + KV {:.1} MiB ({layers} layers × {cells} cells × {width} kv width × 2 (K, V) × 2 B f16, as /api/ps \
         reports it) + 64 MiB = {target:.1} MiB: wollama {peak:.1} MiB, {}",
        crate::bench::who(a, threads),
        a.tg,
        file as f64 / MIB,
        kv as f64 / MIB,
        if peak <= target { "under" } else { "OVER" }
    ));
    Ok(())
}
