//! Runs one request on a loaded model and turns the engine's events into Ollama's chunk
//! sequence, streamed as NDJSON or collected into one response.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use wollama_runtime::{Event, Request};

use crate::error::{ApiError, ApiResult};
use crate::sched::Lease;

/// One piece of a running generation.
pub enum Piece {
    /// The next token's log-probabilities (asked for by the request), before its text.
    Logprobs(Value),
    Text { token: u32, text: String },
    Done { reason: String, prompt_tokens: u32, eval_tokens: u32 },
    Failed(String),
}

/// Metrics of a finished request, in Ollama's units (nanoseconds).
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub total: Duration,
    pub load: Duration,
    pub prompt_eval_count: u32,
    pub prompt_eval: Duration,
    pub eval_count: u32,
    pub eval: Duration,
    /// Prompt tokens dropped to fit the context (wollama's addition; Ollama truncates silently).
    pub truncated: u32,
}

impl Metrics {
    pub fn write(&self, obj: &mut Map<String, Value>) {
        let ns = |d: Duration| Value::from(d.as_nanos() as u64);
        // Zero-valued metrics are omitted, as Go's omitempty does.
        let mut put = |k: &str, v: Value, zero: bool| {
            if !zero {
                obj.insert(k.into(), v);
            }
        };
        put("total_duration", ns(self.total), self.total.is_zero());
        put("load_duration", ns(self.load), self.load.is_zero());
        put("prompt_eval_count", self.prompt_eval_count.into(), self.prompt_eval_count == 0);
        put("prompt_eval_duration", ns(self.prompt_eval), self.prompt_eval.is_zero());
        put("eval_count", self.eval_count.into(), self.eval_count == 0);
        put("eval_duration", ns(self.eval), self.eval.is_zero());
        put("truncated", self.truncated.into(), self.truncated == 0);
    }
}

/// A submitted request: its pieces arrive on `rx`; dropping it cancels the generation.
pub struct Running {
    pub rx: mpsc::UnboundedReceiver<Piece>,
    pub lease: Lease,
    pub started: Instant,
    pub submitted: Instant,
    pub load: Duration,
    /// Prompt tokens dropped to fit the context, reported in the final chunk.
    pub truncated: u32,
}

/// Submits `req` on the leased model; `truncated` prompt tokens were dropped to fit the
/// context, reported in the final chunk.
pub fn submit(lease: Lease, req: Request, started: Instant, truncated: u32) -> ApiResult<Running> {
    let (tx, rx) = mpsc::unbounded_channel();
    let tx_logprobs = tx.clone();
    let sink = Box::new(move |ev: Event| {
        let piece = match ev {
            Event::Token((_, token, text)) => Piece::Text { token, text },
            Event::Done((_, f)) => {
                Piece::Done { reason: f.reason, prompt_tokens: f.prompt_tokens, eval_tokens: f.eval_tokens }
            }
            Event::Failed((_, m)) => Piece::Failed(m),
            // Generation requests never produce embeddings.
            Event::Embedding(_) => return true,
        };
        tx.send(piece).is_ok()
    });
    let load = started.elapsed();
    let logprobs = req.top_logprobs.map(|_| {
        let lp_tx = tx_logprobs;
        Box::new(move |l: wollama_runtime::TokenLogprobs| {
            let _ = lp_tx.send(Piece::Logprobs(crate::logprobs::to_json(&l)));
        }) as wollama_runtime::LogprobSink
    });
    lease.model.runner.submit(req, sink, logprobs)?;
    Ok(Running { rx, lease, started, submitted: Instant::now(), load, truncated })
}

/// How a route shapes its chunks.
pub trait Shape: Send + 'static {
    /// A chunk carrying generated text.
    fn text_chunk(&mut self, text: &str) -> Value;
    /// The final chunk (done: true) with the reason; metrics are added after.
    fn final_chunk(&mut self, reason: &str, tokens: &[u32]) -> Value;
    /// Non-streamed: the whole text in one final object.
    fn whole(&mut self, text: &str, reason: &str, tokens: &[u32]) -> Value;
}

pub fn now_rfc3339() -> String {
    go_time(&chrono::Utc::now())
}

/// A time as Go's `time.Time` marshals it (RFC 3339 with nanoseconds): the fraction without
/// trailing zeros (none when whole), `Z` for a zero offset.
pub fn go_time<Tz: chrono::TimeZone>(t: &chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    use chrono::{Offset, Timelike};
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let frac = format!("{:09}", t.nanosecond() % 1_000_000_000);
    let frac = frac.trim_end_matches('0');
    if !frac.is_empty() {
        s.push('.');
        s.push_str(frac);
    }
    if t.offset().fix().local_minus_utc() == 0 {
        s.push('Z');
    } else {
        s.push_str(&t.format("%:z").to_string());
    }
    s
}

/// Local time with its offset, as Ollama marshals `modified_at`/`expires_at`.
pub fn go_local_time(t: std::time::SystemTime) -> String {
    go_time(&chrono::DateTime::<chrono::Local>::from(t))
}

/// Streams NDJSON chunks; an error after the first chunk becomes a final `{"error"}` line.
pub fn ndjson(mut run: Running, mut shape: impl Shape) -> Response {
    let stream = async_stream(move |tx: mpsc::Sender<Value>| async move {
        let mut tokens = Vec::new();
        let mut first = None;
        let mut logprobs = Vec::new();
        while let Some(piece) = run.rx.recv().await {
            match piece {
                Piece::Logprobs(l) => logprobs.push(l),
                Piece::Text { token, text } => {
                    first.get_or_insert_with(Instant::now);
                    tokens.push(token);
                    let mut chunk = shape.text_chunk(&text);
                    if !logprobs.is_empty() {
                        chunk["logprobs"] = Value::Array(std::mem::take(&mut logprobs));
                    }
                    if tx.send(chunk).await.is_err() {
                        return; // client gone: dropping `run` cancels the generation
                    }
                }
                Piece::Done { reason, prompt_tokens, eval_tokens } => {
                    let mut chunk = shape.final_chunk(&reason, &tokens);
                    metrics(&run, first, prompt_tokens, eval_tokens).write(chunk.as_object_mut().expect("object"));
                    let _ = tx.send(chunk).await;
                    return;
                }
                Piece::Failed(m) => {
                    let _ = tx.send(json!({ "error": m })).await;
                    return;
                }
            }
        }
    });
    let body = Body::from_stream(stream.map(|v| {
        let mut line = serde_json::to_vec(&v).expect("JSON");
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(line)
    }));
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}

/// A whole generation, gathered from its pieces.
pub struct Gathered {
    pub text: String,
    pub tokens: Vec<u32>,
    pub reason: String,
    pub metrics: Metrics,
    /// Per token, when the request asked for them.
    pub logprobs: Vec<Value>,
}

/// Waits for the whole generation.
pub async fn gather(mut run: Running) -> ApiResult<Gathered> {
    let mut tokens = Vec::new();
    let mut text = String::new();
    let mut first = None;
    let mut logprobs = Vec::new();
    while let Some(piece) = run.rx.recv().await {
        match piece {
            Piece::Logprobs(l) => logprobs.push(l),
            Piece::Text { token, text: t } => {
                first.get_or_insert_with(Instant::now);
                tokens.push(token);
                text += &t;
            }
            Piece::Done { reason, prompt_tokens, eval_tokens } => {
                let metrics = metrics(&run, first, prompt_tokens, eval_tokens);
                return Ok(Gathered { text, tokens, reason, metrics, logprobs });
            }
            Piece::Failed(m) => return Err(ApiError::internal(m)),
        }
    }
    Err(ApiError::internal("the engine stopped before the request finished"))
}

/// Collects the whole generation into one response object.
pub async fn collect(run: Running, mut shape: impl Shape) -> ApiResult<Value> {
    let g = gather(run).await?;
    let mut v = shape.whole(&g.text, &g.reason, &g.tokens);
    g.metrics.write(v.as_object_mut().expect("object"));
    if !g.logprobs.is_empty() {
        v["logprobs"] = Value::Array(g.logprobs);
    }
    Ok(v)
}

pub(crate) fn metrics(run: &Running, first: Option<Instant>, prompt_tokens: u32, eval_tokens: u32) -> Metrics {
    let now = Instant::now();
    let first = first.unwrap_or(now);
    tracing::debug!(
        model = %run.lease.model.spec.name,
        total = ?(now - run.started),
        load = ?run.load,
        prompt_eval_count = prompt_tokens,
        prompt_eval = ?first.saturating_duration_since(run.submitted),
        eval_count = eval_tokens,
        eval = ?now.saturating_duration_since(first),
        "request timings"
    );
    Metrics {
        total: now - run.started,
        load: run.load,
        prompt_eval_count: prompt_tokens,
        prompt_eval: first.saturating_duration_since(run.submitted),
        eval_count: eval_tokens,
        eval: now.saturating_duration_since(first),
        truncated: run.truncated,
    }
}

/// A stream fed by an async producer through a small channel (backpressure per chunk).
pub(crate) fn async_stream<F, Fut>(producer: F) -> impl futures::Stream<Item = Value>
where
    F: FnOnce(mpsc::Sender<Value>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(producer(tx));
    tokio_stream_from(rx)
}

fn tokio_stream_from(mut rx: mpsc::Receiver<Value>) -> impl futures::Stream<Item = Value> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_as_go_marshals_them() {
        use chrono::TimeZone;
        let utc = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 9, 58, 41).unwrap();
        assert_eq!(super::go_time(&(utc + chrono::Duration::nanoseconds(743_538_800))), "2026-12-01T09:58:41.7435388Z");
        assert_eq!(super::go_time(&utc), "2026-12-01T09:58:41Z");
        let pdt = chrono::FixedOffset::west_opt(7 * 3600).unwrap().with_ymd_and_hms(2025, 5, 10, 8, 6, 48).unwrap();
        assert_eq!(super::go_time(&(pdt + chrono::Duration::nanoseconds(639_712_648))), "2025-05-10T08:06:48.639712648-07:00");
    }
}
