//! The HTTP commands against a real `wollama serve` on a free loopback port with a temporary
//! store: create from a Modelfile (blob upload), list, show, run, ps, cp, rm, stop.

mod common;

use std::time::Duration;

use common::{cli, start, stdout};
use wollama_tests::{golden, model_path};

#[test]
fn create_list_show_run_ps_cp_rm_stop() {
    let s = start();
    let dir = tempfile::tempdir().unwrap();
    let mf = dir.path().join("Modelfile");
    std::fs::write(
        &mf,
        format!("FROM {}\nPARAMETER temperature 0\nPARAMETER num_predict 8\n", model_path("smollm2").display()),
    )
    .unwrap();
    let o = cli(&s, &["create", "smollm2:135m", "-f", mf.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("writing manifest") && err.trim_end().ends_with("success"), "{err}");

    let list = stdout(&cli(&s, &["list"]));
    let mut lines = list.lines();
    assert!(lines.next().unwrap().starts_with("NAME"));
    let row = lines.next().unwrap();
    assert!(row.starts_with("smollm2:135m") && row.contains("98 MB"), "{row}");

    let show = stdout(&cli(&s, &["show", "smollm2:135m"]));
    assert!(show.contains("architecture        llama") && show.contains("quantization        Q4_1"), "{show}");
    assert!(stdout(&cli(&s, &["show", "smollm2:135m", "--parameters"])).contains("num_predict"));

    // One-shot run: greedy from the Modelfile; the text is llama.cpp's first tokens.
    let g = golden("smollm2");
    let case = g["greedy"].as_array().unwrap().iter().find(|c| c["name"] == "chat_python_sum").unwrap();
    let prompt = case["messages"][0]["content"].as_str().unwrap();
    let out = stdout(&cli(&s, &["run", "smollm2:135m", prompt]));
    let want = case["generated_text"].as_str().unwrap();
    assert!(out.trim_end().len() > 5 && want.starts_with(out.trim_end()), "{out:?} vs {want:?}");

    let ps = stdout(&cli(&s, &["ps"]));
    assert!(ps.lines().nth(1).unwrap().starts_with("smollm2:135m") && ps.contains("100% CPU"), "{ps}");

    assert_eq!(stdout(&cli(&s, &["cp", "smollm2:135m", "copy"])).trim(), "copied 'smollm2:135m' to 'copy'");
    assert_eq!(stdout(&cli(&s, &["rm", "copy"])).trim(), "deleted 'copy'");
    let o = cli(&s, &["rm", "copy"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("model 'copy' not found"));

    stdout(&cli(&s, &["stop", "smollm2:135m"]));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(stdout(&cli(&s, &["ps"])).lines().count(), 1, "only the header after stop");
    let o = cli(&s, &["stop", "smollm2:135m"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("couldn't find model \"smollm2:135m\" to stop"));
}

#[test]
fn interactive_run_with_set_parameter_multiline_and_bye() {
    use std::io::Write as _;
    let s = start();
    common::create_smollm2(&s, "");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wollama"))
        .args(["run", "smollm2:135m"])
        .env("OLLAMA_HOST", &s.host)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"/set parameter temperature 0\n/set parameter num_predict 3\n\"\"\"What is\nthe capital of France?\"\"\"\n/show\n/bye\nnever sent\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Set parameter 'temperature' to '0'"), "{err}");
    assert!(text.contains("architecture        llama"), "/show printed nothing: {text}");
    // One answer of at most three tokens, then /show, then nothing after /bye.
    let answer = text.lines().next().unwrap();
    assert!(!answer.is_empty() && answer.split_whitespace().count() <= 3, "{answer:?}");
}
