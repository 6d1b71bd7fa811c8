//! Content-addressed blobs: `<root>/blobs/sha256-<64 hex>`.
//!
//! Writes stream into a temp file in the blobs directory while hashing, fsync,
//! verify, then rename into place, so a blob path only ever holds complete,
//! verified bytes, and a failed or interrupted write leaves nothing behind.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, TempFile};

/// A sha256 content digest. Displays as `sha256:<hex>`; the hex is kept in
/// lower case (what Ollama itself always writes).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parses `sha256:<64 hex>` or `sha256-<64 hex>` (the file-name form),
    /// like Ollama's `^sha256[:-][0-9a-fA-F]{64}$`; anything else is
    /// [`Error::InvalidDigest`] (`invalid digest format`).
    pub fn parse(s: &str) -> Result<Digest> {
        let hex = s
            .strip_prefix("sha256:")
            .or_else(|| s.strip_prefix("sha256-"))
            .ok_or(Error::InvalidDigest)?;
        Digest::from_hex(hex)
    }

    /// Builds a digest from bare hex (64 hex digits, any case).
    pub fn from_hex(hex: &str) -> Result<Digest> {
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Digest(hex.to_ascii_lowercase()))
        } else {
            Err(Error::InvalidDigest)
        }
    }

    /// The digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest(to_hex(&Sha256::digest(bytes)))
    }

    /// The 64 lower-case hex digits, without the `sha256:` prefix.
    pub fn hex(&self) -> &str {
        &self.0
    }

    /// The blob file name, `sha256-<hex>`.
    pub fn file_name(&self) -> String {
        format!("sha256-{}", self.0)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

impl std::str::FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Outcome of a blob write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobWrite {
    pub digest: Digest,
    pub size: u64,
    /// False when the blob already existed and nothing was written (Ollama's
    /// "using existing layer" vs "creating new layer"; HTTP 200 vs 201).
    pub created: bool,
}

/// The blobs directory of a store.
#[derive(Clone, Debug)]
pub struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    /// Opens (creating if needed) a blobs directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Blobs> {
        let dir = dir.into();
        fs::create_dir_all(&dir).ctx("mkdir", &dir)?;
        Ok(Blobs { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/sha256-<hex>`; the file may not exist.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.file_name())
    }

    /// Whether a complete blob with this digest is present.
    pub fn has(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Size in bytes of a present blob, else [`Error::BlobNotFound`].
    pub fn size(&self, digest: &Digest) -> Result<u64> {
        match fs::metadata(self.path(digest)) {
            Ok(m) if m.is_file() => Ok(m.len()),
            Ok(_) => Err(Error::BlobNotFound(digest.to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::BlobNotFound(digest.to_string()))
            }
            Err(e) => Err(e).ctx("stat", &self.path(digest)),
        }
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let p = self.path(digest);
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(digest.to_string()),
            _ => Error::Io {
                op: "open",
                path: p.clone(),
                source: e,
            },
        })
    }

    /// Reads a whole blob into memory (for the small text/JSON layers).
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut f = self.open_blob(digest)?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).ctx("read", &self.path(digest))?;
        Ok(buf)
    }

    /// Streams `reader` into the store.
    ///
    /// With `expected` set and already present, returns at once without
    /// reading (Ollama answers such an upload 200 without reading the body).
    /// Otherwise hashes while writing to a temp file; a read error or a digest
    /// mismatch (`digest mismatch, expected "…", got "…"`) removes the temp
    /// file and leaves the store unchanged. Content that turns out to be
    /// present already is discarded (`created: false`).
    pub fn write<R: Read>(&self, mut reader: R, expected: Option<&Digest>) -> Result<BlobWrite> {
        if let Some(want) = expected {
            if let Some(existing) = self.existing(want)? {
                return Ok(existing);
            }
        }
        let mut tmp = TempFile::new_in(&self.dir)?;
        let tmp_path = tmp.path().to_path_buf();
        let file = tmp.file().ok_or_else(|| Error::Io {
            op: "write",
            path: tmp_path.clone(),
            source: io::Error::other("temp file not open"),
        })?;
        let (digest, size) = copy_hashing(&mut reader, file, &tmp_path)?;
        self.publish(tmp, digest, size, expected)
    }

    /// Convenience for in-memory content.
    pub fn write_bytes(&self, bytes: &[u8]) -> Result<BlobWrite> {
        self.write(bytes, None)
    }

    /// Imports a local file. Tries a hard link first (no copy when the file
    /// is on the same filesystem; note the blob then shares the file's inode,
    /// so the source must not be edited in place afterwards), and falls back
    /// to a hashed copy.
    pub fn import_file(&self, src: &Path, expected: Option<&Digest>) -> Result<BlobWrite> {
        if let Some(want) = expected {
            if let Some(existing) = self.existing(want)? {
                return Ok(existing);
            }
        }
        let tmp = TempFile::reserve_in(&self.dir);
        if fs::hard_link(src, tmp.path()).is_ok() {
            // Hash what was linked, not the source path, so a concurrent
            // replacement of `src` cannot make us publish unverified bytes.
            let mut f = File::open(tmp.path()).ctx("open", tmp.path())?;
            let (digest, size) = copy_hashing(&mut f, &mut io::sink(), tmp.path())?;
            return self.publish(tmp, digest, size, expected);
        }
        drop(tmp);
        let f = File::open(src).ctx("open", src)?;
        self.write(f, expected)
    }

    /// Removes a blob; `Ok(false)` when it was already gone.
    pub fn remove(&self, digest: &Digest) -> Result<bool> {
        let p = self.path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).ctx("remove", &p),
        }
    }

    /// Digests of all complete blobs (temp and partial files are skipped).
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).ctx("readdir", &self.dir)? {
            let entry = entry.ctx("readdir", &self.dir)?;
            if let Some(name) = entry.file_name().to_str() {
                if let Ok(d) = Digest::parse(name) {
                    out.push(d);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn existing(&self, digest: &Digest) -> Result<Option<BlobWrite>> {
        match self.size(digest) {
            Ok(size) => {
                fsutil::touch(&self.path(digest));
                Ok(Some(BlobWrite {
                    digest: digest.clone(),
                    size,
                    created: false,
                }))
            }
            Err(Error::BlobNotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Verifies and renames a fully written temp file into place.
    fn publish(
        &self,
        tmp: TempFile,
        digest: Digest,
        size: u64,
        expected: Option<&Digest>,
    ) -> Result<BlobWrite> {
        if let Some(want) = expected {
            if *want != digest {
                return Err(Error::DigestMismatch {
                    expected: want.to_string(),
                    got: digest.to_string(),
                });
            }
        }
        if let Some(existing) = self.existing(&digest)? {
            return Ok(existing);
        }
        set_readable(tmp.path());
        tmp.persist(&self.path(&digest))?;
        Ok(BlobWrite {
            digest,
            size,
            created: true,
        })
    }
}

/// Copies `reader` to `writer`, returning the sha256 and byte count.
fn copy_hashing<R: Read + ?Sized, W: Write + ?Sized>(
    reader: &mut R,
    writer: &mut W,
    path: &Path,
) -> Result<(Digest, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).ctx("read into", path),
        };
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n]).ctx("write", path)?;
        size += n as u64;
    }
    writer.flush().ctx("write", path)?;
    Ok((Digest(to_hex(&hasher.finalize())), size))
}

/// Blobs are world-readable like Ollama's (0644); temp files start 0600-ish
/// depending on umask. Only applied to files we wrote, never to hard links
/// (that would change the user's source file).
#[cfg(unix)]
fn set_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = fs::metadata(path) {
        if m.nlink_is_one() {
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o644));
        }
    }
}

#[cfg(not(unix))]
fn set_readable(_path: &Path) {}

#[cfg(unix)]
trait NlinkIsOne {
    fn nlink_is_one(&self) -> bool;
}

#[cfg(unix)]
impl NlinkIsOne for fs::Metadata {
    fn nlink_is_one(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        self.nlink() == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::{arm_fail_point, testutil::snapshot};

    const HELLO_HEX: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn blobs() -> (tempfile::TempDir, Blobs) {
        let dir = tempfile::tempdir().unwrap();
        let b = Blobs::open(dir.path().join("blobs")).unwrap();
        (dir, b)
    }

    #[test]
    fn digest_parsing() {
        let d = Digest::parse(&format!("sha256:{HELLO_HEX}")).unwrap();
        assert_eq!(d.to_string(), format!("sha256:{HELLO_HEX}"));
        assert_eq!(d.file_name(), format!("sha256-{HELLO_HEX}"));
        assert_eq!(Digest::parse(&format!("sha256-{HELLO_HEX}")).unwrap(), d);
        assert_eq!(
            Digest::parse(&format!("sha256:{}", HELLO_HEX.to_uppercase())).unwrap(),
            d
        );
        assert_eq!(Digest::of_bytes(b"hello"), d);
        for bad in [
            "",
            "sha256:",
            "sha256:abc",
            &format!("sha512:{HELLO_HEX}"),
            &format!("sha256:{HELLO_HEX}0"),
            &format!("sha256:{}g", &HELLO_HEX[..63]),
            &format!("sha256_{HELLO_HEX}"),
            &format!("sha256:../{}", &HELLO_HEX[..61]),
            HELLO_HEX,
        ] {
            let e = Digest::parse(bad).unwrap_err();
            assert_eq!(e.to_string(), "invalid digest format", "{bad:?}");
        }
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"sha256:{HELLO_HEX}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
    }

    #[test]
    fn write_and_dedupe() {
        let (_dir, b) = blobs();
        let w = b.write(&b"hello"[..], None).unwrap();
        assert_eq!((w.digest.hex(), w.size, w.created), (HELLO_HEX, 5, true));
        assert!(b.has(&w.digest));
        assert_eq!(b.read(&w.digest).unwrap(), b"hello");
        assert_eq!(
            b.path(&w.digest),
            b.dir().join(format!("sha256-{HELLO_HEX}"))
        );

        // Same content again: nothing new written.
        let w2 = b.write(&b"hello"[..], None).unwrap();
        assert!(!w2.created);
        // Expected digest already present: the reader is never touched.
        struct Panics;
        impl Read for Panics {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                panic!("reader must not be read when the blob exists")
            }
        }
        let w3 = b.write(Panics, Some(&w.digest)).unwrap();
        assert_eq!((w3.size, w3.created), (5, false));
        assert_eq!(b.list().unwrap(), vec![w.digest.clone()]);
        assert_eq!(fs::read_dir(b.dir()).unwrap().count(), 1);
    }

    #[test]
    fn mismatch_is_rejected_and_cleaned_up() {
        let (dir, b) = blobs();
        let want = Digest::from_hex(&"a".repeat(64)).unwrap();
        let before = snapshot(dir.path());
        let e = b.write(&b"hello"[..], Some(&want)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "digest mismatch, expected \"sha256:{}\", got \"sha256:{HELLO_HEX}\"",
                "a".repeat(64)
            )
        );
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn failing_reader_leaves_no_trace() {
        struct FailAfter(usize);
        impl Read for FailAfter {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("connection reset"));
                }
                let n = self.0.min(buf.len()).min(7);
                buf[..n].fill(b'x');
                self.0 -= n;
                Ok(n)
            }
        }
        let (dir, b) = blobs();
        let before = snapshot(dir.path());
        let e = b.write(FailAfter(100), None).unwrap_err();
        assert!(e.to_string().contains("connection reset"), "{e}");
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn failing_rename_leaves_no_trace() {
        let (dir, b) = blobs();
        let before = snapshot(dir.path());
        arm_fail_point("persist");
        assert!(b.write(&b"hello"[..], None).is_err());
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn import_file_links_or_copies() {
        let (dir, b) = blobs();
        let src = dir.path().join("model.gguf");
        fs::write(&src, b"hello").unwrap();
        let w = b.import_file(&src, None).unwrap();
        assert_eq!((w.digest.hex(), w.size, w.created), (HELLO_HEX, 5, true));
        assert_eq!(b.read(&w.digest).unwrap(), b"hello");
        // Importing again is a no-op; a wrong expectation is refused.
        assert!(!b.import_file(&src, None).unwrap().created);
        let other = dir.path().join("other");
        fs::write(&other, b"bye").unwrap();
        let e = b.import_file(&other, Some(&w.digest)).unwrap();
        assert!(!e.created, "expected digest present: source not read");
        let wrong = Digest::from_hex(&"b".repeat(64)).unwrap();
        assert!(matches!(
            b.import_file(&other, Some(&wrong)),
            Err(Error::DigestMismatch { .. })
        ));
        assert_eq!(fs::read_dir(b.dir()).unwrap().count(), 1);
        assert!(matches!(
            b.import_file(&dir.path().join("missing"), None),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn missing_blob_errors() {
        let (_dir, b) = blobs();
        let d = Digest::from_hex(&"c".repeat(64)).unwrap();
        let e = b.read(&d).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("blob \"sha256:{}\" not found", "c".repeat(64))
        );
        assert!(e.is_not_found());
        assert!(!b.remove(&d).unwrap());
    }
}
