//! The official `ollama` JS client (npm, pinned in tests/ollama-js, installed by
//! scripts/test.sh) under Node against real `wollama serve`s: tests/ollama-js/client.test.mjs
//! drives every endpoint the client exposes that wollama serves, pull and push included
//! (from a peer server, to an empty one), streaming and not.

mod common;

use std::process::Command;

#[test]
fn the_ollama_js_client_works_against_wollama() {
    let dir = wollama_tests::repo_root().join("tests/ollama-js");
    assert!(dir.join("node_modules/ollama").exists(), "run `npm ci` in tests/ollama-js (scripts/test.sh does) first");
    let (s, peer, target) = (common::start(), common::start(), common::start());
    common::create_smollm2(&s, "");
    common::create_smollm2(&peer, "");
    let out = Command::new("node")
        .args(["--test", "client.test.mjs"])
        .current_dir(&dir)
        .env("OLLAMA_HOST", &s.host)
        .env("WOLLAMA_PEER", &peer.host)
        .env("WOLLAMA_TARGET", &target.host)
        .output()
        .expect("running node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the JS client checks failed");
    assert!(stdout.contains("# pass 10") && stdout.contains("# fail 0"), "expected 10 passing checks");
}
