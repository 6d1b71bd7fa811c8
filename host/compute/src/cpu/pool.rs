//! The executor's own thread pool for data-parallel kernels.
//!
//! A job is `n` chunks; every participant (the calling thread included) claims the next chunk
//! from one atomic word until none are left. No chunk belongs to a particular thread, so when a
//! worker is descheduled (another process holds its core) the others simply take the remaining
//! chunks and the pass slows down by at most the chunk that worker holds, instead of waiting
//! for its whole share. Idle workers spin briefly (the kernels of one forward pass follow each
//! other within microseconds) and then sleep on a condition variable.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A chunk body: `task(chunk, thread)`. `thread` is 0 for the caller and 1.. for workers, so
/// a kernel can index per-thread scratch space.
pub type Task<'a> = dyn Fn(usize, usize) + Sync + 'a;

/// How long an idle worker spins flat out (the next kernel of a pass is microseconds away).
const SPIN_HOT: Duration = Duration::from_micros(50);
/// How long it keeps polling, yielding its core between polls, before it sleeps.
const SPIN: Duration = Duration::from_micros(500);

struct Shared {
    /// `(n << 32) | next`: the current job's chunk count and its next unclaimed chunk, in one
    /// word so that a claim (a compare-and-swap) can only succeed for a chunk of the job that
    /// is current at that instant.
    claim: AtomicU64,
    /// The current job's closure: a pointer to a `&Task` on the caller's stack. Read only
    /// after a successful claim, while the caller is still waiting for that chunk.
    task: AtomicPtr<()>,
    /// Chunks finished in the current job.
    done: AtomicUsize,
    /// Bumped once per job; workers watch it to learn there is work.
    epoch: AtomicU32,
    /// A chunk panicked; the caller re-raises after the job.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    shutdown: AtomicBool,
}

impl Shared {
    /// Claims and runs chunks of whatever job is current until none are left; returns how
    /// many it ran.
    fn work(&self, thread: usize) -> usize {
        let mut ran = 0;
        loop {
            let c = self.claim.load(Ordering::Acquire);
            let (n, i) = ((c >> 32) as usize, (c & 0xffff_ffff) as usize);
            if i >= n {
                return ran;
            }
            if self
                .claim
                .compare_exchange_weak(c, c + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // SAFETY: chunk i of the current job is ours and not yet done, so the caller is
            // still inside `run` and the closure it published is alive.
            let task = unsafe { &**(self.task.load(Ordering::Acquire) as *const &Task) };
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| task(i, thread))) {
                self.panic.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(p);
            }
            self.done.fetch_add(1, Ordering::AcqRel);
            ran += 1;
        }
    }
}

pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// One job at a time: plans sharing the pool take turns.
    running: Mutex<()>,
    /// Contention guard (see `judge`): jobs run on the caller alone until this many
    /// nanoseconds after `born` (0 = never).
    solo_until: AtomicU64,
    /// Moving average of what sharing saved per job, in ns (negative: it cost).
    benefit: AtomicI64,
    born: Instant,
}
/// Average loss per shared job (vs the caller alone) that starts a solo spell.
const SOLO_LOSS: Duration = Duration::from_micros(20);
/// How long a solo spell lasts before the workers are tried again.
const SOLO: Duration = Duration::from_millis(50);

impl Pool {
    pub fn new(threads: usize) -> Pool {
        let shared = Arc::new(Shared {
            claim: AtomicU64::new(0),
            task: AtomicPtr::new(std::ptr::null_mut()),
            done: AtomicUsize::new(0),
            epoch: AtomicU32::new(0),
            panic: Mutex::new(None),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
        });
        let workers = (1..threads.max(1))
            .map(|t| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("wollama-cpu-{t}"))
                    .spawn(move || worker(&shared, t))
                    .expect("spawning a compute thread")
            })
            .collect();
        Pool {
            shared,
            workers,
            running: Mutex::new(()),
            solo_until: AtomicU64::new(0),
            benefit: AtomicI64::new(0),
            born: Instant::now(),
        }
    }

    /// Participants in a job: the workers and the caller.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `task(i, thread)` for every chunk i in 0..n, returning when all have finished. A
    /// panic in any chunk is re-raised here after the others finish.
    pub fn run(&self, n: usize, task: &Task) {
        if n == 0 {
            return;
        }
        if self.workers.is_empty() || n == 1 || self.solo() {
            (0..n).for_each(|i| task(i, 0));
            return;
        }
        assert!(n < (1 << 31), "too many chunks for one job");
        let _turn = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let s = &*self.shared;
        // Publish: closure and counters first, then the claim word (release) that makes the
        // chunks claimable, then the epoch that wakes workers.
        let task_ref: &Task = task;
        s.task.store(&task_ref as *const &Task as *mut (), Ordering::Relaxed);
        s.done.store(0, Ordering::Relaxed);
        s.claim.store((n as u64) << 32, Ordering::Release);
        s.epoch.fetch_add(1, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        let start = Instant::now();
        let mine = s.work(0);
        let worked = start.elapsed();
        // Every chunk is claimed; wait for those still running elsewhere. A worker holding one
        // may be waiting for a core, so stop spinning soon and yield to it.
        let mut spins = 0u32;
        while s.done.load(Ordering::Acquire) < n {
            spins += 1;
            if spins < 2000 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        self.judge(n, mine, worked, start.elapsed());
        // No claim can succeed any more (next == n), so nothing reads `task_ref` after this.
        if let Some(p) = s.panic.lock().unwrap_or_else(|e| e.into_inner()).take() {
            resume_unwind(p);
        }
    }

    fn solo(&self) -> bool {
        let until = self.solo_until.load(Ordering::Relaxed);
        until != 0 && (self.born.elapsed().as_nanos() as u64) < until
    }

    /// When other processes hold the cores, a worker that claimed a chunk can sit
    /// descheduled for a whole time slice while the caller waits for it: sharing a job can
    /// cost more than it saves. Each job where both the caller and others ran chunks compares
    /// what it would have taken on the caller alone (the caller's time per chunk × all chunks)
    /// with what it took; a job the caller ran alone costs only its wait (about nothing). While
    /// the moving average loses more than `SOLO_LOSS` per job, jobs run on the caller alone for
    /// a spell (the workers go to sleep), then sharing is tried again.
    fn judge(&self, chunks: usize, mine: usize, worked: Duration, total: Duration) {
        let total_ns = total.as_nanos() as i64;
        let saved = if mine == 0 {
            0 // others ran everything: no estimate of the caller alone, and no harm seen
        } else if mine == chunks {
            worked.as_nanos() as i64 - total_ns // nobody helped: minus the wait, if any
        } else {
            worked.as_nanos() as i64 * chunks as i64 / mine as i64 - total_ns
        };
        let avg = self.benefit.load(Ordering::Relaxed);
        let avg = avg - avg / 4 + saved / 4;
        if avg < -(SOLO_LOSS.as_nanos() as i64) {
            let until = self.born.elapsed() + SOLO;
            self.solo_until.store(until.as_nanos() as u64, Ordering::Relaxed);
            self.benefit.store(0, Ordering::Relaxed);
        } else {
            self.benefit.store(avg, Ordering::Relaxed);
        }
    }
}

fn worker(s: &Shared, thread: usize) {
    // Epochs start at 0 when the pool is made: a worker that starts late still sees the
    // jobs published before it ran.
    let mut seen = 0;
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        while s.epoch.load(Ordering::Acquire) == seen && !s.shutdown.load(Ordering::Relaxed) {
            spins += 1;
            if !spins.is_multiple_of(64) {
                std::hint::spin_loop();
                continue;
            }
            let idle = start.elapsed();
            if idle < SPIN_HOT {
                continue;
            }
            if idle < SPIN {
                // Still likely to get work soon, but let a thread that shares this core
                // (the caller, when another process holds the other cores) run meanwhile.
                std::thread::yield_now();
                continue;
            }
            let mut g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.sleepers.fetch_add(1, Ordering::SeqCst);
            while s.epoch.load(Ordering::SeqCst) == seen && !s.shutdown.load(Ordering::SeqCst) {
                g = s.wake.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            s.sleepers.fetch_sub(1, Ordering::SeqCst);
            break;
        }
        if s.shutdown.load(Ordering::Acquire) {
            return;
        }
        seen = s.epoch.load(Ordering::Acquire);
        s.work(thread);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        {
            let _g = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.shutdown.store(true, Ordering::SeqCst);
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// A raw pointer that pool chunks use to write disjoint parts of one buffer.
#[derive(Clone, Copy)]
pub struct SyncPtr<T>(pub *mut T);
// SAFETY: only used for writes that the chunk indices keep disjoint.
unsafe impl<T> Send for SyncPtr<T> {}
unsafe impl<T> Sync for SyncPtr<T> {}

impl<T> SyncPtr<T> {
    pub fn new(s: &mut [T]) -> Self {
        SyncPtr(s.as_mut_ptr())
    }

    /// # Safety
    /// `i` must be inside the buffer and written by no one else meanwhile.
    pub unsafe fn write(&self, i: usize, v: T) {
        unsafe { *self.0.add(i) = v }
    }

    /// # Safety
    /// `start..start + len` must be inside the buffer and written by no one else meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }
}

/// Per-thread scratch space: `get(thread)` inside a pool chunk is exclusive because a thread
/// runs one chunk at a time.
pub struct PerThread<T>(Vec<std::cell::UnsafeCell<T>>);
// SAFETY: each thread index touches only its own cell (see `get`).
unsafe impl<T: Send> Sync for PerThread<T> {}

impl<T> PerThread<T> {
    pub fn new(threads: usize, mut make: impl FnMut() -> T) -> Self {
        PerThread((0..threads).map(|_| std::cell::UnsafeCell::new(make())).collect())
    }

    /// # Safety
    /// Only the pool thread numbered `thread` may call this, and only while no other
    /// reference from an earlier call is alive.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get(&self, thread: usize) -> &mut T {
        unsafe { &mut *self.0[thread].get() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_runs_once_for_any_thread_count() {
        for threads in 1..=3 {
            let pool = Pool::new(threads);
            for n in [0usize, 1, 2, 7, 100, 1000] {
                let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                pool.run(n, &|i, t| {
                    assert!(t < threads);
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
                assert!(
                    hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                    "threads {threads} n {n}"
                );
            }
        }
    }

    #[test]
    fn workers_help_and_sleep_between_jobs() {
        let pool = Pool::new(3);
        let seen = Mutex::new(std::collections::HashSet::new());
        pool.run(64, &|_, t| {
            std::thread::sleep(Duration::from_millis(1));
            seen.lock().unwrap().insert(t);
        });
        assert!(seen.lock().unwrap().len() >= 2, "only one thread worked");
        // Long enough for the workers to park; the next job must wake them.
        std::thread::sleep(Duration::from_millis(20));
        let count = AtomicUsize::new(0);
        pool.run(50, &|_, _| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 50);
    }

    #[test]
    fn a_panicking_chunk_is_reraised_and_the_pool_survives() {
        let pool = Pool::new(2);
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run(10, &|i, _| {
                if i == 7 {
                    panic!("chunk 7");
                }
            })
        }));
        assert!(r.is_err());
        let count = AtomicUsize::new(0);
        pool.run(10, &|_, _| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn goes_solo_when_workers_keep_the_caller_waiting_and_recovers() {
        let pool = Pool::new(2);
        // The caller's chunk ends as soon as a worker has taken the other one, which takes
        // long: the caller waits longer than it works, every time.
        for _ in 0..3 {
            if pool.solo() {
                break;
            }
            let taken = AtomicBool::new(false);
            pool.run(2, &|_, thread| {
                if thread == 0 {
                    let t = Instant::now();
                    while !taken.load(Ordering::Acquire) && t.elapsed() < Duration::from_secs(5) {
                        std::hint::spin_loop();
                    }
                } else {
                    taken.store(true, Ordering::Release);
                    std::thread::sleep(Duration::from_millis(30));
                }
            });
        }
        assert!(
            pool.solo(),
            "jobs that cost more shared than alone should make the pool run solo"
        );
        let t = AtomicUsize::new(0);
        pool.run(8, &|_, thread| {
            t.fetch_max(thread, Ordering::Relaxed);
        });
        assert_eq!(t.load(Ordering::Relaxed), 0, "solo jobs run on the caller");
        std::thread::sleep(SOLO + Duration::from_millis(5));
        assert!(!pool.solo());
    }

    #[test]
    fn jobs_the_caller_runs_alone_do_not_count_against_sharing() {
        let pool = Pool::new(2);
        // The worker parks; short jobs are then done by the caller before it wakes. That
        // costs nothing and must not start a solo spell.
        std::thread::sleep(Duration::from_millis(10));
        for _ in 0..50 {
            pool.run(2, &|_, _| {
                std::hint::black_box(0);
            });
            assert!(!pool.solo());
        }
    }

    #[test]
    fn finishes_while_other_threads_hog_the_cores() {
        let stop = Arc::new(AtomicBool::new(false));
        let hogs: Vec<_> = (0..2)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        let pool = Pool::new(2);
        let t = Instant::now();
        for _ in 0..2000 {
            let c = AtomicUsize::new(0);
            pool.run(16, &|_, _| {
                c.fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(c.load(Ordering::Relaxed), 16);
        }
        stop.store(true, Ordering::Relaxed);
        for h in hogs {
            h.join().unwrap();
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "2000 small jobs took {:?}",
            t.elapsed()
        );
    }
}
