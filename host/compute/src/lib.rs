//! Tensor executors for wollama's forward plans.
pub mod plan;
