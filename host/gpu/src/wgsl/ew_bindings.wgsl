// The element-wise kernels' bindings (elementwise.wgsl, gelu.wgsl); unary ops bind their
// input twice (the second binding unread).
struct Ew {
    width: u32,
    op: u32,
    selected: u32,
    wlen: u32, // a broadcast weight's length (it repeats along the row)
    f: f32,    // scale factor or soft cap
    inv: f32,  // 1 / soft cap
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> S: Step;
@group(0) @binding(1) var<uniform> P: Ew;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> X2: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
