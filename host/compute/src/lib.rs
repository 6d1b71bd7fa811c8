//! Tensor executors for wollama's forward plans (`wollama_plan`): `cpu` compiles and runs
//! plans on the CPU (candle's ggml block types over the mapped model file, ggml-exact kernels
//! where candle's arithmetic differs, its own work-claiming thread pool).
pub mod cpu;
