// Rotary position embedding, normal (pairs 2i, 2i+1) or NeoX (pairs i, i + n_rot/2), over the
// leading n_rot dimensions of each head; the rest are copied. One thread per value.
struct Rp {
    width: u32,
    head_dim: u32,
    n_rot: u32,
    neox: u32,
    freq_base: f32,
    freq_scale: f32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> S: Step;
@group(0) @binding(1) var<uniform> P: Rp;
@group(0) @binding(2) var<storage, read> B: array<u32>;
@group(0) @binding(3) var<storage, read> X: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if i >= S.rows * P.width {
        return;
    }
    let r = i / P.width;
    let d = (i % P.width) % P.head_dim;
    if d >= P.n_rot {
        Y[i] = X[i];
        return;
    }
    let half = P.n_rot / 2u;
    var pair = d / 2u;
    var first = d % 2u == 0u;
    var other = i + 1u;
    if P.neox != 0u {
        pair = d % half;
        first = d < half;
        other = select(i - half, i + half, first);
    } else if !first {
        other = i - 1u;
    }
    let pos = f32(bitcast<i32>(B[S.off_pos + r]));
    var theta = P.freq_scale * pos * pow(P.freq_base, -2.0 * f32(pair) / f32(P.n_rot));
    // GPUs promise sin/cos accuracy on [-pi, pi] only.
    theta -= 6.2831853 * round(theta / 6.2831853);
    let c = cos(theta);
    let s = sin(theta);
    if first {
        Y[i] = X[i] * c - X[other] * s;
    } else {
        Y[i] = X[other] * s + X[i] * c;
    }
}
