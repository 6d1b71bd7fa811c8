// y = x · Wᵀ for a few rows (decode: one row per sequence): one workgroup per output column
// of this weight chunk, its 64 threads striding over the row four weights at a time, every
// batch row accumulated from the same weight read.

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
