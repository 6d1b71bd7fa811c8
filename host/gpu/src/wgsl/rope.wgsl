// Rotary position embedding, normal (pairs 2i, 2i+1) or NeoX (pairs i, i + n_rot/2), over the
// leading n_rot dimensions of each head; the rest are copied. One thread per value. The angle
// is formed as ggml's rope cache forms it (and the CPU executor): pos · theta_scale^pair by
// repeated f32 multiplication, theta_scale = base^(-2/n_rot) computed on the host, then
// · freq_scale; so both executors take the cosine of the same f32. Positions below `tpos`
// read that cosine and sine from the CPU's own values (`rope_table`, built on the host: the
// GPU's sin and cos are a few ulp off libm's); each output is one FMA, as the CPU's.
struct Rp {
    width: u32,
    head_dim: u32,
    n_rot: u32,
    neox: u32,
    freq_base: f32,
    freq_scale: f32,
    theta_scale: f32,
    tpos: u32, // positions in T
}

@group(0) @binding(0) var<uniform> S: Step;
@group(0) @binding(1) var<uniform> P: Rp;
@group(0) @binding(2) var<storage, read> B: array<u32>;
@group(0) @binding(3) var<storage, read> X: array<f32>;
@group(0) @binding(5) var<storage, read> T: array<f32>; // [tpos][n_rot / 2] (cos, sin)
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
    let pos = bitcast<i32>(B[S.off_pos + r]);
    var c: f32;
    var s: f32;
    if pos >= 0 && u32(pos) < P.tpos {
        let at = (u32(pos) * half + pair) * 2u;
        c = T[at];
        s = T[at + 1u];
    } else {
        var theta = f32(pos);
        for (var j = 0u; j < pair; j++) {
            theta *= P.theta_scale;
        }
        theta = P.freq_scale * theta;
        // GPUs promise sin/cos accuracy on [-pi, pi] only: subtract k·2π in four parts whose
        // products with k are exact (Cody-Waite), so a large angle keeps its low bits.
        let k = round(theta * 0.15915494);
        theta = ((((theta - k * 6.25) - k * 0.03271484375) - k * 0.000469207763671875) - k * 1.2556659e-6);
        c = cos(theta);
        s = sin(theta);
    }
    if first {
        Y[i] = fma_f32(X[i], c, -(X[other] * s));
    } else {
        Y[i] = fma_f32(X[other], s, X[i] * c);
    }
}
