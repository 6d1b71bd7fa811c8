//! The component runs outside wasmtime: jco transpiles it and Node runs tokenize, detokenize
//! and template rendering (tests/node/guest.test.mjs). Needs node and `npm ci` in tests/node
//! (the test script does both).

use std::process::Command;

use wollama_tests::{model_path, repo_root};

#[test]
fn the_guest_runs_under_node_via_jco() {
    let dir = repo_root().join("tests/node");
    assert!(
        dir.join("node_modules/@bytecodealliance/jco").exists(),
        "run `npm ci --prefix tests/node` (scripts/test.sh does) before this test"
    );
    let wasm = std::env::temp_dir().join(format!("wollama-guest-{}.wasm", std::process::id()));
    std::fs::write(&wasm, wollama_runtime::GUEST_COMPONENT).unwrap();
    let out = Command::new("node")
        .arg("--test")
        .arg("guest.test.mjs")
        .current_dir(&dir)
        .env("WOLLAMA_COMPONENT", &wasm)
        .env("WOLLAMA_SMOLLM2", model_path("smollm2"))
        .env("WOLLAMA_GOLDEN", repo_root().join("tests/golden/smollm2.json"))
        .output()
        .expect("running node (is Node.js installed?)");
    let _ = std::fs::remove_file(&wasm);
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the Node tests failed");
    assert!(stdout.contains("# pass 4"), "expected 4 passing Node tests");
}
