//! A small blocking HTTP/1.1 client for the CLI: the commands talk to `wollama serve` at
//! OLLAMA_HOST as ollama's do. Loopback only, so plain TCP; bodies may stream (files up,
//! NDJSON down, chunked or sized).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};

use anyhow::{bail, Context, Result};
use serde_json::Value;

pub struct Client {
    addr: SocketAddr,
}

pub struct Response {
    pub status: u16,
    body: Box<dyn BufRead>,
}

impl Response {
    pub fn json(mut self) -> Result<Value> {
        let mut s = String::new();
        self.body.read_to_string(&mut s)?;
        if s.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&s).with_context(|| format!("the server answered {s:?}"))
    }

    /// NDJSON lines as they arrive.
    pub fn lines(self) -> impl Iterator<Item = Result<Value>> {
        self.text_lines().map(|l| {
            let l = l?;
            serde_json::from_str(&l).with_context(|| format!("bad line from the server: {l}"))
        })
    }

    /// The body's non-blank lines as they arrive, unparsed (server-sent events too).
    pub fn text_lines(self) -> impl Iterator<Item = Result<String>> {
        self.body.lines().filter(|l| l.as_ref().map_or(true, |l| !l.trim().is_empty())).map(|l| Ok(l?))
    }

    /// Fails with the server's `{"error"}` message for a non-2xx status.
    pub fn ok(self) -> Result<Response> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        let status = self.status;
        let v = self.json().unwrap_or(Value::Null);
        match v["error"].as_str() {
            Some(m) => bail!("{m}"),
            None => bail!("the server answered {status}"),
        }
    }
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr }
    }

    pub fn from_env() -> Result<Client> {
        let mut addr = crate::serve::parse_host(&std::env::var("OLLAMA_HOST").unwrap_or_default())?;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Ok(Client::new(addr))
    }

    pub fn json(&self, method: &str, path: &str, body: &Value) -> Result<Response> {
        let bytes = serde_json::to_vec(body)?;
        self.send(method, path, bytes.len() as u64, &mut &bytes[..])
    }

    pub fn get(&self, path: &str) -> Result<Response> {
        self.send("GET", path, 0, &mut std::io::empty())
    }

    pub fn send(&self, method: &str, path: &str, len: u64, body: &mut dyn Read) -> Result<Response> {
        let mut s = TcpStream::connect(self.addr)
            .with_context(|| format!("could not connect to wollama at {} (is `wollama serve` running?)", self.addr))?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n",
            self.addr
        )?;
        std::io::copy(body, &mut s)?;
        s.flush()?;
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line)?;
        let status: u16 = line.get(9..12).and_then(|c| c.parse().ok()).context("not an HTTP response")?;
        let mut chunked = false;
        let mut length = None;
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let h = line.trim_end();
            if h.is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            } else if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse::<u64>().ok();
            }
        }
        let body: Box<dyn BufRead> = if chunked {
            Box::new(BufReader::new(Chunked { inner: r, left: 0, done: false }))
        } else {
            match length {
                Some(n) => Box::new(BufReader::new(r.take(n))),
                None => Box::new(r),
            }
        };
        Ok(Response { status, body })
    }
}

/// De-chunks a chunked transfer-encoded body as it streams.
struct Chunked<R: BufRead> {
    inner: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            self.inner.read_line(&mut line)?;
            if line.trim().is_empty() {
                // The CRLF closing the previous chunk.
                line.clear();
                self.inner.read_line(&mut line)?;
            }
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                self.done = true;
                return Ok(0);
            }
            self.left = size;
        }
        let n = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..n])?;
        self.left -= n;
        Ok(n)
    }
}
