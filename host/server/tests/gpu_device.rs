//! The server on a GPU device (lavapipe counts: `--device gpu`): models load there and report
//! their GPU bytes as `size_vram`, `num_gpu: 0` moves a model to the CPU and back, and a lost
//! device fails the model's request with a 500 and is replaced on the next one. These check the
//! plumbing, not the GPU kernels' output (the golden tests do that). The process shares one GPU
//! executor (`gpu_for`) and these tests lose it on purpose: they need nextest's process per
//! test (`scripts/test.sh`), not `cargo test`'s threads.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::http;
use serde_json::Value;
use wollama_runtime::{gpu_for, DeviceChoice, LimitOverride};
use wollama_server::SchedConfig;

fn gpu_server() -> common::Server {
    let sched = SchedConfig {
        threads: 1,
        gpu: Some(DeviceChoice::Gpu),
        default_keep_alive: Some(Duration::from_secs(300)),
        num_parallel: 1,
    };
    common::serve_with(true, 2, sched)
}

/// A short greedy generation: (status, body).
fn generate(s: &common::Server, options: &str) -> (u16, Value) {
    generate_with(s, "smollm2:135m", options)
}

fn generate_with(s: &common::Server, model: &str, options: &str) -> (u16, Value) {
    let body = format!(
        r#"{{"model": "{model}", "prompt": "Hi", "raw": true, "stream": false,
            "options": {{"num_predict": 2, "temperature": 0, "num_ctx": 256{options}}}}}"#
    );
    let (status, body) = http(s.addr, "POST", "/api/generate", Some(&body));
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")))
}

/// `/api/ps`'s one model's `size_vram`; a model on the GPU is there whole (`size` the same).
fn size_vram(s: &common::Server) -> u64 {
    let (status, body) = http(s.addr, "GET", "/api/ps", None);
    assert_eq!(status, 200, "{body}");
    let ps: Value = serde_json::from_str(&body).unwrap();
    let models = ps["models"].as_array().unwrap();
    assert_eq!(models.len(), 1, "{ps}");
    let vram = models[0]["size_vram"].as_u64().unwrap_or_else(|| panic!("size_vram is a number: {ps}"));
    let size = models[0]["size"].as_u64().unwrap();
    assert!(vram == 0 || vram == size, "{ps}");
    vram
}

/// The executor `--device gpu` loads on: the server runs in this process, so this is its own.
fn the_gpu() -> Arc<wollama_runtime::GpuExecutor> {
    gpu_for(DeviceChoice::Gpu, LimitOverride::default()).unwrap().expect("a GPU adapter (lavapipe counts)")
}

#[test]
fn gpu_models_load_on_the_device_and_num_gpu_0_moves_them_to_the_cpu() {
    let s = gpu_server();
    let (status, body) = generate(&s, "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["eval_count"], 2, "{body}");
    let vram = size_vram(&s);
    assert!(vram > 1 << 20, "the model's weights and KV cache are on the GPU: size_vram {vram}");

    // num_gpu 0 reloads it on the CPU: nothing on the GPU.
    let (status, body) = generate(&s, r#", "num_gpu": 0"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(size_vram(&s), 0);

    // Any other num_gpu (a layer count to Ollama) is the server's device again.
    let (status, body) = generate(&s, r#", "num_gpu": 99"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(size_vram(&s), vram);
}

#[test]
fn gpu_a_lost_device_fails_the_request_then_the_model_reloads_on_a_fresh_one() {
    let s = gpu_server();
    let (status, body) = generate(&s, "");
    assert_eq!(status, 200, "{body}");
    let before = the_gpu();

    before.device().simulate_loss();
    let (status, body) = generate(&s, "");
    assert_eq!(status, 500, "{body}");
    let message = body["error"].as_str().unwrap_or_else(|| panic!("Ollama's error shape: {body}"));
    assert!(message.contains("GPU device was lost"), "{message}");

    // The server is up, and the next request loads the model again on a new device.
    let (status, body) = generate(&s, "");
    assert_eq!(status, 200, "{body}");
    assert!(size_vram(&s) > 0);
    let after = the_gpu();
    assert!(!Arc::ptr_eq(&before, &after), "the lost device was replaced");
    assert!(!after.device().is_lost());

    // On /v1 the failure is in OpenAI's error shape.
    after.device().simulate_loss();
    // (The same num_ctx as `generate`, so the loaded model serves it rather than a new load.)
    let body = r#"{"model": "smollm2:135m", "prompt": "Hi", "max_tokens": 2, "temperature": 0, "options": {"num_ctx": 256}}"#;
    let (status, body) = http(s.addr, "POST", "/v1/completions", Some(body));
    assert_eq!(status, 500, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["type"], "api_error", "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("GPU device was lost")), "{body}");
    let (status, body) = generate(&s, "");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn gpu_a_device_lost_during_a_generation_fails_it_with_a_500() {
    let s = gpu_server();
    let (status, body) = generate(&s, "");
    assert_eq!(status, 200, "{body}");
    // A long generation (seconds on lavapipe), and the device lost while it runs.
    let addr = s.addr;
    let long = std::thread::spawn(move || {
        let body = r#"{"model": "smollm2:135m", "prompt": "Count to a thousand:", "raw": true, "stream": false,
            "options": {"num_predict": 2000, "temperature": 0, "num_ctx": 4096}}"#;
        http(addr, "POST", "/api/generate", Some(body))
    });
    std::thread::sleep(Duration::from_millis(1500));
    the_gpu().device().simulate_loss();
    let (mut status, mut body) = long.join().unwrap();
    if status == 200 {
        // It ended (an end-of-generation token) before the loss: the next request meets it.
        eprintln!("the long generation ended before the loss: {body}");
        let (st, b) = generate(&s, "");
        (status, body) = (st, b.to_string());
    }
    assert_eq!(status, 500, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert!(body["error"].as_str().is_some_and(|m| m.contains("GPU device was lost")), "{body}");

    let (status, body) = generate(&s, "");
    assert_eq!(status, 200, "{body}");
    assert!(size_vram(&s) > 0);
}

#[test]
fn gpu_a_modelfile_num_gpu_0_keeps_the_model_on_the_cpu_and_a_request_can_override_it() {
    let s = gpu_server();
    let create = r#"{"model": "smollm2-cpu", "from": "smollm2:135m", "parameters": {"num_gpu": 0}}"#;
    let (status, body) = http(s.addr, "POST", "/api/create", Some(create));
    assert_eq!(status, 200, "{body}");

    let (status, body) = generate_with(&s, "smollm2-cpu", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(size_vram(&s), 0, "PARAMETER num_gpu 0: the CPU");

    let (status, body) = generate_with(&s, "smollm2-cpu", r#", "num_gpu": 1"#);
    assert_eq!(status, 200, "{body}");
    assert!(size_vram(&s) > 0, "the request's num_gpu wins over the Modelfile's");
}
