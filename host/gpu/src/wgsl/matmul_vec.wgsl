// y = x · Wᵀ for a few rows (decode: one row per sequence): one workgroup per output column
// of this weight chunk, its 64 threads striding over the row four weights at a time, every
// batch row accumulated from the same weight read.
@group(0) @binding(3) var<storage, read> X: array<f32>;

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
        for (var g = t; g < P.g; g += WG) {
            let w = DQ4(rb, g);
            for (var r = 0u; r < rows; r++) {
                acc[r] += dot(w, x4(r, g));
            }
        }
    }
    reduce_store(t, WG, rows, col, acc);
}
