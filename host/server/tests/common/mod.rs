//! Servers for the integration tests: `wollama_server::serve` on a free loopback port over a
//! temporary store, empty or holding the real SmolLM2 as `smollm2:135m`.
#![allow(dead_code)]

use std::net::SocketAddr;

use wollama_server::{sched::SchedConfig, Config};
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
        sched: SchedConfig { threads: 1, default_keep_alive: Some(std::time::Duration::from_secs(300)), num_parallel: 1 },
    };
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            wollama_server::serve(listener, config).await.unwrap();
        });
    });
    Server { addr, dir }
}
