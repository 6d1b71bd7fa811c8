//! `HEAD`/`POST /api/blobs/:digest` and `POST /api/create`: blobs are verified against their
//! digest while written; a create reads the GGUF's facts through the guest (the store never
//! parses model files) and writes the manifest last, so a failure leaves the store as it was.

use std::path::PathBuf;

use axum::body::{Body, Bytes};
use futures::StreamExt;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use wollama_store::create::{create_model, CreateOptions, CreateRequest, ModelFacts, SourceFile};
use wollama_store::manifest::MEDIA_TYPE_MODEL;
use wollama_store::{Digest, Message, ModelName};

use crate::decode::{self, field, get_bool, get_str, Kind};
use crate::error::{ApiError, ApiResult};
use crate::routes::Shared;

fn digest_of(text: &str) -> ApiResult<Digest> {
    Digest::parse(text).map_err(|_| ApiError::bad_request("invalid digest format"))
}

pub async fn head_blob(State(s): State<Shared>, Path(d): Path<String>) -> ApiResult<StatusCode> {
    let digest = digest_of(&d)?;
    if s.store.has_blob(&digest) {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::not_found(format!("blob \"{d}\" not found")))
    }
}

/// The body streams into the store while it is hashed (a GGUF of many gigabytes never sits
/// in memory); a digest mismatch or a cut connection leaves nothing behind.
pub async fn post_blob(State(s): State<Shared>, Path(d): Path<String>, body: Body) -> ApiResult<StatusCode> {
    let digest = digest_of(&d)?;
    if s.store.has_blob(&digest) {
        return Ok(StatusCode::OK);
    }
    let st = s.clone();
    let bytes = body.into_data_stream().map(|chunk| chunk.map_err(std::io::Error::other));
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(bytes));
    let written = tokio::task::spawn_blocking(move || st.store.write_blob(reader, Some(&digest)))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(if written.created { StatusCode::CREATED } else { StatusCode::OK })
}

const CREATE: &[decode::Field] = &[
    field("model", Kind::Str, "string"),
    field("name", Kind::Str, "string"),
    field("from", Kind::Str, "string"),
    field("files", Kind::Object, "map[string]string"),
    field("template", Kind::Str, "string"),
    field("system", Kind::Str, "string"),
    field("license", Kind::Any, "interface {}"),
    field("parameters", Kind::Object, "map[string]interface {}"),
    field("messages", Kind::List(&Kind::Object), "[]api.Message"),
    field("stream", Kind::Bool, "bool"),
    field("quantize", Kind::Str, "string"),
];

/// Ollama's human parameter count: "135M", "1.2B", "8.0B".
fn human_params(n: u64) -> String {
    let (v, unit) = if n >= 1_000_000_000 {
        (n as f64 / 1e9, "B")
    } else if n >= 1_000_000 {
        (n as f64 / 1e6, "M")
    } else {
        (n as f64 / 1e3, "K")
    };
    if v >= 100.0 {
        format!("{v:.0}{unit}")
    } else if v >= 10.0 {
        format!("{v:.1}{unit}")
    } else {
        format!("{v:.2}{unit}")
    }
}

/// What the guest reads from the GGUF, for the config blob.
fn facts(path: PathBuf) -> Result<ModelFacts, String> {
    let rt = wollama_runtime::Runtime::new().map_err(|e| e.to_string())?;
    let mut s = rt.open(&path, 1).map_err(|e| e.to_string())?;
    let i = s.info().map_err(|e| e.to_string())?;
    // Ollama's rule: a GGUF that declares a pooling type is an embedding model.
    let pooled = s.metadata().map_err(|e| e.to_string())?.iter().any(|(k, _)| k.ends_with(".pooling_type"));
    Ok(ModelFacts {
        format: "gguf".into(),
        family: i.architecture.clone(),
        families: vec![i.architecture],
        parameter_size: human_params(i.parameter_count),
        file_type: i.file_type,
        context_length: Some(i.context_length as u64),
        embedding_length: Some(i.embedding_length as u64),
        capabilities: vec![if pooled { "embedding" } else { "completion" }.into()],
    })
}

fn license_of(v: Option<&Value>) -> ApiResult<Vec<String>> {
    match v {
        None => Ok(vec![]),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or_else(|| ApiError::bad_request("license must be a string or a list of strings")))
            .collect(),
        Some(_) => Err(ApiError::bad_request("license must be a string or a list of strings")),
    }
}

pub async fn create(State(s): State<Shared>, body: Bytes) -> ApiResult<Response> {
    let req = decode::decode(&body, "CreateRequest", CREATE)?;
    let model = get_str(&req, "model").or_else(|| get_str(&req, "name")).unwrap_or("").to_string();
    if ModelName::parse(&model).is_err() {
        return Err(ApiError::bad_request("invalid model name"));
    }
    let mut files: Vec<SourceFile> = req
        .get("files")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(name, d)| SourceFile {
                    name: name.clone(),
                    digest: d.as_str().unwrap_or("").to_string(),
                    media_type: MEDIA_TYPE_MODEL.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let messages: Vec<Message> = match req.get("messages") {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => vec![],
    };
    let from = get_str(&req, "from").map(str::to_string);
    if from.is_none() && files.is_empty() {
        return Err(ApiError::bad_request("neither 'from' or 'files' was specified"));
    }
    // A safetensors directory becomes one GGUF blob first; the model is then made from it.
    let mut statuses = vec!["parsing GGUF".to_string()];
    let mut converted = None;
    if crate::import::is_safetensors(&files) {
        let target = get_str(&req, "quantize").unwrap_or("f16").to_string();
        let st = s.clone();
        let sources = files.clone();
        let (digest, created) = tokio::task::spawn_blocking(move || crate::import::convert(&st.store, &sources, &target))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(ApiError::bad_request)?;
        statuses = vec!["converting model".to_string()];
        files = vec![SourceFile::model("model.gguf", &digest.to_string())];
        if created {
            converted = Some(digest);
        }
    }
    // The weights whose facts go into the config: an uploaded GGUF, or a blob named by `from`.
    let weights = files
        .first()
        .map(|f| f.digest.clone())
        .or_else(|| from.clone().filter(|f| f.starts_with("sha256")));
    let facts_of = match weights {
        Some(d) => {
            let digest = digest_of(d.trim_start_matches('@'))?;
            let path = s.store.blob_path(&digest);
            if !path.exists() {
                return Err(ApiError::bad_request(format!("blob \"{d}\" not found")));
            }
            let f = tokio::task::spawn_blocking(move || facts(path))
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?
                .map_err(ApiError::bad_request)?;
            Some(f)
        }
        None => None,
    };
    let create_req = CreateRequest {
        model,
        from,
        files,
        template: get_str(&req, "template").map(str::to_string),
        system: get_str(&req, "system").map(str::to_string),
        parameters: req.get("parameters").and_then(Value::as_object).cloned(),
        messages,
        license: license_of(req.get("license"))?,
        ..Default::default()
    };
    let opts = CreateOptions { facts: facts_of, keep_old_layers: std::env::var_os("OLLAMA_NOPRUNE").is_some() };
    let stream = get_bool(&req, "stream").unwrap_or(true);
    let st = s.clone();
    let (statuses, result) = tokio::task::spawn_blocking(move || {
        let r = create_model(&st.store, &create_req, &opts, &mut |m| statuses.push(m.to_string()));
        (statuses, r)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    if let Err(e) = result {
        // A blob this request converted is removed again unless something now uses it.
        if let Some(d) = converted {
            let _ = s.store.remove_unreferenced([d.to_string()].iter().map(String::as_str));
        }
        let msg = e.to_string();
        return if stream {
            Ok(ndjson(statuses.into_iter().map(|m| json!({ "status": m })).chain([json!({ "error": msg })]).collect()))
        } else {
            Err(ApiError::bad_request(msg))
        };
    }
    if stream {
        Ok(ndjson(statuses.into_iter().map(|m| json!({ "status": m })).collect()))
    } else {
        Ok(Json(json!({ "status": "success" })).into_response())
    }
}

fn ndjson(lines: Vec<Value>) -> Response {
    let mut body = Vec::new();
    for l in lines {
        body.extend(serde_json::to_vec(&l).expect("JSON"));
        body.push(b'\n');
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_params_like_ollama() {
        assert_eq!(super::human_params(134_515_008), "135M");
        assert_eq!(super::human_params(8_030_261_248), "8.03B");
        assert_eq!(super::human_params(26_000_000), "26.0M");
    }
}
