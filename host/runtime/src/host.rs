//! The host side of the WIT imports: model files (memory-mapped) and plan compilation.

use std::sync::Arc;

use memmap2::Mmap;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::wollama::engine::{compute, model_file, types};
use crate::executor::{Executor, Plan};
use types::EngineError;

/// A model file the guest reads metadata from; the executor maps weights from the same map.
pub struct ModelFile {
    pub map: Arc<Mmap>,
}

pub struct PlanHandle {
    pub id: u32,
}

pub struct HostState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub(crate) executor: Executor,
    /// Compiled plans by id; a dropped plan frees its KV cache.
    pub(crate) plans: Vec<Option<Plan>>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Most bytes one `read` hands the guest: metadata reads are chunked anyway.
const MAX_READ: u32 = 16 << 20;

impl types::Host for HostState {}
impl model_file::Host for HostState {}

impl model_file::HostFile for HostState {
    fn size(&mut self, file: Resource<ModelFile>) -> u64 {
        self.table.get(&file).map(|f| f.map.len() as u64).unwrap_or(0)
    }

    fn read(&mut self, file: Resource<ModelFile>, offset: u64, len: u32) -> Result<Vec<u8>, EngineError> {
        let f = self.table.get(&file).map_err(|e| EngineError::Io(e.to_string()))?;
        let size = f.map.len() as u64;
        let start = offset.min(size) as usize;
        let end = (offset.saturating_add(len.min(MAX_READ) as u64)).min(size) as usize;
        Ok(f.map[start..end].to_vec())
    }

    fn drop(&mut self, file: Resource<ModelFile>) -> wasmtime::Result<()> {
        self.table.delete(file)?;
        Ok(())
    }
}

impl compute::Host for HostState {
    fn build_plan(
        &mut self,
        model: Resource<ModelFile>,
        spec: compute::PlanSpec,
    ) -> Result<Resource<PlanHandle>, EngineError> {
        let map = Arc::clone(&self.table.get(&model).map_err(|e| EngineError::Io(e.to_string()))?.map);
        let plan = self.executor.compile(map, spec.into())?;
        let id = self.plans.len() as u32;
        self.plans.push(Some(plan));
        self.table.push(PlanHandle { id }).map_err(|e| EngineError::OutOfMemory(e.to_string()))
    }
}

impl compute::HostPlan for HostState {
    fn id(&mut self, plan: Resource<PlanHandle>) -> u32 {
        self.table.get(&plan).map(|p| p.id).unwrap_or(u32::MAX)
    }

    fn drop(&mut self, plan: Resource<PlanHandle>) -> wasmtime::Result<()> {
        let p = self.table.delete(plan)?;
        if let Some(slot) = self.plans.get_mut(p.id as usize) {
            *slot = None;
        }
        Ok(())
    }
}
