//! The Ollama-compatible HTTP API over wollama's engine (issue 3, in progress): request
//! decoding with Go's JSON semantics, Ollama's error shape, keep_alive, the scheduler of
//! loaded models, and NDJSON streaming of engine events. Routes land next.

pub mod chat;
pub mod create;
pub mod decode;
pub mod error;
pub mod format;
pub mod generate;
pub mod keep_alive;
pub mod logprobs;
pub mod openai;
pub mod output;
pub mod routes;
pub mod sched;
pub mod show;
pub mod stream;
pub mod thinking;
pub mod tools;

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
