//! A local anvil chain for tests: the binary of the pinned npm package
//! `@foundry-rs/anvil-linux-amd64` (installed by `scripts/install-anvil.sh`), on 127.0.0.1
//! on a port it picks itself, killed when the handle is dropped.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use alloy::primitives::Address;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;

use crate::error::SettlementError;

/// The keys of anvil's ten funded dev accounts (its default mnemonic), 10 000 ETH each.
pub const DEV_KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// The address of dev account `i`.
pub fn dev_address(i: usize) -> Address {
    DEV_KEYS[i].parse::<PrivateKeySigner>().expect("a valid constant key").address()
}

/// A running anvil; dropping it kills the process.
pub struct Anvil {
    child: Child,
    url: String,
}

const START_TIMEOUT: Duration = Duration::from_secs(30);

impl Anvil {
    /// `$VERITY_ANVIL`, or the binary that `npm ci --prefix tools/anvil` installs, if present.
    pub fn binary() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("VERITY_ANVIL") {
            return Some(PathBuf::from(p)).filter(|p| p.is_file());
        }
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tools/anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
        p.is_file().then_some(p)
    }

    /// Starts anvil on 127.0.0.1 (port chosen by anvil, so parallel tests never collide)
    /// and waits until it listens.
    pub fn start() -> Result<Anvil, SettlementError> {
        Self::start_with(&[])
    }

    /// [`Anvil::start`] with extra command-line arguments (e.g. `--chain-id 5`).
    pub fn start_with(args: &[&str]) -> Result<Anvil, SettlementError> {
        let bin = Self::binary().ok_or_else(|| SettlementError::Anvil(missing_message()))?;
        let mut child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SettlementError::Anvil(format!("cannot start {}: {e}", bin.display())))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        // Anvil logs every request; the pipe must keep being drained or it would block.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("Listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                    break;
                }
            }
            for _ in lines.map_while(Result::ok) {}
        });
        let mut anvil = Anvil { child, url: String::new() };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => {
                anvil.url = format!("http://{addr}");
                Ok(anvil)
            }
            Err(_) => {
                let _ = anvil.child.kill();
                let mut err = String::new();
                if let Some(mut e) = anvil.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                Err(SettlementError::Anvil(format!("anvil did not start listening within {START_TIMEOUT:?}: {}", err.trim())))
            }
        }
    }

    /// For tests: a running anvil, or `None` (after saying why) when the binary is not
    /// installed outside CI. With `CI=true` a missing anvil is a failure, so a CI machine
    /// that lost its install step cannot pass by skipping.
    pub fn for_test() -> Option<Anvil> {
        Self::for_test_with(&[])
    }

    /// [`Anvil::for_test`] with extra command-line arguments.
    pub fn for_test_with(args: &[&str]) -> Option<Anvil> {
        if Self::binary().is_none() {
            let msg = missing_message();
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true and {msg}");
            }
            eprintln!("SKIPPED (no anvil): {msg}");
            return None;
        }
        Some(Self::start_with(args).unwrap_or_else(|e| panic!("{e}")))
    }

    /// The JSON-RPC endpoint, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Moves the chain's clock forward by `seconds` and mines a block at the new time, so
    /// that views (`block.timestamp`) see it too.
    pub async fn increase_time(&self, seconds: u64) -> Result<(), SettlementError> {
        let provider = ProviderBuilder::new().connect_http(self.url.parse().expect("a valid url"));
        let _: serde_json::Value =
            provider.raw_request("evm_increaseTime".into(), (seconds,)).await.map_err(SettlementError::rpc)?;
        let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.map_err(SettlementError::rpc)?;
        Ok(())
    }
}

impl Anvil {
    /// Fixes the timestamp of the next block (the one the next transaction is mined in, and
    /// the one gas estimates run against), to test a deadline to the second.
    pub async fn set_next_timestamp(&self, unix: u64) -> Result<(), SettlementError> {
        let provider = ProviderBuilder::new().connect_http(self.url.parse().expect("a valid url"));
        let _: serde_json::Value =
            provider.raw_request("evm_setNextBlockTimestamp".into(), (unix,)).await.map_err(SettlementError::rpc)?;
        Ok(())
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn missing_message() -> String {
    "the anvil binary is not installed: run `bash scripts/install-anvil.sh` (npm ci --prefix tools/anvil) or set VERITY_ANVIL"
        .into()
}
