//! The Ollama-compatible HTTP API over wollama's engine (issue 3, in progress): request
//! decoding with Go's JSON semantics, Ollama's error shape, keep_alive, the scheduler of
//! loaded models, and NDJSON streaming of engine events. Routes land next.

pub mod chat;
pub mod create;
pub mod decode;
pub mod embed;
pub mod error;
pub mod generate;
pub mod import;
pub mod keep_alive;
pub mod openai_embed;
pub mod routes;
pub mod sched;
pub mod show;
pub mod stream;

use std::net::SocketAddr;
use std::sync::Arc;

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub models: std::path::PathBuf,
    pub sched: sched::SchedConfig,
}

/// Serves the API until the listener fails; the caller owns the runtime.
pub async fn serve(listener: tokio::net::TcpListener, config: Config) -> std::io::Result<()> {
    let store = wollama_store::Store::open(&config.models).map_err(std::io::Error::other)?;
    let state = Arc::new(routes::AppState { store, sched: sched::Scheduler::new(config.sched) });
    axum::serve(listener, routes::router(state)).await
}

/// Serves the store at `models` on a free loopback port from a thread of its own (with its own
/// runtime of `workers` threads) and returns the address: for tests and embedders.
pub fn spawn_on_free_port(models: std::path::PathBuf, sched: sched::SchedConfig, workers: usize) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    let addr = listener.local_addr().expect("a bound address");
    listener.set_nonblocking(true).expect("a non-blocking listener");
    let config = Config { addr, models, sched };
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            serve(listener, config).await.expect("serving");
        });
    });
    addr
}
