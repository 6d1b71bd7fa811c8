//! Docker distribution v2 manifests and the model config blob (`ConfigV2`).
//!
//! Ollama stores manifests byte-for-byte as pulled and defines the model's
//! digest/ID as the sha256 of those file bytes, so reading never re-encodes:
//! callers keep the original bytes next to the parsed [`Manifest`]. Unknown
//! fields are kept in `extra` maps so a manifest or config we rewrite (copy,
//! create from) loses nothing a registry put there (`rootfs`, annotations…).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::blobs::Digest;
use crate::error::{Error, Result};

/// `mediaType` of the manifest itself.
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Config blob (ConfigV2 JSON).
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// GGUF weights.
pub const MEDIA_TYPE_MODEL: &str = "application/vnd.ollama.image.model";
/// Multimodal projector (mmproj GGUF).
pub const MEDIA_TYPE_PROJECTOR: &str = "application/vnd.ollama.image.projector";
/// LoRA adapter.
pub const MEDIA_TYPE_ADAPTER: &str = "application/vnd.ollama.image.adapter";
/// Go chat template text.
pub const MEDIA_TYPE_TEMPLATE: &str = "application/vnd.ollama.image.template";
/// Legacy name for the template layer.
pub const MEDIA_TYPE_PROMPT: &str = "application/vnd.ollama.image.prompt";
/// System prompt text.
pub const MEDIA_TYPE_SYSTEM: &str = "application/vnd.ollama.image.system";
/// Default options (JSON map).
pub const MEDIA_TYPE_PARAMS: &str = "application/vnd.ollama.image.params";
/// Seed conversation (JSON array of messages).
pub const MEDIA_TYPE_MESSAGES: &str = "application/vnd.ollama.image.messages";
/// One license text per layer.
pub const MEDIA_TYPE_LICENSE: &str = "application/vnd.ollama.image.license";
/// Speculative-decoding draft model.
pub const MEDIA_TYPE_DRAFT: &str = "application/vnd.ollama.image.draft";
/// Safetensors/MLX tensor (with `name`).
pub const MEDIA_TYPE_TENSOR: &str = "application/vnd.ollama.image.tensor";
/// Auxiliary JSON config file (with `name`).
pub const MEDIA_TYPE_JSON: &str = "application/vnd.ollama.image.json";
/// Obsolete embeddings layer; ignored.
pub const MEDIA_TYPE_EMBED: &str = "application/vnd.ollama.image.embed";

/// A manifest layer (also used for the config descriptor).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Layer {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Kept as text: a manifest with an odd digest still lists and deletes;
    /// use [`Layer::digest`] to get a validated [`Digest`].
    pub digest: String,
    pub size: u64,
    /// Display name of the model this layer was inherited from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// Tensor or file name, for `.tensor`/`.json` layers.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Layer {
    pub fn new(media_type: &str, digest: &Digest, size: u64) -> Layer {
        Layer {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            ..Default::default()
        }
    }

    /// The validated digest (`invalid digest format` otherwise).
    pub fn digest(&self) -> Result<Digest> {
        Digest::parse(&self.digest)
    }
}

/// A Docker v2 image manifest as Ollama writes and pulls it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: i64,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub config: Layer,
    #[serde(default, deserialize_with = "null_as_default")]
    pub layers: Vec<Layer>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Manifest {
    /// A schema-2 manifest with the standard media type.
    pub fn new(config: Layer, layers: Vec<Layer>) -> Manifest {
        Manifest {
            schema_version: 2,
            media_type: MEDIA_TYPE_MANIFEST.to_string(),
            config,
            layers,
            extra: Map::new(),
        }
    }

    /// Parses manifest file bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Manifest> {
        serde_json::from_slice(bytes).map_err(|source| Error::Json {
            context: "decode manifest".into(),
            source,
        })
    }

    /// Encodes as Go's `json.Encoder` does for Ollama's own manifests:
    /// compact JSON followed by a newline.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        go_json(self, "encode manifest")
    }

    /// Model size as `/api/tags` reports it: config plus all layers.
    pub fn size(&self) -> u64 {
        self.all_layers().map(|l| l.size).sum()
    }

    /// The config descriptor followed by every layer.
    pub fn all_layers(&self) -> impl Iterator<Item = &Layer> {
        std::iter::once(&self.config).chain(self.layers.iter())
    }

    /// Layers with the given media type, in manifest order.
    pub fn layers_of<'a>(&'a self, media_type: &'a str) -> impl Iterator<Item = &'a Layer> + 'a {
        self.layers
            .iter()
            .filter(move |l| l.media_type == media_type)
    }

    /// Every digest string this manifest references (config included),
    /// skipping empty ones.
    pub fn referenced_digests(&self) -> impl Iterator<Item = &str> {
        self.all_layers()
            .map(|l| l.digest.as_str())
            .filter(|d| !d.is_empty())
    }
}

/// The model's ID: hex sha256 of the manifest file bytes (no prefix).
pub fn manifest_digest(bytes: &[u8]) -> String {
    Digest::of_bytes(bytes).hex().to_string()
}

/// Draft-model facts stored in the config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DraftConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model_format: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tensor_prefix: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config: String,
}

/// Ollama's `model.ConfigV2`, the JSON of the config blob.
///
/// The five descriptive fields are always written (Go has no `omitempty` on
/// them; `model_families` is `null` when empty); the rest are omitted when
/// empty. `architecture`/`os` default to `amd64`/`linux` as Ollama writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigV2 {
    #[serde(default, deserialize_with = "null_as_default")]
    pub model_format: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub model_family: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        serialize_with = "empty_as_null"
    )]
    pub model_families: Vec<String>,
    /// Shown as "parameter size", e.g. `8.0B`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub model_type: String,
    /// Shown as "quantization level", e.g. `Q4_K_M`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub file_type: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub renderer: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub parser: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub requires: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub remote_host: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub remote_model: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub capabilities: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "is_zero",
        deserialize_with = "null_as_default"
    )]
    pub context_length: u64,
    #[serde(
        default,
        skip_serializing_if = "is_zero",
        deserialize_with = "null_as_default"
    )]
    pub embedding_length: u64,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub base_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<DraftConfig>,
    #[serde(default = "default_arch", deserialize_with = "null_as_default")]
    pub architecture: String,
    #[serde(default = "default_os", deserialize_with = "null_as_default")]
    pub os: String,
    /// Anything else (registry configs carry `rootfs`, for instance).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for ConfigV2 {
    fn default() -> Self {
        ConfigV2 {
            model_format: String::new(),
            model_family: String::new(),
            model_families: Vec::new(),
            model_type: String::new(),
            file_type: String::new(),
            renderer: String::new(),
            parser: String::new(),
            requires: String::new(),
            remote_host: String::new(),
            remote_model: String::new(),
            capabilities: Vec::new(),
            context_length: 0,
            embedding_length: 0,
            base_name: String::new(),
            draft: None,
            architecture: default_arch(),
            os: default_os(),
            extra: Map::new(),
        }
    }
}

impl ConfigV2 {
    pub fn from_slice(bytes: &[u8]) -> Result<ConfigV2> {
        serde_json::from_slice(bytes).map_err(|source| Error::Json {
            context: "decode model config".into(),
            source,
        })
    }

    /// Compact JSON plus newline, like Go's `json.Encoder`.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        go_json(self, "encode model config")
    }
}

/// Serialises like Go's `json.Encoder` with default settings: compact, a
/// trailing newline, and `<`, `>`, `&`, U+2028, U+2029 escaped as `\uXXXX`.
/// Matching Go byte for byte means a layer we create from the same inputs as
/// Ollama gets the same digest, so the two stores share blobs.
pub(crate) fn go_json<T: Serialize + ?Sized>(value: &T, context: &str) -> Result<Vec<u8>> {
    let raw = serde_json::to_vec(value).map_err(|source| Error::Json {
        context: context.into(),
        source,
    })?;
    Ok(go_escape(&raw))
}

/// The Go-specific half of [`go_json`], applied to serde_json output: HTML
/// escaping plus the trailing newline. Escaping the raw bytes is safe because
/// these characters can only occur inside JSON strings.
pub(crate) fn go_escape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 1);
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            0xE2 if raw.get(i + 1) == Some(&0x80)
                && matches!(raw.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                out.extend_from_slice(if raw[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out.push(b'\n');
    out
}

fn default_arch() -> String {
    "amd64".into()
}

fn default_os() -> String {
    "linux".into()
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Go decodes JSON `null` into a zero value; serde would reject it.
fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn empty_as_null<S: Serializer>(v: &[String], s: S) -> std::result::Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // registry.ollama.ai/library/gemma:2b exactly as Ollama 0.1.48 stored it
    // (quoted in public course notes).
    const REAL: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:887433b89a901c156f7e6944442f3c9e57f3c55d6ed52042cbb7303aea994290","size":483},"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:c1864a5eb19305c40519da12cc543519e48a0697ecd30e15d5ac228644957d12","size":1678447520},{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:097a36493f718248845233af1d3fefe7a303f864fae13bc31a3a9704229378ca","size":8433},{"mediaType":"application/vnd.ollama.image.template","digest":"sha256:109037bec39c0becc8221222ae23557559bc594290945a2c4221ab4f303b8871","size":136},{"mediaType":"application/vnd.ollama.image.params","digest":"sha256:22a838ceb7fb22755a3b0ae9b4eadde629d19be1f651f73efb8c6b4e2cd0eea0","size":84}]}"#;

    #[test]
    fn parses_real_manifest() {
        let m = Manifest::from_slice(REAL.as_bytes()).unwrap();
        assert_eq!(m.schema_version, 2);
        assert_eq!(m.media_type, MEDIA_TYPE_MANIFEST);
        assert_eq!(m.config.media_type, MEDIA_TYPE_CONFIG);
        assert_eq!(m.layers.len(), 4);
        assert_eq!(m.size(), 483 + 1678447520 + 8433 + 136 + 84);
        assert_eq!(m.layers_of(MEDIA_TYPE_MODEL).count(), 1);
        assert_eq!(m.referenced_digests().count(), 5);
        for l in m.all_layers() {
            assert!(l.digest().is_ok());
        }
        // No `from`/`name` keys appear when re-encoded, so Ollama's own
        // encoding of this manifest is reproduced exactly.
        assert_eq!(m.to_bytes().unwrap(), format!("{REAL}\n").into_bytes());
        assert_eq!(
            manifest_digest(REAL.as_bytes()),
            Digest::of_bytes(REAL.as_bytes()).hex()
        );
    }

    #[test]
    fn layer_optional_and_unknown_fields() {
        let j = r#"{"schemaVersion":2,"mediaType":"x","config":{"mediaType":"c","digest":"d","size":1},
            "layers":[{"mediaType":"application/vnd.ollama.image.tensor","digest":"d2","size":2,"from":"m:t","name":"w.weight","annotations":{"a":"b"}}],
            "annotations":{"k":"v"}}"#;
        let m = Manifest::from_slice(j.as_bytes()).unwrap();
        assert_eq!(m.layers[0].from, "m:t");
        assert_eq!(m.layers[0].name, "w.weight");
        assert!(m.layers[0].extra.contains_key("annotations"));
        assert!(m.extra.contains_key("annotations"));
        let again = Manifest::from_slice(&m.to_bytes().unwrap()).unwrap();
        assert_eq!(again, m);
        assert!(m.layers[0].digest().is_err());
        assert!(Manifest::from_slice(b"{").is_err());
        assert!(
            Manifest::from_slice(br#"{"schemaVersion":2}"#).is_err(),
            "config is required"
        );
        // Go tolerates `"layers": null`.
        let n = Manifest::from_slice(br#"{"schemaVersion":2,"config":{"mediaType":"c","digest":"d","size":1},"layers":null}"#).unwrap();
        assert!(n.layers.is_empty());
    }

    #[test]
    fn config_roundtrip_and_omission() {
        let c = ConfigV2 {
            model_format: "gguf".into(),
            model_family: "llama".into(),
            model_families: vec!["llama".into()],
            model_type: "134.52M".into(),
            file_type: "Q8_0".into(),
            ..Default::default()
        };
        let s = String::from_utf8(c.to_bytes().unwrap()).unwrap();
        assert_eq!(
            s,
            "{\"model_format\":\"gguf\",\"model_family\":\"llama\",\"model_families\":[\"llama\"],\"model_type\":\"134.52M\",\"file_type\":\"Q8_0\",\"architecture\":\"amd64\",\"os\":\"linux\"}\n"
        );
        let empty = String::from_utf8(ConfigV2::default().to_bytes().unwrap()).unwrap();
        assert!(empty.contains("\"model_families\":null"), "{empty}");
        assert!(!empty.contains("capabilities") && !empty.contains("context_length"));

        let full = ConfigV2 {
            capabilities: vec!["completion".into(), "tools".into()],
            context_length: 8192,
            embedding_length: 576,
            renderer: "r".into(),
            ..c.clone()
        };
        let back = ConfigV2::from_slice(&full.to_bytes().unwrap()).unwrap();
        assert_eq!(back, full);
    }

    #[test]
    fn go_style_escaping() {
        let v = serde_json::json!({"stop": ["<|eot_id|>", "a&b", "x\u{2028}y"]});
        let out = String::from_utf8(go_json(&v, "t").unwrap()).unwrap();
        assert_eq!(
            out,
            "{\"stop\":[\"\\u003c|eot_id|\\u003e\",\"a\\u0026b\",\"x\\u2028y\"]}\n"
        );
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn config_from_registry_keeps_unknown_fields() {
        let j = br#"{"model_format":"gguf","model_family":"llama","model_families":null,"model_type":"3.2B","file_type":"Q4_K_M","architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:1"]}}"#;
        let c = ConfigV2::from_slice(j).unwrap();
        assert!(c.model_families.is_empty());
        assert_eq!(c.model_type, "3.2B");
        assert!(c.extra.contains_key("rootfs"));
        let re = String::from_utf8(c.to_bytes().unwrap()).unwrap();
        assert!(re.contains("\"rootfs\":{"), "{re}");
        // A config with renderer/parser/requires re-encodes to the same bytes
        // (field order matches Go's struct order). Unknown nested objects
        // survive by value, not necessarily in their original key order.
        let g = r#"{"model_format":"gguf","model_family":"gemma4","model_families":["gemma4"],"model_type":"8.0B","file_type":"Q4_K_M","renderer":"gemma4","parser":"gemma4","requires":"0.20.0","architecture":"amd64","os":"linux"}"#;
        let c = ConfigV2::from_slice(g.as_bytes()).unwrap();
        assert_eq!(
            (c.renderer.as_str(), c.requires.as_str()),
            ("gemma4", "0.20.0")
        );
        assert_eq!(
            String::from_utf8(c.to_bytes().unwrap()).unwrap(),
            format!("{g}\n")
        );
        // Minimal/odd configs still decode.
        let c = ConfigV2::from_slice(b"{}").unwrap();
        assert_eq!((c.architecture.as_str(), c.os.as_str()), ("amd64", "linux"));
    }
}
