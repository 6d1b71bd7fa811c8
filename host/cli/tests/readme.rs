//! The README's examples, run verbatim against a real `wollama serve` (only the address and
//! the binary's path are pointed at the test's): the curl lines for generate (streamed) and
//! chat, `wollama run`, and the Python `ollama` client's chat and streamed generate.

mod common;

use std::process::Command;

use serde_json::Value;

/// The README's fenced blocks of one language that talk to the default server.
fn readme_blocks(lang: &str) -> Vec<String> {
    let text = std::fs::read_to_string(wollama_tests::repo_root().join("README.md")).unwrap();
    let fence = format!("```{lang}\n");
    text.split(&fence)
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block.to_string()))
        .filter(|b| b.contains("smollm2:135m"))
        .collect()
}

#[test]
fn the_readme_examples_work_verbatim() {
    let s = common::start();
    // A 135M model sampled at Ollama's defaults can loop until the context is full (minutes on
    // one thread); a cap keeps the test's time bounded without changing what it checks.
    common::create_smollm2(&s, "PARAMETER num_predict 200\n");

    let sh = readme_blocks("sh").into_iter().find(|b| b.contains("/api/chat")).expect("the README's curl block");
    let script = sh
        .replace("127.0.0.1:11434", &s.host)
        .replace("~/.cache/wollama/target/release/wollama", env!("CARGO_BIN_EXE_wollama"));
    let out = Command::new("bash").args(["-euo", "pipefail", "-c", &script]).env("OLLAMA_HOST", &s.host).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    // curl prints the generate stream, then the chat answer, then `wollama run` its text.
    let mut values = serde_json::Deserializer::from_str(&stdout).into_iter::<Value>();
    let mut generated = String::new();
    loop {
        let v = values.next().expect("a generate chunk").unwrap();
        generated += v["response"].as_str().expect("a generate chunk");
        if v["done"] == true {
            assert!(v["done_reason"] == "stop" || v["done_reason"] == "length", "{v}");
            assert!(v["eval_count"].as_u64().unwrap() > 1);
            break;
        }
    }
    assert!(!generated.trim().is_empty());
    let chat = values.next().expect("the chat answer").unwrap();
    assert_eq!((&chat["done"], &chat["message"]["role"]), (&Value::Bool(true), &Value::from("assistant")), "{chat}");
    assert!(!chat["message"]["content"].as_str().unwrap().trim().is_empty());
    let haiku = stdout[values.byte_offset()..].trim();
    assert!(haiku.split_whitespace().count() >= 3, "{haiku:?}");

    let py = readme_blocks("python").into_iter().next().expect("the README's Python block");
    let out = Command::new("python3").args(["-c", &py]).env("OLLAMA_HOST", &s.host).output().expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.lines().filter(|l| !l.trim().is_empty()).count() >= 2, "{text:?}");
}
