//! `verity peers` and the p2p flags of `verity node` (docs/network.md).

use std::io::{Read, Write};

use anyhow::{bail, Context, Result};
use verity_node::{P2pConfig, P2pRole};

/// The p2p flags of `verity node`.
#[derive(clap::Args, Debug, Clone)]
pub struct P2pArgs {
    /// Join the p2p network, listening on this multiaddr (e.g. /ip4/127.0.0.1/tcp/0).
    #[arg(long)]
    pub p2p_listen: Vec<String>,
    /// Peers to dial at start (multiaddrs).
    #[arg(long, num_args = 1..)]
    pub bootstrap: Vec<String>,
    /// executor, verifier or both.
    #[arg(long, default_value = "both")]
    pub role: String,
}

impl P2pArgs {
    pub fn config(&self) -> Result<Option<P2pConfig>> {
        if self.p2p_listen.is_empty() {
            if !self.bootstrap.is_empty() {
                bail!("--bootstrap needs --p2p-listen");
            }
            return Ok(None);
        }
        let role =
            P2pRole::parse(&self.role).with_context(|| format!("--role {:?}: expected executor, verifier or both", self.role))?;
        Ok(Some(P2pConfig { listen: self.p2p_listen.clone(), bootstrap: self.bootstrap.clone(), role }))
    }
}

/// `verity peers --node URL`: prints the node's `GET /v1/peers`.
pub fn peers(node: &str) -> Result<()> {
    let rest = node.strip_prefix("http://").with_context(|| format!("--node {node:?}: expected http://HOST:PORT"))?;
    let host = rest.trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(host).with_context(|| format!("cannot connect to {host}"))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    write!(s, "GET /v1/peers HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")?;
    let mut buf = Vec::new();
    s.take(16 << 20).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").context("the node sent no HTTP response")?;
    let ok = head.lines().next().is_some_and(|l| l.split(' ').nth(1) == Some("200"));
    let v: serde_json::Value = serde_json::from_str(body).with_context(|| format!("the node did not answer JSON: {head}"))?;
    if !ok {
        bail!("{}", v.get("error").and_then(|e| e.as_str()).unwrap_or(body));
    }
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}
