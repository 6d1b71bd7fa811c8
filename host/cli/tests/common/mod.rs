//! A `wollama serve` on a free loopback port with a temporary store, for the CLI and client
//! tests.
#![allow(dead_code)]

use std::process::{Child, Command, Output};
use std::time::Duration;

use wollama_tests::model_path;

pub struct Server {
    child: Child,
    pub host: String,
    store: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn store(&self) -> &std::path::Path {
        self.store.as_ref().expect("store").path()
    }

    /// SIGKILLs the server (no clean-up runs) and hands back its store.
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.store.take().expect("store")
    }
}

pub fn start() -> Server {
    start_in(tempfile::tempdir().unwrap())
}

/// A server on an existing store.
pub fn start_in(store: tempfile::TempDir) -> Server {
    start_with(store, &[], std::process::Stdio::inherit())
}

/// A server with more environment, its stderr going to `stderr` (a log file, say).
pub fn start_with(store: tempfile::TempDir, env: &[(&str, &str)], stderr: std::process::Stdio) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let host = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_wollama"))
        .arg("serve")
        .env("OLLAMA_HOST", &host)
        .env("OLLAMA_MODELS", store.path())
        .env("WOLLAMA_THREADS", "1")
        .envs(env.iter().copied())
        .stderr(stderr)
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(&host).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, host, store: Some(store) }
}

pub fn cli(s: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wollama")).args(args).env("OLLAMA_HOST", &s.host).output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}


/// Creates `smollm2:135m` from the test GGUF through the CLI.
pub fn create_smollm2(s: &Server, params: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mf = dir.path().join("Modelfile");
    std::fs::write(&mf, format!("FROM {}\n{params}", model_path("smollm2").display())).unwrap();
    let o = cli(s, &["create", "smollm2:135m", "-f", mf.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Runs one of tests/python/*.py against the server; it prints "N passed, N failed".
pub fn python_checks(s: &Server, script: &str) {
    let path = wollama_tests::repo_root().join("tests/python").join(script);
    let out = Command::new("python3").arg(&path).env("OLLAMA_HOST", &s.host).output().expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{script} failed (scripts/test.sh installs its Python packages)");
    assert!(text.contains(" passed, 0 failed"), "{script} printed no summary");
}
