//! `wollama pull`, `push` and `run` of a missing model between `wollama serve` processes on
//! loopback, each with its own temporary store.

mod common;

use common::{cli, create_smollm2, start, stdout};

fn stderr(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The statuses in order, each at most once per line.
fn assert_in_order(text: &str, want: &[&str]) {
    let mut at = 0;
    for w in want {
        let found = text[at..].find(w).unwrap_or_else(|| panic!("{w:?} missing after byte {at} in:\n{text}"));
        at += found + w.len();
    }
}

#[test]
fn pull_push_and_run_pull_between_servers() {
    let peer = start();
    create_smollm2(&peer, "PARAMETER temperature 0\nPARAMETER num_predict 4\n");
    let id = |s: &common::Server, name: &str| -> String {
        let list = stdout(&cli(s, &["list"]));
        let row = list.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} not in\n{list}"));
        row.split_whitespace().nth(1).unwrap().to_string()
    };
    let peer_id = id(&peer, "smollm2:135m");

    let local = start();
    let name = format!("{}/library/smollm2:135m", peer.host);
    let err = stderr(&cli(&local, &["pull", "--insecure", &name]));
    assert_in_order(&err, &["pulling manifest", "pulling ", "verifying sha256 digest", "writing manifest", "success"]);
    assert_eq!(id(&local, &name), peer_id, "the same model ID as the peer's");
    let only = stdout(&cli(&local, &["list", &peer.host]));
    assert_eq!(only.lines().count(), 2, "header and the one model under that prefix:\n{only}");
    assert_eq!(stdout(&cli(&local, &["ls", "nothing"])).lines().count(), 1);
    let shown = stdout(&cli(&local, &["show", "-v", &name]));
    assert!(shown.contains("  Metadata") && shown.contains("llama.block_count"), "{shown}");

    let o = cli(&local, &["pull", "--insecure", &format!("{}/library/missing:x", peer.host)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("Error: pull model manifest: file does not exist"));

    let target = start();
    let pushed = format!("{}/team/smollm2:v1", target.host);
    stdout(&cli(&local, &["cp", &name, &pushed]));
    let err = stderr(&cli(&local, &["push", "--insecure", &pushed]));
    assert_in_order(&err, &["retrieving manifest", "pushing ", "pushing manifest", "success"]);
    assert_eq!(id(&target, "team/smollm2:v1"), peer_id);

    // `run` of a model the server lacks pulls it, then answers with its parameters.
    let fresh = start();
    let o = cli(&fresh, &["run", "--insecure", "--verbose", "--keepalive", "0", &name, "Hi"]);
    let err = stderr(&o);
    assert_in_order(&err, &["pulling manifest", "success", "total duration:", "prompt eval count:", "eval count:    ", "eval rate:"]);
    assert!(err.contains("eval count:           4 token(s)"), "num_predict 4 from the peer's Modelfile: {err}");
    let answer = String::from_utf8_lossy(&o.stdout);
    assert!(!answer.trim().is_empty(), "no answer after the pull");
    assert_eq!(id(&fresh, &name), peer_id);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(stdout(&cli(&fresh, &["ps"])).lines().count(), 1, "--keepalive 0 unloaded it after the reply");
}
