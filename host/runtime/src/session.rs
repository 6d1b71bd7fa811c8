//! One loaded model: a guest instance in its own store, its model resource, and (once
//! started) its engine. The owner drives `step` in a loop; nothing here spawns threads.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use memmap2::Mmap;
use wasmtime::component::{ResourceAny, ResourceTable};
use wasmtime::Store;
use wasmtime_wasi::WasiCtxBuilder;

use crate::bindings::exports::wollama::engine::runtime::{Batch, Candidates};
use crate::bindings::Guest;
use crate::executor::{Executor, RunError};
use crate::host::{HostState, ModelFile};
use crate::{
    ChatMessage, EngineOptions, Error, Event, MetaValue, ModelInfo, PromptOptions, Request, Result, Runtime, TemplateFeatures,
    TensorInfo, TokenLogprobs,
};

/// Where the time of the steps so far went: the executor's kernels, and everything else
/// (guest scheduling, sampling, detokenizing, and the boundary crossings).
#[derive(Debug, Clone, Copy, Default)]
pub struct StepTimes {
    pub steps: u64,
    pub kernel: Duration,
    pub total: Duration,
}

pub struct Session {
    store: Store<HostState>,
    guest: Guest,
    model: ResourceAny,
    engine: Option<ResourceAny>,
    times: StepTimes,
    /// Set when the GPU device went away: every later step fails, and the owner should open
    /// the model again (on a new device).
    lost: Option<String>,
    dispatches: u32,
}

impl Session {
    pub(crate) fn open(rt: &Runtime, path: &Path, executor: Executor) -> Result<Session> {
        let file = File::open(path).map_err(|e| Error::Io(format!("opening {}: {e}", path.display())))?;
        // SAFETY: model files are treated as immutable while loaded; the store replaces blobs
        // by rename, never in place.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::Io(format!("mapping {}: {e}", path.display())))?;
        let state = HostState {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            executor,
            plans: Vec::new(),
        };
        let mut store = Store::new(&rt.engine, state);
        let guest = rt.instantiate(&mut store)?;
        let file_res = store
            .data_mut()
            .table
            .push(ModelFile { map: Arc::new(map) })
            .map_err(|e| Error::Engine(e.to_string()))?;
        let model = guest.wollama_engine_runtime().model().call_open(&mut store, file_res)??;
        Ok(Session { store, guest, model, engine: None, times: StepTimes::default(), lost: None, dispatches: 0 })
    }

    pub fn info(&mut self) -> Result<ModelInfo> {
        let g = self.guest.wollama_engine_runtime();
        Ok(g.model().call_info(&mut self.store, self.model)?)
    }

    pub fn metadata(&mut self) -> Result<Vec<(String, MetaValue)>> {
        let g = self.guest.wollama_engine_runtime();
        Ok(g.model().call_metadata(&mut self.store, self.model)?)
    }

    /// Every metadata key with its whole value (arrays in full), as JSON object text.
    pub fn metadata_json(&mut self) -> Result<String> {
        let g = self.guest.wollama_engine_runtime();
        Ok(g.model().call_metadata_json(&mut self.store, self.model)?)
    }

    /// Every tensor: name, ggml type name, dims (row length first).
    pub fn tensors(&mut self) -> Result<Vec<TensorInfo>> {
        let g = self.guest.wollama_engine_runtime();
        Ok(g.model().call_tensors(&mut self.store, self.model)?)
    }

    pub fn tokenize(&mut self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>> {
        let g = self.guest.wollama_engine_runtime();
        Ok(g.model().call_tokenize(&mut self.store, self.model, text, add_special, parse_special)?)
    }

    pub fn detokenize(&mut self, ids: &[u32]) -> Result<String> {
        let g = self.guest.wollama_engine_runtime();
        Ok(g.model().call_detokenize(&mut self.store, self.model, ids)?)
    }

    /// The chat prompt with tools and thinking, from `options.template` (a Go TEMPLATE) or
    /// the GGUF's chat template.
    pub fn render_prompt(&mut self, messages: &[ChatMessage], options: &PromptOptions) -> Result<String> {
        let g = self.guest.wollama_engine_runtime();
        Ok(g.model().call_render_prompt(&mut self.store, self.model, messages, options)??)
    }

    /// What a Go TEMPLATE (or, with none, the GGUF's chat template) says about the output.
    pub fn template_features(&mut self, template: Option<&str>) -> Result<TemplateFeatures> {
        let g = self.guest.wollama_engine_runtime();
        Ok(g.model().call_template_features(&mut self.store, self.model, template)??)
    }

    /// Builds the forward plan and KV cache. Unsupported tensor types fail here.
    pub fn start_engine(&mut self, options: EngineOptions) -> Result<()> {
        let g = self.guest.wollama_engine_runtime();
        let engine = g.engine().call_create(&mut self.store, self.model, options)??;
        if let Some(old) = self.engine.replace(engine) {
            old.resource_drop(&mut self.store)?;
        }
        Ok(())
    }

    fn engine(&self) -> Result<ResourceAny> {
        self.engine.ok_or_else(|| Error::Invalid("the engine is not started".into()))
    }

    /// Queues a generation (its grammar, log-probabilities and context shift included).
    pub fn submit(&mut self, req: &Request) -> Result<u64> {
        let e = self.engine()?;
        let g = self.guest.wollama_engine_runtime();
        Ok(g.engine().call_submit(&mut self.store, e, req)??)
    }

    /// Queues the embedding of `prompt` (the engine must run an encoder plan).
    pub fn embed(&mut self, prompt: &[u32]) -> Result<u64> {
        let e = self.engine()?;
        let g = self.guest.wollama_engine_runtime();
        Ok(g.engine().call_embed(&mut self.store, e, prompt)??)
    }

    /// The log-probabilities of the tokens the last step chose, for the requests that asked.
    pub fn take_logprobs(&mut self) -> Result<Vec<(u64, TokenLogprobs)>> {
        let e = self.engine()?;
        let g = self.guest.wollama_engine_runtime();
        Ok(g.engine().call_take_logprobs(&mut self.store, e)?)
    }

    pub fn cancel(&mut self, id: u64) -> Result<()> {
        let e = self.engine()?;
        let g = self.guest.wollama_engine_runtime();
        Ok(g.engine().call_cancel(&mut self.store, e, id)?)
    }

    /// One turn of the loop: ask the guest for a batch, run it, hand back the candidates.
    /// Returns the events, or None when the engine is idle.
    pub fn step(&mut self) -> Result<Option<Vec<Event>>> {
        let start = Instant::now();
        let e = self.engine()?;
        let (batch, mut events) = self.guest.wollama_engine_runtime().engine().call_next(&mut self.store, e)?;
        let Some(batch) = batch else {
            return Ok(if events.is_empty() { None } else { Some(events) });
        };
        let kernel_start = Instant::now();
        let rows = self.run(batch);
        let kernel = kernel_start.elapsed();
        let rows = match rows {
            Ok(rows) => rows,
            Err(RunError::Failed(message)) | Err(RunError::Lost(message)) => {
                // The pass failed: its requests fail with the reason; the engine goes on.
                events.extend(self.guest.wollama_engine_runtime().engine().call_abort(&mut self.store, e, &message)?);
                return Ok(Some(events));
            }
        };
        events.extend(self.guest.wollama_engine_runtime().engine().call_complete(&mut self.store, e, &rows)?);
        self.times.steps += 1;
        self.times.kernel += kernel;
        self.times.total += start.elapsed();
        Ok(Some(events))
    }

    fn run(&mut self, b: Batch) -> std::result::Result<Vec<Candidates>, RunError> {
        if let Some(m) = &self.lost {
            return Err(RunError::Lost(m.clone()));
        }
        let (id, batch): (u32, wollama_plan::Batch) = b.into();
        let plan = self
            .store
            .data_mut()
            .plans
            .get_mut(id as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| RunError::Failed(format!("the guest named plan {id}, which does not exist")))?;
        match plan.run(&batch) {
            Ok(out) => {
                self.dispatches = plan.last_dispatches();
                Ok(out.into_iter().map(Candidates::from).collect())
            }
            Err(RunError::Lost(m)) => {
                self.lost = Some(m.clone());
                Err(RunError::Lost(m))
            }
            Err(e) => Err(e),
        }
    }

    /// Why the session can no longer run (its GPU device was lost), if it cannot.
    pub fn lost(&self) -> Option<&str> {
        self.lost.as_deref()
    }

    /// The specs of the session's compiled plans, in the guest's plan order (for tests and
    /// probes that run a model's real plan on both executors).
    #[doc(hidden)]
    pub fn plan_specs(&self) -> Vec<wollama_plan::PlanSpec> {
        self.store.data().plans.iter().flatten().map(|p| p.spec().clone()).collect()
    }

    /// Bytes the session's plans hold in GPU memory (0 on the CPU): `/api/ps`'s `size_vram`.
    pub fn device_bytes(&self) -> u64 {
        self.store.data().plans.iter().flatten().map(|p| p.device_bytes()).sum()
    }

    /// Compute dispatches of the last step on a GPU (0 on the CPU).
    pub fn last_dispatches(&self) -> u32 {
        self.dispatches
    }

    pub fn times(&self) -> StepTimes {
        self.times
    }

    pub fn reset_times(&mut self) {
        self.times = StepTimes::default();
    }
}
