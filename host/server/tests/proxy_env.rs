//! A pull from a loopback peer ignores HTTP(S)_PROXY, as Go's clients (and so Ollama) do: with
//! the proxy variables pointing at nothing the pull still works (its own test binary, so the
//! variables reach no other test).

mod common;

use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_registry_is_never_proxied() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    for var in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        std::env::set_var(var, format!("http://{dead}"));
    }
    let (peer, local) = (common::serve(true), common::serve(false));
    let body = json!({"model": format!("{}/library/smollm2:135m", peer.addr), "insecure": true, "stream": false});
    let r = reqwest::Client::builder().no_proxy().build().unwrap().post(local.url("/api/pull")).body(body.to_string()).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, r#"{"status":"success"}"#.to_string()));
}
