//! `POST /api/push`: each layer the registry lacks is uploaded (`HEAD` to skip what it has, a
//! mount attempt, chunked `PATCH`es, `PUT ?digest=` so the registry verifies), then the
//! manifest bytes exactly as stored, so the pushed model keeps its digest.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use tokio::io::AsyncReadExt;
use wollama_store::{Digest, ModelName};

use super::progress::{self, Progress};
use super::pull::transfer_request;
use super::remote::{Remote, UploadStart};
use crate::error::ApiResult;
use crate::state::AppState;

/// Bytes per `PATCH`: big enough that requests are few, small enough to hold in memory.
const CHUNK: usize = 16 << 20;

pub async fn push(State(s): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    // Ollama's push, unlike its pull, names a missing model as such.
    let (name, insecure, stream) = transfer_request(&body, "PushRequest", "model is required")?;
    Ok(progress::respond(stream, move |p| run(s, name, insecure, p)).await)
}

async fn run(s: Arc<AppState>, name: ModelName, insecure: bool, p: Progress) -> Result<(), String> {
    p.status("retrieving manifest").await?;
    let entry = s.store.get(&name).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&entry.path).map_err(|e| format!("read manifest: {e}"))?;
    let remote = Remote::new(&name, insecure)?;
    let mut seen = std::collections::HashSet::new();
    for layer in entry.manifest.layers.iter().chain([&entry.manifest.config]) {
        let digest = layer.digest().map_err(|e| e.to_string())?;
        if !seen.insert(digest.clone()) {
            continue;
        }
        let shown = digest.to_string();
        if remote.has_blob(&digest).await? {
            p.layer("pushing", &shown, layer.size, layer.size).await?;
            continue;
        }
        match remote.start_upload(&digest).await? {
            UploadStart::Mounted => p.layer("pushing", &shown, layer.size, layer.size).await?,
            UploadStart::At(at) => upload(&s, &remote, &digest, layer.size, at, &p).await?,
        }
    }
    p.status("pushing manifest").await?;
    remote.put_manifest(bytes).await?;
    p.status("success").await
}

async fn upload(s: &AppState, remote: &Remote, digest: &Digest, size: u64, mut at: String, p: &Progress) -> Result<(), String> {
    let path = s.store.blob_path(digest);
    let mut file = tokio::fs::File::open(&path).await.map_err(|e| format!("open {}: {e}", path.display()))?;
    let shown = digest.to_string();
    let mut offset = 0u64;
    p.layer("pushing", &shown, size, 0).await?;
    loop {
        let chunk = read_up_to(&mut file, CHUNK).await.map_err(|e| format!("read {}: {e}", path.display()))?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len() as u64;
        at = remote.upload_chunk(&at, offset, chunk.into()).await?;
        offset += n;
        p.layer("pushing", &shown, size, offset).await?;
    }
    remote.finish_upload(&at, digest).await
}

/// Up to `n` bytes; fewer only at the end of the file.
async fn read_up_to(file: &mut tokio::fs::File, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    (&mut *file).take(n as u64).read_to_end(&mut buf).await?;
    Ok(buf)
}
