//! The OpenAI-compatible API (`/v1`): a translation layer over the native pipeline, as
//! Ollama's `middleware/openai.go`. Goes past Ollama's layer where it falls short: an
//! `options` object sets Ollama options (num_ctx, top_k...), `max_completion_tokens` is
//! honoured, and errors always come in OpenAI's shape.

pub(crate) mod chat;
pub(crate) mod completions;
pub(crate) mod embeddings;
mod envelope;
pub(crate) mod error;
pub(crate) mod models;
mod request;
mod tool_choice;
