//! Writing and checking signed receipts.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use verity_commit::hash::hex;
use verity_model::Model;
use verity_receipt::{to_checksum_address, Receipt, Signer};

use crate::files::{read_input, read_model, write_atomic};
use verity_exec::{engine, execute, Executed};

/// `--key`, else `$VERITY_KEY`, else `~/.verity/executor.key`.
fn key_path(key: Option<&Path>) -> Result<PathBuf> {
    if let Some(k) = key {
        return Ok(k.to_path_buf());
    }
    if let Some(k) = std::env::var_os("VERITY_KEY") {
        return Ok(PathBuf::from(k));
    }
    let home = std::env::var_os("HOME").context("no --key given and HOME is not set")?;
    Ok(PathBuf::from(home).join(".verity").join("executor.key"))
}

pub fn write(model: &Model, ex: &Executed, path: &Path, key: Option<&Path>) -> Result<()> {
    let kp = key_path(key)?;
    let (signer, created) = Signer::load_or_create(&kp).with_context(|| format!("executor key {}", kp.display()))?;
    if created {
        eprintln!("created executor key {} (address {})", kp.display(), to_checksum_address(&signer.address()));
    }
    let receipt = verity_exec::sign_receipt(&signer, model.id_bytes(), ex, verity_exec::unix_now());
    write_atomic(path, receipt.to_json().as_bytes())?;
    eprintln!("receipt written to {} (signed by {})", path.display(), to_checksum_address(&signer.address()));
    Ok(())
}

/// `verity verify --receipt`: the signature, then a re-execution that must reproduce
/// every claim, the trace root included.
pub fn verify(receipt: &Path, model: &Path, input: &Path) -> Result<()> {
    let text = std::fs::read_to_string(receipt).with_context(|| format!("cannot read receipt {}", receipt.display()))?;
    let r = Receipt::from_json(&text).with_context(|| format!("bad receipt {}", receipt.display()))?;
    verity_exec::check_signature(&r)?;
    let m = read_model(model)?;
    let inputs = read_input(&m, input)?;
    let ex = execute(&engine(&m, None)?, &m, &inputs)?;
    verity_exec::check_execution(&r, &m.id_bytes(), &ex)?;
    println!(
        "receipt OK: signed by {}, model {}, output {}",
        to_checksum_address(&r.body.executor),
        m.id(),
        hex(&ex.output_hash)
    );
    Ok(())
}
