//! Step five: a submitted request's engine events read back as typed pieces. The text of each
//! token goes through the request's output parser (thinking, content, tool calls); the
//! log-probabilities of the tokens ride with their text; the end carries what the parser still
//! held, the tool calls, the reason and Ollama's metrics. The route shapes the pieces
//! (`framing` streams them, or `gather` makes them one answer).

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;
use wollama_runtime::{Event, Request, TokenLogprobs};

use super::output::OutputParser;
use super::thinking::Split;
use crate::error::{ApiError, ApiResult};
use crate::sched::Lease;

/// Metrics of a finished request, in Ollama's units (nanoseconds).
#[derive(Debug, Clone, Default)]
pub(crate) struct Metrics {
    pub total: Duration,
    pub load: Duration,
    pub prompt_eval_count: u32,
    pub prompt_eval: Duration,
    pub eval_count: u32,
    pub eval: Duration,
    /// Prompt tokens dropped to fit the context (wollama's addition; Ollama truncates silently).
    pub truncated: u32,
}

/// The end of a generation.
pub(crate) struct Done {
    /// The text not reported yet: what the output parser still held when streaming, the whole
    /// text when gathered.
    pub split: Split,
    pub calls: Vec<Value>,
    /// The engine's reason: "stop" or "length".
    pub reason: String,
    /// The generated tokens.
    pub tokens: Vec<u32>,
    pub metrics: Metrics,
}

/// One piece of a running generation.
pub(crate) enum Piece {
    /// One token's text, split; the log-probabilities of the tokens since the last piece.
    Text { split: Split, logprobs: Vec<Value> },
    Done(Done),
    /// The engine failed the request after it started.
    Failed(String),
}

/// A whole generation, as a non-streamed answer reports it: its end with all of the text,
/// split in one go.
pub(crate) struct Whole {
    pub done: Done,
    /// Per token, when the request asked for them.
    pub logprobs: Vec<Value>,
}

/// What the engine thread sends for one request.
enum Engine {
    Logprobs(Value),
    Text { token: u32, text: String },
    Done { reason: String, prompt_tokens: u32, eval_tokens: u32 },
    Failed(String),
}

/// A submitted request; dropping it cancels the generation (its sink reports the receiver
/// gone, and the engine drops the request before its next step).
pub(crate) struct Generation {
    rx: mpsc::UnboundedReceiver<Engine>,
    lease: Lease,
    output: OutputParser,
    /// The prompt's tokens as submitted (after fitting).
    pub prompt: Vec<u32>,
    started: Instant,
    submitted: Instant,
    load: Duration,
    /// Prompt tokens dropped to fit the context, reported in the metrics.
    truncated: u32,
    tokens: Vec<u32>,
    first: Option<Instant>,
    logprobs: Vec<Value>,
}

/// Submits a request (with its grammar, logprobs and shift settings); its output is read through
/// `output`. `truncated` prompt tokens were dropped to fit the context.
pub(crate) async fn submit(
    lease: Lease,
    req: Request,
    output: OutputParser,
    prompt: Vec<u32>,
    started: Instant,
    truncated: u32,
) -> ApiResult<Generation> {
    let (tx, rx) = mpsc::unbounded_channel();
    let tx_logprobs = tx.clone();
    let sink = Box::new(move |ev: Event| {
        let piece = match ev {
            Event::Token((_, token, text)) => Engine::Text { token, text },
            Event::Done((_, f)) => Engine::Done { reason: f.reason, prompt_tokens: f.prompt_tokens, eval_tokens: f.eval_tokens },
            Event::Failed((_, m)) => Engine::Failed(m),
            // Generation requests never produce embeddings.
            Event::Embedding(_) => return true,
        };
        tx.send(piece).is_ok()
    });
    let load = started.elapsed();
    let logprobs = req.top_logprobs.is_some().then(|| {
        Box::new(move |l: TokenLogprobs| {
            let _ = tx_logprobs.send(Engine::Logprobs(super::logprobs::to_json(&l)));
        }) as wollama_runtime::LogprobSink
    });
    lease.model.runner.submit(req, sink, logprobs).await?;
    Ok(Generation {
        rx,
        lease,
        output,
        prompt,
        started,
        submitted: Instant::now(),
        load,
        truncated,
        tokens: Vec::new(),
        first: None,
        logprobs: Vec::new(),
    })
}

impl Generation {
    /// The next piece; None when the engine stopped without ending the request.
    pub async fn next(&mut self) -> Option<Piece> {
        loop {
            match self.rx.recv().await? {
                Engine::Logprobs(l) => self.logprobs.push(l),
                Engine::Text { token, text } => {
                    self.first.get_or_insert_with(Instant::now);
                    self.tokens.push(token);
                    let split = self.output.push(&text);
                    return Some(Piece::Text { split, logprobs: std::mem::take(&mut self.logprobs) });
                }
                Engine::Done { reason, prompt_tokens, eval_tokens } => {
                    let metrics = self.metrics(prompt_tokens, eval_tokens);
                    let (split, calls) = self.output.finish();
                    return Some(Piece::Done(Done { split, calls, reason, tokens: std::mem::take(&mut self.tokens), metrics }));
                }
                Engine::Failed(m) => return Some(Piece::Failed(m)),
            }
        }
    }

    /// Waits for the whole generation; its text goes through the output parser in one go.
    pub async fn gather(mut self) -> ApiResult<Whole> {
        let mut text = String::new();
        while let Some(piece) = self.rx.recv().await {
            match piece {
                Engine::Logprobs(l) => self.logprobs.push(l),
                Engine::Text { token, text: t } => {
                    self.first.get_or_insert_with(Instant::now);
                    self.tokens.push(token);
                    text += &t;
                }
                Engine::Done { reason, prompt_tokens, eval_tokens } => {
                    let metrics = self.metrics(prompt_tokens, eval_tokens);
                    let mut split = self.output.push(&text);
                    let (rest, calls) = self.output.finish();
                    split.thinking += &rest.thinking;
                    split.content += &rest.content;
                    let done = Done { split, calls, reason, tokens: std::mem::take(&mut self.tokens), metrics };
                    return Ok(Whole { done, logprobs: std::mem::take(&mut self.logprobs) });
                }
                Engine::Failed(m) => return Err(ApiError::internal(m)),
            }
        }
        Err(ApiError::internal("the engine stopped before the request finished"))
    }

    fn metrics(&self, prompt_tokens: u32, eval_tokens: u32) -> Metrics {
        let now = Instant::now();
        let first = self.first.unwrap_or(now);
        tracing::debug!(
            model = %self.lease.model.spec.name,
            total = ?(now - self.started),
            load = ?self.load,
            prompt_eval_count = prompt_tokens,
            prompt_eval = ?first.saturating_duration_since(self.submitted),
            eval_count = eval_tokens,
            eval = ?now.saturating_duration_since(first),
            "request timings"
        );
        Metrics {
            total: now - self.started,
            load: self.load,
            prompt_eval_count: prompt_tokens,
            prompt_eval: first.saturating_duration_since(self.submitted),
            eval_count: eval_tokens,
            eval: now.saturating_duration_since(first),
            truncated: self.truncated,
        }
    }
}
