//! A `wollama serve` SIGKILLed in the middle of a blob upload or a `wollama create` leaves the
//! store as it was: no model appears half-made, and what an unfinished write left behind is
//! invisible and removed by the next start-up's prune once it is old.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{cli, create_smollm2, start_in, stdout, Server};
use sha2::{Digest, Sha256};
use wollama_tests::model_path;

/// Every file under the store, relative to it.
fn files(root: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// Makes every file under the store two hours old, as leftovers of a crash long ago are.
fn age(root: &Path) {
    let past = SystemTime::now() - Duration::from_secs(7200);
    for f in files(root) {
        std::fs::File::options().append(true).open(root.join(f)).unwrap().set_modified(past).unwrap();
    }
}

fn tags(s: &Server) -> String {
    stdout(&cli(s, &["list"])).lines().skip(1).map(|l| l.split_whitespace().next().unwrap().to_string()).collect::<Vec<_>>().join(",")
}

#[test]
fn a_killed_upload_or_create_leaves_the_store_as_it_was() {
    let s = common::start();
    create_smollm2(&s, "PARAMETER temperature 0\n");
    let before = files(s.store());
    assert_eq!(tags(&s), "smollm2:135m");

    // A blob upload cut off halfway by the server's death.
    let blob: Vec<u8> = (0..8u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let digest = format!("sha256:{:x}", Sha256::digest(&blob));
    let mut conn = std::net::TcpStream::connect(&s.host).unwrap();
    write!(conn, "POST /api/blobs/{digest} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n", s.host, blob.len()).unwrap();
    conn.write_all(&blob[..blob.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut store = s.kill();

    // `wollama create` of a second model (upload, then the manifest) killed at several points.
    let dir = tempfile::tempdir().unwrap();
    let mf = dir.path().join("Modelfile");
    std::fs::write(&mf, format!("FROM {}\nSYSTEM be brief\n", model_path("gemma3").display())).unwrap();
    let mut completed = false;
    for delay_ms in [0u64, 40, 120, 300, 600, 1200] {
        let s = start_in(store);
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_wollama"))
            .args(["create", "second", "-f", mf.to_str().unwrap()])
            .env("OLLAMA_HOST", &s.host)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        store = s.kill();
        let _ = child.wait_with_output();

        // All or nothing: the model is either absent, or whole and usable.
        let s = start_in(store);
        match tags(&s).as_str() {
            "smollm2:135m" => {}
            "second:latest,smollm2:135m" | "smollm2:135m,second:latest" => {
                completed = true;
                let show = stdout(&cli(&s, &["show", "second", "--system"]));
                assert_eq!(show.trim(), "be brief");
                assert!(cli(&s, &["rm", "second"]).status.success());
            }
            other => panic!("after a kill at {delay_ms} ms the store lists {other}"),
        }
        store = s.kill();
    }

    // What the unfinished writes left is pruned at start-up once old; the store is then
    // exactly what it was before them.
    let leftovers: BTreeSet<_> = files(store.path()).difference(&before).cloned().collect();
    age(store.path());
    let s = start_in(store);
    assert_eq!(files(s.store()), before, "left behind before the prune: {leftovers:?}");
    let out = stdout(&cli(&s, &["run", "smollm2:135m", "Say hi"]));
    assert!(!out.trim().is_empty());
    // The kills landed inside writes: the streamed upload left its temp file behind (and was
    // never published), so the prune had something to clean.
    assert!(leftovers.iter().any(|f| f.starts_with("blobs/.wollama-tmp-")), "{leftovers:?}");
    assert!(!leftovers.iter().any(|f| f.ends_with(&digest.replace(':', "-"))), "the cut-off blob was published");
    eprintln!("a create completed before its kill in some rounds: {completed}");
}
