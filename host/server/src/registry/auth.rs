//! Registry bearer tokens the way Ollama gets them (`server/auth.go`, `auth/auth.go`): a `401`
//! carries `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`; the client `GET`s the
//! realm with `service`, each `scope`, `ts` and a random `nonce`, signed with the user's
//! ed25519 key (`~/.ollama/id_ed25519`, an OpenSSH private key, created here on first need
//! as `ollama serve` creates it at start-up), and retries with `Authorization: Bearer <token>`.
//! The realm must be on the registry's own host, so a token request never goes elsewhere.

use std::path::PathBuf;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use sha2::{Digest as _, Sha256};

/// What a `401` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    pub realm: String,
    pub service: String,
    pub scope: String,
}

/// The value of `key="…"` in a challenge, as Ollama's `getValue` reads it: a quote ends the
/// value only when a comma (or the end) follows, so quotes inside a value survive.
fn value_of(header: &str, key: &str) -> String {
    let Some(start) = header.find(&format!("{key}=")) else { return String::new() };
    let start = start + key.len() + 2;
    let bytes = header.as_bytes();
    let mut end = start;
    while end < bytes.len() {
        if bytes[end] == b'"' && (end + 1 >= bytes.len() || bytes[end + 1] == b',') {
            break;
        }
        end += 1;
    }
    header.get(start.min(header.len())..end).unwrap_or("").to_string()
}

pub fn parse_challenge(header: &str) -> Challenge {
    let h = header.strip_prefix("Bearer ").unwrap_or(header);
    Challenge { realm: value_of(h, "realm"), service: value_of(h, "service"), scope: value_of(h, "scope") }
}

/// Go's `url.QueryEscape`: unreserved characters stay, a space becomes `+`, the rest `%XX`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The realm URL with the challenge's parameters, a timestamp and a nonce, its query encoded
/// as Go's `url.Values.Encode` does (keys sorted, values in order), since the signature
/// covers the URL text.
pub fn token_url(c: &Challenge, ts: u64, nonce: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(&c.realm).map_err(|e| format!("invalid token realm {:?}: {e}", c.realm))?;
    let mut params: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    params.push(("service".into(), c.service.clone()));
    for s in c.scope.split(' ') {
        params.push(("scope".into(), s.to_string()));
    }
    params.push(("ts".into(), ts.to_string()));
    params.push(("nonce".into(), nonce.to_string()));
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v))).collect();
    url.set_query(Some(&query.join("&")));
    Ok(url)
}

/// `host[:port]` of a URL, the port only when it is not the scheme's default.
fn authority(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// `~/.ollama/id_ed25519` (`$HOME`, as Go's `os.UserHomeDir`).
pub fn key_path() -> Result<PathBuf, String> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).ok_or("$HOME is not defined")?;
    Ok(PathBuf::from(home).join(".ollama").join("id_ed25519"))
}

/// The key at `path`, created with its `.pub` beside it when there is none (as Ollama's
/// `initializeKeypair`: the private key 0600 in OpenSSH format, the public one as an
/// authorized_keys line).
pub fn load_or_create_key(path: &std::path::Path) -> Result<ssh_key::PrivateKey, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key = ssh_key::PrivateKey::from_openssh(text.trim()).map_err(|e| format!("{}: {e}", path.display()))?;
            if key.is_encrypted() || key.key_data().ed25519().is_none() {
                return Err(format!("{}: not an unencrypted ed25519 key", path.display()));
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key(path),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn create_key(path: &std::path::Path) -> Result<ssh_key::PrivateKey, String> {
    use std::io::Write as _;
    tracing::info!("Couldn't find '{}'. Generating new private key.", path.display());
    let signing = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from(&signing));
    let private = key.to_openssh(ssh_key::LineEnding::LF).map_err(|e| e.to_string())?;
    let public = key.public_key().to_openssh().map_err(|e| e.to_string())?;
    let dir = path.parent().ok_or("a key path without a folder")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("could not create directory {}: {e}", dir.display()))?;
    let write = |p: &std::path::Path, text: &str, mode: u32| -> Result<(), String> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
        let _ = mode;
        let mut f = opts.open(p).map_err(|e| format!("{}: {e}", p.display()))?;
        f.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", p.display()))
    };
    match write(path, &private, 0o600) {
        Ok(()) => {}
        // Another request created it meanwhile: use that one.
        Err(_) if path.exists() => return load_or_create_key(path),
        Err(e) => return Err(e),
    }
    let _ = write(&path.with_extension("pub"), &format!("{public}\n"), 0o644);
    tracing::info!("Your new public key is: {public}");
    Ok(key)
}

/// Ollama's signature header: `<base64 public key blob>:<base64 ed25519 signature>`.
pub fn sign(key: &ssh_key::PrivateKey, data: &[u8]) -> Result<String, String> {
    let pair = key.key_data().ed25519().ok_or("not an ed25519 key")?;
    let signing = ed25519_dalek::SigningKey::try_from(pair).map_err(|e| e.to_string())?;
    let public = key.public_key().to_openssh().map_err(|e| e.to_string())?;
    let blob = public.split(' ').nth(1).ok_or("malformed public key")?;
    Ok(format!("{blob}:{}", STANDARD.encode(signing.sign(data).to_bytes())))
}

/// What is signed for a token request: `GET,<url>,<base64 of the hex sha256 of no body>`.
pub fn signed_data(url: &str) -> String {
    let empty: String = Sha256::digest(b"").iter().map(|b| format!("{b:02x}")).collect();
    format!("GET,{url},{}", STANDARD.encode(empty))
}

/// A token for `challenge`, from its realm on `registry` (the `host[:port]` of the request
/// that was refused).
pub async fn token(http: &reqwest::Client, challenge: &Challenge, registry: &reqwest::Url) -> Result<String, String> {
    if challenge.realm.is_empty() {
        return Err("unauthorized: the registry asked for credentials without a bearer token realm".into());
    }
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let url = token_url(challenge, ts, &URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()))?;
    if authority(&url) != authority(registry) {
        return Err(format!("realm host {:?} does not match original host {:?}", authority(&url), authority(registry)));
    }
    let key = tokio::task::spawn_blocking(|| key_path().and_then(|p| load_or_create_key(&p)))
        .await
        .map_err(|e| e.to_string())??;
    let signature = sign(&key, signed_data(url.as_str()).as_bytes())?;
    tracing::debug!(realm = %challenge.realm, service = %challenge.service, scope = %challenge.scope, "requesting a registry token");
    let resp = http
        .get(url)
        .header(reqwest::header::AUTHORIZATION, signature)
        .send()
        .await
        .map_err(super::remote::describe)?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if status.is_client_error() || status.is_server_error() {
        return Err(if body.trim().is_empty() {
            format!("the token request was refused: {status}")
        } else {
            format!("the token request was refused: {status}: {}", body.trim())
        });
    }
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("the token response: {e}"))?;
    v["token"]
        .as_str()
        .or_else(|| v["access_token"].as_str())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "the token response has no token".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_as_ollama_parses_them() {
        let c = parse_challenge(
            r#"Bearer realm="https://registry.ollama.ai/v2/token",service="registry.ollama.ai",scope="repository:library/smollm2:pull""#,
        );
        assert_eq!(
            c,
            Challenge {
                realm: "https://registry.ollama.ai/v2/token".into(),
                service: "registry.ollama.ai".into(),
                scope: "repository:library/smollm2:pull".into()
            }
        );
        assert_eq!(parse_challenge("Basic realm=\"x\"").service, "");
        assert_eq!(value_of(r#"a="say "hi" now",b="2""#, "a"), r#"say "hi" now"#);
    }

    #[test]
    fn token_urls_encode_like_go() {
        let c = Challenge {
            realm: "https://r.example/v2/token?x=1".into(),
            service: "r.example".into(),
            scope: "repository:a/b:pull repository:a/c:pull".into(),
        };
        let u = token_url(&c, 1700000000, "bm9uY2U").unwrap();
        assert_eq!(
            u.as_str(),
            "https://r.example/v2/token?nonce=bm9uY2U&scope=repository%3Aa%2Fb%3Apull&scope=repository%3Aa%2Fc%3Apull\
             &service=r.example&ts=1700000000&x=1"
        );
        assert_eq!(query_escape("a b+c~"), "a+b%2Bc~");
    }

    #[test]
    fn keys_are_created_once_and_sign_verifiably() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".ollama/id_ed25519");
        let key = load_or_create_key(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"), "{text}");
        let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
        assert!(public.starts_with("ssh-ed25519 AAAA") && public.ends_with('\n'), "{public}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // The second use reads the same key.
        let again = load_or_create_key(&path).unwrap();
        assert_eq!(again.public_key(), key.public_key());

        let header = sign(&key, b"GET,https://x/token,abc").unwrap();
        let (blob, sig) = header.split_once(':').unwrap();
        assert_eq!(blob, public.split(' ').nth(1).unwrap().trim());
        let pk = ssh_key::PublicKey::from_openssh(public.trim()).unwrap();
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk.key_data().ed25519().unwrap().0).unwrap();
        let sig = ed25519_dalek::Signature::from_slice(&STANDARD.decode(sig).unwrap()).unwrap();
        vk.verify_strict(b"GET,https://x/token,abc", &sig).unwrap();
        assert!(vk.verify_strict(b"GET,https://x/token,abd", &sig).is_err());
    }

    #[test]
    fn the_signed_data_hashes_an_empty_body() {
        assert_eq!(
            signed_data("https://x/t"),
            format!("GET,https://x/t,{}", STANDARD.encode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
        );
    }
}
