//! What a model can do, as `/api/show` and `/api/tags` list it (Ollama's `capabilities`): an
//! embedding model's stored list as it is; otherwise `completion`, plus `tools` and
//! `thinking` when the template supports them, which the guest decides from the Modelfile's
//! TEMPLATE or the GGUF's chat template.
//!
//! `/api/tags` lists every model, and knowing a chat model's template features means opening
//! its GGUF in the guest (the header, tokenizer and template are parsed; no engine, no
//! weights). So the lists are kept per manifest digest, which names the GGUF, the TEMPLATE
//! and the config together: each model is read once, and a changed model has a new digest.

use std::collections::HashMap;
use std::sync::Mutex;

use wollama_runtime::{Runtime, TemplateFeatures};
use wollama_store::manifest::{MEDIA_TYPE_MODEL, MEDIA_TYPE_TEMPLATE};
use wollama_store::{Digest, ModelEntry, Store};

use crate::pipeline::resolve::layer_text;

/// The capabilities from the stored ones and the template's features (None: unknown).
pub fn of(stored: &[String], f: Option<&TemplateFeatures>) -> Vec<String> {
    if stored.iter().any(|c| c == "embedding") {
        return stored.to_vec();
    }
    let mut caps = vec!["completion".to_string()];
    if f.is_some_and(|f| f.tools) {
        caps.push("tools".into());
    }
    if f.is_some_and(|f| f.thinking) {
        caps.push("thinking".into());
    }
    caps
}

/// What reading one model needs, taken from the store before the blocking work.
struct Pending {
    digest: String,
    stored: Vec<String>,
    gguf: Option<std::path::PathBuf>,
    template: Option<String>,
}

/// Capabilities by manifest digest; None where the model's GGUF could not be read.
#[derive(Default)]
pub struct Cache {
    by_digest: Mutex<HashMap<String, Option<Vec<String>>>>,
}

impl Cache {
    /// The capabilities of each entry, in order (None: unreadable, the field is left out).
    /// Models not seen before are read in one blocking task; the
    /// cache keeps only the models listed now.
    pub async fn list(&self, store: &Store, entries: &[ModelEntry]) -> Vec<Option<Vec<String>>> {
        let pending: Vec<Pending> = {
            let known = self.by_digest.lock().unwrap();
            entries.iter().filter(|e| !known.contains_key(&e.digest)).map(|e| pending(store, e)).collect()
        };
        let read = if pending.is_empty() {
            Vec::new()
        } else {
            tokio::task::spawn_blocking(move || read_all(pending)).await.unwrap_or_default()
        };
        let mut known = self.by_digest.lock().unwrap();
        known.extend(read);
        known.retain(|d, _| entries.iter().any(|e| &e.digest == d));
        entries.iter().map(|e| known.get(&e.digest).cloned().flatten()).collect()
    }
}

fn pending(store: &Store, e: &ModelEntry) -> Pending {
    let stored = store.read_config(&e.manifest).map(|c| c.capabilities).unwrap_or_default();
    let gguf = e.manifest.layers_of(MEDIA_TYPE_MODEL).next().and_then(|l| Digest::parse(&l.digest).ok()).map(|d| store.blob_path(&d));
    Pending { digest: e.digest.clone(), stored, gguf, template: layer_text(store, &e.manifest, MEDIA_TYPE_TEMPLATE).pop() }
}

/// Reads every pending model: an embedding model from its config alone, a chat model's
/// template features through the guest.
fn read_all(pending: Vec<Pending>) -> Vec<(String, Option<Vec<String>>)> {
    pending
        .into_iter()
        .map(|p| {
            if p.stored.iter().any(|c| c == "embedding") {
                return (p.digest, Some(of(&p.stored, None)));
            }
            let features = (|| {
                let gguf = p.gguf.as_ref()?;
                let rt = Runtime::shared().map_err(|e| tracing::debug!("capabilities: {e}")).ok()?;
                let mut s = rt.open(gguf, 1).map_err(|e| tracing::debug!(gguf = %gguf.display(), "capabilities: {e}")).ok()?;
                Some(s.template_features(p.template.as_deref()).ok())
            })();
            (p.digest, features.map(|f| of(&p.stored, f.as_ref())))
        })
        .collect()
}
