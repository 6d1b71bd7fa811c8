//! The native (Ollama) API's handlers: each decodes its request with Go's semantics, calls the
//! pipeline (or the store), and shapes Ollama's answer.

mod answer;
pub(crate) mod chat;
pub(crate) mod create;
pub(crate) mod embed;
pub(crate) mod generate;
mod import;
pub(crate) mod models;
mod request;
mod request_checks;
pub(crate) mod show;
