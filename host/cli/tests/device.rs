//! `--device` without the GPU it asks for: `WGPU_BACKEND=dx12` leaves wgpu no adapter on
//! Linux, as a machine without any GPU driver would.

use std::process::Command;

fn wollama() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wollama"));
    c.env("WGPU_BACKEND", "dx12");
    c
}

#[test]
fn the_gpu_info_command_without_an_adapter_says_so_and_fails() {
    let out = wollama().arg("gpu-info").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("no GPU adapter"), "{err}");
}

#[test]
fn serve_device_gpu_without_an_adapter_fails_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = wollama()
        .args(["serve", "--device", "gpu"])
        .env("OLLAMA_HOST", "127.0.0.1:0")
        .env("OLLAMA_MODELS", dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("--device gpu") && err.contains("no GPU adapter"), "{err}");
}

#[test]
fn serve_device_auto_without_a_hardware_adapter_runs_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = wollama()
        .args(["serve"])
        .env("WOLLAMA_DEVICE", "auto")
        .env("OLLAMA_HOST", "127.0.0.1:0")
        .env("OLLAMA_MODELS", dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains("listening") {
        use std::io::Read;
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "serve stopped: {text}");
        text += &String::from_utf8_lossy(&buf[..n]);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(text.contains("on the CPU") && text.contains("no hardware GPU adapter"), "{text}");
}

#[test]
fn an_unknown_device_is_refused() {
    let out = wollama().args(["serve", "--device", "tpu"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("unknown device \"tpu\""), "{err}");
}
