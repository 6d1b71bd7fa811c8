//! Runs the wollama guest component under wasmtime. The host side of the contract is small:
//! it maps model files, compiles the guest's forward plans on an executor, and drives the
//! guest's engine loop (`next` -> run the batch -> `complete`).

mod bindings;
mod cache;
mod convert;
mod executor;
mod host;
mod lower;
mod prompt;
mod runner;
mod session;

pub use bindings::exports::wollama::engine::runtime::{
    ChatMessage, Conversion, EngineOptions, Event, Finish, Grammar, MetaValue, ModelInfo, PromptOptions, Request, Sampling,
    TemplateFeatures, TensorCopy, TensorInfo, TokenLogprob, TokenLogprobs,
};
pub use convert::{safetensors_header, ConversionReader};
pub use executor::{gpu_for, Device, DeviceChoice};
pub use wollama_gpu::{AdapterSummary, GpuExecutor, LimitOverride};
pub use runner::{EventSink, LoadedInfo, LogprobSink, Runner};
pub use session::{Session, StepTimes};

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use wasmtime::component::{HasSelf, Linker};

/// Errors a caller can act on: the guest's own error kinds, plus engine failures (traps).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    OutOfMemory(String),
    #[error("the engine failed: {0}")]
    Engine(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<bindings::wollama::engine::types::EngineError> for Error {
    fn from(e: bindings::wollama::engine::types::EngineError) -> Self {
        use bindings::wollama::engine::types::EngineError as E;
        match e {
            E::Invalid(m) => Error::Invalid(m),
            E::Unsupported(m) => Error::Unsupported(m),
            E::Io(m) => Error::Io(m),
            E::OutOfMemory(m) => Error::OutOfMemory(m),
        }
    }
}

impl From<wasmtime::Error> for Error {
    fn from(e: wasmtime::Error) -> Self {
        Error::Engine(format!("{e:#}"))
    }
}

/// The guest component, built by this crate's build script from `guest/`.
pub static GUEST_COMPONENT: &[u8] = include_bytes!(env!("WOLLAMA_GUEST_COMPONENT"));

/// The compiled guest, linked and pre-instantiated: one per process (`Runtime::shared`),
/// instantiated once per loaded model.
pub struct Runtime {
    engine: wasmtime::Engine,
    /// Imports resolved and types checked once, so an instance is only its own memory.
    pre: bindings::GuestPre<host::HostState>,
}

impl Runtime {
    /// The process's runtime, made on first use: compiling the guest (or loading its compiled
    /// form from the cache, `~/.cache/wollama/components`, keyed by the component's sha256 and
    /// wasmtime's version) and linking it happen once, however many models and model reads
    /// (`/api/show`, `/api/tags`, imports) follow. A failed start is retried by the next call.
    pub fn shared() -> Result<&'static Runtime> {
        static SHARED: Mutex<Option<&'static Runtime>> = Mutex::new(None);
        // Held while compiling: concurrent first callers wait for the one compile.
        let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(rt) = *slot {
            return Ok(rt);
        }
        let rt: &'static Runtime = Box::leak(Box::new(Runtime::new()?));
        *slot = Some(rt);
        Ok(rt)
    }

    fn new() -> Result<Runtime> {
        let mut config = wasmtime::Config::new();
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = wasmtime::Engine::new(&config)?;
        let component = cache::load_or_compile(&engine, GUEST_COMPONENT)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        bindings::Guest::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        let pre = bindings::GuestPre::new(linker.instantiate_pre(&component)?)?;
        Ok(Runtime { engine, pre })
    }

    /// A fresh guest instance in `store`, from the pre-instantiated component.
    pub(crate) fn instantiate(&self, store: &mut wasmtime::Store<host::HostState>) -> Result<bindings::Guest> {
        Ok(self.pre.instantiate(store)?)
    }

    /// Opens a GGUF model in a fresh guest instance, running plans on the CPU with `threads`
    /// threads.
    pub fn open(&self, path: &Path, threads: usize) -> Result<Session> {
        self.open_on(path, &Device::Cpu { threads })
    }

    /// Opens a GGUF model in a fresh guest instance, running plans on `device`.
    pub fn open_on(&self, path: &Path, device: &Device) -> Result<Session> {
        Session::open(self, path, executor::Executor::new(device))
    }
}
