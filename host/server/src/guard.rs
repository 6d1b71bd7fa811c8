//! Who may call the API, as Ollama decides it: browser origins (CORS) from `OLLAMA_ORIGINS`
//! plus the local ones Ollama always allows, and, when bound to loopback, a `Host` check that
//! stops DNS-rebinding pages from reaching the server through a name they control. A
//! refused request gets `403` with an empty body, like Ollama's.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Headers a browser may send (Ollama's list, for the OpenAI SDKs' `x-stainless-*` too).
const ALLOW_HEADERS: &str = "Authorization, Content-Type, User-Agent, Accept, X-Requested-With, OpenAI-Beta, \
x-stainless-arch, x-stainless-async, x-stainless-custom-poll-interval, x-stainless-helper-method, \
x-stainless-lang, x-stainless-os, x-stainless-package-version, x-stainless-poll-helper, \
x-stainless-retry-count, x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout";
const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS";
/// Preflight answers may be cached for 12 hours (gin-contrib/cors' default).
const MAX_AGE: &str = "43200";

pub struct Guard {
    /// Allowed origins; a `*` matches any run of characters.
    origins: Vec<String>,
    /// Only a server bound to loopback checks `Host` (bound wider, it is meant to be reached).
    check_host: bool,
    hostname: Option<String>,
}

impl Guard {
    /// `OLLAMA_ORIGINS` (comma-separated, trimmed of spaces and quotes) and the server's
    /// bound address.
    pub fn new(origins_env: Option<&str>, bound: SocketAddr) -> Guard {
        let mut origins: Vec<String> = origins_env
            .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\''))
            .filter(|v| !v.is_empty())
            .map(|v| v.split(',').map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect())
            .unwrap_or_default();
        for host in ["localhost", "127.0.0.1", "0.0.0.0"] {
            for scheme in ["http", "https"] {
                origins.push(format!("{scheme}://{host}"));
                origins.push(format!("{scheme}://{host}:*"));
            }
        }
        origins.extend(["app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*"].map(String::from));
        Guard { origins, check_host: bound.ip().is_loopback(), hostname: hostname() }
    }

    pub fn from_env(bound: SocketAddr) -> Guard {
        Guard::new(std::env::var("OLLAMA_ORIGINS").ok().as_deref(), bound)
    }

    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.origins.iter().any(|pattern| wildcard_match(pattern, origin))
    }

    /// The `Host` header (port stripped): a local name, or an address that is loopback,
    /// private, unspecified or bound to one of this machine's interfaces (listed per request,
    /// as Ollama's `isLocalIP` does, so an address that came up after start-up counts).
    pub fn host_allowed(&self, host: &str) -> bool {
        self.host_allowed_with(host, local_addresses)
    }

    /// [`Guard::host_allowed`] with the machine's interface addresses from `interfaces`.
    pub fn host_allowed_with(&self, host: &str, interfaces: impl FnOnce() -> Vec<IpAddr>) -> bool {
        if !self.check_host {
            return true;
        }
        let host = strip_port(host).to_ascii_lowercase();
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return ip.is_loopback() || ip.is_unspecified() || is_private(ip) || interfaces().contains(&ip);
        }
        host.is_empty()
            || host == "localhost"
            || self.hostname.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(&host))
            || [".localhost", ".local", ".internal"].iter().any(|tld| host.ends_with(tld))
    }
}

/// The middleware: CORS first, then the host check, as Ollama orders them.
pub async fn check(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string);
    // A page of the server itself is not a cross-origin caller.
    let cross = origin.filter(|o| *o != format!("http://{host}") && *o != format!("https://{host}"));
    if let Some(o) = &cross {
        if !g.origin_allowed(o) {
            return StatusCode::FORBIDDEN.into_response();
        }
        if req.method() == Method::OPTIONS {
            let mut r = StatusCode::NO_CONTENT.into_response();
            allow(&mut r, o);
            let h = r.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
            return r;
        }
    }
    if !g.host_allowed(&host) {
        return StatusCode::FORBIDDEN.into_response();
    }
    if req.method() == Method::OPTIONS {
        return StatusCode::NO_CONTENT.into_response();
    }
    let mut r = next.run(req).await;
    if let Some(o) = &cross {
        allow(&mut r, o);
    }
    r
}

fn allow(r: &mut Response, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        r.headers_mut().append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// `*` matches any run of characters (gin-contrib/cors' wildcards); `*` alone matches all.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

fn strip_port(host: &str) -> &str {
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Go's `IsPrivate`: 10/8, 172.16/12, 192.168/16 and fc00::/7.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// Every address bound to an interface of this machine (none when they cannot be listed).
pub fn local_addresses() -> Vec<IpAddr> {
    if_addrs::get_if_addrs().map(|l| l.into_iter().map(|i| i.ip()).collect()).unwrap_or_default()
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_like_ollama() {
        let loopback: SocketAddr = "127.0.0.1:11434".parse().unwrap();
        let g = Guard::new(Some(" \"https://*.example.com,chrome-extension://abc\" "), loopback);
        // (origin, allowed)
        let cases = [
            ("http://localhost", true),
            ("http://localhost:3000", true),
            ("https://127.0.0.1:8443", true),
            ("http://0.0.0.0:1", true),
            ("app://obsidian.md", true),
            ("vscode-webview://x", true),
            ("https://app.example.com", true),
            ("https://example.com", false),
            ("chrome-extension://abc", true),
            ("chrome-extension://other", false),
            ("http://evil.com", false),
            ("http://localhost.evil.com", false),
        ];
        for (origin, want) in cases {
            assert_eq!(g.origin_allowed(origin), want, "{origin}");
        }
        assert!(Guard::new(Some("*"), loopback).origin_allowed("http://anything.at.all"));
    }

    #[test]
    fn hosts_like_ollama() {
        let g = Guard::new(None, "127.0.0.1:11434".parse().unwrap());
        // (Host header, allowed)
        let cases = [
            ("", true),
            ("localhost:11434", true),
            ("127.0.0.1:11434", true),
            ("[::1]:11434", true),
            ("0.0.0.0", true),
            ("192.168.1.7:11434", true),
            ("10.0.0.2", true),
            ("my.box.local", true),
            ("api.localhost:80", true),
            ("svc.internal", true),
            ("LOCALHOST", true),
            ("evil.com", false),
            ("evil.com:11434", false),
            ("8.8.8.8", false),
            ("localhost.evil.com", false),
        ];
        for (host, want) in cases {
            assert_eq!(g.host_allowed(host), want, "{host}");
        }
        // An interface's own address is local even when it is public (Ollama's isLocalIP).
        let ifaces = || vec!["203.0.113.9".parse().unwrap(), "2001:db8::7".parse().unwrap()];
        for (host, want) in [("203.0.113.9:11434", true), ("[2001:db8::7]:11434", true), ("203.0.113.10", false)] {
            assert_eq!(g.host_allowed_with(host, ifaces), want, "{host}");
        }
        let wide = Guard::new(None, "0.0.0.0:11434".parse().unwrap());
        assert!(wide.host_allowed("evil.com"), "bound to all interfaces, no host check");
    }
}
