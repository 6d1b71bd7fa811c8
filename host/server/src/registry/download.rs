//! One blob of a pull: parallel `Range` requests into the store's partial file, each part
//! retried from the byte it stopped at, and resumed across pulls from the saved part states.
//! Nothing here makes the blob visible; the pull verifies and publishes it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::CONTENT_RANGE;
use reqwest::StatusCode;
use wollama_store::partial::{PartWriter, PartialBlob};
use wollama_store::{Blobs, Digest};

use super::remote::{describe, failure, Remote};

/// Parts download in parallel, like Ollama's 16.
const PARALLEL_PARTS: usize = 16;
/// Blobs are cut into up to 16 parts of at least this size (Ollama's floor is 100 MB, which
/// would give small models a single stream).
const MIN_PART: u64 = 8 << 20;
const MAX_PART: u64 = 1000 << 20;
/// Attempts in a row that bring no byte before a part gives up. An attempt that made
/// progress does not count, so a peer that keeps cutting connections still finishes.
const RETRIES: u32 = 6;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// A blob the pull needs.
pub enum Fetched {
    /// In the store already.
    Present,
    /// All bytes are in the partial file, not yet verified.
    Downloaded(PartialBlob),
}

pub fn part_size(size: u64) -> u64 {
    (size / 16).clamp(MIN_PART, MAX_PART)
}

/// What a pull starts from for one blob: the whole blob in the store, or its partial file
/// (new, or resumed from an earlier pull).
pub enum Start {
    Present,
    Partial(PartialBlob),
}

impl Start {
    /// Bytes already on disk: where the progress of this blob starts.
    pub fn completed(&self, size: u64) -> u64 {
        match self {
            Start::Present => size,
            Start::Partial(p) => p.completed(),
        }
    }
}

/// Looks at what the store holds of `digest` before anything is fetched.
pub fn start(blobs: &Blobs, digest: &Digest, size: u64) -> Result<Start, String> {
    if blobs.has(digest) {
        return Ok(Start::Present);
    }
    PartialBlob::open(blobs, digest, size, part_size(size))
        .map(Start::Partial)
        .map_err(|e| e.to_string())
}

/// Downloads what is missing of `digest` from where `start` found it; `done` counts the
/// bytes on disk (resumed ones included), for progress.
pub async fn fetch(
    remote: &Remote,
    blobs: &Blobs,
    digest: &Digest,
    size: u64,
    start: Start,
    done: &AtomicU64,
) -> Result<Fetched, String> {
    done.store(start.completed(size), Ordering::Relaxed);
    let partial = match start {
        Start::Present => return Ok(Fetched::Present),
        Start::Partial(p) => p,
    };
    let results: Vec<Result<(), String>> = futures::stream::iter(partial.pending(blobs))
        .map(|writer| fetch_part(remote, digest, size, writer, done))
        .buffer_unordered(PARALLEL_PARTS)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, String>>()?;
    Ok(Fetched::Downloaded(partial))
}

enum PartError {
    /// Worth another attempt (network, 5xx, a cut connection).
    Retry(String),
    /// Another attempt would fail the same way (4xx, a wrong range, a disk error).
    Fatal(String),
}

async fn fetch_part(remote: &Remote, digest: &Digest, size: u64, mut w: PartWriter, done: &AtomicU64) -> Result<(), String> {
    let mut failures = 0;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let before = w.part().completed;
        let result = fetch_once(remote, digest, size, &mut w, done).await;
        // Whatever arrived is kept: the next attempt (or pull) starts after it.
        let _ = w.save();
        match result {
            Ok(()) => return Ok(()),
            Err(PartError::Fatal(m)) => return Err(m),
            Err(PartError::Retry(m)) => {
                if w.part().completed > before {
                    failures = 0;
                    backoff = FIRST_BACKOFF;
                }
                failures += 1;
                if failures > RETRIES {
                    return Err(format!("download {digest}: {m}"));
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
    }
}

async fn fetch_once(remote: &Remote, digest: &Digest, size: u64, w: &mut PartWriter, done: &AtomicU64) -> Result<(), PartError> {
    let (first, last) = (w.part().next_byte(), w.part().last_byte());
    let mut resp = remote.blob_range(digest, first, last).await.map_err(PartError::Retry)?;
    match resp.status() {
        StatusCode::PARTIAL_CONTENT => {
            let range = resp.headers().get(CONTENT_RANGE).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !range.starts_with(&format!("bytes {first}-")) {
                return Err(PartError::Fatal(format!("download {digest}: asked for bytes {first}-{last}, got {range:?}")));
            }
        }
        // A registry that ignores Range is only usable for a part that is the whole blob.
        StatusCode::OK if first == 0 && last + 1 == size => {}
        StatusCode::OK => {
            return Err(PartError::Fatal(format!("download {digest}: the registry ignores HTTP ranges")));
        }
        s if s.is_server_error() => return Err(PartError::Retry(failure(resp).await)),
        _ => return Err(PartError::Fatal(format!("download {digest}: {}", failure(resp).await))),
    }
    loop {
        match resp.chunk().await {
            Ok(Some(bytes)) => {
                // A positional write into the page cache: brief enough for an async task.
                w.write(&bytes).map_err(|e| PartError::Fatal(format!("download {digest}: {e}")))?;
                done.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            Ok(None) => break,
            Err(e) => return Err(PartError::Retry(describe(e))),
        }
    }
    if w.part().is_complete() {
        Ok(())
    } else {
        let p = w.part();
        Err(PartError::Retry(format!("the registry sent {} of {} bytes of part {}", p.completed, p.size, p.index)))
    }
}

/// A shared counter for progress reports.
pub fn counter() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(0))
}
