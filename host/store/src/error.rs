//! The store's error type.
//!
//! Display strings deliberately match Ollama's wording where Ollama has one,
//! because the HTTP layer forwards them verbatim as `{"error": "..."}` bodies
//! and clients (and Ollama's own tests) compare them textually.

use std::io;
use std::path::{Path, PathBuf};

/// Errors raised by the blob store, the manifest store and `create`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model name failed [`crate::ModelName`] validation.
    #[error("invalid model name")]
    InvalidName,

    /// A digest string is not `sha256:<64 hex>` / `sha256-<64 hex>`.
    #[error("invalid digest format")]
    InvalidDigest,

    /// Uploaded or imported bytes did not hash to the announced digest.
    #[error("digest mismatch, expected \"{expected}\", got \"{got}\"")]
    DigestMismatch { expected: String, got: String },

    /// A downloaded blob did not hash to its digest; its bytes were removed (Ollama's text).
    #[error("digest mismatch, file must be downloaded again: want {want}, got {got}")]
    DownloadDigestMismatch { want: String, got: String },

    /// No manifest exists for the model (Ollama: 404 `model 'x' not found`).
    #[error("model '{0}' not found")]
    ModelNotFound(String),

    /// A blob a caller asked for is absent (Ollama: `blob "sha256:…" not found`).
    #[error("blob \"{0}\" not found")]
    BlobNotFound(String),

    /// A manifest or config blob could not be decoded.
    #[error("{context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },

    /// `/api/create` without `from` and without `files`.
    #[error("neither 'from' or 'files' was specified")]
    NeitherFromNorFiles,

    /// A `files` key of `/api/create` is absolute or escapes its directory.
    #[error("file path must be relative")]
    FilePathNotRelative,

    /// Filesystem failure, with the operation and path that failed.
    #[error("{op} {path}: {source}", path = .path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True for "the thing asked for does not exist" errors, which the HTTP
    /// layer maps to 404 rather than 500.
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::ModelNotFound(_) | Error::BlobNotFound(_) => true,
            Error::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            _ => false,
        }
    }
}

/// Attaches an operation name and path to `io::Error`s, Go-style
/// (`open /x/y: No such file or directory`).
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}
