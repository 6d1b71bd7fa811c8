//! Running a compiled plan: the batch written into its buffer, cell copies, every live node's
//! passes, the biased top-k and the rows read back whole, all in one submission; then one
//! readback of k candidates per logit row (or the whole rows a batch asks for).

use wollama_plan::{Batch, Candidates};

use crate::compile::{GpuPlan, Size, When, MAX_LOGIT_ROWS, VEC_ROWS};
use crate::kernels::Kernel;
use crate::GpuError;

/// The top-k kernel's growable buffers: bias entries in, (id, logit) pairs out.
pub struct TopK {
    pipeline: wgpu::ComputePipeline,
    bias: wgpu::Buffer,
    out: wgpu::Buffer,
    params: wgpu::Buffer,
    bind: wgpu::BindGroup,
}

/// What a step reads back, and where it lies in the staging buffer.
struct Readback {
    /// Bytes of top-k pairs at the start (lrows * k * 8).
    pairs: u64,
    /// (logit row index, byte offset, width) of each whole row.
    rows: Vec<(usize, u64, usize)>,
    total: u64,
}

const STORAGE_COPY: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_DST)
    .union(wgpu::BufferUsages::COPY_SRC);

fn workgroups(total: u64, max: u32) -> (u32, u32) {
    let total = total.max(1);
    if total <= max as u64 {
        (total as u32, 1)
    } else {
        let y = total.div_ceil(max as u64);
        (total.div_ceil(y) as u32, y as u32)
    }
}

impl GpuPlan {
    /// Runs one forward pass and returns the top-k candidates of every logit row (blocking:
    /// the native host's loop).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn run(&mut self, b: &Batch) -> Result<Vec<Candidates>, GpuError> {
        pollster::block_on(self.run_async(b))
    }

    /// Runs one forward pass; the future resolves once its readback is mapped (the browser's
    /// loop awaits it between the guest's `next` and `complete`).
    pub async fn run_async(&mut self, b: &Batch) -> Result<Vec<Candidates>, GpuError> {
        if self.dev.is_lost() {
            return Err(GpuError::DeviceLost(self.dev.summary.name.clone()));
        }
        self.check(b)?;
        let device = self.dev.device.clone();
        let name = self.dev.summary.name.clone();
        let what = || format!("running a step on {name}");
        let (readback, staging) = crate::kernels::scoped(&device, what, || {
            let readback = self.write_batch(b)?;
            let staging = self.staging_for(readback.total);
            let mut enc = self.dev.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("step") });
            self.copy_cells(&mut enc, b);
            self.record(&mut enc, b);
            self.record_readback(&mut enc, b, &readback, &staging);
            self.dev.queue.submit(Some(enc.finish()));
            Ok((readback, staging))
        })?;
        let bytes = self.read(&staging, readback.total).await?;
        Ok(self.candidates(b, &readback, &bytes))
    }

    fn check(&self, b: &Batch) -> Result<(), GpuError> {
        b.validate(&self.spec, self.shapes.token_space).map_err(GpuError::Invalid)?;
        if b.logit_rows.len() > MAX_LOGIT_ROWS {
            return Err(GpuError::Invalid(format!(
                "{} logit rows exceed the GPU executor's {MAX_LOGIT_ROWS} per batch",
                b.logit_rows.len()
            )));
        }
        if let Some(p) = b.positions.iter().find(|&&p| p < 0 || p as u32 >= self.shapes.position_space) {
            return Err(GpuError::Invalid(format!(
                "position {p} is outside the model's {} position embeddings",
                self.shapes.position_space
            )));
        }
        Ok(())
    }

    fn k(&self, b: &Batch) -> u32 {
        b.top_k.min(self.vocab())
    }

    /// Writes the step header, the batch's arrays and the bias entries; sizes the readback.
    fn write_batch(&mut self, b: &Batch) -> Result<Readback, GpuError> {
        let l = self.layout;
        let (rows, lrows) = (b.tokens.len(), b.logit_rows.len());
        let nbias: usize = b.bias.iter().map(Vec::len).sum();
        let k = self.k(b);
        let header: [u32; 16] = [
            rows as u32,
            lrows as u32,
            b.cell_pos.len() as u32,
            nbias as u32,
            k,
            l.tok,
            l.pos,
            l.seq,
            l.wcell,
            l.lrow,
            l.cpos,
            l.cseq,
            0,
            0,
            0,
            0,
        ];
        let dev = std::sync::Arc::clone(&self.dev);
        let q = &dev.queue;
        q.write_buffer(&self.step, 0, bytemuck::cast_slice(&header));
        let mut words = vec![0u32; l.words as usize];
        let put = |words: &mut Vec<u32>, at: u32, src: &mut dyn Iterator<Item = u32>| {
            for (j, v) in src.enumerate() {
                words[at as usize + j] = v;
            }
        };
        put(&mut words, l.tok, &mut b.tokens.iter().copied());
        put(&mut words, l.pos, &mut b.positions.iter().map(|&p| p as u32));
        put(&mut words, l.seq, &mut b.seqs.iter().copied());
        put(&mut words, l.wcell, &mut b.write_cells.iter().copied());
        put(&mut words, l.lrow, &mut b.logit_rows.iter().copied());
        put(&mut words, l.cpos, &mut b.cell_pos.iter().map(|&p| p as u32));
        put(&mut words, l.cseq, &mut b.cell_seqs.iter().flat_map(|&s| [s as u32, (s >> 32) as u32]));
        q.write_buffer(&self.batch, 0, bytemuck::cast_slice(&words));

        let is_hidden = |r: usize| b.hidden_rows.binary_search(&(r as u32)).is_ok();
        let ranked = k > 0 && b.hidden_rows.len() < lrows;
        let pairs = if ranked { (lrows as u64) * k as u64 * 8 } else { 0 };
        let limit = self.dev.max_binding;
        if pairs > limit || nbias as u64 * 16 > limit {
            return Err(GpuError::Unsupported(format!(
                "{lrows} logit rows of {k} candidates and {nbias} bias entries need more than the {limit} bytes \
                 the adapter {} binds; ask for fewer candidates",
                self.dev.summary.name
            )));
        }
        if ranked {
            let mut bias = Vec::with_capacity(nbias * 4);
            for (r, list) in b.bias.iter().enumerate() {
                for &(tok, pen, add) in list {
                    bias.extend([r as u32, tok, pen.to_bits(), add.to_bits()]);
                }
            }
            self.topk_for(bias.len().max(4) as u64 * 4, pairs, [self.vocab(), k, 1, nbias as u32])?;
            let t = self.topk.as_ref().expect("made above");
            if !bias.is_empty() {
                q.write_buffer(&t.bias, 0, bytemuck::cast_slice(&bias));
            }
        }
        let mut rows_back = Vec::new();
        let mut at = pairs;
        for r in 0..lrows {
            let width = if is_hidden(r) {
                self.shapes.nodes[self.spec.hidden.expect("validated") as usize].width
            } else if k == 0 {
                self.vocab() as usize
            } else {
                continue;
            };
            rows_back.push((r, at, width));
            at += width as u64 * 4;
        }
        if at > limit {
            return Err(GpuError::Unsupported(format!(
                "reading back {at} bytes (whole rows and candidates) exceeds the {limit} bytes of one buffer on the adapter {}",
                self.dev.summary.name
            )));
        }
        Ok(Readback { pairs, rows: rows_back, total: at.max(8) })
    }

    /// The top-k buffers, grown to hold `bias_bytes` and `out_bytes`, with this step's params.
    fn topk_for(&mut self, bias_bytes: u64, out_bytes: u64, params: [u32; 4]) -> Result<(), GpuError> {
        let dev = &self.dev.device;
        let grow = match &self.topk {
            Some(t) => t.bias.size() < bias_bytes || t.out.size() < out_bytes,
            None => true,
        };
        if grow {
            let old = self.topk.take();
            // Grown by powers of two, never past the binding limit (`want` is checked against it).
            let limit = self.dev.max_binding;
            let size = |want: u64, had: Option<u64>| want.max(had.unwrap_or(0)).next_power_of_two().max(256).min(limit.max(want));
            let make = |label, bytes| dev.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size: bytes, usage: STORAGE_COPY, mapped_at_creation: false });
            let bias = make("topk.bias", size(bias_bytes, old.as_ref().map(|t| t.bias.size())));
            let out = make("topk.out", size(out_bytes, old.as_ref().map(|t| t.out.size())));
            let params_buf = dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some("topk.params"),
                size: 16,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let pipeline = self.pipelines.get(dev, Kernel::TopK, None)?;
            // One row per logit row: the logits node's own, or the rows gathered from it.
            let logits = self.gathered.as_ref().unwrap_or(&self.slots[self.alloc.slot[self.spec.logits as usize]]);
            let bind = dev.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("topk"),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: self.step.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 1, resource: params_buf.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 2, resource: bias.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 3, resource: self.batch.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 4, resource: logits.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 5, resource: out.as_entire_binding() },
                ],
            });
            self.topk = Some(TopK { pipeline, bias, out, params: params_buf, bind });
        }
        let t = self.topk.as_ref().expect("made above");
        self.dev.queue.write_buffer(&t.params, 0, bytemuck::cast_slice(&params));
        Ok(())
    }

    fn staging_for(&mut self, bytes: u64) -> wgpu::Buffer {
        let fits = self.staging.as_ref().is_some_and(|(_, size)| *size >= bytes);
        if !fits {
            let size = bytes.next_power_of_two().max(4096).min(self.dev.max_binding.max(bytes));
            let buf = self.dev.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.staging = Some((buf, size));
        }
        self.staging.as_ref().expect("made above").0.clone()
    }

    /// Prefix-sharing copies, in order, each through a one-cell hop.
    fn copy_cells(&mut self, enc: &mut wgpu::CommandEncoder, b: &Batch) {
        if b.copies.iter().all(|&(s, d)| s == d) {
            return;
        }
        let widest = self.kv.iter().map(|l| l.cell_bytes).max().unwrap_or(4);
        if self.cell_scratch.as_ref().is_none_or(|s| s.size() < widest) {
            self.cell_scratch = Some(self.dev.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("cell copy"),
                size: widest,
                usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        let hop = self.cell_scratch.as_ref().expect("made above");
        for &(src, dst) in b.copies.iter().filter(|(s, d)| s != d) {
            for layer in &self.kv {
                let n = layer.cell_bytes;
                for buf in [&layer.k, &layer.v] {
                    enc.copy_buffer_to_buffer(buf, src as u64 * n, hop, 0, n);
                    enc.copy_buffer_to_buffer(hop, 0, buf, dst as u64 * n, n);
                }
            }
        }
    }

    /// Every live node's passes in one compute pass (a batch that only wants hidden states
    /// skips what only the logits need), then the top-k.
    fn record(&mut self, enc: &mut wgpu::CommandEncoder, b: &Batch) {
        let (rows, lrows) = (b.tokens.len() as u64, b.logit_rows.len() as u64);
        let hidden_only = self.spec.hidden.is_some() && b.hidden_rows.len() == b.logit_rows.len();
        let max = self.dev.max_workgroups;
        let mut dispatches = 0;
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("forward"), timestamp_writes: None });
        for p in &self.passes {
            if hidden_only && !self.alloc.for_hidden[p.node] {
                continue;
            }
            let n = if p.selected { lrows } else { rows };
            let few = n as usize <= VEC_ROWS;
            if (p.when == When::FewRows && !few) || (p.when == When::ManyRows && few) {
                continue;
            }
            let (x, y) = match p.size {
                Size::Threads { per_row, selected } => {
                    let n = if selected { lrows } else { rows };
                    workgroups((n * per_row as u64).div_ceil(64), max)
                }
                Size::Groups { per_row, selected } => {
                    let n = if selected { lrows } else { rows };
                    workgroups(n * per_row as u64, max)
                }
                Size::Columns(cols) => workgroups(cols as u64, max),
                Size::Tiles { n: cols, selected } => {
                    let n = if selected { lrows } else { rows };
                    ((cols as u64).div_ceil(64) as u32, n.div_ceil(64) as u32)
                }
            };
            pass.set_pipeline(&p.pipeline);
            pass.set_bind_group(0, &p.bind, &[]);
            pass.dispatch_workgroups(x, y, 1);
            dispatches += 1;
        }
        let ranked = self.k(b) > 0 && b.hidden_rows.len() < b.logit_rows.len();
        if let (true, Some(t)) = (ranked, &self.topk) {
            let (x, y) = workgroups(lrows, max);
            pass.set_pipeline(&t.pipeline);
            pass.set_bind_group(0, &t.bind, &[]);
            pass.dispatch_workgroups(x, y, 1);
            dispatches += 1;
        }
        drop(pass);
        self.last_dispatches = dispatches;
    }

    fn record_readback(&self, enc: &mut wgpu::CommandEncoder, b: &Batch, rb: &Readback, staging: &wgpu::Buffer) {
        if rb.pairs > 0 {
            let t = self.topk.as_ref().expect("made in write_batch");
            enc.copy_buffer_to_buffer(&t.out, 0, staging, 0, rb.pairs);
        }
        let is_hidden = |r: usize| b.hidden_rows.binary_search(&(r as u32)).is_ok();
        for &(r, at, width) in &rb.rows {
            let node = if is_hidden(r) { self.spec.hidden.expect("validated") } else { self.spec.logits };
            let shape = self.shapes.nodes[node as usize];
            let src_row = if shape.selected { r } else { b.logit_rows[r] as usize };
            let buf = &self.slots[self.alloc.slot[node as usize]];
            let bytes = width as u64 * 4;
            enc.copy_buffer_to_buffer(buf, src_row as u64 * bytes, staging, at, bytes);
        }
    }

    async fn read(&self, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, GpuError> {
        let slice = staging.slice(..bytes);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.dev
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::DeviceLost(format!("{}: {e}", self.dev.summary.name)))?;
        let mapped = rx.await.map_err(|_| GpuError::DeviceLost(self.dev.summary.name.clone()))?;
        mapped.map_err(|e| GpuError::DeviceLost(format!("{}: {e}", self.dev.summary.name)))?;
        let data = slice
            .get_mapped_range()
            .map_err(|e| GpuError::DeviceLost(format!("{}: {e:?}", self.dev.summary.name)))?
            .to_vec();
        staging.unmap();
        if self.dev.is_lost() {
            return Err(GpuError::DeviceLost(self.dev.summary.name.clone()));
        }
        Ok(data)
    }

    fn candidates(&self, b: &Batch, rb: &Readback, bytes: &[u8]) -> Vec<Candidates> {
        let lrows = b.logit_rows.len();
        let mut out = vec![Candidates::default(); lrows];
        let words: &[u32] = bytemuck::cast_slice(&bytes[..(bytes.len() / 4) * 4]);
        if rb.pairs > 0 {
            let k = self.k(b) as usize;
            let is_hidden = |r: usize| b.hidden_rows.binary_search(&(r as u32)).is_ok();
            for (r, o) in out.iter_mut().enumerate().filter(|(r, _)| !is_hidden(*r)) {
                let row = &words[r * k * 2..(r + 1) * k * 2];
                let mut pairs: Vec<(u32, f32)> = row.chunks_exact(2).map(|p| (p[0], f32::from_bits(p[1]))).collect();
                // NaN ranks as -inf and -0 equals +0, as the CPU ranks them.
                let key = |v: f32| if v.is_nan() { f32::NEG_INFINITY } else { v + 0.0 };
                pairs.sort_by(|a, c| key(c.1).total_cmp(&key(a.1)).then(a.0.cmp(&c.0)));
                o.ids = pairs.iter().map(|p| p.0).collect();
                o.logits = pairs.iter().map(|p| p.1).collect();
            }
        }
        for &(r, at, width) in &rb.rows {
            let start = (at / 4) as usize;
            out[r].logits = words[start..start + width].iter().map(|&w| f32::from_bits(w)).collect();
        }
        out
    }
}
