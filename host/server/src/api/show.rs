//! `POST /api/show`: details, parameters, template, system, license, modelfile, capabilities
//! and `model_info` (the GGUF metadata as the guest reads it: arrays longer than five shown as
//! [] unless `verbose`, and `general.name`/`tokenizer.chat_template` left out, as Ollama);
//! `tensors` when `verbose`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};
use wollama_store::manifest::{
    MEDIA_TYPE_LICENSE, MEDIA_TYPE_MESSAGES, MEDIA_TYPE_MODEL, MEDIA_TYPE_PARAMS, MEDIA_TYPE_SYSTEM, MEDIA_TYPE_TEMPLATE,
};
use wollama_store::{Digest, Message, ModelName, ShowModelfile};

use crate::decode::{self, field, get_str, Kind};
use crate::error::{ApiError, ApiResult};
use crate::pipeline::resolve::layer_text;
use crate::state::AppState;

const SHOW: &[decode::Field] = &[
    field("model", Kind::Str, "string"),
    field("name", Kind::Str, "string"),
    field("verbose", Kind::Bool, "bool"),
    field("system", Kind::Str, "string"),
    field("template", Kind::Str, "string"),
    field("options", Kind::Object, "map[string]interface {}"),
];

pub async fn show(State(s): State<Arc<AppState>>, body: Bytes) -> ApiResult<Json<Value>> {
    let req = decode::decode(&body, "ShowRequest", SHOW)?;
    let text = get_str(&req, "model").or_else(|| get_str(&req, "name")).unwrap_or("").to_string();
    if text.is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    let name = ModelName::parse(&text).map_err(|_| ApiError::bad_request("invalid model name"))?;
    let name = s.store.canonical_name(&name);
    let entry = s.store.get(&name).map_err(|_| ApiError::model_not_found(&text))?;
    let m = &entry.manifest;
    let config = s.store.read_config(m).unwrap_or_default();
    let model_layer = m.layers_of(MEDIA_TYPE_MODEL).next().ok_or_else(|| ApiError::internal("no model layer"))?;
    let gguf = s.store.blob_path(&Digest::parse(&model_layer.digest).map_err(|e| ApiError::internal(e.to_string()))?);

    let path = gguf.clone();
    let go_template = layer_text(&s.store, m, MEDIA_TYPE_TEMPLATE).pop();
    let verbose = req.get("verbose").and_then(Value::as_bool).unwrap_or(false);
    let (info, metadata, tensors, features) = tokio::task::spawn_blocking(move || -> Result<_, wollama_runtime::Error> {
        let rt = wollama_runtime::Runtime::shared()?;
        let mut sess = rt.open(&path, 1)?;
        // What the template says the model can do besides completing text (tools, thinking).
        let features = sess.template_features(go_template.as_deref()).ok();
        let tensors = if verbose { sess.tensors()? } else { Vec::new() };
        Ok((sess.info()?, sess.metadata_json()?, tensors, features))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;

    // Ollama: every key but these two; arrays longer than five shown as [] unless verbose.
    let Ok(Value::Object(metadata)) = serde_json::from_str::<Value>(&metadata) else {
        return Err(ApiError::internal("the model's metadata is not a JSON object"));
    };
    let mut model_info = Map::new();
    for (k, v) in metadata {
        if k == "general.name" || k == "tokenizer.chat_template" {
            continue;
        }
        let long = v.as_array().is_some_and(|a| a.len() > 5);
        model_info.insert(k, if long && !verbose { json!([]) } else { v });
    }
    let template = layer_text(&s.store, m, MEDIA_TYPE_TEMPLATE).pop().or(info.chat_template.clone());
    let system = get_str(&req, "system").map(str::to_string).or_else(|| layer_text(&s.store, m, MEDIA_TYPE_SYSTEM).pop());
    let license = layer_text(&s.store, m, MEDIA_TYPE_LICENSE);
    let params: Option<Map<String, Value>> = layer_text(&s.store, m, MEDIA_TYPE_PARAMS)
        .pop()
        .and_then(|t| serde_json::from_str(&t).ok());
    let messages: Vec<Message> =
        layer_text(&s.store, m, MEDIA_TYPE_MESSAGES).pop().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let short = name.display_shortest();
    let gguf_text = gguf.display().to_string();
    let modelfile = ShowModelfile {
        short_name: &short,
        model_path: &gguf_text,
        adapter_paths: &[],
        draft_path: None,
        projector_paths: &[],
        template: template.as_deref(),
        system: system.as_deref().unwrap_or(""),
        renderer: "",
        parser: "",
        params: params.as_ref(),
        license: &license,
        messages: &messages,
    }
    .render();

    let mut v = json!({
        "modelfile": modelfile,
        "details": {
            "parent_model": "",
            "format": config.model_format,
            "family": config.model_family,
            "families": config.model_families,
            "parameter_size": config.model_type,
            "quantization_level": config.file_type,
        },
        "model_info": model_info,
        "capabilities": crate::model_capabilities::of(&config.capabilities, features.as_ref()),
        "modified_at": crate::go_time::go_local_time(entry.modified),
    });
    if verbose {
        v["tensors"] = tensors.iter().map(|t| json!({"name": t.name, "type": t.ggml_type, "shape": t.shape})).collect();
    }
    if let Some(t) = template {
        v["template"] = json!(t);
    }
    if let Some(sys) = system {
        v["system"] = json!(sys);
    }
    if !license.is_empty() {
        v["license"] = json!(license.join("\n"));
    }
    if let Some(p) = &params {
        v["parameters"] = json!(wollama_store::options::show_parameters(p));
    }
    if !messages.is_empty() {
        v["messages"] = serde_json::to_value(&messages).unwrap_or(Value::Null);
    }
    Ok(Json(v))
}
