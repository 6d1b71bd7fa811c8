//! Tensor executors for wollama's forward plans: `plan` is the host-side mirror of the WIT
//! compute records; `cpu` compiles and runs plans on the CPU with candle's quant kernels.
pub mod cpu;
pub mod plan;
