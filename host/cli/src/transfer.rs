//! `wollama pull` and `wollama push`: the server does the transfer (`/api/pull`,
//! `/api/push`); the command shows its progress like ollama's.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use crate::client::Client;
use crate::progress::Progress;

#[derive(Args)]
pub struct TransferArgs {
    /// The model, `[host[:port]/][namespace/]model[:tag]`; the host is the registry.
    pub model: String,
    /// Talk plain http to the registry (another wollama on the LAN, for instance).
    #[arg(long)]
    pub insecure: bool,
}

pub fn pull(a: &TransferArgs) -> Result<()> {
    transfer("/api/pull", a)
}

pub fn push(a: &TransferArgs) -> Result<()> {
    transfer("/api/push", a)
}

fn transfer(path: &str, a: &TransferArgs) -> Result<()> {
    let c = Client::from_env()?;
    let resp = c.json("POST", path, &json!({"model": a.model, "insecure": a.insecure, "stream": true}))?.ok()?;
    Progress::new().follow(resp.lines())
}
