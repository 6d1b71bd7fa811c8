//! What every object of one OpenAI response shares: id, object type, one `created` second
//! for the whole stream, the model name as the client sent it.

use serde_json::{json, Value};

pub struct Envelope {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
}

impl Envelope {
    /// `prefix` is `chatcmpl` or `cmpl`; the id's number is random, as OpenAI's ids are opaque.
    pub fn new(prefix: &str, object: &'static str, model: String) -> Envelope {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Envelope { id: format!("{prefix}-{}", rand::random::<u32>() % 1_000_000), object, created, model }
    }

    pub fn wrap(&self, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": self.object,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_ollama",
            "choices": choices,
        })
    }

    /// The `choices: []` chunk that closes a stream with `usage`.
    pub fn usage_chunk(&self, prompt_tokens: u32, completion_tokens: u32) -> Value {
        let mut v = self.wrap(json!([]));
        v["usage"] = usage(prompt_tokens, completion_tokens);
        v
    }
}

pub fn usage(prompt_tokens: u32, completion_tokens: u32) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    })
}
