//! `verity publish`, `verity infer` and `verity fetch`: talk to a node, and check what it
//! says before printing it (see `verity-client`).

use std::path::Path;

use anyhow::{bail, Context, Result};
use verity_client::{Client, Error, Verified};
use verity_commit::hash::hex;
use verity_exec::api::Evidence;
use verity_receipt::to_checksum_address;

use crate::files::write_atomic;

fn client(node: &str, api_key: Option<String>) -> Client {
    Client::new(node).with_api_key(api_key)
}

/// `verity publish`: a `.vrt` as is, or an ONNX model with its calibration file (imported
/// locally too, and the node's id must match). Prints the model id.
pub fn publish(node: &str, model: &Path, calibration: Option<&Path>, bits: u8, api_key: Option<String>) -> Result<()> {
    let bytes = std::fs::read(model).with_context(|| format!("cannot read {}", model.display()))?;
    let c = client(node, api_key);
    let is_vrt = bytes.starts_with(verity_model::MAGIC) || model.extension().is_some_and(|e| e == "vrt");
    let resp = if is_vrt {
        if calibration.is_some() {
            bail!("--calibration is for ONNX models; {} is a canonical model", model.display());
        }
        c.publish_vrt(&bytes).with_context(|| format!("cannot publish {}", model.display()))?
    } else {
        let cal = calibration.context("publishing an ONNX model needs --calibration (samples to choose scales)")?;
        let text = std::fs::read_to_string(cal).with_context(|| format!("cannot read {}", cal.display()))?;
        c.publish_onnx(&bytes, &text, bits).with_context(|| format!("cannot publish {}", model.display()))?
    };
    eprintln!("{} on {node}", if resp.created { "published" } else { "already published" });
    println!("{}", resp.model_id);
    Ok(())
}

pub struct InferArgs<'a> {
    pub node: &'a str,
    pub model_id: &'a str,
    pub input: &'a Path,
    pub evidence: &'a str,
    pub json: bool,
    pub receipt: Option<&'a Path>,
}

/// `verity infer`: the node's answer, printed only after a local re-execution agrees.
pub fn infer(a: InferArgs) -> Result<()> {
    let evidence: Evidence = a.evidence.parse().map_err(anyhow::Error::msg)?;
    let input = std::fs::read_to_string(a.input).with_context(|| format!("cannot read input {}", a.input.display()))?;
    let v = client(a.node, None).infer_verified(a.model_id, &input, evidence)?;
    if let (Some(path), Some(r)) = (a.receipt, &v.receipt) {
        write_atomic(path, r.to_json().as_bytes())?;
    } else if a.receipt.is_some() {
        bail!("--receipt needs --evidence receipt");
    }
    print_verified(&v, a.json);
    Ok(())
}

fn print_verified(v: &Verified, json: bool) {
    if json {
        println!("{}", v.to_json());
        return;
    }
    crate::run::print_summary(&v.model.model, &v.executed);
    match &v.receipt {
        Some(r) => println!(
            "verified     re-executed locally; receipt {} signed by {}",
            verity_exec::receipt_id(r),
            to_checksum_address(&r.body.executor)
        ),
        None => println!("verified     re-executed locally"),
    }
}

/// `verity fetch`: a model (its bytes are checked against the id) or a receipt (checked by
/// re-executing its model on its input), by id.
pub fn fetch(node: &str, id: &str, output: Option<&Path>, input_out: Option<&Path>) -> Result<()> {
    let c = client(node, None);
    match c.model(id) {
        Ok(m) => {
            if input_out.is_some() {
                bail!("--input-out is for receipts; {id} is a model");
            }
            match output {
                Some(path) => {
                    write_atomic(path, &m.model.encode())?;
                    eprintln!("model {} verified (its bytes hash to the id), written to {}", m.model.id(), path.display());
                }
                None => println!("{}", serde_json::to_string_pretty(&verity_exec::inspect_json(&m.model))?),
            }
            return Ok(());
        }
        Err(Error::Node { status: 404, .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let (record, v) = match c.fetch_receipt_verified(id) {
        Err(Error::Node { status: 404, .. }) => bail!("{node} has no model and no receipt with id {id}"),
        other => other?,
    };
    let text = record.receipt.to_json();
    match output {
        Some(path) => write_atomic(path, text.as_bytes())?,
        None => println!("{text}"),
    }
    if let Some(path) = input_out {
        write_atomic(path, record.input.get().as_bytes())?;
    }
    eprintln!(
        "receipt {} verified: signed by {}, re-executed model {} on its input, output {}",
        verity_exec::receipt_id(&record.receipt),
        to_checksum_address(&record.receipt.body.executor),
        record.model_id,
        hex(&v.executed.output_hash)
    );
    Ok(())
}
