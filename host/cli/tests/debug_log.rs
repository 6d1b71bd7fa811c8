//! `OLLAMA_DEBUG`: `wollama serve` logs at debug level with it (the rendered prompt of each
//! chat, the model load and the request's timings, as Ollama logs them at debug) and at info
//! level without it, where none of that appears.

mod common;

use common::{cli, create_smollm2, start_with, stdout};

/// Serves with `debug` as OLLAMA_DEBUG, creates SmolLM2, chats once; returns the server's log.
fn log_of(debug: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let s = start_with(tempfile::tempdir().unwrap(), &[("OLLAMA_DEBUG", debug), ("RUST_LOG", "")], log.into());
    create_smollm2(&s, "PARAMETER num_predict 2\n");
    stdout(&cli(&s, &["run", "--keepalive", "0", "smollm2:135m", "Say hi to the debug log"]));
    drop(s);
    std::fs::read_to_string(&log_path).unwrap()
}

#[test]
fn ollama_debug_logs_prompts_and_timings_at_debug_level() {
    let debug = log_of("1");
    for want in [" DEBUG ", "chat request", "<|im_start|>user\nSay hi to the debug log<|im_end|>", "loading model", "request timings", "eval_count=2"] {
        assert!(debug.contains(want), "OLLAMA_DEBUG=1: {want:?} missing from the log:\n{debug}");
    }
    let quiet = log_of("");
    assert!(quiet.contains("POST    \"/api/chat\""), "the access log is there either way:\n{quiet}");
    for unwanted in ["DEBUG", "chat request", "Say hi to the debug log", "request timings"] {
        assert!(!quiet.contains(unwanted), "without OLLAMA_DEBUG: {unwanted:?} in the log:\n{quiet}");
    }
}
