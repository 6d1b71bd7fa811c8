//! The Ollama-compatible HTTP API over wollama's engine (and OpenAI's `/v1` over the same
//! pipeline): request decoding with Go's JSON semantics, Ollama's error shape, keep_alive, the
//! scheduler of loaded models, prompt fitting, and streaming of engine output.

//!
//! | module | what |
//! |---|---|
//! | [`routes`] | the endpoint table |
//! | [`api`] | the native handlers: decode, call the pipeline, shape Ollama's answer |
//! | [`openai`] | `/v1`: translation to and from the native pipeline |
//! | [`registry`] | `/api/pull`, `/api/push` and the `/v2` registry side |
//! | [`pipeline`] | resolve → schedule → template → render and fit → submit → typed pieces |
//! | [`framing`] | the pieces as NDJSON or SSE |
//! | [`sched`] | loaded models, keep_alive, the per-model engine |
//! | [`state`] | what every handler shares |
//! | [`decode`], [`error`], [`format`], [`keep_alive`], [`truncate`], [`go_time`] | request fields, errors and times as Ollama has them |
//! | [`guard`], [`access_log`], [`env`] | the Host/Origin check, the log line, the environment |

mod access_log;
mod api;
mod decode;
mod env;
mod error;
mod format;
mod framing;
mod go_time;
mod guard;
mod keep_alive;
mod model_capabilities;
mod openai;
mod pipeline;
mod registry;
mod routes;
mod sched;
mod state;
mod truncate;

pub use env::log_level;
pub use keep_alive::from_env as keep_alive_from_env;
pub use sched::{SchedConfig, SERVER_BUSY};
pub use truncate::PROMPT_TOO_LONG;

use std::net::SocketAddr;
use std::sync::Arc;

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub models: std::path::PathBuf,
    pub sched: SchedConfig,
}

/// Makes ring rustls' crypto for the process, which every TLS client (the registry's,
/// reqwest's) needs; a second call does nothing.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Serves the API until the listener fails; the caller owns the runtime.
pub async fn serve(listener: tokio::net::TcpListener, config: Config) -> std::io::Result<()> {
    install_tls_provider();
    let store = wollama_store::Store::open(&config.models).map_err(std::io::Error::other)?;
    let state = Arc::new(state::AppState { store, sched: sched::Scheduler::new(config.sched), capabilities: Default::default() });
    // Outermost first: every request is logged, refused ones included.
    let guard = Arc::new(guard::Guard::from_env(listener.local_addr()?));
    let app = routes::router(state)
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
        .layer(axum::middleware::from_fn(access_log::log));
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
}

/// Serves the store at `models` on a free loopback port from a thread of its own (with its own
/// runtime of `workers` threads) and returns the address: for tests and embedders.
pub fn spawn_on_free_port(models: std::path::PathBuf, sched: SchedConfig, workers: usize) -> SocketAddr {
    install_tls_provider();
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
