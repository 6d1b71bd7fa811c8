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
    if GGML_LANES {
        tpc = 8u;
    }
    let col = linear_wg(wid, nwg) * (WG / tpc) + t / tpc;
    let rows = min(rows_of(S, P.selected), MAXR);
    var acc: array<f32, 8>;
    if col < P.n && GGML_LANES {
        // ggml's order (Q5_0, Q8_0): thread l of the column's eight is lane l, the integer
        // sum over values 4l..4l+3 of each block, taken into an FMA with the block's scale,
        // block after block; reduce_store's tree then sums the lanes as hsum_float_8 does.
        let wbw = P.row_words / P.g;
        let xbw = P.xrow / P.g;
        let l = t % 8u;
        for (var b = 0u; b < P.g; b++) {
            let wb = col * P.row_words + b * wbw;
            for (var r = 0u; r < rows; r++) {
                let xb = r * P.xrow + b * xbw;
                acc[r] = fma_int(QSCALE1(wb, xb, P.xrow), QLANE1(wb, xb, P.xrow, l), acc[r]);
            }
        }
    } else if col < P.n {
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

// Stand-ins that types without ggml's lanes never call (GGML_LANES is false for them).
fn no_lane(wb: u32, xb: u32, xs: u32, l: u32) -> i32 {
    return 0;
}

fn no_scale(wb: u32, xb: u32, xs: u32) -> f32 {
    return 0.0;
}
