//! Shared helpers for the integration tests: model paths, golden files, a greedy runner.

use std::path::{Path, PathBuf};

use serde_json::Value;
use wollama_runtime::{EngineOptions, Event, Finish, Request, Runtime, Sampling, Session};

/// The cached test model; tests fail (never skip) when it is missing.
pub fn model_path(name: &str) -> PathBuf {
    let (var, file) = match name {
        "smollm2" => ("WOLLAMA_SMOLLM2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
        "gemma3" => ("WOLLAMA_GEMMA3", "gemma-3-270m-q4_k_m.gguf"),
        other => panic!("unknown test model {other}"),
    };
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("WOLLAMA_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/wollama"));
        cache.join("models").join(file)
    });
    assert!(path.exists(), "{} is missing: run scripts/fetch-models.sh {name}", path.display());
    path
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

pub fn golden(name: &str) -> Value {
    let p = repo_root().join("tests/golden").join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).expect("golden JSON")
}

pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array().expect("an id array").iter().map(|x| x.as_u64().expect("an id") as u32).collect()
}

pub fn open(name: &str, threads: usize) -> Session {
    let rt = Runtime::new().expect("runtime");
    rt.open(&model_path(name), threads).expect("open model")
}

pub fn greedy() -> Sampling {
    Sampling {
        temperature: 0.0,
        top_k: 1,
        top_p: 1.0,
        min_p: 0.0,
        typical_p: 1.0,
        repeat_penalty: 1.0,
        repeat_last_n: 0,
        presence_penalty: 0.0,
        frequency_penalty: 0.0,
        seed: Some(0),
    }
}

pub fn request(prompt: Vec<u32>, sampling: Sampling, num_predict: i32) -> Request {
    Request { prompt, sampling, num_predict, stop: vec![], stop_at_eog: true }
}

pub fn start(s: &mut Session, slots: u32, ctx: u32) {
    s.start_engine(EngineOptions { max_slots: slots, ctx_cells: ctx, batch_tokens: 256 }).expect("engine");
}

/// What one request produced.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub ids: Vec<u32>,
    pub text: String,
    pub finish: Option<Finish>,
}

/// Submits every request at once and steps the engine until all are done.
pub fn run_all(s: &mut Session, reqs: &[Request]) -> Vec<Output> {
    let ids: Vec<u64> = reqs.iter().map(|r| s.submit(r).expect("submit")).collect();
    let mut outs = vec![Output::default(); reqs.len()];
    let mut done = 0;
    while done < reqs.len() {
        let events = s.step().expect("step").expect("engine idle with requests pending");
        for e in events {
            match e {
                Event::Token((id, tok, text)) => {
                    let i = ids.iter().position(|&x| x == id).expect("known id");
                    outs[i].ids.push(tok);
                    outs[i].text += &text;
                }
                Event::Done((id, f)) => {
                    let i = ids.iter().position(|&x| x == id).expect("known id");
                    outs[i].finish = Some(f);
                    done += 1;
                }
                Event::Failed((id, m)) => panic!("request {id} failed: {m}"),
            }
        }
    }
    outs
}
