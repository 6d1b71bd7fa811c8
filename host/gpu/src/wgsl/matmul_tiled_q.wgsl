// y = x · Wᵀ for many rows (prefill) on quantized activations (wgsl/quantize.wgsl): 64 rows ×
// 64 columns per workgroup, each of its 256 threads computing a 4×4 block of outputs block
// by block (QDOT, wgsl/qdot.wgsl: one weight block against four rows); neighbouring threads
// read the same weight and activation blocks, which the cache serves.
@group(0) @binding(3) var<storage, read> XQ: array<u32>;

const T: u32 = 64u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let rows = rows_of(S, P.selected);
    let c0 = wid.x * T + (t % 16u) * 4u;
    let r0 = wid.y * T + (t / 16u) * 4u;
    let wbw = P.row_words / P.g;
    let xbw = P.xrow / P.g;
    let nc = min(P.n - min(c0, P.n), 4u);
    let nr = min(rows - min(r0, rows), 4u);
    var acc: array<vec4<f32>, 4>;
    if GGML_LANES {
        // ggml's order (Q5_0, Q8_0; see matmul_vec_q.wgsl): per output, eight lanes of FMA
        // over the blocks, then hsum_float_8's sum of the lanes.
        var lanes: array<array<vec4<f32>, 4>, 8>; // [lane][row] over the four columns
        for (var b = 0u; b < P.g; b++) {
            for (var j = 0u; j < nc; j++) {
                let wb = (c0 + j) * P.row_words + b * wbw;
                let xb = r0 * P.xrow + b * xbw;
                let sc = QSCALE(wb, xb, P.xrow);
                for (var l = 0u; l < 8u; l++) {
                    let v = QLANE(wb, xb, P.xrow, l);
                    for (var i = 0u; i < 4u; i++) {
                        lanes[l][i][j] = fma_int(sc[i], v[i], lanes[l][i][j]);
                    }
                }
            }
        }
        for (var i = 0u; i < 4u; i++) {
            acc[i] = ((lanes[0][i] + lanes[4][i]) + (lanes[2][i] + lanes[6][i])) + ((lanes[1][i] + lanes[5][i]) + (lanes[3][i] + lanes[7][i]));
        }
    }
    for (var b = 0u; b < P.g && !GGML_LANES; b++) {
        for (var j = 0u; j < nc; j++) {
            let v = QDOT((c0 + j) * P.row_words + b * wbw, r0 * P.xrow + b * xbw, P.xrow);
            for (var i = 0u; i < 4u; i++) {
                acc[i][j] += v[i];
            }
        }
    }
    for (var i = 0u; i < nr; i++) {
        for (var j = 0u; j < nc; j++) {
            Y[(r0 + i) * P.ldo + P.n0 + c0 + j] = acc[i][j];
        }
    }
}

// Stand-ins that types without ggml's lanes never call (GGML_LANES is false for them).
fn no_lane(wb: u32, xb: u32, xs: u32, l: u32) -> vec4<i32> {
    return vec4<i32>(0);
}

fn no_scale(wb: u32, xb: u32, xs: u32) -> vec4<f32> {
    return vec4<f32>(0.0);
}
