//! Compiled-component cache: compiling the guest with Cranelift takes a while; loading the
//! serialized machine code takes milliseconds. Keyed by the component's sha256 and the
//! wasmtime version, so a new guest or host never loads stale code.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

fn cache_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("WOLLAMA_CACHE") {
        return Some(PathBuf::from(d).join("components"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/wollama/components"))
}

pub fn load_or_compile(engine: &wasmtime::Engine, wasm: &[u8]) -> wasmtime::Result<Component> {
    let digest = hex(&Sha256::digest(wasm));
    let Some(dir) = cache_dir() else {
        return Component::new(engine, wasm);
    };
    let path = dir.join(format!("{}-wasmtime{}.cwasm", &digest[..16], env!("WASMTIME_VERSION")));
    if path.exists() {
        // SAFETY: the file was written by `precompile_component` of this same wasmtime
        // version for this same component (both are in the name); wasmtime also checks the
        // header and refuses an incompatible artifact.
        if let Ok(c) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok(c);
        }
    }
    let bytes = engine.precompile_component(wasm)?;
    // Best effort: a read-only cache only costs a recompile next time.
    if std::fs::create_dir_all(&dir).is_ok() {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, &bytes).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    // SAFETY: these bytes were just produced by this engine.
    unsafe { Component::deserialize(engine, &bytes) }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
