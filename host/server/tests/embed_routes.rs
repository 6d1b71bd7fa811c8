//! Embeddings over real HTTP: all-MiniLM-L6-v2 uploaded as its safetensors directory and
//! created through `/api/create` (converted to GGUF in the store), then `/api/embed`,
//! `/api/embeddings` and `/v1/embeddings` against sentence-transformers' vectors, and the
//! embedding model's refusal to generate. One table of cases per endpoint (chat models
//! embedding: decoder_embed_routes.rs).

use std::net::SocketAddr;
use std::path::Path;

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wollama_server::SchedConfig;
use wollama_tests::{cosine, golden, http, model_dir_texts, model_path};

fn start() -> (SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let sched = SchedConfig { threads: 2, gpu: None, default_keep_alive: Some(std::time::Duration::from_secs(300)), num_parallel: 1 };
    (wollama_server::spawn_on_free_port(dir.path().to_path_buf(), sched, 2), dir)
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Uploads a file as a blob; returns its digest.
fn upload(addr: SocketAddr, bytes: &[u8]) -> String {
    let digest = format!("sha256:{:x}", Sha256::digest(bytes));
    let (st, body) = http(addr, "POST", &format!("/api/blobs/{digest}"), bytes);
    assert!(st == 201 || st == 200, "upload: {st} {body}");
    digest
}

/// Uploads a safetensors directory file by file, as the CLI does: the `files` map.
fn upload_dir(addr: SocketAddr, dir: &Path) -> serde_json::Map<String, Value> {
    let mut files = serde_json::Map::new();
    for (name, text) in model_dir_texts(dir) {
        files.insert(name, json!(upload(addr, text.as_bytes())));
    }
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    files.insert("model.safetensors".into(), json!(upload(addr, &weights)));
    files
}

fn post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let (st, text) = http(addr, "POST", path, body.to_string().as_bytes());
    let v = text.lines().last().map(json_of).unwrap_or(Value::Null);
    (st, v)
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap_or_else(|| panic!("a vector: {v}")).iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// The golden sentence `i` (1-based): its text and its unnormalised reference vector.
fn sentence(i: usize) -> (String, Vec<f32>) {
    let s = &golden("minilm")["sentences"][i - 1];
    (s["text"].as_str().unwrap().to_string(), floats(&s["embedding_unnormalized"]))
}

#[test]
fn create_from_safetensors_and_embed_over_every_endpoint() {
    let (addr, _dir) = start();
    let files = upload_dir(addr, &model_path("minilm"));

    // /api/create from the uploaded directory: (files, status, error or the last status)
    let mut two = files.clone();
    two.insert("more.safetensors".into(), files["model.safetensors"].clone());
    let mut no_config = files.clone();
    no_config.remove("config.json");
    let create_cases: Vec<(Value, &str)> = vec![
        (json!({"model": "broken", "files": two, "stream": false}), "models split over several files are not supported yet"),
        (json!({"model": "broken", "files": no_config, "stream": false}), "config.json is missing from the model directory"),
        (json!({"model": "minilm", "files": files.clone(), "stream": false}), ""),
    ];
    for (body, err) in &create_cases {
        let (st, v) = post(addr, "/api/create", body);
        if err.is_empty() {
            assert_eq!((st, &v), (200, &json!({"status": "success"})), "create");
        } else {
            assert_eq!(st, 400, "create {err}: {v}");
            assert!(v["error"].as_str().unwrap().contains(err), "create: {v}");
        }
    }
    let (st, tags) = http(addr, "GET", "/api/tags", b"");
    assert_eq!(st, 200);
    let tags = json_of(&tags);
    assert_eq!(tags["models"].as_array().unwrap().len(), 1, "failed creates leave nothing: {tags}");
    assert_eq!(tags["models"][0]["details"]["family"], "bert");
    assert_eq!(tags["models"][0]["details"]["quantization_level"], "F16");
    assert_eq!(tags["models"][0]["capabilities"], json!(["embedding"]));
    let (_, show) = post(addr, "/api/show", &json!({"model": "minilm"}));
    assert_eq!(show["capabilities"], json!(["embedding"]));
    assert_eq!(show["model_info"]["bert.pooling_type"], 1);

    let (s1, want1) = sentence(1);
    let (s3, want3) = sentence(3);
    let (s4, want4) = sentence(4);

    // /api/embed: (body, status, error); successes are checked below.
    let long = "word ".repeat(100);
    let embed_errors: &[(Value, u16, &str)] = &[
        (json!({"input": "x"}), 404, "model '' not found"),
        (json!({"model": "nope", "input": "x"}), 404, "model \"nope\" not found, try pulling it first"),
        (json!({"model": "minilm", "input": 5}), 400, "invalid input type"),
        (json!({"model": "minilm", "input": ["a", 5]}), 400, "invalid input type"),
        (json!({"model": "minilm", "input": long, "truncate": false, "options": {"num_ctx": 32}}), 400, "the input length exceeds the context length"),
        (json!({"model": "minilm", "input": "x", "truncate": "yes"}), 400, "json: cannot unmarshal string into Go struct field EmbedRequest.truncate of type bool"),
    ];
    for (body, status, err) in embed_errors {
        let (st, v) = post(addr, "/api/embed", body);
        assert_eq!((st, v["error"].as_str().unwrap_or("")), (*status, *err), "embed {body}");
    }
    let (st, v) = post(addr, "/api/embed", &json!({"model": "minilm", "input": ""}));
    assert_eq!((st, v), (200, json!({"model": "minilm", "embeddings": []})));

    let (st, one) = post(addr, "/api/embed", &json!({"model": "minilm", "input": s1}));
    assert_eq!(st, 200, "{one}");
    let e1 = floats(&one["embeddings"][0]);
    assert_eq!(e1.len(), 384);
    assert!((norm(&e1) - 1.0).abs() < 1e-5, "normalised");
    assert!(cosine(&e1, &want1) >= 0.9999, "sentence 1 against sentence-transformers");
    assert_eq!(one["prompt_eval_count"], 11);
    assert!(one["total_duration"].as_u64().unwrap() > 0);

    let (st, many) = post(addr, "/api/embed", &json!({"model": "minilm", "input": [s3, s1, s4]}));
    assert_eq!(st, 200, "{many}");
    let batch: Vec<Vec<f32>> = many["embeddings"].as_array().unwrap().iter().map(floats).collect();
    assert_eq!(batch.len(), 3);
    for (got, want) in batch.iter().zip([&want3, &want1, &want4]) {
        assert!(cosine(got, want) >= 0.9999);
    }
    assert!(cosine(&batch[1], &e1) >= 0.999_999, "batched and single calls agree");
    assert!(cosine(&batch[0], &batch[2]) > cosine(&batch[0], &batch[1]), "related sentences are closer");

    let (_, cut) = post(addr, "/api/embed", &json!({"model": "minilm", "input": s1, "dimensions": 10}));
    let cut = floats(&cut["embeddings"][0]);
    assert_eq!(cut.len(), 10);
    assert!((norm(&cut) - 1.0).abs() < 1e-5, "cut, then renormalised");
    assert!(cosine(&cut, &e1[..10]) > 0.99999);

    let (st, trunc) = post(addr, "/api/embed", &json!({"model": "minilm", "input": long, "options": {"num_ctx": 32}}));
    assert_eq!((st, &trunc["prompt_eval_count"]), (200, &json!(32)), "truncated to num_ctx: {trunc}");

    // /api/embeddings (legacy): not normalised.
    let legacy_errors: &[(Value, u16, &str)] = &[
        (json!({"prompt": "x"}), 400, "model is required"),
        (json!({"model": "nope", "prompt": "x"}), 404, "model \"nope\" not found, try pulling it first"),
    ];
    for (body, status, err) in legacy_errors {
        let (st, v) = post(addr, "/api/embeddings", body);
        assert_eq!((st, v["error"].as_str().unwrap_or("")), (*status, *err), "embeddings {body}");
    }
    let (st, v) = post(addr, "/api/embeddings", &json!({"model": "minilm", "prompt": ""}));
    assert_eq!((st, v), (200, json!({"embedding": []})));
    let (st, raw) = post(addr, "/api/embeddings", &json!({"model": "minilm", "prompt": s1}));
    assert_eq!(st, 200);
    let raw = floats(&raw["embedding"]);
    assert!(cosine(&raw, &want1) >= 0.9999);
    assert!((norm(&raw) - norm(&want1)).abs() / norm(&want1) < 1e-3, "the raw pooled vector, not normalised");

    // /v1/embeddings: OpenAI's shape and errors.
    let openai_errors: &[(Value, u16, &str, &str)] = &[
        (json!({"model": "minilm"}), 400, "invalid input", "invalid_request_error"),
        (json!({"model": "minilm", "input": []}), 400, "invalid input", "invalid_request_error"),
        (json!({"model": "minilm", "input": [1, 2]}), 400, "invalid input type", "invalid_request_error"),
        (
            json!({"model": "minilm", "input": "x", "encoding_format": "hex"}),
            400,
            "Invalid value for 'encoding_format' = hex. Supported values: ['float', 'base64'].",
            "invalid_request_error",
        ),
        (json!({"model": "nope", "input": "x"}), 404, "model \"nope\" not found, try pulling it first", "not_found_error"),
    ];
    for (body, status, msg, kind) in openai_errors {
        let (st, v) = post(addr, "/v1/embeddings", body);
        assert_eq!(st, *status, "v1 {body}: {v}");
        assert_eq!(v["error"]["message"], *msg, "v1 {body}");
        assert_eq!(v["error"]["type"], *kind, "v1 {body}");
    }
    let (st, v) = post(addr, "/v1/embeddings", &json!({"model": "minilm", "input": [s1, s3]}));
    assert_eq!(st, 200, "{v}");
    assert_eq!((&v["object"], &v["model"], &v["data"][1]["index"]), (&json!("list"), &json!("minilm"), &json!(1)));
    assert_eq!(v["usage"], json!({"prompt_tokens": 20, "total_tokens": 20}));
    let f = floats(&v["data"][0]["embedding"]);
    assert!(cosine(&f, &want1) >= 0.9999);
    let (_, b64) = post(addr, "/v1/embeddings", &json!({"model": "minilm", "input": s1, "encoding_format": "base64"}));
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64["data"][0]["embedding"].as_str().unwrap()).unwrap();
    let decoded: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(decoded, f, "base64 is the little-endian f32 bytes of the float vector");

    // An embedding model refuses generate and chat as Ollama does.
    let (st, v) = post(addr, "/api/generate", &json!({"model": "minilm", "prompt": "hi"}));
    assert_eq!((st, v["error"].as_str().unwrap()), (400, "\"minilm\" does not support generate"));
    let (st, v) = post(addr, "/api/chat", &json!({"model": "minilm", "messages": [{"role": "user", "content": "hi"}]}));
    assert_eq!((st, v["error"].as_str().unwrap()), (400, "\"minilm\" does not support chat"));
}
