// Row selection and pooling: one thread per output value. `how`: 0 select (the logit row's
// own row), 1 mean, 2 first (CLS), 3 last row of the logit row's sequence.
struct Rw {
    width: u32,
    how: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> S: Step;
@group(0) @binding(1) var<uniform> P: Rw;
@group(0) @binding(2) var<storage, read> B: array<u32>;
@group(0) @binding(3) var<storage, read> X: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if i >= S.lrows * P.width {
        return;
    }
    let lr = i / P.width;
    let col = i % P.width;
    let own = B[S.off_lrow + lr];
    if P.how == 0u {
        Y[i] = X[own * P.width + col];
        return;
    }
    let seq = B[S.off_seq + own];
    var sum = 0.0;
    var n = 0u;
    var first = 0xffffffffu;
    var last = 0u;
    for (var r = 0u; r < S.rows; r++) {
        if B[S.off_seq + r] == seq {
            sum += X[r * P.width + col];
            n += 1u;
            first = min(first, r);
            last = r;
        }
    }
    switch P.how {
        case 1u: { Y[i] = sum / f32(n); }
        case 2u: { Y[i] = X[first * P.width + col]; }
        default: { Y[i] = X[last * P.width + col]; }
    }
}
