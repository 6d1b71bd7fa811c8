//! The registry side `wollama serve` offers from its own store, so one wollama pulls from
//! (and pushes to) another: `GET`/`HEAD` of manifests and blobs (with HTTP ranges) and the
//! blob upload and manifest `PUT` a push needs. Repository `namespace/model:tag` is the local
//! model of that name under the default registry host, so `wollama pull --insecure
//! peer:11434/library/smollm2:135m` gets what the peer lists as `smollm2:135m`; failing that,
//! the newest model of that namespace/model:tag pulled from any other registry.
//!
//! Uploads collect in `blobs/upload-<id>` (never a digest name, so invisible to the store and
//! pruned like any stale temp file) and become a blob only when they hash to the digest the
//! final `PUT` names.

// The error side of these helpers is the handler's whole answer, made at most once per
// request: boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use wollama_store::manifest::MEDIA_TYPE_MANIFEST;
use wollama_store::name::DEFAULT_HOST;
use wollama_store::{Digest, Error as StoreError, Manifest, ModelName};

use crate::state::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v2", get(api_version))
        .route("/v2/", get(api_version))
        .route("/v2/{ns}/{model}/manifests/{reference}", get(get_manifest).put(put_manifest))
        .route("/v2/{ns}/{model}/blobs/{digest}", get(get_blob))
        .route("/v2/{ns}/{model}/blobs/uploads/", post(start_upload))
        .route("/v2/{ns}/{model}/blobs/uploads/{id}", patch(append_upload).put(finish_upload))
        .layer(DefaultBodyLimit::disable())
}

/// A registry error in the Docker Registry's shape.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, Json(json!({ "errors": [{ "code": code, "message": message.into() }] }))).into_response()
}

type Answer = Result<Response, Response>;

async fn api_version() -> Json<serde_json::Value> {
    Json(json!({}))
}

/// The local model a repository path names.
fn local_name(ns: &str, model: &str, tag: &str) -> Result<ModelName, Response> {
    let name = ModelName {
        host: DEFAULT_HOST.into(),
        namespace: ns.into(),
        model: model.into(),
        tag: tag.into(),
        scheme: "https".into(),
        digest: None,
    };
    if name.is_valid() {
        Ok(name)
    } else {
        Err(error(StatusCode::BAD_REQUEST, "NAME_INVALID", "invalid repository name"))
    }
}

fn digest_param(d: &str) -> Result<Digest, Response> {
    Digest::parse(d).map_err(|_| error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "invalid digest format"))
}

fn internal(e: impl std::fmt::Display) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string())
}

fn with_digest(mut r: Response, digest: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(digest) {
        r.headers_mut().insert("docker-content-digest", v);
    }
    r
}

/// `reference` is a tag, or the manifest digest of one of the repository's tags.
async fn get_manifest(State(s): State<Arc<AppState>>, Path((ns, model, reference)): Path<(String, String, String)>) -> Answer {
    let entry = if let Ok(pin) = Digest::parse(&reference) {
        let repo = local_name(&ns, &model, "latest")?;
        s.store.list().map_err(internal)?.into_iter().find(|e| {
            e.digest == pin.hex()
                && e.name.host.eq_ignore_ascii_case(&repo.host)
                && e.name.namespace.eq_ignore_ascii_case(&repo.namespace)
                && e.name.model.eq_ignore_ascii_case(&repo.model)
        })
    } else {
        let name = local_name(&ns, &model, &reference)?;
        match s.store.find(&name).map_err(internal)? {
            Some(e) => Some(e),
            // A model this server pulled from elsewhere is stored under that registry's
            // host; it is shared on too (the newest such copy), so models pass along a LAN.
            None => s.store.list().map_err(internal)?.into_iter().find(|e| {
                e.name.namespace.eq_ignore_ascii_case(&name.namespace)
                    && e.name.model.eq_ignore_ascii_case(&name.model)
                    && e.name.tag.eq_ignore_ascii_case(&name.tag)
            }),
        }
    };
    let Some(entry) = entry else {
        return Err(error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown"));
    };
    let bytes = std::fs::read(&entry.path).map_err(internal)?;
    let media = if entry.manifest.media_type.is_empty() { MEDIA_TYPE_MANIFEST.to_string() } else { entry.manifest.media_type };
    let r = ([(header::CONTENT_TYPE, media)], bytes).into_response();
    Ok(with_digest(r, &format!("sha256:{}", entry.digest)))
}

/// The blob's bytes (whole, or the `Range` asked for: parts of a parallel pull).
async fn get_blob(State(s): State<Arc<AppState>>, Path((_ns, _model, digest)): Path<(String, String, String)>, req: Request) -> Answer {
    let digest = digest_param(&digest)?;
    if !s.store.has_blob(&digest) {
        return Err(error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "blob unknown to registry"));
    }
    let served = tower_http::services::ServeFile::new(s.store.blob_path(&digest)).try_call(req).await.map_err(internal)?;
    Ok(with_digest(served.map(Body::new), &digest.to_string()))
}

/// Where an upload's bytes collect; ids are ours and hex, so never a path.
fn upload_path(s: &AppState, id: &str) -> Result<PathBuf, Response> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry"));
    }
    Ok(s.store.blobs().dir().join(format!("upload-{id}")))
}

fn new_upload_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{:x}{:08x}{:04x}", nanos, std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

fn upload_answer(status: StatusCode, ns: &str, model: &str, id: &str, len: u64) -> Response {
    let location = format!("/v2/{ns}/{model}/blobs/uploads/{id}");
    let range = format!("0-{}", len.saturating_sub(1));
    (status, [(header::LOCATION, location), ("docker-upload-uuid".parse().unwrap(), id.to_string()), (header::RANGE, range)])
        .into_response()
}

/// `POST …/blobs/uploads/[?mount=<digest>]`: 201 when the blob is here already, else a new
/// upload (202 with its `Location`).
async fn start_upload(
    State(s): State<Arc<AppState>>,
    Path((ns, model)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    local_name(&ns, &model, "latest")?;
    if let Some(d) = q.get("mount").and_then(|d| Digest::parse(d).ok()) {
        if s.store.has_blob(&d) {
            let r = (StatusCode::CREATED, [(header::LOCATION, format!("/v2/{ns}/{model}/blobs/{d}"))]).into_response();
            return Ok(with_digest(r, &d.to_string()));
        }
    }
    let id = new_upload_id();
    let path = upload_path(&s, &id)?;
    tokio::fs::File::create(&path).await.map_err(internal)?;
    Ok(upload_answer(StatusCode::ACCEPTED, &ns, &model, &id, 0))
}

/// Appends a streamed body to an upload; returns the upload's new length.
async fn append(path: &std::path::Path, body: Body) -> io::Result<u64> {
    let mut f = tokio::fs::OpenOptions::new().append(true).open(path).await?;
    let mut data = body.into_data_stream();
    while let Some(chunk) = data.next().await {
        f.write_all(&chunk.map_err(io::Error::other)?).await?;
    }
    f.flush().await?;
    Ok(f.metadata().await?.len())
}

async fn current_len(path: &std::path::Path) -> Result<u64, Response> {
    match tokio::fs::metadata(path).await {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry"))
        }
        Err(e) => Err(internal(e)),
    }
}

/// `PATCH`: the next chunk. A `Content-Range` must start where the upload ends.
async fn append_upload(
    State(s): State<Arc<AppState>>,
    Path((ns, model, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let path = upload_path(&s, &id)?;
    let len = current_len(&path).await?;
    if let Some(range) = headers.get(header::CONTENT_RANGE).and_then(|v| v.to_str().ok()) {
        let start = range.trim_start_matches("bytes ").split('-').next().and_then(|a| a.trim().parse::<u64>().ok());
        if start != Some(len) {
            return Err(error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UPLOAD_INVALID",
                format!("chunk starts at {range:?} but the upload has {len} bytes"),
            ));
        }
    }
    let len = append(&path, body).await.map_err(internal)?;
    Ok(upload_answer(StatusCode::ACCEPTED, &ns, &model, &id, len))
}

/// `PUT …?digest=`: the last bytes (if any), then the upload becomes a blob only if it
/// hashes to `digest`; either way the upload is gone afterwards.
async fn finish_upload(
    State(s): State<Arc<AppState>>,
    Path((ns, model, id)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Body,
) -> Answer {
    let path = upload_path(&s, &id)?;
    current_len(&path).await?;
    let result = async {
        let digest = digest_param(q.get("digest").map(String::as_str).unwrap_or(""))?;
        append(&path, body).await.map_err(internal)?;
        let (st, p, d) = (s.clone(), path.clone(), digest.clone());
        let written = tokio::task::spawn_blocking(move || st.store.import_file(&p, Some(&d))).await.map_err(internal)?;
        match written {
            Ok(_) => {
                let r = (StatusCode::CREATED, [(header::LOCATION, format!("/v2/{ns}/{model}/blobs/{digest}"))]).into_response();
                Ok(with_digest(r, &digest.to_string()))
            }
            Err(e @ StoreError::DigestMismatch { .. }) => Err(error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e.to_string())),
            Err(e) => Err(internal(e)),
        }
    }
    .await;
    let _ = tokio::fs::remove_file(&path).await;
    result
}

/// `PUT …/manifests/<tag>`: stored byte for byte once every blob it names is here.
async fn put_manifest(
    State(s): State<Arc<AppState>>,
    Path((ns, model, tag)): Path<(String, String, String)>,
    body: Bytes,
) -> Answer {
    let name = s.store.canonical_name(&local_name(&ns, &model, &tag)?);
    if let Err(e) = Manifest::from_slice(&body) {
        return Err(error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", e.to_string()));
    }
    let st = s.clone();
    let written = tokio::task::spawn_blocking(move || st.store.write_manifest_bytes(&name, &body)).await.map_err(internal)?;
    match written {
        Ok(digest) => {
            let r = (StatusCode::CREATED, [(header::LOCATION, format!("/v2/{ns}/{model}/manifests/{tag}"))]).into_response();
            Ok(with_digest(r, &format!("sha256:{digest}")))
        }
        Err(e @ (StoreError::BlobNotFound(_) | StoreError::InvalidDigest)) => {
            Err(error(StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN", e.to_string()))
        }
        Err(e) => Err(internal(e)),
    }
}
