//! `verity publish`, `verity infer` and `verity fetch`: talk to a node, and check what it
//! says before printing it (see `verity-client`).

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use verity_client::{Client, Error, ExecutorCheck, Verified};
use verity_commit::hash::hex;
use verity_exec::api::{Evidence, JobState, ProofJob};
use verity_receipt::to_checksum_address;

use crate::files::write_atomic;

fn client(node: &str, api_key: Option<String>) -> Client {
    Client::new(&node_url(node)).with_api_key(api_key)
}

/// A node address as a URL: `127.0.0.1:8700` means `http://127.0.0.1:8700`.
pub fn node_url(node: &str) -> String {
    if node.contains("://") {
        node.to_string()
    } else {
        format!("http://{node}")
    }
}

/// Whose receipts `verity infer` and `verity fetch` accept, and how old.
#[derive(clap::Args, Debug)]
pub struct SignerArgs {
    /// Accept receipts only from this executor address (default: the one the node
    /// advertises at /v1/info).
    #[arg(long, conflicts_with = "any_executor")]
    pub executor: Option<String>,
    /// Accept a validly signed receipt from any key, not only the node's advertised executor.
    #[arg(long)]
    pub any_executor: bool,
    /// Oldest stored receipt `verity fetch` accepts, in days; 0 accepts any age.
    #[arg(long, default_value_t = 365)]
    pub max_receipt_age_days: u64,
}

impl SignerArgs {
    pub fn apply(&self, c: Client) -> Result<Client> {
        let check = match (&self.executor, self.any_executor) {
            (Some(a), _) => ExecutorCheck::Expect(
                verity_client::parse_address(a)
                    .with_context(|| format!("--executor {a:?} is not an address (0x and 40 hex digits)"))?,
            ),
            (None, true) => ExecutorCheck::Any,
            (None, false) => ExecutorCheck::Advertised,
        };
        let age = (self.max_receipt_age_days > 0).then(|| std::time::Duration::from_secs(self.max_receipt_age_days * 86_400));
        Ok(c.with_executor(check).with_max_receipt_age(age))
    }
}

/// `verity publish`: a `.vrt` as is, or an ONNX model with its calibration file (imported
/// locally too, and the node's id must match). Prints the model id.
pub fn publish(
    node: &str,
    model: &Path,
    calibration: Option<&Path>,
    bits: u8,
    api_key: Option<String>,
    json: bool,
) -> Result<()> {
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
    if json {
        println!("{}", json!({"model_id": resp.model_id, "created": resp.created, "node": node}));
        return Ok(());
    }
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
    pub proof: Option<&'a Path>,
    pub signer: &'a SignerArgs,
}

/// Shows a proof job's progress on stderr: a bar on a terminal, otherwise one line per
/// change of state or step (for logs).
struct ProofProgress {
    bar: Option<ProgressBar>,
    last: String,
}

impl ProofProgress {
    fn new(enabled: bool) -> Self {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            ProgressBar::new(1).with_style(
                ProgressStyle::with_template("proof {msg:40} {bar:30} {pos}/{len} {elapsed}").expect("static template"),
            )
        });
        ProofProgress { bar, last: String::new() }
    }

    fn update(&mut self, job: &ProofJob) {
        let line = match (job.state, &job.progress) {
            (JobState::Queued, _) => format!("queued ({} ahead)", job.ahead.unwrap_or(0)),
            (JobState::Running, Some(p)) => format!("running: {}", p.step),
            (JobState::Running, None) => "running".to_string(),
            (JobState::Done, _) => format!("done: proof {}", job.proof_id.as_deref().unwrap_or("?")),
            (JobState::Failed, _) => format!("failed: {}", job.error.as_deref().unwrap_or("?")),
        };
        match &self.bar {
            Some(bar) => {
                bar.set_message(line);
                if let Some(p) = &job.progress {
                    bar.set_length(p.total.max(1));
                    bar.set_position(p.done);
                }
            }
            None if line != self.last => {
                eprintln!("proof job {}: {line}", job.job_id);
                self.last = line;
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `verity infer`: the node's answer, printed only after a local re-execution agrees (and,
/// for `zk`, the proof verifies).
pub fn infer(a: InferArgs) -> Result<()> {
    let evidence: Evidence = a.evidence.parse().map_err(anyhow::Error::msg)?;
    if a.receipt.is_some() && evidence != Evidence::Receipt {
        bail!("--receipt needs --evidence receipt");
    }
    if a.proof.is_some() && evidence != Evidence::Zk {
        bail!("--proof needs --evidence zk");
    }
    let input = crate::files::input_text(a.input)?;
    let mut progress = ProofProgress::new(evidence == Evidence::Zk);
    let v =
        a.signer.apply(client(a.node, None))?.infer_verified_with(a.model_id, &input, evidence, &mut |job| progress.update(job));
    progress.finish();
    let v = v?;
    if let (Some(path), Some(r)) = (a.receipt, &v.receipt) {
        write_atomic(path, r.to_json().as_bytes())?;
    }
    if let (Some(path), Some(p)) = (a.proof, &v.proof) {
        write_atomic(path, &p.bytes)?;
    }
    print_verified(&v, a.json);
    Ok(())
}

fn print_verified(v: &Verified, json: bool) {
    if json {
        let mut out = v.to_json();
        out["outputs"] = crate::run::outputs_json(&v.model.model, &v.executed.outputs, false);
        out["trace_root"] = json!(hex(&v.executed.trace.root()));
        println!("{out}");
        return;
    }
    crate::run::print_summary(&v.model.model, &v.executed);
    match (&v.receipt, &v.proof) {
        (Some(r), _) => println!(
            "verified     re-executed locally; receipt {} signed by {}",
            verity_exec::receipt_id(r),
            to_checksum_address(&r.body.executor)
        ),
        (None, Some(p)) => println!(
            "verified     re-executed locally; proof {} ({} bytes) verifies with the key derived from the model",
            p.proof_id,
            p.bytes.len()
        ),
        (None, None) => println!("verified     re-executed locally"),
    }
}

/// `verity fetch`: a model (its bytes are checked against the id), a receipt (checked by
/// re-executing its model on its input) or a proof (checked with a key derived from its
/// model), by id.
pub fn fetch(
    node: &str,
    id: &str,
    output: Option<&Path>,
    input_out: Option<&Path>,
    json: bool,
    signer: &SignerArgs,
) -> Result<()> {
    let c = signer.apply(client(node, None))?;
    match c.model(id) {
        Ok(m) => {
            if input_out.is_some() {
                bail!("--input-out is for receipts; {id} is a model");
            }
            match output {
                Some(path) => {
                    write_atomic(path, &m.model.encode())?;
                    if json {
                        println!("{}", json!({"kind": "model", "model_id": m.model.id(), "output": path.display().to_string()}));
                    }
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
        Err(Error::Node { status: 404, .. }) => return fetch_proof(&c, node, id, output, input_out, json),
        other => other?,
    };
    let text = record.receipt.to_json();
    if let Some(path) = input_out {
        write_atomic(path, record.input.get().as_bytes())?;
    }
    match output {
        Some(path) => {
            write_atomic(path, text.as_bytes())?;
            if json {
                println!(
                    "{}",
                    json!({"kind": "receipt", "receipt_id": verity_exec::receipt_id(&record.receipt), "model_id": record.model_id,
                        "executor": to_checksum_address(&record.receipt.body.executor),
                        "output_hash": hex(&v.executed.output_hash), "output": path.display().to_string()})
                );
            }
        }
        None => println!("{text}"),
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

/// `verity fetch` of a proof, by job id or proof id: waits for the job, verifies the proof,
/// then writes the proof file (`-o`) or prints a summary of what it proves.
fn fetch_proof(c: &Client, node: &str, id: &str, output: Option<&Path>, input_out: Option<&Path>, json: bool) -> Result<()> {
    if input_out.is_some() {
        // Fail before waiting on anything: a proof carries its quantized input, not the
        // input document.
        bail!("--input-out is for receipts");
    }
    let mut progress = ProofProgress::new(true);
    let result = c.fetch_proof_verified(id, &mut |job| progress.update(job));
    progress.finish();
    let (model, p) = match result {
        Err(Error::Node { status: 404, .. }) => bail!("{node} has no model, no receipt and no proof with id {id}"),
        other => other?,
    };
    let m = &model.model;
    if let Some(path) = output {
        write_atomic(path, &p.bytes)?;
    }
    if output.is_none() || json {
        println!(
            "{}",
            json!({
                "kind": "proof",
                "proof_id": p.proof_id,
                "proof_job": p.job.job_id,
                "proof_bytes": p.bytes.len(),
                "model_id": m.id(),
                "input_hash": hex(&verity_exec::list_root(m, &m.inputs, &p.file.inputs)),
                "output_hash": hex(&verity_exec::list_root(m, &m.outputs, &p.file.outputs)),
                "outputs": crate::run::outputs_json(m, &p.file.outputs, false),
            })
        );
    }
    eprintln!(
        "proof {} verified: model {} maps its input to output {} (key derived from the model, checked against its id)",
        p.proof_id,
        m.id(),
        hex(&verity_exec::list_root(m, &m.outputs, &p.file.outputs))
    );
    Ok(())
}
