//! `POST /api/pull`: the manifest from the registry named by the model, then every layer
//! (config included) downloaded into partial files, then all of them verified, and only then
//! the blobs renamed into place and the manifest written. A pull that fails at any step
//! leaves the store's models and blobs as they were; what it downloaded stays in partial
//! files, so the next pull resumes.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use wollama_store::{Digest, Manifest, ModelName};

use super::download::{self, Fetched};
use super::progress::{self, Progress};
use super::remote::Remote;
use crate::decode::{self, field, get_bool, get_str, Kind};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Ollama reports each layer's progress about this often.
const TICK: Duration = Duration::from_millis(60);

pub(crate) const TRANSFER: &[decode::Field] = &[
    field("model", Kind::Str, "string"),
    field("name", Kind::Str, "string"),
    field("insecure", Kind::Bool, "bool"),
    field("stream", Kind::Bool, "bool"),
    field("username", Kind::Str, "string"),
    field("password", Kind::Str, "string"),
];

/// The model, `insecure` and `stream` of a pull or push request; `if_empty` is the error for
/// a request without a model.
pub(crate) fn transfer_request(body: &[u8], go_struct: &str, if_empty: &str) -> ApiResult<(ModelName, bool, bool)> {
    let req = decode::decode(body, go_struct, TRANSFER)?;
    let text = get_str(&req, "model").filter(|t| !t.is_empty()).or_else(|| get_str(&req, "name")).unwrap_or("");
    if text.is_empty() {
        return Err(ApiError::bad_request(if_empty));
    }
    let name = ModelName::parse(text).map_err(|_| ApiError::bad_request("invalid model name"))?;
    Ok((name, get_bool(&req, "insecure").unwrap_or(false), get_bool(&req, "stream").unwrap_or(true)))
}

pub async fn pull(State(s): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    let (name, insecure, stream) = transfer_request(&body, "PullRequest", "invalid model name")?;
    let name = s.store.canonical_name(&name);
    Ok(progress::respond(stream, move |p| run(s, name, insecure, p)).await)
}

/// The pull itself, also what a create runs for a `from` model the store lacks.
pub(crate) async fn run(s: Arc<AppState>, name: ModelName, insecure: bool, p: Progress) -> Result<(), String> {
    p.status("pulling manifest").await?;
    let remote = Remote::new(&name, insecure)?;
    let bytes = remote.manifest().await.map_err(|e| format!("pull model manifest: {e}"))?;
    let manifest = Manifest::from_slice(&bytes).map_err(|e| format!("pull model manifest: {e}"))?;
    let layers = layers_of(&manifest)?;
    let _held = lock_blobs(&s, &layers).await;

    let blobs = s.store.blobs();
    let mut downloaded = Vec::new();
    for (digest, size) in &layers {
        let shown = digest.to_string();
        let done = download::counter();
        let start = download::start(blobs, digest, *size)?;
        // The first line says what is on disk already, before any byte is fetched.
        p.layer("pulling", &shown, *size, start.completed(*size)).await?;
        let fetch = download::fetch(&remote, blobs, digest, *size, start, &done);
        tokio::pin!(fetch);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
        let fetched = loop {
            tokio::select! {
                r = &mut fetch => break r?,
                _ = tick.tick() => p.layer("pulling", &shown, *size, done.load(Ordering::Relaxed)).await?,
            }
        };
        p.layer("pulling", &shown, *size, *size).await?;
        if let Fetched::Downloaded(partial) = fetched {
            downloaded.push(partial);
        }
    }

    p.status("verifying sha256 digest").await?;
    // Every blob is checked, so each corrupt one is discarded now, not on the next pull.
    let mut verified = Vec::new();
    let mut failed = None;
    for partial in downloaded {
        let st = s.clone();
        match tokio::task::spawn_blocking(move || partial.verify(st.store.blobs())).await {
            Ok(Ok(v)) => verified.push(v),
            Ok(Err(e)) => failed = failed.or(Some(e.to_string())),
            Err(e) => failed = failed.or(Some(e.to_string())),
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }

    p.status("writing manifest").await?;
    let old = s.store.find(&name).ok().flatten();
    let mut published = Vec::new();
    let mut outcome = Ok(());
    for v in verified {
        let d = v.digest().to_string();
        match v.publish(blobs) {
            Ok(true) => published.push(d),
            Ok(false) => {}
            Err(e) => {
                outcome = Err(e.to_string());
                break;
            }
        }
    }
    if outcome.is_ok() {
        outcome = s.store.write_manifest_bytes(&name, &bytes).map(drop).map_err(|e| e.to_string());
    }
    if let Err(e) = outcome {
        // Undo: the blobs this pull added go again (unless a manifest took them meanwhile).
        let _ = s.store.remove_unreferenced(published.iter().map(String::as_str));
        return Err(e);
    }

    if let Some(old) = old {
        let now: HashSet<&str> = manifest.referenced_digests().collect();
        let unused: Vec<&str> = old.manifest.referenced_digests().filter(|d| !now.contains(d)).collect();
        if !unused.is_empty() && std::env::var_os("OLLAMA_NOPRUNE").is_none() {
            p.status("removing unused layers").await?;
            s.store.remove_unreferenced(unused).map_err(|e| e.to_string())?;
        }
    }
    p.status("success").await
}

/// The layers to fetch in manifest order (layers, then config, as Ollama reports them),
/// each digest once.
fn layers_of(m: &Manifest) -> Result<Vec<(Digest, u64)>, String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for l in m.layers.iter().chain([&m.config]) {
        let d = l.digest().map_err(|e| format!("pull model manifest: {e}"))?;
        if seen.insert(d.clone()) {
            out.push((d, l.size));
        }
    }
    Ok(out)
}

type BlobLock = Arc<tokio::sync::Mutex<()>>;

/// Two pulls needing the same blob of the same store take turns (the second then finds it
/// present) instead of writing one partial file twice. Locks are taken in digest order, so
/// pulls sharing several blobs cannot deadlock.
async fn lock_blobs(s: &AppState, layers: &[(Digest, u64)]) -> Vec<tokio::sync::OwnedMutexGuard<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, BlobLock>>> = OnceLock::new();
    let mut paths: Vec<PathBuf> = layers.iter().map(|(d, _)| s.store.blob_path(d)).collect();
    paths.sort();
    let locks: Vec<BlobLock> = {
        let mut map = LOCKS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, l| Arc::strong_count(l) > 1);
        paths.into_iter().map(|p| map.entry(p).or_default().clone()).collect()
    };
    let mut held = Vec::new();
    for l in locks {
        held.push(l.lock_owned().await);
    }
    held
}
