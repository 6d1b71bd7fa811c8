//! What every object of one OpenAI response shares: id, object type, one `created` second
//! for the whole stream, the model name as the client sent it, and the token counts.
//!
//! Fields are in name order, here and in the routes' choices: the shipped binary's serde_json
//! (no `preserve_order`) wrote the `json!` objects these replace with sorted keys.

use serde::Serialize;

pub struct Envelope {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
}

/// One response object (or stream chunk) with its route's choices.
#[derive(Serialize)]
pub struct Object<C> {
    pub choices: Vec<C>,
    created: u64,
    id: String,
    model: String,
    object: &'static str,
    system_fingerprint: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize)]
pub struct Usage {
    completion_tokens: u32,
    prompt_tokens: u32,
    total_tokens: u32,
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

    pub fn wrap<C>(&self, choices: Vec<C>) -> Object<C> {
        Object {
            choices,
            created: self.created,
            id: self.id.clone(),
            model: self.model.clone(),
            object: self.object,
            system_fingerprint: "fp_ollama",
            usage: None,
        }
    }

    /// A non-streamed answer: its choices and the token counts.
    pub fn answer<C>(&self, choices: Vec<C>, prompt_tokens: u32, completion_tokens: u32) -> Object<C> {
        Object { usage: Some(usage(prompt_tokens, completion_tokens)), ..self.wrap(choices) }
    }

    /// The `choices: []` chunk that closes a stream with `usage`.
    pub fn usage_chunk<C>(&self, prompt_tokens: u32, completion_tokens: u32) -> Object<C> {
        self.answer(Vec::new(), prompt_tokens, completion_tokens)
    }
}

fn usage(prompt_tokens: u32, completion_tokens: u32) -> Usage {
    Usage { completion_tokens, prompt_tokens, total_tokens: prompt_tokens + completion_tokens }
}
