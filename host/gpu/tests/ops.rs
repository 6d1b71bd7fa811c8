//! Op conformance, in the spirit of llama.cpp's test-backend-ops: every plan op but Matmul
//! (tested with the matmul kernels) in small plans with F32 weights, run on the GPU and on the
//! CPU executor (bit-exact with ggml), compared against a per-op error budget; the sparse bias
//! and top-k against the CPU's candidates exactly; hidden rows; weights split by rows under a
//! low binding limit; plans over the limit rejected at compile; every kernel built on the
//! adapter. Shapes stay small: the CI adapter is lavapipe, Vulkan on the CPU.
//!
//! Errors are `rel_err` of a batch's whole output, sqrt(Σ(gpu-cpu)²/Σcpu²): the square root of
//! test-backend-ops' NMSE.

#[path = "../../compute/tests/common/mod.rs"]
mod common;

use std::sync::OnceLock;

use common::{rand_vec, rel_err, FileBuilder};
use wollama_compute::cpu::{CpuExecutor, CpuPlan};
use wollama_gpu::{Choice, GpuError, GpuExecutor, GpuPlan, Kernel, Layout, LimitOverride, SUPPORTED};
use wollama_plan::{Attention, Batch, Bias, Candidates, KvSpec, NodeId, Op, PlanSpec, Pooling, Rope, WeightIdx};

/// One executor for every test: its pipelines are built once.
fn gpu() -> &'static GpuExecutor {
    static GPU: OnceLock<GpuExecutor> = OnceLock::new();
    GPU.get_or_init(|| GpuExecutor::new(Choice::Any, LimitOverride::default()).expect("a GPU adapter (lavapipe counts)"))
}

/// Same results as an exact op: GPU add, multiply and copy round as the CPU's do.
const EXACT: f32 = 0.0;

/// One plan compiled on both executors.
struct Both {
    cpu: CpuPlan,
    gpu: GpuPlan,
}

fn spec(weights: Vec<wollama_plan::Weight>, nodes: Vec<Op>, logits: NodeId, kv: KvSpec, max_rows: u32) -> PlanSpec {
    PlanSpec { weights, nodes, logits, hidden: None, kv, max_rows }
}

impl Both {
    fn new(fb: FileBuilder, nodes: Vec<Op>, logits: NodeId, hidden: Option<NodeId>, kv: KvSpec, max_rows: u32) -> Both {
        Self::on(gpu(), fb, nodes, logits, hidden, kv, max_rows)
    }

    fn on(gpu: &GpuExecutor, fb: FileBuilder, nodes: Vec<Op>, logits: NodeId, hidden: Option<NodeId>, kv: KvSpec, max_rows: u32) -> Both {
        let (map, weights) = fb.finish();
        let spec = PlanSpec { hidden, ..spec(weights, nodes, logits, kv, max_rows) };
        let cpu = CpuExecutor::with_weight_copy(1, false).compile(map.clone(), spec.clone()).expect("the CPU compiles the plan");
        let gpu = gpu.compile(&&map[..], spec).expect("the GPU compiles the plan");
        Both { cpu, gpu }
    }

    fn run(&mut self, b: &Batch) -> (Vec<Candidates>, Vec<Candidates>) {
        (self.cpu.run(b).expect("the CPU runs the batch"), self.gpu.run(b).expect("the GPU runs the batch"))
    }

    /// Runs `b` (whole rows back) and checks the GPU's rows against the CPU's; returns the
    /// worst row's error.
    fn check(&mut self, what: &str, b: &Batch, budget: f32) -> f32 {
        let (c, g) = self.run(b);
        rows_match(what, &c, &g, budget)
    }
}

/// As `rows_match`, with the budget on each row's error (a wrong cell in one row's attention
/// must not hide among the other rows); returns the worst row's.
fn each_row_matches(what: &str, c: &[Candidates], g: &[Candidates], budget: f32) -> f32 {
    let mut worst = 0f32;
    for (r, (c, g)) in c.iter().zip(g).enumerate() {
        worst = worst.max(rows_match(&format!("{what}, row {r}"), std::slice::from_ref(c), std::slice::from_ref(g), budget));
    }
    worst
}

fn rows_match(what: &str, c: &[Candidates], g: &[Candidates], budget: f32) -> f32 {
    assert_eq!(c.len(), g.len(), "{what}: logit rows");
    for (r, (c, g)) in c.iter().zip(g).enumerate() {
        assert!(c.ids.is_empty() && g.ids.is_empty(), "{what}: whole rows come back without ids");
        assert_eq!(c.logits.len(), g.logits.len(), "{what}: row {r} width");
        assert!(g.logits.iter().all(|v| v.is_finite()), "{what}: row {r} is not finite on the GPU: {:?}", g.logits);
    }
    let flat = |x: &[Candidates]| x.iter().flat_map(|c| c.logits.iter().copied()).collect::<Vec<f32>>();
    let (cf, gf) = (flat(c), flat(g));
    let e = if cf == gf { 0.0 } else { rel_err(&gf, &cf) };
    if e > budget {
        let (at, worst) = cf.iter().zip(&gf).enumerate().map(|(i, (a, b))| (i, (a - b).abs())).fold((0, 0f32), |w, x| if x.1 > w.1 { x } else { w });
        panic!("{what}: relative error {e:.3e} over the budget {budget:.1e}; worst value {at}: cpu {} gpu {} (diff {worst:e})", cf[at], gf[at]);
    }
    e
}

/// Records the worst error per op for the report line a test prints.
#[derive(Default)]
struct Errors(Vec<(String, f32)>);

impl Errors {
    fn add(&mut self, op: &str, e: f32) {
        match self.0.iter_mut().find(|(o, _)| o == op) {
            Some((_, w)) => *w = w.max(e),
            None => self.0.push((op.to_string(), e)),
        }
    }

    fn print(&self, test: &str) {
        for (op, e) in &self.0 {
            eprintln!("{test}: {op}: worst relative error {e:.2e}");
        }
    }
}

/// An F32 embedding table of `vocab` rows of `width` values in [offset - scale, offset + scale).
fn table(fb: &mut FileBuilder, name: &str, width: usize, vocab: usize, scale: f32, offset: f32, seed: u64) -> WeightIdx {
    let v: Vec<f32> = rand_vec(width * vocab, seed).iter().map(|x| x * scale + offset).collect();
    fb.f32(name, &[width as u64, vocab as u64], &v)
}

/// A batch of `rows` tokens of one sequence (positions and cells 0..), every row a logit row,
/// rows coming back whole.
fn rows_batch(rows: usize, vocab: usize) -> Batch {
    common::batch((0..rows).map(|r| ((r * 5 + 3) % vocab) as u32).collect(), 0)
}

const VOCAB: usize = 16;
const MAX_ROWS: u32 = 12;
const ROW_COUNTS: [usize; 3] = [1, 5, MAX_ROWS as usize];

fn no_kv() -> KvSpec {
    KvSpec { cells: 64, widths: Vec::new() }
}

#[test]
fn elementwise_ops_match_the_cpu() {
    let mut errors = Errors::default();
    // Odd widths, one below a workgroup, one across several; each with a divisor for the
    // broadcast of a weight shorter than the row.
    for (width, short) in [(1usize, 1usize), (9, 3), (130, 13)] {
        // (name, the op over inputs 0 and 1 and weights 2 (row-long) and 3 (short), input
        // scale, budget and why).
        type Case = (&'static str, fn(u32) -> Op, f32, f32);
        let cases: [Case; 14] = [
            ("Add", |_| Op::Add(0, 1), 4.0, EXACT),
            ("Mul", |_| Op::Mul(0, 1), 4.0, EXACT),
            ("Scale", |_| Op::Scale(0, 0.37), 4.0, EXACT),
            ("MulWeight", |w| Op::MulWeight(0, w), 4.0, EXACT),
            ("MulWeight short", |w| Op::MulWeight(0, w + 1), 4.0, EXACT),
            ("AddWeight", |w| Op::AddWeight(0, w), 4.0, EXACT),
            ("AddWeight short", |w| Op::AddWeight(0, w + 1), 4.0, EXACT),
            // exp, tanh and erf are the GPU's own (a few ulp); the CPU's are ggml's and libm's.
            ("SwiGlu", |_| Op::SwiGlu(0, 1), 12.0, 1e-6),
            ("GeluErf", |_| Op::GeluErf(0), 6.0, 1e-6),
            ("Softcap", |_| Op::Softcap(0, 3.0), 12.0, 1e-6),
            // Exact: the GPU looks the f16-rounded input up in the CPU's own table (ggml's
            // GELU_FP16). Its own tanh, a few f32 ulp off libm's, moved results near an f16
            // tie to the other f16 (2^-11 relative on the odd value).
            ("Gelu", |_| Op::Gelu(0), 12.0, EXACT),
            ("GeGlu", |_| Op::GeGlu(0, 1), 12.0, EXACT),
            ("Gelu small", |_| Op::Gelu(0), 0.5, EXACT),
            ("SwiGlu small", |_| Op::SwiGlu(0, 1), 0.5, 1e-6),
        ];
        for (name, op, scale, budget) in cases {
            let mut fb = FileBuilder::default();
            table(&mut fb, "a", width, VOCAB, scale, 0.0, 1);
            table(&mut fb, "b", width, VOCAB, scale, 0.0, 2);
            let w = fb.f32("w", &[width as u64], &rand_vec(width, 3));
            fb.f32("w.short", &[short as u64], &rand_vec(short, 4).iter().map(|v| v * 2.0).collect::<Vec<_>>());
            let nodes = vec![Op::Embed(0), Op::Embed(1), op(w)];
            let mut both = Both::new(fb, nodes, 2, None, no_kv(), MAX_ROWS);
            for rows in ROW_COUNTS {
                let e = both.check(&format!("{name} width {width} rows {rows}"), &rows_batch(rows, VOCAB), budget);
                errors.add(name, e);
            }
        }
    }
    errors.print("elementwise");
}

/// GELU and GeGlu over every f16 input the table covers (and a little past ±10): exact.
#[test]
fn gelu_matches_the_cpu_on_every_f16_input() {
    let xs: Vec<f32> = (0..=u16::MAX)
        .map(|b| half::f16::from_bits(b).to_f32())
        .filter(|x| x.is_finite() && x.abs() <= 10.5)
        .collect();
    let width = xs.len();
    let cases: [(&str, Op); 2] = [("Gelu", Op::Gelu(0)), ("GeGlu", Op::GeGlu(0, 1))];
    for (name, op) in cases {
        let mut fb = FileBuilder::default();
        fb.f32("x", &[width as u64, 1], &xs);
        fb.f32("g", &[width as u64, 1], &rand_vec(width, 21));
        let mut both = Both::new(fb, vec![Op::Embed(0), Op::Embed(1), op], 2, None, no_kv(), 1);
        both.check(&format!("{name} over every f16"), &common::batch(vec![0], 0), EXACT);
    }
}

#[test]
fn norms_match_the_cpu() {
    let mut errors = Errors::default();
    // Widths below, at and well over the kernel's 64 threads; groups dividing them; Gemma 3's
    // 640-wide rows and its q rows' 256-wide head groups.
    for (width, group) in [(1usize, 1u32), (9, 3), (130, 10), (300, 60), (640, 64), (1024, 256)] {
        // (name, op, offset, budget): RMS norm is exact (the GPU sums the squares exactly
        // where ggml sums them in f64, and rounds its sqrt and division correctly): one ulp
        // of a row's scale flips roundings in the next matmul's quantized activation, which
        // Gemma 3 carries to whole logits. Layer norm sums in an f32 tree.
        type Case = (&'static str, fn(u32) -> Op, f32, f32);
        let cases: [Case; 3] = [
            ("RmsNorm", |_| Op::RmsNorm(0, 1e-6, 0), 1.0, EXACT),
            ("RmsNorm grouped", |g| Op::RmsNorm(0, 1e-5, g), 1.0, EXACT),
            // Off-centre inputs: the mean matters.
            ("LayerNorm", |_| Op::LayerNorm(0, 1e-5), 3.0, 1e-6),
        ];
        for (name, op, offset, budget) in cases {
            for scale in [2.0f32, 300.0] {
                let mut fb = FileBuilder::default();
                table(&mut fb, "a", width, VOCAB, scale, offset, 5);
                let mut both = Both::new(fb, vec![Op::Embed(0), op(group)], 1, None, no_kv(), MAX_ROWS);
                for rows in ROW_COUNTS {
                    let e = both.check(&format!("{name} width {width} scale {scale} rows {rows}"), &rows_batch(rows, VOCAB), budget);
                    errors.add(name, e);
                }
            }
        }
    }
    // A row of zeros (padding, a zero embedding): RMS norm gives zeros, not NaN (the exact
    // path has no exponent to work from and must fall back without testing NaN by `v != v`,
    // which a compiler may fold to false).
    for width in [64usize, 640] {
        let mut fb = FileBuilder::default();
        fb.f32("zeros", &[width as u64, VOCAB as u64], &vec![0.0; width * VOCAB]);
        let mut both = Both::new(fb, vec![Op::Embed(0), Op::RmsNorm(0, 1e-6, 0)], 1, None, no_kv(), MAX_ROWS);
        errors.add("RmsNorm of zeros", both.check(&format!("RmsNorm of zeros, width {width}"), &rows_batch(3, VOCAB), EXACT));
    }
    errors.print("norms");
}

/// A norm whose only reader multiplies it by a weight folds the multiply in (one dispatch
/// fewer) and gives the CPU's bits; a norm with two readers keeps its own pass.
#[test]
fn a_norm_folds_the_weight_multiply_after_it() {
    let width = 130;
    let plan = |nodes: Vec<Op>| {
        let mut fb = FileBuilder::default();
        table(&mut fb, "a", width, VOCAB, 2.0, 0.0, 5);
        fb.f32("w", &[width as u64], &rand_vec(width, 6));
        Both::new(fb, nodes, 3, None, no_kv(), MAX_ROWS)
    };
    for norm in [Op::RmsNorm(0, 1e-6, 0), Op::RmsNorm(0, 1e-5, 10), Op::LayerNorm(0, 1e-5)] {
        // The residual reads the embedding again, so the multiply cannot reuse its buffer.
        let mut folded = plan(vec![Op::Embed(0), norm, Op::MulWeight(1, 1), Op::Add(2, 0)]);
        let mut apart = plan(vec![Op::Embed(0), norm, Op::MulWeight(1, 1), Op::Add(2, 1)]);
        let budget = if matches!(norm, Op::LayerNorm(..)) { 1e-6 } else { EXACT };
        for rows in ROW_COUNTS {
            folded.check(&format!("{norm:?} folded, rows {rows}"), &rows_batch(rows, VOCAB), budget);
            apart.check(&format!("{norm:?} apart, rows {rows}"), &rows_batch(rows, VOCAB), budget);
            assert_eq!(folded.gpu.last_dispatches() + 1, apart.gpu.last_dispatches(), "{norm:?}");
        }
    }
}

#[test]
fn rope_matches_the_cpu() {
    let mut errors = Errors::default();
    // (head_dim, n_rot, neox, base, freq_scale, heads)
    let cases = [
        (8u32, 8u32, false, 10000.0f32, 1.0f32, 3usize),
        (8, 8, true, 10000.0, 1.0, 3),
        (10, 6, false, 10000.0, 1.0, 2),
        (10, 6, true, 10000.0, 0.25, 2),
        (64, 64, true, 1e6, 1.0, 2),
        (128, 32, false, 500000.0, 0.125, 1),
    ];
    let small: Vec<i32> = (0..MAX_ROWS as i32).collect();
    let large = vec![0, 1, 100, 1000, 4095, 8191, 32767, 65535, 100_000, 131_071, 262_143, 500_000];
    for (hd, n_rot, neox, base, scale, heads) in cases {
        let width = hd as usize * heads;
        let mut fb = FileBuilder::default();
        table(&mut fb, "a", width, VOCAB, 1.0, 0.0, 6);
        let rope = Rope { x: 0, head_dim: hd, n_rot, freq_base: base, freq_scale: scale, neox };
        let mut both = Both::new(fb, vec![Op::Embed(0), Op::Rope(rope)], 1, None, no_kv(), MAX_ROWS);
        let name = format!("Rope hd {hd} n_rot {n_rot} neox {neox} base {base} scale {scale}");
        for rows in ROW_COUNTS {
            let mut b = rows_batch(rows, VOCAB);
            b.positions = small[..rows].to_vec();
            // Exact: positions below the plan's table (its KV cells or rows, here 64) take the
            // CPU's own cos and sin, and each output is one FMA as on the CPU. (The GPU's sin,
            // cos and unfused products were ~5e-8 off.)
            errors.add("Rope", both.check(&format!("{name} rows {rows}"), &b, EXACT));
        }
        let mut b = rows_batch(large.len(), VOCAB);
        b.positions = large.clone();
        // Past the table the GPU's own sin and cos (after range reduction); past position
        // ~10^4 an f32 angle's own rounding (formed alike by both) dominates.
        errors.add("Rope large positions", both.check(&format!("{name} large positions"), &b, 1e-5));
    }
    errors.print("rope");
}

#[test]
fn rows_pooling_and_positions_match_the_cpu() {
    let mut errors = Errors::default();
    let width = 37;
    // SelectRows, then ops on the selected rows (the kernels' `selected` paths).
    let mut fb = FileBuilder::default();
    table(&mut fb, "a", width, VOCAB, 1.0, 0.0, 7);
    let nodes = vec![Op::Embed(0), Op::SelectRows(0), Op::RmsNorm(1, 1e-6, 0), Op::Scale(2, 3.0), Op::Add(3, 1)];
    let mut both = Both::new(fb, nodes, 4, None, no_kv(), MAX_ROWS);
    for picks in [vec![0u32], vec![4, 0, 2], (0..MAX_ROWS).rev().collect()] {
        let mut b = rows_batch(MAX_ROWS as usize, VOCAB);
        b.bias = vec![Vec::new(); picks.len()];
        b.logit_rows = picks;
        errors.add("SelectRows + ops", both.check("SelectRows", &b, 1e-6));
    }

    // Pooling: three sequences interleaved in one batch, one logit row per sequence.
    let seqs = [0u32, 1, 0, 2, 1, 0, 2, 0, 5];
    for how in [Pooling::Mean, Pooling::Cls, Pooling::Last] {
        let mut fb = FileBuilder::default();
        table(&mut fb, "a", width, VOCAB, 1.0, 0.5, 8);
        let mut both = Both::new(fb, vec![Op::Embed(0), Op::Pool(0, how)], 1, None, no_kv(), MAX_ROWS);
        let mut b = rows_batch(seqs.len(), VOCAB);
        b.seqs = seqs.to_vec();
        let mut next = [0i32; 64];
        b.positions = seqs.iter().map(|&s| (next[s as usize], next[s as usize] += 1).0).collect();
        b.cell_seqs = seqs.iter().map(|&s| 1u64 << s).collect();
        b.cell_pos = b.positions.clone();
        b.logit_rows = vec![5, 1, 6, 8];
        b.bias = vec![Vec::new(); 4];
        // Mean: f32 sums against the CPU's f64; first and last rows are copies.
        let budget = if how == Pooling::Mean { 1e-6 } else { EXACT };
        errors.add(&format!("Pool {how:?}"), both.check(&format!("Pool {how:?}"), &b, budget));
        let mut one = rows_batch(1, VOCAB);
        one.seqs = vec![3];
        one.cell_seqs = vec![1 << 3];
        errors.add(&format!("Pool {how:?}"), both.check(&format!("Pool {how:?} one row"), &one, budget));
    }

    // Absolute position embeddings, and the same added to token embeddings (BERT's input).
    let mut fb = FileBuilder::default();
    table(&mut fb, "pos", width, 40, 1.0, 0.0, 9);
    table(&mut fb, "tok", width, VOCAB, 1.0, 0.0, 10);
    let nodes = vec![Op::EmbedPositions(0), Op::Embed(1), Op::Add(1, 0)];
    let mut both = Both::new(fb, nodes, 2, None, no_kv(), MAX_ROWS);
    let mut b = rows_batch(5, VOCAB);
    b.positions = vec![3, 0, 39, 17, 38];
    errors.add("EmbedPositions", both.check("EmbedPositions", &b, EXACT));
    errors.print("rows");
}

/// A batch row for `Cells::batch`: (sequence, position, cell).
type Row = (u32, i32, u32);
/// Cell copies (src, dst) before a batch.
type Copies = Vec<(u32, u32)>;

/// The batch's view of the KV cache, kept as the guest's scheduler keeps it.
#[derive(Default, Clone)]
struct Cells {
    pos: Vec<i32>,
    seqs: Vec<u64>,
}

impl Cells {
    fn set(&mut self, cell: u32, pos: i32, seqs: u64) {
        let c = cell as usize;
        if self.pos.len() <= c {
            self.pos.resize(c + 1, -1);
            self.seqs.resize(c + 1, 0);
        }
        self.pos[c] = pos;
        self.seqs[c] = seqs;
    }

    /// A batch of rows (seq, pos, cell), written into the table first (a batch's own cells are
    /// in its table), every row a logit row coming back whole.
    fn batch(&mut self, rows: &[Row], copies: Vec<(u32, u32)>, vocab: usize) -> Batch {
        for &(s, p, c) in rows {
            self.set(c, p, 1 << s);
        }
        let n = rows.len();
        Batch {
            tokens: rows.iter().map(|&(s, p, _)| ((s as usize * 13 + p as usize * 7 + 1) % vocab) as u32).collect(),
            positions: rows.iter().map(|r| r.1).collect(),
            seqs: rows.iter().map(|r| r.0).collect(),
            write_cells: rows.iter().map(|r| r.2).collect(),
            cell_pos: self.pos.clone(),
            cell_seqs: self.seqs.clone(),
            copies,
            // The GPU takes at most 64 logit rows: a long prefill compares its last 64.
            logit_rows: (n.saturating_sub(64) as u32..n as u32).collect(),
            bias: vec![Vec::new(); n.min(64)],
            top_k: 0,
            hidden_rows: Vec::new(),
        }
    }
}

/// An attention plan: q, k, v from three embedding tables.
fn attention_plan(a: Attention, encoder: bool, qk_scale: f32, cells: u32, max_rows: u32) -> Both {
    let (qw, kw) = ((a.n_head * a.head_dim) as usize, (a.n_kv_head * a.head_dim) as usize);
    let vocab = 64;
    let mut fb = FileBuilder::default();
    table(&mut fb, "q", qw, vocab, qk_scale, 0.0, 11);
    table(&mut fb, "k", kw, vocab, qk_scale, 0.0, 12);
    table(&mut fb, "v", kw, vocab, 1.0, 0.0, 13);
    let att = Attention { q: 0, k: 1, v: 2, ..a };
    let op = if encoder { Op::EncoderAttention(att) } else { Op::Attention(att) };
    Both::new(fb, vec![Op::Embed(0), Op::Embed(1), Op::Embed(2), op], 3, None, KvSpec { cells, widths: vec![kw as u32] }, max_rows)
}

// The CPU rounds the probabilities to f16 before the V sum (ggml's f16 V matmul); the GPU's
// online softmax keeps them in f32: each output is a weighted mean of V with weights off by up
// to 2^-11 relative (4.1e-4 on the worst row measured). Both round q, K and V to f16 alike.
const ATTENTION_BUDGET: f32 = 1e-3;

#[test]
fn attention_matches_the_cpu_over_a_session_of_batches() {
    let mut errors = Errors::default();
    let att = |n_head, n_kv_head, head_dim, scale, softcap, window| Attention {
        q: 0,
        k: 0,
        v: 0,
        layer: 0,
        n_head,
        n_kv_head,
        head_dim,
        scale,
        softcap,
        window,
    };
    // (name, attention, q/k scale)
    let cases = [
        ("GQA 4/2 x 8", att(4, 2, 8, 8f32.powf(-0.5), 0.0, 0), 2.0),
        ("MHA 2 x 6, window 3", att(2, 2, 6, 6f32.powf(-0.5), 0.0, 3), 2.0),
        ("MQA 2/1 x 80, softcap 5", att(2, 1, 80, 1.0, 5.0, 0), 1.5),
        ("GQA 3/1 x 4, window 5, softcap 2", att(3, 1, 4, 1.0, 2.0, 5), 3.0),
        ("MHA 1 x 512, the kernel's widest head", att(1, 1, 512, 512f32.powf(-0.5), 0.0, 0), 1.0),
    ];
    for (name, a, qk) in cases {
        let mut both = attention_plan(a, false, qk, 100, 72);
        let mut cells = Cells::default();
        let mut step = |both: &mut Both, cells: &mut Cells, what: &str, rows: &[Row], copies: Vec<(u32, u32)>| {
            let b = cells.batch(rows, copies, 64);
            let (c, g) = both.run(&b);
            let e = each_row_matches(&format!("{name}: {what}"), &c, &g, ATTENTION_BUDGET);
            errors.add("Attention (worst row)", e);
        };
        // A 70-row prefill: more cells than one 64-cell block of the online softmax.
        let prefill: Vec<Row> = (0..70).map(|p| (0, p, p as u32)).collect();
        step(&mut both, &mut cells, "prefill", &prefill, Vec::new());
        step(&mut both, &mut cells, "decode", &[(0, 70, 70)], Vec::new());
        // Two new sequences (one above 31: the high word of the cell's sequence set), their
        // rows and cells interleaved, beside sequence 0's cells.
        let two: Vec<Row> = (0..8).map(|i| (if i % 2 == 0 { 1 } else { 40 }, i / 2, 71 + i as u32)).collect();
        step(&mut both, &mut cells, "two sequences interleaved", &two, Vec::new());
        // Prefix sharing by copy: sequence 2 starts from sequence 0's first four cells, copied
        // before the pass; in the same batch both earlier sequences decode.
        for c in 0..4u32 {
            cells.set(80 + c, c as i32, 1 << 2);
        }
        let rows = [(2, 4, 84), (1, 4, 85), (2, 5, 86), (40, 4, 87), (2, 6, 88)];
        step(&mut both, &mut cells, "copied prefix and decodes", &rows, (0..4).map(|c| (c, 80 + c)).collect());
        // Prefix sharing by cell sets: sequence 3 also sees sequence 1's cells.
        for (i, c) in [71u32, 73, 75, 77, 85].into_iter().enumerate() {
            cells.set(c, i as i32, (1 << 1) | (1 << 3));
        }
        step(&mut both, &mut cells, "shared cells", &[(3, 5, 89), (3, 6, 90), (1, 5, 91)], Vec::new());
        // Sequence 40 ends; its cells go to sequence 0's next tokens, below its older cells.
        for c in [72u32, 74, 76, 78, 87] {
            cells.set(c, -1, 0);
        }
        step(&mut both, &mut cells, "reused cells", &[(0, 71, 72), (0, 72, 74)], Vec::new());
        step(&mut both, &mut cells, "decode after reuse", &[(0, 73, 76)], Vec::new());
    }
    errors.print("attention");
}

#[test]
fn encoder_attention_matches_the_cpu() {
    let mut errors = Errors::default();
    let a = Attention { q: 0, k: 0, v: 0, layer: 0, n_head: 4, n_kv_head: 4, head_dim: 6, scale: 0.4, softcap: 0.0, window: 0 };
    let mut both = attention_plan(a, true, 2.0, 32, 16);
    // Two whole sequences interleaved, then one whose cells reuse the first batch's.
    let mut cells = Cells::default();
    let mut next = [0i32; 2];
    let rows0: Vec<Row> = (0..11u32)
        .map(|i| {
            let s = (i % 3 == 2) as usize;
            next[s] += 1;
            (s as u32, next[s] - 1, i)
        })
        .collect();
    let b = cells.batch(&rows0, Vec::new(), 64);
    let (c, g) = both.run(&b);
    errors.add("EncoderAttention (worst row)", each_row_matches("encoder: two sequences", &c, &g, ATTENTION_BUDGET));
    let mut cells = Cells::default();
    let b = cells.batch(&[(7, 0, 3), (7, 1, 0), (7, 2, 9), (7, 3, 1)], Vec::new(), 64);
    let (c, g) = both.run(&b);
    errors.add("EncoderAttention (worst row)", each_row_matches("encoder: reused cells", &c, &g, ATTENTION_BUDGET));
    errors.print("encoder attention");
}

/// Candidates must match exactly: the same ids in the same order, the same logits (NaN
/// matching NaN).
fn candidates_match(what: &str, c: &[Candidates], g: &[Candidates]) {
    assert_eq!(c.len(), g.len(), "{what}: logit rows");
    for (r, (c, g)) in c.iter().zip(g).enumerate() {
        assert_eq!(c.ids, g.ids, "{what}: row {r} ids");
        let same = c.logits.iter().zip(&g.logits).all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        assert!(same && c.logits.len() == g.logits.len(), "{what}: row {r} logits\ncpu {:?}\ngpu {:?}", c.logits, g.logits);
    }
}

/// Logit rows made to stress the selection: ties, -inf, NaN, signed zeros.
fn crafted_rows(vocab: usize) -> Vec<Vec<f32>> {
    let r = |seed| rand_vec(vocab, seed);
    let mut rows = vec![r(20)];
    // Five levels: long runs of ties across the k boundary.
    rows.push(r(21).iter().map(|v| (v * 2.5).round()).collect());
    // Bans and NaN among random logits.
    rows.push(r(22).iter().enumerate().map(|(i, &v)| if i % 7 == 0 { f32::NEG_INFINITY } else if i % 11 == 0 { f32::NAN } else { v }).collect());
    rows.push(vec![0.5; vocab]);
    // A few positives, then zeros of both signs, then negatives.
    rows.push((0..vocab).map(|i| if i % 97 == 5 { 1.0 + i as f32 } else if i % 3 == 0 { -0.0 } else if i % 3 == 1 { 0.0 } else { -(i as f32) }).collect());
    // Almost everything banned or NaN.
    rows.push((0..vocab).map(|i| if i % 50 == 3 { i as f32 * 0.01 } else if i % 2 == 0 { f32::NAN } else { f32::NEG_INFINITY }).collect());
    rows.push(vec![f32::NAN; vocab]);
    rows.push(r(23).iter().map(|v| v * 3e4).collect());
    rows
}

/// Bias lists: penalties on both signs, adds, bans, a token repeated, tokens outside the
/// vocabulary.
fn crafted_bias(row: usize, vocab: u32) -> Vec<Bias> {
    match row % 4 {
        0 => Vec::new(),
        1 => vec![
            (3, 1.3, 0.0),
            (10, 1.3, -0.5),
            (3, 1.3, 0.2),
            (17, 1.0, f32::NEG_INFINITY),
            (vocab - 1, 0.5, 1.0),
            (vocab, 2.0, 1.0),
            (vocab + 4000, 1.0, 1.0),
        ],
        // Penalties of many significands: the GPU's division must round as the CPU's.
        2 => (0..vocab).step_by(3).map(|t| (t, 1.0 + 0.037 * (t % 17) as f32, -0.01 * (t % 5) as f32)).collect(),
        _ => (0..40).map(|t| (t * 7 % vocab, 1.0, f32::NEG_INFINITY)).chain([(1, 0.0, 0.0), (2, 1.0, f32::INFINITY)]).collect(),
    }
}

#[test]
fn bias_and_top_k_match_the_cpu_exactly() {
    for vocab in [1000usize, 3] {
        let rows = crafted_rows(vocab);
        let flat: Vec<f32> = rows.concat();
        for select in [true, false] {
            let mut fb = FileBuilder::default();
            fb.f32("logits", &[vocab as u64, rows.len() as u64], &flat);
            // With SelectRows the logits are logit rows; without, the logit rows index them.
            let (nodes, logits) = if select { (vec![Op::Embed(0), Op::SelectRows(0)], 1) } else { (vec![Op::Embed(0)], 0) };
            let mut both = Both::new(fb, nodes, logits, None, no_kv(), 2 * rows.len() as u32);
            for k in [1u32, 2, 40, vocab as u32, 5000] {
                let n = rows.len();
                let mut b = common::batch((0..n as u32).collect(), k);
                // Every row twice in reverse order: logit rows need not be the batch's order.
                b.logit_rows = (0..n as u32).rev().chain(0..n as u32).collect();
                b.bias = (0..2 * n).map(|r| crafted_bias(r, vocab as u32)).collect();
                let (c, g) = both.run(&b);
                candidates_match(&format!("vocab {vocab} select {select} k {k}"), &c, &g);
            }
        }
    }
}

#[test]
fn hidden_rows_come_back_whole() {
    let (width, vocab) = (50usize, 30usize);
    for hidden in [1u32, 2] {
        let mut fb = FileBuilder::default();
        table(&mut fb, "a", width, VOCAB, 1.0, 0.0, 30);
        table(&mut fb, "out", width, vocab, 1.0, 0.0, 31);
        // Hidden: the normed rows (all rows) or the selected ones; logits through a matmul.
        let nodes = vec![Op::Embed(0), Op::RmsNorm(0, 1e-6, 0), Op::SelectRows(1), Op::Matmul(2, 1)];
        let mut both = Both::new(fb, nodes, 3, Some(hidden), no_kv(), MAX_ROWS);
        for (k, hidden_rows) in [(3u32, vec![1u32]), (3, vec![0, 1, 2]), (0, vec![2]), (vocab as u32, vec![0, 2])] {
            let mut b = rows_batch(5, VOCAB);
            b.logit_rows = vec![1, 3, 4];
            b.bias = vec![vec![(2, 1.5, 0.1)]; 3];
            b.top_k = k;
            b.hidden_rows = hidden_rows.clone();
            let (c, g) = both.run(&b);
            let what = format!("hidden node {hidden} k {k} hidden rows {hidden_rows:?}");
            for (r, (c, g)) in c.iter().zip(&g).enumerate() {
                let is_hidden = hidden_rows.contains(&(r as u32));
                let want = if is_hidden { width } else if k == 0 { vocab } else { k as usize };
                assert_eq!(g.logits.len(), want, "{what}: row {r}");
                assert_eq!(c.ids.len(), g.ids.len(), "{what}: row {r}");
                if is_hidden || k == 0 {
                    rows_match(&what, std::slice::from_ref(c), std::slice::from_ref(g), 1e-6);
                } else {
                    // A matmul's sums differ in order: the ranking may not, on these values.
                    assert_eq!(c.ids, g.ids, "{what}: row {r}");
                    assert!(rel_err(&g.logits, &c.logits) < 1e-5, "{what}: row {r}");
                }
            }
        }
    }
}

/// A weight over the binding limit is uploaded in chunks of rows; embedding rows and matmul
/// columns from every chunk match the CPU.
#[test]
fn weights_over_the_binding_limit_split_by_rows() {
    let limit = 16u64 << 20;
    let small = GpuExecutor::new(Choice::Any, LimitOverride { max_binding: Some(limit) }).expect("a GPU adapter");
    assert_eq!(small.device().max_binding(), limit, "the adapter binds 16 MiB or more");
    let (k, n) = (4096usize, 1100usize); // 18 MiB of F32: two chunks of 1024 and 76 rows
    let mut fb = FileBuilder::default();
    let w: Vec<f32> = rand_vec(k * n, 40).iter().map(|v| v * 0.05).collect();
    fb.f32("tied", &[k as u64, n as u64], &w);
    let nodes = vec![Op::Embed(0), Op::RmsNorm(0, 1e-6, 0), Op::SelectRows(1), Op::Matmul(2, 0)];
    let mut both = Both::on(&small, fb, nodes.clone(), 3, Some(0), no_kv(), 16);
    // Tokens on both sides of the chunk boundary.
    let tokens = vec![5u32, 1023, 1024, 1099, 0, 700, 1050, 1025, 12, 1000];
    for rows in [2usize, tokens.len()] {
        // Few rows take the vector matmul, more the tiled one.
        let mut b = common::batch(tokens[..rows].to_vec(), n as u32);
        b.hidden_rows = vec![0, 1];
        let (c, g) = both.run(&b);
        rows_match("split embedding", &c[..2], &g[..2], EXACT);
        let full = |x: &[Candidates]| common::full_rows(&x[2..], n);
        let (cf, gf) = (full(&c), full(&g));
        for (r, (c, g)) in cf.iter().zip(&gf).enumerate() {
            let e = rel_err(g, c);
            // 4096-long f32 dot products summed in another order.
            assert!(e < 1e-5, "split matmul, {rows} rows: row {r} relative error {e}");
        }
    }
}

/// What does not fit the binding limit is an error at compile that names it.
#[test]
fn plans_over_the_binding_limit_fail_at_compile_naming_what() {
    let limit = 1u64 << 20;
    let small = GpuExecutor::new(Choice::Any, LimitOverride { max_binding: Some(limit) }).expect("a GPU adapter");
    let compile = |fb: FileBuilder, nodes: Vec<Op>, kv: KvSpec, max_rows: u32| -> GpuError {
        let (map, weights) = fb.finish();
        match small.compile(&&map[..], spec(weights, nodes, 0, kv, max_rows)) {
            Ok(_) => panic!("a plan over the limit compiled"),
            Err(e) => e,
        }
    };
    // One row of a weight (1.2 MB of F32) cannot be split.
    let mut fb = FileBuilder::default();
    fb.f32("token_embd.weight", &[300_000, 1], &vec![0.5; 300_000]);
    let e = compile(fb, vec![Op::Embed(0)], no_kv(), 1);
    let msg = e.to_string();
    assert!(matches!(e, GpuError::Unsupported(_)), "{e:?}");
    assert!(msg.contains("one row of weight token_embd.weight") && msg.contains("1048576"), "{msg}");

    // A KV layer of 1024 cells of 1024 f16 values (2 MiB).
    let mut fb = FileBuilder::default();
    table(&mut fb, "a", 8, VOCAB, 1.0, 0.0, 50);
    let kv = KvSpec { cells: 1024, widths: vec![8, 1024] };
    let e = compile(fb, vec![Op::Embed(0)], kv, 1);
    let msg = e.to_string();
    assert!(matches!(e, GpuError::Unsupported(_)) && msg.contains("KV layer 1 (1024 cells)") && msg.contains("1048576"), "{msg}");

    // An activation of 512 rows of 1024 (2 MiB).
    let mut fb = FileBuilder::default();
    table(&mut fb, "wide", 1024, VOCAB, 1.0, 0.0, 51);
    let e = compile(fb, vec![Op::Embed(0)], no_kv(), 512);
    let msg = e.to_string();
    assert!(matches!(e, GpuError::Unsupported(_)) && msg.contains("node 0 (Embed(0))") && msg.contains("512 rows"), "{msg}");

    // A vector weight (norm or bias) of 1.2 MB, after a matmul as wide (its rows split).
    let mut fb = FileBuilder::default();
    table(&mut fb, "a", 1, 1, 1.0, 0.0, 52);
    fb.f32("up", &[1, 300_000], &vec![0.5; 300_000]);
    fb.f32("output_norm.weight", &[300_000], &vec![1.0; 300_000]);
    let e = compile(fb, vec![Op::Embed(0), Op::Matmul(0, 1), Op::MulWeight(1, 2)], no_kv(), 1);
    let msg = e.to_string();
    assert!(msg.contains("vector weight output_norm.weight") && msg.contains("1048576"), "{msg}");
}

/// A step whose candidates or readback exceed the binding limit is an error, and the plan
/// still runs the steps that fit.
#[test]
fn steps_over_the_binding_limit_fail_and_the_plan_runs_on() {
    let limit = 1u64 << 20;
    let small = GpuExecutor::new(Choice::Any, LimitOverride { max_binding: Some(limit) }).expect("a GPU adapter");
    // One logit row of 200000 logits (800 kB): all of them as candidates take 1.6 MB.
    let vocab = 200_000usize;
    let mut fb = FileBuilder::default();
    table(&mut fb, "logits", vocab, 2, 1.0, 0.0, 53);
    let (map, weights) = fb.finish();
    let mut plan = small.compile(&&map[..], spec(weights, vec![Op::Embed(0), Op::SelectRows(0)], 1, no_kv(), 1)).expect("the plan fits");
    let e = plan.run(&common::batch(vec![1], vocab as u32)).expect_err("the candidates do not fit");
    assert!(matches!(e, GpuError::Unsupported(_)) && e.to_string().contains("ask for fewer candidates"), "{e}");
    let whole = plan.run(&common::batch(vec![1], 0)).expect("a whole row fits");
    assert_eq!(whole[0].logits.len(), vocab);
    let top = plan.run(&common::batch(vec![1], 40)).expect("40 candidates fit");
    let best = whole[0].logits.iter().fold(f32::MIN, |m, &v| m.max(v));
    assert_eq!(top[0].logits[0], best);
}

/// Every kernel, for every weight type it takes, builds into a pipeline on this adapter; a
/// kernel the adapter rejects is an error, not a panic.
#[test]
fn every_kernel_builds_on_the_adapter() {
    let gpu = gpu();
    for kernel in Kernel::ALL {
        if kernel.typed() {
            for ty in SUPPORTED {
                let layout = Layout::of(ty).expect("supported");
                // Integer block dot products are for the quantized types only.
                let integer = matches!(kernel, Kernel::MatmulVecQ | Kernel::MatmulTiledQ);
                if integer && layout.block == 1 {
                    continue;
                }
                gpu.check_kernel(kernel, Some(&layout)).unwrap_or_else(|e| panic!("{kernel:?} for {}: {e}", layout.ty.name));
            }
        } else {
            gpu.check_kernel(kernel, None).unwrap_or_else(|e| panic!("{kernel:?}: {e}"));
        }
    }
    let bad = "@compute @workgroup_size(64) fn main() { let x: u32 = 1.5; }";
    match gpu.check_wgsl("broken", bad) {
        Err(GpuError::Unsupported(m)) => assert!(m.contains("broken"), "{m}"),
        other => panic!("a broken kernel gave {other:?}"),
    }
    // A shader that parses but whose pipeline fails validation (too many invocations).
    let bad = "@compute @workgroup_size(1024, 1024) fn main() {}";
    assert!(matches!(gpu.check_wgsl("too wide", bad), Err(GpuError::Unsupported(_))));
}

/// Dispatches past the adapter's workgroups per dimension fold into two dimensions; every
/// kernel's index must unfold them (lavapipe allows 65535).
#[test]
fn dispatches_over_the_workgroup_limit_fold() {
    let (width, rows) = (66_000usize, 64usize);
    let mut fb = FileBuilder::default();
    table(&mut fb, "a", width, 4, 1.0, 0.0, 60);
    // Scale: 66000 workgroups of 64 threads; the grouped norm: 64 * 66000 / 16 workgroups of
    // one group each; then rows, selected.
    let nodes = vec![Op::Embed(0), Op::Scale(0, 0.5), Op::RmsNorm(1, 1e-6, 16), Op::SelectRows(2), Op::Softcap(3, 1.0)];
    let mut both = Both::new(fb, nodes, 4, None, no_kv(), rows as u32);
    let mut b = rows_batch(rows, 4);
    b.logit_rows = (0..rows as u32).rev().collect();
    b.bias = vec![Vec::new(); rows];
    let e = both.check("folded dispatches", &b, 1e-6);
    eprintln!("folded dispatches: relative error {e:.2e}");
}

/// Two KV layers of different widths in one plan: each attention reads and writes its own
/// layer, and a cell copy moves the cell in every layer.
#[test]
fn two_kv_layers_keep_apart_and_copy_together() {
    let (nh, hd) = (4u32, 8u32);
    let vocab = 64;
    let mut fb = FileBuilder::default();
    table(&mut fb, "q", (nh * hd) as usize, vocab, 2.0, 0.0, 70);
    table(&mut fb, "k0", (2 * hd) as usize, vocab, 2.0, 0.0, 71);
    table(&mut fb, "v0", (2 * hd) as usize, vocab, 1.0, 0.0, 72);
    table(&mut fb, "k1", (4 * hd) as usize, vocab, 2.0, 0.0, 73);
    table(&mut fb, "v1", (4 * hd) as usize, vocab, 1.0, 0.0, 74);
    let att = |q, k, v, layer, n_kv_head| Attention { q, k, v, layer, n_head: nh, n_kv_head, head_dim: hd, scale: 0.35, softcap: 0.0, window: 0 };
    let nodes = vec![
        Op::Embed(0),
        Op::Embed(1),
        Op::Embed(2),
        Op::Embed(3),
        Op::Embed(4),
        Op::Attention(att(0, 1, 2, 0, 2)),
        Op::Attention(att(5, 3, 4, 1, 4)),
    ];
    let kv = KvSpec { cells: 40, widths: vec![2 * hd, 4 * hd] };
    let mut both = Both::new(fb, nodes, 6, None, kv, 16);
    let mut cells = Cells::default();
    let mut worst = 0f32;
    let prefill: Vec<Row> = (0..10).map(|p| (0, p, p as u32)).collect();
    for c in 0..6u32 {
        cells.set(20 + c, c as i32, 1 << 1);
    }
    let steps: Vec<(Vec<Row>, Copies)> = vec![
        (prefill, Vec::new()),
        (vec![(0, 10, 10)], Vec::new()),
        // Sequence 1 forks sequence 0's first six cells, in both layers.
        (vec![(1, 6, 26), (0, 11, 11), (1, 7, 27)], (0..6).map(|c| (c, 20 + c)).collect()),
    ];
    for (i, (rows, copies)) in steps.into_iter().enumerate() {
        let b = cells.batch(&rows, copies, vocab);
        let (c, g) = both.run(&b);
        worst = worst.max(each_row_matches(&format!("two layers, step {i}"), &c, &g, ATTENTION_BUDGET));
    }
    eprintln!("two KV layers: worst row relative error {worst:.2e}");
}

/// What the attention kernel cannot hold fails at compile, saying so.
#[test]
fn attention_shapes_the_gpu_cannot_run_fail_at_compile() {
    let compile = |hd: u32, n_kv: u32| -> String {
        let mut fb = FileBuilder::default();
        table(&mut fb, "q", hd as usize, 4, 1.0, 0.0, 80);
        table(&mut fb, "k", (n_kv * hd) as usize, 4, 1.0, 0.0, 81);
        let a = Attention { q: 0, k: 1, v: 1, layer: 0, n_head: n_kv.max(1), n_kv_head: n_kv, head_dim: hd, scale: 1.0, softcap: 0.0, window: 0 };
        let (map, weights) = fb.finish();
        let kv = KvSpec { cells: 8, widths: vec![n_kv * hd] };
        match gpu().compile(&&map[..], spec(weights, vec![Op::Embed(0), Op::Embed(1), Op::Attention(a)], 2, kv, 4)) {
            Ok(_) => panic!("head_dim {hd} compiled"),
            Err(e) => e.to_string(),
        }
    };
    let msg = compile(520, 1);
    assert!(msg.contains("heads of 520 exceed the GPU kernel's 512"), "{msg}");
    let msg = compile(5, 1);
    assert!(msg.contains("KV layer 0 is 5 wide"), "{msg}");
}

/// The KV cache holds f16 rounded to nearest even, as the CPU's: with one visible cell a row's
/// attention is that cell's V exactly, so ties, subnormals and the largest finite f16 must
/// come back bit for bit (lavapipe's pack2x16float rounds to nearest even too; the kernels
/// round by hand so no driver's choice matters).
#[test]
fn kv_cache_rounds_to_f16_as_the_cpu() {
    let hd = 8usize;
    let ulp = |e: i32| 2f32.powi(e);
    let rows: Vec<[f32; 8]> = vec![
        // Ties between f16 neighbours (1 + 2^-11: to even 1; 1 + 3·2^-11: up), and the same negated.
        [1.0 + ulp(-11), 1.0 + 3.0 * ulp(-11), -(1.0 + ulp(-11)), -(1.0 + 3.0 * ulp(-11)), 0.0, -0.0, 1.0, -1.0],
        // Just either side of a tie.
        [1.0 + ulp(-11) + ulp(-23), 1.0 + ulp(-11) - ulp(-23), 2048.0 + 1.0, 2048.0 + 3.0, 0.1, -0.3, 3.3, 1e4],
        // Subnormal f16: the smallest (2^-24), a tie below it, values between.
        [ulp(-24), ulp(-25), 3.0 * ulp(-25), 1e-6, -1e-7, 5e-5, 6.1e-5, ulp(-14) - ulp(-26)],
        // The largest finite f16, values that round to it, and overflow (infinity: WGSL's
        // pack2x16float leaves it indeterminate).
        [65504.0, 65519.0, -65519.0, 65520.0, 70000.0, -1e9, -0.000123, 7.0e-8],
    ];
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    let n = rows.len();
    let mut fb = FileBuilder::default();
    table(&mut fb, "q", hd, n, 1.0, 0.0, 90);
    table(&mut fb, "k", hd, n, 1.0, 0.0, 91);
    fb.f32("v", &[hd as u64, n as u64], &flat);
    let a = Attention { q: 0, k: 1, v: 2, layer: 0, n_head: 1, n_kv_head: 1, head_dim: hd as u32, scale: 1.0, softcap: 0.0, window: 0 };
    let nodes = vec![Op::Embed(0), Op::Embed(1), Op::Embed(2), Op::Attention(a)];
    let mut both = Both::new(fb, nodes, 3, None, KvSpec { cells: 8, widths: vec![hd as u32] }, 8);
    // Each row its own sequence and cell.
    let mut cells = Cells::default();
    let mut b = cells.batch(&(0..n as u32).map(|r| (r, 0, r)).collect::<Vec<Row>>(), Vec::new(), n);
    b.tokens = (0..n as u32).collect();
    let (c, g) = both.run(&b);
    for (r, (c, g)) in c.iter().zip(&g).enumerate() {
        let want: Vec<f32> = rows[r].iter().map(|&v| half::f16::from_f32(v).to_f32()).collect();
        assert_eq!(c.logits, want, "the CPU's cache rounds row {r} to nearest even");
        let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&g.logits), bits(&c.logits), "row {r}: gpu {:?} cpu {:?}", g.logits, c.logits);
    }
}
