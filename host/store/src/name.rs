//! Model names, parsed exactly as Ollama's `types/model/name.go`.
//!
//! Grammar: `[scheme://][host/][namespace/]model[:tag][@digest]`, with the
//! defaults `registry.ollama.ai`, `library`, `latest` and `https`. A name is
//! valid only when every part is present (after defaults) and obeys the part
//! rules below; those rules are also what keeps a name from escaping the
//! store directory, since a valid part can never be empty, `.`/`..`, contain
//! `/` or `\`, or start with anything but `[A-Za-z0-9_]`.
//!
//! | part      | first char      | then                  | length   |
//! |-----------|-----------------|-----------------------|----------|
//! | host      | `[A-Za-z0-9_]`  | `[A-Za-z0-9_.:-]`     | 1–350    |
//! | namespace | `[A-Za-z0-9_]`  | `[A-Za-z0-9_-]`       | 1–80     |
//! | model     | `[A-Za-z0-9_]`  | `[A-Za-z0-9_.-]`      | 1–80     |
//! | tag       | `[A-Za-z0-9_]`  | `[A-Za-z0-9_.-]`      | 1–80     |

use std::fmt;
use std::path::{Path, PathBuf};

use crate::blobs::Digest;
use crate::error::{Error, Result};

/// Default registry host.
pub const DEFAULT_HOST: &str = "registry.ollama.ai";
/// Default namespace.
pub const DEFAULT_NAMESPACE: &str = "library";
/// Default tag.
pub const DEFAULT_TAG: &str = "latest";
/// Default protocol scheme used to talk to the host.
pub const DEFAULT_SCHEME: &str = "https";

/// Placeholder for a part "promised" by a separator but empty (`a/`, `:x`).
/// Like Ollama's `MissingPart` it can never pass validation, so such a name
/// does not silently receive a default instead.
const MISSING_PART: &str = "!MISSING!";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Part {
    Host,
    Namespace,
    Model,
    Tag,
}

/// A structured model reference.
///
/// Construct with [`ModelName::parse`] (defaults filled, validated) or
/// [`ModelName::parse_bare`] (no defaults, unvalidated — mirrors Ollama's
/// `ParseNameBare`). Field casing is preserved; compare with
/// [`ModelName::eq_fold`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct ModelName {
    pub host: String,
    pub namespace: String,
    pub model: String,
    pub tag: String,
    /// Scheme given as `scheme://host/…`; empty in a bare parse without one.
    pub scheme: String,
    /// Optional `@sha256:<hex>` pin. Current Ollama rejects any `@`; we accept
    /// the documented digest suffix but only when it is a real sha256 digest.
    pub digest: Option<Digest>,
}

impl ModelName {
    /// Parses `s`, fills defaults and validates. Any failure is
    /// [`Error::InvalidName`] (`invalid model name`).
    pub fn parse(s: &str) -> Result<ModelName> {
        let n = Self::parse_bare(s)?.with_defaults();
        if n.is_valid() {
            Ok(n)
        } else {
            Err(Error::InvalidName)
        }
    }

    /// Splits `s` into parts without defaults or part validation, like
    /// Ollama's `ParseNameBare`. Only a malformed `@digest` suffix is an error
    /// here, because it cannot be represented in the returned value.
    pub fn parse_bare(s: &str) -> Result<ModelName> {
        let mut n = ModelName::default();
        let mut s = s;

        if let Some(at) = s.rfind('@') {
            let d = &s[at + 1..];
            n.digest = Some(Digest::parse(d).map_err(|_| Error::InvalidName)?);
            s = &s[..at];
        }

        // "/" is not a legal tag character, so a ':' before the last '/'
        // belongs to the host (`host:5000/ns/m`), never to a tag.
        if rfind_opt(s, ':') > rfind_opt(s, '/') {
            let (rest, tag) = cut_promised(s, ':');
            n.tag = tag.to_string();
            s = rest;
        }

        let Some((rest, model)) = cut_promised_opt(s, '/') else {
            n.model = s.to_string();
            return Ok(n);
        };
        n.model = model.to_string();
        s = rest;

        let Some((rest, namespace)) = cut_promised_opt(s, '/') else {
            n.namespace = s.to_string();
            return Ok(n);
        };
        n.namespace = namespace.to_string();

        match rest.split_once("://") {
            Some((scheme, host)) => {
                n.scheme = scheme.to_string();
                n.host = host.to_string();
            }
            None => n.host = rest.to_string(),
        }
        Ok(n)
    }

    /// Fills empty host, namespace, tag and scheme with the defaults.
    pub fn with_defaults(mut self) -> ModelName {
        fill(&mut self.host, DEFAULT_HOST);
        fill(&mut self.namespace, DEFAULT_NAMESPACE);
        fill(&mut self.tag, DEFAULT_TAG);
        fill(&mut self.scheme, DEFAULT_SCHEME);
        self
    }

    /// True when host, namespace, model and tag are all present and valid.
    /// (Ollama's `IsValid` == `IsFullyQualified`; the digest was checked at
    /// parse time.)
    pub fn is_valid(&self) -> bool {
        is_valid_part(Part::Host, &self.host)
            && is_valid_part(Part::Namespace, &self.namespace)
            && is_valid_part(Part::Model, &self.model)
            && is_valid_part(Part::Tag, &self.tag)
    }

    /// `host/namespace/model:tag` (Ollama's `String`); empty parts and their
    /// separators are omitted, the scheme and digest are never shown.
    pub fn display_long(&self) -> String {
        let mut out = String::new();
        if !self.host.is_empty() {
            out.push_str(&self.host);
            out.push('/');
        }
        if !self.namespace.is_empty() {
            out.push_str(&self.namespace);
            out.push('/');
        }
        out.push_str(&self.model);
        if !self.tag.is_empty() {
            out.push(':');
            out.push_str(&self.tag);
        }
        out
    }

    /// The form `/api/tags` reports: host and namespace dropped when they are
    /// the defaults (case-insensitively), namespace kept whenever the host is
    /// shown, and `:tag` always present (`smollm2:latest`, `user/m:tag`,
    /// `host/ns/m:tag`).
    pub fn display_shortest(&self) -> String {
        let mut out = String::new();
        if !self.host.eq_ignore_ascii_case(DEFAULT_HOST) {
            out.push_str(&self.host);
            out.push('/');
            out.push_str(&self.namespace);
            out.push('/');
        } else if !self.namespace.eq_ignore_ascii_case(DEFAULT_NAMESPACE) {
            out.push_str(&self.namespace);
            out.push('/');
        }
        out.push_str(&self.model);
        out.push(':');
        out.push_str(&self.tag);
        out
    }

    /// `namespace/model`, the repository path used by the registry protocol.
    pub fn display_namespace_model(&self) -> String {
        format!("{}/{}", self.namespace, self.model)
    }

    /// Relative manifest location `host/namespace/model/tag`, or `None` for
    /// an invalid name (so an unvalidated name can never produce a path).
    pub fn rel_path(&self) -> Option<PathBuf> {
        if !self.is_valid() {
            return None;
        }
        Some(
            [&self.host, &self.namespace, &self.model, &self.tag]
                .iter()
                .collect(),
        )
    }

    /// `<root>/manifests/<host>/<namespace>/<model>/<tag>` where `root` is the
    /// store root (`$OLLAMA_MODELS`). `None` for an invalid name.
    pub fn manifest_path(&self, root: &Path) -> Option<PathBuf> {
        self.rel_path().map(|rel| root.join("manifests").join(rel))
    }

    /// Rebuilds a name from a manifest path relative to the `manifests`
    /// directory (Ollama's `ParseNameFromFilepath`). Anything but exactly four
    /// valid components yields `None`.
    pub fn from_rel_path(rel: &Path) -> Option<ModelName> {
        let mut parts = Vec::with_capacity(4);
        for c in rel.components() {
            match c {
                std::path::Component::Normal(s) => parts.push(s.to_str()?.to_string()),
                _ => return None,
            }
        }
        let [host, namespace, model, tag]: [String; 4] = parts.try_into().ok()?;
        let n = ModelName {
            host,
            namespace,
            model,
            tag,
            scheme: DEFAULT_SCHEME.to_string(),
            digest: None,
        };
        n.is_valid().then_some(n)
    }

    /// Case-insensitive equality of host, namespace, model and tag.
    pub fn eq_fold(&self, other: &ModelName) -> bool {
        self.host.eq_ignore_ascii_case(&other.host)
            && self.namespace.eq_ignore_ascii_case(&other.namespace)
            && self.model.eq_ignore_ascii_case(&other.model)
            && self.tag.eq_ignore_ascii_case(&other.tag)
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_long())
    }
}

impl std::str::FromStr for ModelName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ModelName::parse(s)
    }
}

/// Reports whether `s` is a valid namespace (used for user names).
pub fn is_valid_namespace(s: &str) -> bool {
    is_valid_part(Part::Namespace, s)
}

fn fill(part: &mut String, default: &str) {
    if part.is_empty() {
        *part = default.to_string();
    }
}

fn rfind_opt(s: &str, c: char) -> Option<usize> {
    s.rfind(c)
}

/// Cuts at the last `sep`; both sides become [`MISSING_PART`] when empty.
fn cut_promised(s: &str, sep: char) -> (&str, &str) {
    cut_promised_opt(s, sep).unwrap_or((s, ""))
}

fn cut_promised_opt(s: &str, sep: char) -> Option<(&str, &str)> {
    let i = s.rfind(sep)?;
    let (before, after) = (&s[..i], &s[i + sep.len_utf8()..]);
    Some((or_missing(before), or_missing(after)))
}

fn or_missing(v: &str) -> &str {
    if v.is_empty() {
        MISSING_PART
    } else {
        v
    }
}

fn is_valid_part(kind: Part, s: &str) -> bool {
    let max = if kind == Part::Host { 350 } else { 80 };
    if s.is_empty() || s.len() > max {
        return false;
    }
    s.bytes().enumerate().all(|(i, c)| {
        if i == 0 {
            return is_alnum_underscore(c);
        }
        match c {
            b'_' | b'-' => true,
            b'.' => kind != Part::Namespace,
            b':' => kind == Part::Host,
            _ => is_alnum_underscore(c),
        }
    })
}

fn is_alnum_underscore(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part80() -> String {
        "8".repeat(80)
    }
    fn part350() -> String {
        "3".repeat(350)
    }

    fn bare(s: &str) -> ModelName {
        ModelName::parse_bare(s).expect("bare parse")
    }

    fn n(host: &str, ns: &str, model: &str, tag: &str) -> ModelName {
        ModelName {
            host: host.into(),
            namespace: ns.into(),
            model: model.into(),
            tag: tag.into(),
            ..Default::default()
        }
    }

    // Port of Ollama's TestParseNameParts.
    #[test]
    fn parse_name_parts() {
        let (p80, p350) = (part80(), part350());
        let cases: Vec<(String, ModelName, String)> = vec![
            (
                "registry.ollama.ai/library/dolphin-mistral:7b-v2.6-dpo-laser-q6_K".into(),
                n(
                    "registry.ollama.ai",
                    "library",
                    "dolphin-mistral",
                    "7b-v2.6-dpo-laser-q6_K",
                ),
                "registry.ollama.ai/library/dolphin-mistral/7b-v2.6-dpo-laser-q6_K".into(),
            ),
            (
                "scheme://host:port/namespace/model:tag".into(),
                ModelName {
                    scheme: "scheme".into(),
                    ..n("host:port", "namespace", "model", "tag")
                },
                "host:port/namespace/model/tag".into(),
            ),
            (
                "host/namespace/model:tag".into(),
                n("host", "namespace", "model", "tag"),
                "host/namespace/model/tag".into(),
            ),
            (
                "host:port/namespace/model:tag".into(),
                n("host:port", "namespace", "model", "tag"),
                "host:port/namespace/model/tag".into(),
            ),
            (
                "host/namespace/model".into(),
                n("host", "namespace", "model", ""),
                "host/namespace/model/latest".into(),
            ),
            (
                "host:port/namespace/model".into(),
                n("host:port", "namespace", "model", ""),
                "host:port/namespace/model/latest".into(),
            ),
            (
                "namespace/model".into(),
                n("", "namespace", "model", ""),
                "registry.ollama.ai/namespace/model/latest".into(),
            ),
            (
                "model".into(),
                n("", "", "model", ""),
                "registry.ollama.ai/library/model/latest".into(),
            ),
            (
                "h/nn/mm:t".into(),
                n("h", "nn", "mm", "t"),
                "h/nn/mm/t".into(),
            ),
            (
                format!("{p80}/{p80}/{p80}:{p80}"),
                n(&p80, &p80, &p80, &p80),
                format!("{p80}/{p80}/{p80}/{p80}"),
            ),
            (
                format!("{p350}/{p80}/{p80}:{p80}"),
                n(&p350, &p80, &p80, &p80),
                format!("{p350}/{p80}/{p80}/{p80}"),
            ),
        ];
        for (input, want, want_path) in cases {
            assert_eq!(bare(&input), want, "parse_bare({input:?})");
            let full = ModelName::parse(&input).expect("valid");
            assert_eq!(
                full.rel_path().unwrap(),
                PathBuf::from(&want_path),
                "{input}"
            );
        }
    }

    // Port of Ollama's testCases table (validity of a bare parse) plus the
    // String() round trip for the valid ones.
    #[test]
    fn bare_validity_and_roundtrip() {
        let (p80, p350) = (part80(), part350());
        let cases: Vec<(String, bool)> = vec![
            ("".into(), false),
            ("_why/_the/_lucky:_stiff".into(), true),
            ("h/n/m:t".into(), true),
            ("host/namespace/model:tag".into(), true),
            ("host/namespace/model".into(), false),
            ("namespace/model".into(), false),
            ("model".into(), false),
            (format!("{p80}/{p80}/{p80}:{p80}"), true),
            (format!("{p350}/{p80}/{p80}:{p80}"), true),
            ("h/nn/mm:t".into(), true),
            ("m".into(), false),
            ("n/m:".into(), false),
            ("h/n/m".into(), false),
            ("@t".into(), false),
            ("m@d".into(), false),
            ("^".into(), false),
            ("mm:".into(), false),
            ("/nn/mm".into(), false),
            ("//".into(), false),
            ("//mm".into(), false),
            ("hh//".into(), false),
            ("//mm:@".into(), false),
            ("00@".into(), false),
            ("@".into(), false),
            ("-hh/nn/mm:tt".into(), false),
            ("hh/-nn/mm:tt".into(), false),
            ("hh/nn/-mm:tt".into(), false),
            ("hh/nn/mm:-tt".into(), false),
            ("host:https/namespace/model:tag".into(), true),
            ("host/name:space/model:tag".into(), false),
        ];
        let mut roundtrips = 0;
        for (s, want) in cases {
            let got = ModelName::parse_bare(&s)
                .map(|n| n.is_valid())
                .unwrap_or(false);
            assert_eq!(got, want, "parse_bare({s:?}).is_valid()");
            if got {
                assert_eq!(bare(&s).display_long(), s);
                roundtrips += 1;
            }
        }
        assert!(roundtrips > 0);
    }

    #[test]
    fn parse_fills_defaults() {
        let n = ModelName::parse("xx").unwrap();
        assert_eq!(n.display_long(), "registry.ollama.ai/library/xx:latest");
        assert_eq!(n.scheme, "https");
        assert_eq!(n.to_string(), "registry.ollama.ai/library/xx:latest");
    }

    #[test]
    fn scheme_prefix() {
        let n = ModelName::parse("http://localhost:5000/ns/m:t").unwrap();
        assert_eq!(
            (n.scheme.as_str(), n.host.as_str()),
            ("http", "localhost:5000")
        );
        assert_eq!(n.display_shortest(), "localhost:5000/ns/m:t");
        let n = ModelName::parse("https://example.com/ns/m").unwrap();
        assert_eq!((n.scheme.as_str(), n.tag.as_str()), ("https", "latest"));
        // A scheme needs a host; "http://m" leaves an empty namespace part.
        assert!(ModelName::parse("http://m").is_err());
    }

    #[test]
    fn part_rules() {
        let cases = [
            (Part::Host, "", false),
            (Part::Host, "a", true),
            (Part::Host, "a.", true),
            (Part::Host, "a.b", true),
            (Part::Host, "a:123", true),
            (Part::Host, "a:123/aa/bb", false),
            (Part::Namespace, "bb", true),
            (Part::Namespace, "a.", false),
            (Part::Model, "-h", false),
            (Part::Model, "a:b", false),
            (Part::Tag, &"t".repeat(81), false),
            (Part::Host, &"h".repeat(351), false),
        ];
        for (kind, s, want) in cases {
            assert_eq!(is_valid_part(kind, s), want, "{kind:?} {s:?}");
        }
        assert!(ModelName::parse(&format!("m:{}", "t".repeat(81))).is_err());
        assert!(ModelName::parse(&format!("m:{}", "t".repeat(80))).is_ok());
    }

    #[test]
    fn namespace_validity() {
        for (s, want) in [
            ("", false),
            ("a", true),
            ("a:b", false),
            ("a/b", false),
            ("a:b/c", false),
            ("a/b:c", false),
            ("a/b:c/d", false),
            ("a/b:c/d@e", false),
            ("a/b:c/d@sha256-100", false),
            ("himynameisjoe", true),
            (
                "himynameisreallyreallyreallyreallylongbutitshouldstillbevalid",
                true,
            ),
        ] {
            assert_eq!(is_valid_namespace(s), want, "{s:?}");
        }
    }

    #[test]
    fn display_shortest() {
        for (input, want) in [
            ("registry.ollama.ai/library/model:latest", "model:latest"),
            ("registry.ollama.ai/library/model:tag", "model:tag"),
            (
                "registry.ollama.ai/namespace/model:tag",
                "namespace/model:tag",
            ),
            ("host/namespace/model:tag", "host/namespace/model:tag"),
            ("host/library/model:tag", "host/library/model:tag"),
            ("REGISTRY.ollama.ai/Library/M:T", "M:T"),
            ("smollm2:135m", "smollm2:135m"),
            ("user/m:tag", "user/m:tag"),
        ] {
            assert_eq!(
                ModelName::parse(input).unwrap().display_shortest(),
                want,
                "{input}"
            );
        }
        assert_eq!(
            ModelName::parse("smollm2:135m").unwrap().display_long(),
            "registry.ollama.ai/library/smollm2:135m"
        );
    }

    #[test]
    fn from_rel_path() {
        let ok = |p: &str| ModelName::from_rel_path(Path::new(p));
        assert_eq!(
            ok("host/namespace/model/tag").unwrap().display_long(),
            "host/namespace/model:tag"
        );
        assert_eq!(
            ok("host:port/namespace/model/tag").unwrap().host,
            "host:port"
        );
        for bad in [
            "namespace/model/tag",
            "model/tag",
            "model",
            "../../model/tag",
            "/namespace/./tag",
            "./././.",
            "/path/to/random/file",
            "h/n/m/.tmp-1",
        ] {
            assert!(ok(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn digest_suffix() {
        let hex = "a".repeat(64);
        let n = ModelName::parse(&format!("m:t@sha256:{hex}")).unwrap();
        assert_eq!((n.model.as_str(), n.tag.as_str()), ("m", "t"));
        assert_eq!(n.digest.as_ref().unwrap().hex(), hex);
        let n = ModelName::parse(&format!("ns/m@sha256-{hex}")).unwrap();
        assert_eq!((n.namespace.as_str(), n.tag.as_str()), ("ns", "latest"));
        assert!(n.digest.is_some());
        // Not a real digest, or nothing before the '@'.
        assert!(ModelName::parse("m@d").is_err());
        assert!(ModelName::parse("m@sha256:abc").is_err());
        assert!(ModelName::parse(&format!("@sha256:{hex}")).is_err());
        assert!(ModelName::parse("m@").is_err());
    }

    #[test]
    fn store_escapes_are_invalid() {
        for bad in [
            "..",
            "../x",
            "a/../b",
            "../../../etc/passwd",
            "/abs/ns/m",
            "/m",
            "ns/..:t",
            "h/ns/..",
            "m:..",
            r"a\b",
            r"ns\m",
            "h/n/m/x",
            ".hidden",
            "m:.t",
            "a//b",
            "a/b/",
            "h/n.s/m",
            "m:t/x",
            "m\0",
            "m m",
            "ümlaut",
        ] {
            assert!(ModelName::parse(bad).is_err(), "{bad:?} should be invalid");
        }
        // Every valid name's path stays under the root.
        let root = Path::new("/store");
        let p = ModelName::parse("h.x:1/ns/m.v1:t.2")
            .unwrap()
            .manifest_path(root)
            .unwrap();
        assert_eq!(p, Path::new("/store/manifests/h.x:1/ns/m.v1/t.2"));
        assert!(ModelName::default().manifest_path(root).is_none());
    }

    #[test]
    fn eq_fold_ignores_case() {
        let a = ModelName::parse("Llama3:Latest").unwrap();
        let b = ModelName::parse("llama3").unwrap();
        assert!(a.eq_fold(&b));
        assert_ne!(a, b);
        assert!(!a.eq_fold(&ModelName::parse("llama3:8b").unwrap()));
    }
}
