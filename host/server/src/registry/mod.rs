//! Models between machines over the registry protocol Ollama uses (the Docker Registry v2
//! subset of manifests and blobs): `/api/pull` and `/api/push` as a client of the registry
//! the model name points at, and the registry side `wollama serve` offers from its own store.
//!
//! | module | what |
//! |---|---|
//! | [`remote`] | the registry client: manifest, ranged blob reads, uploads |
//! | [`auth`] | bearer-token challenges, answered with a request signed by `~/.ollama/id_ed25519` |
//! | [`download`] | one blob's parallel, retried, resumable ranged download |
//! | [`pull`] | `/api/pull`: download all, verify all, then register |
//! | [`push`] | `/api/push`: upload what the registry lacks, then the manifest |
//! | [`progress`] | Ollama's progress lines, streamed or the last one |
//! | [`serve`] | `/v2/…`: manifests, blobs with ranges, uploads |

pub mod auth;
pub mod download;
pub mod progress;
pub mod pull;
pub mod push;
pub mod remote;
pub mod serve;
