//! The wollama guest: GGUF metadata, tokenizers, chat templates, sampling, graph building per
//! architecture, KV-cache policy and batching. The logic is plain Rust (tested natively); the
//! component glue in `component.rs` only exists on wasm32.
pub mod gguf;
pub mod sampler;
pub mod template;
pub mod tokenizer;
