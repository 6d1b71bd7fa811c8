//! Embeddings through the pipeline's first steps: the model resolved and scheduled, every
//! input tokenized and fitted to the context (or refused), and all of them embedded in one
//! engine run (each input its own sequence of the same passes). The vectors come back raw
//! (an encoder's pooled rows, a decoder's last-token hidden state); `normalize` is Ollama's.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use wollama_runtime::Event;
use wollama_store::{ModelName, Options};

use super::resolve::{load_or_unload, resolve, Resolved};
use crate::error::{ApiError, ApiResult};
use crate::keep_alive::KeepAlive;
use crate::state::AppState;

/// Raw pooled vectors of some inputs, with what Ollama reports about them.
pub(crate) struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub prompt_tokens: u32,
    pub load: Duration,
}

/// A model resolved for embedding: 404 in the scheduler's wording when it is not there. The
/// request's options, as decoded, are refused only after a bad name.
pub(crate) fn resolve_for_embed(s: &AppState, model: &str, opts: ApiResult<Options>) -> ApiResult<Resolved> {
    ModelName::parse(model).map_err(|_| ApiError::bad_request("invalid model name"))?;
    resolve(s, model, &opts?).map_err(|e| {
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
    s: &AppState,
    resolved: &Resolved,
    inputs: &[String],
    truncate: bool,
    keep_alive: Option<KeepAlive>,
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
        let mut ids = runner.tokenize(text, true, true).await?;
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
        match runner.embed(p, sink).await {
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

/// A vector as the API writes it: each f32 widened to f64, which is how serde_json's `Value`
/// has always carried them (so the answers' digits stay the same).
pub(crate) fn widened(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
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

#[cfg(test)]
mod tests {
    /// Typed answers write `widened` vectors: the same bytes as the `json!` of the f32s they
    /// replaced (serde_json writes an f32 itself with fewer digits).
    #[test]
    fn widened_vectors_write_as_json_values_of_f32_did() {
        let v = [0.1f32, -1.5e-7, 3.4028235e38, 1.0, 0.0, 0.33333334];
        assert_eq!(serde_json::to_string(&super::widened(&v)).unwrap(), serde_json::json!(v.to_vec()).to_string());
        assert_ne!(serde_json::to_string(&v.to_vec()).unwrap(), serde_json::json!(v.to_vec()).to_string());
    }
}
