//! `wollama serve`: the Ollama API on OLLAMA_HOST, models from OLLAMA_MODELS.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use wollama_runtime::{gpu_for, DeviceChoice, LimitOverride};
use wollama_server::{keep_alive_from_env, Config, SchedConfig};

#[derive(Args)]
pub struct ServeArgs {
    /// Compute threads per loaded model on the CPU (default: all cores).
    #[arg(long, env = "WOLLAMA_THREADS")]
    threads: Option<usize>,
    /// Where models run: `auto` (the first hardware GPU adapter, else the CPU), `gpu` (the
    /// first adapter there is, software ones such as lavapipe included; an error without
    /// one) or `cpu`. A request with `num_gpu: 0` runs its model on the CPU.
    #[arg(long, env = "WOLLAMA_DEVICE", default_value = "auto")]
    device: DeviceChoice,
}

/// The GPU the server's models load on (None: the CPU), opened now so the log names it and
/// `--device gpu` without an adapter fails at start-up rather than at the first request.
fn pick_device(choice: DeviceChoice, threads: usize) -> Result<Option<DeviceChoice>> {
    let cpu = |why: &str| eprintln!("wollama runs models on the CPU ({threads} threads each): {why}");
    if choice == DeviceChoice::Cpu {
        cpu("--device cpu");
        return Ok(None);
    }
    match gpu_for(choice, LimitOverride::default()).context("--device gpu: opening the GPU")? {
        Some(g) => {
            eprintln!("wollama runs models on the GPU {} (num_gpu 0 in a request: the CPU)", g.summary());
            Ok(Some(choice))
        }
        None => {
            cpu("no hardware GPU adapter (--device gpu takes a software one)");
            Ok(None)
        }
    }
}

/// OLLAMA_HOST as Ollama reads it: `[scheme://]host[:port]`, default port 11434.
pub fn parse_host(v: &str) -> Result<SocketAddr> {
    let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
    let (scheme, rest) = match v.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("http", v),
    };
    let rest = rest.trim_end_matches('/');
    let default_port = match scheme {
        "https" => 443,
        "http" if v.contains("://") => 80,
        _ => 11434,
    };
    let with_port = if rest.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        rest.to_string()
    } else {
        format!("{}:{default_port}", if rest.is_empty() { "127.0.0.1" } else { rest })
    };
    with_port
        .to_socket_addrs()
        .with_context(|| format!("OLLAMA_HOST {v:?} is not a host:port"))?
        .next()
        .with_context(|| format!("OLLAMA_HOST {v:?} resolves to nothing"))
}

/// Logs on stderr at the level of `OLLAMA_DEBUG` (info without it) for wollama's own
/// crates, warnings for the libraries under them; `RUST_LOG`, when set, decides instead.
fn init_logging() {
    use std::io::IsTerminal;
    let level = wollama_server::log_level().to_string().to_ascii_lowercase();
    let directives = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| {
        let ours = ["wollama", "wollama_server", "wollama_store", "wollama_runtime", "wollama_compute"];
        std::iter::once("warn".to_string()).chain(ours.iter().map(|c| format!("{c}={level}"))).collect::<Vec<_>>().join(",")
    });
    let filter = tracing_subscriber::EnvFilter::try_new(&directives).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

pub fn run(a: ServeArgs) -> Result<()> {
    init_logging();
    let addr = parse_host(&std::env::var("OLLAMA_HOST").unwrap_or_default())?;
    let models = std::env::var_os("OLLAMA_MODELS")
        .map(Into::into)
        .unwrap_or_else(wollama_store::Store::default_root);
    let default_keep_alive = std::env::var("OLLAMA_KEEP_ALIVE")
        .map(|v| keep_alive_from_env(&v))
        .unwrap_or(Some(Duration::from_secs(300)));
    let num_parallel = std::env::var("OLLAMA_NUM_PARALLEL").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(1);
    let threads =
        a.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    prune_store(&models)?;
    let gpu = pick_device(a.device, threads)?;
    let config =
        Config { addr, models: models.clone(), sched: SchedConfig { threads, gpu, default_keep_alive, num_parallel } };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
        eprintln!("wollama listening on {addr} (models in {})", models.display());
        wollama_server::serve(listener, config).await.context("serving")
    })
}

/// Ollama's start-up clean-up, unless OLLAMA_NOPRUNE is set: blobs no manifest references and
/// temp files of writes that never finished (a create or upload killed halfway), once they are
/// an hour old; younger ones may belong to another process's write in flight.
fn prune_store(models: &std::path::Path) -> Result<()> {
    if std::env::var_os("OLLAMA_NOPRUNE").is_some() {
        return Ok(());
    }
    let store = wollama_store::Store::open(models).with_context(|| format!("opening {}", models.display()))?;
    let report = store.prune_unreferenced(Duration::from_secs(3600)).context("pruning the store")?;
    let n = report.removed_blobs.len() + report.removed_other.len();
    if n > 0 {
        eprintln!("pruned {n} unreferenced blobs and unfinished writes from {}", models.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_host_forms() {
        assert_eq!(parse_host("").unwrap(), "127.0.0.1:11434".parse().unwrap());
        assert_eq!(parse_host("0.0.0.0").unwrap(), "0.0.0.0:11434".parse().unwrap());
        assert_eq!(parse_host("127.0.0.1:8080").unwrap(), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(parse_host("http://127.0.0.1").unwrap(), "127.0.0.1:80".parse().unwrap());
        assert_eq!(parse_host("\"127.0.0.1:9\"").unwrap(), "127.0.0.1:9".parse().unwrap());
    }
}
