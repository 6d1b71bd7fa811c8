// y = x · Wᵀ for a few rows (decode: one row per sequence): one workgroup per output column
// of this weight chunk, its 64 threads striding over the row four weights at a time, every
// batch row accumulated from the same weight read.
struct Mm {
    k: u32,          // input width
    n: u32,          // output columns in this chunk
    n0: u32,         // the chunk's first output column
    ldo: u32,        // output row stride (all columns)
    row_words: u32,  // u32 words per weight row
    g4: u32,         // groups of four weights per (padded) row
    selected: u32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> S: Step;
@group(0) @binding(1) var<uniform> P: Mm;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> X: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

const WG: u32 = 64u;
const MAXR: u32 = 8u;
var<workgroup> red: array<f32, 512>;

fn x4(r: u32, g: u32) -> vec4<f32> {
    let i = r * P.k + 4u * g;
    if 4u * g + 3u < P.k {
        return vec4<f32>(X[i], X[i + 1u], X[i + 2u], X[i + 3u]);
    }
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        if 4u * g + j < P.k {
            v[j] = X[i + j];
        }
    }
    return v;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let col = linear_wg(wid, nwg);
    let rows = min(rows_of(S, P.selected), MAXR);
    var acc: array<f32, 8>;
    if col < P.n {
        let rb = col * P.row_words;
        for (var g = t; g < P.g4; g += WG) {
            let w = DQ4(rb, g);
            for (var r = 0u; r < rows; r++) {
                acc[r] += dot(w, x4(r, g));
            }
        }
    }
    for (var r = 0u; r < rows; r++) {
        red[r * WG + t] = acc[r];
    }
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if t < s {
            for (var r = 0u; r < rows; r++) {
                red[r * WG + t] += red[r * WG + t + s];
            }
        }
        workgroupBarrier();
    }
    if t == 0u && col < P.n {
        for (var r = 0u; r < rows; r++) {
            Y[r * P.ldo + P.n0 + col] = red[r * WG];
        }
    }
}
