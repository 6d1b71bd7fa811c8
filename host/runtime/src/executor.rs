//! Which executor runs a session's plans: the CPU's thread pool or a GPU device. Both compile
//! the same `wollama_plan::PlanSpec` and return the same candidates; the session does not
//! care which.

use std::sync::{Arc, Mutex, PoisonError};

use memmap2::Mmap;
use wollama_compute::cpu::{ComputeError, CpuExecutor, CpuPlan};
use wollama_gpu::{Choice, GpuError, GpuExecutor, GpuPlan, LimitOverride};
use wollama_plan::{Batch, Candidates, PlanSpec};

use crate::bindings::wollama::engine::types::EngineError;
use crate::{Error, Result};

/// Where a model runs, as `wollama serve --device` and Ollama's `num_gpu` say.
#[derive(Clone)]
pub enum Device {
    /// The CPU executor with this many threads.
    Cpu { threads: usize },
    /// A GPU device (shared by every model on it).
    Gpu(Arc<GpuExecutor>),
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu { threads } => write!(f, "cpu ({threads} threads)"),
            Device::Gpu(g) => write!(f, "gpu {}", g.summary()),
        }
    }
}

impl Device {
    pub fn is_gpu(&self) -> bool {
        matches!(self, Device::Gpu(_))
    }
}

/// What `--device` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The first hardware GPU, else the CPU.
    Auto,
    Cpu,
    /// The first GPU adapter there is, a software one included; an error when there is none.
    Gpu,
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "gpu" => Ok(DeviceChoice::Gpu),
            other => Err(format!("unknown device {other:?}: expected auto, cpu or gpu")),
        }
    }
}

/// The process's GPU executor for `choice`, opened on first use and opened again after its
/// device was lost. None: `auto` found no hardware adapter (the CPU runs).
pub fn gpu_for(choice: DeviceChoice, limits: LimitOverride) -> Result<Option<Arc<GpuExecutor>>> {
    static OPEN: Mutex<Option<(Choice, Arc<GpuExecutor>)>> = Mutex::new(None);
    let want = match choice {
        DeviceChoice::Cpu => return Ok(None),
        DeviceChoice::Auto => Choice::Hardware,
        DeviceChoice::Gpu => Choice::Any,
    };
    let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((c, g)) = open.as_ref() {
        if *c == want && !g.device().is_lost() {
            return Ok(Some(Arc::clone(g)));
        }
    }
    match GpuExecutor::new(want, limits) {
        Ok(g) => {
            let g = Arc::new(g);
            *open = Some((want, Arc::clone(&g)));
            Ok(Some(g))
        }
        Err(GpuError::NoAdapter(_)) if choice == DeviceChoice::Auto => Ok(None),
        Err(e) => Err(Error::Unsupported(e.to_string())),
    }
}

pub(crate) enum Executor {
    Cpu(Arc<CpuExecutor>),
    Gpu(Arc<GpuExecutor>),
}

// A model has one or two plans, made once: their size does not matter, a box would not help.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Plan {
    Cpu(CpuPlan),
    Gpu(GpuPlan),
}

impl Executor {
    pub(crate) fn new(device: &Device) -> Executor {
        match device {
            Device::Cpu { threads } => Executor::Cpu(Arc::new(CpuExecutor::new((*threads).max(1)))),
            Device::Gpu(g) => Executor::Gpu(Arc::clone(g)),
        }
    }

    pub(crate) fn compile(&self, map: Arc<Mmap>, spec: PlanSpec) -> std::result::Result<Plan, EngineError> {
        match self {
            Executor::Cpu(e) => Ok(Plan::Cpu(e.compile(map, spec)?)),
            Executor::Gpu(g) => Ok(Plan::Gpu(g.compile(&&map[..], spec).map_err(engine_error)?)),
        }
    }
}

impl Plan {
    pub(crate) fn run(&mut self, b: &Batch) -> std::result::Result<Vec<Candidates>, RunError> {
        match self {
            Plan::Cpu(p) => p.run(b).map_err(|e| RunError::Failed(e.to_string())),
            Plan::Gpu(p) => p.run(b).map_err(|e| match e {
                GpuError::DeviceLost(_) => RunError::Lost(e.to_string()),
                other => RunError::Failed(other.to_string()),
            }),
        }
    }

    /// The spec the plan was compiled from.
    pub(crate) fn spec(&self) -> &PlanSpec {
        match self {
            Plan::Cpu(p) => p.spec(),
            Plan::Gpu(p) => p.spec(),
        }
    }

    /// Bytes the plan holds in GPU memory (0 on the CPU).
    pub(crate) fn device_bytes(&self) -> u64 {
        match self {
            Plan::Cpu(_) => 0,
            Plan::Gpu(p) => p.device_bytes(),
        }
    }

    pub(crate) fn last_dispatches(&self) -> u32 {
        match self {
            Plan::Cpu(_) => 0,
            Plan::Gpu(p) => p.last_dispatches(),
        }
    }
}

/// Why a pass failed: its requests fail either way; a lost device also ends the session.
pub(crate) enum RunError {
    Failed(String),
    Lost(String),
}

fn engine_error(e: GpuError) -> EngineError {
    match e {
        GpuError::Invalid(m) => EngineError::Invalid(m),
        GpuError::Io(m) => EngineError::Io(m),
        GpuError::NoAdapter(m) | GpuError::Unsupported(m) => EngineError::Unsupported(m),
        GpuError::DeviceLost(_) => EngineError::Unsupported(e.to_string()),
    }
}

impl From<ComputeError> for EngineError {
    fn from(e: ComputeError) -> Self {
        match e {
            ComputeError::Unsupported(m) => EngineError::Unsupported(m),
            ComputeError::Invalid(m) => EngineError::Invalid(m),
        }
    }
}
