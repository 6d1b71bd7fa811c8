//! Partial blob downloads, in Ollama's layout: `blobs/sha256-<hex>-partial` holds the bytes at
//! their final offsets and `blobs/sha256-<hex>-partial-<N>` the JSON state of part N (its
//! offset, size and how much of it is on disk). A pull writes parts in parallel, an
//! interrupted pull resumes from the states, and only bytes that hash to the digest are ever
//! renamed to `sha256-<hex>`: a partial name never parses as a digest, so `list()` and
//! manifests never see it, and startup pruning removes abandoned ones.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::blobs::{to_hex, Blobs, Digest};
use crate::error::{Error, IoContext, Result};

/// A part's state as saved next to the data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub index: usize,
    pub offset: u64,
    pub size: u64,
    pub completed: u64,
}

impl Part {
    pub fn is_complete(&self) -> bool {
        self.completed >= self.size
    }
    /// The first byte still missing.
    pub fn next_byte(&self) -> u64 {
        self.offset + self.completed
    }
    /// The last byte of the part (inclusive, as HTTP ranges count).
    pub fn last_byte(&self) -> u64 {
        self.offset + self.size - 1
    }
}

/// How often a part's state is saved while it downloads: losing up to this much on a crash
/// is cheap, saving per network chunk is not.
const SAVE_EVERY: u64 = 1 << 20;

/// One blob being downloaded.
pub struct PartialBlob {
    digest: Digest,
    size: u64,
    data: PathBuf,
    file: Arc<File>,
    parts: Vec<Part>,
}

impl PartialBlob {
    /// Opens the partial download of `digest`, resuming the saved parts when they tile the
    /// blob exactly and the data file has the right length; otherwise starts over with parts
    /// of `part_size` bytes.
    pub fn open(blobs: &Blobs, digest: &Digest, size: u64, part_size: u64) -> Result<PartialBlob> {
        let data = data_path(blobs, digest);
        if let Some(parts) = saved_parts(blobs, digest, size) {
            if fs::metadata(&data).map(|m| m.len() == size).unwrap_or(false) {
                let file = OpenOptions::new().write(true).open(&data).ctx("open", &data)?;
                return Ok(PartialBlob { digest: digest.clone(), size, data, file: Arc::new(file), parts });
            }
        }
        remove_states(blobs, digest);
        let file = OpenOptions::new().write(true).create(true).truncate(true).open(&data).ctx("create", &data)?;
        file.set_len(size).ctx("allocate", &data)?;
        let part_size = part_size.max(1);
        let parts: Vec<Part> = (0..size.div_ceil(part_size))
            .map(|i| {
                let offset = i * part_size;
                Part { index: i as usize, offset, size: part_size.min(size - offset), completed: 0 }
            })
            .collect();
        let blob = PartialBlob { digest: digest.clone(), size, data, file: Arc::new(file), parts };
        for p in &blob.parts {
            save_state(&state_path(blobs, digest, p.index), p)?;
        }
        Ok(blob)
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Bytes already on disk (what a resumed pull starts its progress from).
    pub fn completed(&self) -> u64 {
        self.parts.iter().map(|p| p.completed.min(p.size)).sum()
    }

    /// Writers for the parts still missing bytes; each may run on its own thread or task.
    pub fn pending(&self, blobs: &Blobs) -> Vec<PartWriter> {
        self.parts
            .iter()
            .filter(|p| !p.is_complete())
            .map(|p| PartWriter {
                part: *p,
                file: self.file.clone(),
                state: state_path(blobs, &self.digest, p.index),
                unsaved: 0,
            })
            .collect()
    }

    /// Checks that every part is complete and the bytes hash to the digest. A mismatch
    /// removes the partial files (those bytes must be downloaded again).
    pub fn verify(self, blobs: &Blobs) -> Result<VerifiedBlob> {
        let parts = saved_parts(blobs, &self.digest, self.size).unwrap_or_default();
        if parts.is_empty() || parts.iter().any(|p| !p.is_complete()) {
            return Err(Error::Io {
                op: "verify",
                path: self.data.clone(),
                source: io::Error::other("the download is incomplete"),
            });
        }
        drop(self.file);
        let got = hash_file(&self.data)?;
        if got != self.digest {
            discard(blobs, &self.digest);
            return Err(Error::DownloadDigestMismatch { want: self.digest.to_string(), got: got.to_string() });
        }
        Ok(VerifiedBlob { digest: self.digest, data: self.data })
    }
}

/// Writes one part's bytes in order and keeps its saved state no further than the data.
pub struct PartWriter {
    part: Part,
    file: Arc<File>,
    state: PathBuf,
    unsaved: u64,
}

impl PartWriter {
    pub fn part(&self) -> &Part {
        &self.part
    }

    /// Appends `bytes` at the part's next offset. More bytes than the part holds is an error
    /// (the peer answered a different range).
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let room = self.part.size - self.part.completed;
        if bytes.len() as u64 > room {
            return Err(Error::Io {
                op: "write",
                path: self.state.clone(),
                source: io::Error::other(format!("{} bytes more than part {} holds", bytes.len() as u64 - room, self.part.index)),
            });
        }
        write_at(&self.file, bytes, self.part.next_byte()).ctx("write", &self.state)?;
        self.part.completed += bytes.len() as u64;
        self.unsaved += bytes.len() as u64;
        if self.unsaved >= SAVE_EVERY || self.part.is_complete() {
            self.save()?;
        }
        Ok(())
    }

    /// Saves the state now (after an error, so a resume starts where this one stopped).
    pub fn save(&mut self) -> Result<()> {
        self.unsaved = 0;
        save_state(&self.state, &self.part)
    }
}

/// A writer dropped mid-transfer (a cancelled pull) still records what reached the file.
impl Drop for PartWriter {
    fn drop(&mut self) {
        if self.unsaved > 0 {
            let _ = self.save();
        }
    }
}

/// A downloaded blob whose bytes match its digest, not yet visible in the store.
pub struct VerifiedBlob {
    digest: Digest,
    data: PathBuf,
}

impl VerifiedBlob {
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Renames the bytes into place and removes the part states. Returns false when the
    /// blob had meanwhile appeared in the store (the partial copy is dropped).
    pub fn publish(self, blobs: &Blobs) -> Result<bool> {
        let dest = blobs.path(&self.digest);
        let created = if dest.is_file() {
            fs::remove_file(&self.data).ctx("remove", &self.data)?;
            false
        } else {
            fs::rename(&self.data, &dest).ctx("rename", &self.data)?;
            crate::fsutil::sync_dir(blobs.dir());
            true
        };
        remove_states(blobs, &self.digest);
        Ok(created)
    }
}

/// Removes every partial file of `digest` (data and states).
pub fn discard(blobs: &Blobs, digest: &Digest) {
    let _ = fs::remove_file(data_path(blobs, digest));
    remove_states(blobs, digest);
}

fn data_path(blobs: &Blobs, digest: &Digest) -> PathBuf {
    blobs.dir().join(format!("{}-partial", digest.file_name()))
}

fn state_path(blobs: &Blobs, digest: &Digest, index: usize) -> PathBuf {
    blobs.dir().join(format!("{}-partial-{index}", digest.file_name()))
}

/// The saved parts, in order, when they tile `[0, size)` exactly; anything else (missing,
/// unreadable, from another size) means the download cannot be resumed.
fn saved_parts(blobs: &Blobs, digest: &Digest, size: u64) -> Option<Vec<Part>> {
    let mut parts = Vec::new();
    let mut next = 0u64;
    for index in 0.. {
        let Ok(bytes) = fs::read(state_path(blobs, digest, index)) else { break };
        let p: Part = serde_json::from_slice(&bytes).ok()?;
        if p.index != index || p.offset != next || p.size == 0 || p.completed > p.size {
            return None;
        }
        next += p.size;
        parts.push(p);
    }
    (next == size && !parts.is_empty()).then_some(parts)
}

fn remove_states(blobs: &Blobs, digest: &Digest) {
    let prefix = format!("{}-partial-", digest.file_name());
    let Ok(rd) = fs::read_dir(blobs.dir()) else { return };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Writes the state through a temp name and a rename, so a crash never leaves half a JSON.
fn save_state(path: &Path, part: &Part) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, serde_json::to_vec(part).expect("part state is JSON")).ctx("write", &tmp)?;
    fs::rename(&tmp, path).ctx("rename", &tmp)
}

fn hash_file(path: &Path) -> Result<Digest> {
    let mut f = File::open(path).ctx("open", path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).ctx("read", path)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Digest::from_hex(&to_hex(&hasher.finalize()))
}

#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(windows)]
fn write_at(file: &File, mut bytes: &[u8], mut offset: u64) -> io::Result<()> {
    while !bytes.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(file, bytes, offset)?;
        bytes = &bytes[n..];
        offset += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs() -> (tempfile::TempDir, Blobs) {
        let dir = tempfile::tempdir().unwrap();
        let b = Blobs::open(dir.path().join("blobs")).unwrap();
        (dir, b)
    }

    fn content() -> Vec<u8> {
        (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn parts_written_out_of_order_resume_and_publish() {
        let (_dir, b) = blobs();
        let bytes = content();
        let d = Digest::of_bytes(&bytes);
        let p = PartialBlob::open(&b, &d, bytes.len() as u64, 3000).unwrap();
        assert_eq!(p.parts().len(), 4);
        assert_eq!(p.parts()[3].size, 1000);
        let mut w = p.pending(&b);
        // Last part fully, first part half: then "crash" (drop without verify).
        let mut last = w.pop().unwrap();
        last.write(&bytes[9000..]).unwrap();
        w[0].write(&bytes[..1500]).unwrap();
        w[0].save().unwrap();
        drop((w, last, p));
        assert!(b.list().unwrap().is_empty(), "a partial download is not a blob");

        let p = PartialBlob::open(&b, &d, bytes.len() as u64, 999).unwrap();
        assert_eq!(p.completed(), 2500, "resumed from the saved states, not the new part size");
        let mut w = p.pending(&b);
        assert_eq!(w.len(), 3);
        for pw in &mut w {
            let (from, to) = (pw.part().next_byte() as usize, pw.part().last_byte() as usize + 1);
            pw.write(&bytes[from..to]).unwrap();
        }
        assert!(w[0].write(b"x").is_err(), "bytes past the part are refused");
        let v = p.verify(&b).unwrap();
        assert!(v.publish(&b).unwrap());
        assert_eq!(b.read(&d).unwrap(), bytes);
        let names: Vec<_> = fs::read_dir(b.dir()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(names.len(), 1, "no partial files left: {names:?}");
    }

    #[test]
    fn corrupt_or_incomplete_bytes_are_never_published() {
        let (_dir, b) = blobs();
        let bytes = content();
        let d = Digest::of_bytes(&bytes);
        let p = PartialBlob::open(&b, &d, bytes.len() as u64, 4096).unwrap();
        let mut w = p.pending(&b);
        w[0].write(&bytes[..4096]).unwrap();
        drop(w);
        assert!(p.verify(&b).is_err(), "incomplete");

        let p = PartialBlob::open(&b, &d, bytes.len() as u64, 4096).unwrap();
        let mut bad = bytes.clone();
        bad[5000] ^= 1;
        for mut pw in p.pending(&b) {
            let (from, to) = (pw.part().next_byte() as usize, pw.part().last_byte() as usize + 1);
            pw.write(&bad[from..to]).unwrap();
        }
        let e = p.verify(&b).err().unwrap();
        assert!(e.to_string().starts_with("digest mismatch, file must be downloaded again: want sha256:"), "{e}");
        assert_eq!(fs::read_dir(b.dir()).unwrap().count(), 0, "the corrupt partial is removed");
    }
}
