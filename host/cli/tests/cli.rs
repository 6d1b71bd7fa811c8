//! The `wollama` command end to end: tokenizer goldens through `tokenize`'s stdin mode (the
//! whole corpus in one process), and greedy `generate` against llama.cpp's text.

use std::io::Write;
use std::process::{Command, Stdio};

use wollama_tests::{golden, ids, model_path};

fn wollama() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wollama"))
}

fn tokenize_all(model: &str, texts: &[String], special: bool) -> Vec<Vec<u32>> {
    let mut cmd = wollama();
    cmd.args(["tokenize", "--gguf"]).arg(model_path(model)).args(["--threads", "1"]);
    cmd.arg("--add-special");
    if special {
        cmd.arg("--special");
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for t in texts {
            writeln!(stdin, "{}", serde_json::to_string(t).unwrap()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Vec<u32>>(l).unwrap())
        .collect()
}

#[test]
fn tokenize_matches_llama_cpp_for_every_golden_string() {
    let g = golden("smollm2");
    let cases = g["tokenize"].as_array().unwrap();
    let texts: Vec<String> = cases.iter().map(|c| c["text"].as_str().unwrap().to_string()).collect();
    let got = tokenize_all("smollm2", &texts, false);
    assert_eq!(got.len(), texts.len());
    for (c, ids_got) in cases.iter().zip(&got) {
        assert_eq!(ids_got, &ids(&c["ids_add_special"]), "text {:?}", c["text"]);
    }
    let sc = &g["special_tokens_case"];
    let text = sc["text"].as_str().unwrap().to_string();
    assert_eq!(tokenize_all("smollm2", std::slice::from_ref(&text), true)[0], ids(&sc["ids_parse_special"]));
    assert_eq!(tokenize_all("smollm2", &[text], false)[0], ids(&sc["ids_no_parse_special"]));
}

#[test]
fn tokenize_one_text_prints_one_array() {
    let out = wollama()
        .args(["tokenize", "--gguf"])
        .arg(model_path("smollm2"))
        .arg("Hello, world!")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "[19556,28,905,17]");
}

#[test]
fn greedy_generate_prints_llama_cpp_text_where_there_is_no_near_tie() {
    let g = golden("smollm2");
    let mut compared = 0;
    for case in g["greedy"].as_array().unwrap() {
        let margins = case["top1_minus_top2_margin_per_step"].as_array().unwrap();
        if margins.iter().any(|m| m.as_f64().unwrap() < 0.1) {
            continue;
        }
        let out = wollama()
            .args(["generate", "--gguf"])
            .arg(model_path("smollm2"))
            .args(["--temperature", "0", "--repeat-penalty", "1", "--num-predict", "64", "--prompt"])
            .arg(case["prompt_text"].as_str().unwrap())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.strip_suffix('\n').unwrap(), case["generated_text"].as_str().unwrap());
        compared += 1;
    }
    assert!(compared > 0, "no golden case without a near-tie");
}

#[test]
fn a_missing_model_is_a_clear_error() {
    let out = wollama().args(["tokenize", "--gguf", "/nonexistent.gguf", "x"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.gguf"));
}
