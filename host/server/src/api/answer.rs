//! What generate's and chat's answers share: each route says what its chunks hold, and the
//! rest is the same: the log-probabilities ride on the text chunk that shows their tokens,
//! the metrics on the last chunk, and a non-streamed answer is the last chunk made from the
//! whole text, with every log-probability.
//!
//! The chunks are typed (Ollama's `GenerateResponse`, `ChatResponse`) with their fields in
//! name order: the shipped binary's serde_json (no `preserve_order`) wrote the `json!` objects
//! they replace with sorted keys, and serde writes a struct's fields in declaration order.

use serde::Serialize;
use serde_json::Value;

use crate::framing::Shape;
use crate::pipeline::generation::{Done, Metrics, Whole};
use crate::pipeline::thinking::Split;

/// A native route's chunks.
pub(crate) trait Chunks: Send + 'static {
    type Chunk: Serialize + Send;
    /// A chunk of generated text (`done: false`) with the log-probabilities of its tokens.
    fn text(&self, split: &Split, logprobs: Option<Vec<Value>>) -> Self::Chunk;
    /// The last chunk (`done: true`).
    fn last(&self, end: &Done, logprobs: Option<Vec<Value>>) -> Self::Chunk;
}

/// Ollama's metrics as the last chunk writes them: a zero is omitted, as Go's `omitempty`
/// does; durations in whole nanoseconds. The routes' responses repeat these fields rather
/// than flatten this struct: in name order they fall between the routes' own fields.
#[derive(Default)]
pub(crate) struct Timings {
    pub eval_count: Option<u32>,
    pub eval_duration: Option<u64>,
    pub load_duration: Option<u64>,
    pub prompt_eval_count: Option<u32>,
    pub prompt_eval_duration: Option<u64>,
    pub total_duration: Option<u64>,
    pub truncated: Option<u32>,
}

impl From<&Metrics> for Timings {
    fn from(m: &Metrics) -> Timings {
        let ns = |d: std::time::Duration| (!d.is_zero()).then_some(d.as_nanos() as u64);
        let count = |n: u32| (n != 0).then_some(n);
        Timings {
            eval_count: count(m.eval_count),
            eval_duration: ns(m.eval),
            load_duration: ns(m.load),
            prompt_eval_count: count(m.prompt_eval_count),
            prompt_eval_duration: ns(m.prompt_eval),
            total_duration: ns(m.total),
            truncated: count(m.truncated),
        }
    }
}

/// Log-probabilities are written only when there are some.
fn some(logprobs: Vec<Value>) -> Option<Vec<Value>> {
    (!logprobs.is_empty()).then_some(logprobs)
}

/// A route's chunks as the framer streams them, or as one answer.
pub(crate) struct Answer<C>(pub C);

impl<C: Chunks> Answer<C> {
    /// The non-streamed answer.
    pub fn whole(&self, w: Whole) -> C::Chunk {
        self.0.last(&w.done, some(w.logprobs))
    }
}

impl<C: Chunks> Shape for Answer<C> {
    type Object = C::Chunk;
    fn text(&mut self, split: Split, logprobs: &mut Vec<Value>) -> Vec<C::Chunk> {
        vec![self.0.text(&split, some(std::mem::take(logprobs)))]
    }
    fn done(&mut self, d: &Done) -> Vec<C::Chunk> {
        vec![self.0.last(d, None)]
    }
}

/// What the routes' byte tests share.
#[cfg(test)]
pub(crate) mod testing {
    use std::time::Duration;

    use serde::Serialize;

    use crate::pipeline::generation::Metrics;

    /// Metrics with every field set, each to a different number.
    pub fn metrics() -> Metrics {
        let ns = Duration::from_nanos;
        Metrics { total: ns(7), load: ns(6), prompt_eval_count: 5, prompt_eval: ns(4), eval_count: 3, eval: ns(2), truncated: 1 }
    }

    /// A chunk's bytes with its time (`created_at`, the clock's) written as `T`.
    pub fn bytes(chunk: &impl Serialize) -> String {
        let s = serde_json::to_string(chunk).unwrap();
        let start = s.find(r#""created_at":""#).expect("created_at") + r#""created_at":""#.len();
        let end = start + s[start..].find('"').unwrap();
        format!("{}T{}", &s[..start], &s[end..])
    }
}
