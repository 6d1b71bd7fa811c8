//! Chat (decoder) models embed over real HTTP, as Ollama lets any model do: `/api/embed`
//! (L2-normalised), `/api/embeddings` (raw) and `/v1/embeddings` for SmolLM2 and Gemma 3
//! against llama.cpp's `--pooling last` vectors (tests/golden/decoder_embeddings.json),
//! truncation and its error, and a generation streaming on the same model while embeddings
//! share its passes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wollama_server::SchedConfig;
use wollama_tests::{cosine, decoder_golden, decoder_tolerance, http, max_abs_diff, model_path, unit};

/// Two parallel slots, so an embedding and a generation run side by side.
fn start() -> (SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let sched = SchedConfig { threads: 2, gpu: None, default_keep_alive: Some(std::time::Duration::from_secs(300)), num_parallel: 2 };
    (wollama_server::spawn_on_free_port(dir.path().to_path_buf(), sched, 2), dir)
}

fn post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let (st, text) = http(addr, "POST", path, body.to_string().as_bytes());
    let v = text.lines().last().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).unwrap_or(Value::Null);
    (st, v)
}

/// Uploads the test model's GGUF and creates `name` from it.
fn create(addr: SocketAddr, name: &str, model: &str) {
    let bytes = std::fs::read(model_path(model)).unwrap();
    let digest = format!("sha256:{:x}", Sha256::digest(&bytes));
    let (st, body) = http(addr, "POST", &format!("/api/blobs/{digest}"), &bytes);
    assert!(st == 201 || st == 200, "upload: {st} {body}");
    let (st, v) = post(addr, "/api/create", &json!({"model": name, "files": {"model.gguf": digest}, "stream": false}));
    assert_eq!((st, v), (200, json!({"status": "success"})), "create {name}");
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap_or_else(|| panic!("a vector: {v}")).iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt()
}

#[test]
fn chat_models_embed_as_llama_cpp_pools_their_last_token() {
    let (addr, _dir) = start();
    for model in ["smollm2", "gemma3"] {
        create(addr, model, model);
        let golden = decoder_golden(model);
        let (min_cos, max_diff) = decoder_tolerance(model);
        let texts: Vec<&str> = golden.iter().map(|g| g.text.as_str()).collect();

        // /api/embed: every input in one call, each L2-normalised, close to llama.cpp's.
        let (st, e) = post(addr, "/api/embed", &json!({"model": model, "input": texts}));
        assert_eq!(st, 200, "{model}: {e}");
        let tokens: usize = golden.iter().map(|g| g.ids.len()).sum();
        assert_eq!(e["prompt_eval_count"], tokens, "{model}: llama-server's token count (BOS as it adds it)");
        let vectors: Vec<Vec<f32>> = e["embeddings"].as_array().unwrap().iter().map(floats).collect();
        assert_eq!(vectors.len(), golden.len());
        for (v, g) in vectors.iter().zip(&golden) {
            assert!((norm(v) - 1.0).abs() < 1e-5, "{model}: normalised");
            let (cos, diff) = (cosine(v, &g.vector), max_abs_diff(v, &unit(&g.vector)));
            eprintln!("{model} /api/embed {:>3} tokens: cosine {cos:.7}, max diff {diff:.2e}", g.ids.len());
            assert!(cos >= min_cos && diff <= max_diff, "{model}: {:?} is off llama.cpp's vector", g.text);
        }

        // dimensions: cut, then normalised again.
        let (_, cut) = post(addr, "/api/embed", &json!({"model": model, "input": texts[0], "dimensions": 64}));
        let cut = floats(&cut["embeddings"][0]);
        assert_eq!(cut.len(), 64);
        assert!((norm(&cut) - 1.0).abs() < 1e-5 && cosine(&cut, &vectors[0][..64]) > 0.99999);

        // /api/embeddings: the same direction, not normalised: llama.cpp's raw vector, whose
        // length (40-100 here) is within a few percent of the reference's.
        let (st, raw) = post(addr, "/api/embeddings", &json!({"model": model, "prompt": texts[0]}));
        assert_eq!(st, 200, "{model}: {raw}");
        let raw = floats(&raw["embedding"]);
        let want = norm(&golden[0].vector);
        assert!((norm(&raw) - want).abs() / want < 0.05, "{model}: norm {} vs {want}", norm(&raw));
        assert!(cosine(&raw, &vectors[0]) >= 0.999_999, "{model}: the direction /api/embed gives");

        // /v1/embeddings: OpenAI's shape over the same vectors.
        let (st, v1) = post(addr, "/v1/embeddings", &json!({"model": model, "input": [texts[1]]}));
        assert_eq!(st, 200, "{model}: {v1}");
        assert_eq!(v1["usage"]["prompt_tokens"], golden[1].ids.len());
        assert!(cosine(&floats(&v1["data"][0]["embedding"]), &vectors[1]) >= 0.999_999);
    }

    // Truncation keeps the head (BOS included) within num_ctx, or refuses as Ollama does.
    let para = &decoder_golden("gemma3")[2];
    let body = |truncate: bool| json!({"model": "gemma3", "input": para.text, "truncate": truncate, "options": {"num_ctx": 32}});
    let (st, v) = post(addr, "/api/embed", &body(false));
    assert_eq!((st, v["error"].as_str().unwrap_or("")), (400, "the input length exceeds the context length"));
    let (st, v) = post(addr, "/api/embed", &body(true));
    assert_eq!((st, &v["prompt_eval_count"]), (200, &json!(32)), "{v}");
    assert!((norm(&floats(&v["embeddings"][0])) - 1.0).abs() < 1e-5);
}

/// A streamed `/api/generate`: its NDJSON lines as they arrive, over a raw connection.
struct Stream {
    reader: BufReader<TcpStream>,
}

impl Stream {
    fn open(addr: SocketAddr, body: &Value) -> Stream {
        let mut s = TcpStream::connect(addr).unwrap();
        let body = body.to_string();
        let head = format!(
            "POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).and_then(|_| s.write_all(body.as_bytes())).unwrap();
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
            line.clear();
        }
        Stream { reader }
    }

    /// The next chunk of the chunked body (one NDJSON line per chunk), None at the end.
    fn next(&mut self) -> Option<Value> {
        let mut size = String::new();
        self.reader.read_line(&mut size).unwrap();
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            return None;
        }
        let mut chunk = vec![0; n + 2];
        self.reader.read_exact(&mut chunk).unwrap();
        Some(serde_json::from_slice(&chunk[..n]).unwrap())
    }
}

#[test]
fn a_generation_beside_embeddings_on_the_same_model_is_unchanged() {
    let (addr, _dir) = start();
    create(addr, "smollm2", "smollm2");
    let golden = decoder_golden("smollm2");
    let gen = |stream: bool| {
        json!({"model": "smollm2", "prompt": "Why is the sky blue?", "stream": stream,
               "options": {"temperature": 0, "num_predict": 96}})
    };
    let (st, alone) = post(addr, "/api/generate", &gen(false));
    assert_eq!(st, 200, "{alone}");
    let texts: Vec<&str> = golden.iter().map(|g| g.text.as_str()).collect();
    let (_, embed_alone) = post(addr, "/api/embed", &json!({"model": "smollm2", "input": texts}));

    // The generation is under way (its first token is out) when the embeddings start.
    let mut stream = Stream::open(addr, &gen(true));
    let mut text = stream.next().unwrap()["response"].as_str().unwrap().to_string();
    let reader = std::thread::spawn(move || {
        let mut last = Value::Null;
        while let Some(v) = stream.next() {
            text += v["response"].as_str().unwrap_or("");
            last = v;
        }
        (text, last, Instant::now())
    });
    let (st, embedded) = post(addr, "/api/embed", &json!({"model": "smollm2", "input": texts}));
    let embedded_at = Instant::now();
    let (text, last, done_at) = reader.join().unwrap();
    assert_eq!(st, 200, "{embedded}");
    assert!(embedded_at < done_at, "the embeddings finished while the generation ran");
    assert_eq!(last["done"], true);
    assert_eq!(last["eval_count"], alone["eval_count"]);
    assert_eq!(text, alone["response"].as_str().unwrap(), "the greedy text is what it is alone");
    assert_eq!(embedded["embeddings"], embed_alone["embeddings"], "the vectors are what they are alone");
}
