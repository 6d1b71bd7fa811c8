//! Progress of a long store operation (pull, push, create) as Ollama reports it: streamed,
//! one `{"status", "digest"?, "total"?, "completed"?}` line per update, sent as it happens,
//! and a final `{"error"}` line on failure (HTTP 200 once a line went out); not streamed,
//! only the last object, or the error with its status (500 unless the job says otherwise).

use std::future::Future;

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::error::ApiError;

/// What a job reports: a progress object, or its failure.
enum Event {
    Line(Value),
    Failed(Failure),
}

/// A job's error and the status it answers with while nothing was streamed yet (Ollama's
/// `{"error", "status"}` on the handler's channel; 500 when none is given).
#[derive(Debug)]
pub struct Failure {
    pub status: StatusCode,
    pub message: String,
}

impl Failure {
    pub fn bad_request(message: impl Into<String>) -> Failure {
        Failure { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure { status: StatusCode::INTERNAL_SERVER_ERROR, message }
    }
}

/// Where a job reports. A send fails once the client is gone, which ends the job (a pull
/// resumes from its partial files next time).
#[derive(Clone)]
pub struct Progress(mpsc::Sender<Event>);

/// The client disconnected.
pub const GONE: &str = "the client disconnected";

impl Progress {
    pub async fn send(&self, v: Value) -> Result<(), String> {
        self.0.send(Event::Line(v)).await.map_err(|_| GONE.to_string())
    }

    pub async fn status(&self, status: &str) -> Result<(), String> {
        self.send(json!({ "status": status })).await
    }

    /// A status line from blocking code (a create's store steps); a client that went away
    /// does not stop it, so what it writes is complete.
    pub fn blocking_status(&self, status: &str) {
        let _ = self.0.blocking_send(Event::Line(json!({ "status": status })));
    }

    /// A per-layer line: `<verb> <12 hex>` with the digest and byte counts.
    pub async fn layer(&self, verb: &str, digest: &str, total: u64, completed: u64) -> Result<(), String> {
        let short = digest.strip_prefix("sha256:").unwrap_or(digest);
        let short = &short[..short.len().min(12)];
        self.send(json!({ "status": format!("{verb} {short}"), "digest": digest, "total": total, "completed": completed }))
            .await
    }
}

fn ndjson_line(v: &Value) -> Result<Vec<u8>, std::convert::Infallible> {
    let mut line = serde_json::to_vec(v).expect("JSON");
    line.push(b'\n');
    Ok(line)
}

/// Runs `job` and answers with its progress: streamed, each line sent as the job reports it
/// (a failure before the first line is a plain error with its status, one after it a last
/// `{"error"}` line), or not, only the last object or the error.
pub async fn respond<F, Fut, E>(stream: bool, job: F) -> Response
where
    F: FnOnce(Progress) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<Failure> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let fut = job(Progress(tx.clone()));
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            let _ = tx.send(Event::Failed(e.into())).await;
        }
    });
    if stream {
        let first = match rx.recv().await {
            Some(Event::Failed(f)) => return ApiError::new(f.status, f.message).into_response(),
            Some(Event::Line(v)) => Some(v),
            None => None,
        };
        let rest = futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
            .map(|e| match e {
                Event::Line(v) => v,
                Event::Failed(f) => json!({ "error": f.message }),
            });
        let lines = futures::stream::iter(first).chain(rest).map(|v| ndjson_line(&v));
        return (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(lines)).into_response();
    }
    let mut last = Value::Null;
    while let Some(e) = rx.recv().await {
        match e {
            Event::Line(v) => last = v,
            Event::Failed(f) => return ApiError::new(f.status, f.message).into_response(),
        }
    }
    Json(last).into_response()
}
