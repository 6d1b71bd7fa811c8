//! The on-disk model store: `<root>/manifests/<host>/<ns>/<model>/<tag>` and
//! `<root>/blobs/sha256-<hex>`, laid out exactly like Ollama's so either
//! program can read the other's models.
//!
//! Consistency rules:
//! * every write goes to a temp file in the destination directory and is
//!   published by rename, and directories a failed write created are removed
//!   again, so a failure at any point leaves the store as it was;
//! * a manifest is only written when every blob it references is present, and
//!   blob deletion happens under the same in-process lock, so a concurrent
//!   delete can't leave a freshly written manifest dangling;
//! * name lookups are case-insensitive against what is on disk, and new
//!   manifests adopt the on-disk casing of existing path components, so
//!   `Llama3` and `llama3` never become two directories.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;

use crate::blobs::{BlobWrite, Blobs, Digest};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, TempFile, TEMP_PREFIX};
use crate::manifest::{manifest_digest, ConfigV2, Manifest};
use crate::name::ModelName;

/// One installed model.
#[derive(Clone, Debug)]
pub struct ModelEntry {
    /// Name with the on-disk casing.
    pub name: ModelName,
    pub manifest: Manifest,
    /// Hex sha256 of the manifest file bytes (the model ID `/api/tags` shows).
    pub digest: String,
    /// Config plus layer sizes.
    pub size: u64,
    /// Manifest file mtime (`modified_at`).
    pub modified: SystemTime,
    /// Manifest file path.
    pub path: PathBuf,
}

/// What [`Store::delete`] removed.
#[derive(Clone, Debug, Default)]
pub struct DeleteReport {
    /// Blobs that no remaining manifest referenced and were deleted.
    pub removed_blobs: Vec<Digest>,
    /// Clean-up steps after the manifest was gone that failed; the model is
    /// deleted regardless and `prune_unreferenced` will retry them.
    pub warnings: Vec<String>,
}

/// What [`Store::prune_unreferenced`] removed.
#[derive(Clone, Debug, Default)]
pub struct PruneReport {
    pub removed_blobs: Vec<Digest>,
    /// Stale temp files and partial downloads.
    pub removed_other: Vec<PathBuf>,
}

/// Handle on a models directory. Cheap to share behind an `Arc`; all methods
/// take `&self`.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    manifests: PathBuf,
    blobs: Blobs,
    /// Serialises manifest writes against blob deletion in this process.
    lock: Mutex<()>,
}

impl Store {
    /// Opens (creating `manifests/` and `blobs/` if needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        let manifests = root.join("manifests");
        fs::create_dir_all(&manifests).ctx("mkdir", &manifests)?;
        let blobs = Blobs::open(root.join("blobs"))?;
        Ok(Store {
            root,
            manifests,
            blobs,
            lock: Mutex::new(()),
        })
    }

    /// `$OLLAMA_MODELS` (trimmed of spaces and quotes, as Ollama's envconfig
    /// does) or else `~/.wollama/models`.
    pub fn default_root() -> PathBuf {
        root_from(
            std::env::var("OLLAMA_MODELS").ok().as_deref(),
            std::env::var_os("HOME").map(PathBuf::from),
        )
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn manifests_dir(&self) -> &Path {
        &self.manifests
    }

    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs.path(digest)
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blobs.has(digest)
    }

    /// See [`Blobs::write`].
    pub fn write_blob<R: Read>(&self, reader: R, expected: Option<&Digest>) -> Result<BlobWrite> {
        self.blobs.write(reader, expected)
    }

    /// See [`Blobs::import_file`].
    pub fn import_file(&self, path: &Path, expected: Option<&Digest>) -> Result<BlobWrite> {
        self.blobs.import_file(path, expected)
    }

    /// All models, newest manifest first (ties by name). Unreadable or
    /// malformed manifests are skipped, as Ollama does, so one bad file can't
    /// hide every model.
    pub fn list(&self) -> Result<Vec<ModelEntry>> {
        let mut out = Vec::new();
        for (name, path) in self.manifest_files()? {
            if let Ok(entry) = read_entry(name, &path) {
                out.push(entry);
            }
        }
        out.sort_by(|a, b| {
            b.modified
                .cmp(&a.modified)
                .then_with(|| a.name.display_long().cmp(&b.name.display_long()))
        });
        Ok(out)
    }

    /// Rewrites each part of `name` to the casing of a matching directory on
    /// disk (exact match preferred), level by level. Parts with no match are
    /// kept as given. Scheme and digest are carried over.
    pub fn canonical_name(&self, name: &ModelName) -> ModelName {
        let mut out = name.clone();
        let mut dir = self.manifests.clone();
        for part in [
            &mut out.host,
            &mut out.namespace,
            &mut out.model,
            &mut out.tag,
        ] {
            if !dir.join(part.as_str()).exists() {
                if let Some(found) = find_fold(&dir, part) {
                    *part = found;
                }
            }
            dir.push(part.as_str());
        }
        out
    }

    /// The model called `name` (case-insensitive), or
    /// [`Error::ModelNotFound`]. A name pinned with `@sha256:…` only matches a
    /// manifest with that digest.
    pub fn get(&self, name: &ModelName) -> Result<ModelEntry> {
        self.find(name)?
            .ok_or_else(|| Error::ModelNotFound(name.display_shortest()))
    }

    /// Like [`Store::get`] but `Ok(None)` when absent.
    pub fn find(&self, name: &ModelName) -> Result<Option<ModelEntry>> {
        if !name.is_valid() {
            return Err(Error::InvalidName);
        }
        let canon = self.canonical_name(name);
        let Some(path) = canon.manifest_path(&self.root) else {
            return Err(Error::InvalidName);
        };
        let entry = match read_entry(canon, &path) {
            Ok(e) => e,
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        if let Some(pin) = &name.digest {
            if pin.hex() != entry.digest {
                return Ok(None);
            }
        }
        Ok(Some(entry))
    }

    /// Encodes and writes `manifest` for `name` atomically; returns the new
    /// model digest (hex).
    pub fn write_manifest(&self, name: &ModelName, manifest: &Manifest) -> Result<String> {
        self.write_manifest_bytes(name, &manifest.to_bytes()?)
    }

    /// Writes manifest bytes verbatim (a pull stores the registry's bytes so
    /// the digest matches the registry's). The bytes must parse as a manifest
    /// and every referenced blob must already be in the store.
    pub fn write_manifest_bytes(&self, name: &ModelName, bytes: &[u8]) -> Result<String> {
        if !name.is_valid() {
            return Err(Error::InvalidName);
        }
        let manifest = Manifest::from_slice(bytes)?;
        let _guard = self.guard();
        for layer in manifest.all_layers() {
            let d = layer.digest()?;
            if !self.blobs.has(&d) {
                return Err(Error::BlobNotFound(d.to_string()));
            }
        }
        let path = self.canonical_path(name)?;
        self.write_file_atomic(&path, bytes)?;
        Ok(manifest_digest(bytes))
    }

    /// Copies the manifest of `src` to `dst` byte for byte (same digest).
    /// Returns `dst` with its on-disk casing.
    pub fn copy(&self, src: &ModelName, dst: &ModelName) -> Result<ModelName> {
        if !dst.is_valid() {
            return Err(Error::InvalidName);
        }
        let _guard = self.guard();
        let from = self.get(src)?;
        let bytes = fs::read(&from.path).ctx("read", &from.path)?;
        let dst = self.canonical_name(dst);
        let to = dst.manifest_path(&self.root).ok_or(Error::InvalidName)?;
        if to != from.path {
            self.write_file_atomic(&to, &bytes)?;
        }
        Ok(dst)
    }

    /// Removes the manifest of `name`, prunes directories it leaves empty and
    /// deletes the blobs no other manifest references.
    pub fn delete(&self, name: &ModelName) -> Result<DeleteReport> {
        let _guard = self.guard();
        let entry = self.get(name)?;
        // Gather what the other manifests use *before* touching anything, so
        // a failure here leaves the model in place.
        let in_use = self.referenced_except(Some(&entry.path))?;

        fsutil::fail_point("delete").ctx("remove", &entry.path)?;
        fs::remove_file(&entry.path).ctx("remove", &entry.path)?;
        if let Some(dir) = entry.path.parent() {
            fsutil::sync_dir(dir);
        }

        let mut report = DeleteReport::default();
        if let Err(e) = fsutil::prune_empty_dirs(&self.manifests) {
            report.warnings.push(e.to_string());
        }
        self.remove_blobs_not_in(entry.manifest.referenced_digests(), &in_use, &mut report);
        Ok(report)
    }

    /// Deletes those of `candidates` that no manifest references (used after
    /// a create or pull replaced a manifest). Returns what was removed.
    pub fn remove_unreferenced<'a>(
        &self,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Result<DeleteReport> {
        let _guard = self.guard();
        let in_use = self.referenced_except(None)?;
        let mut report = DeleteReport::default();
        self.remove_blobs_not_in(candidates, &in_use, &mut report);
        Ok(report)
    }

    /// Every blob digest referenced by some readable manifest.
    pub fn referenced_digests(&self) -> Result<HashSet<Digest>> {
        self.referenced_except(None)
    }

    /// Startup clean-up (Ollama's `PruneLayers`): deletes unreferenced blobs,
    /// stale temp files and partial downloads older than `grace` (younger
    /// ones may belong to an upload or create in flight), then empty
    /// manifest directories.
    pub fn prune_unreferenced(&self, grace: Duration) -> Result<PruneReport> {
        let _guard = self.guard();
        let in_use = self.referenced_except(None)?;
        let now = SystemTime::now();
        let is_old = |p: &Path| {
            fs::metadata(p)
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default() >= grace)
                .unwrap_or(false)
        };
        let mut report = PruneReport::default();
        let dir = self.blobs.dir().to_path_buf();
        for entry in fs::read_dir(&dir).ctx("readdir", &dir)? {
            let entry = entry.ctx("readdir", &dir)?;
            let path = entry.path();
            if !entry.file_type().map(|t| t.is_file()).unwrap_or(false) || !is_old(&path) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            match Digest::parse(&name) {
                Ok(d) if in_use.contains(&d) => {}
                Ok(d) => {
                    if self.blobs.remove(&d)? {
                        report.removed_blobs.push(d);
                    }
                }
                Err(_) => {
                    fs::remove_file(&path).ctx("remove", &path)?;
                    report.removed_other.push(path);
                }
            }
        }
        self.prune_manifest_temps(&self.manifests.clone(), &is_old, &mut report)?;
        fsutil::prune_empty_dirs(&self.manifests)?;
        report.removed_blobs.sort();
        Ok(report)
    }

    /// Reads and decodes a JSON blob (params, messages, config).
    pub fn read_blob_json<T: DeserializeOwned>(&self, digest: &Digest) -> Result<T> {
        let bytes = self.blobs.read(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            context: format!("decode blob {digest}"),
            source,
        })
    }

    /// Reads a text blob (template, system, license). Invalid UTF-8 is
    /// replaced rather than refused: Go treats these as opaque strings.
    pub fn read_blob_string(&self, digest: &Digest) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.blobs.read(digest)?).into_owned())
    }

    /// The config blob of a manifest; an empty config digest yields defaults.
    pub fn read_config(&self, manifest: &Manifest) -> Result<ConfigV2> {
        if manifest.config.digest.is_empty() {
            return Ok(ConfigV2::default());
        }
        let d = manifest.config.digest()?;
        ConfigV2::from_slice(&self.blobs.read(&d)?)
    }

    // -- internals ---------------------------------------------------------

    fn guard(&self) -> MutexGuard<'_, ()> {
        // The mutex guards no data, so a panic elsewhere can't corrupt it.
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn canonical_path(&self, name: &ModelName) -> Result<PathBuf> {
        if !name.is_valid() {
            return Err(Error::InvalidName);
        }
        self.canonical_name(name)
            .manifest_path(&self.root)
            .ok_or(Error::InvalidName)
    }

    /// Temp file + rename; directories created on the way are removed again
    /// if anything fails.
    fn write_file_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let dir = path.parent().ok_or_else(|| Error::Io {
            op: "write",
            path: path.to_path_buf(),
            source: io::Error::other("no parent directory"),
        })?;
        let created = fsutil::create_dirs_tracked(dir)?;
        let result = (|| {
            let mut tmp = TempFile::new_in(dir)?;
            let tmp_path = tmp.path().to_path_buf();
            if let Some(f) = tmp.file() {
                f.write_all(bytes).ctx("write", &tmp_path)?;
            }
            fsutil::fail_point("manifest.write").ctx("write", &tmp_path)?;
            tmp.persist(path)
        })();
        if result.is_err() {
            fsutil::remove_created_dirs(&created);
        }
        result
    }

    /// `(name, path)` of every manifest file at depth four below `manifests/`
    /// whose path forms a valid name (temp files never do).
    fn manifest_files(&self) -> Result<Vec<(ModelName, PathBuf)>> {
        let mut out = Vec::new();
        let mut stack = vec![(self.manifests.clone(), 0usize)];
        while let Some((dir, depth)) = stack.pop() {
            let rd = match fs::read_dir(&dir) {
                Ok(rd) => rd,
                // Removed by a concurrent delete between listing and reading.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).ctx("readdir", &dir),
            };
            for entry in rd {
                let entry = entry.ctx("readdir", &dir)?;
                let path = entry.path();
                let ft = entry.file_type().ctx("stat", &path)?;
                if depth < 3 {
                    if ft.is_dir() {
                        stack.push((path, depth + 1));
                    }
                } else if ft.is_file() {
                    let rel = path.strip_prefix(&self.manifests).unwrap_or(&path);
                    if let Some(name) = ModelName::from_rel_path(rel) {
                        out.push((name, path));
                    }
                }
            }
        }
        Ok(out)
    }

    fn referenced_except(&self, skip: Option<&Path>) -> Result<HashSet<Digest>> {
        let mut set = HashSet::new();
        for (_, path) in self.manifest_files()? {
            if Some(path.as_path()) == skip {
                continue;
            }
            // Corrupt manifests are ignored (as Ollama does) rather than
            // blocking every deletion in the store.
            let Ok(bytes) = fs::read(&path) else { continue };
            let Ok(m) = Manifest::from_slice(&bytes) else {
                continue;
            };
            set.extend(m.referenced_digests().filter_map(|d| Digest::parse(d).ok()));
        }
        Ok(set)
    }

    fn remove_blobs_not_in<'a>(
        &self,
        candidates: impl IntoIterator<Item = &'a str>,
        in_use: &HashSet<Digest>,
        report: &mut DeleteReport,
    ) {
        let mut seen = HashSet::new();
        for d in candidates {
            let Ok(d) = Digest::parse(d) else { continue };
            if in_use.contains(&d) || !seen.insert(d.clone()) {
                continue;
            }
            match self.blobs.remove(&d) {
                Ok(true) => report.removed_blobs.push(d),
                Ok(false) => {}
                Err(e) => report.warnings.push(e.to_string()),
            }
        }
    }

    fn prune_manifest_temps(
        &self,
        dir: &Path,
        is_old: &dyn Fn(&Path) -> bool,
        report: &mut PruneReport,
    ) -> Result<()> {
        for entry in fs::read_dir(dir).ctx("readdir", dir)? {
            let entry = entry.ctx("readdir", dir)?;
            let path = entry.path();
            let ft = entry.file_type().ctx("stat", &path)?;
            if ft.is_dir() {
                self.prune_manifest_temps(&path, is_old, report)?;
            } else if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) && is_old(&path)
            {
                fs::remove_file(&path).ctx("remove", &path)?;
                report.removed_other.push(path);
            }
        }
        Ok(())
    }
}

fn root_from(models: Option<&str>, home: Option<PathBuf>) -> PathBuf {
    if let Some(v) = models {
        let v = v.trim_matches(|c: char| c == ' ' || c == '"' || c == '\'');
        if !v.is_empty() {
            return PathBuf::from(v);
        }
    }
    home.unwrap_or_default().join(".wollama").join("models")
}

/// A directory entry of `dir` equal to `part` ignoring ASCII case; the
/// lexicographically first wins so the choice is deterministic.
fn find_fold(dir: &Path, part: &str) -> Option<String> {
    let mut matches: Vec<String> = fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.eq_ignore_ascii_case(part))
        .collect();
    matches.sort();
    matches.into_iter().next()
}

fn read_entry(name: ModelName, path: &Path) -> Result<ModelEntry> {
    let bytes = fs::read(path).ctx("open", path)?;
    let meta = fs::metadata(path).ctx("stat", path)?;
    let manifest = Manifest::from_slice(&bytes)?;
    Ok(ModelEntry {
        name,
        size: manifest.size(),
        digest: manifest_digest(&bytes),
        modified: meta.modified().ctx("stat", path)?,
        manifest,
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::{arm_fail_point, testutil::snapshot};
    use crate::manifest::{Layer, MEDIA_TYPE_CONFIG, MEDIA_TYPE_MODEL, MEDIA_TYPE_SYSTEM};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        (dir, s)
    }

    fn name(s: &str) -> ModelName {
        ModelName::parse(s).unwrap()
    }

    /// Writes blobs for `contents` and a manifest referencing them.
    fn put(s: &Store, n: &str, model: &[u8], extra: &[u8]) -> Manifest {
        let cfg = s.blobs().write_bytes(b"{}").unwrap();
        let m = s.blobs().write_bytes(model).unwrap();
        let x = s.blobs().write_bytes(extra).unwrap();
        let manifest = Manifest::new(
            Layer::new(MEDIA_TYPE_CONFIG, &cfg.digest, cfg.size),
            vec![
                Layer::new(MEDIA_TYPE_MODEL, &m.digest, m.size),
                Layer::new(MEDIA_TYPE_SYSTEM, &x.digest, x.size),
            ],
        );
        s.write_manifest(&name(n), &manifest).unwrap();
        manifest
    }

    #[test]
    fn default_root_rules() {
        assert_eq!(root_from(Some(" \"/m\" "), None), PathBuf::from("/m"));
        assert_eq!(
            root_from(Some(""), Some("/h".into())),
            PathBuf::from("/h/.wollama/models")
        );
        assert_eq!(
            root_from(None, Some("/h".into())),
            PathBuf::from("/h/.wollama/models")
        );
        assert!(
            Store::default_root().ends_with("models") || std::env::var("OLLAMA_MODELS").is_ok()
        );
    }

    #[test]
    fn write_get_list() {
        let (dir, s) = store();
        let m = put(&s, "smollm2:135m", b"weights", b"sys");
        let e = s.get(&name("smollm2:135m")).unwrap();
        assert_eq!(e.manifest, m);
        assert_eq!(e.size, 2 + 7 + 3);
        let bytes = fs::read(
            dir.path()
                .join("manifests/registry.ollama.ai/library/smollm2/135m"),
        )
        .unwrap();
        assert_eq!(e.digest, Digest::of_bytes(&bytes).hex());
        assert!(bytes.ends_with(b"}\n"));

        // Newest first.
        std::thread::sleep(Duration::from_millis(20));
        put(&s, "user/other:tag", b"w2", b"s2");
        let list = s.list().unwrap();
        let names: Vec<_> = list.iter().map(|e| e.name.display_shortest()).collect();
        assert_eq!(names, ["user/other:tag", "smollm2:135m"]);
        assert!(matches!(s.get(&name("nope")), Err(Error::ModelNotFound(n)) if n == "nope:latest"));
    }

    #[test]
    fn case_insensitive_lookup_and_write() {
        let (dir, s) = store();
        put(&s, "MyModel:Tag", b"w", b"s");
        let e = s.get(&name("mymodel:TAG")).unwrap();
        assert_eq!(e.name.display_shortest(), "MyModel:Tag");
        // Writing with other casing replaces the same file instead of making
        // a sibling directory.
        put(&s, "MYMODEL:tag", b"w2", b"s2");
        let lib = dir.path().join("manifests/registry.ollama.ai/library");
        let models: Vec<_> = fs::read_dir(&lib)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(models, ["MyModel"]);
        assert_eq!(s.list().unwrap().len(), 1);
    }

    #[test]
    fn digest_pin() {
        let (_dir, s) = store();
        put(&s, "m:t", b"w", b"s");
        let d = s.get(&name("m:t")).unwrap().digest;
        assert!(s.get(&name(&format!("m:t@sha256:{d}"))).is_ok());
        let other = "0".repeat(64);
        assert!(s
            .find(&name(&format!("m:t@sha256:{other}")))
            .unwrap()
            .is_none());
    }

    #[test]
    fn manifest_requires_blobs() {
        let (dir, s) = store();
        let d = Digest::from_hex(&"e".repeat(64)).unwrap();
        let m = Manifest::new(Layer::new(MEDIA_TYPE_CONFIG, &d, 1), vec![]);
        let before = snapshot(dir.path());
        let e = s.write_manifest(&name("x"), &m).unwrap_err();
        assert!(matches!(e, Error::BlobNotFound(_)), "{e}");
        assert_eq!(snapshot(dir.path()), before);
        assert!(s.write_manifest_bytes(&name("x"), b"not json").is_err());
        let bad = ModelName {
            model: "..".into(),
            ..name("x")
        };
        assert!(matches!(
            s.write_manifest(&bad, &m),
            Err(Error::InvalidName)
        ));
    }

    #[test]
    fn failed_manifest_write_leaves_store_unchanged() {
        let (dir, s) = store();
        put(&s, "a", b"w", b"s");
        let m = s.get(&name("a")).unwrap().manifest;
        let before = snapshot(dir.path());
        // New name in new directories: directories must be rolled back too.
        arm_fail_point("persist");
        assert!(s.write_manifest(&name("host.x/ns/new:t"), &m).is_err());
        assert_eq!(snapshot(dir.path()), before);
        // Replacing an existing manifest: old bytes intact.
        arm_fail_point("persist");
        let mut m2 = m.clone();
        m2.layers.pop();
        assert!(s.write_manifest(&name("a"), &m2).is_err());
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn copy_is_byte_identical() {
        let (_dir, s) = store();
        put(&s, "src:1", b"w", b"s");
        let dst = s.copy(&name("src:1"), &name("me/dst:2")).unwrap();
        assert_eq!(dst.display_shortest(), "me/dst:2");
        let (a, b) = (
            s.get(&name("src:1")).unwrap(),
            s.get(&name("me/dst:2")).unwrap(),
        );
        assert_eq!(a.digest, b.digest);
        assert!(matches!(
            s.copy(&name("missing"), &name("x")),
            Err(Error::ModelNotFound(_))
        ));
        // Copy onto itself is a no-op.
        s.copy(&name("src:1"), &name("SRC:1")).unwrap();
        assert_eq!(s.list().unwrap().len(), 2);
    }

    #[test]
    fn delete_prunes_dirs_and_unshared_blobs() {
        let (dir, s) = store();
        let a = put(&s, "host.x/ns/a:t", b"shared", b"only-a");
        put(&s, "b", b"shared", b"only-b");
        let only_a = a.layers[1].digest().unwrap();
        let shared = a.layers[0].digest().unwrap();
        let report = s.delete(&name("HOST.X/ns/A:t")).unwrap();
        assert_eq!(report.removed_blobs, vec![only_a.clone()]);
        assert!(report.warnings.is_empty());
        assert!(!s.has_blob(&only_a));
        assert!(s.has_blob(&shared));
        assert!(!dir.path().join("manifests/host.x").exists());
        assert!(dir.path().join("manifests").is_dir());
        assert!(matches!(
            s.delete(&name("host.x/ns/a:t")),
            Err(Error::ModelNotFound(_))
        ));

        // Deleting the last user of a blob removes it, config included.
        s.delete(&name("b")).unwrap();
        assert!(s.blobs().list().unwrap().is_empty());
        assert_eq!(
            fs::read_dir(dir.path().join("manifests")).unwrap().count(),
            0
        );
    }

    #[test]
    fn failed_delete_leaves_store_unchanged() {
        let (dir, s) = store();
        put(&s, "a", b"w", b"s");
        let before = snapshot(dir.path());
        arm_fail_point("delete");
        assert!(s.delete(&name("a")).is_err());
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn prune_respects_grace_and_references() {
        let (dir, s) = store();
        put(&s, "a", b"w", b"s");
        let orphan = s.blobs().write_bytes(b"orphan").unwrap().digest;
        fs::write(
            s.blobs()
                .dir()
                .join(format!("{}-partial", orphan.file_name())),
            b"x",
        )
        .unwrap();
        let tmp = dir
            .path()
            .join("manifests/registry.ollama.ai/library/a/.wollama-tmp-1");
        fs::write(&tmp, b"x").unwrap();

        let r = s.prune_unreferenced(Duration::from_secs(3600)).unwrap();
        assert!(r.removed_blobs.is_empty() && r.removed_other.is_empty());
        let r = s.prune_unreferenced(Duration::ZERO).unwrap();
        assert_eq!(r.removed_blobs, vec![orphan.clone()]);
        assert_eq!(r.removed_other.len(), 2);
        assert!(!tmp.exists());
        assert_eq!(s.blobs().list().unwrap().len(), 3);
        assert!(s.get(&name("a")).is_ok());
    }

    #[test]
    fn list_skips_garbage() {
        let (dir, s) = store();
        put(&s, "good", b"w", b"s");
        let bad = dir.path().join("manifests/registry.ollama.ai/library/bad");
        fs::create_dir_all(&bad).unwrap();
        fs::write(bad.join("latest"), b"{broken").unwrap();
        fs::write(bad.join(".wollama-tmp-9"), b"{}").unwrap();
        fs::write(dir.path().join("manifests/stray"), b"{}").unwrap();
        let list = s.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name.model, "good");
    }

    #[test]
    fn blob_helpers() {
        let (_dir, s) = store();
        let d = s.blobs().write_bytes(br#"{"stop":["a"]}"#).unwrap().digest;
        let v: serde_json::Value = s.read_blob_json(&d).unwrap();
        assert_eq!(v["stop"][0], "a");
        assert_eq!(s.read_blob_string(&d).unwrap(), r#"{"stop":["a"]}"#);
        let t = s.blobs().write_bytes(b"not json").unwrap().digest;
        assert!(matches!(
            s.read_blob_json::<serde_json::Value>(&t),
            Err(Error::Json { .. })
        ));
    }
}
