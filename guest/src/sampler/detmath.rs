//! `exp` and `ln` from IEEE-exact operations only (`+ - * /`, comparisons, bit manipulation),
//! so that probabilities, and with them the sampled tokens, are the same bits on x86-64, aarch64
//! and wasm32 whatever each platform's libm does.

/// `e^x` from IEEE-exact operations only: `x = k ln2 + r`, `|r| <= ln2 / 2`, a degree-13 Taylor
/// polynomial for `e^r` (truncation error below 1e-17 relative), then scaling by `2^k` through the
/// exponent bits. Relative error a few ulp.
pub fn exp_det(x: f64) -> f64 {
    const LOG2_E: f64 = std::f64::consts::LOG2_E;
    if x.is_nan() {
        return f64::NAN;
    }
    if x > 709.78 {
        return f64::INFINITY;
    }
    if x < -745.2 {
        return 0.0;
    }
    let k = (x * LOG2_E).round();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // Horner form of sum_{i=0}^{13} r^i / i!
    let mut poly = INV_FACT[13];
    for i in (0..13).rev() {
        poly = poly * r + INV_FACT[i];
    }
    let k = k as i32;
    let k1 = k / 2;
    let k2 = k - k1;
    poly * pow2(k1) * pow2(k2)
}

/// ln 2 split in two (fdlibm's): the high part has its low 32 mantissa bits zero, so `k * LN2_HI`
/// is exact for any exponent `k`.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// `1 / i!` for `i` in `0..=13`, evaluated at compile time with IEEE arithmetic.
const INV_FACT: [f64; 14] = {
    let mut t = [0.0f64; 14];
    let mut f = 1.0f64;
    let mut i = 0;
    while i < 14 {
        if i > 0 {
            f *= i as f64;
        }
        t[i] = 1.0 / f;
        i += 1;
    }
    t
};

/// `2^n` for `n` in `-1022..=1023`.
fn pow2(n: i32) -> f64 {
    f64::from_bits(((n + 1023) as u64) << 52)
}

/// Natural logarithm from IEEE-exact operations only: `x = m 2^e` with `m` in `[sqrt(1/2),
/// sqrt(2)]`, then `ln m = 2 atanh((m-1)/(m+1))` by its odd series.
pub fn ln_det(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    let (mut bits, mut e) = (x.to_bits(), 0i32);
    if (bits >> 52) & 0x7ff == 0 {
        // subnormal: scale into the normal range
        bits = (x * pow2(54)).to_bits();
        e -= 54;
    }
    e += ((bits >> 52) & 0x7ff) as i32 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    // 1 + s2/3 + s2^2/5 + ... + s2^11/23 (|s| <= 0.1716: truncation error below 1e-18)
    let mut series = 1.0 / 23.0;
    for d in (1..=11).rev() {
        series = series * s2 + 1.0 / (2 * d - 1) as f64;
    }
    let ln_m = 2.0 * s * series;
    let ef = e as f64;
    ef * LN2_HI + (ef * LN2_LO + ln_m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_ln_match_libm() {
        let mut x = -745.0f64;
        while x < 709.0 {
            let (a, b) = (exp_det(x), x.exp());
            assert!(((a - b) / b).abs() < 1e-14, "exp({x}) = {a} vs {b}");
            x += 0.37;
        }
        for &x in &[0.0, -1e-300, 1e-10, -0.5, 0.5, 1.0, -1.0, -20.0] {
            let (a, b) = (exp_det(x), f64::exp(x));
            assert!(((a - b) / b).abs() < 1e-15, "exp({x}) = {a} vs {b}");
        }
        assert_eq!(exp_det(0.0), 1.0);
        assert_eq!(exp_det(-800.0), 0.0);
        assert_eq!(exp_det(f64::NEG_INFINITY), 0.0);
        for &x in &[1e-320, 1e-300, 1e-10, 0.1, 0.5, 0.7, 1.0, 1.5, 2.0, std::f64::consts::SQRT_2, 10.0, 12345.678, 1e300] {
            let (a, b) = (ln_det(x), x.ln());
            assert!((a - b).abs() <= 1e-15 * b.abs().max(1.0), "ln({x}) = {a} vs {b}");
        }
        assert_eq!(ln_det(1.0), 0.0);
        assert_eq!(ln_det(0.0), f64::NEG_INFINITY);
    }
}
