// RMS norm over groups of a row (group = width for the whole row) and layer norm over rows:
// one workgroup per group, sums in a shared tree.
struct Nm {
    width: u32,
    group: u32,
    eps: f32,
    selected: u32,
    layer: u32, // 1: layer norm (centre, then scale), 0: RMS norm
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> S: Step;
@group(0) @binding(1) var<uniform> P: Nm;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

var<workgroup> red: array<f32, 64>;

fn total(v: f32, t: u32) -> f32 {
    red[t] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if t < s {
            red[t] += red[t + s];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let id = linear_wg(wid, nwg);
    let groups = P.width / P.group;
    if id >= rows_of(S, P.selected) * groups {
        return;
    }
    let base = (id / groups) * P.width + (id % groups) * P.group;
    let n = f32(P.group);
    var mean = 0.0;
    if P.layer != 0u {
        var s = 0.0;
        for (var i = t; i < P.group; i += 64u) {
            s += X[base + i];
        }
        mean = total(s, t) / n;
    }
    var s2 = 0.0;
    for (var i = t; i < P.group; i += 64u) {
        let v = X[base + i] - mean;
        s2 += v * v;
    }
    let scale = 1.0 / sqrt(total(s2, t) / n + P.eps);
    for (var i = t; i < P.group; i += 64u) {
        Y[base + i] = (X[base + i] - mean) * scale;
    }
}
