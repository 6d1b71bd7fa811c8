//! The official `ollama` JS client (npm, pinned in tests/ollama-js, installed by
//! scripts/test.sh) under Node against real `wollama serve`s: tests/ollama-js/client.test.mjs
//! drives every endpoint the client exposes that wollama serves, pull and push included
//! (from a peer server, to an empty one) and embeddings (all-MiniLM-L6-v2 against its
//! reference vectors), streaming and not.

mod common;

use std::process::Command;

#[test]
fn the_ollama_js_client_works_against_wollama() {
    let dir = wollama_tests::repo_root().join("tests/ollama-js");
    assert!(dir.join("node_modules/ollama").exists(), "run `npm ci` in tests/ollama-js (scripts/test.sh does) first");
    let (s, peer, target) = (common::start(), common::start(), common::start());
    common::create_smollm2(&s, "");
    common::create_smollm2(&peer, "");
    let mf = tempfile::tempdir().unwrap();
    std::fs::write(mf.path().join("Modelfile"), format!("FROM {}\n", wollama_tests::model_path("minilm").display())).unwrap();
    common::stdout(&common::cli(&s, &["create", "minilm", "-f", mf.path().join("Modelfile").to_str().unwrap()]));
    let out = Command::new("node")
        .args(["--test", "client.test.mjs"])
        .current_dir(&dir)
        .env("OLLAMA_HOST", &s.host)
        .env("WOLLAMA_PEER", &peer.host)
        .env("WOLLAMA_TARGET", &target.host)
        .env("WOLLAMA_GOLDEN", wollama_tests::repo_root().join("tests/golden/minilm.json"))
        .env("WOLLAMA_DECODER_GOLDEN", wollama_tests::repo_root().join("tests/golden/decoder_embeddings.json"))
        .output()
        .expect("running node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the JS client checks failed");
    assert!(stdout.contains("# pass 12") && stdout.contains("# fail 0"), "expected 12 passing checks");
}
