//! One line per request on stderr, the way `ollama serve` (Gin) logs them:
//! `[wollama] 2026/12/01 - 07:40:00 | 200 |   12.345ms | 127.0.0.1 | POST "/api/chat"`.
//! The time is until the response head (a stream goes on after it).

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;

pub async fn log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let client = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_default();
    let resp = next.run(req).await;
    eprintln!("{}", line(&chrono::Local::now(), resp.status().as_u16(), started.elapsed(), &client, method.as_str(), &path));
    resp
}

fn line(at: &chrono::DateTime<chrono::Local>, status: u16, took: std::time::Duration, client: &str, method: &str, path: &str) -> String {
    format!("[wollama] {} | {status} | {:>12} | {client:>15} | {method:<7} {path:?}", at.format("%Y/%m/%d - %H:%M:%S"), format!("{took:.3?}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_line_per_request() {
        use chrono::TimeZone;
        let at = chrono::Local.with_ymd_and_hms(2026, 12, 1, 7, 40, 0).unwrap();
        let l = super::line(&at, 200, std::time::Duration::from_micros(12345), "127.0.0.1", "POST", "/api/chat");
        assert_eq!(l, "[wollama] 2026/12/01 - 07:40:00 | 200 |     12.345ms |       127.0.0.1 | POST    \"/api/chat\"");
    }
}
