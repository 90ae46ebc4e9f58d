//! `verity publish`, `verity infer` and `verity fetch`: talk to a node, and check what it
//! says before printing it (see `verity-client`).

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use verity_client::{Client, Error, ExecutorCheck, KeySource, LightVerified, Verified};
use verity_commit::hash::hex;
use verity_exec::api::{Evidence, JobState, ProofJob};
use verity_receipt::to_checksum_address;

use crate::files::write_atomic;

/// How `https://` nodes are trusted.
#[derive(clap::Args, Debug, Default)]
pub struct TlsArgs {
    /// Trust only the certificate authorities in this PEM file for https:// nodes (a
    /// private or self-signed certificate), instead of the Mozilla roots.
    #[arg(long, env = "VERITY_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<std::path::PathBuf>,
}

/// A client for `node`, trusting `tls.ca_cert` (a PEM file) instead of the Mozilla roots
/// for `https://` nodes when it is given.
pub fn client(node: &str, api_key: Option<String>, tls: &TlsArgs) -> Result<Client> {
    let c = Client::new(&node_url(node)).with_api_key(api_key);
    match tls.ca_cert.as_deref().filter(|p| !p.as_os_str().is_empty()) {
        None => Ok(c),
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                crate::exit::io(anyhow::Error::new(e).context(format!("cannot read CA certificate {}", path.display())))
            })?;
            c.with_ca_cert_pem(&pem).with_context(|| format!("--ca-cert {}", path.display()))
        }
    }
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

/// Model hub metadata for `verity publish` (docs/node.md, "Model hub").
#[derive(clap::Args, Debug)]
pub struct HubArgs {
    /// Publish under this name: a name that exists gets a new version.
    #[arg(long)]
    pub name: Option<String>,
    /// What the model does (needs --name).
    #[arg(long)]
    pub description: Option<String>,
    /// The task, e.g. image-classification (needs --name).
    #[arg(long)]
    pub task: Option<String>,
    /// The license, e.g. MIT (needs --name).
    #[arg(long)]
    pub license: Option<String>,
    /// A tag (repeatable, needs --name).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
}

impl HubArgs {
    fn meta(&self) -> verity_exec::api::PublishMeta {
        verity_exec::api::PublishMeta {
            name: self.name.clone(),
            description: self.description.clone(),
            task: self.task.clone(),
            license: self.license.clone(),
            tags: self.tags.clone(),
        }
    }
}

/// `verity publish`: a `.vrt` as is, or an ONNX model with its calibration file (imported
/// locally too, and the node's id must match), through `c`, the client of `node`. Prints
/// the model id.
pub fn publish(
    c: &Client,
    node: &str,
    model: &Path,
    calibration: Option<&Path>,
    bits: u8,
    json: bool,
    hub: &HubArgs,
) -> Result<()> {
    let meta = hub.meta();
    let bytes = std::fs::read(model).with_context(|| format!("cannot read {}", model.display()))?;
    let is_vrt = bytes.starts_with(verity_model::MAGIC) || model.extension().is_some_and(|e| e == "vrt");
    let resp = if is_vrt {
        if calibration.is_some() {
            bail!("--calibration is for ONNX models; {} is a canonical model", model.display());
        }
        c.publish_vrt_with(&bytes, &meta).with_context(|| format!("cannot publish {}", model.display()))?
    } else {
        let cal = calibration.context("publishing an ONNX model needs --calibration (samples to choose scales)")?;
        let text = std::fs::read_to_string(cal).with_context(|| format!("cannot read {}", cal.display()))?;
        for w in verity_exec::calibration_warnings(&bytes, &text) {
            eprintln!("warning: {w}");
        }
        c.publish_onnx_with(&bytes, &text, bits, &meta).with_context(|| format!("cannot publish {}", model.display()))?
    };
    // The version a name got is the node's to assign; ask it back.
    let version = match &meta.name {
        Some(_) => c.describe_model(&resp.model_id).ok().and_then(|d| d["version"].as_u64()),
        None => None,
    };
    if json {
        let mut out = json!({"model_id": resp.model_id, "created": resp.created, "node": node});
        if let (Some(n), Some(v)) = (&meta.name, version) {
            out["name"] = json!(n);
            out["version"] = json!(v);
        }
        println!("{out}");
        return Ok(());
    }
    let named = match (&meta.name, version) {
        (Some(n), Some(v)) => format!(" as {n} version {v}"),
        _ => String::new(),
    };
    eprintln!("{}{named} on {node}", if resp.created { "published" } else { "already published" });
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
    pub vk: Option<&'a Path>,
    pub vk_id: Option<&'a str>,
    pub reexecute: bool,
    pub signer: &'a SignerArgs,
    pub tls: &'a TlsArgs,
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
    if (a.vk.is_some() || a.vk_id.is_some() || a.reexecute) && evidence != Evidence::Zk {
        bail!("--vk, --vk-id and --reexecute go with --evidence zk");
    }
    let input = crate::files::input_text(a.input)?;
    let mut progress = ProofProgress::new(evidence == Evidence::Zk);
    if evidence == Evidence::Zk && !a.reexecute {
        let source = key_source(a.vk, a.vk_id)?;
        let v = client(a.node, None, a.tls)?.infer_light(a.model_id, &input, &source, &mut |job| progress.update(job));
        progress.finish();
        let v = v?;
        if let Some(path) = a.proof {
            write_atomic(path, &v.proof.bytes)?;
        }
        print_light(&v, a.json);
        return Ok(());
    }
    let v = a
        .signer
        .apply(client(a.node, None, a.tls)?)?
        .infer_verified_with(a.model_id, &input, evidence, &mut |job| progress.update(job));
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

/// The key of a light check: `--vk FILE`, the node's key pinned by `--vk-id`, or one
/// derived from the downloaded model.
fn key_source(vk: Option<&Path>, vk_id: Option<&str>) -> Result<KeySource> {
    if let Some(path) = vk {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let key =
            verity_zk::vk::LightKey::decode(&bytes).map_err(|e| anyhow::anyhow!("bad verifying key {}: {e}", path.display()))?;
        return Ok(KeySource::Local(std::sync::Arc::new(key)));
    }
    if let Some(id) = vk_id {
        let pin = verity_exec::parse_id(id)
            .with_context(|| format!("--vk-id {id:?} is not a key digest (64 hex digits, `verity keygen --json`'s vk_id)"))?;
        return Ok(KeySource::Pinned(pin));
    }
    Ok(KeySource::Derived)
}

fn print_light(v: &LightVerified, json: bool) {
    let m = v.model();
    if json {
        let mut out = v.to_json();
        out["outputs"] = crate::run::outputs_json(m, &v.outputs, false);
        println!("{out}");
        return;
    }
    println!("model id     {}", hex(&v.model_id));
    println!("input hash   {}", hex(&v.input_hash));
    println!("output hash  {}", hex(&v.output_hash));
    crate::run::print_outputs(m, &v.outputs);
    println!(
        "verified     proof {} ({} bytes) verifies with {} (vk_id {}); not re-executed",
        v.proof.proof_id,
        v.proof.bytes.len(),
        v.source,
        hex(&v.key.key_id())
    );
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
    tls: &TlsArgs,
) -> Result<()> {
    let c = signer.apply(client(node, None, tls)?)?;
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
    let record = match c.receipt(id) {
        Err(Error::Node { status: 404, .. }) => return fetch_proof(&c, node, id, output, input_out, json),
        other => other?,
    };
    if serde_json::from_str::<verity_llm::Completion>(record.input.get()).is_ok() {
        return fetch_chat_receipt(&c, id, &record, output, input_out, json);
    }
    let v = c.check_record(id, &record)?;
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

/// `verity fetch` of a chat completion's receipt: checked by its signature, its signer and
/// its claims about the completion stored with it (re-deriving needs the GGUF: `verity
/// verify MODEL.gguf --receipt FILE` on the file `-o` writes).
fn fetch_chat_receipt(
    c: &Client,
    id: &str,
    record: &verity_exec::api::ReceiptRecord,
    output: Option<&Path>,
    input_out: Option<&Path>,
    json: bool,
) -> Result<()> {
    let (file, _) = c.check_chat_record(id, record, None, 1)?;
    let text = serde_json::to_string_pretty(&file)?;
    if let Some(path) = input_out {
        write_atomic(path, record.input.get().as_bytes())?;
    }
    let r = &record.receipt;
    let executor = to_checksum_address(&r.body.executor);
    match output {
        Some(path) => {
            write_atomic(path, text.as_bytes())?;
            if json {
                println!(
                    "{}",
                    json!({"kind": "llm-receipt", "receipt_id": verity_exec::receipt_id(r), "model_id": record.model_id,
                        "executor": executor, "tokens": file.completion.tokens.len(),
                        "trace_root": file.completion.trace_root, "checked": "receipt-claims",
                        "output": path.display().to_string()})
                );
            }
        }
        None => println!("{text}"),
    }
    eprintln!(
        "chat receipt {} checked: signed by {executor}, its claims are the stored completion's ({} tokens); \
         not re-derived (verity verify MODEL.gguf --receipt FILE does that)",
        verity_exec::receipt_id(r),
        file.completion.tokens.len()
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

/// `verity list receipts|proofs`: one page of what the node stored (unchecked; `verity
/// fetch ID` verifies one).
pub fn list(
    node: &str,
    kind: &str,
    q: &verity_client::ListQuery,
    api_key: Option<String>,
    json: bool,
    tls: &TlsArgs,
) -> Result<()> {
    let c = client(node, api_key, tls)?;
    let page = match kind {
        "receipts" => c.list_receipts(q)?,
        "proofs" => c.list_proofs(q)?,
        other => bail!("verity list takes `receipts` or `proofs`, not {other:?}"),
    };
    if json {
        println!("{page}");
        return Ok(());
    }
    let items = page[kind].as_array().cloned().unwrap_or_default();
    for it in &items {
        match kind {
            "receipts" => println!(
                "{}  model {}  issued {}  output {}",
                it["receipt_id"].as_str().unwrap_or("?"),
                it["model_id"].as_str().unwrap_or("?"),
                it["issued_at"],
                it["output_hash"].as_str().unwrap_or("?")
            ),
            _ => println!(
                "{}  model {}  {}  {}",
                it["job_id"].as_str().unwrap_or("?"),
                it["model_id"].as_str().unwrap_or("?"),
                it["state"].as_str().unwrap_or("?"),
                it["proof_id"].as_str().unwrap_or("")
            ),
        }
    }
    match page["next_after"].as_u64() {
        Some(n) => eprintln!("{} {kind}; more with --after {n}", items.len()),
        None => eprintln!("{} {kind}", items.len()),
    }
    Ok(())
}
