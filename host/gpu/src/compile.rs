//! Compiling a plan for the GPU: weights uploaded once (repacked, split by rows where a tensor
//! exceeds the device's binding limit), activation buffers, the KV cache and the batch buffer
//! allocated once, and every node turned into the passes that run it, with their bind groups.
//! A matmul of a quantized, F16 or BF16 weight first has its input rows quantized to the
//! weight type's dot-product partner (Q8_0/Q8_1, Q8_K, f16, bf16: what the CPU executor and
//! ggml compute with) into a scratch buffer per partner, once for consecutive matmuls that
//! read the same input. After this a step only writes the batch and records dispatches.

use std::sync::Arc;

use wgpu::util::DeviceExt;
use wollama_plan::{shape, Op, PlanSpec, Pooling, Weight as WeightDesc, WeightIdx};

use crate::kernels::{Kernel, Pipelines};
use crate::layout::{Layout, Partner};
use crate::weights::{self, Matrix};
use crate::{GpuDevice, GpuError, WeightSource};

/// Most logit rows one batch may carry on the GPU: one per sequence (sequences are < 64).
/// Nodes after SelectRows are sized for this many rows, not `max_rows`, which keeps a
/// 262144-wide LM head's output within binding limits.
pub const MAX_LOGIT_ROWS: usize = 64;

/// Largest batch the vector matmul kernel takes; bigger ones use the tiled kernel.
pub const VEC_ROWS: usize = 8;

/// Output columns one workgroup of the quantized vector matmul computes for rows of `blocks`
/// blocks: 64 threads, blocks-per-row of them (up to a power of two) per column, or eight
/// for a type summed in ggml's eight lanes (`Layout::ggml_lanes`, `wgsl/matmul_vec_q.wgsl`).
fn vec_q_columns(blocks: u32, lanes: bool) -> u32 {
    if lanes {
        return 8;
    }
    64 / blocks.next_power_of_two().min(64)
}

/// How many workgroups a pass dispatches, given the step's rows.
#[derive(Debug, Clone, Copy)]
pub enum Size {
    /// One thread per value: `per_row` values per row (64 per workgroup).
    Threads { per_row: u32, selected: bool },
    /// One workgroup per `per_row` units of each row.
    Groups { per_row: u32, selected: bool },
    /// One workgroup per output column (vector matmul).
    Columns(u32),
    /// 64×64 tiles (tiled matmul).
    Tiles { n: u32, selected: bool },
}

/// When a pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// Only when the node's rows fit the vector matmul.
    FewRows,
    /// Only when they do not.
    ManyRows,
}

pub struct Pass {
    pub node: usize,
    pub pipeline: wgpu::ComputePipeline,
    pub bind: wgpu::BindGroup,
    pub size: Size,
    pub when: When,
    pub selected: bool,
}

/// One layer of the f16 KV cache, two values per word.
pub struct KvLayer {
    pub k: wgpu::Buffer,
    pub v: wgpu::Buffer,
    /// Bytes per cell.
    pub cell_bytes: u64,
}

/// Offsets (in u32) of the batch's arrays inside the batch buffer.
#[derive(Debug, Clone, Copy)]
pub struct BatchLayout {
    pub tok: u32,
    pub pos: u32,
    pub seq: u32,
    pub wcell: u32,
    pub lrow: u32,
    pub cpos: u32,
    pub cseq: u32,
    pub words: u32,
}

impl BatchLayout {
    fn new(max_rows: u32, cells: u32) -> BatchLayout {
        let m = max_rows.max(MAX_LOGIT_ROWS as u32);
        BatchLayout {
            tok: 0,
            pos: m,
            seq: 2 * m,
            wcell: 3 * m,
            lrow: 4 * m,
            cpos: 5 * m,
            cseq: 5 * m + cells,
            words: 5 * m + 3 * cells.max(1),
        }
    }
}

pub struct GpuPlan {
    pub(crate) dev: Arc<GpuDevice>,
    pub(crate) pipelines: Arc<Pipelines>,
    pub(crate) spec: PlanSpec,
    pub(crate) shapes: shape::Shapes,
    pub(crate) alloc: shape::Allocation,
    pub(crate) slots: Vec<wgpu::Buffer>,
    pub(crate) kv: Vec<KvLayer>,
    pub(crate) passes: Vec<Pass>,
    pub(crate) step: wgpu::Buffer,
    pub(crate) batch: wgpu::Buffer,
    pub(crate) layout: BatchLayout,
    /// Bias entries and top-k output, grown when a step needs more (see `run::TopK`).
    pub(crate) topk: Option<crate::run::TopK>,
    pub(crate) staging: Option<(wgpu::Buffer, u64)>,
    /// One cell's bytes, the hop of a cell copy (WebGPU copies never stay inside a buffer).
    pub(crate) cell_scratch: Option<wgpu::Buffer>,
    /// The logit rows of a logits node that is not already one row per logit row, gathered
    /// for the top-k, which biases its rows in place (a batch row may be two logit rows).
    pub(crate) gathered: Option<wgpu::Buffer>,
    /// The CPU's GELU results for every f16 input (`gelu_table`), for plans with GELU.
    pub(crate) gelu: Option<wgpu::Buffer>,
    /// Per rope configuration (n_rot, freq_base, freq_scale bits): the CPU's cos and sin for
    /// positions below the count (`rope_table`).
    pub(crate) rope_tables: Vec<([u32; 3], wgpu::Buffer, u32)>,
    /// Per node: a norm whose only reader, the next node, multiplies it by a weight vector;
    /// the norm's pass applies the weight and writes that node's buffer (one dispatch, not two).
    pub(crate) norm_takes_weight: Vec<bool>,
    /// Bytes the plan holds on the device (weights, cache, activations).
    pub(crate) device_bytes: u64,
    pub(crate) last_dispatches: u32,
    /// Quantized activation rows, one buffer per partner type (see `Holds`).
    pub(crate) scratch: Vec<(Partner, wgpu::Buffer)>,
}

/// While passes are made: which node's rows each quantized-activation buffer holds after the
/// passes so far, and the pass that wrote them, so matmuls reading one input (Q, K and V;
/// gate and up) quantize it once.
#[derive(Default)]
struct Holds(Vec<(Partner, u32, usize)>);

impl GpuPlan {
    pub fn spec(&self) -> &PlanSpec {
        &self.spec
    }

    /// Width of the logits node.
    pub fn vocab(&self) -> u32 {
        self.shapes.nodes[self.spec.logits as usize].width as u32
    }

    /// Bytes this plan holds on the device: weights, KV cache and activation buffers.
    pub fn device_bytes(&self) -> u64 {
        self.device_bytes
    }

    /// Compute dispatches the last `run` recorded (one submission holds them all).
    pub fn last_dispatches(&self) -> u32 {
        self.last_dispatches
    }

    pub(crate) fn compile(
        dev: Arc<GpuDevice>,
        pipelines: Arc<Pipelines>,
        file: &dyn WeightSource,
        spec: PlanSpec,
    ) -> Result<GpuPlan, GpuError> {
        let device = &dev.device;
        let invalid = |m: String| GpuError::Invalid(m);
        for w in spec.weights.iter().filter(|w| Layout::of(w.ggml_type).is_some()) {
            weights::check_desc(file.len(), w)?;
        }
        let desc = |i: usize, w: WeightIdx| -> Result<&WeightDesc, GpuError> {
            spec.weights.get(w as usize).ok_or_else(|| {
                GpuError::Invalid(format!("node {i} uses weight {w}, but the plan lists {}", spec.weights.len()))
            })
        };
        let mut matrices: Vec<Option<Matrix>> = (0..spec.weights.len()).map(|_| None).collect();
        let mut vectors: Vec<Option<(wgpu::Buffer, usize)>> = (0..spec.weights.len()).map(|_| None).collect();
        let shapes = {
            let mut matrix = |i: usize, w: WeightIdx| -> Result<(usize, usize), GpuError> {
                let d = desc(i, w)?;
                let slot = &mut matrices[w as usize];
                if slot.is_none() {
                    *slot = Some(Matrix::upload(&dev, file, d)?);
                }
                let m = slot.as_ref().expect("uploaded");
                Ok((m.k, m.n))
            };
            let mut vector = |i: usize, w: WeightIdx| -> Result<usize, GpuError> {
                let d = desc(i, w)?;
                let slot = &mut vectors[w as usize];
                if slot.is_none() {
                    let values = weights::vector_f32(file, d)?;
                    let bytes = values.len() as u64 * 4;
                    if bytes > dev.max_binding {
                        return Err(GpuError::Unsupported(format!(
                            "vector weight {} needs a {bytes}-byte buffer; the adapter {} binds at most {} bytes",
                            d.name, dev.summary.name, dev.max_binding
                        )));
                    }
                    let buf = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some(&d.name),
                        contents: bytemuck::cast_slice(&values),
                        usage: wgpu::BufferUsages::STORAGE,
                    });
                    *slot = Some((buf, values.len()));
                }
                Ok(slot.as_ref().expect("uploaded").1)
            };
            shape::infer(&spec, &mut matrix, &mut vector, invalid)?
        };
        if shapes.max_head_dim > 512 {
            return Err(GpuError::Unsupported(format!(
                "attention heads of {} exceed the GPU kernel's 512",
                shapes.max_head_dim
            )));
        }
        let mut device_bytes: u64 = matrices.iter().flatten().map(Matrix::bytes).sum::<u64>()
            + vectors.iter().flatten().map(|(b, _)| b.size()).sum::<u64>();
        let max_rows = spec.max_rows as usize;
        let alloc = shape::allocate(&spec, &shapes, MAX_LOGIT_ROWS);
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        let fits = |what: &str, bytes: u64| -> Result<(), GpuError> {
            if bytes > dev.max_binding {
                return Err(GpuError::Unsupported(format!(
                    "{what} needs a {bytes}-byte buffer; the adapter {} binds at most {} bytes",
                    dev.summary.name, dev.max_binding
                )));
            }
            Ok(())
        };
        let mut slots = Vec::with_capacity(alloc.slot_len.len());
        for (s, &len) in alloc.slot_len.iter().enumerate() {
            let bytes = (len.max(1) * 4) as u64;
            if bytes > dev.max_binding {
                // Name the largest node that writes this buffer.
                let rows = |i: usize| if shapes.nodes[i].selected { MAX_LOGIT_ROWS.min(max_rows) } else { max_rows };
                let widest = (0..spec.nodes.len()).filter(|&i| alloc.slot[i] == s).max_by_key(|&i| rows(i) * shapes.nodes[i].width);
                let what = widest.map_or_else(
                    || format!("activation buffer {s} ({max_rows} rows)"),
                    |i| format!("node {i} ({:?}), {} rows of {},", spec.nodes[i], rows(i), shapes.nodes[i].width),
                );
                fits(&what, bytes)?;
            }
            device_bytes += bytes;
            slots.push(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("activation"),
                size: bytes,
                usage: storage,
                mapped_at_creation: false,
            }));
        }
        let cells = spec.kv.cells as u64;
        let mut kv = Vec::with_capacity(spec.kv.widths.len());
        for (layer, &w) in spec.kv.widths.iter().enumerate() {
            if w % 2 != 0 {
                return Err(GpuError::Unsupported(format!(
                    "KV layer {layer} is {w} wide; the GPU cache packs pairs of f16 and needs an even width"
                )));
            }
            let cell_bytes = w as u64 * 2;
            let bytes = (cells * cell_bytes).max(4);
            fits(&format!("KV layer {layer} ({cells} cells)"), bytes)?;
            device_bytes += 2 * bytes;
            let make = |label| {
                device.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size: bytes, usage: storage, mapped_at_creation: false })
            };
            kv.push(KvLayer { k: make("kv.k"), v: make("kv.v"), cell_bytes });
        }
        let layout = BatchLayout::new(spec.max_rows, spec.kv.cells);
        let step = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("step"),
            size: 64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let batch = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("batch"),
            size: layout.words as u64 * 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });

        let mut plan = GpuPlan {
            dev: Arc::clone(&dev),
            pipelines,
            passes: Vec::new(),
            slots,
            kv,
            step,
            batch,
            layout,
            topk: None,
            staging: None,
            cell_scratch: None,
            gathered: None,
            gelu: None,
            rope_tables: Vec::new(),
            norm_takes_weight: Vec::new(),
            device_bytes,
            last_dispatches: 0,
            scratch: Vec::new(),
            shapes,
            alloc,
            spec,
        };
        if plan.spec.nodes.iter().any(|n| matches!(n, Op::Gelu(_) | Op::GeGlu(..))) {
            let table = gelu_table();
            plan.gelu = Some(plan.dev.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("gelu"),
                contents: bytemuck::cast_slice(&table),
                usage: wgpu::BufferUsages::STORAGE,
            }));
            plan.device_bytes += table.len() as u64 * 4;
        }
        let tpos = plan.spec.kv.cells.max(plan.spec.max_rows).min(ROPE_TABLE_POSITIONS);
        for n in &plan.spec.nodes {
            let Op::Rope(r) = n else { continue };
            let key = [r.n_rot, r.freq_base.to_bits(), r.freq_scale.to_bits()];
            if r.n_rot < 2 || plan.rope_tables.iter().any(|t| t.0 == key) {
                continue;
            }
            let table = rope_table(r, tpos);
            let buf = plan.dev.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("rope"),
                contents: bytemuck::cast_slice(&table),
                usage: wgpu::BufferUsages::STORAGE,
            });
            plan.device_bytes += buf.size();
            plan.rope_tables.push((key, buf, tpos));
        }
        plan.scratch = plan.scratch_buffers(&matrices)?;
        plan.device_bytes += plan.scratch.iter().map(|(_, b)| b.size()).sum::<u64>();
        plan.norm_takes_weight = plan.norms_taking_weights();
        let mut passes = Vec::new();
        let mut holds = Holds::default();
        for i in 0..plan.spec.nodes.len() {
            if plan.alloc.live[i] {
                plan.passes_of(i, &matrices, &vectors, &mut holds, &mut passes)?;
            }
        }
        let logits = plan.spec.logits as usize;
        if !plan.shapes.nodes[logits].selected {
            let width = plan.shapes.nodes[logits].width;
            let bytes = (MAX_LOGIT_ROWS.min(max_rows) * width * 4) as u64;
            fits(&format!("the logit rows of node {logits}, {} rows of {width},", MAX_LOGIT_ROWS.min(max_rows)), bytes)?;
            plan.device_bytes += bytes;
            let buf = device.create_buffer(&wgpu::BufferDescriptor { label: Some("logit rows"), size: bytes, usage: storage, mapped_at_creation: false });
            let pipeline = plan.pipelines.get(device, Kernel::Rows, None)?;
            let params = plan.params([width as u32, 0, 0, 0, 0, 0, 0, 0]);
            let bind = plan.bind(&pipeline, &params, &[&plan.batch, plan.slot(logits as u32), &buf]);
            let size = Size::Threads { per_row: width as u32, selected: true };
            passes.push(Pass { node: logits, pipeline, bind, size, when: When::Always, selected: true });
            plan.gathered = Some(buf);
        }
        plan.passes = passes;
        Ok(plan)
    }

    /// One buffer per partner type the live matmuls quantize to, as large as the largest
    /// quantized input needs.
    fn scratch_buffers(&self, matrices: &[Option<Matrix>]) -> Result<Vec<(Partner, wgpu::Buffer)>, GpuError> {
        let mut sizes: Vec<(Partner, u64)> = Vec::new();
        for (i, op) in self.spec.nodes.iter().enumerate() {
            let Op::Matmul(x, w) = *op else { continue };
            let m = matrices[w as usize].as_ref().expect("bound at compile");
            let p = m.layout.partner();
            if !self.alloc.live[i] || p == Partner::F32 {
                continue;
            }
            let rows = if self.shapes.nodes[x as usize].selected { MAX_LOGIT_ROWS } else { self.spec.max_rows as usize };
            let bytes = (rows * p.row_words(m.k) * 4).max(4) as u64;
            match sizes.iter_mut().find(|(q, _)| *q == p) {
                Some((_, b)) => *b = (*b).max(bytes),
                None => sizes.push((p, bytes)),
            }
        }
        sizes
            .into_iter()
            .map(|(p, bytes)| {
                if bytes > self.dev.max_binding {
                    return Err(GpuError::Unsupported(format!(
                        "quantized activations ({p:?}) need a {bytes}-byte buffer; the adapter {} binds at most {} bytes",
                        self.dev.summary.name, self.dev.max_binding
                    )));
                }
                let buf = self.dev.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("quantized activations"),
                    size: bytes,
                    usage: wgpu::BufferUsages::STORAGE,
                    mapped_at_creation: false,
                });
                Ok((p, buf))
            })
            .collect()
    }

    /// The buffer matmul node `i` reads its input `x` from when weights of `layout` want it
    /// quantized (None for F32 weights), adding the quantize pass unless the buffer already
    /// holds `x`.
    fn quantized_input(
        &self,
        i: usize,
        x: u32,
        layout: &Layout,
        k: usize,
        holds: &mut Holds,
        out: &mut Vec<Pass>,
    ) -> Result<Option<wgpu::Buffer>, GpuError> {
        let p = layout.partner();
        if p == Partner::F32 {
            return Ok(None);
        }
        let buf = &self.scratch.iter().find(|(q, _)| *q == p).expect("sized at compile").1;
        let held = holds.0.iter_mut().find(|(q, _, _)| *q == p);
        match held {
            Some((_, node, at)) if *node == x => {
                // The quantize pass must run whenever any of its readers does.
                if self.alloc.for_hidden[i] {
                    out[*at].node = i;
                }
            }
            _ => {
                let selected = self.shapes.nodes[x as usize].selected;
                let (mode, units) = p.mode_units(k);
                let params = [k as u32, mode, selected as u32, p.row_words(k) as u32, units, 0, 0, 0];
                let pipeline = self.pipelines.get(&self.dev.device, Kernel::Quantize, None)?;
                let bind = self.bind(&pipeline, &self.params(params), &[self.slot(x), buf]);
                let size = Size::Threads { per_row: units, selected };
                out.push(Pass { node: i, pipeline, bind, size, when: When::Always, selected });
                holds.0.retain(|(q, _, _)| *q != p);
                holds.0.push((p, x, out.len() - 1));
            }
        }
        Ok(Some(buf.clone()))
    }

    fn slot(&self, node: u32) -> &wgpu::Buffer {
        &self.slots[self.alloc.slot[node as usize]]
    }

    fn params(&self, words: [u32; 8]) -> wgpu::Buffer {
        self.dev.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: bytemuck::cast_slice(&words),
            usage: wgpu::BufferUsages::UNIFORM,
        })
    }

    fn bind(&self, pipeline: &wgpu::ComputePipeline, params: &wgpu::Buffer, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let mut entries = vec![
            wgpu::BindGroupEntry { binding: 0, resource: self.step.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: params.as_entire_binding() },
        ];
        for (j, b) in buffers.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: 2 + j as u32, resource: b.as_entire_binding() });
        }
        self.dev.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    }

    /// Which norms fold the next node's weight multiply in: a live RmsNorm or LayerNorm whose
    /// only reader is the MulWeight right after it, which is no output, and whose input's
    /// buffer is not the multiply's.
    fn norms_taking_weights(&self) -> Vec<bool> {
        let nodes = &self.spec.nodes;
        let mut readers = vec![0usize; nodes.len()];
        for (_, op) in nodes.iter().enumerate().filter(|(i, _)| self.alloc.live[*i]) {
            for j in op.inputs() {
                readers[j as usize] += 1;
            }
        }
        let output = |i: usize| i == self.spec.logits as usize || self.spec.hidden == Some(i as u32);
        (0..nodes.len())
            .map(|i| {
                matches!(nodes[i], Op::RmsNorm(..) | Op::LayerNorm(..))
                    && self.alloc.live[i]
                    && !output(i)
                    && readers[i] == 1
                    && matches!(nodes.get(i + 1), Some(Op::MulWeight(x, _)) if *x as usize == i)
                    && self.alloc.live.get(i + 1) == Some(&true)
                    // The multiply's buffer may be the norm's input's, freed by the norm: a
                    // pass cannot read and write one buffer.
                    && nodes[i].inputs().all(|x| self.alloc.slot[x as usize] != self.alloc.slot[i + 1])
            })
            .collect()
    }

    /// The passes that compute node `i`.
    fn passes_of(
        &self,
        i: usize,
        matrices: &[Option<Matrix>],
        vectors: &[Option<(wgpu::Buffer, usize)>],
        holds: &mut Holds,
        out: &mut Vec<Pass>,
    ) -> Result<(), GpuError> {
        let xq = match self.spec.nodes[i] {
            Op::Matmul(x, w) => {
                let m = matrices[w as usize].as_ref().expect("bound at compile");
                self.quantized_input(i, x, &m.layout, m.k, holds, out)?
            }
            _ => None,
        };
        let dev = &self.dev.device;
        let pipes = &self.pipelines;
        let shape = self.shapes.nodes[i];
        let (width, selected) = (shape.width as u32, shape.selected);
        let y = self.slot(i as u32);
        let sel = selected as u32;
        // The first pipeline that fails to build; the calls below stay one line each.
        let mut failed = None;
        let mut push = |kernel: Kernel, layout: Option<&Layout>, params: [u32; 8], bufs: &[&wgpu::Buffer], size: Size, when: When| {
            let pipeline = match pipes.get(dev, kernel, layout) {
                Ok(p) => p,
                Err(e) => {
                    failed.get_or_insert(e);
                    return;
                }
            };
            let p = self.params(params);
            let bind = self.bind(&pipeline, &p, bufs);
            out.push(Pass { node: i, pipeline, bind, size, when, selected });
        };
        let ew = |op: u32, wlen: u32, f: f32| [width, op, sel, wlen, f.to_bits(), 0, 0, 0];
        match self.spec.nodes[i] {
            Op::Embed(w) | Op::EmbedPositions(w) => {
                let m = matrices[w as usize].as_ref().expect("bound at compile");
                let positions = matches!(self.spec.nodes[i], Op::EmbedPositions(_)) as u32;
                let g4 = m.g4();
                for c in &m.chunks {
                    let params = [m.k as u32, c.n as u32, c.n0 as u32, m.row_words as u32, g4, positions, 0, 0];
                    push(Kernel::Embed, Some(&m.layout), params, &[&c.buf, &self.batch, y], Size::Threads { per_row: g4, selected }, When::Always);
                }
            }
            Op::Matmul(x, w) => {
                let m = matrices[w as usize].as_ref().expect("bound at compile");
                let x = xq.as_ref().unwrap_or(self.slot(x));
                // Quantized weights take integer block dot products on quantized rows; F16
                // and BF16 weights read rounded f32 rows, F32 weights the rows themselves.
                let (vec, tiled, g) = if m.layout.block > 1 {
                    (Kernel::MatmulVecQ, Kernel::MatmulTiledQ, (m.k / m.layout.block) as u32)
                } else {
                    (Kernel::MatmulVec, Kernel::MatmulTiled, m.g4())
                };
                let xrow = m.layout.partner().row_words(m.k) as u32;
                let per_group = if vec == Kernel::MatmulVecQ { vec_q_columns(g, m.layout.ggml_lanes()) } else { 1 };
                for c in &m.chunks {
                    let params = [m.k as u32, c.n as u32, c.n0 as u32, m.n as u32, m.row_words as u32, g, sel, xrow];
                    let groups = (c.n as u32).div_ceil(per_group);
                    push(vec, Some(&m.layout), params, &[&c.buf, x, y], Size::Columns(groups), When::FewRows);
                    push(tiled, Some(&m.layout), params, &[&c.buf, x, y], Size::Tiles { n: c.n as u32, selected }, When::ManyRows);
                }
            }
            Op::RmsNorm(x, _, _) | Op::LayerNorm(x, _) => {
                let (eps, g, layer) = match self.spec.nodes[i] {
                    Op::RmsNorm(_, eps, group) => (eps, if group == 0 { width } else { group }, 0),
                    Op::LayerNorm(_, eps) => (eps, width, 1),
                    _ => unreachable!("a norm"),
                };
                let x = self.slot(x);
                // Fused with the next node's weight multiply: its buffer, its weight.
                let (y, v, wlen) = match self.spec.nodes.get(i + 1) {
                    Some(&Op::MulWeight(_, w)) if self.norm_takes_weight[i] => {
                        let (v, len) = vectors[w as usize].as_ref().expect("bound at compile");
                        (self.slot(i as u32 + 1), v, *len as u32)
                    }
                    _ => (y, x, 0),
                };
                push(Kernel::Norm, None, [width, g, eps.to_bits(), sel, layer, wlen, 0, 0], &[x, y, v], Size::Groups { per_row: width / g, selected }, When::Always);
            }
            Op::MulWeight(x, _) if self.norm_takes_weight[x as usize] => {}
            Op::MulWeight(x, w) | Op::AddWeight(x, w) => {
                let (v, len) = vectors[w as usize].as_ref().expect("bound at compile");
                let op = if matches!(self.spec.nodes[i], Op::MulWeight(..)) { 4 } else { 5 };
                push(Kernel::Elementwise, None, ew(op, *len as u32, 0.0), &[self.slot(x), v, y], Size::Threads { per_row: width, selected }, When::Always);
            }
            Op::GeGlu(a, b) => {
                let table = self.gelu.as_ref().expect("made at compile");
                push(Kernel::Gelu, None, ew(3, 1, 0.0), &[self.slot(a), self.slot(b), y, table], Size::Threads { per_row: width, selected }, When::Always);
            }
            Op::Gelu(x) => {
                let (x, table) = (self.slot(x), self.gelu.as_ref().expect("made at compile"));
                push(Kernel::Gelu, None, ew(7, 1, 0.0), &[x, x, y, table], Size::Threads { per_row: width, selected }, When::Always);
            }
            Op::Add(a, b) | Op::Mul(a, b) | Op::SwiGlu(a, b) => {
                let op = match self.spec.nodes[i] {
                    Op::Add(..) => 0,
                    Op::Mul(..) => 1,
                    _ => 2,
                };
                push(Kernel::Elementwise, None, ew(op, 1, 0.0), &[self.slot(a), self.slot(b), y], Size::Threads { per_row: width, selected }, When::Always);
            }
            Op::Scale(x, f) | Op::Softcap(x, f) => {
                let op = if matches!(self.spec.nodes[i], Op::Scale(..)) { 6 } else { 9 };
                let x = self.slot(x);
                // Softcap multiplies by 1/cap as ggml does (word 5): a GPU divide may round otherwise.
                let mut params = ew(op, 1, f);
                params[5] = (1.0 / f).to_bits();
                push(Kernel::Elementwise, None, params, &[x, x, y], Size::Threads { per_row: width, selected }, When::Always);
            }
            Op::GeluErf(x) => {
                let x = self.slot(x);
                push(Kernel::Elementwise, None, ew(8, 1, 0.0), &[x, x, y], Size::Threads { per_row: width, selected }, When::Always);
            }
            Op::Rope(r) => {
                // theta_scale as the CPU executor forms it (host powf, not the GPU's pow).
                let theta_scale = r.freq_base.powf(-2.0 / r.n_rot.max(1) as f32);
                let key = [r.n_rot, r.freq_base.to_bits(), r.freq_scale.to_bits()];
                // Without a table (n_rot < 2: nothing rotates), any buffer binds T, unread.
                let (table, tpos) = self.rope_tables.iter().find(|t| t.0 == key).map_or((&self.batch, 0), |t| (&t.1, t.2));
                let params = [width, r.head_dim, r.n_rot, r.neox as u32, r.freq_base.to_bits(), r.freq_scale.to_bits(), theta_scale.to_bits(), tpos];
                push(Kernel::Rope, None, params, &[&self.batch, self.slot(r.x), y, table], Size::Threads { per_row: width, selected: false }, When::Always);
            }
            Op::Attention(a) | Op::EncoderAttention(a) => {
                let causal = matches!(self.spec.nodes[i], Op::Attention(_)) as u32;
                let layer = &self.kv[a.layer as usize];
                let kw = a.n_kv_head * a.head_dim;
                push(Kernel::KvWrite, None, [kw / 2, 0, 0, 0, 0, 0, 0, 0], &[&self.batch, self.slot(a.k), self.slot(a.v), &layer.k, &layer.v], Size::Threads { per_row: kw / 2, selected: false }, When::Always);
                let params = [a.n_head, a.n_head / a.n_kv_head, a.head_dim, kw, a.scale.to_bits(), a.softcap.to_bits(), a.window, causal];
                push(Kernel::Attention, None, params, &[&self.batch, self.slot(a.q), &layer.k, &layer.v, y], Size::Groups { per_row: a.n_head, selected: false }, When::Always);
            }
            Op::SelectRows(x) | Op::Pool(x, _) => {
                let how = match self.spec.nodes[i] {
                    Op::Pool(_, Pooling::Mean) => 1,
                    Op::Pool(_, Pooling::Cls) => 2,
                    Op::Pool(_, Pooling::Last) => 3,
                    _ => 0,
                };
                push(Kernel::Rows, None, [width, how, 0, 0, 0, 0, 0, 0], &[&self.batch, self.slot(x), y], Size::Threads { per_row: width, selected: true }, When::Always);
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

/// ggml-cpu's GELU table (GGML_GELU_FP16), as the CPU executor builds it: for every f16 input,
/// the f16 of the tanh-approximation GELU computed in f32 (Rust's tanh, libm's), two entries
/// a word, the even index in the low half.
fn gelu_table() -> Vec<u32> {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    const GELU_COEF_A: f32 = 0.044715;
    let gelu = |x: f32| 0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + GELU_COEF_A * x * x)).tanh());
    let entry = |i: u32| half::f16::from_f32(gelu(half::f16::from_bits(i as u16).to_f32())).to_bits() as u32;
    (0..1u32 << 15).map(|w| entry(2 * w) | (entry(2 * w + 1) << 16)).collect()
}

/// Most positions a rope table covers (8192 · 64 pairs · 8 bytes = 4 MiB at head_dim 128);
/// later positions take the GPU's own sin and cos.
const ROPE_TABLE_POSITIONS: u32 = 8192;

/// The CPU executor's rope cache (`wollama_compute`'s ops::rope) for positions 0..tpos: per
/// position, (cos, sin) of each rotated pair, the angle pos · theta_scale^i by repeated f32
/// multiplication, then · freq_scale; Rust's cos and sin (libm's), as the CPU takes them.
fn rope_table(r: &wollama_plan::Rope, tpos: u32) -> Vec<f32> {
    let half = (r.n_rot / 2) as usize;
    let theta_scale = r.freq_base.powf(-2.0 / r.n_rot as f32);
    let mut out = Vec::with_capacity(tpos as usize * half * 2);
    for pos in 0..tpos {
        let mut theta = pos as f32;
        for _ in 0..half {
            let t = r.freq_scale * theta;
            out.push(t.cos());
            out.push(t.sin());
            theta *= theta_scale;
        }
    }
    out
}
