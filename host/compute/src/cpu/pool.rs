//! A small thread pool for data-parallel kernels. Work is split into chunks claimed from an
//! atomic counter, and the calling thread works too: if a worker is descheduled (another
//! process holds its core), the others take the remaining chunks instead of waiting for it.
//! Idle workers spin briefly (consecutive kernels of one forward pass follow each other
//! within microseconds) and then sleep on a condition variable.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type Task = dyn Fn(usize) + Sync;

struct Job {
    /// The caller's closure, valid until `done == n` (the caller waits for that).
    task: *const Task,
    n: usize,
    next: AtomicUsize,
    done: AtomicUsize,
}

// SAFETY: `task` points to a `Sync` closure that outlives every use (see `Pool::run`).
unsafe impl Send for Job {}
unsafe impl Sync for Job {}

impl Job {
    /// Claims and runs chunks until none are left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.n {
                return;
            }
            // SAFETY: i < n, so the caller is still waiting in `run` and the closure is alive.
            unsafe { (*self.task)(i) };
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Bumped per job, read without the lock by spinning workers.
    epoch: AtomicUsize,
}

struct State {
    job: Option<Arc<Job>>,
    shutdown: bool,
}

pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Contention guard: while set, jobs run on the calling thread alone (see `run`).
    /// Nanoseconds since `born` until which jobs run solo (0 = not solo).
    solo_until: AtomicU64,
    strikes: AtomicU32,
    born: Instant,
}

/// Jobs whose straggler wait exceeded their own work, in a row, before going solo.
const STRIKES: u32 = 3;
/// How long to run solo before trying the workers again.
const SOLO: Duration = Duration::from_millis(50);

/// How long an idle worker spins before sleeping.
const SPIN: Duration = Duration::from_micros(200);

impl Pool {
    pub fn new(threads: usize) -> Pool {
        let shared = Arc::new(Shared {
            state: Mutex::new(State { job: None, shutdown: false }),
            wake: Condvar::new(),
            epoch: AtomicUsize::new(0),
        });
        let workers = (1..threads.max(1))
            .map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("wollama-cpu-{i}"))
                    .spawn(move || worker(shared))
                    .expect("spawning a compute thread")
            })
            .collect();
        Pool { shared, workers, solo_until: AtomicU64::new(0), strikes: AtomicU32::new(0), born: Instant::now() }
    }

    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `task(i)` for every i in 0..n across the pool, returning when all are done.
    pub fn run(&self, n: usize, task: &(dyn Fn(usize) + Sync)) {
        if n == 0 {
            return;
        }
        if self.workers.is_empty() || n == 1 || self.solo() {
            (0..n).for_each(task);
            return;
        }
        // SAFETY: the lifetime is erased only for the duration of this call; we return
        // only after every claimed chunk has finished, and unclaimed chunks are never run.
        let task: *const Task = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static Task>(task) };
        let job = Arc::new(Job { task, n, next: AtomicUsize::new(0), done: AtomicUsize::new(0) });
        {
            let mut st = self.shared.state.lock().unwrap();
            st.job = Some(Arc::clone(&job));
            self.shared.epoch.fetch_add(1, Ordering::Release);
        }
        self.shared.wake.notify_all();
        let start = Instant::now();
        job.work();
        let worked = start.elapsed();
        let mut spins = 0u32;
        while job.done.load(Ordering::Acquire) < n {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                // A worker holding a chunk may be waiting for a core: let it run.
                std::thread::yield_now();
            }
        }
        self.judge(worked, start.elapsed() - worked);
    }

    fn now_ns(&self) -> u64 {
        self.born.elapsed().as_nanos() as u64
    }

    fn solo(&self) -> bool {
        let until = self.solo_until.load(Ordering::Relaxed);
        until != 0 && self.now_ns() < until
    }

    /// When another process holds a core, a worker that claimed a chunk can sit descheduled
    /// for a whole time slice while the caller waits: that is how a fixed-size pool collapses.
    /// If waiting for stragglers keeps costing more than the work itself, run solo for a
    /// while, then probe again; one thread is never slower than one thread.
    fn judge(&self, worked: Duration, waited: Duration) {
        if waited > worked + Duration::from_micros(50) {
            let s = self.strikes.fetch_add(1, Ordering::Relaxed) + 1;
            if s >= STRIKES {
                self.solo_until.store(self.now_ns() + SOLO.as_nanos() as u64, Ordering::Relaxed);
                self.strikes.store(0, Ordering::Relaxed);
            }
        } else {
            self.strikes.store(0, Ordering::Relaxed);
        }
    }
}

fn worker(shared: Arc<Shared>) {
    let mut seen = 0usize;
    loop {
        let spin_until = Instant::now() + SPIN;
        while shared.epoch.load(Ordering::Acquire) == seen && Instant::now() < spin_until {
            std::hint::spin_loop();
        }
        let job = {
            let mut st = shared.state.lock().unwrap();
            while shared.epoch.load(Ordering::Acquire) == seen && !st.shutdown {
                st = shared.wake.wait(st).unwrap();
            }
            if st.shutdown {
                return;
            }
            seen = shared.epoch.load(Ordering::Acquire);
            st.job.clone()
        };
        if let Some(job) = job {
            job.work();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.state.lock().unwrap().shutdown = true;
        self.shared.wake.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// A raw pointer that may cross into pool tasks writing disjoint parts of one buffer.
#[derive(Clone, Copy)]
pub struct SyncPtr<T>(pub *mut T);
// SAFETY: used only for disjoint writes coordinated by chunk indices.
unsafe impl<T> Send for SyncPtr<T> {}
unsafe impl<T> Sync for SyncPtr<T> {}

impl<T> SyncPtr<T> {
    /// A method (not field access) so closures capture the whole Sync wrapper.
    pub fn get(&self) -> *mut T {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_runs_once_for_any_thread_count() {
        for threads in 1..=3 {
            let pool = Pool::new(threads);
            for n in [0, 1, 2, 7, 100, 1000] {
                let sum = AtomicU64::new(0);
                let count = AtomicUsize::new(0);
                pool.run(n, &|i| {
                    sum.fetch_add(i as u64, Ordering::Relaxed);
                    count.fetch_add(1, Ordering::Relaxed);
                });
                assert_eq!(count.load(Ordering::Relaxed), n);
                assert_eq!(sum.load(Ordering::Relaxed), (n as u64 * n.saturating_sub(1) as u64) / 2);
            }
        }
    }

    #[test]
    fn finishes_while_another_thread_hogs_a_core() {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
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
            pool.run(16, &|_| {
                c.fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(c.load(Ordering::Relaxed), 16);
        }
        stop.store(true, Ordering::Relaxed);
        for h in hogs {
            h.join().unwrap();
        }
        assert!(t.elapsed() < Duration::from_secs(20), "2000 tiny jobs took {:?}", t.elapsed());
    }
}
