//! The Ollama-compatible HTTP API over wollama's engine (issue 3, in progress): request
//! decoding with Go's JSON semantics, Ollama's error shape, keep_alive, the scheduler of
//! loaded models, and NDJSON streaming of engine events. Routes land next.

pub mod decode;
pub mod error;
pub mod keep_alive;
pub mod sched;
pub mod stream;
