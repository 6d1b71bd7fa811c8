//! Compiling a plan: every weight bound and every node's width checked once, against the
//! mapped file; liveness, activation buffers shared between nodes whose lifetimes do not
//! overlap, the KV cache and per-thread scratch sized for `max_rows`. After this a batch can
//! only fail `Batch::validate`, never a kernel.

use std::sync::Arc;

use wollama_plan::{shape, Op, PlanSpec, Weight as WeightDesc};

use super::attention::{self, KvLayer};
use super::backing::Backing;
use super::pool::{PerThread, Pool};
use super::weights::{self, Use, Weight};
use super::{invalid, matmul, ComputeError, CpuPlan, NodeInfo};

impl CpuPlan {
    pub(super) fn compile(pool: Arc<Pool>, file: Arc<Backing>, spec: PlanSpec) -> Result<CpuPlan, ComputeError> {
        let n = spec.nodes.len();
        let max_rows = spec.max_rows as usize;
        // Every listed weight of a type we run must lie inside the file with a sensible
        // shape; one of another type is reported (by name and type) if a node uses it.
        for w in spec.weights.iter().filter(|w| weights::supported(w.ggml_type)) {
            weights::check_desc(file.len(), w)?;
        }

        let mut weights: Vec<Option<Weight>> = vec![None; spec.weights.len()];
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; spec.weights.len()];
        // Node i's weight w, which the plan must list.
        let desc = |i: usize, w: u32| -> Result<&WeightDesc, ComputeError> {
            spec.weights.get(w as usize).ok_or_else(|| {
                ComputeError::Invalid(format!("node {i} uses weight {w}, but the plan lists {}", spec.weights.len()))
            })
        };
        let mut matrix = |i: usize, w: u32| -> Result<(usize, usize), ComputeError> {
            let d = desc(i, w)?;
            let w = w as usize;
            if weights[w].is_none() {
                weights[w] = Some(Weight::bind(&file, d, Use::Matrix)?);
            }
            Ok(weights[w].as_ref().expect("bound").dims())
        };
        let mut vector = |i: usize, w: u32| -> Result<usize, ComputeError> {
            let d = desc(i, w)?;
            let w = w as usize;
            if vectors[w].is_none() {
                vectors[w] = Some(Weight::bind(&file, d, Use::Vector)?.to_f32_vec());
            }
            Ok(vectors[w].as_ref().expect("bound").len())
        };

        let shapes = shape::infer(&spec, &mut matrix, &mut vector, ComputeError::Invalid)?;
        let alloc = shape::allocate(&spec, &shapes, max_rows);
        let info: Vec<NodeInfo> = (0..n)
            .map(|i| NodeInfo {
                width: shapes.nodes[i].width,
                selected: shapes.nodes[i].selected,
                live: alloc.live[i],
                slot: alloc.slot[i],
            })
            .collect();
        let (token_space, position_space) = (shapes.token_space, shapes.position_space);
        let (max_rot, max_head_dim) = (shapes.max_rot, shapes.max_head_dim);
        let (for_hidden, slot_len) = (alloc.for_hidden, alloc.slot_len);

        let vocab = info[spec.logits as usize].width;
        let cells = spec.kv.cells as usize;
        let kv_bytes = spec.kv.widths.iter().try_fold(0usize, |acc, &w| {
            cells
                .checked_mul(w as usize)
                .and_then(|c| c.checked_mul(4))
                .and_then(|c| acc.checked_add(c))
        });
        if kv_bytes.is_none_or(|b| b > isize::MAX as usize / 2) {
            return invalid(format!(
                "a KV cache of {cells} cells over {:?} is too large",
                spec.kv.widths
            ));
        }
        let mut matmul_scratch = 0usize;
        for (i, op) in spec.nodes.iter().enumerate() {
            if let (Op::Matmul(_, w), true) = (op, info[i].live) {
                let bytes = matmul::scratch_bytes(weights[*w as usize].as_ref().expect("bound"), max_rows);
                matmul_scratch = matmul_scratch.max(bytes.div_ceil(8));
            }
        }
        let mut matmul_run = vec![1usize; n];
        for i in 0..n {
            let Op::Matmul(x, w) = spec.nodes[i] else { continue };
            if !info[i].live {
                continue;
            }
            let first = weights[w as usize].as_ref().expect("bound");
            let mut j = i + 1;
            while j < n && j - i < matmul::MAX_GROUP && info[j].live {
                match spec.nodes[j] {
                    Op::Matmul(x2, w2) if x2 == x && matmul::groupable(first, weights[w2 as usize].as_ref().expect("bound")) => j += 1,
                    _ => break,
                }
            }
            matmul_run[i] = j - i;
        }
        let threads = pool.threads();
        Ok(CpuPlan {
            matmul_run,
            weights,
            vectors,
            nodes: info,
            for_hidden,
            slots: slot_len.iter().map(|&l| vec![0f32; l]).collect(),
            kv: spec
                .kv
                .widths
                .iter()
                .map(|&w| KvLayer::new(cells, w as usize))
                .collect(),
            vocab: vocab as u32,
            token_space,
            position_space,
            matmul_scratch: vec![0u64; matmul_scratch],
            rope_cache: PerThread::new(threads, || vec![0f32; max_rot]),
            attention_scratch: PerThread::new(threads, || attention::Scratch::new(cells, max_head_dim)),
            topk_scratch: PerThread::new(threads, || (vec![0f32; vocab], Vec::new())),
            pool,
            spec,
            backing: file,
        })
    }
}
