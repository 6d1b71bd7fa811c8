//! `wollama bench` measures and reports every figure: with tiny sizes, one repetition and no
//! llama.cpp, each row of its Markdown table has a positive wollama number (not a timed test).

use std::process::Command;

use wollama_tests::model_path;

#[test]
fn bench_reports_every_figure_with_serve_tests_and_contention() {
    let out = Command::new(env!("CARGO_BIN_EXE_wollama"))
        .args(["bench", "--gguf"])
        .arg(model_path("smollm2"))
        .args(["--pp", "16", "--tg", "8", "--reps", "1", "--threads", "1", "--contention", "--markdown"])
        .env_remove("LLAMA_CPP_BIN")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| threads"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    for (threads, test, unit) in [
        ("1", "pp16", "t/s"),
        ("1", "tg8", "t/s"),
        ("1", "ttft", "ms"),
        ("1", "cold", "ms"),
        ("1", "rss", "MiB"),
        ("1", "tg8 busy", "t/s"),
        ("2", "tg8 busy", "t/s"),
        ("2/1", "tg8 busy", "x"),
    ] {
        let row = rows
            .iter()
            .find(|r| r[0] == threads && r[1] == test)
            .unwrap_or_else(|| panic!("no row {threads} {test} in\n{text}"));
        assert_eq!(row[2], unit, "{text}");
        let ours: f64 = row[3].parse().unwrap_or_else(|_| panic!("{test}: {:?} is not a number", row[3]));
        assert!(ours > 0.0 && ours.is_finite(), "{test}: {ours}\n{text}");
        assert_eq!(&row[4..], ["-", "-"], "no llama.cpp figures without --llama-cpp\n{text}");
    }
    assert!(text.contains("non-kernel share of a decode step"), "{text}");
    assert!(text.contains("rss = VmHWM") && text.contains("+ 64 MiB ="), "{text}");
    assert!(text.contains("2-thread / 1-thread: wollama"), "{text}");
}

#[test]
fn a_decode_test_of_one_token_is_refused_before_anything_runs() {
    // The first token comes from the prompt pass, so `--tg 1` would time no decode step.
    let out = Command::new(env!("CARGO_BIN_EXE_wollama"))
        .args(["bench", "--gguf"])
        .arg(model_path("smollm2"))
        .args(["--tg", "1", "--reps", "1", "--threads", "1", "--skip-serve"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("--tg") && err.contains("1 is not in 2.."), "{err}");
}

#[test]
fn gpu_bench_reports_prefill_decode_dispatches_and_server_figures() {
    let out = Command::new(env!("CARGO_BIN_EXE_wollama"))
        .args(["bench", "--gguf"])
        .arg(model_path("smollm2"))
        .args(["--device", "gpu", "--pp", "16", "--tg", "4", "--reps", "1", "--ctx", "256", "--markdown"])
        .env_remove("LLAMA_CPP_BIN")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("device: GPU "), "{text}");
    for (test, unit) in [("pp16", "t/s"), ("tg4", "t/s"), ("dispatches", "/tok"), ("ttft", "ms"), ("cold", "ms"), ("rss", "MiB")] {
        let row = text
            .lines()
            .map(|l| l.trim_matches('|').split('|').map(str::trim).collect::<Vec<_>>())
            .find(|r| r.len() > 3 && r[0] == "gpu" && r[1] == test)
            .unwrap_or_else(|| panic!("no row gpu {test} in\n{text}"));
        assert_eq!(row[2], unit, "{text}");
        let ours: f64 = row[3].parse().unwrap_or_else(|_| panic!("{test}: {:?} is not a number", row[3]));
        assert!(ours > 0.0 && ours.is_finite(), "{test}: {ours}\n{text}");
    }
}
