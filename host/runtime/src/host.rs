//! The host side of the WIT imports: model files (memory-mapped) and plan compilation.

use std::sync::Arc;

use memmap2::Mmap;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wollama_compute::cpu::{CpuExecutor, CpuPlan};
use wollama_compute::plan as ir;

use crate::bindings::wollama::engine::{compute, model_file, types};
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
    pub executor: Arc<CpuExecutor>,
    /// Compiled plans by id; a dropped plan frees its KV cache.
    pub plans: Vec<Option<CpuPlan>>,
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
        self.build_plan_with(model, spec, compute::PlanOutputs { hidden: None })
    }

    fn build_plan_with(
        &mut self,
        model: Resource<ModelFile>,
        spec: compute::PlanSpec,
        outputs: compute::PlanOutputs,
    ) -> Result<Resource<PlanHandle>, EngineError> {
        let map = Arc::clone(&self.table.get(&model).map_err(|e| EngineError::Io(e.to_string()))?.map);
        let plan = self.executor.compile(map, lower_spec(spec, outputs)).map_err(|e| match e {
            wollama_compute::cpu::ComputeError::Unsupported(m) => EngineError::Unsupported(m),
            wollama_compute::cpu::ComputeError::Invalid(m) => EngineError::Invalid(m),
        })?;
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

fn lower_attention(a: compute::Attention) -> ir::Attention {
    let u = |x: u32| x as usize;
    ir::Attention {
        q: u(a.q),
        k: u(a.k),
        v: u(a.v),
        layer: a.layer,
        n_head: a.n_head,
        n_kv_head: a.n_kv_head,
        head_dim: a.head_dim,
        scale: a.scale,
        softcap: a.softcap,
        window: a.window,
    }
}

fn lower_spec(s: compute::PlanSpec, outputs: compute::PlanOutputs) -> ir::PlanSpec {
    use compute::Op as W;
    use ir::Op;
    let u = |x: u32| x as usize;
    let nodes = s
        .nodes
        .into_iter()
        .map(|op| match op {
            W::Embed(w) => Op::Embed(u(w)),
            W::Matmul((x, w)) => Op::Matmul(u(x), u(w)),
            W::RmsNorm((x, eps, g)) => Op::RmsNorm(u(x), eps, g),
            W::LayerNorm((x, eps)) => Op::LayerNorm(u(x), eps),
            W::MulWeight((x, w)) => Op::MulWeight(u(x), u(w)),
            W::AddWeight((x, w)) => Op::AddWeight(u(x), u(w)),
            W::Add((a, b)) => Op::Add(u(a), u(b)),
            W::Mul((a, b)) => Op::Mul(u(a), u(b)),
            W::Scale((x, f)) => Op::Scale(u(x), f),
            W::Swiglu((a, b)) => Op::SwiGlu(u(a), u(b)),
            W::Geglu((a, b)) => Op::GeGlu(u(a), u(b)),
            W::Gelu(x) => Op::Gelu(u(x)),
            W::Rope(r) => Op::Rope(ir::Rope {
                x: u(r.x),
                head_dim: r.head_dim,
                n_rot: r.n_rot,
                freq_base: r.freq_base,
                freq_scale: r.freq_scale,
                neox: r.neox,
            }),
            W::Attention(a) => Op::Attention(lower_attention(a)),
            W::EncoderAttention(a) => Op::EncoderAttention(lower_attention(a)),
            W::EmbedPositions(w) => Op::EmbedPositions(u(w)),
            W::GeluErf(x) => Op::GeluErf(u(x)),
            W::Pool((x, p)) => Op::Pool(
                u(x),
                match p {
                    compute::Pooling::Mean => ir::Pooling::Mean,
                    compute::Pooling::Cls => ir::Pooling::Cls,
                    compute::Pooling::Last => ir::Pooling::Last,
                },
            ),
            W::SelectRows(x) => Op::SelectRows(u(x)),
            W::Softcap((x, c)) => Op::Softcap(u(x), c),
        })
        .collect();
    ir::PlanSpec {
        weights: s
            .weights
            .into_iter()
            .map(|w| ir::WeightDesc { name: w.name, ggml_type: w.ggml_type, shape: w.shape, offset: w.offset })
            .collect(),
        nodes,
        logits: s.logits as usize,
        hidden: outputs.hidden.map(|h| h as usize),
        kv: ir::KvSpec { cells: s.kv.cells, widths: s.kv.widths },
        max_rows: s.max_rows,
    }
}
