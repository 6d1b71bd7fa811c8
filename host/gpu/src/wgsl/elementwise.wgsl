// Every element-wise op in one kernel, chosen by `op`: one thread per value. Unary ops bind
// their input twice (the second binding unread).
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

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if i >= rows_of(S, P.selected) * P.width {
        return;
    }
    let x = X[i];
    var y = 0.0;
    switch P.op {
        case 0u: { y = x + X2[i]; }
        case 1u: { y = x * X2[i]; }
        case 2u: { y = silu(x) * X2[i]; }
        case 3u: { y = gelu_ggml(x) * X2[i]; }
        case 4u: { y = x * X2[(i % P.width) % P.wlen]; }
        case 5u: { y = x + X2[(i % P.width) % P.wlen]; }
        case 6u: { y = x * P.f; }
        case 7u: { y = gelu_ggml(x); }
        case 8u: { y = gelu_erf(x); }
        default: { y = tanh(x * P.inv) * P.f; }
    }
    Y[i] = y;
}
