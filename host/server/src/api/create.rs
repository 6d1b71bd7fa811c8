//! `HEAD`/`POST /api/blobs/:digest` and `POST /api/create`: blobs are verified against their
//! digest while written; a create reads the GGUF's facts through the guest (the store never
//! parses model files) and writes the manifest last, so a failure leaves the store as it was.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use futures::StreamExt;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use wollama_store::create::{create_model, CreateOptions, CreateRequest, ModelFacts, SourceFile};
use wollama_store::manifest::MEDIA_TYPE_MODEL;
use wollama_store::{Digest, Message, ModelName};

use crate::decode::{self, field, get_bool, get_str, Kind};
use crate::error::{ApiError, ApiResult};
use crate::registry::progress::{self, Failure, Progress};
use crate::state::AppState;

fn digest_of(text: &str) -> ApiResult<Digest> {
    Digest::parse(text).map_err(|_| ApiError::bad_request("invalid digest format"))
}

pub async fn head_blob(State(s): State<Arc<AppState>>, Path(d): Path<String>) -> ApiResult<StatusCode> {
    let digest = digest_of(&d)?;
    if s.store.has_blob(&digest) {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::not_found(format!("blob \"{d}\" not found")))
    }
}

/// The body streams into the store while it is hashed (a GGUF of many gigabytes never sits
/// in memory); a digest mismatch or a cut connection leaves nothing behind.
pub async fn post_blob(State(s): State<Arc<AppState>>, Path(d): Path<String>, body: Body) -> ApiResult<StatusCode> {
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
/// An unparsable TEMPLATE is refused when the model is made (Ollama's `template error: …`).
fn check_template(s: &mut wollama_runtime::Session, template: Option<&str>) -> Result<(), Failure> {
    let Some(t) = template.filter(|t| !t.is_empty()) else { return Ok(()) };
    s.template_features(Some(t)).map(drop).map_err(|e| {
        let m = match e {
            wollama_runtime::Error::Invalid(m) => m,
            e => e.to_string(),
        };
        Failure::bad_request(if m.starts_with("template error") { m } else { format!("template error: {m}") })
    })
}

/// Checks `template` against the GGUF at `path` and reads its facts.
fn inspect(path: PathBuf, template: Option<String>) -> Result<ModelFacts, Failure> {
    let rt = wollama_runtime::Runtime::shared().map_err(|e| Failure::from(e.to_string()))?;
    let mut s = rt.open(&path, 1).map_err(|e| Failure::bad_request(e.to_string()))?;
    check_template(&mut s, template.as_deref())?;
    facts(&mut s).map_err(Failure::bad_request)
}

fn facts(s: &mut wollama_runtime::Session) -> Result<ModelFacts, String> {
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

/// `quantize` of a GGUF, checked as Ollama checks it: a type it knows, from a float model.
/// The GGUF already of that type is kept; requantizing is not something wollama does (yet).
fn check_quantize(q: &str, file_type: &str) -> Result<(), Failure> {
    let want = match q.to_ascii_uppercase().as_str() {
        "F32" => "F32",
        "F16" => "F16",
        "BF16" => "BF16",
        "Q8_0" => "Q8_0",
        "Q4_K_S" => "Q4_K_S",
        "Q4_K_M" | "Q4_K" => "Q4_K_M",
        other => {
            return Err(Failure::from(format!(
                "unsupported quantization type {other} - supported types are F32, F16, Q4_K_S, Q4_K_M, Q8_0"
            )))
        }
    };
    if !["F16", "BF16", "F32"].contains(&file_type) {
        return Err(Failure::from("quantization is only supported for F16, BF16 and F32 models".to_string()));
    }
    if want == file_type {
        return Ok(());
    }
    Err(Failure::from(format!("quantizing a {file_type} GGUF to {want} is not supported by wollama yet")))
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

/// A create request, checked as far as Ollama's handler checks before it streams.
struct Job {
    model: String,
    from: Option<String>,
    files: Vec<SourceFile>,
    messages: Vec<Message>,
    template: Option<String>,
    system: Option<String>,
    parameters: Option<serde_json::Map<String, Value>>,
    license: Vec<String>,
    quantize: Option<String>,
}

/// Each status line goes out as the step happens: a client sees "parsing GGUF" (or a pull's
/// progress, for a `from` the store lacks) while the rest is still to do.
pub async fn create(State(s): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    let req = decode::decode(&body, "CreateRequest", CREATE)?;
    let model = get_str(&req, "model").or_else(|| get_str(&req, "name")).unwrap_or("").to_string();
    let files: Vec<SourceFile> = req
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
    // Ollama's order: the files' paths and digests, then the name.
    for f in &files {
        if !wollama_store::create::is_valid_rel_path(&f.name) {
            return Err(ApiError::bad_request("file path must be relative"));
        }
        if f.digest.is_empty() {
            return Err(ApiError::bad_request("invalid digest format"));
        }
    }
    if ModelName::parse(&model).is_err() {
        return Err(ApiError::bad_request("invalid model name"));
    }
    let messages: Vec<Message> = match req.get("messages") {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => vec![],
    };
    let job = Job {
        model,
        from: get_str(&req, "from").map(str::to_string),
        files,
        messages,
        template: get_str(&req, "template").map(str::to_string),
        system: get_str(&req, "system").map(str::to_string),
        parameters: req.get("parameters").and_then(Value::as_object).cloned(),
        license: license_of(req.get("license"))?,
        quantize: get_str(&req, "quantize").map(str::to_string),
    };
    let stream = get_bool(&req, "stream").unwrap_or(true);
    Ok(progress::respond(stream, move |p| run(s, job, p)).await)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Failure::from(e.to_string()))
}

async fn run(s: Arc<AppState>, job: Job, p: Progress) -> Result<(), Failure> {
    let Job { model, from, mut files, messages, template, system, parameters, license, quantize } = job;
    if from.is_none() && files.is_empty() {
        return Err(Failure::bad_request("neither 'from' or 'files' was specified"));
    }
    // A `from` model the store lacks is pulled first, as Ollama's parseFromModel does.
    if let Some(f) = from.as_deref().filter(|f| Digest::parse(f.trim_start_matches('@')).is_err()) {
        let name = ModelName::parse(f).map_err(|_| Failure::bad_request("invalid model name"))?;
        let name = s.store.canonical_name(&name);
        if s.store.find(&name).ok().flatten().is_none() {
            tracing::debug!(from = %name.display_shortest(), "create: pulling the base model");
            crate::registry::pull::run(s.clone(), name, false, p.clone()).await.map_err(Failure::from)?;
        }
    }
    // A safetensors directory becomes one GGUF blob first; the model is then made from it.
    let mut converted = None;
    let converted_from_safetensors = super::import::is_safetensors(&files);
    if converted_from_safetensors {
        p.status("converting model").await?;
        let target = quantize.clone().unwrap_or_else(|| "f16".to_string());
        let (st, sources) = (s.clone(), files.clone());
        let (digest, created) =
            blocking(move || super::import::convert(&st.store, &sources, &target)).await?.map_err(Failure::bad_request)?;
        files = vec![SourceFile::model("model.gguf", &digest.to_string())];
        if created {
            converted = Some(digest);
        }
    } else if !files.is_empty() {
        p.status("parsing GGUF").await?;
    }
    let undo_conversion = |s: &AppState| {
        // A blob this request converted is removed again unless something now uses it.
        if let Some(d) = &converted {
            let _ = s.store.remove_unreferenced([d.to_string()].iter().map(String::as_str));
        }
    };
    // The weights whose facts go into the config: an uploaded GGUF, or a blob named by `from`.
    let weights = files.first().map(|f| f.digest.clone()).or_else(|| from.clone().filter(|f| f.starts_with("sha256")));
    let (facts_of, file_type) = match weights {
        Some(d) => {
            let digest = Digest::parse(d.trim_start_matches('@')).map_err(|_| Failure::bad_request("invalid digest format"))?;
            let path = s.store.blob_path(&digest);
            if !path.exists() {
                undo_conversion(&s);
                return Err(Failure::bad_request(format!("blob \"{d}\" not found")));
            }
            let t = template.clone();
            match blocking(move || inspect(path, t)).await? {
                Ok(f) => {
                    let ft = f.file_type.clone();
                    (Some(f), ft)
                }
                Err(e) => {
                    undo_conversion(&s);
                    return Err(e);
                }
            }
        }
        // Built on a model: its template check needs its GGUF, its file type is in its config.
        None => {
            let parent = from.as_deref().and_then(|f| ModelName::parse(f).ok()).and_then(|n| s.store.find(&n).ok().flatten());
            let mut file_type = String::new();
            if let Some(parent) = parent {
                file_type = s.store.read_config(&parent.manifest).map(|c| c.file_type).unwrap_or_default();
                let model = parent.manifest.layers_of(MEDIA_TYPE_MODEL).next().and_then(|l| Digest::parse(&l.digest).ok());
                if let (Some(t), Some(d)) = (template.clone().filter(|t| !t.is_empty()), model) {
                    let path = s.store.blob_path(&d);
                    blocking(move || -> Result<(), Failure> {
                        let rt = wollama_runtime::Runtime::shared().map_err(|e| Failure::from(e.to_string()))?;
                        let mut sess = rt.open(&path, 1).map_err(|e| Failure::from(e.to_string()))?;
                        check_template(&mut sess, Some(&t))
                    })
                    .await??;
                }
            }
            (None, file_type)
        }
    };
    if let Some(q) = quantize.as_deref().filter(|q| !q.is_empty() && !converted_from_safetensors) {
        if let Err(e) = check_quantize(q, &file_type) {
            undo_conversion(&s);
            return Err(e);
        }
    }
    let create_req = CreateRequest { model, from, files, template, system, parameters, messages, license, ..Default::default() };
    let opts = CreateOptions { facts: facts_of, keep_old_layers: std::env::var_os("OLLAMA_NOPRUNE").is_some() };
    let (st, pb) = (s.clone(), p.clone());
    let result = blocking(move || create_model(&st.store, &create_req, &opts, &mut |m| pb.blocking_status(m))).await?;
    if let Err(e) = result {
        undo_conversion(&s);
        return Err(Failure::bad_request(e.to_string()));
    }
    Ok(())
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
