// Integer dot products of one weight block with the same block of four quantized activation
// rows (wgsl/quantize.wgsl): qdot_<type>(wb, xb, xs) for the weight block at word wb of W
// (the layouts of `layout.rs`) and the activation blocks at words xb, xb + xs, xb + 2·xs and
// xb + 3·xs of XQ, one lane per row (xq4 and idot4x, wgsl/qdot_rows.wgsl): each weight is
// unpacked once for the four. Rows past a batch's last read whatever lies there (or 0 past
// the buffer's end) into lanes nobody keeps; lanes never mix. `kernels.rs` also makes a
// one-row copy of this file (prefix r1_, lanes of one) for single-row decode. Formulas are ggml's
// ggml_vec_dot_<type>_q8_{0,1,K}: exact integer sums per (sub-)block, then the block's
// scales. Each weight's quants are packed four to a word as small non-negative bytes; a
// type whose quants are offset (Q4_0: q - 8) subtracts offset × the activation's block sum,
// which gives the same integers. `idot4` (appended at pipeline creation) is WGSL's
// dot4I8Packed where the implementation offers it, else a shift-and-multiply fallback.
//
// Activation blocks: Q8_0 and Q8_1 partners share one layout of 11 words per 32 values:
// qs[32] (8 words), d (f32 holding the f16 value), s = d·Σq (f32 holding the f16 value), Σq
// (i32). Q8_K: 81 words per 256: qs[256] (64 words), d (f32), bsums[16] (i32).

// The rows' Q8_0/Q8_1 block fields: d and s (f32 holding f16 values) and Σq.
fn x8_d(xb: u32, xs: u32) -> vec4<f32> {
    return bitcast<vec4<f32>>(xq4(xb + 8u, xs));
}

fn x8_s(xb: u32, xs: u32) -> vec4<f32> {
    return bitcast<vec4<f32>>(xq4(xb + 9u, xs));
}

fn x8_sum(xb: u32, xs: u32) -> vec4<i32> {
    return bitcast<vec4<i32>>(xq4(xb + 10u, xs));
}

// The rows' Q8_K block fields: d and bsums[j].
fn xk_d(xb: u32, xs: u32) -> vec4<f32> {
    return bitcast<vec4<f32>>(xq4(xb + 64u, xs));
}

fn xk_bsum(xb: u32, xs: u32, j: u32) -> vec4<i32> {
    return bitcast<vec4<i32>>(xq4(xb + 65u + j, xs));
}

// Bits 0..3 of b into bit 0 of bytes 0..3.
fn spread4(b: u32) -> u32 {
    return (b & 1u) | ((b & 2u) << 7u) | ((b & 4u) << 14u) | ((b & 8u) << 21u);
}

// Σ over a 32-value block of nibble quants (low nibbles of qs[0..16] are values 0..15, high
// nibbles values 16..31) at word `qs`, each with `hi` (bytes of 16 or 0) added.
fn nib_dot32(qs: u32, xb: u32, xs: u32, qh: u32) -> vec4<i32> {
    var s = vec4<i32>(0);
    for (var g = 0u; g < 8u; g++) {
        let lo = (W[qs + g % 4u] >> (4u * (g / 4u))) & 0x0f0f0f0fu;
        s += idot4x(lo | (spread4((qh >> (4u * g)) & 0xfu) << 4u), xb + g, xs);
    }
    return s;
}

// Q4_0: qs[16], d.
fn qdot_q4_0(wb: u32, xb: u32, xs: u32) -> vec4<f32> {
    let s = nib_dot32(wb, xb, xs, 0u) - 8 * x8_sum(xb, xs);
    return vec4<f32>(s) * (unpack2x16float(W[wb + 4u]).x * x8_d(xb, xs));
}

// Q4_1: d|m, qs[16].
fn qdot_q4_1(wb: u32, xb: u32, xs: u32) -> vec4<f32> {
    let s = nib_dot32(wb + 1u, xb, xs, 0u);
    let dm = unpack2x16float(W[wb]);
    return vec4<f32>(s) * (dm.x * x8_d(xb, xs)) + dm.y * x8_s(xb, xs);
}

// Q5_0: qh, qs[16], d.
fn qdot_q5_0(wb: u32, xb: u32, xs: u32) -> vec4<f32> {
    let s = nib_dot32(wb + 1u, xb, xs, W[wb]) - 16 * x8_sum(xb, xs);
    return vec4<f32>(s) * (unpack2x16float(W[wb + 5u]).x * x8_d(xb, xs));
}

// Lane l of ggml's eight (values 4l..4l+3) of a Q5_0 block: (u - 16)·y over the four, u the
// five-bit quant; and the block's scale d·y.d, for matmul_vec_q.wgsl's ggml order.
fn qlane_q5_0(wb: u32, xb: u32, xs: u32, l: u32) -> vec4<i32> {
    let lo = (W[wb + 1u + l % 4u] >> (4u * (l / 4u))) & 0x0f0f0f0fu;
    let u = lo | (spread4((W[wb] >> (4u * l)) & 0xfu) << 4u);
    return idot4x(u, xb + l, xs) - 16 * idot4x(0x01010101u, xb + l, xs);
}

fn qscale_q5_0(wb: u32, xb: u32, xs: u32) -> vec4<f32> {
    return unpack2x16float(W[wb + 5u]).x * x8_d(xb, xs);
}

// Q5_1: d|m, qh, qs[16].
fn qdot_q5_1(wb: u32, xb: u32, xs: u32) -> vec4<f32> {
    let s = nib_dot32(wb + 2u, xb, xs, W[wb + 1u]);
    let dm = unpack2x16float(W[wb]);
    return vec4<f32>(s) * (dm.x * x8_d(xb, xs)) + dm.y * x8_s(xb, xs);
}

// Q8_0: qs[32], d.
fn qdot_q8_0(wb: u32, xb: u32, xs: u32) -> vec4<f32> {
    var s = vec4<i32>(0);
    for (var g = 0u; g < 8u; g++) {
        s += idot4x(W[wb + g], xb + g, xs);
    }
    return vec4<f32>(s) * (unpack2x16float(W[wb + 8u]).x * x8_d(xb, xs));
}

// Lane l of ggml's eight of a Q8_0 block, and the block's scale (as Q5_0's).
fn qlane_q8_0(wb: u32, xb: u32, xs: u32, l: u32) -> vec4<i32> {
    return idot4x(W[wb + l], xb + l, xs);
}

fn qscale_q8_0(wb: u32, xb: u32, xs: u32) -> vec4<f32> {
    return unpack2x16float(W[wb + 8u]).x * x8_d(xb, xs);
}

// Q2_K: scales[16], qs[64], d|dmin. Value e's two bits: byte (e/128)*32 + e%32, bits
// 2*((e%128)/32).
fn qdot_q2_k(wb: u32, xb: u32, xs: u32) -> vec4<f32> {
    var isum = vec4<i32>(0);
    var summ = vec4<i32>(0);
    for (var j = 0u; j < 16u; j++) {
        let sc = wbyte(wb, j);
        var t = vec4<i32>(0);
        for (var gg = 0u; gg < 4u; gg++) {
            let e = 16u * j + 4u * gg;
            let q = (e / 128u) * 32u + e % 32u;
            t += idot4x((W[wb + 4u + q / 4u] >> (2u * ((e % 128u) / 32u))) & 0x03030303u, xb + e / 4u, xs);
        }
        isum += i32(sc & 0xfu) * t;
        summ += i32(sc >> 4u) * xk_bsum(xb, xs, j);
    }
    let dm = unpack2x16float(W[wb + 20u]);
    let yd = xk_d(xb, xs);
    return (yd * dm.x) * vec4<f32>(isum) - (yd * dm.y) * vec4<f32>(summ);
}

// Q3_K: hmask[32], qs[64], scales[12], d. Values q2 + 4·h - 4.
fn qdot_q3_k(wb: u32, xb: u32, xs: u32) -> vec4<f32> {
    var isum = vec4<i32>(0);
    for (var s = 0u; s < 16u; s++) {
        let lo = select(wbyte(wb, 96u + s - 8u) >> 4u, wbyte(wb, 96u + s) & 0xfu, s < 8u);
        let hi = (wbyte(wb, 104u + s % 4u) >> (2u * (s / 4u))) & 3u;
        let sc = i32(lo | (hi << 4u)) - 32;
        var t = vec4<i32>(0);
        for (var gg = 0u; gg < 4u; gg++) {
            let e = 16u * s + 4u * gg;
            let q = (e / 128u) * 32u + e % 32u;
            let j = (e % 128u) / 32u;
            let q2 = (W[wb + 8u + q / 4u] >> (2u * j)) & 0x03030303u;
            let h = (W[wb + (e % 32u) / 4u] >> ((e / 128u) * 4u + j)) & 0x01010101u;
            t += idot4x(q2 | (h << 2u), xb + e / 4u, xs);
        }
        isum += sc * (t - 4 * xk_bsum(xb, xs, s));
    }
    return (unpack2x16float(W[wb + 27u]).x * xk_d(xb, xs)) * vec4<f32>(isum);
}

// Q4_K and Q5_K: eight sub-blocks of 32 with 6-bit scales and mins; `qs` is the word of
// qs[0], `qh` that of qh[0] (Q5_K) or u32 max (Q4_K).
fn qdot_k45(wb: u32, xb: u32, xs: u32, qs: u32, qh: u32) -> vec4<f32> {
    var isum = vec4<i32>(0);
    var summ = vec4<i32>(0);
    for (var j = 0u; j < 8u; j++) {
        let sm = scale_min_k4(wb, j);
        var t = vec4<i32>(0);
        for (var gg = 0u; gg < 8u; gg++) {
            var v = (W[qs + ((j / 2u) * 32u + 4u * gg) / 4u] >> (4u * (j % 2u))) & 0x0f0f0f0fu;
            if qh != 0xffffffffu {
                v |= ((W[qh + gg] >> j) & 0x01010101u) << 4u;
            }
            t += idot4x(v, xb + 8u * j + gg, xs);
        }
        isum += i32(sm.x) * t;
        summ += i32(sm.y) * (xk_bsum(xb, xs, 2u * j) + xk_bsum(xb, xs, 2u * j + 1u));
    }
    let dm = unpack2x16float(W[wb]);
    let yd = xk_d(xb, xs);
    return (dm.x * yd) * vec4<f32>(isum) - (dm.y * yd) * vec4<f32>(summ);
}

// Q4_K: d|dmin, scales[12], qs[128].
fn qdot_q4_k(wb: u32, xb: u32, xs: u32) -> vec4<f32> {
    return qdot_k45(wb, xb, xs, wb + 4u, 0xffffffffu);
}

// Q5_K: d|dmin, scales[12], qh[32], qs[128].
fn qdot_q5_k(wb: u32, xb: u32, xs: u32) -> vec4<f32> {
    return qdot_k45(wb, xb, xs, wb + 12u, wb + 4u);
}

// Q6_K: ql[128], qh[64], scales[16] (signed), d. Values (ql | qh << 4) - 32.
fn qdot_q6_k(wb: u32, xb: u32, xs: u32) -> vec4<f32> {
    var isum = vec4<i32>(0);
    for (var s = 0u; s < 16u; s++) {
        var t = vec4<i32>(0);
        for (var gg = 0u; gg < 4u; gg++) {
            let e = 16u * s + 4u * gg;
            let h = e / 128u;
            let r = e % 128u;
            let k = r / 32u;
            let l = r % 32u;
            let lo = (W[wb + (h * 64u + l + (k % 2u) * 32u) / 4u] >> (4u * (k / 2u))) & 0x0f0f0f0fu;
            let hi = (W[wb + 32u + (h * 32u + l) / 4u] >> (2u * k)) & 0x03030303u;
            t += idot4x(lo | (hi << 4u), xb + e / 4u, xs);
        }
        let sc = bitcast<i32>(wbyte(wb, 192u + s) << 24u) >> 24u;
        isum += sc * (t - 32 * xk_bsum(xb, xs, s));
    }
    return (unpack2x16float(W[wb + 52u]).x * xk_d(xb, xs)) * vec4<f32>(isum);
}
