//! CORS and the Host check over HTTP, against a server bound to loopback with
//! `OLLAMA_ORIGINS` set (its own test binary, so the variable reaches no other test).

mod common;

use reqwest::header::HeaderMap;

/// (method, path, Origin, Host, status, Access-Control-Allow-Origin)
type Case<'a> = (&'a str, &'a str, Option<&'a str>, Option<String>, u16, Option<&'a str>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_and_hosts_as_ollama_checks_them() {
    std::env::set_var("OLLAMA_ORIGINS", "https://*.example.com");
    let s = common::serve(false);
    let port = s.addr.port();
    let http = reqwest::Client::new();
    let cases: &[Case] = &[
        ("GET", "/api/version", None, None, 200, None),
        ("GET", "/api/version", Some("http://localhost:3000"), None, 200, Some("http://localhost:3000")),
        ("GET", "/api/tags", Some("https://app.example.com"), None, 200, Some("https://app.example.com")),
        ("POST", "/api/show", Some("http://evil.com"), None, 403, None),
        ("OPTIONS", "/api/chat", Some("https://app.example.com"), None, 204, Some("https://app.example.com")),
        ("OPTIONS", "/api/chat", Some("http://evil.com"), None, 403, None),
        ("OPTIONS", "/api/chat", None, None, 204, None),
        ("GET", "/api/version", None, Some(format!("localhost:{port}")), 200, None),
        ("GET", "/api/version", None, Some("my.box.local".into()), 200, None),
        ("GET", "/api/version", None, Some("192.168.0.5".into()), 200, None),
        ("GET", "/api/version", None, Some(format!("rebind.evil.com:{port}")), 403, None),
        ("GET", "/v2/", None, Some("evil.com".into()), 403, None),
    ];
    // This machine's own names and addresses are local, as Ollama's isLocalIP and hostname
    // checks say, even an interface address outside the private ranges.
    let mut own: Vec<Case> = Vec::new();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    own.push(("GET", "/api/version", None, Some(format!("{hostname}:{port}")), 200, None));
    let addrs: Vec<std::net::IpAddr> = if_addrs::get_if_addrs().unwrap().into_iter().map(|i| i.ip()).collect();
    let is_private = |ip: &std::net::IpAddr| match ip {
        std::net::IpAddr::V4(v4) => v4.is_private(),
        std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    };
    let public: Vec<&std::net::IpAddr> = addrs.iter().filter(|ip| !ip.is_loopback() && !is_private(ip)).collect();
    eprintln!("interface addresses outside loopback and the private ranges: {public:?}");
    for ip in &public {
        let host = match ip {
            std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
            std::net::IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => continue, // needs a zone
            std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        };
        own.push(("GET", "/api/version", None, Some(host), 200, None));
    }
    // An address of no interface here, and outside the private ranges, is still refused.
    let foreign = (1..255).map(|d| std::net::IpAddr::from([198, 51, 100, d])).find(|ip| !addrs.contains(ip)).unwrap();
    own.push(("GET", "/api/tags", None, Some(format!("{foreign}:{port}")), 403, None));
    for (method, path, origin, host, status, allow) in cases.iter().chain(own.iter()) {
        let mut req = http.request(method.parse().unwrap(), s.url(path));
        if let Some(o) = origin {
            req = req.header("origin", *o);
        }
        if let Some(h) = host {
            req = req.header("host", h);
        }
        let r = req.send().await.unwrap();
        let h: HeaderMap = r.headers().clone();
        assert_eq!(r.status().as_u16(), *status, "{method} {path} origin {origin:?} host {host:?}");
        assert_eq!(h.get("access-control-allow-origin").map(|v| v.to_str().unwrap()), *allow, "{method} {path} {origin:?}");
        if *status == 403 {
            assert!(r.bytes().await.unwrap().is_empty(), "a refusal has no body");
        }
        if *method == "OPTIONS" && allow.is_some() {
            assert!(h["access-control-allow-headers"].to_str().unwrap().contains("x-stainless-os"));
            assert!(h["access-control-allow-methods"].to_str().unwrap().contains("DELETE"));
        }
    }
}
