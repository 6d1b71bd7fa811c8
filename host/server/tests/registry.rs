//! Pull and push between wollama servers on loopback, through the registry protocol each
//! one serves from its store: the status sequence, byte-identical models, a peer that goes
//! away halfway (the store stays as it was and the next pull resumes without fetching a byte
//! twice), a peer that cuts one connection (retried from where it stopped), a peer that
//! corrupts blobs (rejected, never registered), push into an empty server, and the `/v2`
//! endpoints' answers.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::{serve, Server};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the network between the pulling server and its peer does to blob bodies.
#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    /// The peer vanishes once this many blob bytes went through: connections in flight are
    /// cut at that byte and new ones are refused.
    GoneAfter(u64),
    /// One connection is cut once this many blob bytes went through; after that all is well.
    CutOnceAfter(u64),
    /// Every blob body has its first byte flipped.
    Corrupt,
}

/// A loopback TCP proxy in front of a peer, one request per connection, counting the blob
/// body bytes it forwards.
struct Proxy {
    addr: SocketAddr,
    forwarded: Arc<AtomicU64>,
    /// The most blob requests that were in flight at once.
    most_at_once: Arc<AtomicU64>,
}

struct ProxyState {
    upstream: SocketAddr,
    fault: Fault,
    forwarded: Arc<AtomicU64>,
    in_flight: AtomicU64,
    most_at_once: Arc<AtomicU64>,
    gone: AtomicBool,
    cut: AtomicBool,
}

impl Proxy {
    async fn start(upstream: SocketAddr, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let forwarded = Arc::new(AtomicU64::new(0));
        let most_at_once = Arc::new(AtomicU64::new(0));
        let st = Arc::new(ProxyState {
            upstream,
            fault,
            forwarded: forwarded.clone(),
            in_flight: AtomicU64::new(0),
            most_at_once: most_at_once.clone(),
            gone: AtomicBool::new(false),
            cut: AtomicBool::new(false),
        });
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    if !st.gone.load(Ordering::SeqCst) {
                        let _ = relay(client, &st).await;
                    }
                });
            }
        });
        Proxy { addr, forwarded, most_at_once }
    }

    fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::SeqCst)
    }

    fn most_at_once(&self) -> u64 {
        self.most_at_once.load(Ordering::SeqCst)
    }
}

/// Reads up to the end of an HTTP head; returns the head and any body bytes read with it.
async fn read_head(s: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn relay(mut client: TcpStream, st: &ProxyState) -> std::io::Result<()> {
    let (head, _) = read_head(&mut client).await?;
    let text = String::from_utf8_lossy(&head).into_owned();
    let is_blob_get = text.starts_with("GET ") && text.split_whitespace().nth(1).unwrap_or("").contains("/blobs/sha256");
    // One request per connection, so a cut never confuses a reused connection.
    let mut request: String =
        text.trim_end().lines().filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).map(|l| format!("{l}\r\n")).collect();
    request.push_str("Connection: close\r\n\r\n");
    if is_blob_get {
        let now = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        st.most_at_once.fetch_max(now, Ordering::SeqCst);
    }
    let result = forward(client, st, request, is_blob_get).await;
    if is_blob_get {
        st.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
    result
}

async fn forward(mut client: TcpStream, st: &ProxyState, request: String, is_blob_get: bool) -> std::io::Result<()> {
    let mut up = TcpStream::connect(st.upstream).await?;
    up.write_all(request.as_bytes()).await?;
    let (head, mut body) = read_head(&mut up).await?;
    client.write_all(&head).await?;
    let mut first = true;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if body.is_empty() {
            let n = up.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            body.extend_from_slice(&buf[..n]);
        }
        if !is_blob_get {
            client.write_all(&body).await?;
            body.clear();
            continue;
        }
        if first {
            if let Fault::Corrupt = st.fault {
                body[0] ^= 0xff;
            }
            first = false;
        }
        let limit = match st.fault {
            Fault::GoneAfter(n) => Some(n),
            Fault::CutOnceAfter(n) if !st.cut.load(Ordering::SeqCst) => Some(n),
            _ => None,
        };
        let n = body.len() as u64;
        // Reserve bytes under the limit atomically, so exactly `limit` bytes get through.
        let take = match limit {
            None => {
                st.forwarded.fetch_add(n, Ordering::SeqCst);
                n
            }
            Some(limit) => {
                let mut take = 0;
                let _ = st.forwarded.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |done| {
                    take = n.min(limit.saturating_sub(done));
                    Some(done + take)
                });
                take
            }
        };
        client.write_all(&body[..take as usize]).await?;
        if take < n {
            match st.fault {
                Fault::GoneAfter(_) => st.gone.store(true, Ordering::SeqCst),
                Fault::CutOnceAfter(_) if st.cut.swap(true, Ordering::SeqCst) => {
                    // Another connection was cut first: this one goes on.
                    st.forwarded.fetch_add(n - take, Ordering::SeqCst);
                    client.write_all(&body[take as usize..]).await?;
                    body.clear();
                    continue;
                }
                _ => {}
            }
            return Ok(()); // dropping both sockets cuts the transfer
        }
        body.clear();
    }
}

async fn post(url: &str, body: Value) -> (u16, String) {
    let r = reqwest::Client::new().post(url).body(body.to_string()).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The NDJSON lines of a streamed answer.
fn lines(body: &str) -> Vec<Value> {
    body.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

async fn tags(s: &Server) -> Vec<Value> {
    let body = reqwest::get(s.url("/api/tags")).await.unwrap().text().await.unwrap();
    serde_json::from_str::<Value>(&body).unwrap()["models"].as_array().unwrap().clone()
}

/// (digest, size) of each layer of a model, config last.
fn layers(s: &Server, name: &str) -> Vec<(String, u64)> {
    let m = s.store().get(&wollama_store::ModelName::parse(name).unwrap()).unwrap().manifest;
    m.layers.iter().chain([&m.config]).map(|l| (l.digest.clone(), l.size)).collect()
}

fn partial_files(s: &Server) -> usize {
    std::fs::read_dir(s.dir.path().join("blobs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("-partial"))
        .count()
}

/// Checks Ollama's status sequence and per-layer byte counts; returns the pulled layers'
/// first reported `completed` (what was already on disk).
fn check_pull_statuses(lines: &[Value], want: &[(String, u64)]) -> Vec<u64> {
    assert_eq!(lines.first().unwrap(), &json!({"status": "pulling manifest"}), "{lines:?}");
    let tail: Vec<&str> = lines[lines.len() - 3..].iter().map(|l| l["status"].as_str().unwrap_or("")).collect();
    assert_eq!(tail, ["verifying sha256 digest", "writing manifest", "success"], "{lines:?}");
    let mut first = Vec::new();
    let mut order = Vec::new();
    for (digest, size) in want {
        let per: Vec<&Value> = lines.iter().filter(|l| l["digest"] == *digest).collect();
        assert!(!per.is_empty(), "no progress for {digest}: {lines:?}");
        let status = format!("pulling {}", &digest[7..19]);
        let mut last = 0;
        for l in &per {
            assert_eq!(l["status"], status);
            assert_eq!(l["total"], *size);
            let c = l["completed"].as_u64().unwrap();
            assert!(c >= last && c <= *size, "completed goes {last} -> {c} of {size}");
            last = c;
        }
        assert_eq!(last, *size, "{digest} ends complete");
        first.push(per[0]["completed"].as_u64().unwrap());
        order.push(lines.iter().position(|l| l["digest"] == *digest).unwrap());
    }
    assert!(order.windows(2).all(|w| w[0] < w[1]), "layers are pulled in manifest order");
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_then_push_between_servers() {
    let peer = serve(true);
    let local = serve(false);
    let remote_name = format!("{}/library/smollm2:135m", peer.addr);
    let want = layers(&peer, "smollm2:135m");
    let peer_digest = tags(&peer).await[0]["digest"].clone();

    let (st, body) = post(&local.url("/api/pull"), json!({"model": remote_name, "insecure": true})).await;
    assert_eq!(st, 200, "{body}");
    let first = check_pull_statuses(&lines(&body), &want);
    assert!(first.iter().all(|&c| c < 1 << 20), "a fresh pull starts from zero: {first:?}");
    let pulled = tags(&local).await;
    assert_eq!(pulled.len(), 1);
    assert_eq!(pulled[0]["name"], remote_name.as_str());
    assert_eq!(pulled[0]["digest"], peer_digest, "the manifest is stored byte for byte");
    assert_eq!(pulled[0]["details"]["family"], "llama");
    assert_eq!(partial_files(&local), 0);
    // The pulled model is a model: the guest reads its GGUF for /api/show.
    let (st, show) = post(&local.url("/api/show"), json!({"model": remote_name})).await;
    assert_eq!(st, 200, "{show}");
    let show: Value = serde_json::from_str(&show).unwrap();
    assert_eq!(show["model_info"]["general.architecture"], "llama");

    // A model pulled from one server is served on: a third pulls it from the second.
    let third = serve(false);
    let relayed = format!("{}/library/smollm2:135m", local.addr);
    let (st, body) = post(&third.url("/api/pull"), json!({"model": relayed, "insecure": true, "stream": false})).await;
    assert_eq!((st, body.trim()), (200, r#"{"status":"success"}"#));
    assert_eq!(tags(&third).await[0]["digest"], peer_digest);

    // Pulling again downloads nothing and reports every layer complete at once.
    let (_, body) = post(&local.url("/api/pull"), json!({"name": remote_name, "insecure": true})).await;
    let first = check_pull_statuses(&lines(&body), &want);
    assert_eq!(first, want.iter().map(|w| w.1).collect::<Vec<_>>());

    // /api/pull: (request, status, whole body or last streamed line)
    let missing = format!("{}/library/nothing:here", peer.addr);
    let cases: &[(Value, u16, Value)] = &[
        (json!({"model": remote_name, "insecure": true, "stream": false}), 200, json!({"status": "success"})),
        (json!({"model": missing, "insecure": true}), 200, json!({"error": "pull model manifest: file does not exist"})),
        (json!({"model": missing, "insecure": true, "stream": false}), 500, json!({"error": "pull model manifest: file does not exist"})),
        (json!({"model": format!("http://{remote_name}"), "stream": false}), 500, json!({"error": "insecure protocol http"})),
        (json!({"model": "a/"}), 400, json!({"error": "invalid model name"})),
        (json!({"model": 7}), 400, json!({"error": "json: cannot unmarshal number into Go struct field PullRequest.model of type string"})),
    ];
    for (req, status, want) in cases {
        let (st, body) = post(&local.url("/api/pull"), req.clone()).await;
        assert_eq!(st, *status, "{req}: {body}");
        assert_eq!(lines(&body).last().unwrap(), want, "{req}");
    }
    // Without `insecure` the registry is spoken to over https (Ollama's default), which a
    // plain-http peer does not answer: a clear error, nothing stored.
    let before = local.contents();
    let (st, body) = post(&local.url("/api/pull"), json!({"model": missing, "stream": false})).await;
    assert_eq!(st, 500);
    let err = serde_json::from_str::<Value>(&body).unwrap()["error"].as_str().unwrap().to_string();
    assert!(err.starts_with("pull model manifest: ") && err.contains(&format!("https://{}/v2/", peer.addr)), "{err}");
    assert_eq!(local.contents(), before);

    // Push into an empty server under a new name: every blob is uploaded and verified there.
    let target = serve(false);
    let pushed_name = format!("{}/alice/copy:v1", target.addr);
    let (st, _) = post(&local.url("/api/copy"), json!({"source": remote_name, "destination": pushed_name})).await;
    assert_eq!(st, 200);
    let (st, body) = post(&local.url("/api/push"), json!({"model": pushed_name, "insecure": true})).await;
    assert_eq!(st, 200, "{body}");
    let pushed = lines(&body);
    assert_eq!(pushed[0], json!({"status": "retrieving manifest"}));
    for (digest, size) in &want {
        let last = pushed.iter().rfind(|l| l["digest"] == *digest).unwrap_or_else(|| panic!("{digest}: {pushed:?}"));
        assert_eq!(last["status"], format!("pushing {}", &digest[7..19]));
        assert_eq!((last["total"].as_u64(), last["completed"].as_u64()), (Some(*size), Some(*size)));
    }
    let tail: Vec<&str> = pushed[pushed.len() - 2..].iter().map(|l| l["status"].as_str().unwrap()).collect();
    assert_eq!(tail, ["pushing manifest", "success"]);
    let there = tags(&target).await;
    assert_eq!(there.len(), 1);
    assert_eq!(there[0]["name"], "alice/copy:v1");
    assert_eq!(there[0]["digest"], peer_digest, "same bytes, same model digest");
    assert_eq!(layers(&target, "alice/copy:v1"), want);

    // /api/push: (request, status, whole body or last streamed line)
    let cases: &[(Value, u16, Value)] = &[
        // The blobs are there now: nothing is uploaded again.
        (json!({"model": pushed_name, "insecure": true, "stream": false}), 200, json!({"status": "success"})),
        (json!({"model": "nothing:here", "insecure": true}), 200, json!({"error": "model 'nothing:here' not found"})),
        (json!({"model": ":x"}), 400, json!({"error": "invalid model name"})),
    ];
    for (req, status, want) in cases {
        let (st, body) = post(&local.url("/api/push"), req.clone()).await;
        assert_eq!(st, *status, "{req}: {body}");
        assert_eq!(lines(&body).last().unwrap(), want, "{req}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_cut_halfway_leaves_the_store_as_it_was_and_resumes() {
    let peer = serve(true);
    let local = serve(false);
    let want = layers(&peer, "smollm2:135m");
    let total: u64 = want.iter().map(|w| w.1).sum();
    let half = total / 2;

    let dying = Proxy::start(peer.addr, Fault::GoneAfter(half)).await;
    let name = |p: &Proxy| format!("{}/library/smollm2:135m", p.addr);
    let before = local.contents();
    let (st, body) = post(&local.url("/api/pull"), json!({"model": name(&dying), "insecure": true})).await;
    assert_eq!(st, 200);
    let got = lines(&body);
    let err = got.last().unwrap()["error"].as_str().unwrap_or_else(|| panic!("{got:?}")).to_string();
    assert!(err.starts_with("download sha256:"), "the error names the blob: {err}");
    assert_eq!(dying.forwarded(), half);
    assert_eq!(local.contents(), before, "no manifest, no blob");
    assert!(tags(&local).await.is_empty());
    assert!(partial_files(&local) > 0, "what arrived is kept for the next pull");

    // The peer is back: the pull fetches only what is missing, never a byte twice.
    let healthy = Proxy::start(peer.addr, Fault::None).await;
    let (st, body) = post(&local.url("/api/pull"), json!({"model": name(&healthy), "insecure": true})).await;
    assert_eq!(st, 200, "{body}");
    let first = check_pull_statuses(&lines(&body), &want);
    assert_eq!(first.iter().sum::<u64>(), half, "progress starts from the bytes already on disk");
    assert_eq!(healthy.forwarded(), total - half);
    assert!(healthy.most_at_once() > 1, "parts download in parallel");
    assert_eq!(tags(&local).await[0]["digest"], tags(&peer).await[0]["digest"]);
    assert_eq!(partial_files(&local), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_is_retried_from_where_it_stopped() {
    let peer = serve(true);
    let local = serve(false);
    let want = layers(&peer, "smollm2:135m");
    let total: u64 = want.iter().map(|w| w.1).sum();
    let flaky = Proxy::start(peer.addr, Fault::CutOnceAfter(want[0].1 / 3)).await;
    let (st, body) =
        post(&local.url("/api/pull"), json!({"model": format!("{}/library/smollm2:135m", flaky.addr), "insecure": true})).await;
    assert_eq!(st, 200, "{body}");
    check_pull_statuses(&lines(&body), &want);
    assert_eq!(flaky.forwarded(), total, "the retry asked only for the rest of its part");
    assert_eq!(tags(&local).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_blob_is_rejected_and_never_registered() {
    let peer = serve(true);
    let local = serve(false);
    let corrupt = Proxy::start(peer.addr, Fault::Corrupt).await;
    let before = local.contents();
    let (st, body) =
        post(&local.url("/api/pull"), json!({"model": format!("{}/library/smollm2:135m", corrupt.addr), "insecure": true, "stream": false}))
            .await;
    assert_eq!(st, 500, "{body}");
    let err: Value = serde_json::from_str(&body).unwrap();
    assert!(
        err["error"].as_str().unwrap().starts_with("digest mismatch, file must be downloaded again: want sha256:"),
        "{err}"
    );
    assert_eq!(local.contents(), before);
    assert_eq!(partial_files(&local), 0, "corrupt bytes are not kept for a resume");
    assert!(tags(&local).await.is_empty());
}

/// Raw `/v2` answers: (method, path, headers, body, status, Docker error code or "").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_endpoints() {
    let peer = serve(true);
    let want = layers(&peer, "smollm2:135m");
    let (model, model_size) = want[0].clone();
    let http = reqwest::Client::new();
    let zeros = format!("sha256:{}", "0".repeat(64));
    // (method, path, headers, status, body)
    type Case<'a> = (&'a str, String, Vec<(&'a str, String)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("GET", "/v2/".into(), vec![], 200, ""),
        ("GET", "/v2/library/smollm2/manifests/135m".into(), vec![], 200, ""),
        ("HEAD", "/v2/library/smollm2/manifests/135m".into(), vec![], 200, ""),
        ("GET", "/v2/library/smollm2/manifests/nope".into(), vec![], 404, "MANIFEST_UNKNOWN"),
        ("GET", "/v2/library/bad..name!/manifests/x".into(), vec![], 400, "NAME_INVALID"),
        ("GET", format!("/v2/library/smollm2/blobs/{model}"), vec![("range", "bytes=10-19".into())], 206, ""),
        ("HEAD", format!("/v2/library/smollm2/blobs/{model}"), vec![], 200, ""),
        ("GET", format!("/v2/library/smollm2/blobs/{zeros}"), vec![], 404, "BLOB_UNKNOWN"),
        ("GET", "/v2/library/smollm2/blobs/sha256:xyz".into(), vec![], 400, "DIGEST_INVALID"),
        ("PATCH", "/v2/library/smollm2/blobs/uploads/nothex".into(), vec![], 404, "BLOB_UPLOAD_UNKNOWN"),
    ];
    for (method, path, headers, status, code) in cases {
        let mut req = http.request(method.parse().unwrap(), peer.url(&path));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        let h = r.headers().clone();
        let body = r.bytes().await.unwrap();
        if !code.is_empty() {
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["errors"][0]["code"], code, "{method} {path}");
        }
        if status == 206 {
            let file = std::fs::read(wollama_tests::model_path("smollm2")).unwrap();
            assert_eq!(&body[..], &file[10..20]);
            assert_eq!(h["content-range"], format!("bytes 10-19/{model_size}").as_str());
        }
        if method == "HEAD" && path.contains("/blobs/") {
            assert_eq!(h["content-length"], model_size.to_string().as_str());
        }
        if path.ends_with("/manifests/135m") {
            let d = format!("sha256:{}", tags(&peer).await[0]["digest"].as_str().unwrap());
            assert_eq!(h["docker-content-digest"], d.as_str());
        }
    }

    // An upload whose bytes do not match its digest is refused and leaves nothing behind.
    let blobs_before = peer.store().blobs().list().unwrap();
    let start = http.post(peer.url("/v2/alice/x/blobs/uploads/")).send().await.unwrap();
    assert_eq!(start.status().as_u16(), 202);
    let at = peer.url(start.headers()["location"].to_str().unwrap());
    let r = http.patch(&at).header("content-range", "0-4").body("hello").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 202);
    assert_eq!(r.headers()["range"], "0-4");
    let r = http.patch(&at).header("content-range", "9-9").body("x").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 416, "a chunk must start where the upload ends");
    let r = http.put(format!("{at}?digest={zeros}")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v["errors"][0]["code"], "DIGEST_INVALID");
    assert_eq!(peer.store().blobs().list().unwrap(), blobs_before);
    assert_eq!(std::fs::read_dir(peer.dir.path().join("blobs")).unwrap().count(), blobs_before.len(), "the upload is gone");
    // A mount of a blob the server has answers 201 without an upload.
    let r = http.post(peer.url(&format!("/v2/alice/x/blobs/uploads/?mount={model}"))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    // A manifest naming a blob the server lacks is refused.
    let bad = json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": zeros, "size": 2}, "layers": []});
    let r = http.put(peer.url("/v2/alice/x/manifests/v1")).body(bad.to_string()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v["errors"][0]["code"], "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(tags(&peer).await.len(), 1);
}

/// A manifest that promises more bytes than the peer's blob has: the pull fails on the
/// short blob and registers nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_blob_is_rejected_and_never_registered() {
    let peer = serve(true);
    let local = serve(false);
    let http = reqwest::Client::new();
    let bytes = http.get(peer.url("/v2/library/smollm2/manifests/135m")).send().await.unwrap().bytes().await.unwrap();
    let mut manifest: Value = serde_json::from_slice(&bytes).unwrap();
    let size = manifest["layers"][0]["size"].as_u64().unwrap();
    manifest["layers"][0]["size"] = json!(size + 10);
    let r = http.put(peer.url("/v2/alice/short/manifests/v1")).body(manifest.to_string()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);

    let before = local.contents();
    let name = format!("{}/alice/short:v1", peer.addr);
    let (st, body) = post(&local.url("/api/pull"), json!({"model": name, "insecure": true, "stream": false})).await;
    assert_eq!(st, 500, "{body}");
    let err: Value = serde_json::from_str(&body).unwrap();
    assert!(err["error"].as_str().unwrap().starts_with("download sha256:"), "{err}");
    assert_eq!(local.contents(), before, "no manifest, no blob");
    assert!(tags(&local).await.is_empty());
}
