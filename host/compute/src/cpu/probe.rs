//! Entry points into the quantized kernels for `benches/kernel_speed.rs`, which is outside the
//! crate. Plain (non-generic, not inlinable) functions, so that the kernels themselves stay
//! private to the executor: made public, they would be exported symbols, and the executor's
//! calls into them would no longer be the same code.

use candle_core::quantized::k_quants::{BlockQ4_1, BlockQ5_0, BlockQ8_0, BlockQ8_1};

pub use super::quant::{Q8x8, U5};
use super::quant::{self, Mirror};

pub fn quantize_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    quant::quantize_q8_0(x, y)
}

pub fn quantize_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    quant::quantize_q8_1(x, y)
}

/// Decode's kernel: four Q4_1 weight rows · one activation row.
pub fn dot_q4_1_4x1(w: [&[BlockQ4_1]; 4], a: &[BlockQ8_1]) -> [f32; 4] {
    quant::dot_q4_1::<4, 1>(w, [a]).map(|r| r[0])
}

/// One Q4_1 weight row · one activation row.
pub fn dot_q4_1_1x1(w: &[BlockQ4_1], a: &[BlockQ8_1]) -> f32 {
    quant::dot_q4_1::<1, 1>([w], [a])[0][0]
}

/// Four Q8_0 weight rows · one activation row.
pub fn dot_q8_0_4x1(w: [&[BlockQ8_0]; 4], a: &[BlockQ8_0]) -> [f32; 4] {
    quant::dot_q8_0::<4, 1>(w, [a]).map(|r| r[0])
}

/// One Q8_0 weight row · one activation row.
pub fn dot_q8_0_1x1(w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
    quant::dot_q8_0::<1, 1>([w], [a])[0][0]
}

pub fn pack_q8_1_x8(a: [&[BlockQ8_1]; 8], out: &mut [Q8x8]) {
    quant::pack_q8_1_x8(a, out)
}

pub fn pack_q8_0_x8(a: [&[BlockQ8_0]; 8], out: &mut [Q8x8]) {
    quant::pack_q8_0_x8(a, out)
}

pub fn dot_q4_1_x8(w: &[BlockQ4_1], a: [&[BlockQ8_1]; 8], packed: &[Q8x8]) -> [f32; 8] {
    quant::dot_q4_1_x8(w, a, packed)
}

pub fn unpack_q5_0(w: &[BlockQ5_0], out: &mut [U5]) {
    quant::unpack_q5_0(w, out)
}

/// The AVX2 eight-row Q5_0 kernel on packed activations (the unsigned form in use).
#[cfg(target_arch = "x86_64")]
pub fn dot_q5_0_x8(w: &[BlockQ5_0], packed: &[Q8x8]) -> [f32; 8] {
    assert!(super::ggml_simd::has_simd() && packed.len() >= w.len());
    // SAFETY: the CPU has AVX2, FMA and F16C; length checked above.
    unsafe { quant::x86::dot_q5_0_x8(BlockQ5_0::mirror(w), packed) }
}

/// The signed form of `dot_q5_0_x8` that the unsigned one replaced.
#[cfg(target_arch = "x86_64")]
pub fn dot_q5_0_x8_signed(w: &[BlockQ5_0], packed: &[Q8x8]) -> [f32; 8] {
    assert!(super::ggml_simd::has_simd() && packed.len() >= w.len());
    // SAFETY: the CPU has AVX2, FMA and F16C; length checked above.
    unsafe { quant::x86::dot_q5_0_x8_signed(BlockQ5_0::mirror(w), packed) }
}

/// The AVX2 eight-row Q5_0 kernel on weights `unpack_q5_0` unpacked.
#[cfg(target_arch = "x86_64")]
pub fn dot_q5_0_x8u(w: &[U5], packed: &[Q8x8]) -> [f32; 8] {
    assert!(super::ggml_simd::has_simd() && packed.len() >= w.len());
    // SAFETY: the CPU has AVX2, FMA and F16C; length checked above.
    unsafe { quant::x86::dot_q5_0_x8u(w, packed) }
}
