//! The client half of the registry protocol (the Docker Registry v2 subset Ollama speaks):
//! one [`Remote`] per model repository, with the requests pull and push make. The registry
//! host comes from the model name (`host[:port]/namespace/model:tag`); requests a registry
//! refuses with a bearer challenge are retried with a token ([`auth`]).

use std::time::Duration;

use axum::body::Bytes;
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use wollama_store::manifest::MEDIA_TYPE_MANIFEST;
use wollama_store::{Digest, ModelName};

use super::auth;

/// A stalled transfer (no byte for this long) is an error, and the part is retried.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Remote {
    http: reqwest::Client,
    /// `scheme://host[:port]`
    base: String,
    /// `namespace/model`
    repo: String,
    tag: String,
    /// The bearer token the last challenge gave, sent with every request after it.
    token: std::sync::Mutex<Option<String>>,
}

/// How a blob upload starts.
pub enum UploadStart {
    /// The registry already had the blob (a cross-repository mount).
    Mounted,
    /// Send the bytes to this URL.
    At(String),
}

/// A refused request that a token did not help (Ollama's `errUnauthorized`).
pub const UNAUTHORIZED: &str = "unauthorized: access denied";

impl Remote {
    /// The registry of `name`: https as the name says (Ollama's default), or plain http with
    /// `insecure`, as Ollama's flag does; a name spelled `http://…` without it is refused
    /// (Ollama's `insecure protocol http`). Certificates are checked against the system's
    /// roots, or those of `SSL_CERT_FILE`/`SSL_CERT_DIR` when set (as Go reads them).
    pub fn new(name: &ModelName, insecure: bool) -> Result<Remote, String> {
        let scheme = if insecure { "http" } else { name.scheme.as_str() };
        match scheme {
            "http" if !insecure => return Err("insecure protocol http".into()),
            "http" | "https" => {}
            other => return Err(format!("unsupported registry protocol {other:?}")),
        }
        crate::install_tls_provider();
        let mut builder = reqwest::Client::builder()
            .user_agent(format!("wollama/{} ({} {})", env!("CARGO_PKG_VERSION"), std::env::consts::ARCH, std::env::consts::OS))
            .read_timeout(READ_TIMEOUT)
            .connect_timeout(Duration::from_secs(10));
        if insecure {
            // Plain http needs no roots; this way a machine without any still pulls from a LAN peer.
            builder = builder.tls_certs_only(Vec::new());
        }
        // HTTP(S)_PROXY apply as in Go (and so Ollama), which never proxies loopback.
        if is_loopback(&name.host) {
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(describe)?;
        Ok(Remote {
            http,
            base: format!("{scheme}://{}", name.host),
            repo: name.display_namespace_model(),
            tag: name.tag.clone(),
            token: std::sync::Mutex::new(None),
        })
    }

    /// Sends the request `build` makes, with the current token. A `401` with a bearer
    /// challenge gets a token from the challenge's realm and the request is sent once more;
    /// a second `401` is [`UNAUTHORIZED`].
    async fn send(&self, build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder) -> Result<reqwest::Response, String> {
        for attempt in 0..2 {
            let mut req = build(&self.http);
            let token = self.token.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let req = req.build().map_err(describe)?;
            let url = req.url().clone();
            tracing::debug!(method = %req.method(), %url, "registry request");
            let resp = self.http.execute(req).await.map_err(describe)?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            if attempt == 1 {
                break;
            }
            let header = resp.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let token = auth::token(&self.http, &auth::parse_challenge(&header), &url).await?;
            *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token);
        }
        Err(UNAUTHORIZED.into())
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
        let url = self.url(&format!("manifests/{}", self.tag));
        let resp = self.send(|c| c.get(&url).header(ACCEPT, MEDIA_TYPE_MANIFEST)).await?;
        match resp.status() {
            StatusCode::OK => Ok(resp.bytes().await.map_err(describe)?.to_vec()),
            StatusCode::NOT_FOUND => Err("file does not exist".into()),
            _ => Err(failure(resp).await),
        }
    }

    /// `GET` of bytes `[first, last]` of a blob.
    pub async fn blob_range(&self, digest: &Digest, first: u64, last: u64) -> Result<reqwest::Response, String> {
        let url = self.blob_url(digest);
        self.send(|c| c.get(&url).header(RANGE, format!("bytes={first}-{last}"))).await
    }

    /// Whether the registry holds the blob already (push skips it).
    pub async fn has_blob(&self, digest: &Digest) -> Result<bool, String> {
        let url = self.blob_url(digest);
        let resp = self.send(|c| c.head(&url)).await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(failure(resp).await),
        }
    }

    pub async fn start_upload(&self, digest: &Digest) -> Result<UploadStart, String> {
        let url = self.url(&format!("blobs/uploads/?mount={digest}"));
        let resp = self.send(|c| c.post(&url).header(CONTENT_LENGTH, 0)).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(UploadStart::Mounted),
            StatusCode::ACCEPTED => Ok(UploadStart::At(self.absolute(&location(resp.headers())?))),
            _ => Err(failure(resp).await),
        }
    }

    /// Sends bytes starting at `offset` of an upload; returns where the next chunk goes.
    pub async fn upload_chunk(&self, at: &str, offset: u64, bytes: Bytes) -> Result<String, String> {
        let end = offset + bytes.len() as u64;
        let resp = self
            .send(|c| {
                c.patch(at)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_RANGE, format!("{offset}-{}", end.saturating_sub(1)))
                    .body(bytes.clone())
            })
            .await?;
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
        let url = format!("{at}{sep}digest={digest}");
        let resp = self.send(|c| c.put(&url).header(CONTENT_LENGTH, 0)).await?;
        match resp.status() {
            StatusCode::CREATED | StatusCode::OK | StatusCode::NO_CONTENT => Ok(()),
            _ => Err(failure(resp).await),
        }
    }

    pub async fn put_manifest(&self, bytes: Vec<u8>) -> Result<(), String> {
        let url = self.url(&format!("manifests/{}", self.tag));
        let bytes = Bytes::from(bytes);
        let resp = self.send(|c| c.put(&url).header(CONTENT_TYPE, MEDIA_TYPE_MANIFEST).body(bytes.clone())).await?;
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
