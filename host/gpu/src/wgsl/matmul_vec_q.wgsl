// y = x · Wᵀ for a few rows (decode) on quantized activations (wgsl/quantize.wgsl): each
// output column of this weight chunk gets `tpc` threads (the blocks per row up to a power of
// two, at most the workgroup's 64; `compile::vec_q_columns` sizes the dispatch to match),
// striding over the row's blocks, each block's integer dot product (QDOT1: wgsl/qdot.wgsl's
// one-row copy) scaled as ggml scales it. (The four-row QDOT was slower here on lavapipe:
// decode is one row, and a batch of 2..8 rows re-reads weights from cache.)
@group(0) @binding(3) var<storage, read> XQ: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    var tpc = 1u;
    while tpc < P.g && tpc < WG {
        tpc <<= 1u;
    }
    let col = linear_wg(wid, nwg) * (WG / tpc) + t / tpc;
    let rows = min(rows_of(S, P.selected), MAXR);
    var acc: array<f32, 8>;
    if col < P.n {
        let wbw = P.row_words / P.g;
        let xbw = P.xrow / P.g;
        for (var b = t % tpc; b < P.g; b += tpc) {
            let wb = col * P.row_words + b * wbw;
            for (var r = 0u; r < rows; r++) {
                acc[r] += QDOT1(wb, r * P.xrow + b * xbw, P.xrow);
            }
        }
    }
    reduce_store(t, tpc, rows, col, acc);
}
