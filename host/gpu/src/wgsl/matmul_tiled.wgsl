// y = x · Wᵀ for many rows (prefill): 64 rows × 64 columns per workgroup, each of its 256
// threads computing a 4×4 block, the weights dequantized once per tile into shared memory.

const T: u32 = 64u;
const KG: u32 = 4u; // groups of four per tile step: 16 weights
var<workgroup> xs: array<vec4<f32>, 256>;
var<workgroup> ws: array<vec4<f32>, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let rows = rows_of(S, P.selected);
    let col0 = wid.x * T;
    let row0 = wid.y * T;
    let tx = t % 16u;
    let ty = t / 16u;
    let lr = t / KG;
    let lg = t % KG;
    var acc: array<vec4<f32>, 4>;
    for (var kg = 0u; kg < P.g; kg += KG) {
        let g = kg + lg;
        var xv = vec4<f32>(0.0);
        if row0 + lr < rows && g < P.g {
            xv = x4(row0 + lr, g);
        }
        xs[lr * KG + lg] = xv;
        var wv = vec4<f32>(0.0);
        if col0 + lr < P.n && g < P.g {
            wv = DQ4((col0 + lr) * P.row_words, g);
        }
        ws[lr * KG + lg] = wv;
        workgroupBarrier();
        for (var gg = 0u; gg < KG; gg++) {
            let w0 = ws[(tx * 4u) * KG + gg];
            let w1 = ws[(tx * 4u + 1u) * KG + gg];
            let w2 = ws[(tx * 4u + 2u) * KG + gg];
            let w3 = ws[(tx * 4u + 3u) * KG + gg];
            for (var i = 0u; i < 4u; i++) {
                let a = xs[(ty * 4u + i) * KG + gg];
                acc[i] += vec4<f32>(dot(a, w0), dot(a, w1), dot(a, w2), dot(a, w3));
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + ty * 4u + i;
        if r < rows {
            for (var j = 0u; j < 4u; j++) {
                let c = col0 + tx * 4u + j;
                if c < P.n {
                    Y[r * P.ldo + P.n0 + c] = acc[i][j];
                }
            }
        }
    }
}
