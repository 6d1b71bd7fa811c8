// Shared by every kernel: the step's header (written once per batch) and helpers. The batch's
// own arrays (tokens, positions, ...) live in one storage buffer `B` at the offsets given here.
struct Step {
    rows: u32,
    lrows: u32,
    ncells: u32,
    nbias: u32,
    top_k: u32,
    off_tok: u32,
    off_pos: u32,
    off_seq: u32,
    off_wcell: u32,
    off_lrow: u32,
    off_cpos: u32,
    off_cseq: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
    pad3: u32,
}

// A workgroup's index when a dispatch is folded into two dimensions (at most 65535 per one).
fn linear_wg(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// A thread's index when a 64-wide dispatch is folded into two dimensions.
fn linear_id(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 64u;
}

// Rows of an activation: the batch's tokens, or its logit rows after SelectRows/Pool.
fn rows_of(s: Step, selected: u32) -> u32 {
    return select(s.rows, s.lrows, selected != 0u);
}

fn silu(x: f32) -> f32 {
    return x / (1.0 + exp(-x));
}

// erf by Abramowitz-Stegun 7.1.26 refined (|error| < 1.2e-7): WGSL has no erf.
fn erf_approx(x: f32) -> f32 {
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
        t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
        t * (-0.82215223 + t * 0.17087277)))))))));
    return select(r - 1.0, 1.0 - r, x >= 0.0);
}

fn gelu_erf(x: f32) -> f32 {
    return 0.5 * x * (1.0 + erf_approx(x * 0.70710678));
}

// The f16 bits of x, rounded to nearest even as the CPU executor (and ggml) round, by hand:
// WGSL's pack2x16float makes an out-of-range value indeterminate, where the CPU stores
// infinity. Overflow gives inf, NaN a quiet NaN; the subnormal range rounds through an f32
// add, which is rounded to nearest even (F. Giesen's float_to_half_fast3_rtne).
fn f16_bits(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    let sign = (b >> 16u) & 0x8000u;
    let a = b & 0x7fffffffu;
    if a >= 0x47800000u {
        return sign | select(0x7c00u, 0x7e00u, a > 0x7f800000u);
    }
    if a < 0x38800000u {
        // Below f16's smallest normal: align the 10 mantissa bits at the bottom of a float.
        let magic = 0x3f000000u; // 0.5: (127 - 15 + 23 - 10 + 1) << 23
        return sign | (bitcast<u32>(bitcast<f32>(a) + bitcast<f32>(magic)) - magic);
    }
    let odd = (a >> 13u) & 1u;
    return sign | ((a + 0xc8000fffu + odd) >> 13u); // exponent rebased by (15 - 127) << 23
}

// Two values as f16 in one word (x low), rounded to nearest even.
fn pack_f16(x: f32, y: f32) -> u32 {
    return f16_bits(x) | (f16_bits(y) << 16u);
}

// Rounds to f16 and back, as the CPU executor rounds q and probabilities in attention.
fn round_f16(x: f32) -> f32 {
    return unpack2x16float(f16_bits(x)).x;
}

// a / b rounded to nearest even, as the CPU divides: WGSL's `/` may be 2.5 ulp off, which
// could reorder tied top-k candidates or move a quantization scale across a rounding step.
// Long division of the 24-bit significands; zeros, infinities, NaN, subnormals and results
// outside the normal range fall back to `/`.
fn div_rne(a: f32, b: f32) -> f32 {
    let ua = bitcast<u32>(a);
    let ub = bitcast<u32>(b);
    let ea = (ua >> 23u) & 0xffu;
    let eb = (ub >> 23u) & 0xffu;
    if ea == 0u || ea == 255u || eb == 0u || eb == 255u {
        return a / b;
    }
    let mb = (ub & 0x7fffffu) | 0x800000u;
    var r = (ua & 0x7fffffu) | 0x800000u;
    var e = i32(ea) - i32(eb) + 127;
    if r < mb {
        r <<= 1u;
        e -= 1;
    }
    // 24 quotient bits and a round bit; what remains is the sticky part.
    var q = 0u;
    for (var i = 0u; i < 25u; i++) {
        q <<= 1u;
        if r >= mb {
            r -= mb;
            q |= 1u;
        }
        r <<= 1u;
    }
    let round = (q & 1u) != 0u;
    q >>= 1u;
    if round && (r != 0u || (q & 1u) != 0u) {
        q += 1u;
        if q == 0x1000000u {
            q >>= 1u;
            e += 1;
        }
    }
    if e <= 0 || e >= 255 {
        return a / b;
    }
    return bitcast<f32>(((ua ^ ub) & 0x80000000u) | (u32(e) << 23u) | (q & 0x7fffffu));
}

// d·q + acc rounded once to nearest even, as an x86 FMA rounds it, for an integer q
// (|q| < 2^24): WGSL's `fma` may round the product first (lavapipe's does). Integer
// arithmetic on 64-bit (hi, lo) pairs; zeros, infinities, NaN and subnormal operands or
// results fall back to float arithmetic.
fn fma_int(d: f32, q: i32, acc: f32) -> f32 {
    let ud = bitcast<u32>(d);
    let ed = (ud >> 23u) & 0xffu;
    if q == 0 || ed == 0u || ed == 255u {
        return d * f32(q) + acc;
    }
    let neg = ((ud >> 31u) != 0u) != (q < 0);
    return fma_parts((ud & 0x7fffffu) | 0x800000u, i32(ed) - 150, u32(abs(q)), neg, acc, d * f32(q) + acc);
}

// a·b + c rounded once (fma_int for two floats): rope's `x0·cos - x1·sin` as the CPU
// executor computes it (`mul_add`, GCC's contraction of ggml's expression).
fn fma_f32(a: f32, b: f32, c: f32) -> f32 {
    let ua = bitcast<u32>(a);
    let ub = bitcast<u32>(b);
    let ea = (ua >> 23u) & 0xffu;
    let eb = (ub >> 23u) & 0xffu;
    if ea == 0u || ea == 255u || eb == 0u || eb == 255u {
        return a * b + c;
    }
    let neg = ((ua ^ ub) >> 31u) != 0u;
    return fma_parts((ua & 0x7fffffu) | 0x800000u, i32(ea) + i32(eb) - 300, (ub & 0x7fffffu) | 0x800000u, neg, c, a * b + c);
}

// md·mq·2^me (md, mq < 2^24; negative when `neg`) + acc, rounded once; `fallback` for a
// subnormal, infinite or NaN acc or result.
fn fma_parts(md: u32, me: i32, mq: u32, neg_p: bool, acc: f32, fallback: f32) -> f32 {
    let ua = bitcast<u32>(acc);
    let ea = (ua >> 23u) & 0xffu;
    if ea == 255u {
        return fallback;
    }
    // md · mq in 12-bit halves: md = a·2^12 + b, mq = c·2^12 + e.
    let a = md >> 12u;
    let b = md & 0xfffu;
    let c = mq >> 12u;
    let e = mq & 0xfffu;
    // (a·2^12 + b)(c·2^12 + e) = ac·2^24 + (ae + bc)·2^12 + be; each partial < 2^25.
    let ac = a * c;
    let mid = a * e + b * c;
    let be = b * e;
    var plo = be + (mid << 12u);
    var carry = select(0u, 1u, plo < be);
    let plo2 = plo + (ac << 24u);
    carry += select(0u, 1u, plo2 < plo);
    plo = plo2;
    let phi = (mid >> 20u) + (ac >> 8u) + carry;
    if ea == 0u && (ua & 0x7fffffffu) == 0u {
        // acc = ±0: the product rounded alone.
        return round_u64(vec2<u32>(phi, plo), me, neg_p, fallback);
    }
    if ea == 0u {
        return fallback;
    }
    let ma = (ua & 0x7fffffu) | 0x800000u;
    let neg_a = (ua >> 31u) != 0u;
    // Both as 64-bit magnitudes with exponents, normalised to bit 61 (headroom for the
    // add); the smaller shifted right with a sticky bit, then added or subtracted, rounded.
    var pm = vec2<u32>(phi, plo);
    let pl = lead64(pm);
    pm = shl64(pm, 61u - pl);
    let pe = me - i32(61u - pl);
    let am = shl64(vec2<u32>(0u, ma), 61u - 23u);
    let ae = i32(ea) - 150 - i32(61u - 23u);
    var big = pm;
    var bige = pe;
    var bign = neg_p;
    var small = am;
    var smalle = ae;
    var smalln = neg_a;
    if ae > pe || (ae == pe && (am.x > pm.x || (am.x == pm.x && am.y > pm.y))) {
        big = am;
        bige = ae;
        bign = neg_a;
        small = pm;
        smalle = pe;
        smalln = neg_p;
    }
    let s = shr64_sticky(small, u32(min(bige - smalle, 63)));
    var m: vec2<u32>;
    if bign == smalln {
        m = add64u(big, s);
    } else {
        m = sub64u(big, s);
    }
    if m.x == 0u && m.y == 0u {
        return 0.0;
    }
    return round_u64(m, bige, bign, fallback);
}

// The index of the leading set bit of a non-zero 64-bit value.
fn lead64(m: vec2<u32>) -> u32 {
    if m.x != 0u {
        return 63u - countLeadingZeros(m.x);
    }
    return 31u - countLeadingZeros(m.y);
}

fn shl64(m: vec2<u32>, s: u32) -> vec2<u32> {
    if s == 0u {
        return m;
    }
    if s >= 32u {
        return vec2<u32>(m.y << (s - 32u), 0u);
    }
    return vec2<u32>((m.x << s) | (m.y >> (32u - s)), m.y << s);
}

// m >> s with the bits shifted out ORed into bit 0 (sticky).
fn shr64_sticky(m: vec2<u32>, s: u32) -> vec2<u32> {
    if s == 0u {
        return m;
    }
    var r: vec2<u32>;
    var lost: bool;
    if s >= 32u {
        let t = s - 32u;
        r = vec2<u32>(0u, m.x >> t);
        lost = m.y != 0u || (t > 0u && (m.x & ((1u << t) - 1u)) != 0u);
    } else {
        r = vec2<u32>(m.x >> s, (m.y >> s) | (m.x << (32u - s)));
        lost = (m.y & ((1u << s) - 1u)) != 0u;
    }
    return vec2<u32>(r.x, r.y | select(0u, 1u, lost));
}

fn add64u(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.y + b.y;
    return vec2<u32>(a.x + b.x + select(0u, 1u, lo < a.y), lo);
}

fn sub64u(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x - b.x - select(0u, 1u, a.y < b.y), a.y - b.y);
}

// m · 2^e (m non-zero; a sticky bit, if any, lies far below the round bit) with sign `neg`,
// rounded to nearest even; `fallback` where the result is not a normal f32.
fn round_u64(m: vec2<u32>, e: i32, neg: bool, fallback: f32) -> f32 {
    let l = lead64(m);
    let ex = e + i32(l) - 23;
    var be = ex + 150;
    var sig: u32;
    if l <= 23u {
        sig = m.y << (23u - l);
    } else {
        let d = l - 23u; // bits dropped
        if d >= 32u {
            sig = m.x >> (d - 32u);
        } else {
            sig = (m.y >> d) | (m.x << (32u - d));
        }
        sig &= 0xffffffu;
        // The round bit (k = d - 1) and whether any bit below it is set.
        let k = d - 1u;
        var rb: bool;
        var below: bool;
        if k >= 32u {
            rb = ((m.x >> (k - 32u)) & 1u) != 0u;
            below = m.y != 0u || (k > 32u && (m.x & ((1u << (k - 32u)) - 1u)) != 0u);
        } else {
            rb = ((m.y >> k) & 1u) != 0u;
            below = k > 0u && (m.y & ((1u << k) - 1u)) != 0u;
        }
        if rb && (below || (sig & 1u) != 0u) {
            sig += 1u;
            if sig == 0x1000000u {
                sig >>= 1u;
                be += 1;
            }
        }
    }
    if be <= 0 || be >= 255 {
        return fallback;
    }
    return bitcast<f32>(select(0u, 0x80000000u, neg) | (u32(be) << 23u) | (sig & 0x7fffffu));
}
