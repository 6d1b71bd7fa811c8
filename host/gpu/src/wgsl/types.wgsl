// Dequantization of four consecutive weights: dq4_<type>(row, g) returns elements 4g..4g+3 of
// the row whose first word is W[row], in the repacked layouts of `layout.rs` (each GGUF block
// padded to whole words, the leading f16 scale of Q4_0, Q5_0 and Q8_0 moved behind the
// quants). Formulas are ggml's dequantize_row_* (ggml-quants.c). The kernel declares W.

fn wbyte(base: u32, b: u32) -> u32 {
    return (W[base + b / 4u] >> ((b % 4u) * 8u)) & 0xffu;
}

fn nib4(w: u32, shift: u32) -> vec4<f32> {
    return vec4<f32>(vec4<u32>((w >> shift) & 0xfu, (w >> (shift + 8u)) & 0xfu,
                               (w >> (shift + 16u)) & 0xfu, (w >> (shift + 24u)) & 0xfu));
}

fn bits4(w: u32, shift: u32, mask: u32) -> vec4<f32> {
    return vec4<f32>(vec4<u32>((w >> shift) & mask, (w >> (shift + 8u)) & mask,
                               (w >> (shift + 16u)) & mask, (w >> (shift + 24u)) & mask));
}

fn sbytes4(w: u32) -> vec4<f32> {
    return vec4<f32>(vec4<i32>(bitcast<i32>(w << 24u) >> 24u, bitcast<i32>(w << 16u) >> 24u,
                               bitcast<i32>(w << 8u) >> 24u, bitcast<i32>(w) >> 24u));
}

fn dq4_f32(row: u32, g: u32) -> vec4<f32> {
    let b = row + 4u * g;
    return vec4<f32>(bitcast<f32>(W[b]), bitcast<f32>(W[b + 1u]), bitcast<f32>(W[b + 2u]), bitcast<f32>(W[b + 3u]));
}

fn dq4_f16(row: u32, g: u32) -> vec4<f32> {
    let b = row + 2u * g;
    return vec4<f32>(unpack2x16float(W[b]), unpack2x16float(W[b + 1u]));
}

fn dq4_bf16(row: u32, g: u32) -> vec4<f32> {
    let a = W[row + 2u * g];
    let c = W[row + 2u * g + 1u];
    return vec4<f32>(bitcast<f32>(a << 16u), bitcast<f32>(a & 0xffff0000u), bitcast<f32>(c << 16u), bitcast<f32>(c & 0xffff0000u));
}

// Q4_0: 5 words per 32: qs[16], d.
fn dq4_q4_0(row: u32, g: u32) -> vec4<f32> {
    let base = row + (g / 8u) * 5u;
    let e4 = g % 8u;
    let d = unpack2x16float(W[base + 4u]).x;
    return (nib4(W[base + e4 % 4u], (e4 / 4u) * 4u) - 8.0) * d;
}

// Q4_1: 5 words per 32: d|m, qs[16].
fn dq4_q4_1(row: u32, g: u32) -> vec4<f32> {
    let base = row + (g / 8u) * 5u;
    let e4 = g % 8u;
    let dm = unpack2x16float(W[base]);
    return nib4(W[base + 1u + e4 % 4u], (e4 / 4u) * 4u) * dm.x + dm.y;
}

// Q5_0: 6 words per 32: qh, qs[16], d. Element e's fifth bit is bit e of qh.
fn dq4_q5_0(row: u32, g: u32) -> vec4<f32> {
    let base = row + (g / 8u) * 6u;
    let e4 = g % 8u;
    let qh = W[base] >> (4u * e4);
    let hi = vec4<f32>(vec4<u32>(qh & 1u, (qh >> 1u) & 1u, (qh >> 2u) & 1u, (qh >> 3u) & 1u)) * 16.0;
    let d = unpack2x16float(W[base + 5u]).x;
    return (nib4(W[base + 1u + e4 % 4u], (e4 / 4u) * 4u) + hi - 16.0) * d;
}

// Q5_1: 6 words per 32: d|m, qh, qs[16].
fn dq4_q5_1(row: u32, g: u32) -> vec4<f32> {
    let base = row + (g / 8u) * 6u;
    let e4 = g % 8u;
    let dm = unpack2x16float(W[base]);
    let qh = W[base + 1u] >> (4u * e4);
    let hi = vec4<f32>(vec4<u32>(qh & 1u, (qh >> 1u) & 1u, (qh >> 2u) & 1u, (qh >> 3u) & 1u)) * 16.0;
    return (nib4(W[base + 2u + e4 % 4u], (e4 / 4u) * 4u) + hi) * dm.x + dm.y;
}

// Q8_0: 9 words per 32: qs[32], d.
fn dq4_q8_0(row: u32, g: u32) -> vec4<f32> {
    let base = row + (g / 8u) * 9u;
    return sbytes4(W[base + g % 8u]) * unpack2x16float(W[base + 8u]).x;
}

// Q2_K: 21 words per 256: scales[16], qs[64], d|dmin.
fn dq4_q2_k(row: u32, g: u32) -> vec4<f32> {
    let base = row + (g / 64u) * 21u;
    let e = 4u * (g % 64u);
    let dm = unpack2x16float(W[base + 20u]);
    let sc = wbyte(base, e / 16u);
    let q = (e / 128u) * 32u + e % 32u;
    let v = bits4(W[base + 4u + q / 4u], 2u * ((e % 128u) / 32u), 3u);
    return v * (dm.x * f32(sc & 0xfu)) - dm.y * f32(sc >> 4u);
}

// Q3_K: 28 words per 256: hmask[32], qs[64], scales[12], d.
fn dq4_q3_k(row: u32, g: u32) -> vec4<f32> {
    let base = row + (g / 64u) * 28u;
    let e = 4u * (g % 64u);
    let s = e / 16u;
    let lo = select(wbyte(base, 96u + s - 8u) >> 4u, wbyte(base, 96u + s) & 0xfu, s < 8u);
    let hi = (wbyte(base, 104u + s % 4u) >> (2u * (s / 4u))) & 3u;
    let sc = f32(i32(lo | (hi << 4u)) - 32);
    let d = unpack2x16float(W[base + 27u]).x;
    let q = (e / 128u) * 32u + e % 32u;
    let j = (e % 128u) / 32u;
    let q2 = bits4(W[base + 8u + q / 4u], 2u * j, 3u);
    let h = bits4(W[base + (e % 32u) / 4u], (e / 128u) * 4u + j, 1u);
    return (q2 - 4.0 + 4.0 * h) * (d * sc);
}

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (ggml's get_scale_min_k4);
// the 12 scale bytes start at byte 4 of the block.
fn scale_min_k4(base: u32, j: u32) -> vec2<f32> {
    if j < 4u {
        return vec2<f32>(f32(wbyte(base, 4u + j) & 63u), f32(wbyte(base, 8u + j) & 63u));
    }
    let d = (wbyte(base, 8u + j) & 0xfu) | ((wbyte(base, j) >> 6u) << 4u);
    let m = (wbyte(base, 8u + j) >> 4u) | ((wbyte(base, 4u + j) >> 6u) << 4u);
    return vec2<f32>(f32(d), f32(m));
}

// Q4_K: 36 words per 256: d|dmin, scales[12], qs[128].
fn dq4_q4_k(row: u32, g: u32) -> vec4<f32> {
    let base = row + (g / 64u) * 36u;
    let e = 4u * (g % 64u);
    let c = e / 64u;
    let r = e % 64u;
    let dm = unpack2x16float(W[base]);
    let sm = scale_min_k4(base, 2u * c + r / 32u);
    let q = nib4(W[base + 4u + (c * 32u + r % 32u) / 4u], (r / 32u) * 4u);
    return q * (dm.x * sm.x) - dm.y * sm.y;
}

// Q5_K: 44 words per 256: d|dmin, scales[12], qh[32], qs[128].
fn dq4_q5_k(row: u32, g: u32) -> vec4<f32> {
    let base = row + (g / 64u) * 44u;
    let e = 4u * (g % 64u);
    let c = e / 64u;
    let r = e % 64u;
    let sub = 2u * c + r / 32u;
    let dm = unpack2x16float(W[base]);
    let sm = scale_min_k4(base, sub);
    let q = nib4(W[base + 12u + (c * 32u + r % 32u) / 4u], (r / 32u) * 4u);
    let h = bits4(W[base + 4u + (r % 32u) / 4u], sub, 1u);
    return (q + 16.0 * h) * (dm.x * sm.x) - dm.y * sm.y;
}

// Q6_K: 53 words per 256: ql[128], qh[64], scales[16] (signed), d.
fn dq4_q6_k(row: u32, g: u32) -> vec4<f32> {
    let base = row + (g / 64u) * 53u;
    let e = 4u * (g % 64u);
    let h = e / 128u;
    let r = e % 128u;
    let k = r / 32u;
    let l = r % 32u;
    let lo = nib4(W[base + (h * 64u + l + (k % 2u) * 32u) / 4u], (k / 2u) * 4u);
    let hi = bits4(W[base + 32u + (h * 32u + l) / 4u], 2u * k, 3u);
    let s = e / 16u;
    let sc = f32(bitcast<i32>(wbyte(base, 192u + s) << 24u) >> 24u);
    let d = unpack2x16float(W[base + 52u]).x;
    return (lo + 16.0 * hi - 32.0) * (d * sc);
}
