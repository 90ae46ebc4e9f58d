//! `verity prove` and `verity verify --proof`: zero-knowledge-style proofs of inference
//! (the weights are committed, not hidden; see docs/zk.md).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use verity_commit::hash::hex;
use verity_model::Model;
use verity_zk::file::ProofFile;
use verity_zk::protocol::{keygen, prove, trace_values, Verifier};
use verity_zk::vk::LightKey;

use crate::exit;
use crate::files::{read_input, read_model, write_atomic};
use crate::run::{outputs_json, print_outputs};

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
                   "key_ms": key_ms, "prove_ms": prove_ms,
                   "input_hash": hex(&verity_exec::input_hash(&model, &file.inputs)),
                   "output_hash": hex(&verity_exec::list_root(&model, &model.outputs, &file.outputs)),
                   "outputs": outputs_json(&model, &file.outputs, false)})
        );
    } else {
        eprintln!("proof written to {} ({} bytes; key {key_ms:.1} ms, proving {prove_ms:.1} ms)", output.display(), bytes.len());
        print_outputs(&model, &file.outputs);
    }
    Ok(())
}

/// `verity keygen`: writes the model's verifying key (docs/zk.md).
pub fn run_keygen(model_path: &Path, output: &Path, json: bool) -> Result<()> {
    let model = read_model(model_path)?;
    let t0 = Instant::now();
    let key = LightKey::new(&model).map_err(anyhow::Error::msg).context("cannot make a verifying key for this model")?;
    let key_ms = t0.elapsed().as_secs_f64() * 1e3;
    let bytes = key.encode();
    write_atomic(output, &bytes)?;
    if json {
        println!(
            "{}",
            json!({"model_id": model.id(), "vk": output.display().to_string(), "vk_bytes": bytes.len(),
                   "vk_id": hex(&key.key_id()), "key_ms": key_ms})
        );
    } else {
        eprintln!("verifying key written to {} ({} bytes, {key_ms:.1} ms)", output.display(), bytes.len());
        println!("model id {}", model.id());
        println!("vk id    {}", hex(&key.key_id()));
    }
    Ok(())
}

/// What `verify --proof` checks against: the model itself, or its verifying key alone.
pub enum Against<'a> {
    Model(&'a Path),
    Key(&'a Path),
}

pub fn run_verify(proof: &Path, against: Against, input: Option<&Path>, json: bool) -> Result<()> {
    let bytes = std::fs::read(proof)
        .map_err(|e| exit::io(anyhow::Error::new(e).context(format!("cannot read proof {}", proof.display()))))?;
    let file =
        ProofFile::decode(&bytes).map_err(|e| exit::invalid(anyhow::anyhow!("bad proof file {}: {e}", proof.display())))?;
    // Deriving the key (the weight commitment) and the circuit is a one-time setup per
    // model; checking a proof is the rest.
    let t0 = Instant::now();
    let owned_model;
    let light;
    let (model, verifier): (&Model, Verifier) = match against {
        Against::Model(path) => {
            owned_model = read_model(path)?;
            if file.model_id != owned_model.id_bytes() {
                return Err(exit::invalid(anyhow::anyhow!(
                    "the proof is for model {}, not {} ({})",
                    hex(&file.model_id),
                    owned_model.id(),
                    path.display()
                )));
            }
            let pk = keygen(&owned_model).map_err(anyhow::Error::msg).context("cannot verify proofs for this model")?;
            let v = Verifier::new(&owned_model, &pk.vk).map_err(anyhow::Error::msg)?;
            (&owned_model, v)
        }
        Against::Key(path) => {
            let kb = std::fs::read(path)
                .map_err(|e| exit::io(anyhow::Error::new(e).context(format!("cannot read verifying key {}", path.display()))))?;
            light = LightKey::decode(&kb).map_err(|e| anyhow::anyhow!("bad verifying key {}: {e}", path.display()))?;
            if file.model_id != light.vk.model_id {
                return Err(exit::invalid(anyhow::anyhow!(
                    "the proof is for model {}, the verifying key {} for model {}",
                    hex(&file.model_id),
                    path.display(),
                    hex(&light.vk.model_id)
                )));
            }
            (light.model(), light.verifier().map_err(anyhow::Error::msg)?)
        }
    };
    let key_ms = t0.elapsed().as_secs_f64() * 1e3;
    let model_id = hex(&file.model_id);
    let input_hash = hex(&verity_exec::input_hash(model, &file.inputs));
    if let Some(i) = input {
        let given = read_input(model, i)?;
        if given != file.inputs {
            return Err(exit::invalid(anyhow::anyhow!(
                "proof {} is for another input: it proves input hash {input_hash}, {} has {}",
                proof.display(),
                crate::files::input_label(i),
                hex(&verity_exec::input_hash(model, &given))
            )));
        }
    }
    let t1 = Instant::now();
    verifier
        .verify(&file.inputs, &file.outputs, &file.proof)
        .map_err(|e| exit::invalid(anyhow::anyhow!("proof {} is INVALID: {e}", proof.display())))?;
    let verify_ms = t1.elapsed().as_secs_f64() * 1e3;
    let output_hash = hex(&verity_exec::list_root(model, &model.outputs, &file.outputs));
    if json {
        println!(
            "{}",
            json!({"valid": true, "evidence": "zk", "model_id": model_id, "input_hash": input_hash,
                   "output_hash": output_hash, "input_checked": input.is_some(), "key_ms": key_ms,
                   "verify_ms": verify_ms, "outputs": outputs_json(model, &file.outputs, false)})
        );
    } else {
        println!("proof OK: model {model_id} (checked in {verify_ms:.2} ms after a {key_ms:.1} ms key and circuit setup)");
        println!("input hash   {input_hash}{}", if input.is_some() { " (the given input)" } else { "" });
        println!("output hash  {output_hash}");
        print_outputs(model, &file.outputs);
    }
    Ok(())
}
