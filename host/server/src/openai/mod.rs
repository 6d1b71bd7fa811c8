//! The OpenAI-compatible API (`/v1`): protocol translation over the same engine path as
//! `/api/chat` and `/api/generate`. Goes past Ollama's layer where it falls short: an
//! `options` object sets Ollama options (num_ctx, top_k...), `max_completion_tokens` is
//! honoured, and errors always come in OpenAI's shape.

pub mod chat;
pub mod completions;
mod envelope;
pub mod error;
pub mod models;
mod request;
mod sse;
mod tool_choice;
