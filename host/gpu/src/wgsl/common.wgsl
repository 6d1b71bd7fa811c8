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
