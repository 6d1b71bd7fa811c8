//! `wollama create NAME -f Modelfile` with `FROM` a safetensors directory (all-MiniLM-L6-v2),
//! then the official `ollama` and `openai` Python clients (installed by scripts/test.sh)
//! embedding through `wollama serve`, with it and with the chat model SmolLM2:
//! tests/python/embed_clients.py.

mod common;

use std::process::Command;

#[test]
fn create_from_a_safetensors_directory_then_embed_with_the_python_clients() {
    let s = common::start();
    let dir = tempfile::tempdir().unwrap();
    let mf = dir.path().join("Modelfile");
    std::fs::write(&mf, format!("FROM {}\n", wollama_tests::model_path("minilm").display())).unwrap();
    let o = common::cli(&s, &["create", "minilm", "-f", mf.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("converting model") && err.contains("success"), "{err}");
    let list = common::stdout(&common::cli(&s, &["list"]));
    assert!(list.contains("minilm:latest"), "{list}");
    common::create_smollm2(&s, "");

    let script = wollama_tests::repo_root().join("tests/python/embed_clients.py");
    let out = Command::new("python3")
        .arg(&script)
        .env("OLLAMA_HOST", &s.host)
        .env("WOLLAMA_GOLDEN", wollama_tests::repo_root().join("tests/golden/minilm.json"))
        .env("WOLLAMA_DECODER_GOLDEN", wollama_tests::repo_root().join("tests/golden/decoder_embeddings.json"))
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the Python client checks failed (scripts/test.sh installs ollama and openai)");
    assert!(text.contains(" passed, 0 failed"));
}
