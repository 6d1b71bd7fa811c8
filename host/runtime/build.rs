//! Builds the guest component for wasm32-wasip2 with the workspace's own cargo, so the host
//! always embeds the guest built from the sources next to it. A separate target dir avoids
//! the lock the outer build holds; host-only flags (target-cpu=native) are kept away from it.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.join("../..").canonicalize().unwrap();
    for p in ["guest/src", "guest/Cargo.toml", "plan/src", "plan/Cargo.toml", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=WOLLAMA_GUEST_WASM");
    // Checkouts sharing one target dir get the same build-script fingerprint, which records
    // the paths of whichever checkout built last; the scripts export a hash of the guest's
    // sources so a different guest always rebuilds (see scripts/guest-stamp.sh).
    println!("cargo:rerun-if-env-changed=WOLLAMA_GUEST_STAMP");

    // The compiled-component cache is keyed by the wasmtime version, read from the lock file.
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"wasmtime\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=WASMTIME_VERSION={version}");

    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let dest = out.join("wollama_guest.wasm");
    // A prebuilt component may be supplied (e.g. to test a different guest build).
    if let Ok(prebuilt) = env::var("WOLLAMA_GUEST_WASM") {
        std::fs::copy(&prebuilt, &dest).unwrap_or_else(|e| panic!("copying {prebuilt}: {e}"));
        println!("cargo:rustc-env=WOLLAMA_GUEST_COMPONENT={}", dest.display());
        return;
    }

    let target_dir = out.join("guest-target");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "--locked", "-p", "wollama-guest", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(&target_dir);
    for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET"] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("running cargo to build the guest component");
    if !status.success() {
        panic!("building the guest component (wasm32-wasip2) failed; is the target installed? `rustup target add wasm32-wasip2`");
    }
    let built = target_dir.join("wasm32-wasip2/release/wollama_guest.wasm");
    std::fs::copy(&built, &dest).unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
    println!("cargo:rustc-env=WOLLAMA_GUEST_COMPONENT={}", dest.display());
}
