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

/// The executor key. A key named by `--key` or `$VERITY_KEY` must exist unless `new_key`
/// (a mistyped path must not silently become a new identity); the default
/// `~/.verity/executor.key` is created on first use.
pub fn signer(key: Option<&Path>, new_key: bool) -> Result<Signer> {
    let named = key.is_some() || std::env::var_os("VERITY_KEY").is_some();
    let kp = key_path(key)?;
    if named && !new_key && !kp.exists() {
        anyhow::bail!(
            "executor key {} does not exist: check the path, or pass --new-key to create a new identity there",
            kp.display()
        );
    }
    let (signer, created) = Signer::load_or_create(&kp).with_context(|| format!("executor key {}", kp.display()))?;
    if created {
        eprintln!("created executor key {} (address {})", kp.display(), to_checksum_address(&signer.address()));
    }
    Ok(signer)
}

/// Signs and writes a receipt with the key `signer` picks.
pub fn write_with(model: &Model, ex: &Executed, path: &Path, key: Option<&Path>, new_key: bool) -> Result<()> {
    let signer = signer(key, new_key)?;
    let receipt = verity_exec::sign_receipt(&signer, model.id_bytes(), ex, verity_exec::unix_now());
    write_atomic(path, receipt.to_json().as_bytes())?;
    eprintln!("receipt written to {} (signed by {})", path.display(), to_checksum_address(&signer.address()));
    Ok(())
}

/// `verity verify --receipt`: the signature, then a re-execution that must reproduce
/// every claim, the trace root included.
pub fn verify(receipt: &Path, model: &Path, input: &Path, json: bool) -> Result<()> {
    let text = std::fs::read_to_string(receipt)
        .map_err(|e| crate::exit::io(anyhow::Error::new(e).context(format!("cannot read receipt {}", receipt.display()))))?;
    let r =
        Receipt::from_json(&text).map_err(|e| crate::exit::invalid(anyhow::anyhow!("bad receipt {}: {e}", receipt.display())))?;
    verity_exec::check_signature(&r).map_err(crate::exit::invalid)?;
    let m = read_model(model)?;
    let inputs = read_input(&m, input)?;
    let ex = execute(&engine(&m, None)?, &m, &inputs)?;
    verity_exec::check_execution(&r, &m.id_bytes(), &ex)
        .map_err(|e| crate::exit::invalid(anyhow::anyhow!("receipt {} is INVALID: {e}", receipt.display())))?;
    let signer = to_checksum_address(&r.body.executor);
    if json {
        println!(
            "{}",
            serde_json::json!({"valid": true, "evidence": "receipt", "executor": signer, "model_id": m.id(),
                "input_hash": hex(&ex.input_hash), "output_hash": hex(&ex.output_hash), "trace_root": hex(&ex.trace.root()),
                "outputs": crate::run::outputs_json(&m, &ex.outputs, false)})
        );
    } else {
        println!("receipt OK: signed by {signer}, model {}, output {}", m.id(), hex(&ex.output_hash));
    }
    Ok(())
}
