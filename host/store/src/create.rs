//! The store half of `POST /api/create` (Ollama's `server/create.go`).
//!
//! Layers come from an existing model (`from`, each tagged with the parent's
//! name) or from blobs already uploaded (`files`); template, system,
//! license and messages layers are replaced when given, parameters are merged
//! over the parent's. New small layers and the config blob are written first
//! and the manifest last, so the model appears atomically; if anything fails
//! the blobs this call created are removed again. The store never parses
//! GGUF: facts about the weights come from the caller as [`ModelFacts`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::blobs::{BlobWrite, Digest};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::manifest::{
    go_json, ConfigV2, Layer, Manifest, MEDIA_TYPE_ADAPTER, MEDIA_TYPE_CONFIG, MEDIA_TYPE_LICENSE,
    MEDIA_TYPE_MESSAGES, MEDIA_TYPE_MODEL, MEDIA_TYPE_PARAMS, MEDIA_TYPE_PROJECTOR,
    MEDIA_TYPE_PROMPT, MEDIA_TYPE_SYSTEM, MEDIA_TYPE_TEMPLATE,
};
use crate::modelfile::Message;
use crate::name::ModelName;
use crate::options::params_layer_bytes;
use crate::store::Store;

/// An uploaded file that becomes a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// File name from the request's `files` map; must be a relative path.
    pub name: String,
    /// `sha256:<hex>` of a blob already in the store.
    pub digest: String,
    /// Layer media type; the caller classifies GGUFs (model, projector,
    /// adapter) because the store does not read them.
    pub media_type: String,
}

impl SourceFile {
    pub fn model(name: &str, digest: &str) -> SourceFile {
        Self::with_type(name, digest, MEDIA_TYPE_MODEL)
    }
    pub fn projector(name: &str, digest: &str) -> SourceFile {
        Self::with_type(name, digest, MEDIA_TYPE_PROJECTOR)
    }
    pub fn adapter(name: &str, digest: &str) -> SourceFile {
        Self::with_type(name, digest, MEDIA_TYPE_ADAPTER)
    }
    fn with_type(name: &str, digest: &str, media_type: &str) -> SourceFile {
        SourceFile {
            name: name.into(),
            digest: digest.into(),
            media_type: media_type.into(),
        }
    }
}

/// The create request, in store terms.
#[derive(Clone, Debug, Default)]
pub struct CreateRequest {
    /// Target name (`model`, alias `name`).
    pub model: String,
    /// Existing model to build on; also accepts a bare blob digest
    /// (`sha256:<hex>` or `@sha256:<hex>`) naming a GGUF in the store.
    pub from: Option<String>,
    /// Uploaded files, used when `from` is absent.
    pub files: Vec<SourceFile>,
    /// LoRA adapters, appended after the base layers.
    pub adapters: Vec<SourceFile>,
    pub template: Option<String>,
    pub system: Option<String>,
    /// Typed parameters; merged over the parent's params (request wins).
    pub parameters: Option<Map<String, Value>>,
    pub messages: Vec<Message>,
    pub license: Vec<String>,
    pub renderer: Option<String>,
    pub parser: Option<String>,
    pub requires: Option<String>,
}

/// Facts about the weights, extracted from GGUF by the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFacts {
    /// `gguf` or `safetensors`.
    pub format: String,
    /// `general.architecture`.
    pub family: String,
    pub families: Vec<String>,
    /// Human parameter count, e.g. `8.0B`.
    pub parameter_size: String,
    /// Quantisation, e.g. `Q4_K_M`.
    pub file_type: String,
    pub context_length: Option<u64>,
    pub embedding_length: Option<u64>,
    pub capabilities: Vec<String>,
}

/// Knobs that are server policy rather than request content.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// Overrides (non-empty fields) for what the parent's config says; needed
    /// when creating from files.
    pub facts: Option<ModelFacts>,
    /// Keep blobs the replaced manifest used (`OLLAMA_NOPRUNE`).
    pub keep_old_layers: bool,
}

/// Result of a successful create.
#[derive(Clone, Debug)]
pub struct CreateOutcome {
    /// Final name, with on-disk casing.
    pub name: ModelName,
    /// Model digest (hex sha256 of the manifest bytes).
    pub digest: String,
    pub manifest: Manifest,
    /// Blobs of the replaced manifest that nothing references any more.
    pub removed_blobs: Vec<Digest>,
}

/// A layer plus the status line Ollama reports for it.
struct Pending {
    layer: Layer,
    status: String,
}

/// Creates (or replaces) a model. `progress` receives Ollama's status lines:
/// `using existing layer sha256:…`, `creating new layer sha256:…`,
/// `writing manifest`, `success`.
pub fn create_model(
    store: &Store,
    req: &CreateRequest,
    opts: &CreateOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<CreateOutcome> {
    // Same validation order as Ollama's handler: files first, then the name.
    for f in req.files.iter().chain(&req.adapters) {
        if !is_valid_rel_path(&f.name) {
            return Err(Error::FilePathNotRelative);
        }
        Digest::parse(&f.digest)?;
    }
    let name = store.canonical_name(&ModelName::parse(&req.model)?);
    // An unreadable old manifest just means nothing to clean up afterwards
    // (Ollama ignores that error too).
    let old = store.find(&name).ok().flatten();

    let (mut layers, base_config) = base_layers(store, req)?;
    for f in &req.adapters {
        layers.push(existing_layer(store, f, "")?);
    }

    let config = build_config(
        req,
        base_config.as_ref(),
        opts.facts.as_ref(),
        !req.files.is_empty(),
    );

    let mut created: Vec<Digest> = Vec::new();
    let result = write_all(store, req, &name, layers, &config, &mut created, progress);
    let (digest, manifest) = match result {
        Ok(v) => v,
        Err(e) => {
            // Undo: blobs we created are unreferenced unless someone else
            // now uses them; `remove_unreferenced` checks under the lock.
            let created: Vec<String> = created.iter().map(ToString::to_string).collect();
            let _ = store.remove_unreferenced(created.iter().map(String::as_str));
            return Err(e);
        }
    };

    let mut removed_blobs = Vec::new();
    if let (Some(old), false) = (&old, opts.keep_old_layers) {
        let report = store.remove_unreferenced(old.manifest.referenced_digests())?;
        removed_blobs = report.removed_blobs;
    }
    progress("success");
    Ok(CreateOutcome {
        name,
        digest,
        manifest,
        removed_blobs,
    })
}

/// Writes new layers, the config blob and finally the manifest. Records every
/// blob it created in `created` so the caller can roll back.
fn write_all(
    store: &Store,
    req: &CreateRequest,
    name: &ModelName,
    base: Vec<Pending>,
    config: &ConfigV2,
    created: &mut Vec<Digest>,
    progress: &mut dyn FnMut(&str),
) -> Result<(String, Manifest)> {
    let mut layers = base;
    let mut add = |layers: &mut Vec<Pending>, media_type: &str, bytes: &[u8]| -> Result<()> {
        let w = store.blobs().write_bytes(bytes)?;
        if w.created {
            created.push(w.digest.clone());
        }
        layers.push(new_layer(media_type, &w));
        Ok(())
    };

    if let Some(t) = req.template.as_deref().filter(|t| !t.is_empty()) {
        layers.retain(|p| {
            p.layer.media_type != MEDIA_TYPE_TEMPLATE && p.layer.media_type != MEDIA_TYPE_PROMPT
        });
        add(&mut layers, MEDIA_TYPE_TEMPLATE, t.as_bytes())?;
    }
    if let Some(s) = req.system.as_deref().filter(|s| !s.is_empty()) {
        layers.retain(|p| p.layer.media_type != MEDIA_TYPE_SYSTEM);
        add(&mut layers, MEDIA_TYPE_SYSTEM, s.as_bytes())?;
    }
    if !req.license.is_empty() {
        layers.retain(|p| p.layer.media_type != MEDIA_TYPE_LICENSE);
        for l in req.license.iter().filter(|l| !l.is_empty()) {
            add(&mut layers, MEDIA_TYPE_LICENSE, l.as_bytes())?;
        }
    }

    // Parameters: request values over every existing params layer. Like
    // Ollama, the merged map is re-encoded even when the request has none,
    // which reproduces the parent's layer when it was written by Ollama.
    let mut params = req.parameters.clone().unwrap_or_default();
    for p in layers
        .iter()
        .filter(|p| p.layer.media_type == MEDIA_TYPE_PARAMS)
    {
        let existing: Map<String, Value> = store.read_blob_json(&p.layer.digest()?)?;
        for (k, v) in existing {
            params.entry(k).or_insert(v);
        }
    }
    if !params.is_empty() {
        layers.retain(|p| p.layer.media_type != MEDIA_TYPE_PARAMS);
        add(&mut layers, MEDIA_TYPE_PARAMS, &params_layer_bytes(&params))?;
    }

    if !req.messages.is_empty() {
        layers.retain(|p| p.layer.media_type != MEDIA_TYPE_MESSAGES);
        add(
            &mut layers,
            MEDIA_TYPE_MESSAGES,
            &go_json(&req.messages, "encode messages")?,
        )?;
    }

    let cfg = store.blobs().write_bytes(&config.to_bytes()?)?;
    if cfg.created {
        created.push(cfg.digest.clone());
    }

    for p in &layers {
        progress(&p.status);
    }
    let manifest = Manifest::new(
        Layer::new(MEDIA_TYPE_CONFIG, &cfg.digest, cfg.size),
        layers.into_iter().map(|p| p.layer).collect(),
    );
    progress("writing manifest");
    fsutil::fail_point("create.manifest").ctx("write manifest", store.manifests_dir())?;
    let digest = store.write_manifest(name, &manifest)?;
    Ok((digest, manifest))
}

/// Base layers and the parent's config (when building on a model).
fn base_layers(store: &Store, req: &CreateRequest) -> Result<(Vec<Pending>, Option<ConfigV2>)> {
    if let Some(from) = req.from.as_deref().filter(|f| !f.is_empty()) {
        let bare = from.strip_prefix('@').unwrap_or(from);
        if let Ok(d) = Digest::parse(bare) {
            let f = SourceFile::model("", &d.to_string());
            return Ok((vec![existing_layer(store, &f, "")?], None));
        }
        let parent = store.get(&ModelName::parse(from)?)?;
        let parent_name = parent.name.display_shortest();
        let mut out = Vec::with_capacity(parent.manifest.layers.len());
        for l in &parent.manifest.layers {
            let d = l.digest()?;
            let size = store.blobs().size(&d)?;
            let layer = Layer {
                media_type: l.media_type.clone(),
                digest: d.to_string(),
                size,
                from: parent_name.clone(),
                name: l.name.clone(),
                extra: Map::new(),
            };
            out.push(Pending {
                layer,
                status: format!("using existing layer {d}"),
            });
        }
        // An unreadable parent config only loses inherited facts, as in
        // Ollama, which ignores decode errors here.
        let config = store.read_config(&parent.manifest).ok();
        return Ok((out, config));
    }
    if !req.files.is_empty() {
        let layers = req
            .files
            .iter()
            .map(|f| existing_layer(store, f, ""))
            .collect::<Result<Vec<_>>>()?;
        return Ok((layers, None));
    }
    Err(Error::NeitherFromNorFiles)
}

fn existing_layer(store: &Store, f: &SourceFile, from: &str) -> Result<Pending> {
    let d = Digest::parse(&f.digest)?;
    let size = store.blobs().size(&d)?;
    let mut layer = Layer::new(&f.media_type, &d, size);
    layer.from = from.to_string();
    Ok(Pending {
        layer,
        status: format!("using existing layer {d}"),
    })
}

fn new_layer(media_type: &str, w: &BlobWrite) -> Pending {
    let verb = if w.created {
        "creating new layer"
    } else {
        "using existing layer"
    };
    Pending {
        layer: Layer::new(media_type, &w.digest, w.size),
        status: format!("{verb} {}", w.digest),
    }
}

fn build_config(
    req: &CreateRequest,
    base: Option<&ConfigV2>,
    facts: Option<&ModelFacts>,
    from_files: bool,
) -> ConfigV2 {
    let mut c = ConfigV2::default();
    if let Some(b) = base {
        c.model_format = b.model_format.clone();
        c.model_family = b.model_family.clone();
        c.model_families = b.model_families.clone();
        c.model_type = b.model_type.clone();
        c.file_type = b.file_type.clone();
        c.capabilities = b.capabilities.clone();
        c.context_length = b.context_length;
        c.embedding_length = b.embedding_length;
        c.renderer = b.renderer.clone();
        c.parser = b.parser.clone();
        c.requires = b.requires.clone();
        // The draft layer is inherited with the others, so its facts are too.
        c.draft = b.draft.clone();
    } else if from_files {
        c.model_format = "gguf".into();
    }
    if let Some(f) = facts {
        set_if(&mut c.model_format, &f.format);
        set_if(&mut c.model_family, &f.family);
        set_if(&mut c.model_type, &f.parameter_size);
        set_if(&mut c.file_type, &f.file_type);
        if !f.families.is_empty() {
            c.model_families = f.families.clone();
        }
        if !f.capabilities.is_empty() {
            c.capabilities = f.capabilities.clone();
        }
        c.context_length = f.context_length.unwrap_or(c.context_length);
        c.embedding_length = f.embedding_length.unwrap_or(c.embedding_length);
    }
    if c.model_families.is_empty() && !c.model_family.is_empty() {
        c.model_families = vec![c.model_family.clone()];
    }
    for (dst, src) in [
        (&mut c.renderer, &req.renderer),
        (&mut c.parser, &req.parser),
        (&mut c.requires, &req.requires),
    ] {
        if let Some(v) = src {
            set_if(dst, v);
        }
    }
    c
}

fn set_if(dst: &mut String, v: &str) {
    if !v.is_empty() {
        *dst = v.to_string();
    }
}

/// Go's `fs.ValidPath`: unrooted, `/`-separated, no empty, `.` or `..`
/// elements (except the whole path being `.`).
pub fn is_valid_rel_path(p: &str) -> bool {
    if p == "." {
        return true;
    }
    !p.is_empty() && p.split('/').all(|e| !e.is_empty() && e != "." && e != "..")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::{arm_fail_point, testutil::snapshot};
    use serde_json::json;

    fn setup() -> (tempfile::TempDir, Store, Digest) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let gguf = store
            .blobs()
            .write_bytes(b"GGUF fake weights")
            .unwrap()
            .digest;
        (dir, store, gguf)
    }

    fn facts() -> ModelFacts {
        ModelFacts {
            format: "gguf".into(),
            family: "llama".into(),
            parameter_size: "134.52M".into(),
            file_type: "Q8_0".into(),
            context_length: Some(8192),
            ..Default::default()
        }
    }

    fn run(
        store: &Store,
        req: &CreateRequest,
        opts: &CreateOptions,
    ) -> (Result<CreateOutcome>, Vec<String>) {
        let mut log = Vec::new();
        let r = create_model(store, req, opts, &mut |s| log.push(s.to_string()));
        (r, log)
    }

    fn base_request(gguf: &Digest) -> CreateRequest {
        CreateRequest {
            model: "base:1".into(),
            files: vec![SourceFile::model("model.gguf", &gguf.to_string())],
            template: Some("{{ .Prompt }}".into()),
            system: Some("be brief".into()),
            parameters: Some(
                json!({"stop": ["<|eot_id|>"], "temperature": 0.7})
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
            license: vec!["MIT".into()],
            ..Default::default()
        }
    }

    fn media(m: &Manifest) -> Vec<&str> {
        m.layers.iter().map(|l| l.media_type.as_str()).collect()
    }

    #[test]
    fn create_from_files() {
        let (_dir, store, gguf) = setup();
        let opts = CreateOptions {
            facts: Some(facts()),
            ..Default::default()
        };
        let (r, log) = run(&store, &base_request(&gguf), &opts);
        let out = r.unwrap();
        assert_eq!(out.name.display_shortest(), "base:1");
        assert_eq!(
            media(&out.manifest),
            [
                MEDIA_TYPE_MODEL,
                MEDIA_TYPE_TEMPLATE,
                MEDIA_TYPE_SYSTEM,
                MEDIA_TYPE_LICENSE,
                MEDIA_TYPE_PARAMS
            ]
        );
        assert_eq!(log[0], format!("using existing layer {gguf}"));
        assert!(log[1].starts_with("creating new layer sha256:"));
        assert_eq!(&log[log.len() - 2..], ["writing manifest", "success"]);
        assert_eq!(log.len(), 5 + 2);

        let entry = store.get(&ModelName::parse("base:1").unwrap()).unwrap();
        assert_eq!(entry.digest, out.digest);
        let cfg = store.read_config(&entry.manifest).unwrap();
        assert_eq!(
            (cfg.model_family.as_str(), cfg.model_type.as_str()),
            ("llama", "134.52M")
        );
        assert_eq!(cfg.model_families, ["llama"]);
        assert_eq!(cfg.context_length, 8192);
        let params = &entry.manifest.layers[4];
        assert_eq!(
            store.read_blob_string(&params.digest().unwrap()).unwrap(),
            "{\"stop\":[\"\\u003c|eot_id|\\u003e\"],\"temperature\":0.7}\n"
        );
        // Same create again: every layer exists already.
        let (r, log) = run(&store, &base_request(&gguf), &opts);
        assert_eq!(r.unwrap().digest, out.digest);
        assert!(log.iter().all(|l| !l.starts_with("creating")), "{log:?}");
    }

    #[test]
    fn create_from_model_inherits_and_merges() {
        let (_dir, store, gguf) = setup();
        let opts = CreateOptions {
            facts: Some(facts()),
            ..Default::default()
        };
        run(&store, &base_request(&gguf), &opts).0.unwrap();

        let req = CreateRequest {
            model: "me/child".into(),
            from: Some("BASE:1".into()),
            system: Some("be verbose".into()),
            parameters: Some(
                json!({"temperature": 0.2, "top_k": 10})
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
            messages: vec![Message::new("user", "hi")],
            ..Default::default()
        };
        let (r, log) = run(&store, &req, &CreateOptions::default());
        let out = r.unwrap();
        let m = &out.manifest;
        assert_eq!(
            media(m),
            [
                MEDIA_TYPE_MODEL,
                MEDIA_TYPE_TEMPLATE,
                MEDIA_TYPE_LICENSE,
                MEDIA_TYPE_SYSTEM,
                MEDIA_TYPE_PARAMS,
                MEDIA_TYPE_MESSAGES
            ]
        );
        // Inherited layers carry the parent's display name.
        assert_eq!(m.layers[0].from, "base:1");
        assert_eq!(m.layers[3].from, "");
        assert_eq!(log[0], format!("using existing layer {gguf}"));
        let params: Value = store
            .read_blob_json(&m.layers[4].digest().unwrap())
            .unwrap();
        assert_eq!(
            params,
            json!({"stop": ["<|eot_id|>"], "temperature": 0.2, "top_k": 10})
        );
        let msgs: Vec<Message> = store
            .read_blob_json(&m.layers[5].digest().unwrap())
            .unwrap();
        assert_eq!(msgs, [Message::new("user", "hi")]);
        let system = store
            .read_blob_string(&m.layers[3].digest().unwrap())
            .unwrap();
        assert_eq!(system, "be verbose");
        // Config facts came from the parent.
        let cfg = store.read_config(m).unwrap();
        assert_eq!(cfg.file_type, "Q8_0");
        // The parent is untouched.
        let parent = store.get(&ModelName::parse("base:1").unwrap()).unwrap();
        assert_eq!(parent.manifest.layers.len(), 5);
    }

    #[test]
    fn replacing_a_model_prunes_its_orphans() {
        let (_dir, store, gguf) = setup();
        let opts = CreateOptions {
            facts: Some(facts()),
            ..Default::default()
        };
        let first = run(&store, &base_request(&gguf), &opts).0.unwrap();
        let old_system = first.manifest.layers[2].digest().unwrap();

        let mut req = base_request(&gguf);
        req.system = Some("a new system prompt".into());
        let second = run(&store, &req, &opts).0.unwrap();
        assert_eq!(second.removed_blobs, vec![old_system.clone()]);
        assert!(!store.has_blob(&old_system));
        assert!(store.has_blob(&gguf));

        // With keep_old_layers the replaced blob stays.
        req.system = Some("third".into());
        let keep = CreateOptions {
            keep_old_layers: true,
            ..opts
        };
        let third = run(&store, &req, &keep).0.unwrap();
        assert!(third.removed_blobs.is_empty());
        assert!(store.has_blob(&second.manifest.layers[2].digest().unwrap()));
    }

    #[test]
    fn from_digest() {
        let (_dir, store, gguf) = setup();
        let req = CreateRequest {
            model: "raw".into(),
            from: Some(format!("@{gguf}")),
            ..Default::default()
        };
        let out = run(&store, &req, &CreateOptions::default()).0.unwrap();
        assert_eq!(media(&out.manifest), [MEDIA_TYPE_MODEL]);
        assert_eq!(out.manifest.layers[0].digest, gguf.to_string());
    }

    #[test]
    fn errors_match_ollama() {
        let (_dir, store, gguf) = setup();
        let opts = CreateOptions::default();
        let err = |req: CreateRequest| run(&store, &req, &opts).0.unwrap_err().to_string();

        assert_eq!(
            err(CreateRequest {
                model: "x".into(),
                ..Default::default()
            }),
            "neither 'from' or 'files' was specified"
        );
        assert_eq!(
            err(CreateRequest {
                model: "a/".into(),
                from: Some("x".into()),
                ..Default::default()
            }),
            "invalid model name"
        );
        assert_eq!(
            err(CreateRequest {
                model: "x".into(),
                from: Some(":bad".into()),
                ..Default::default()
            }),
            "invalid model name"
        );
        for bad_path in ["/abs.gguf", "../up.gguf", "a//b", "./x", ""] {
            let req = CreateRequest {
                model: "x".into(),
                files: vec![SourceFile::model(bad_path, &gguf.to_string())],
                ..Default::default()
            };
            assert_eq!(err(req), "file path must be relative", "{bad_path:?}");
        }
        for bad_digest in ["", "sha256:1234"] {
            let req = CreateRequest {
                model: "x".into(),
                files: vec![SourceFile::model("m.gguf", bad_digest)],
                ..Default::default()
            };
            assert_eq!(err(req), "invalid digest format");
        }
        let missing = format!("sha256:{}", "d".repeat(64));
        let req = CreateRequest {
            model: "x".into(),
            files: vec![SourceFile::model("m.gguf", &missing)],
            ..Default::default()
        };
        assert_eq!(err(req), format!("blob \"{missing}\" not found"));
        let req = CreateRequest {
            model: "x".into(),
            from: Some("nothere".into()),
            ..Default::default()
        };
        assert_eq!(err(req), "model 'nothere:latest' not found");
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn failure_before_manifest_leaves_store_unchanged() {
        let (dir, store, gguf) = setup();
        let opts = CreateOptions {
            facts: Some(facts()),
            ..Default::default()
        };
        let before = snapshot(dir.path());
        arm_fail_point("create.manifest");
        let (r, log) = run(&store, &base_request(&gguf), &opts);
        assert!(r.is_err());
        assert!(!log.contains(&"success".to_string()));
        assert_eq!(snapshot(dir.path()), before);

        // Failure while publishing the manifest itself (after all blobs and
        // the config were written) also rolls back, including over an
        // existing model of the same name.
        run(&store, &base_request(&gguf), &opts).0.unwrap();
        let before = snapshot(dir.path());
        let mut req = base_request(&gguf);
        req.system = Some("changed".into());
        req.messages = vec![Message::new("user", "x")];
        arm_fail_point("manifest.write");
        assert!(run(&store, &req, &opts).0.is_err());
        assert_eq!(snapshot(dir.path()), before);
        // Failure while writing one of the new blobs.
        arm_fail_point("persist");
        assert!(run(&store, &req, &opts).0.is_err());
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn rel_paths() {
        for ok in [".", "a", "a/b.gguf", "dir/sub/file", "a\\b"] {
            assert!(is_valid_rel_path(ok), "{ok}");
        }
        for bad in ["", "/a", "a/", "a/../b", "./a", "a/./b", ".."] {
            assert!(!is_valid_rel_path(bad), "{bad}");
        }
    }
}
