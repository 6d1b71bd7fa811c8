// RMS norm over groups of a row (group = width for the whole row) and layer norm over rows:
// one workgroup per group, sums in a shared tree. RMS norm follows the CPU (ggml) bit for bit:
// the f32 squares summed exactly (a 64-bit fixed-point sum, where ggml sums in f64), the mean
// rounded once to f32, then a correctly rounded sqrt and division (WGSL's `sqrt` and `/` are
// not), so a row's scale never lands one ulp away from the CPU's and flips a rounding in the
// next matmul's quantized activation.
struct Nm {
    width: u32,
    group: u32,
    eps: f32,
    selected: u32,
    layer: u32, // 1: layer norm (centre, then scale), 0: RMS norm
    wlen: u32,  // a weight vector's length to multiply by (the plan's next node), 0: none
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> S: Step;
@group(0) @binding(1) var<uniform> P: Nm;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
// The folded MulWeight's vector (repeated along the row), or X again when there is none.
@group(0) @binding(4) var<storage, read> V: array<f32>;

var<workgroup> red: array<f32, 64>;
var<workgroup> rhi: array<u32, 64>;
var<workgroup> rlo: array<u32, 64>;

fn total(v: f32, t: u32) -> f32 {
    red[t] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if t < s {
            red[t] += red[t + s];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn max_u32(v: u32, t: u32) -> u32 {
    rhi[t] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if t < s {
            rhi[t] = max(rhi[t], rhi[t + s]);
        }
        workgroupBarrier();
    }
    let r = rhi[0];
    workgroupBarrier();
    return r;
}

// (hi, lo) + (bhi, blo), 64-bit.
fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.y + b.y;
    return vec2<u32>(a.x + b.x + select(0u, 1u, lo < a.y), lo);
}

fn total64(v: vec2<u32>, t: u32) -> vec2<u32> {
    rhi[t] = v.x;
    rlo[t] = v.y;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if t < s {
            let r = add64(vec2<u32>(rhi[t], rlo[t]), vec2<u32>(rhi[t + s], rlo[t + s]));
            rhi[t] = r.x;
            rlo[t] = r.y;
        }
        workgroupBarrier();
    }
    let r = vec2<u32>(rhi[0], rlo[0]);
    workgroupBarrier();
    return r;
}

// The biased exponent of a finite non-negative f32's bits, 1 for subnormals and zero.
fn exp_of(b: u32) -> u32 {
    return max(b >> 23u, 1u);
}

// A non-negative finite f32 (bits b) as a 64-bit integer in units of 2^(emax - 174): its
// significand shifted so that a value with exponent emax sits at bits 24..47. Bits below the
// unit are dropped (terms under 2^-48 of the largest, beyond what can move an f32 mean).
fn fixed(b: u32, emax: u32) -> vec2<u32> {
    let e = exp_of(b);
    let m = select(b & 0x7fffffu, (b & 0x7fffffu) | 0x800000u, (b >> 23u) != 0u);
    let sh = i32(e) - i32(emax) + 24;
    if sh <= -32 {
        return vec2<u32>(0u, 0u);
    }
    if sh < 0 {
        return vec2<u32>(0u, m >> u32(-sh));
    }
    if sh == 0 {
        return vec2<u32>(0u, m);
    }
    return vec2<u32>(m >> (32u - u32(sh)), m << u32(sh));
}

// round_f32(q · 2^(emax - 174) / g) for a 64-bit q ≥ 2^47 and 0 < g < 2^31, to nearest even;
// NaN when the result would not be a normal f32 (the caller falls back to float arithmetic).
fn mean_rne(q: vec2<u32>, g: u32, emax: u32) -> f32 {
    // Long division, one bit at a time: quotient (qh, ql), remainder r < g.
    var qh = 0u;
    var ql = 0u;
    var r = 0u;
    for (var i = 0u; i < 64u; i++) {
        let bit = select((q.y >> (31u - (i - 32u))) & 1u, (q.x >> (31u - i)) & 1u, i < 32u);
        // r < g < 2^31, so 2r + 1 fits.
        r = (r << 1u) | bit;
        qh = (qh << 1u) | (ql >> 31u);
        ql <<= 1u;
        if r >= g {
            r -= g;
            ql |= 1u;
        }
    }
    // The quotient has at least 32 significant bits (q ≥ 2^47, g < 2^16 in practice; at least
    // 24 + 2 whenever g < 2^21): keep 24, round on the next, the rest and r are sticky.
    var p: u32;
    if qh != 0u {
        p = 63u - countLeadingZeros(qh);
    } else {
        p = 31u - countLeadingZeros(ql);
    }
    if p < 25u {
        return bitcast<f32>(0x7fc00000u);
    }
    let d = p - 23u; // bits dropped, >= 2
    // m = q >> d (fits in 24 bits); rb = bit d-1; sticky = bits below d-1, or r.
    var m: u32;
    var rb: u32;
    var sticky = r != 0u;
    if d >= 32u {
        m = qh >> (d - 32u);
    } else {
        m = (ql >> d) | (qh << (32u - d));
    }
    let k = d - 1u; // the round bit's index
    if k >= 32u {
        rb = (qh >> (k - 32u)) & 1u;
        sticky = sticky || ql != 0u || (k > 32u && (qh & ((1u << (k - 32u)) - 1u)) != 0u);
    } else {
        rb = (ql >> k) & 1u;
        sticky = sticky || (k > 0u && (ql & ((1u << k) - 1u)) != 0u);
    }
    m &= 0xffffffu;
    var e = i32(d) + i32(emax) - 24;
    if rb != 0u && (sticky || (m & 1u) != 0u) {
        m += 1u;
        if m == 0x1000000u {
            m >>= 1u;
            e += 1;
        }
    }
    if e <= 0 || e >= 255 {
        return bitcast<f32>(0x7fc00000u);
    }
    return bitcast<f32>((u32(e) << 23u) | (m & 0x7fffffu));
}

// sqrt(x) correctly rounded (WGSL's `sqrt` need not be), by digit-by-digit integer square
// root of the significand; x must be a positive normal f32 (else WGSL's `sqrt`).
fn sqrt_rne(x: f32) -> f32 {
    let b = bitcast<u32>(x);
    let be = b >> 23u;
    if be == 0u || be == 255u || (b >> 31u) != 0u {
        return sqrt(x);
    }
    var m = (b & 0x7fffffu) | 0x800000u; // x = m · 2^k
    var k = i32(be) - 150;
    if (k & 1) != 0 {
        m <<= 1u;
        k -= 1;
    }
    // root = isqrt(m · 2^26): m < 2^25 read as 13 bit pairs, then 13 pairs of zeros.
    var root = 0u;
    var rem = 0u;
    for (var i = 0u; i < 26u; i++) {
        var pair = 0u;
        if i < 13u {
            pair = (m >> (24u - 2u * i)) & 3u;
        }
        rem = (rem << 2u) | pair;
        let trial = (root << 2u) | 1u;
        if rem >= trial {
            rem -= trial;
            root = (root << 1u) | 1u;
        } else {
            root <<= 1u;
        }
    }
    // root in [2^24, 2^26): keep 24 bits, round on the next, rem is sticky (no exact ties).
    var d = 1u;
    if root >= 0x2000000u {
        d = 2u;
    }
    var r = root >> d;
    let rb = (root >> (d - 1u)) & 1u;
    let sticky = rem != 0u || (d == 2u && (root & 1u) != 0u);
    // sqrt(x) = root · 2^(k/2 - 13) = r · 2^(d + k/2 - 13)
    var e = i32(d) + k / 2 - 13 + 150;
    if rb != 0u && (sticky || (r & 1u) != 0u) {
        r += 1u;
        if r == 0x1000000u {
            r >>= 1u;
            e += 1;
        }
    }
    if e <= 0 || e >= 255 {
        return sqrt(x);
    }
    return bitcast<f32>((u32(e) << 23u) | (r & 0x7fffffu));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let id = linear_wg(wid, nwg);
    let groups = P.width / P.group;
    if id >= rows_of(S, P.selected) * groups {
        return;
    }
    let base = (id / groups) * P.width + (id % groups) * P.group;
    let n = f32(P.group);
    var mean = 0.0;
    if P.layer != 0u {
        var s = 0.0;
        for (var i = t; i < P.group; i += 64u) {
            s += X[base + i];
        }
        mean = total(s, t) / n;
    }
    var scale: f32;
    if P.layer != 0u {
        var s2 = 0.0;
        for (var i = t; i < P.group; i += 64u) {
            let v = X[base + i] - mean;
            s2 += v * v;
        }
        scale = 1.0 / sqrt(total(s2, t) / n + P.eps);
    } else {
        // The squares' largest exponent, then their exact sum in units below it.
        var emax = 0u;
        var bad = 0u;
        for (var i = t; i < P.group; i += 64u) {
            let v = X[base + i];
            let b = bitcast<u32>(v * v);
            emax = max(emax, exp_of(b));
            bad |= select(0u, 1u, (b >> 23u) >= 255u);
        }
        emax = max_u32(emax | (bad << 31u), t);
        var sum = vec2<u32>(0u, 0u);
        for (var i = t; i < P.group; i += 64u) {
            let v = X[base + i];
            sum = add64(sum, fixed(bitcast<u32>(v * v), emax));
        }
        sum = total64(sum, t);
        // Infinite or NaN squares, or a mean outside f32's normal range: plain floats (the
        // reduction runs either way: barriers stay in uniform control flow).
        var s2 = 0.0;
        for (var i = t; i < P.group; i += 64u) {
            let v = X[base + i];
            s2 += v * v;
        }
        let plain = total(s2, t) / n;
        var m = plain;
        if emax > 1u && emax < 255u {
            // NaN: no normal f32 mean; found from the bits, since a compiler may fold
            // `v != v` to false (lavapipe does), which turned a row of zeros into NaN.
            let exact = mean_rne(sum, P.group, emax);
            if (bitcast<u32>(exact) & 0x7fffffffu) <= 0x7f800000u {
                m = exact;
            }
        }
        scale = div_rne(1.0, sqrt_rne(m + P.eps));
    }
    // The row's column of this group's first value, for the weight's index.
    let col0 = (id % groups) * P.group;
    for (var i = t; i < P.group; i += 64u) {
        var y = (X[base + i] - mean) * scale;
        if P.wlen != 0u {
            // Rounded on its own, as the separate multiply rounds it.
            y = y * V[(col0 + i) % P.wlen];
        }
        Y[base + i] = y;
    }
}
