//! The wollama guest: GGUF metadata, tokenizers, chat templates, sampling, graph building per
//! architecture, KV-cache policy and batching. The logic is plain Rust (tested natively); the
//! component glue in `component.rs` only exists on wasm32.
pub mod convert;
pub mod constrain;
pub mod engine;
pub mod gguf;
pub mod gotemplate;
pub mod graph;
pub mod loaded;
pub mod message;
pub mod model;
pub mod prompt;
pub mod sampler;
pub mod template;
pub mod tokenizer;

#[cfg(target_arch = "wasm32")]
mod component;
