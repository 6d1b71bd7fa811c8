//! Loaded models: one engine thread per model, kept resident for its keep_alive after the
//! last request, reloaded when a load-time option (num_ctx, num_gpu) changes or its GPU
//! device was lost, and unloaded on `keep_alive: 0`, expiry, or `stop`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use wollama_runtime::{gpu_for, Device, DeviceChoice, EngineOptions, LimitOverride, Runner};

use crate::error::{ApiError, ApiResult};
use crate::keep_alive::KeepAlive;

#[derive(Debug, Clone)]
pub struct SchedConfig {
    /// Compute threads of a model on the CPU.
    pub threads: usize,
    /// The GPU models load on (`wollama serve --device`), through `gpu_for`, which opens it
    /// again after it was lost; None: the CPU only. A request with `num_gpu: 0` runs on the
    /// CPU either way.
    pub gpu: Option<DeviceChoice>,
    pub default_keep_alive: KeepAlive,
    /// Sequences decoded together per model (OLLAMA_NUM_PARALLEL).
    pub num_parallel: u32,
}

/// What identifies a load: the file and the load-time options.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSpec {
    /// Full model name (registry.ollama.ai/library/x:latest): the key in /api/ps.
    pub name: String,
    pub display: String,
    pub digest: String,
    pub gguf: PathBuf,
    pub file_size: u64,
    pub num_ctx: u32,
    pub num_batch: u32,
    /// On the server's GPU (when it has one and `num_gpu` is not 0), else on the CPU.
    pub gpu: bool,
    /// An embedding model: its engine runs many short sequences per pass (see `acquire`).
    pub embedding: bool,
}

struct State {
    active: usize,
    keep_alive: KeepAlive,
    /// When the model unloads if still idle; None while requests are running or forever.
    expires_at: Option<SystemTime>,
    /// Bumped on every release, so an older expiry timer knows it is stale.
    generation: u64,
}

pub struct Loaded {
    pub spec: LoadSpec,
    pub runner: Runner,
    state: Mutex<State>,
}

impl Loaded {
    pub fn expires_at(&self) -> Option<SystemTime> {
        let st = self.state.lock().unwrap();
        match (st.active, st.keep_alive) {
            (_, None) => None,
            (0, _) => st.expires_at,
            (_, Some(k)) => Some(SystemTime::now() + k),
        }
    }

    /// Bytes the model holds: the mapped file plus the KV cache (f16 K and V per cell).
    pub fn size(&self) -> u64 {
        let info = &self.runner.loaded;
        let kv_per_cell: u64 = info
            .metadata
            .iter()
            .find(|(k, _)| k.ends_with(".block_count"))
            .and_then(|(_, v)| match v {
                wollama_runtime::MetaValue::Uint(n) => Some(*n),
                _ => None,
            })
            .unwrap_or(0)
            * kv_width(&info.metadata)
            * 2
            * 2;
        self.spec.file_size + kv_per_cell * info.options.ctx_cells as u64
    }
}

fn kv_width(meta: &[(String, wollama_runtime::MetaValue)]) -> u64 {
    let get = |suffix: &str| {
        meta.iter().find(|(k, _)| k.ends_with(suffix)).and_then(|(_, v)| match v {
            wollama_runtime::MetaValue::Uint(n) => Some(*n),
            _ => None,
        })
    };
    let heads = get(".attention.head_count").unwrap_or(1).max(1);
    let kv_heads = get(".attention.head_count_kv").unwrap_or(heads);
    let head_dim = get(".attention.key_length").unwrap_or(get(".embedding_length").unwrap_or(0) / heads);
    kv_heads * head_dim
}

/// Ollama's text when a model already has `OLLAMA_MAX_QUEUE` requests waiting.
pub const SERVER_BUSY: &str = "server busy, please try again.  maximum pending requests exceeded";

pub struct Scheduler {
    cfg: SchedConfig,
    /// From the environment (OLLAMA_MAX_LOADED_MODELS, OLLAMA_MAX_QUEUE, OLLAMA_LOAD_TIMEOUT).
    max_loaded: usize,
    max_queue: usize,
    load_timeout: Duration,
    loaded: Mutex<HashMap<String, Arc<Loaded>>>,
    /// Serialises loads so two requests for one model load it once.
    loading: tokio::sync::Mutex<()>,
}

/// A running request's hold on a model; releasing it starts the keep_alive clock.
pub struct Lease {
    pub model: Arc<Loaded>,
    sched: Arc<Scheduler>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.sched.release(&self.model);
    }
}

/// Whether a model the GPU failed to load goes to the CPU instead: under `--device auto`
/// only, and only when the adapter cannot run something the model needs (a weight type, a
/// limit, a kernel); `--device gpu` reports the error.
fn falls_back_to_cpu(choice: Option<DeviceChoice>, e: &wollama_runtime::Error) -> bool {
    choice == Some(DeviceChoice::Auto) && matches!(e, wollama_runtime::Error::Unsupported(_))
}

impl Scheduler {
    pub fn new(cfg: SchedConfig) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            cfg,
            max_loaded: crate::env::max_loaded_models(),
            max_queue: crate::env::max_queue(),
            load_timeout: crate::env::load_timeout(),
            loaded: Mutex::new(HashMap::new()),
            loading: tokio::sync::Mutex::new(()),
        })
    }

    /// Whether models load on a GPU unless a request says `num_gpu: 0`.
    pub fn has_gpu(&self) -> bool {
        self.cfg.gpu.is_some()
    }

    /// The device a model with `spec` loads on: the server's GPU (reopened if it was lost)
    /// when the spec asks for it, else the CPU.
    fn device_for(&self, spec: &LoadSpec) -> ApiResult<Device> {
        let cpu = Device::Cpu { threads: self.cfg.threads };
        let Some(choice) = self.cfg.gpu.filter(|_| spec.gpu) else { return Ok(cpu) };
        match gpu_for(choice, LimitOverride::default()) {
            Ok(Some(g)) => Ok(Device::Gpu(g)),
            Ok(None) => Ok(cpu),
            Err(e) => Err(ApiError::internal(format!("opening the GPU failed: {e}"))),
        }
    }

    /// The model, loaded (or reloaded with new load-time options, or after its GPU device was
    /// lost) and held for a request.
    pub async fn acquire(self: &Arc<Self>, spec: &LoadSpec, keep_alive: Option<KeepAlive>) -> ApiResult<Lease> {
        let _guard = self.loading.lock().await;
        let existing = self.loaded.lock().unwrap().get(&spec.name).cloned();
        let model = match existing {
            Some(m) if m.spec == *spec && m.runner.dead().is_none() => m,
            other => {
                if let Some(old) = other {
                    if let Some(why) = old.runner.dead() {
                        tracing::warn!(model = %spec.name, "reloading the model: {why}");
                    }
                    self.unload(&spec.name);
                }
                self.make_room();
                let device = self.device_for(spec)?;
                let options = if spec.embedding {
                    // Each input is one whole sequence of one pass and frees its cells when
                    // done, so the cells only need to hold one pass: as many inputs as fit in
                    // num_batch tokens are embedded together, whatever OLLAMA_NUM_PARALLEL says.
                    EngineOptions {
                        max_slots: 64,
                        ctx_cells: spec.num_batch.max(2),
                        batch_tokens: spec.num_batch.max(1),
                    }
                } else {
                    EngineOptions {
                        max_slots: self.cfg.num_parallel.clamp(1, 64),
                        ctx_cells: spec.num_ctx * self.cfg.num_parallel.max(1),
                        batch_tokens: spec.num_batch.max(1),
                    }
                };
                let path = spec.gguf.clone();
                tracing::debug!(model = %spec.name, gguf = %path.display(), num_ctx = spec.num_ctx, ?device, "loading model");
                let load_started = std::time::Instant::now();
                let start = |device: Device| {
                    let path = path.clone();
                    async move {
                        tokio::time::timeout(self.load_timeout, Runner::start(path, device, options))
                            .await
                            .map_err(|_| ApiError::internal(format!("timed out loading the model after {:?}", self.load_timeout)))
                    }
                };
                let gpu = device.is_gpu();
                let runner = match start(device).await? {
                    Err(e) if gpu && falls_back_to_cpu(self.cfg.gpu, &e) => {
                        tracing::warn!(model = %spec.name, "the GPU cannot run this model ({e}); loading it on the CPU");
                        start(Device::Cpu { threads: self.cfg.threads }).await?
                    }
                    other => other,
                }
                .map_err(|e| ApiError::internal(format!("loading the model failed: {e}")))?;
                tracing::debug!(
                    model = %spec.name,
                    took = ?load_started.elapsed(),
                    device = %runner.loaded.device,
                    device_bytes = runner.loaded.device_bytes,
                    "model loaded"
                );
                let m = Arc::new(Loaded {
                    spec: spec.clone(),
                    runner,
                    state: Mutex::new(State {
                        active: 0,
                        keep_alive: self.cfg.default_keep_alive,
                        expires_at: None,
                        generation: 0,
                    }),
                });
                self.loaded.lock().unwrap().insert(spec.name.clone(), Arc::clone(&m));
                m
            }
        };
        {
            let mut st = model.state.lock().unwrap();
            // Requests beyond the parallel slots wait in the engine; only so many may.
            if st.active >= self.cfg.num_parallel.max(1) as usize + self.max_queue {
                return Err(ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, SERVER_BUSY));
            }
            st.active += 1;
            if let Some(k) = keep_alive {
                st.keep_alive = k;
            }
        }
        Ok(Lease { model, sched: Arc::clone(self) })
    }

    fn release(self: &Arc<Self>, model: &Arc<Loaded>) {
        let (generation, keep_alive) = {
            let mut st = model.state.lock().unwrap();
            st.active -= 1;
            if st.active > 0 {
                return;
            }
            st.generation += 1;
            st.expires_at = st.keep_alive.map(|k| SystemTime::now() + k);
            (st.generation, st.keep_alive)
        };
        let Some(k) = keep_alive else { return };
        let sched = Arc::clone(self);
        let name = model.spec.name.clone();
        let which = Arc::downgrade(model);
        let expire = move || sched.expire(&name, &which, generation);
        if k.is_zero() {
            expire();
        } else if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                tokio::time::sleep(k).await;
                expire();
            });
        }
    }

    /// With `max_loaded` models resident, unloads idle ones, the soonest to expire first, so
    /// one more fits. Busy models stay: the new one then loads beside them.
    fn make_room(&self) {
        loop {
            let victim = {
                let map = self.loaded.lock().unwrap();
                if map.len() < self.max_loaded {
                    return;
                }
                map.values()
                    .filter(|m| m.state.lock().unwrap().active == 0)
                    .min_by_key(|m| {
                        let at = m.expires_at();
                        (at.is_none(), at) // kept forever: last
                    })
                    .map(|m| m.spec.name.clone())
            };
            match victim {
                Some(name) => {
                    self.unload(&name);
                }
                None => return,
            }
        }
    }

    /// Unloads a model whose idle period from release `generation` ran out, unless the name
    /// has been loaded again since (a reload replaces a busy model, which then expires alone).
    fn expire(&self, name: &str, which: &std::sync::Weak<Loaded>, generation: u64) {
        let mut map = self.loaded.lock().unwrap();
        let stale = map.get(name).is_some_and(|m| {
            if !std::ptr::eq(Arc::as_ptr(m), which.as_ptr()) {
                return false;
            }
            let st = m.state.lock().unwrap();
            st.active == 0 && st.generation == generation
        });
        if stale {
            let m = map.remove(name);
            drop(map);
            drop_in_background(m);
        }
    }

    /// Unloads now if idle; a busy model unloads when its last request ends.
    pub fn unload(&self, name: &str) -> bool {
        let mut map = self.loaded.lock().unwrap();
        let Some(m) = map.get(name).cloned() else { return false };
        let mut st = m.state.lock().unwrap();
        if st.active == 0 {
            drop(st);
            let m = map.remove(name);
            drop(map);
            drop_in_background(m);
        } else {
            st.keep_alive = Some(Duration::ZERO);
        }
        true
    }

    /// Loaded models, longest remaining time first (forever first).
    pub fn list(&self) -> Vec<Arc<Loaded>> {
        let mut v: Vec<Arc<Loaded>> = self.loaded.lock().unwrap().values().cloned().collect();
        v.sort_by_key(|m| std::cmp::Reverse(m.expires_at().map(|t| t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()).unwrap_or(Duration::MAX)));
        v
    }
}

/// Joining an engine thread can wait for a step; never do it on an async worker.
fn drop_in_background(m: Option<Arc<Loaded>>) {
    if let Some(m) = m {
        tracing::debug!(model = %m.spec.name, "unloading model");
        std::thread::spawn(move || drop(m));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wollama_runtime::Error;

    #[test]
    fn only_auto_falls_back_and_only_for_what_the_gpu_cannot_run() {
        let unsupported = Error::Unsupported("weight blk.0.attn_q.weight is IQ4_NL".into());
        assert!(falls_back_to_cpu(Some(DeviceChoice::Auto), &unsupported));
        assert!(!falls_back_to_cpu(Some(DeviceChoice::Gpu), &unsupported), "--device gpu reports it");
        assert!(!falls_back_to_cpu(Some(DeviceChoice::Auto), &Error::Io("the file went away".into())));
        assert!(!falls_back_to_cpu(None, &unsupported));
    }
}
