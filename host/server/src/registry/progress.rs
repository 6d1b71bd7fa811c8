//! Progress of a long store operation (pull, push) as Ollama reports it: streamed, one
//! `{"status", "digest"?, "total"?, "completed"?}` line per update and a final `{"error"}`
//! line on failure (HTTP 200 either way); not streamed, only the last object, or the error
//! with status 500.

use std::future::Future;

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::error::ApiError;

/// Where a job reports. A send fails once the client is gone, which ends the job (a pull
/// resumes from its partial files next time).
#[derive(Clone)]
pub struct Progress(mpsc::Sender<Value>);

/// The client disconnected.
pub const GONE: &str = "the client disconnected";

impl Progress {
    pub async fn send(&self, v: Value) -> Result<(), String> {
        self.0.send(v).await.map_err(|_| GONE.to_string())
    }

    pub async fn status(&self, status: &str) -> Result<(), String> {
        self.send(json!({ "status": status })).await
    }

    /// A per-layer line: `<verb> <12 hex>` with the digest and byte counts.
    pub async fn layer(&self, verb: &str, digest: &str, total: u64, completed: u64) -> Result<(), String> {
        let short = digest.strip_prefix("sha256:").unwrap_or(digest);
        let short = &short[..short.len().min(12)];
        self.send(json!({ "status": format!("{verb} {short}"), "digest": digest, "total": total, "completed": completed }))
            .await
    }
}

/// Runs `job` and answers with its progress, streamed or not.
pub async fn respond<F, Fut>(stream: bool, job: F) -> Response
where
    F: FnOnce(Progress) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Value>(64);
    let fut = job(Progress(tx.clone()));
    if stream {
        tokio::spawn(async move {
            if let Err(m) = fut.await {
                let _ = tx.send(json!({ "error": m })).await;
            }
        });
        let lines = futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(|v: Value| {
            let mut line = serde_json::to_vec(&v).expect("JSON");
            line.push(b'\n');
            Ok::<_, std::convert::Infallible>(line)
        });
        return (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(lines)).into_response();
    }
    drop(tx);
    let collector = tokio::spawn(async move {
        let mut last = Value::Null;
        while let Some(v) = rx.recv().await {
            last = v;
        }
        last
    });
    let result = fut.await;
    let last = collector.await.unwrap_or(Value::Null);
    match result {
        Ok(()) => Json(last).into_response(),
        Err(m) => ApiError::internal(m).into_response(),
    }
}
