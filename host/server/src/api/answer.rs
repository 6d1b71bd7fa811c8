//! What generate's and chat's answers share: each route says what its chunks hold, and the
//! rest is the same: the log-probabilities ride on the text chunk that shows their tokens,
//! the metrics on the last chunk, and a non-streamed answer is the last chunk made from the
//! whole text, with every log-probability.

use serde_json::Value;

use crate::framing::Shape;
use crate::pipeline::generation::{Done, Whole};
use crate::pipeline::thinking::Split;

/// A native route's chunks.
pub(crate) trait Chunks: Send + 'static {
    /// A chunk of generated text (`done: false`).
    fn text(&self, split: &Split) -> Value;
    /// The last chunk (`done: true`) without its metrics.
    fn last(&self, split: &Split, calls: &[Value], reason: &str, tokens: &[u32]) -> Value;
}

/// A route's chunks as the framer streams them, or as one answer.
pub(crate) struct Answer<C>(pub C);

impl<C: Chunks> Answer<C> {
    /// The non-streamed answer.
    pub fn whole(&self, w: Whole) -> Value {
        let mut v = self.0.last(&w.split, &w.calls, &w.reason, &w.tokens);
        w.metrics.write(v.as_object_mut().expect("object"));
        if !w.logprobs.is_empty() {
            v["logprobs"] = Value::Array(w.logprobs);
        }
        v
    }
}

impl<C: Chunks> Shape for Answer<C> {
    fn text(&mut self, split: Split, logprobs: &mut Vec<Value>) -> Vec<Value> {
        let mut v = self.0.text(&split);
        if !logprobs.is_empty() {
            v["logprobs"] = Value::Array(std::mem::take(logprobs));
        }
        vec![v]
    }
    fn done(&mut self, d: &Done) -> Vec<Value> {
        let mut v = self.0.last(&d.rest, &d.calls, &d.reason, &d.tokens);
        d.metrics.write(v.as_object_mut().expect("object"));
        vec![v]
    }
}
