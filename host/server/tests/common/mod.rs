//! Servers for the integration tests: `wollama_server::serve` on a free loopback port over a
//! temporary store, empty or holding the real SmolLM2 as `smollm2:135m`, and a raw HTTP/1.1
//! client for the test tables.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use wollama_server::{Config, SchedConfig};
use wollama_store::create::{create_model, CreateOptions, CreateRequest, ModelFacts};
use wollama_store::Store;

pub struct Server {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    pub fn store(&self) -> Store {
        Store::open(self.dir.path()).unwrap()
    }

    /// Every file under the store, partial downloads excluded (they are not part of the
    /// store's contents, only of the next pull).
    pub fn contents(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else if !e.file_name().to_string_lossy().contains("-partial") {
                    out.push(e.path().strip_prefix(self.dir.path()).unwrap().display().to_string());
                }
            }
        }
        out.sort();
        out
    }
}

/// SmolLM2 (hard-linked, not copied) as `smollm2:135m`, with the facts the guest reads.
pub fn add_smollm2(store: &Store) {
    let blob = store.import_file(&wollama_tests::model_path("smollm2"), None).unwrap();
    let req = CreateRequest {
        model: "smollm2:135m".into(),
        from: Some(format!("sha256:{}", blob.digest.hex())),
        ..Default::default()
    };
    let facts = ModelFacts {
        format: "gguf".into(),
        family: "llama".into(),
        families: vec!["llama".into()],
        parameter_size: "134.52M".into(),
        file_type: "Q4_1".into(),
        context_length: Some(8192),
        embedding_length: Some(576),
        capabilities: vec!["completion".into()],
    };
    create_model(store, &req, &CreateOptions { facts: Some(facts), keep_old_layers: false }, &mut |_| {}).unwrap();
}

/// A server on its own runtime thread; `with_smollm2` fills the store first.
pub fn serve(with_smollm2: bool) -> Server {
    serve_on(with_smollm2, 2)
}

/// `serve` on a runtime of `workers` worker threads.
pub fn serve_on(with_smollm2: bool, workers: usize) -> Server {
    let sched = SchedConfig { threads: 1, gpu: None, default_keep_alive: Some(std::time::Duration::from_secs(300)), num_parallel: 1 };
    serve_with(with_smollm2, workers, sched)
}

/// `serve_on` with the scheduler's settings given (a GPU device, threads).
pub fn serve_with(with_smollm2: bool, workers: usize, sched: SchedConfig) -> Server {
    // The tests' own reqwest clients need the crypto provider too.
    wollama_server::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    if with_smollm2 {
        add_smollm2(&Store::open(dir.path()).unwrap());
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let config = Config {
        addr,
        models: dir.path().to_path_buf(),
        sched,
    };
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            wollama_server::serve(listener, config).await.unwrap();
        });
    });
    Server { addr, dir }
}

/// A server holding SmolLM2: (address, store directory), for the HTTP test tables.
pub fn start() -> (SocketAddr, tempfile::TempDir) {
    let s = serve(true);
    (s.addr, s.dir)
}

/// One request with a raw HTTP/1.1 client: (status, body).
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let (status, _, body) = http_full(addr, method, path, body);
    (status, body)
}

/// One request: (status, response head lower-cased, body).
pub fn http_full(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").map(|(h, b)| (h.to_ascii_lowercase(), b.to_string())).unwrap_or_default();
    if head.contains("transfer-encoding: chunked") {
        return (status, head, dechunk(&body));
    }
    (status, head, body)
}

pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}
