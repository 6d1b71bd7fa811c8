//! The official `ollama` Python client (PyPI, installed by scripts/test.sh) against a real
//! `wollama serve`: tests/python/ollama_client.py drives every endpoint it exposes that the
//! server has so far (pull from a peer server and push to an empty one included), streaming
//! and not, with assertions on its typed results.

mod common;

use std::process::Command;

#[test]
fn the_ollama_python_client_works_against_wollama() {
    let (s, peer, target) = (common::start(), common::start(), common::start());
    common::create_smollm2(&s, "");
    common::create_smollm2(&peer, "");
    let script = wollama_tests::repo_root().join("tests/python/ollama_client.py");
    let out = Command::new("python3")
        .arg(&script)
        .env("OLLAMA_HOST", &s.host)
        .env("WOLLAMA_PEER", &peer.host)
        .env("WOLLAMA_TARGET", &target.host)
        .env("WOLLAMA_SMOLLM2", wollama_tests::model_path("smollm2"))
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the Python client checks failed (is `ollama` installed? scripts/test.sh installs it)");
    assert!(text.contains(" passed, 0 failed"));
}
