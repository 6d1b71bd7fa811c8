//! # wollama-store
//!
//! The model store of wollama, a Rust reimplementation of the Ollama server.
//! It reads and writes the same on-disk layout as Ollama
//! (`$OLLAMA_MODELS/manifests/<host>/<ns>/<model>/<tag>` and
//! `$OLLAMA_MODELS/blobs/sha256-<hex>`), so models pulled or created by
//! either program are usable by the other.
//!
//! | module | what |
//! |---|---|
//! | [`name`] | [`ModelName`] parsing/display exactly as Ollama's `types/model` |
//! | [`manifest`] | Docker v2 [`Manifest`], [`Layer`], [`ConfigV2`], media types |
//! | [`blobs`] | [`Digest`] and the content-addressed [`Blobs`] directory |
//! | [`store`] | [`Store`]: list/get/write/copy/delete/prune manifests |
//! | [`modelfile`] | the Modelfile grammar and its rendering |
//! | [`options`] | typed [`Options`] with Go's decoding rules and the params layer |
//! | [`create`] | the store half of `/api/create` |
//! | [`partial`] | resumable, verified partial downloads (pull) |
//!
//! Every write goes through a temp file and a rename, and a failed operation
//! removes what it created, so the store is never left half-written. Error
//! texts match Ollama's, because the HTTP layer returns them verbatim.
//!
//! ```no_run
//! use wollama_store::{ModelName, Store};
//! let store = Store::open(Store::default_root())?;
//! for m in store.list()? {
//!     println!("{} {} {}", m.name.display_shortest(), &m.digest[..12], m.size);
//! }
//! let entry = store.get(&ModelName::parse("smollm2:135m")?)?;
//! let config = store.read_config(&entry.manifest)?;
//! # Ok::<(), wollama_store::Error>(())
//! ```

pub mod blobs;
pub mod create;
mod error;
mod fsutil;
pub mod manifest;
pub mod modelfile;
pub mod name;
pub mod options;
pub mod partial;
pub mod store;

pub use blobs::{BlobWrite, Blobs, Digest};
pub use create::{
    create_model, CreateOptions, CreateOutcome, CreateRequest, ModelFacts, SourceFile,
};
pub use error::{Error, Result};
pub use manifest::{manifest_digest, ConfigV2, DraftConfig, Layer, Manifest};
pub use modelfile::{Command, Message, Modelfile, ModelfileError, ModelfileRequest, ShowModelfile};
pub use name::ModelName;
pub use options::{OptionError, Options, Parsed as ParsedOptions};
pub use store::{DeleteReport, ModelEntry, PruneReport, Store};
