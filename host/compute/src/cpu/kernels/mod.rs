//! Hand-written kernels where candle's are too slow or round differently from ggml.
//! `wollama bench` shows why each exists; `tests` checks each against candle's kernel and
//! an f32 reference.
//!
//! - Q4_1 × Q8_1: candle 0.11 has no SIMD path for Q4_1 (scalar only) and computes the Q8_1
//!   block sum `s` in f16 arithmetic, where ggml rounds `d * sum` once. Both matter: the
//!   first for speed, the second for matching llama.cpp's logits.

pub mod q4_1;
