// GELU and GeGlu exactly as the CPU executor (ggml-cpu, GGML_GELU_FP16) computes them: 0 below
// -10, identity above 10, and in between a lookup of the f16-rounded input in the CPU's own
// table of f16 results, built on the host (`gelu_table`: two f16 per word, even index low).
// Computing tanh here instead moved results near an f16 tie to the other f16, and one f16 ulp
// in one value flips roundings in the next matmul's quantized activation. One thread per
// value; `op` 3: gelu(x) · X2, 7: gelu(x) (bindings 0-4: ew_bindings.wgsl).
@group(0) @binding(5) var<storage, read> T: array<u32>;

fn gelu_lookup(x: f32) -> f32 {
    if x <= -10.0 {
        return 0.0;
    }
    if x >= 10.0 {
        return x;
    }
    let h = f16_bits(x);
    let v = unpack2x16float(T[h >> 1u]);
    return select(v.x, v.y, (h & 1u) != 0u);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if i >= rows_of(S, P.selected) * P.width {
        return;
    }
    var y = gelu_lookup(X[i]);
    if P.op == 3u {
        y *= X2[i];
    }
    Y[i] = y;
}
