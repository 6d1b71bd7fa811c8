//! Broken model files give clear errors, never a panic in the host or a trap in the guest.

use std::io::Write;

use wollama_runtime::{EngineOptions, Error, Runtime};
use wollama_tests::*;

fn write_temp(bytes: &[u8], name: &str) -> tempfile_path::TempPath {
    tempfile_path::TempPath::new(name, bytes)
}

/// A minimal temp-file helper (no extra crate): removed on drop.
mod tempfile_path {
    use std::path::{Path, PathBuf};
    pub struct TempPath(PathBuf);
    impl TempPath {
        pub fn new(name: &str, bytes: &[u8]) -> TempPath {
            let p = std::env::temp_dir().join(format!("wollama-test-{}-{name}", std::process::id()));
            std::fs::write(&p, bytes).unwrap();
            TempPath(p)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[test]
fn truncated_files_are_clear_errors() {
    let bytes = std::fs::read(model_path("smollm2")).unwrap();
    let rt = Runtime::shared().unwrap();
    // Cuts in the magic, the counts, the metadata (tokenizer tables), the tensor index, and
    // the weights.
    for cut in [0usize, 3, 10, 20, 1_000, 500_000, 1_500_000, 2_000_000, 30_000_000, bytes.len() - 1] {
        let f = write_temp(&bytes[..cut], &format!("cut{cut}.gguf"));
        match rt.open(f.path(), 1) {
            Err(Error::Invalid(m)) => assert!(
                m.contains("truncated") || m.contains("not a GGUF") || m.contains("past the end"),
                "cut at {cut}: unclear message {m:?}"
            ),
            Err(e) => panic!("cut at {cut}: expected an invalid-file error, got {e:?}"),
            Ok(_) => panic!("a file cut at {cut} bytes opened"),
        }
    }
}

#[test]
fn corrupt_bytes_never_trap_the_guest() {
    let bytes = std::fs::read(model_path("smollm2")).unwrap();
    let rt = Runtime::shared().unwrap();
    let head = &bytes[..3_000_000];
    // Deterministic corruption of header bytes: each variant must open or fail cleanly.
    let mut x: u64 = 0x1234_5678;
    for i in 0..24 {
        let mut b = head.to_vec();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x % 1_200_000) as usize;
            b[at] = (x >> 32) as u8;
        }
        let f = write_temp(&b, &format!("corrupt{i}.gguf"));
        if let Err(Error::Engine(m)) = rt.open(f.path(), 1) {
            panic!("variant {i} trapped the guest: {m}");
        }
    }
}

#[test]
fn an_unsupported_tensor_type_fails_at_load_naming_type_and_tensor() {
    let mut bytes = std::fs::read(model_path("smollm2")).unwrap();
    // Retag blk.0.attn_q.weight (Q4_1, 20 bytes per 32) as IQ4_NL (18 bytes per 32): it stays
    // inside the file, so only the type is wrong.
    let name = b"blk.0.attn_q.weight";
    let at = bytes.windows(name.len()).position(|w| w == name).expect("tensor name in the index");
    let ty = at + name.len() + 4 + 2 * 8; // n_dims u32, two u64 dims
    assert_eq!(u32::from_le_bytes(bytes[ty..ty + 4].try_into().unwrap()), 3, "expected Q4_1");
    bytes[ty..ty + 4].copy_from_slice(&20u32.to_le_bytes());
    let mut f = std::fs::File::create(std::env::temp_dir().join("wollama-iq4nl.gguf")).unwrap();
    f.write_all(&bytes).unwrap();
    drop(f);
    let rt = Runtime::shared().unwrap();
    let mut s = rt.open(&std::env::temp_dir().join("wollama-iq4nl.gguf"), 1).expect("metadata is fine");
    let err = s
        .start_engine(EngineOptions { max_slots: 1, ctx_cells: 64, batch_tokens: 32 })
        .expect_err("IQ4_NL is not runnable");
    let _ = std::fs::remove_file(std::env::temp_dir().join("wollama-iq4nl.gguf"));
    let m = err.to_string();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    assert!(m.contains("IQ4_NL") && m.contains("blk.0.attn_q.weight"), "{m}");
}

#[test]
fn not_a_file_and_not_a_gguf() {
    let rt = Runtime::shared().unwrap();
    assert!(matches!(rt.open(std::path::Path::new("/nonexistent/model.gguf"), 1), Err(Error::Io(_))));
    let f = write_temp(b"definitely not a model, just text", "text.gguf");
    let e = rt.open(f.path(), 1).err().expect("text is not a model");
    assert!(e.to_string().contains("not a GGUF"), "{e}");
}
