//! `verity prove` and `verity verify --proof`: zero-knowledge-style proofs of inference
//! (the weights are committed, not hidden; see docs/zk.md).

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use verity_commit::hash::hex;
use verity_exec::real_outputs;
use verity_zk::file::ProofFile;
use verity_zk::protocol::{keygen, prove, trace_values, Verifier};

use crate::files::{read_input, read_model, write_atomic};
use crate::run::print_outputs;

pub fn run_prove(model_path: &Path, input: &Path, output: &Path, json: bool) -> Result<()> {
    let model = read_model(model_path)?;
    let inputs = read_input(&model, input)?;
    let t0 = Instant::now();
    let pk = keygen(&model).map_err(anyhow::Error::msg).context("cannot prove this model")?;
    let key_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let values = trace_values(&model, &inputs).map_err(anyhow::Error::msg)?;
    let bar = ProgressBar::new(1)
        .with_style(ProgressStyle::with_template("{msg:32} {bar:30} {pos}/{len} {elapsed}").expect("static template"));
    let proof = prove(&model, &pk, &values, &mut |step, done, total| {
        bar.set_message(step.to_string());
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .map_err(anyhow::Error::msg)
    .context("proving failed")?;
    bar.finish_and_clear();
    let prove_ms = t1.elapsed().as_secs_f64() * 1e3;
    let outputs: Vec<_> = model.outputs.iter().map(|&v| values[v as usize].clone().expect("output")).collect();
    let file = ProofFile { model_id: model.id_bytes(), inputs, outputs, proof };
    let bytes = file.encode();
    write_atomic(output, &bytes)?;
    if json {
        println!(
            "{}",
            json!({"model_id": model.id(), "proof": output.display().to_string(), "proof_bytes": bytes.len(),
                   "key_ms": key_ms, "prove_ms": prove_ms, "outputs": real_outputs(&model, &file.outputs)})
        );
    } else {
        eprintln!("proof written to {} ({} bytes; key {key_ms:.1} ms, proving {prove_ms:.1} ms)", output.display(), bytes.len());
        print_outputs(&model, &file.outputs);
    }
    Ok(())
}

pub fn run_verify(proof: &Path, model_path: &Path, json: bool) -> Result<()> {
    let bytes = std::fs::read(proof).with_context(|| format!("cannot read proof {}", proof.display()))?;
    let file =
        ProofFile::decode(&bytes).map_err(anyhow::Error::msg).with_context(|| format!("bad proof file {}", proof.display()))?;
    let model = read_model(model_path)?;
    if file.model_id != model.id_bytes() {
        bail!("the proof is for model {}, not {} ({})", hex(&file.model_id), model.id(), model_path.display());
    }
    // Deriving the key (the weight commitment) and the circuit is a one-time setup per
    // model; checking a proof is the rest.
    let t0 = Instant::now();
    let pk = keygen(&model).map_err(anyhow::Error::msg).context("cannot verify proofs for this model")?;
    let verifier = Verifier::new(&model, &pk.vk).map_err(anyhow::Error::msg)?;
    let key_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    verifier
        .verify(&file.inputs, &file.outputs, &file.proof)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("proof {} is INVALID", proof.display()))?;
    let verify_ms = t1.elapsed().as_secs_f64() * 1e3;
    if json {
        println!(
            "{}",
            json!({"valid": true, "model_id": model.id(), "key_ms": key_ms, "verify_ms": verify_ms,
                   "outputs": real_outputs(&model, &file.outputs)})
        );
    } else {
        println!("proof OK: model {} (checked in {verify_ms:.2} ms after a {key_ms:.1} ms key and circuit setup)", model.id());
        print_outputs(&model, &file.outputs);
    }
    Ok(())
}
