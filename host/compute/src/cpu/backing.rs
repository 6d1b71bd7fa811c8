//! Where the weights' bytes are read from: the mapped model file at first, then, as a
//! background thread copies it, an anonymous copy on transparent huge pages.
//!
//! Decode streams every weight once per token, and a file mapping's 4 KiB pages cost a TLB
//! walk every 4 KiB, so the same read runs markedly faster from a huge-page copy. Making the
//! copy at load would delay the cold start (mostly the kernel clearing and compacting fresh
//! huge pages), so it is made afterwards, by a thread at `SCHED_IDLE` priority that only runs
//! on a core nobody else wants. docs/performance.md ("Measurements behind the code's
//! comments") has the numbers for this comment.
//!
//! The copy goes in file order, one 2 MiB chunk at a time, to the same offsets in a mapping
//! of the file's length. After each chunk a watermark moves past it and the chunk's pages of
//! the file mapping are dropped from the process (the page cache keeps them), so the resident
//! set stays near one file's size throughout. A row of a weight reads from the copy when it
//! lies wholly below the watermark, else from the file (`View::row`); both hold the same
//! bytes, so a kernel gives the same bits wherever its rows come from. Decode reads a whole
//! column chunk as one slice only once the copy holds all of it (`View::settled_rows`). A file page a reader
//! faults back in after its chunk was dropped (a row across the watermark, a kernel that read
//! the watermark just before it moved) is dropped again by `settle` at the next step.
//!
//! The copy starts after the plan's first step: a cold start's first token is never behind
//! it (started at load, with one engine thread, the copy on the other core competed with the
//! first prompt for memory and page tables and slowed the cold start).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use memmap2::{Mmap, MmapMut};

/// Bytes per copied chunk: one huge page.
const CHUNK: usize = 2 << 20;

/// The weights' bytes: the file mapping and its huge-page copy (see the module comment).
pub struct Backing {
    file: Arc<Mmap>,
    /// The copy, `file.len()` bytes at the same offsets; None when no copy is made.
    copy: Option<MmapMut>,
    /// The copy's first byte (taken once, through `&mut`, for the copying thread's writes).
    copy_ptr: *mut u8,
    /// Where the copy's bytes start (data before it, the metadata, is never copied).
    start: usize,
    /// File offsets in `start..watermark` are in the copy.
    watermark: AtomicUsize,
    /// Bytes per chunk (CHUNK, smaller in tests).
    chunk: usize,
    /// Whether the source's copied pages are dropped from the process: only for a file
    /// mapping, whose dropped pages fault back with the file's bytes (an anonymous
    /// mapping's would come back as zeros).
    drop_source: bool,
    /// Whether the file's pages below the watermark were dropped again after the last
    /// chunk (by `settle`).
    settled: AtomicBool,
    /// Whether the copying thread was started.
    started: AtomicBool,
}

// SAFETY: the copy is written only above the watermark, by one thread at a time (the copying
// thread, or a test stepping `copy_chunk`), and read only below it, after an Acquire load of
// the watermark that the writer Release-stored once the bytes were in place; the file mapping
// is read-only.
unsafe impl Sync for Backing {}
unsafe impl Send for Backing {}

/// Whether a huge-page copy is worth making here: not when it is turned off
/// (`WOLLAMA_HUGE_PAGES=0`), and on Linux only when transparent huge pages are not `never`.
pub fn copy_wanted() -> bool {
    if std::env::var("WOLLAMA_HUGE_PAGES").is_ok_and(|v| v == "0") {
        return false;
    }
    if cfg!(target_os = "linux") {
        return std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .is_ok_and(|s| !s.contains("[never]"));
    }
    false
}

impl Backing {
    /// Reads from `file` only.
    pub fn file_only(file: Arc<Mmap>) -> Arc<Backing> {
        let len = file.len();
        Arc::new(Backing {
            file,
            copy: None,
            copy_ptr: std::ptr::null_mut(),
            start: len,
            watermark: AtomicUsize::new(len),
            chunk: CHUNK,
            drop_source: false,
            settled: AtomicBool::new(true),
            started: AtomicBool::new(true),
        })
    }

    /// Will copy `file[start..]` onto huge pages in a background thread, started by the
    /// first `settle` (after the first step, so that the copy never delays a cold start's
    /// first token); reads from the file only when no anonymous mapping can be had.
    pub fn copying(file: Arc<Mmap>, start: usize) -> Arc<Backing> {
        Self::unstarted(file.clone(), start, CHUNK).unwrap_or_else(|| Self::file_only(file))
    }

    /// Starts the copying thread (once).
    fn start_copying(self: &Arc<Self>) {
        if self.copy.is_none() || self.started.swap(true, Ordering::Relaxed) {
            return;
        }
        let weak = Arc::downgrade(self);
        // Without the thread the watermark never moves: every read stays with the file.
        let _ = std::thread::Builder::new()
            .name("wollama-weight-copy".into())
            .spawn(move || copy_in_background(weak));
    }

    /// A backing with an empty copy and the watermark at `start`, for `copy_chunk` to fill.
    fn unstarted(file: Arc<Mmap>, start: usize, chunk: usize) -> Option<Arc<Backing>> {
        let len = file.len();
        let start = start.min(len);
        let file_ptr = file.as_ptr() as usize;
        let mut copy = MmapMut::map_anon(len.max(1)).ok()?;
        #[cfg(target_os = "linux")]
        {
            // Only advice: without it the copy still works, on small pages.
            let _ = copy.advise(memmap2::Advice::HugePage);
        }
        let copy_ptr = copy.as_mut_ptr();
        Some(Arc::new(Backing {
            file,
            copy: Some(copy),
            copy_ptr,
            start,
            watermark: AtomicUsize::new(start),
            chunk,
            drop_source: is_file_mapping(file_ptr),
            settled: AtomicBool::new(false),
            started: AtomicBool::new(false),
        }))
    }

    /// A backing whose copy a test fills chunk by chunk (`copy_chunk`).
    #[cfg(test)]
    pub fn stepped(file: Arc<Mmap>, start: usize, chunk: usize) -> Arc<Backing> {
        Self::unstarted(file, start, chunk).expect("an anonymous mapping")
    }

    pub fn file(&self) -> &Arc<Mmap> {
        &self.file
    }

    pub fn len(&self) -> usize {
        self.file.len()
    }

    /// The first byte of `len` bytes at file offset `offset`, from the copy when they are all
    /// in it.
    #[inline]
    pub fn bytes_at(&self, offset: usize, len: usize) -> *const u8 {
        debug_assert!(offset + len <= self.file.len());
        match &self.copy {
            Some(copy) if offset >= self.start && offset + len <= self.watermark.load(Ordering::Acquire) => {
                // SAFETY: offset + len is inside the copy (it has the file's length).
                unsafe { copy.as_ptr().add(offset) }
            }
            // SAFETY: inside the file mapping (callers index within a checked tensor).
            _ => unsafe { self.file.as_ptr().add(offset) },
        }
    }

    /// The first byte of `len` bytes at file offset `offset` where they will stay read from:
    /// the copy when they are all in it, the file when there is no copy; None while a copy
    /// is under way and has not reached them. A caller that reads many rows at once (decode's
    /// column chunks) takes None to mean "pick the source row by row": reading rows from the
    /// file that the copy has already taken would fault their dropped file pages back in and
    /// keep both in the resident set until the copy is done (Gemma 3's peak RSS went over its
    /// target that way; docs/performance.md).
    #[inline]
    pub fn settled_bytes_at(&self, offset: usize, len: usize) -> Option<*const u8> {
        debug_assert!(offset + len <= self.file.len());
        match &self.copy {
            None => Some(self.file.as_ptr().wrapping_add(offset)),
            Some(copy) if offset >= self.start && offset + len <= self.watermark.load(Ordering::Acquire) => {
                Some(copy.as_ptr().wrapping_add(offset))
            }
            Some(_) => None,
        }
    }

    /// Whether every byte from `start` on is in the copy.
    pub fn copied(&self) -> bool {
        self.copy.is_some() && self.watermark.load(Ordering::Acquire) >= self.file.len()
    }

    /// Copies the next chunk and moves the watermark past it; false when all is copied.
    /// One caller at a time (the copying thread).
    fn copy_chunk(&self) -> bool {
        if self.copy.is_none() {
            return false;
        }
        let len = self.file.len();
        let lo = self.watermark.load(Ordering::Acquire);
        if lo >= len {
            return false;
        }
        // Chunks end on chunk boundaries of the file's offsets, which are the copy's huge
        // pages when the copy's mapping is huge-page aligned.
        let hi = ((lo / self.chunk + 1) * self.chunk).min(len);
        // SAFETY: bytes lo..hi of the copy lie above the watermark, so no reader looks at
        // them, and this is the only writer; the source is the read-only file mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(self.file.as_ptr().add(lo), self.copy_ptr.add(lo), hi - lo);
        }
        self.watermark.store(hi, Ordering::Release);
        self.drop_file_pages(lo, hi);
        true
    }

    /// Drops the file mapping's pages wholly inside `lo..hi` from this process: the page
    /// cache keeps them, and a later read faults them back with the same contents.
    fn drop_file_pages(&self, lo: usize, hi: usize) {
        if !self.drop_source {
            return;
        }
        #[cfg(unix)]
        {
            let page = 4096;
            let lo = lo.next_multiple_of(page);
            let hi = if hi == self.file.len() { hi } else { hi / page * page };
            if hi > lo {
                // SAFETY: a read-only file mapping: dropping pages only makes the next access
                // fault them back in from the file; nothing here holds a page's address.
                unsafe {
                    let _ = self.file.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, lo, hi - lo);
                }
            }
        }
        #[cfg(not(unix))]
        let _ = (lo, hi);
    }

    /// After each step, when no kernel reads the weights: starts the copy after the first,
    /// and once it is complete drops every page of the file mapping from the process, the
    /// ones readers faulted back in while it was under way and the metadata's (the guest
    /// read it at load; a later read faults it back).
    pub fn settle(self: &Arc<Self>) {
        self.start_copying();
        if !self.settled.load(Ordering::Relaxed) && self.copied() {
            self.settled.store(true, Ordering::Relaxed);
            self.drop_file_pages(0, self.file.len());
        }
    }
}

/// Whether the mapping at `addr` maps a file (its /proc/self/maps line names an inode);
/// false when that cannot be told.
fn is_file_mapping(addr: usize) -> bool {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return false };
    maps.lines().any(|line| {
        let mut f = line.split_whitespace();
        let range = f.next().and_then(|r| r.split_once('-'));
        let inode = f.nth(3);
        match (range, inode) {
            (Some((a, b)), Some(inode)) => {
                let a = usize::from_str_radix(a, 16).unwrap_or(usize::MAX);
                let b = usize::from_str_radix(b, 16).unwrap_or(0);
                (a..b).contains(&addr) && inode != "0"
            }
            _ => false,
        }
    })
}

/// The copying thread: lowest priority, one chunk per turn, until the copy is complete or
/// the plans that read it are gone.
fn copy_in_background(weak: Weak<Backing>) {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscall on this thread with a valid parameter struct.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        let _ = libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
    while let Some(b) = weak.upgrade() {
        if !b.copy_chunk() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bytes` in an unlinked temporary file, mapped.
    fn file_of(bytes: &[u8]) -> Arc<Mmap> {
        use std::io::Write;
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("wollama-backing-{}-{n}", std::process::id()));
        let mut f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        f.write_all(bytes).unwrap();
        f.flush().unwrap();
        // SAFETY: a private temporary file nobody else writes.
        Arc::new(unsafe { Mmap::map(&f) }.unwrap())
    }

    #[test]
    fn reads_the_same_bytes_at_every_watermark() {
        let bytes: Vec<u8> = (0..50_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let file = file_of(&bytes);
        let b = Backing::stepped(file, 1000, 4096);
        assert!(b.drop_source, "a file mapping's copied pages are dropped");
        let read = |off: usize, len: usize| unsafe { std::slice::from_raw_parts(b.bytes_at(off, len), len) }.to_vec();
        let mut steps = 0;
        loop {
            for (off, len) in [(0, 10), (990, 20), (1000, 4096), (4000, 200), (8190, 4), (49_000, 1000)] {
                assert_eq!(read(off, len), bytes[off..off + len], "offset {off} after {steps} chunks");
                // Settled only once wholly in the copy, and then at the copy.
                let w = b.watermark.load(Ordering::Acquire);
                match b.settled_bytes_at(off, len) {
                    Some(p) => assert!(off >= 1000 && off + len <= w && p == b.bytes_at(off, len) && p != b.file.as_ptr().wrapping_add(off)),
                    None => assert!(off < 1000 || off + len > w, "offset {off} is in the copy"),
                }
            }
            if !b.copy_chunk() {
                break;
            }
            steps += 1;
        }
        // 1000..4096 first, then whole chunks to the end.
        assert_eq!(steps, 1 + (50_000 - 4096usize).div_ceil(4096));
        assert!(b.copied());
        // Below the start everything still comes from the file; above it from the copy.
        assert_eq!(b.bytes_at(10, 10), unsafe { b.file.as_ptr().add(10) });
        assert_ne!(b.bytes_at(2000, 10), unsafe { b.file.as_ptr().add(2000) });
        b.settle();
        // Without a copy, the file is where everything stays.
        let f = Backing::file_only(b.file.clone());
        assert_eq!(f.settled_bytes_at(2000, 10), Some(b.file.as_ptr().wrapping_add(2000)));
    }

    #[test]
    fn an_anonymous_source_is_copied_but_never_dropped() {
        let bytes: Vec<u8> = (0..20_000u32).map(|i| (i % 253) as u8).collect();
        let mut m = MmapMut::map_anon(bytes.len()).unwrap();
        m.copy_from_slice(&bytes);
        let b = Backing::stepped(Arc::new(m.make_read_only().unwrap()), 0, 4096);
        assert!(!b.drop_source);
        while b.copy_chunk() {
            // A row across the watermark reads the source below it: still the bytes.
            let w = b.watermark.load(Ordering::Acquire);
            if w < bytes.len() {
                let got = unsafe { std::slice::from_raw_parts(b.bytes_at(w - 8, 16), 16) };
                assert_eq!(got, &bytes[w - 8..w + 8]);
            }
        }
        b.settle();
        let src = unsafe { std::slice::from_raw_parts(b.file.as_ptr(), bytes.len()) };
        assert_eq!(src, &bytes[..]);
    }

    #[test]
    fn the_background_copy_completes_and_stops_with_its_readers() {
        let bytes: Vec<u8> = (0..(3 << 20) + 123).map(|i: u32| (i % 251) as u8).collect();
        let b = Backing::copying(file_of(&bytes), 64);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(b.watermark.load(Ordering::Acquire), 64, "nothing is copied before the first settle");
        b.settle();
        let t = std::time::Instant::now();
        while !b.copied() {
            assert!(t.elapsed().as_secs() < 30, "the copy did not finish");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let got = unsafe { std::slice::from_raw_parts(b.bytes_at(64, bytes.len() - 64), bytes.len() - 64) };
        assert_eq!(got, &bytes[64..]);
        // A backing dropped mid-copy ends its thread (it holds only a weak reference).
        let b = Backing::copying(file_of(&bytes), 0);
        b.settle();
        drop(b);
    }
}
