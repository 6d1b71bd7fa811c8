//! The forward plan, defined once: what a guest's graph builders produce, what crosses
//! `wit/engine.wit`'s `compute` interface, and what a host's executor compiles and runs.
//!
//! | module  | owns                                                                 |
//! |---------|----------------------------------------------------------------------|
//! | `op`    | the node ops ([`Op`]) and their records ([`Rope`], [`Attention`], [`Pooling`]) |
//! | `spec`  | a whole plan: weights, nodes, outputs, KV cache ([`PlanSpec`])        |
//! | `batch` | one forward pass ([`Batch`]), its checks, and what comes back ([`Candidates`]) |
//! | `shape` | node widths, liveness and activation buffers, worked out once per plan ([`shape::infer`], [`shape::allocate`]) |
//! | `ggml`  | the ggml tensor types: names and block layouts ([`GgmlType`])         |
//! | `wit`   | the WIT records' conversions, one table for both sides ([`wit_conversions!`]) |
//!
//! Plain data with no dependencies, so that the guest (wasm32-wasip2) and the host build the
//! same types; the WIT records are converted at the component boundary on either side
//! (`guest/src/component.rs`, `host/runtime/src/lower.rs`). Field meanings are documented in
//! `wit/engine.wit` as well, which is the contract.

mod batch;
mod ggml;
mod op;
pub mod shape;
mod spec;
mod wit;

pub use batch::{Batch, Bias, Candidates};
pub use ggml::GgmlType;
pub use op::{Attention, NodeId, Op, Pooling, Rope, WeightIdx};
pub use spec::{KvSpec, PlanSpec, Weight};
