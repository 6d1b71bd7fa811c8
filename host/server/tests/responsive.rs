//! The async handlers never wait on a model's engine thread: while one request's long prompt
//! is prefilled (one engine step of seconds), another generate request that needs the engine
//! (template features, render, tokenize, submit) must not hold the runtime's only worker, so
//! `/api/version`, `/api/tags` and `/api/ps` still answer before the long request's first token.
//!
//! Why the second request: the three probes never call the engine themselves, so they are
//! only late when some handler blocks a worker on an engine reply; that handler's first call
//! lands in the middle of the prefill step and, were it a blocking receive, it would hold the
//! worker until the step (and with it the first token) is over.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

/// One model load for every request: the whole prompt is one batch, so one long step.
fn options() -> serde_json::Value {
    json!({ "num_ctx": 2048, "num_batch": 2048, "temperature": 0, "num_predict": 2 })
}

#[test]
fn probes_answer_during_a_long_prefill() {
    let s = common::serve_on(true, 1);
    let addr = s.addr;
    // Load the model, and read the store's capabilities once, before the clock matters.
    let load = json!({ "model": "smollm2:135m", "prompt": "", "options": options() }).to_string();
    assert_eq!(common::http(addr, "POST", "/api/generate", Some(&load)).0, 200);
    assert_eq!(common::http(addr, "GET", "/api/tags", None).0, 200);

    // About 1600 tokens, raw: one prefill step of seconds on one engine thread.
    let prompt = "The quick brown fox jumps over the lazy dog. ".repeat(160);
    let long = json!({ "model": "smollm2:135m", "prompt": prompt, "raw": true, "stream": true, "options": options() }).to_string();
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let streamed = std::thread::spawn(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        write!(
            c,
            "POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{long}",
            long.len()
        )
        .unwrap();
        // The first NDJSON line is the first token's chunk.
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = c.read(&mut buf).unwrap();
            assert!(n > 0, "the stream ended before its first chunk: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if text.split_once("\r\n\r\n").is_some_and(|(_, body)| body.contains("}\n")) {
                break;
            }
        }
        first_tx.send(Instant::now()).unwrap();
        c.read_to_end(&mut got).unwrap();
        String::from_utf8_lossy(&got).into_owned()
    });

    // The long request is in its prefill step; a second one now asks the engine for things.
    std::thread::sleep(Duration::from_millis(500));
    let short = json!({ "model": "smollm2:135m", "prompt": "Hello", "stream": false, "options": options() }).to_string();
    let second = std::thread::spawn(move || common::http(addr, "POST", "/api/generate", Some(&short)));
    std::thread::sleep(Duration::from_millis(200));

    let sent = Instant::now();
    let probes: Vec<_> = ["/api/version", "/api/tags", "/api/ps"]
        .into_iter()
        .map(|path| {
            std::thread::spawn(move || {
                let (status, body) = common::http(addr, "GET", path, None);
                assert_eq!(status, 200, "{path}: {body}");
                (path, Instant::now())
            })
        })
        .collect();
    let answered: Vec<_> = probes.into_iter().map(|p| p.join().unwrap()).collect();
    let first = first_rx.recv().unwrap();
    let body = streamed.join().unwrap();
    assert!(body.contains("\"done\":true"), "{body}");
    let (status, body) = second.join().unwrap();
    assert_eq!(status, 200, "{body}");

    assert!(first > sent, "the prefill ended {:?} before the probes went out: the prompt is too short to test", sent - first);
    for (path, at) in answered {
        assert!(
            at < first,
            "{path} answered {:?} after the long request's first token (probes sent {:?} before it)",
            at - first,
            first - sent
        );
    }
}
