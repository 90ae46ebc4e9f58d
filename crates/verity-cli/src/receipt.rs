//! Writing and checking signed receipts.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use verity_commit::hash::hex;
use verity_model::Model;
use verity_receipt::{to_checksum_address, Claims, EvidenceKind, Receipt, ReceiptBody, Signer};

use crate::exec::{engine, execute, Executed};
use crate::files::{read_input, read_model, write_atomic};

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
    let body = ReceiptBody {
        model_id: model.id_bytes(),
        input_hash: ex.input_hash,
        output_hash: ex.output_hash,
        trace_root: ex.trace.root(),
        evidence: EvidenceKind::Reexecution,
        executor: signer.address(),
        timestamp: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    };
    let receipt = signer.sign(body);
    write_atomic(path, receipt.to_json().as_bytes())?;
    eprintln!("receipt written to {} (signed by {})", path.display(), to_checksum_address(&signer.address()));
    Ok(())
}

/// `verity verify --receipt`: the signature, then a re-execution that must reproduce
/// every claim, the trace root included.
pub fn verify(receipt: &Path, model: &Path, input: &Path) -> Result<()> {
    let text = std::fs::read_to_string(receipt).with_context(|| format!("cannot read receipt {}", receipt.display()))?;
    let r = Receipt::from_json(&text).with_context(|| format!("bad receipt {}", receipt.display()))?;
    r.verify_signature().context("receipt signature is not valid")?;
    let m = read_model(model)?;
    let inputs = read_input(&m, input)?;
    let ex = execute(&engine(&m, None)?, &m, &inputs)?;
    let claims = Claims { model_id: m.id_bytes(), input_hash: ex.input_hash, output_hash: ex.output_hash };
    r.check(&claims).context("receipt does not match this model and input")?;
    if r.body.trace_root != ex.trace.root() {
        bail!("receipt trace root {} differs from the re-executed trace {}", hex(&r.body.trace_root), hex(&ex.trace.root()));
    }
    println!(
        "receipt OK: signed by {}, model {}, output {}",
        to_checksum_address(&r.body.executor),
        m.id(),
        hex(&ex.output_hash)
    );
    Ok(())
}
