//! The client half of the registry protocol (the Docker Registry v2 subset Ollama speaks):
//! one [`Remote`] per model repository, with the requests pull and push make. The registry
//! host comes from the model name (`host[:port]/namespace/model:tag`).

use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::StatusCode;
use wollama_store::manifest::MEDIA_TYPE_MANIFEST;
use wollama_store::{Digest, ModelName};

/// A stalled transfer (no byte for this long) is an error, and the part is retried.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Remote {
    http: reqwest::Client,
    /// `scheme://host[:port]`
    base: String,
    /// `namespace/model`
    repo: String,
    tag: String,
}

/// How a blob upload starts.
pub enum UploadStart {
    /// The registry already had the blob (a cross-repository mount).
    Mounted,
    /// Send the bytes to this URL.
    At(String),
}

impl Remote {
    /// The registry of `name`. `insecure` talks plain HTTP, as Ollama's flag does; a name
    /// spelled `http://…` without it is refused (Ollama's `insecure protocol http`).
    pub fn new(name: &ModelName, insecure: bool) -> Result<Remote, String> {
        let scheme = if insecure { "http" } else { name.scheme.as_str() };
        match scheme {
            "http" if !insecure => return Err("insecure protocol http".into()),
            "http" => {}
            "https" => {
                return Err(format!(
                    "{} is an https registry; this wollama build speaks plain http only: pull from a wollama \
                     or another registry with insecure (--insecure)",
                    name.host
                ))
            }
            other => return Err(format!("unsupported registry protocol {other:?}")),
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(format!("wollama/{} ({} {})", env!("CARGO_PKG_VERSION"), std::env::consts::ARCH, std::env::consts::OS))
            .read_timeout(READ_TIMEOUT)
            .connect_timeout(Duration::from_secs(10));
        // HTTP(S)_PROXY apply as in Go (and so Ollama), which never proxies loopback.
        if is_loopback(&name.host) {
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| e.to_string())?;
        Ok(Remote {
            http,
            base: format!("http://{}", name.host),
            repo: name.display_namespace_model(),
            tag: name.tag.clone(),
        })
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.repo)
    }

    pub fn blob_url(&self, digest: &Digest) -> String {
        self.url(&format!("blobs/{digest}"))
    }

    /// An absolute URL for a `Location` the registry returned (often a path).
    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}/{}", self.base, location.trim_start_matches('/'))
        }
    }

    /// The manifest bytes, exactly as served (the model's digest is their sha256).
    pub async fn manifest(&self) -> Result<Vec<u8>, String> {
        let resp = self
            .http
            .get(self.url(&format!("manifests/{}", self.tag)))
            .header(ACCEPT, MEDIA_TYPE_MANIFEST)
            .send()
            .await
            .map_err(describe)?;
        match resp.status() {
            StatusCode::OK => Ok(resp.bytes().await.map_err(describe)?.to_vec()),
            StatusCode::NOT_FOUND => Err("file does not exist".into()),
            _ => Err(failure(resp).await),
        }
    }

    /// `GET` of bytes `[first, last]` of a blob.
    pub async fn blob_range(&self, digest: &Digest, first: u64, last: u64) -> Result<reqwest::Response, String> {
        self.http.get(self.blob_url(digest)).header(RANGE, format!("bytes={first}-{last}")).send().await.map_err(describe)
    }

    /// Whether the registry holds the blob already (push skips it).
    pub async fn has_blob(&self, digest: &Digest) -> Result<bool, String> {
        let resp = self.http.head(self.blob_url(digest)).send().await.map_err(describe)?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(failure(resp).await),
        }
    }

    pub async fn start_upload(&self, digest: &Digest) -> Result<UploadStart, String> {
        let resp = self
            .http
            .post(self.url(&format!("blobs/uploads/?mount={digest}")))
            .header(CONTENT_LENGTH, 0)
            .send()
            .await
            .map_err(describe)?;
        match resp.status() {
            StatusCode::CREATED => Ok(UploadStart::Mounted),
            StatusCode::ACCEPTED => Ok(UploadStart::At(self.absolute(&location(resp.headers())?))),
            _ => Err(failure(resp).await),
        }
    }

    /// Sends bytes starting at `offset` of an upload; returns where the next chunk goes.
    pub async fn upload_chunk(&self, at: &str, offset: u64, bytes: Vec<u8>) -> Result<String, String> {
        let end = offset + bytes.len() as u64;
        let resp = self
            .http
            .patch(at)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_RANGE, format!("{offset}-{}", end.saturating_sub(1)))
            .body(bytes)
            .send()
            .await
            .map_err(describe)?;
        match resp.status() {
            StatusCode::ACCEPTED | StatusCode::NO_CONTENT | StatusCode::CREATED => {
                Ok(location(resp.headers()).map(|l| self.absolute(&l)).unwrap_or_else(|_| at.to_string()))
            }
            _ => Err(failure(resp).await),
        }
    }

    /// Completes an upload; the registry verifies the digest.
    pub async fn finish_upload(&self, at: &str, digest: &Digest) -> Result<(), String> {
        let sep = if at.contains('?') { '&' } else { '?' };
        let resp = self
            .http
            .put(format!("{at}{sep}digest={digest}"))
            .header(CONTENT_LENGTH, 0)
            .send()
            .await
            .map_err(describe)?;
        match resp.status() {
            StatusCode::CREATED | StatusCode::OK | StatusCode::NO_CONTENT => Ok(()),
            _ => Err(failure(resp).await),
        }
    }

    pub async fn put_manifest(&self, bytes: Vec<u8>) -> Result<(), String> {
        let resp = self
            .http
            .put(self.url(&format!("manifests/{}", self.tag)))
            .header(CONTENT_TYPE, MEDIA_TYPE_MANIFEST)
            .body(bytes)
            .send()
            .await
            .map_err(describe)?;
        match resp.status() {
            StatusCode::CREATED | StatusCode::OK | StatusCode::ACCEPTED => Ok(()),
            _ => Err(failure(resp).await),
        }
    }
}

/// `localhost`, `127.x.x.x` or `[::1]`, with or without a port.
fn is_loopback(host: &str) -> bool {
    let bare = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn location(h: &HeaderMap) -> Result<String, String> {
    h.get(LOCATION)
        .or_else(|| h.get("docker-upload-location"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| "the registry answered without a Location".to_string())
}

/// A transport error with its cause (reqwest's own text hides it).
pub fn describe(e: reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

/// A non-success answer: the registry's own error message (`{"errors":[{"message"}]}` or
/// Ollama's `{"error"}`) when it gave one, else the status.
pub async fn failure(resp: reqwest::Response) -> String {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let message = v["errors"][0]["message"].as_str().or_else(|| v["error"].as_str()).map(str::to_string);
    match message {
        Some(m) => format!("{m} ({status})"),
        None => format!("the registry answered {status}"),
    }
}
