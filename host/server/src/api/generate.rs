//! `POST /api/generate`: load/unload on an empty prompt, raw or templated prompts, options,
//! keep_alive, NDJSON streaming or one response. The pipeline renders the prompt (a request or
//! Modelfile Go TEMPLATE, else the GGUF's Jinja chat template) and cuts it to fit the context.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

use super::request::{keep_alive_of, logprobs_of, options_of, think_of, Shared};
use super::request_checks;
use crate::decode::{self, field, Kind};
use crate::error::{ApiError, ApiResult};
use super::answer::{Answer, Chunks, Timings};
use crate::framing::{self, Framing};
use crate::go_time::now_rfc3339;
use crate::pipeline::generation::Done;
use crate::pipeline::prompt::{self, Completion, Run, Started, Templating};
use crate::pipeline::resolve::{load_or_unload, resolve};
use crate::pipeline::thinking::Split;
use crate::state::AppState;

const GENERATE: &[decode::Field] = &[
    field("model", Kind::Str, "string"),
    field("prompt", Kind::Str, "string"),
    field("suffix", Kind::Str, "string"),
    field("system", Kind::Str, "string"),
    field("template", Kind::Str, "string"),
    field("context", Kind::List(&Kind::Int), "[]int"),
    field("stream", Kind::Bool, "bool"),
    field("raw", Kind::Bool, "bool"),
    field("format", Kind::Any, "json.RawMessage"),
    field("keep_alive", Kind::Any, "api.Duration"),
    field("images", Kind::List(&Kind::Str), "[]api.ImageData"),
    field("options", Kind::Object, "map[string]interface {}"),
    field("think", Kind::Any, "api.ThinkValue"),
    field("truncate", Kind::Bool, "bool"),
    field("shift", Kind::Bool, "bool"),
    field("logprobs", Kind::Bool, "bool"),
    field("top_logprobs", Kind::Int, "int"),
    field("_debug_render_only", Kind::Bool, "bool"),
];

/// Ollama's `GenerateRequest`, as `GENERATE` has checked it (absent and null alike are the
/// default).
#[derive(Deserialize, Default)]
#[serde(default)]
struct GenerateRequest {
    model: String,
    prompt: String,
    suffix: Option<String>,
    system: Option<String>,
    template: Option<String>,
    context: Option<Vec<Number>>,
    raw: bool,
    /// Checked as Go decodes `[]byte` by `request_checks`.
    images: Option<Value>,
    #[serde(flatten)]
    shared: Shared,
}

/// One object of generate's answer (Ollama's `GenerateResponse`), fields in name order.
#[derive(Serialize, Default)]
pub(crate) struct GenerateResponse {
    /// The prompt's and the generated tokens, on the last chunk unless raw.
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<Vec<u32>>,
    created_at: String,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eval_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eval_duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    load_duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<Vec<Value>>,
    model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_eval_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_eval_duration: Option<u64>,
    response: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<u32>,
}

impl GenerateResponse {
    /// A chunk without metrics.
    fn new(model: &str, split: &Split, done: bool) -> GenerateResponse {
        GenerateResponse {
            created_at: now_rfc3339(),
            done,
            model: model.to_string(),
            response: split.content.clone(),
            thinking: (!split.thinking.is_empty()).then(|| split.thinking.clone()),
            ..GenerateResponse::default()
        }
    }

    fn timed(self, t: Timings) -> GenerateResponse {
        let Timings { eval_count, eval_duration, load_duration, prompt_eval_count, prompt_eval_duration, total_duration, truncated } = t;
        GenerateResponse { eval_count, eval_duration, load_duration, prompt_eval_count, prompt_eval_duration, total_duration, truncated, ..self }
    }
}

/// Generate's chunks: the response text (and thinking), and at the end the reason and the
/// context (prompt and generated tokens) unless raw.
struct GenerateChunks {
    model: String,
    /// The prompt's tokens, or None for a raw request (no context).
    prompt: Option<Vec<u32>>,
}

impl Chunks for GenerateChunks {
    type Chunk = GenerateResponse;

    fn text(&self, split: &Split, logprobs: Option<Vec<Value>>) -> GenerateResponse {
        GenerateResponse { logprobs, ..GenerateResponse::new(&self.model, split, false) }
    }

    fn last(&self, end: &Done, logprobs: Option<Vec<Value>>) -> GenerateResponse {
        let context = self.prompt.as_ref().map(|p| [p.as_slice(), &end.tokens].concat());
        let chunk = GenerateResponse::new(&self.model, &end.split, true).timed((&end.metrics).into());
        GenerateResponse { context, done_reason: Some(end.reason.to_string()), logprobs, ..chunk }
    }
}

pub async fn generate(State(s): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    let started = Instant::now();
    let req: GenerateRequest = decode::decode_as(&body, "GenerateRequest", GENERATE)?;
    if req.model.is_empty() {
        return Err(ApiError::model_not_found(""));
    }
    if req.raw && (req.template.is_some() || req.system.is_some() || req.context.is_some()) {
        return Err(ApiError::bad_request("raw mode does not support template, system, or context"));
    }
    let images = request_checks::generate_images(req.images.as_ref())?;
    let keep_alive = keep_alive_of(req.shared.keep_alive.as_ref())?;
    let grammar = crate::format::native(&body, req.shared.format.as_ref())?;
    let top_logprobs = logprobs_of(req.shared.logprobs, req.shared.top_logprobs.as_ref())?;
    let opts = options_of(req.shared.options.as_ref())?;
    let resolved = resolve(&s, &req.model, &opts)?;
    resolved.require_completion(&req.model, "generate")?;
    request_checks::require(&resolved.spec.name, images, req.suffix.as_deref())?;
    let stream = req.shared.stream.unwrap_or(true);

    if req.prompt.is_empty() {
        let reason = load_or_unload(&s, &resolved.spec, keep_alive).await?;
        let v = GenerateResponse { done_reason: Some(reason.to_string()), ..GenerateResponse::new(&req.model, &Split::default(), true) };
        return Ok(Json(v).into_response());
    }

    let think = think_of(req.shared.think.as_ref());
    let completion = Completion {
        prompt: &req.prompt,
        templating: if req.raw { Templating::Raw { think } } else { Templating::Thinking { think } },
        system: req.system.clone(),
        template: req.template.clone(),
        // Go's []int as the engine's tokens: negative ones dropped, the rest cut to 32 bits.
        context: req.context.as_ref().map(|a| a.iter().filter_map(Number::as_u64).map(|t| t as u32).collect()),
    };
    let run = Run {
        grammar,
        top_logprobs,
        truncate: req.shared.truncate.unwrap_or(true),
        shift: req.shared.shift.unwrap_or(true),
        render_only: req.shared.debug_render_only,
    };
    let model = req.model.clone();
    let generation = match prompt::complete(&s, &resolved, completion, keep_alive, run, started).await? {
        Started::Running(g) => *g,
        Started::Rendered(text) => return Ok(Json(request_checks::debug_answer(&model, &text, images, false)).into_response()),
    };
    let answer = Answer(GenerateChunks { model, prompt: (!req.raw).then(|| generation.prompt.clone()) });
    if stream {
        Ok(framing::stream(generation, answer, Framing::Ndjson))
    } else {
        Ok(Json(answer.whole(generation.gather().await?)).into_response())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::answer::testing::{bytes, metrics};
    use crate::pipeline::generation::Metrics;

    /// The typed request reads what the checked map held: nulls and absence alike, keys in
    /// any case, and integers beyond i64 passed through for the handler to read leniently.
    #[test]
    fn the_request_reads_the_checked_fields() {
        let body = br#"{"MODEL":"m","template":null,"raw":true,"top_logprobs":18446744073709551615,"context":[1,-1,18446744073709551615]}"#;
        let req: GenerateRequest = decode::decode_as(body, "GenerateRequest", GENERATE).unwrap();
        assert_eq!(req.model, "m");
        assert!(req.raw && req.template.is_none() && req.shared.stream.is_none());
        assert_eq!(req.shared.top_logprobs.as_ref().and_then(Number::as_i64), None);
        let context: Vec<u64> = req.context.unwrap().iter().filter_map(Number::as_u64).collect();
        assert_eq!(context, [1, u64::MAX]);
        let e = decode::decode_as::<GenerateRequest>(br#"{"prompt":1}"#, "GenerateRequest", GENERATE).err().unwrap();
        assert_eq!(e.message, "json: cannot unmarshal number into Go struct field GenerateRequest.prompt of type string");
    }

    /// The bytes the shipped binary's `json!` objects wrote (keys sorted), written literally.
    #[test]
    fn the_answer_keeps_its_bytes() {
        let chunks = GenerateChunks { model: "m".into(), prompt: Some(vec![1, 2]) };
        let split = Split { thinking: "t".into(), content: "c".into() };
        let text = chunks.text(&split, None);
        assert_eq!(bytes(&text), r#"{"created_at":"T","done":false,"model":"m","response":"c","thinking":"t"}"#);
        let plain = chunks.text(&Split { thinking: String::new(), content: "c".into() }, Some(vec![json!({"token": "c"})]));
        assert_eq!(bytes(&plain), r#"{"created_at":"T","done":false,"logprobs":[{"token":"c"}],"model":"m","response":"c"}"#);

        let metrics = metrics();
        let end = Done { split, calls: vec![], reason: "stop".into(), tokens: vec![3], metrics };
        let last = chunks.last(&end, Some(vec![json!(1)]));
        let want = concat!(
            r#"{"context":[1,2,3],"created_at":"T","done":true,"done_reason":"stop","eval_count":3,"eval_duration":2,"#,
            r#""load_duration":6,"logprobs":[1],"model":"m","prompt_eval_count":5,"prompt_eval_duration":4,"#,
            r#""response":"c","thinking":"t","total_duration":7,"truncated":1}"#
        );
        assert_eq!(bytes(&last), want);

        // Raw (no context) and zero metrics (omitted, as Go's omitempty does).
        let raw = GenerateChunks { model: "m".into(), prompt: None };
        let zero = Metrics::default();
        let end = Done { split: Split::default(), calls: vec![], reason: "length".into(), tokens: vec![3], metrics: zero };
        let want = r#"{"created_at":"T","done":true,"done_reason":"length","model":"m","response":""}"#;
        assert_eq!(bytes(&raw.last(&end, None)), want);
    }
}
