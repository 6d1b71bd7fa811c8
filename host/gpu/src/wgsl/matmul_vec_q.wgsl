// y = x · Wᵀ for a few rows (decode) on quantized activations (wgsl/quantize.wgsl): one
// workgroup per output column of this weight chunk, its 64 threads striding over the row's
// blocks, each block's integer dot product (QDOT, wgsl/qdot.wgsl) scaled as ggml scales it.
@group(0) @binding(3) var<storage, read> XQ: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let col = linear_wg(wid, nwg);
    let rows = min(rows_of(S, P.selected), MAXR);
    var acc: array<f32, 8>;
    if col < P.n {
        let wbw = P.row_words / P.g;
        let xbw = P.xrow / P.g;
        for (var b = t; b < P.g; b += WG) {
            let wb = col * P.row_words + b * wbw;
            for (var r = 0u; r < rows; r++) {
                acc[r] += QDOT(wb, r * P.xrow + b * xbw);
            }
        }
    }
    reduce_store(t, rows, col, acc);
}
