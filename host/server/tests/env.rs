//! The environment of Ollama's envconfig that shapes scheduling, over HTTP against the real
//! SmolLM2 (its own test binary, so the variables reach no other test):
//! OLLAMA_CONTEXT_LENGTH, OLLAMA_MAX_LOADED_MODELS and OLLAMA_MAX_QUEUE.

mod common;

use serde_json::{json, Value};

async fn post(s: &common::Server, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new().post(s.url(path)).body(body.to_string()).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

async fn loaded(s: &common::Server) -> Vec<(String, u64)> {
    let v: Value = serde_json::from_str(&reqwest::get(s.url("/api/ps")).await.unwrap().text().await.unwrap()).unwrap();
    v["models"].as_array().unwrap().iter().map(|m| (m["name"].as_str().unwrap().to_string(), m["context_length"].as_u64().unwrap())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_length_max_loaded_models_and_max_queue() {
    std::env::set_var("OLLAMA_CONTEXT_LENGTH", " \"1024\" ");
    std::env::set_var("OLLAMA_MAX_LOADED_MODELS", "1");
    std::env::set_var("OLLAMA_MAX_QUEUE", "0");
    let s = common::serve(true);
    assert_eq!(post(&s, "/api/copy", json!({"source": "smollm2:135m", "destination": "other"})).await.0, 200);

    // num_ctx: the environment's unless the request sets one.
    let (st, _) = post(&s, "/api/generate", json!({"model": "smollm2:135m"})).await;
    assert_eq!(st, 200);
    assert_eq!(loaded(&s).await, [("smollm2:135m".to_string(), 1024)]);
    // A second model replaces the first: only one may be loaded.
    let (st, _) = post(&s, "/api/generate", json!({"model": "other", "options": {"num_ctx": 512}})).await;
    assert_eq!(st, 200);
    assert_eq!(loaded(&s).await, [("other:latest".to_string(), 512)]);

    // With no queue, a request for a model busy with another waits for nothing: 503.
    let long = json!({"model": "other", "prompt": "Count to a thousand.", "options": {"num_ctx": 512, "num_predict": 400}});
    let mut first = reqwest::Client::new().post(s.url("/api/generate")).body(long.to_string()).send().await.unwrap();
    assert!(first.chunk().await.unwrap().is_some(), "the first request streams");
    let (st, v) = post(&s, "/api/generate", json!({"model": "other", "prompt": "Hi", "options": {"num_ctx": 512}})).await;
    assert_eq!((st, v["error"].as_str().unwrap()), (503, wollama_server::SERVER_BUSY));
    drop(first);
    // Once the first client is gone its generation stops and the model takes requests again.
    let mut answered = None;
    for _ in 0..100 {
        let (st, v) = post(&s, "/api/generate", json!({"model": "other", "prompt": "Hi", "stream": false, "options": {"num_ctx": 512, "num_predict": 2}})).await;
        if st == 200 {
            answered = Some(v);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(answered.expect("the model stayed busy")["eval_count"], 2);
}
