//! The CPU executor: compiles a guest's plan against the mapped model file (every weight and
//! node checked once, buffers and the KV cache allocated once: `compile`), then runs batches
//! on its own thread pool with candle's block types and ggml-exact kernels (`run`).

mod attention;
mod backing;
mod compile;
mod ggml_math;
mod ggml_simd;
mod kquant;
mod matmul;
mod ops;
mod pool;
#[doc(hidden)]
pub mod probe;
mod quant;
mod run;
mod topk;
mod weights;

use std::sync::{Arc, Mutex, Weak};

use memmap2::Mmap;
use wollama_plan::PlanSpec;

use attention::KvLayer;
use backing::Backing;
pub use pool::Pool;
use pool::PerThread;
use weights::Weight;

#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    /// The plan needs something this executor cannot do (e.g. a weight type).
    #[error("{0}")]
    Unsupported(String),
    /// The plan or batch is malformed.
    #[error("{0}")]
    Invalid(String),
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, ComputeError> {
    Err(ComputeError::Invalid(msg.into()))
}

/// Owns the thread pool that every plan compiled by it runs on, and the weights' bytes of
/// each file its plans read (one huge-page copy per file, shared by its plans).
pub struct CpuExecutor {
    pool: Arc<Pool>,
    copy_weights: bool,
    backings: Mutex<Vec<Weak<Backing>>>,
}

impl CpuExecutor {
    /// A pool of `threads` participants (the calling thread counts as one); at least 1.
    /// Weights move to a huge-page copy in the background where that helps
    /// (`backing::copy_wanted`).
    pub fn new(threads: usize) -> Self {
        Self::with_weight_copy(threads, backing::copy_wanted())
    }

    /// As `new`, with the huge-page copy of the weights on or off.
    pub fn with_weight_copy(threads: usize, copy_weights: bool) -> Self {
        CpuExecutor {
            pool: Arc::new(Pool::new(threads.max(1))),
            copy_weights,
            backings: Mutex::new(Vec::new()),
        }
    }

    /// The bytes of `file` for a plan whose weights start at `start`: the backing an earlier
    /// plan over the same mapping made, or a new one (which starts copying).
    fn backing(&self, file: Arc<Mmap>, start: usize) -> Arc<Backing> {
        if !self.copy_weights {
            return Backing::file_only(file);
        }
        let mut all = self.backings.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|b| b.strong_count() > 0);
        if let Some(b) = all.iter().filter_map(Weak::upgrade).find(|b| Arc::ptr_eq(b.file(), &file)) {
            return b;
        }
        let b = Backing::copying(file, start);
        all.push(Arc::downgrade(&b));
        b
    }

    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Validates `spec` against the mapped file and prepares it to run: binds every weight
    /// (bounds, block shape, type support for its use), infers and checks every node's
    /// width, allocates activation buffers for `max_rows` and the f16 KV cache.
    pub fn compile(&self, file: Arc<Mmap>, spec: PlanSpec) -> Result<CpuPlan, ComputeError> {
        // The copy starts at the first weight: what comes before is metadata.
        let start = spec.weights.iter().map(|w| w.offset).min().unwrap_or(0);
        let backing = self.backing(file, start.min(usize::MAX as u64) as usize);
        CpuPlan::compile(Arc::clone(&self.pool), backing, spec)
    }
}

// The runtime keeps plans in its wasm host state and shares the executor across threads.
const _: () = {
    const fn send<T: Send>() {}
    const fn send_sync<T: Send + Sync>() {}
    send::<CpuPlan>();
    send_sync::<CpuExecutor>();
};

/// Per node, fixed at compile time.
#[derive(Debug, Clone, Copy)]
struct NodeInfo {
    width: usize,
    /// Its rows are the batch's logit rows (it comes after SelectRows), not its tokens.
    selected: bool,
    /// Needed for the logits or for a KV-cache write.
    live: bool,
    /// Activation buffer (shared with nodes whose lifetimes do not overlap).
    slot: usize,
}

pub struct CpuPlan {
    pool: Arc<Pool>,
    spec: PlanSpec,
    /// The weights' bytes (the file, then its huge-page copy).
    backing: Arc<Backing>,
    /// Matrices (Matmul, Embed) as typed views of the file.
    weights: Vec<Option<Weight>>,
    /// Vectors (MulWeight, AddWeight) converted to f32 once.
    vectors: Vec<Option<Vec<f32>>>,
    nodes: Vec<NodeInfo>,
    /// Per node: needed for the hidden output or a KV-cache write. A batch whose logit rows
    /// all want the hidden state runs only these (it skips the LM head).
    for_hidden: Vec<bool>,
    slots: Vec<Vec<f32>>,
    kv: Vec<KvLayer>,
    vocab: u32,
    /// Token ids must be below this (the smallest embedding matrix's row count).
    token_space: u32,
    /// Positions must be below this when the plan embeds positions (u32::MAX otherwise).
    position_space: u32,
    matmul_scratch: Vec<u64>,
    /// For a Matmul node: how many consecutive live Matmul nodes from it (itself included)
    /// read the same input with groupable weights (they run as one `matmul_group`).
    matmul_run: Vec<usize>,
    rope_cache: PerThread<Vec<f32>>,
    attention_scratch: PerThread<attention::Scratch>,
    /// (a biased logit row, index scratch) per thread.
    topk_scratch: PerThread<(Vec<f32>, Vec<u32>)>,
}

impl CpuPlan {
    /// Whether every weight is read from the huge-page copy now (false before the first
    /// `run`, which starts the copy, while it is being made, and always when none is made).
    pub fn weights_copied(&self) -> bool {
        self.backing.copied()
    }

    /// Width of the logits node.
    pub fn vocab(&self) -> u32 {
        self.vocab
    }

    pub fn spec(&self) -> &PlanSpec {
        &self.spec
    }
}
