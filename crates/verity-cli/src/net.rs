//! `verity peers` and the p2p flags of `verity node` (docs/network.md).

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
    /// Fraction (0..=1) of other executors' announced receipts a verifier re-executes
    /// (and disputes on a mismatch).
    #[arg(long, default_value_t = 0.1)]
    pub net_verify_sample: f64,
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
        if !(0.0..=1.0).contains(&self.net_verify_sample) {
            bail!("--net-verify-sample must be between 0 and 1, got {}", self.net_verify_sample);
        }
        Ok(Some(P2pConfig {
            listen: self.p2p_listen.clone(),
            bootstrap: self.bootstrap.clone(),
            role,
            verify_sample: self.net_verify_sample,
        }))
    }
}

/// `verity peers --node URL`: prints the node's `GET /v1/peers`.
pub fn peers(node: &str, json: bool, tls: &crate::remote::TlsArgs) -> Result<()> {
    let v = crate::remote::client(node, None, tls)?.peers()?;
    if json {
        println!("{v}");
    } else {
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(())
}
