// The vector matmuls' end: each thread's partial sums of up to MAXR rows summed over its
// column's `tpc` threads (a power of two dividing WG, the whole workgroup or a part), the
// column's value of each row written by its first thread.
const WG: u32 = 64u;
const MAXR: u32 = 8u;
var<workgroup> red: array<f32, 512>;

fn reduce_store(t: u32, tpc: u32, rows: u32, col: u32, acc: array<f32, 8>) {
    for (var r = 0u; r < rows; r++) {
        red[r * WG + t] = acc[r];
    }
    workgroupBarrier();
    for (var s = tpc / 2u; s > 0u; s >>= 1u) {
        if t % tpc < s {
            for (var r = 0u; r < rows; r++) {
                red[r * WG + t] += red[r * WG + t + s];
            }
        }
        workgroupBarrier();
    }
    if t % tpc == 0u && col < P.n {
        for (var r = 0u; r < rows; r++) {
            Y[r * P.ldo + P.n0 + col] = red[r * WG + t];
        }
    }
}
