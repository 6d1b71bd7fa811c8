//! `POST /api/embed` and the legacy `POST /api/embeddings`, for embedding models and chat
//! models alike (Ollama has no capability gate here). Every input of one call runs as its own
//! sequence of the same engine passes (the guest batches them); the vectors (an encoder's
//! pooled rows, a decoder's last-token hidden state) come back raw and are normalised here,
//! as Ollama's server does.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use wollama_runtime::Event;
use wollama_store::ModelName;

use crate::decode::{self, field, get_bool, get_str, Kind};
use crate::error::{ApiError, ApiResult};
use crate::generate::{keep_alive_of, load_or_unload, options_of, resolve, Resolved};
use crate::routes::Shared;

const EMBED: &[decode::Field] = &[
    field("model", Kind::Str, "string"),
    field("input", Kind::Any, "interface {}"),
    field("truncate", Kind::Bool, "bool"),
    field("dimensions", Kind::Int, "int"),
    field("keep_alive", Kind::Any, "api.Duration"),
    field("options", Kind::Object, "map[string]interface {}"),
];

const EMBEDDINGS: &[decode::Field] = &[
    field("model", Kind::Str, "string"),
    field("prompt", Kind::Str, "string"),
    field("keep_alive", Kind::Any, "api.Duration"),
    field("options", Kind::Object, "map[string]interface {}"),
];

/// Raw pooled vectors of some inputs, with what Ollama reports about them.
pub(crate) struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub prompt_tokens: u32,
    pub load: Duration,
}

/// A model resolved for embedding: 404 in the scheduler's wording when it is not there.
pub(crate) fn resolve_for_embed(s: &Shared, model: &str, req: &Map<String, Value>) -> ApiResult<Resolved> {
    ModelName::parse(model).map_err(|_| ApiError::bad_request("invalid model name"))?;
    let opts = options_of(req)?;
    resolve(s, model, &opts).map_err(|e| {
        if e.status == axum::http::StatusCode::NOT_FOUND {
            ApiError::not_found(format!("model \"{model}\" not found, try pulling it first"))
        } else {
            e
        }
    })
}

/// Tokenizes, truncates (or refuses, when `truncate` is false) and embeds every input in one
/// engine run. No inputs just loads the model.
pub(crate) async fn embed_inputs(
    s: &Shared,
    resolved: &Resolved,
    inputs: &[String],
    truncate: bool,
    keep_alive: Option<crate::keep_alive::KeepAlive>,
) -> ApiResult<Embedded> {
    let started = Instant::now();
    if inputs.is_empty() {
        load_or_unload(s, &resolved.spec, keep_alive).await?;
        return Ok(Embedded { vectors: Vec::new(), prompt_tokens: 0, load: started.elapsed() });
    }
    let lease = s.sched.acquire(&resolved.spec, keep_alive).await?;
    let load = started.elapsed();
    let runner = &lease.model.runner;
    let eos = runner.loaded.info.eos;
    // An encoder sees each input whole in one pass, so num_batch bounds it too; a decoder
    // (a chat model, embedded by its last token's hidden state) feeds long inputs in chunks.
    let mut limit = match resolved.spec.embedding {
        true => resolved.spec.num_ctx.min(resolved.spec.num_batch),
        false => resolved.spec.num_ctx,
    } as usize;
    if resolved.context_length > 0 {
        limit = limit.min(resolved.context_length as usize);
    }
    let mut prompts = Vec::with_capacity(inputs.len());
    for text in inputs {
        let mut ids = runner.tokenize(text, true, true)?;
        if ids.len() > limit {
            if !truncate {
                return Err(ApiError::bad_request("the input length exceeds the context length"));
            }
            // Keep the head of the input and its closing token ([SEP]), as Ollama does.
            let last = *ids.last().expect("longer than the limit");
            ids.truncate(limit);
            if Some(last) == eos {
                ids[limit - 1] = last;
            }
        }
        prompts.push(ids);
    }
    let prompt_tokens = prompts.iter().map(|p| p.len() as u32).sum();
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Result<Vec<f32>, String>)>();
    let mut ids = Vec::with_capacity(prompts.len());
    for (i, p) in prompts.into_iter().enumerate() {
        let tx = tx.clone();
        let sink = Box::new(move |ev: Event| match ev {
            Event::Embedding((_, v)) => tx.send((i, Ok(v))).is_ok(),
            Event::Failed((_, m)) => tx.send((i, Err(m))).is_ok(),
            _ => true,
        });
        match runner.embed(p, sink) {
            Ok(id) => ids.push(id),
            Err(e) => {
                for id in ids {
                    runner.cancel(id);
                }
                return Err(e.into());
            }
        }
    }
    drop(tx);
    let mut vectors = vec![Vec::new(); inputs.len()];
    let mut got = 0;
    while let Some((i, r)) = rx.recv().await {
        vectors[i] = r.map_err(ApiError::internal)?;
        got += 1;
    }
    if got != inputs.len() {
        return Err(ApiError::internal("the engine stopped before every input was embedded"));
    }
    Ok(Embedded { vectors, prompt_tokens, load })
}

/// L2-normalised; with 0 < `dimensions` < the length, cut first and normalised after.
pub(crate) fn normalize(v: &[f32], dimensions: Option<i64>) -> ApiResult<Vec<f32>> {
    if v.iter().any(|x| !x.is_finite()) {
        return Err(ApiError::internal("embedding contains NaN or Inf values"));
    }
    let cut = match dimensions {
        Some(d) if d > 0 && (d as usize) < v.len() => &v[..d as usize],
        _ => v,
    };
    let norm = cut.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
    Ok(cut.iter().map(|&x| (x as f64 * scale) as f32).collect())
}

/// Ollama's `input`: a string (empty = none) or a list of strings.
fn inputs_of(v: Option<&Value>) -> ApiResult<Vec<String>> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or_else(|| ApiError::bad_request("invalid input type")))
            .collect(),
        Some(_) => Err(ApiError::bad_request("invalid input type")),
    }
}

pub async fn embed(State(s): State<Shared>, body: Bytes) -> ApiResult<Response> {
    let started = Instant::now();
    let req = decode::decode(&body, "EmbedRequest", EMBED)?;
    let model = get_str(&req, "model").unwrap_or("").to_string();
    if model.is_empty() {
        return Err(ApiError::model_not_found(""));
    }
    let inputs = inputs_of(req.get("input"))?;
    let keep_alive = keep_alive_of(&req)?;
    let resolved = resolve_for_embed(&s, &model, &req)?;
    let truncate = get_bool(&req, "truncate").unwrap_or(true);
    let dimensions = req.get("dimensions").and_then(Value::as_i64);
    let e = embed_inputs(&s, &resolved, &inputs, truncate, keep_alive).await?;
    let embeddings: Vec<Vec<f32>> = e.vectors.iter().map(|v| normalize(v, dimensions)).collect::<ApiResult<_>>()?;
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    out.insert("embeddings".into(), json!(embeddings));
    if !inputs.is_empty() {
        out.insert("total_duration".into(), json!(started.elapsed().as_nanos() as u64));
        out.insert("load_duration".into(), json!(e.load.as_nanos() as u64));
        out.insert("prompt_eval_count".into(), json!(e.prompt_tokens));
    }
    Ok(Json(Value::Object(out)).into_response())
}

pub async fn embeddings(State(s): State<Shared>, body: Bytes) -> ApiResult<Response> {
    let req = decode::decode(&body, "EmbeddingRequest", EMBEDDINGS)?;
    let model = get_str(&req, "model").unwrap_or("").to_string();
    if model.is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    let keep_alive = keep_alive_of(&req)?;
    let resolved = resolve_for_embed(&s, &model, &req)?;
    let prompt = get_str(&req, "prompt").unwrap_or("");
    let inputs: Vec<String> = if prompt.is_empty() { Vec::new() } else { vec![prompt.to_string()] };
    let e = embed_inputs(&s, &resolved, &inputs, true, keep_alive).await?;
    // Not normalised, and as float64, as Ollama's legacy endpoint returns it.
    let embedding: Vec<f64> = e.vectors.first().map(|v| v.iter().map(|&x| x as f64).collect()).unwrap_or_default();
    Ok(Json(json!({ "embedding": embedding })).into_response())
}
