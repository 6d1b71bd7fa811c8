//! wollama's GPU executor: compiles a guest's forward plan (`wollama_plan`) into wgpu compute
//! pipelines and runs its batches. The same crate is the native host's GPU executor (Vulkan,
//! Metal, DX12, GL) and, built for `wasm32-unknown-unknown`, the browser's (WebGPU): one set
//! of WGSL kernels.
//!
//! | module    | owns                                                                 |
//! |-----------|----------------------------------------------------------------------|
//! | `device`  | choosing the adapter, its limits and features, device loss           |
//! | `layout`  | how GGUF blocks are repacked into aligned words                      |
//! | `weights` | uploading matrices (split by rows) and vectors                       |
//! | `kernels` | the WGSL sources (`wgsl/`) and their pipelines                        |
//! | `compile` | a plan's buffers, KV cache and passes                                |
//! | `run`     | one step: batch upload, dispatches, top-k, readback                  |

mod compile;
mod device;
mod kernels;
mod layout;
mod run;
mod weights;

use std::borrow::Cow;
use std::sync::Arc;

pub use compile::{GpuPlan, MAX_LOGIT_ROWS};
pub use device::{AdapterSummary, Choice, GpuDevice, LimitOverride};
pub use kernels::{wgsl, wgsl_with, Kernel};
pub use layout::{Layout, SUPPORTED};
use wollama_plan::PlanSpec;

#[derive(Debug, Clone, thiserror::Error)]
pub enum GpuError {
    /// No adapter of the kind asked for.
    #[error("{0}")]
    NoAdapter(String),
    /// The plan needs something this adapter or executor cannot do (a type, a limit).
    #[error("{0}")]
    Unsupported(String),
    /// The plan or batch is malformed.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(String),
    /// The device went away; the plan cannot run again.
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),
}

/// Where weights' bytes come from: the mapped model file natively, the origin-private file
/// system in a browser.
#[allow(clippy::len_without_is_empty)] // a file, never empty
pub trait WeightSource {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn read(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>, String>;
}

/// A file already in memory (the native host's memory map).
impl WeightSource for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>, String> {
        let start = usize::try_from(offset).map_err(|e| e.to_string())?;
        let end = start.checked_add(len).filter(|&e| e <= <[u8]>::len(self)).ok_or("read past the end of the file")?;
        Ok(Cow::Borrowed(&self[start..end]))
    }
}

/// A device and the pipelines made on it; plans compiled here share both.
pub struct GpuExecutor {
    dev: Arc<GpuDevice>,
    pipelines: Arc<kernels::Pipelines>,
}

// The runtime keeps plans in its wasm host state and shares the executor across threads.
#[cfg(not(target_arch = "wasm32"))]
const _: () = {
    const fn send<T: Send>() {}
    const fn send_sync<T: Send + Sync>() {}
    send::<GpuPlan>();
    send_sync::<GpuExecutor>();
};

impl GpuExecutor {
    pub async fn open(choice: Choice, limits: LimitOverride) -> Result<GpuExecutor, GpuError> {
        let dev = GpuDevice::open(choice, limits).await?;
        let dot4 = dev.dot4;
        Ok(GpuExecutor { dev: Arc::new(dev), pipelines: Arc::new(kernels::Pipelines::new(dot4)) })
    }

    /// Whether the integer matmuls use WGSL's dot4I8Packed (else a shift-and-multiply form).
    pub fn uses_dot4(&self) -> bool {
        self.pipelines.dot4
    }

    /// Makes plans compiled from now on use the integer matmuls' fallback instead of
    /// dot4I8Packed (tests of the fallback on an implementation that has it).
    #[doc(hidden)]
    pub fn force_dot4_fallback(&mut self) {
        self.pipelines = Arc::new(kernels::Pipelines::new(false));
    }

    /// Opens the first adapter `choice` accepts (blocking).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(choice: Choice, limits: LimitOverride) -> Result<GpuExecutor, GpuError> {
        pollster::block_on(Self::open(choice, limits))
    }

    pub fn device(&self) -> &GpuDevice {
        &self.dev
    }

    pub fn summary(&self) -> &AdapterSummary {
        self.dev.summary()
    }

    /// Builds `kernel`'s pipeline for weights of `layout` (shared with later plans): whether
    /// this adapter accepts the kernel.
    pub fn check_kernel(&self, kernel: Kernel, layout: Option<&Layout>) -> Result<(), GpuError> {
        self.pipelines.get(&self.dev.device, kernel, layout).map(drop)
    }

    /// Builds a pipeline of WGSL `src` (entry point `main`): its errors, as a plan's kernels
    /// would report them.
    #[doc(hidden)]
    pub fn check_wgsl(&self, label: &str, src: &str) -> Result<(), GpuError> {
        kernels::make_pipeline(&self.dev.device, label, src).map(drop)
    }

    /// Uploads `spec`'s weights from `file` and prepares the plan to run.
    pub fn compile(&self, file: &dyn WeightSource, spec: PlanSpec) -> Result<GpuPlan, GpuError> {
        if self.dev.is_lost() {
            return Err(GpuError::DeviceLost(self.dev.summary().name.clone()));
        }
        // What the checks in compile miss fails as an error, not wgpu's panic.
        let what = || format!("compiling the plan on {}", self.dev.summary().name);
        kernels::scoped(&self.dev.device, what, || GpuPlan::compile(Arc::clone(&self.dev), Arc::clone(&self.pipelines), file, spec))
    }
}
