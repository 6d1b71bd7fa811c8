//! The store routes over real HTTP against a server on a free loopback port with a
//! temporary store holding the real SmolLM2: one table of cases per endpoint.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::{json, Value};
use wollama_server::{sched::SchedConfig, Config};
use wollama_store::create::{create_model, CreateOptions, CreateRequest, ModelFacts};
use wollama_store::Store;

/// One request with a raw HTTP/1.1 client: (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
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
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn start() -> (SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
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
    create_model(&store, &req, &CreateOptions { facts: Some(facts), keep_old_layers: false }, &mut |_| {}).unwrap();

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let config = Config {
        addr,
        models: dir.path().to_path_buf(),
        sched: SchedConfig { threads: 1, default_keep_alive: Some(std::time::Duration::from_secs(300)), num_parallel: 1 },
    };
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            wollama_server::serve(listener, config).await.unwrap();
        });
    });
    (addr, dir)
}

#[test]
fn root_version_tags_copy_delete() {
    let (addr, _dir) = start();

    assert_eq!(http(addr, "GET", "/", None), (200, "Ollama is running".into()));
    let (st, body) = http(addr, "GET", "/api/version", None);
    assert_eq!(st, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({"version": "0.33.0"}));

    let tags = |addr| -> Vec<Value> {
        let (st, body) = http(addr, "GET", "/api/tags", None);
        assert_eq!(st, 200);
        serde_json::from_str::<Value>(&body).unwrap()["models"].as_array().unwrap().clone()
    };
    let models = tags(addr);
    assert_eq!(models.len(), 1);
    assert_eq!(models[0]["name"], "smollm2:135m");
    assert_eq!(models[0]["details"]["family"], "llama");
    assert_eq!(models[0]["details"]["quantization_level"], "Q4_1");
    assert_eq!(models[0]["digest"].as_str().unwrap().len(), 64);
    assert!(models[0]["size"].as_u64().unwrap() > 90_000_000);

    // /api/copy: (body, status, error text)
    let copy_cases: &[(&str, u16, &str)] = &[
        (r#"{"source":"smollm2:135m","destination":"mine:latest"}"#, 200, ""),
        (r#"{"source":"nope","destination":"x"}"#, 404, "model \"nope\" not found"),
        (r#"{"source":"smollm2:135m","destination":"bad/name/a/b/c"}"#, 400, "destination \"bad/name/a/b/c\" is invalid"),
        (r#"{"source":5}"#, 400, "json: cannot unmarshal number into Go struct field CopyRequest.source of type string"),
        ("", 400, "missing request body"),
    ];
    for (body, status, err) in copy_cases {
        let (st, resp) = http(addr, "POST", "/api/copy", Some(body));
        assert_eq!(st, *status, "copy {body}: {resp}");
        if !err.is_empty() {
            assert_eq!(serde_json::from_str::<Value>(&resp).unwrap()["error"], *err, "copy {body}");
        }
    }
    assert_eq!(tags(addr).len(), 2);

    // /api/delete
    let delete_cases: &[(&str, u16, &str)] = &[
        (r#"{"model":"mine"}"#, 200, ""),
        (r#"{"model":"mine"}"#, 404, "model 'mine' not found"),
        (r#"{"name":"a/"}"#, 400, "name \"a/\" is invalid"),
    ];
    for (body, status, err) in delete_cases {
        let (st, resp) = http(addr, "DELETE", "/api/delete", Some(body));
        assert_eq!(st, *status, "delete {body}: {resp}");
        if !err.is_empty() {
            assert_eq!(serde_json::from_str::<Value>(&resp).unwrap()["error"], *err, "delete {body}");
        }
    }
    let models = tags(addr);
    assert_eq!(models.len(), 1, "the copy is gone, the original stays");
    assert_eq!(models[0]["name"], "smollm2:135m");

    let (st, body) = http(addr, "GET", "/api/ps", None);
    assert_eq!((st, serde_json::from_str::<Value>(&body).unwrap()), (200, json!({"models": []})));
    assert_eq!(http(addr, "GET", "/api/nothing", None).0, 404);
}
