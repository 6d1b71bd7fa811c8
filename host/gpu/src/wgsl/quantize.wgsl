// Activation rows quantized to a weight type's dot-product partner, as the CPU executor (and
// ggml) quantizes them before a matmul: one thread per unit of a row.
//   mode 0: Q8_0/Q8_1 (quantize_row_q8_0/q8_1, AVX2 path): one 32-value block per thread,
//           d = amax/127, q = round_even(x·(127/amax)), s = d·Σq; 11 words per block
//           (layout in qdot.wgsl).
//   mode 1: Q8_K (quantize_row_q8_K_ref): one 256-value block per thread, iscale = -127/max
//           of the signed value of largest magnitude, q = min(round_even(iscale·x), 127),
//           d = 1/iscale, bsums of 16; 81 words per block.
//   mode 2, 3: values rounded to f16 / bf16 (nearest even), four per thread, same layout.
// Divisions are correctly rounded (`div_rne` in common.wgsl): WGSL's `/` may be 2.5 ULP off, and a scale one
// ULP off moves a quant across a rounding boundary now and then.
struct Qz {
    k: u32,
    mode: u32,
    selected: u32,
    xrow: u32,   // output words per row
    units: u32,  // threads per row
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> S: Step;
@group(0) @binding(1) var<uniform> P: Qz;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> Q: array<u32>;

fn round_bf16(x: f32) -> f32 {
    let b = bitcast<u32>(x);
    return bitcast<f32>((b + 0x7fffu + ((b >> 16u) & 1u)) & 0xffff0000u);
}

fn quantize_q8(xi: u32, o: u32) {
    var amax = 0.0;
    for (var i = 0u; i < 32u; i++) {
        amax = max(amax, abs(X[xi + i]));
    }
    var d = 0.0;
    var id = 0.0;
    if amax != 0.0 {
        d = div_rne(amax, 127.0);
        id = div_rne(127.0, amax);
    }
    var sum = 0;
    for (var w = 0u; w < 8u; w++) {
        var word = 0u;
        for (var j = 0u; j < 4u; j++) {
            let q = i32(clamp(round(X[xi + 4u * w + j] * id), -128.0, 127.0));
            sum += q;
            word |= (bitcast<u32>(q) & 0xffu) << (8u * j);
        }
        Q[o + w] = word;
    }
    Q[o + 8u] = bitcast<u32>(round_f16(d));
    Q[o + 9u] = bitcast<u32>(round_f16(d * f32(sum)));
    Q[o + 10u] = bitcast<u32>(sum);
}

fn quantize_q8k(xi: u32, o: u32) {
    var amax = 0.0;
    var mx = 0.0;
    for (var i = 0u; i < 256u; i++) {
        let v = X[xi + i];
        if abs(v) > amax {
            amax = abs(v);
            mx = v;
        }
    }
    if amax == 0.0 {
        for (var i = 0u; i < 81u; i++) {
            Q[o + i] = 0u;
        }
        return;
    }
    // iscale = -127/max, d = 1/iscale: signs apart, both correctly rounded.
    let neg = mx > 0.0;
    let mag = div_rne(127.0, amax);
    let iscale = select(mag, -mag, neg);
    let dmag = div_rne(1.0, mag);
    for (var j = 0u; j < 16u; j++) {
        var bsum = 0;
        for (var w = 0u; w < 4u; w++) {
            var word = 0u;
            for (var b = 0u; b < 4u; b++) {
                let q = min(i32(round(iscale * X[xi + 16u * j + 4u * w + b])), 127);
                bsum += q;
                word |= (bitcast<u32>(q) & 0xffu) << (8u * b);
            }
            Q[o + 4u * j + w] = word;
        }
        Q[o + 65u + j] = bitcast<u32>(bsum);
    }
    Q[o + 64u] = bitcast<u32>(select(dmag, -dmag, neg));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg);
    let r = id / P.units;
    let u = id % P.units;
    if r >= rows_of(S, P.selected) {
        return;
    }
    switch P.mode {
        case 0u: {
            quantize_q8(r * P.k + 32u * u, r * P.xrow + 11u * u);
        }
        case 1u: {
            quantize_q8k(r * P.k + 256u * u, r * P.xrow + 81u * u);
        }
        default: {
            for (var j = 0u; j < 4u; j++) {
                let i = 4u * u + j;
                if i < P.k {
                    let v = X[r * P.k + i];
                    Q[r * P.k + i] = bitcast<u32>(select(round_bf16(v), round_f16(v), P.mode == 2u));
                }
            }
        }
    }
}
