//! Pulls over HTTPS from a registry that demands a bearer token, as registry.ollama.ai does:
//! a loopback registry with a certificate of a test CA (trusted by the pulling server through
//! `SSL_CERT_FILE`), in front of a wollama peer's plain-http `/v2`. It answers `401` with a
//! `WWW-Authenticate: Bearer` challenge until a request carries the token its token endpoint
//! handed out, and hands one out only for a request signed with the key in the pulling
//! server's `~/.ollama/id_ed25519`. Also: the failures (untrusted certificate, refused or
//! wrong token, a realm on another host) leave the store as it was, and `/api/create` from a
//! model it has to pull streams each status line as it happens. Each test is its own process
//! under nextest, so `HOME` and `SSL_CERT_FILE` reach no other test.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{serve, Server};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;

const SERVICE: &str = "test-registry";
const GOOD_TOKEN: &str = "token-for-the-pulling-key";

/// What the token endpoint does with a correctly signed request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tokens {
    /// Hands out the token the registry accepts.
    Good,
    /// Hands out a token the registry does not accept.
    Wrong,
    /// Refuses: 403.
    Refuse,
    /// The challenge names a realm on another host.
    ForeignRealm,
}

struct Registry {
    port: u16,
    upstream: SocketAddr,
    tokens: Mutex<Tokens>,
    /// Correctly signed token requests, and the public keys that signed them.
    signed: AtomicU64,
    signers: Mutex<Vec<String>>,
    /// Requests refused with a challenge.
    challenged: AtomicU64,
    /// Blob reads wait while this is false.
    gate: watch::Receiver<bool>,
    http: reqwest::Client,
}

/// A CA and a certificate for 127.0.0.1 it signed: (CA PEM, server TLS config).
fn test_pki() -> (String, Arc<rustls::ServerConfig>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "wollama test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
    wollama_server::install_tls_provider();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone(), ca.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    (ca.pem(), Arc::new(config))
}

/// axum over TLS: each connection's handshake is done before it is handed to the server; a
/// failed one (a client that does not trust the certificate) is dropped.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else { continue };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

impl Registry {
    async fn start(upstream: SocketAddr, tokens: Tokens, tls: Arc<rustls::ServerConfig>, gate: watch::Receiver<bool>) -> Arc<Registry> {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let reg = Arc::new(Registry {
            port,
            upstream,
            tokens: Mutex::new(tokens),
            signed: AtomicU64::new(0),
            signers: Mutex::new(Vec::new()),
            challenged: AtomicU64::new(0),
            gate,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        });
        let app = axum::Router::new()
            .route("/token", axum::routing::get(token))
            .fallback(registry)
            .with_state(reg.clone());
        let listener = TlsListener { tcp, acceptor: tokio_rustls::TlsAcceptor::from(tls) };
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        reg
    }

    fn tokens(&self) -> Tokens {
        *self.tokens.lock().unwrap()
    }

    fn name(&self) -> String {
        format!("127.0.0.1:{}/library/smollm2:135m", self.port)
    }
}

/// The key blob and the signature of Ollama's `<base64 key>:<base64 signature>` header, if
/// the signature is an ed25519 signature of `data` by that key.
fn verify(header: &str, data: &str) -> Option<String> {
    let (blob_b64, sig_b64) = header.split_once(':')?;
    let blob = STANDARD.decode(blob_b64).ok()?;
    // SSH wire format: string "ssh-ed25519", string <32-byte key>.
    let (kind_len, rest) = blob.split_at_checked(4)?;
    let kind_len = u32::from_be_bytes(kind_len.try_into().ok()?) as usize;
    let (kind, rest) = rest.split_at_checked(kind_len)?;
    if kind != b"ssh-ed25519" || rest.len() != 36 || rest[..4] != [0, 0, 0, 32] {
        return None;
    }
    let key = ed25519_dalek::VerifyingKey::from_bytes(rest[4..].try_into().ok()?).ok()?;
    let sig = ed25519_dalek::Signature::from_slice(&STANDARD.decode(sig_b64).ok()?).ok()?;
    key.verify_strict(data.as_bytes(), &sig).ok()?;
    Some(blob_b64.to_string())
}

async fn token(State(reg): State<Arc<Registry>>, req: Request) -> Response {
    let url = format!("https://127.0.0.1:{}{}", reg.port, req.uri());
    let empty_body: String = Sha256::digest(b"").iter().map(|b| format!("{b:02x}")).collect();
    let data = format!("GET,{url},{}", STANDARD.encode(empty_body));
    let auth = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(signer) = verify(auth, &data) else {
        return (StatusCode::UNAUTHORIZED, Json(json!({"errors": [{"message": "bad signature"}]}))).into_response();
    };
    let q: Vec<(String, String)> = reqwest::Url::parse(&url).unwrap().query_pairs().into_owned().collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let fresh = get("ts").parse::<i64>().is_ok_and(|ts| (now - ts).abs() < 300);
    if get("service") != SERVICE || get("scope") != "repository:library/smollm2:pull" || !fresh || get("nonce").len() < 16 {
        return (StatusCode::BAD_REQUEST, Json(json!({"errors": [{"message": format!("bad token request {q:?}")}]}))).into_response();
    }
    reg.signed.fetch_add(1, Ordering::SeqCst);
    reg.signers.lock().unwrap().push(signer);
    match reg.tokens() {
        Tokens::Good => Json(json!({"token": GOOD_TOKEN})).into_response(),
        Tokens::Wrong => Json(json!({"token": "a-token-this-registry-never-issued"})).into_response(),
        Tokens::Refuse | Tokens::ForeignRealm => {
            (StatusCode::FORBIDDEN, Json(json!({"errors": [{"message": "pull access denied"}]}))).into_response()
        }
    }
}

/// `/v2/…`: a challenge without the good token, else the upstream's answer.
async fn registry(State(reg): State<Arc<Registry>>, req: Request) -> Response {
    let bearer = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if bearer != format!("Bearer {GOOD_TOKEN}") {
        reg.challenged.fetch_add(1, Ordering::SeqCst);
        let realm_host = if reg.tokens() == Tokens::ForeignRealm { "localhost" } else { "127.0.0.1" };
        let challenge = format!(
            "Bearer realm=\"https://{realm_host}:{}/token\",service=\"{SERVICE}\",scope=\"repository:library/smollm2:pull\"",
            reg.port
        );
        let body = json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}).to_string();
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge)], body).into_response();
    }
    let path = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    if path.contains("/blobs/sha256") {
        let mut gate = reg.gate.clone();
        gate.wait_for(|open| *open).await.unwrap();
    }
    let mut up = reg.http.request(req.method().clone(), format!("http://{}{path}", reg.upstream));
    for h in [header::RANGE, header::ACCEPT] {
        if let Some(v) = req.headers().get(&h) {
            up = up.header(h, v);
        }
    }
    let resp = up.send().await.unwrap();
    let mut headers = HeaderMap::new();
    for h in [header::CONTENT_TYPE, header::CONTENT_RANGE, header::CONTENT_LENGTH] {
        if let Some(v) = resp.headers().get(&h) {
            headers.insert(h, v.clone());
        }
    }
    let status = resp.status();
    let body = futures::stream::unfold(resp, |mut r| async move { r.chunk().await.transpose().map(|c| (c, r)) });
    (status, headers, Body::from_stream(body)).into_response()
}

/// The pulling server's environment: `HOME` (for its key) and `SSL_CERT_FILE`.
fn environment(ca_pem: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let ca = home.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    // The test models and compiled components stay where they are.
    if std::env::var_os("WOLLAMA_CACHE").is_none() {
        std::env::set_var("WOLLAMA_CACHE", std::path::Path::new(&std::env::var_os("HOME").unwrap()).join(".cache/wollama"));
    }
    std::env::set_var("HOME", home.path());
    std::env::set_var("SSL_CERT_FILE", &ca);
    home
}

fn open_gate() -> watch::Receiver<bool> {
    watch::channel(true).1
}

async fn post(s: &Server, path: &str, body: Value) -> (u16, String) {
    let r = reqwest::Client::new().post(s.url(path)).body(body.to_string()).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn statuses(body: &str) -> Vec<String> {
    body.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).map(|v| v["status"].as_str().unwrap_or("").to_string()).collect()
}

/// A peer holding SmolLM2, the TLS registry in front of it, and an empty server to pull
/// with, whose HOME and SSL_CERT_FILE are the returned folder and the registry's CA.
struct Setup {
    home: tempfile::TempDir,
    peer: Server,
    reg: Arc<Registry>,
    local: Server,
}

async fn setup(gate: watch::Receiver<bool>) -> Setup {
    let (ca_pem, tls) = test_pki();
    let home = environment(&ca_pem);
    let peer = serve(true);
    let reg = Registry::start(peer.addr, Tokens::Good, tls, gate).await;
    Setup { home, peer, reg, local: serve(false) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_over_https_through_a_bearer_token_challenge() {
    let Setup { home, peer, reg, local } = setup(open_gate()).await;
    let key = home.path().join(".ollama/id_ed25519");
    assert!(!key.exists());

    // No `insecure`: a name with a host and no scheme is https, as Ollama's default.
    let (st, body) = post(&local, "/api/pull", json!({"model": reg.name()})).await;
    assert_eq!(st, 200, "{body}");
    let s = statuses(&body);
    assert_eq!(s.first().map(String::as_str), Some("pulling manifest"), "{body}");
    assert_eq!(s.last().map(String::as_str), Some("success"), "{body}");
    assert!(reg.challenged.load(Ordering::SeqCst) >= 1, "the registry challenged the first request");

    // The key was made on first use, as Ollama's: OpenSSH private key, authorized_keys line.
    assert!(std::fs::read_to_string(&key).unwrap().starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let blob = public.split_whitespace().nth(1).unwrap().to_string();
    assert!(public.starts_with("ssh-ed25519 "), "{public}");
    assert!(reg.signed.load(Ordering::SeqCst) >= 1);
    assert!(reg.signers.lock().unwrap().iter().all(|s| *s == blob), "every token request was signed by that key");

    // The model is the peer's, byte for byte.
    let tags = |s: &Server| {
        let s = s.url("/api/tags");
        async move { serde_json::from_str::<Value>(&reqwest::get(s).await.unwrap().text().await.unwrap()).unwrap()["models"].clone() }
    };
    let pulled = tags(&local).await;
    assert_eq!(pulled[0]["name"], reg.name().as_str());
    assert_eq!(pulled[0]["digest"], tags(&peer).await[0]["digest"]);

    // A second pull reuses the key (no new one is made) and again gets through.
    let signed_before = reg.signed.load(Ordering::SeqCst);
    let (st, body) = post(&local, "/api/pull", json!({"model": reg.name(), "stream": false})).await;
    assert_eq!((st, body.trim()), (200, r#"{"status":"success"}"#));
    assert!(reg.signed.load(Ordering::SeqCst) > signed_before, "a new pull asks for a token again");
    assert_eq!(std::fs::read_to_string(key.with_extension("pub")).unwrap(), public);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_certificates_and_tokens_leave_the_store_unchanged() {
    let Setup { home, peer: _peer, reg, local } = setup(open_gate()).await;
    let before = local.contents();
    let (other_ca, _) = test_pki();
    let trusted = std::env::var_os("SSL_CERT_FILE").unwrap();
    let untrusted = home.path().join("other-ca.pem");
    std::fs::write(&untrusted, other_ca).unwrap();

    // (what the token endpoint does, whether the pulling server trusts the CA, error part)
    let cases = [
        (Tokens::Good, false, "invalid peer certificate"),
        (Tokens::Refuse, true, "pull model manifest: the token request was refused: 403 Forbidden: "),
        (Tokens::Wrong, true, "pull model manifest: unauthorized: access denied"),
        (Tokens::ForeignRealm, true, "does not match original host"),
    ];
    for (tokens, trust, want) in cases {
        *reg.tokens.lock().unwrap() = tokens;
        std::env::set_var("SSL_CERT_FILE", if trust { &trusted } else { untrusted.as_os_str() });
        for stream in [true, false] {
            let (st, body) = post(&local, "/api/pull", json!({"model": reg.name(), "stream": stream})).await;
            let err = if stream {
                assert_eq!(st, 200, "{body}");
                let last: Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
                last["error"].as_str().unwrap_or_else(|| panic!("{tokens:?}: no error line in {body}")).to_string()
            } else {
                assert_eq!(st, 500, "{tokens:?}: {body}");
                serde_json::from_str::<Value>(&body).unwrap()["error"].as_str().unwrap().to_string()
            };
            assert!(err.contains(want), "{tokens:?}, trusted {trust}: {err:?} lacks {want:?}");
            assert_eq!(local.contents(), before, "{tokens:?}: the store is as it was");
        }
    }
    // The refusals were the registry's: once it hands out the right token, the pull works.
    *reg.tokens.lock().unwrap() = Tokens::Good;
    std::env::set_var("SSL_CERT_FILE", &trusted);
    let (st, body) = post(&local, "/api/pull", json!({"model": reg.name(), "stream": false})).await;
    assert_eq!((st, body.trim()), (200, r#"{"status":"success"}"#));
}

/// NDJSON lines of a streamed answer as they arrive.
struct Lines {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl Lines {
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(serde_json::from_slice(&line).unwrap());
            }
            let wait = tokio::time::timeout(std::time::Duration::from_secs(60), self.resp.chunk());
            match wait.await.expect("a status line within a minute: the lines are not streamed").unwrap() {
                Some(c) => self.buf.extend_from_slice(&c),
                None => return None,
            }
        }
    }
}

/// `/api/create` from a model the store lacks pulls it first and streams every status line
/// as it happens: the first lines arrive while the registry still holds back every blob, so
/// while the create cannot have finished; the rest follow once it lets them through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_streams_its_status_lines_as_they_happen() {
    let (open, gate) = watch::channel(false);
    let Setup { home: _home, peer: _peer, reg, local } = setup(gate).await;

    let body = json!({"model": "mine", "from": reg.name(), "system": "Be brief."});
    let resp = reqwest::Client::new().post(local.url("/api/create")).body(body.to_string()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/x-ndjson");
    let mut lines = Lines { resp, buf: Vec::new() };
    // Before any blob is sent: the manifest step and a first progress line of a layer.
    assert_eq!(lines.next().await.unwrap(), json!({"status": "pulling manifest"}));
    let progress = lines.next().await.unwrap();
    assert!(progress["status"].as_str().unwrap().starts_with("pulling "), "{progress}");
    assert_eq!(progress["completed"], 0, "no blob byte went through yet: {progress}");
    let (_, tags) = post(&local, "/api/show", json!({"model": "mine"})).await;
    assert!(tags.contains("not found"), "the create is still under way: {tags}");

    open.send(true).unwrap();
    let mut rest = Vec::new();
    while let Some(l) = lines.next().await {
        rest.push(l);
    }
    let rest: Vec<&str> = rest.iter().map(|l| l["status"].as_str().unwrap_or_else(|| panic!("{l}"))).collect();
    let at = |s: &str| rest.iter().position(|r| *r == s).unwrap_or_else(|| panic!("{s:?} missing from {rest:?}"));
    assert!(at("verifying sha256 digest") < at("writing manifest"), "{rest:?}");
    let reused = rest.iter().position(|r| r.starts_with("using existing layer sha256:")).expect("the base's layers");
    let created = rest.iter().position(|r| r.starts_with("creating new layer sha256:")).expect("the system layer");
    assert!(at("writing manifest") < reused && reused.max(created) < rest.len() - 2, "{rest:?}");
    assert_eq!(rest[rest.len() - 2..], ["writing manifest", "success"], "{rest:?}");
    let (st, show) = post(&local, "/api/show", json!({"model": "mine"})).await;
    assert_eq!(st, 200, "{show}");
    assert_eq!(serde_json::from_str::<Value>(&show).unwrap()["system"], "Be brief.");
}
