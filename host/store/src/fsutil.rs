//! Small filesystem helpers shared by the blob and manifest stores: unique
//! temp files that clean up after themselves, atomic publish by rename,
//! tracked directory creation (so a failed write can undo it), empty-dir
//! pruning, and test-only fail points.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{IoContext, Result};

/// Prefix of every temp file the store creates. It starts with a dot so it can
/// never parse as a manifest tag or a blob digest, which keeps half-written
/// files invisible to `list()` and lets `prune_unreferenced` recognise them.
pub(crate) const TEMP_PREFIX: &str = ".wollama-tmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temp file that is deleted on drop unless [`TempFile::persist`] ran.
pub(crate) struct TempFile {
    path: PathBuf,
    file: Option<File>,
    keep: bool,
}

impl TempFile {
    /// Creates a new, exclusively opened temp file inside `dir` (same
    /// directory as the final file, so the publishing rename cannot cross
    /// filesystems).
    pub(crate) fn new_in(dir: &Path) -> Result<TempFile> {
        loop {
            let path = dir.join(unique_name());
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file: Some(file),
                        keep: false,
                    })
                }
                // Another process picked the same name: try the next one.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).ctx("create", &path),
            }
        }
    }

    /// A name for a temp path that the caller creates by other means (hard
    /// link); it is removed on drop exactly like a created temp file.
    pub(crate) fn reserve_in(dir: &Path) -> TempFile {
        TempFile {
            path: dir.join(unique_name()),
            file: None,
            keep: false,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn file(&mut self) -> Option<&mut File> {
        self.file.as_mut()
    }

    /// Flushes data to disk, renames onto `dest` (atomic replace on POSIX)
    /// and syncs the directory so the rename itself survives a crash.
    pub(crate) fn persist(mut self, dest: &Path) -> Result<()> {
        if let Some(f) = self.file.take() {
            f.sync_all().ctx("sync", &self.path)?;
        }
        fail_point("persist").ctx("rename", &self.path)?;
        fs::rename(&self.path, dest).ctx("rename", &self.path)?;
        self.keep = true;
        if let Some(dir) = dest.parent() {
            sync_dir(dir);
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            self.file.take();
            // Best effort: the file may never have been created (reserve_in).
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn unique_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{TEMP_PREFIX}{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// fsync a directory so renames/unlinks in it are durable. Best effort: not
/// every platform or filesystem supports opening directories.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// `create_dir_all` that reports which directories it actually created, so a
/// failed write can remove exactly those again (outermost last).
pub(crate) fn create_dirs_tracked(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || d.is_dir() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    let mut created = Vec::new();
    for d in missing.iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => created.push(d.clone()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => {
                remove_created_dirs(&created);
                return Err(e).ctx("mkdir", d);
            }
        }
    }
    Ok(created)
}

/// Undo for [`create_dirs_tracked`]: removes the listed directories, deepest
/// first, skipping any that are no longer empty.
pub(crate) fn remove_created_dirs(created: &[PathBuf]) {
    for d in created.iter().rev() {
        let _ = fs::remove_dir(d);
    }
}

/// Removes empty directories below `root` (depth first), keeping `root`
/// itself. Symlinks are never followed.
pub(crate) fn prune_empty_dirs(root: &Path) -> Result<()> {
    fn walk(dir: &Path, is_root: bool) -> Result<()> {
        let meta = fs::symlink_metadata(dir).ctx("stat", dir)?;
        if !meta.is_dir() {
            return Ok(());
        }
        for entry in fs::read_dir(dir).ctx("readdir", dir)? {
            let entry = entry.ctx("readdir", dir)?;
            walk(&entry.path(), false)?;
        }
        if !is_root && fs::read_dir(dir).ctx("readdir", dir)?.next().is_none() {
            match fs::remove_dir(dir) {
                Ok(()) => {}
                // Someone wrote into it meanwhile, or removed it: both fine.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::DirectoryNotEmpty
                    ) => {}
                Err(e) => return Err(e).ctx("remove", dir),
            }
        }
        Ok(())
    }
    walk(root, true)
}

/// Sets a file's mtime to now, so grace-period pruning treats a reused blob
/// as fresh. Best effort.
pub(crate) fn touch(path: &Path) {
    if let Ok(f) = OpenOptions::new().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

// ---------------------------------------------------------------------------
// Fail points: tests arm a named step to fail so they can check that a failed
// write leaves the store untouched. Thread-local because the test harness runs
// each test on its own thread; compiled to a no-op outside tests.

#[cfg(test)]
thread_local! {
    static ARMED: std::cell::RefCell<Vec<&'static str>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Makes the next `fail_point(name)` on this thread fail (test builds only).
#[cfg(test)]
pub(crate) fn arm_fail_point(name: &'static str) {
    ARMED.with(|a| a.borrow_mut().push(name));
}

#[cfg(test)]
pub(crate) fn fail_point(name: &str) -> io::Result<()> {
    let hit = ARMED.with(|a| {
        let mut a = a.borrow_mut();
        match a.iter().position(|n| *n == name) {
            Some(i) => {
                a.remove(i);
                true
            }
            None => false,
        }
    });
    if hit {
        Err(io::Error::other(format!("injected failure at {name}")))
    } else {
        Ok(())
    }
}

#[cfg(not(test))]
#[inline(always)]
pub(crate) fn fail_point(_name: &str) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
pub(crate) mod testutil {
    use std::collections::BTreeMap;
    use std::path::Path;

    /// Every file under `root` with its bytes, plus every directory: equal
    /// snapshots mean "the store is exactly as before".
    pub(crate) fn snapshot(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let p = e.path();
                let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                if p.is_dir() {
                    out.insert(rel + "/", None);
                    walk(root, &p, out);
                } else {
                    out.insert(rel, std::fs::read(&p).ok());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(root, root, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_removed_unless_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let t = TempFile::new_in(dir.path()).unwrap();
        let p = t.path().to_path_buf();
        assert!(p.exists());
        drop(t);
        assert!(!p.exists());

        let mut t = TempFile::new_in(dir.path()).unwrap();
        use std::io::Write;
        t.file().unwrap().write_all(b"x").unwrap();
        let dest = dir.path().join("final");
        t.persist(&dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"x");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failed_persist_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let t = TempFile::new_in(dir.path()).unwrap();
        arm_fail_point("persist");
        assert!(t.persist(&dir.path().join("final")).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn tracked_dirs_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("a")).unwrap();
        let created = create_dirs_tracked(&dir.path().join("a/b/c")).unwrap();
        assert_eq!(created.len(), 2);
        remove_created_dirs(&created);
        assert!(dir.path().join("a").is_dir());
        assert!(!dir.path().join("a/b").exists());
    }

    #[test]
    fn prune_keeps_root_and_nonempty() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b/c")).unwrap();
        fs::create_dir_all(dir.path().join("x/y")).unwrap();
        fs::write(dir.path().join("x/y/f"), b"1").unwrap();
        prune_empty_dirs(dir.path()).unwrap();
        assert!(!dir.path().join("a").exists());
        assert!(dir.path().join("x/y/f").exists());
        assert!(dir.path().is_dir());
    }
}
