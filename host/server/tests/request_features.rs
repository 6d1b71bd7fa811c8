//! What generate and chat ask of a model beyond completion, over HTTP against the real
//! SmolLM2: `suffix` and `images` are clear 400s for a text model, images must be standard
//! base64, and `_debug_render_only` returns the prompt the model would see (checked against
//! the transformers render recorded in the golden file), without generating.

mod common;

use serde_json::{json, Value};

async fn post(s: &common::Server, path: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new().post(s.url(path)).body(body.to_string()).send().await.unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_str(&r.text().await.unwrap()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suffix_images_and_debug_render() {
    let s = common::serve(true);
    let full = "registry.ollama.ai/library/smollm2:135m";
    let png = "iVBORw0KGgo=";
    // (path, request, status, error)
    let cases: &[(&str, Value, u16, String)] = &[
        ("/api/generate", json!({"model": "smollm2:135m", "prompt": "def f(", "suffix": "return 1"}), 400, format!("{full} does not support insert")),
        ("/api/generate", json!({"model": "smollm2:135m", "prompt": "What is this?", "images": [png]}), 400, format!("{full} does not support images")),
        ("/api/generate", json!({"model": "smollm2:135m", "prompt": "x", "images": [format!("data:image/png;base64,{png}")]}), 400, "illegal base64 data at input byte 4".into()),
        ("/api/generate", json!({"model": "nope", "prompt": "x", "images": [png]}), 404, "model 'nope' not found".into()),
        ("/api/generate", json!({"model": "smollm2:135m", "prompt": "x", "_debug_render_only": "yes"}), 400,
            "json: cannot unmarshal string into Go struct field GenerateRequest._debug_render_only of type bool".into()),
        ("/api/chat", json!({"model": "smollm2:135m", "messages": [{"role": "user", "content": "What is this?", "images": [png]}]}), 400, format!("{full} does not support images")),
        ("/api/chat", json!({"model": "smollm2:135m", "messages": [{"role": "user", "content": "x", "images": ["%%%"]}]}), 400, "illegal base64 data at input byte 0".into()),
    ];
    for (path, req, status, err) in cases {
        let (st, v) = post(&s, path, req).await;
        assert_eq!((st, v["error"].as_str().unwrap_or("")), (*status, err.as_str()), "{path} {req}");
    }

    let golden = wollama_tests::golden("smollm2");
    let case = golden["greedy"].as_array().unwrap().iter().find(|c| c["name"] == "chat_capital_of_france").unwrap();
    let question = case["messages"][0]["content"].as_str().unwrap();
    let want = case["prompt_text"].as_str().unwrap();
    let (st, v) = post(&s, "/api/generate", &json!({"model": "smollm2:135m", "prompt": question, "_debug_render_only": true})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["_debug_info"], json!({"rendered_template": want, "image_count": 0}));
    assert_eq!((&v["response"], &v["done"], v.get("eval_count")), (&json!(""), &json!(false), None), "no inference: {v}");
    let (st, v) = post(&s, "/api/chat", &json!({"model": "smollm2:135m", "messages": case["messages"], "_debug_render_only": true})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["_debug_info"]["rendered_template"], want);
    assert_eq!(v["message"], json!({"role": "assistant", "content": ""}));
    assert_eq!(v["done"], false);
}
