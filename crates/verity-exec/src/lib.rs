//! The operations every Verity party performs the same way: parse an input, execute a
//! canonical model while committing its trace, sign a receipt, and check a receipt against
//! a re-execution. The CLI (`verity run`/`verify`), the node and the client all call these
//! functions, so an answer the node gives and the check a client makes cannot drift apart.
//!
//! [`api`] holds the node's HTTP wire types, shared by the server and its client.

pub mod api;
mod check;

use serde_json::{json, Value};
use verity_commit::{Hash, TensorCommitment, TraceBuilder, TraceCommitment};
use verity_engine::{Engine, EngineError};
use verity_import::{ImportError, ImportOptions};
use verity_model::input::{dequantize, input_names, parse_input_json, quantize_inputs};
use verity_model::{reference, Model, ModelError, Tensor};
use verity_receipt::{EvidenceKind, Receipt, ReceiptBody, Signer};

pub use check::{check_execution, check_receipt, check_signature, CheckError, CheckField};

/// Why an input could not be read or a model could not be run on it. Every variant is
/// the caller's fault (a malformed model or input), never an internal error.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// One execution: the outputs, the trace commitment, and the hashes a receipt signs.
pub struct Executed {
    pub outputs: Vec<Tensor>,
    pub trace: TraceCommitment,
    pub input_hash: Hash,
    pub output_hash: Hash,
}

/// An engine for `model` with `threads` workers (default: all cores).
pub fn engine(model: &Model, threads: Option<usize>) -> Result<Engine, ExecError> {
    let engine = Engine::new(model)?;
    Ok(match threads {
        Some(n) => engine.with_threads(n),
        None => engine,
    })
}

/// Runs `model` with `engine`, committing each op's output as soon as it is computed.
pub fn execute(engine: &Engine, model: &Model, inputs: &[Tensor]) -> Result<Executed, ExecError> {
    let mut builder = TraceBuilder::new(model, inputs);
    let outputs = engine.run_with_trace(inputs, |_, t| builder.push(t))?;
    Ok(finish(model, builder.finish(), outputs))
}

/// The same as [`execute`] with the reference interpreter: an independent implementation
/// of the semantics, which is what an auditor wants to compare the engine against.
pub fn execute_reference(model: &Model, inputs: &[Tensor]) -> Result<Executed, ExecError> {
    reference::check_inputs(model, inputs)?;
    let nodes = reference::trace(model, inputs)?;
    let mut builder = TraceBuilder::new(model, inputs);
    for t in &nodes {
        builder.push(t);
    }
    // Canonical models number values in execution order: the inputs, then each node's output.
    let value = |id: u32| inputs.iter().chain(&nodes).nth(id as usize).cloned();
    let outputs = model
        .outputs
        .iter()
        .map(|&o| value(o))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ModelError::Invalid("an output id is not a value of the model".into()))?;
    Ok(finish(model, builder.finish(), outputs))
}

fn finish(model: &Model, trace: TraceCommitment, outputs: Vec<Tensor>) -> Executed {
    let input_hash = leaf_list_hash(&trace, &model.inputs);
    let output_hash = leaf_list_hash(&trace, &model.outputs);
    Executed { outputs, trace, input_hash, output_hash }
}

fn leaf_list_hash(trace: &TraceCommitment, ids: &[u32]) -> Hash {
    let roots: Vec<Hash> = ids.iter().map(|&i| trace.leaf(i as usize)).collect();
    verity_commit::hash::list(&roots)
}

/// Commitments to tensors of `model` values `ids` (for runs without a trace).
pub fn list_root(model: &Model, ids: &[u32], tensors: &[Tensor]) -> Hash {
    let commits: Vec<TensorCommitment> =
        ids.iter().zip(tensors).map(|(&id, t)| TensorCommitment::new(model.value(id).bits, &t.shape, &t.data)).collect();
    verity_commit::list_root(&commits)
}

/// The input hash a receipt for a run of `model` on `inputs` claims, without running it
/// (the same commitments the trace starts with). Lets a verifier refuse a receipt that
/// does not apply to an input before spending a re-execution on it.
pub fn input_hash(model: &Model, inputs: &[Tensor]) -> Hash {
    list_root(model, &model.inputs, inputs)
}

/// Parses an input document (EZKL `{"input_data": [[...]]}` or named `{"NAME": [...]}`)
/// and quantizes it for `model`.
pub fn parse_input(model: &Model, text: &str) -> Result<Vec<Tensor>, ModelError> {
    let lists = parse_input_json(text, &input_names(model))?;
    quantize_inputs(model, &lists)
}

/// The reals each output stands for (`q * scale`).
pub fn real_outputs(model: &Model, outputs: &[Tensor]) -> Vec<Vec<f64>> {
    outputs.iter().enumerate().map(|(i, t)| dequantize(model, i, t)).collect()
}

/// The object `verity run --json` prints: `model_id`, `input_hash`, `output_hash`, `outputs`.
pub fn run_json(model: &Model, ex: &Executed) -> Value {
    json!({
        "model_id": model.id(),
        "input_hash": verity_commit::hash::hex(&ex.input_hash),
        "output_hash": verity_commit::hash::hex(&ex.output_hash),
        "outputs": real_outputs(model, &ex.outputs),
    })
}

fn value_json(m: &Model, id: u32) -> Value {
    let v = m.value(id);
    json!({"name": v.name, "shape": v.shape, "bits": v.bits, "scale": v.scale})
}

/// The object `verity inspect --json` prints: id, format version, parameter count, inputs,
/// outputs and every node with its op, inputs, output type and parameter count.
pub fn inspect_json(m: &Model) -> Value {
    let nodes: Vec<_> = m
        .nodes
        .iter()
        .map(|n| {
            json!({
                "name": n.name, "op": n.op.kind(), "params": n.op.param_count(),
                "inputs": n.inputs.iter().map(|&i| m.value(i).name.clone()).collect::<Vec<_>>(),
                "output": value_json(m, n.output),
            })
        })
        .collect();
    json!({
        "model_id": m.id(),
        "format_version": verity_model::VERSION,
        "params": m.param_count(),
        "inputs": m.inputs.iter().map(|&i| value_json(m, i)).collect::<Vec<_>>(),
        "outputs": m.outputs.iter().map(|&i| value_json(m, i)).collect::<Vec<_>>(),
        "nodes": nodes,
    })
}

/// Signs a re-execution receipt for `ex`, a run of the model with id `model_id`.
pub fn sign_receipt(signer: &Signer, model_id: [u8; 32], ex: &Executed, timestamp: u64) -> Receipt {
    signer.sign(receipt_body(signer.address(), model_id, ex, timestamp))
}

/// What a receipt for `ex` claims, before it is signed (alone or in a batch).
pub fn receipt_body(executor: [u8; 20], model_id: [u8; 32], ex: &Executed, timestamp: u64) -> ReceiptBody {
    ReceiptBody {
        model_id,
        input_hash: ex.input_hash,
        output_hash: ex.output_hash,
        trace_root: ex.trace.root(),
        evidence: EvidenceKind::Reexecution,
        executor,
        timestamp,
    }
}

/// Unix seconds now (0 if the clock is before 1970).
/// Writes `bytes` to `path` through a temporary file in the same directory, fsync and a
/// rename, so a crash never leaves a half-written file under the final name.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().ok_or_else(|| std::io::Error::other(format!("{} is not a file path", path.display())))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// ONNX bytes + calibration file text → canonical model (the same steps as `verity import`).
pub fn import_onnx(onnx: &[u8], calibration: &str, bits: u8) -> Result<Model, ImportError> {
    verity_import::import(onnx, calibration, &ImportOptions { bits }, |_, _| {})
}

/// What [`import_onnx`] read from the calibration file without checking it
/// (`verity_import::calibration_warnings`); none for a model that does not load.
pub fn calibration_warnings(onnx: &[u8], calibration: &str) -> Vec<String> {
    verity_import::load_onnx(onnx).map_or_else(|_| Vec::new(), |fg| verity_import::calibration_warnings(&fg, calibration))
}

/// The receipt id used by the node and the client: the lowercase hex (no `0x`) of the
/// receipt's signing hash, the value a contract records to refuse a replay.
pub fn receipt_id(r: &Receipt) -> String {
    verity_commit::hash::hex(&r.signing_hash())
}

/// Parses a 32-byte id written as 64 hex digits, with or without `0x`, in any case.
pub fn parse_id(text: &str) -> Option<[u8; 32]> {
    let t = text.strip_prefix("0x").unwrap_or(text);
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(name)
    }

    #[test]
    fn engine_and_reference_agree_and_receipts_check() {
        let model = Model::decode(&std::fs::read(fixture("cnn_digits.vrt")).unwrap()).unwrap();
        let input = std::fs::read_to_string(fixture("cnn_digits.input.json")).unwrap();
        let inputs = parse_input(&model, &input).unwrap();
        let a = execute(&engine(&model, Some(1)).unwrap(), &model, &inputs).unwrap();
        let b = execute_reference(&model, &inputs).unwrap();
        assert_eq!(run_json(&model, &a), run_json(&model, &b));
        assert_eq!(a.trace.root(), b.trace.root());
        assert_eq!(a.input_hash, list_root(&model, &model.inputs, &inputs));

        let signer = Signer::from_secret_bytes(&[7; 32]).unwrap();
        let r = sign_receipt(&signer, model.id_bytes(), &a, 1);
        check_receipt(&r, &model.id_bytes(), &b).unwrap();
        assert_eq!(parse_id(&receipt_id(&r)), Some(r.signing_hash()));
        let mut other = a;
        other.output_hash[0] ^= 1;
        assert_eq!(check_receipt(&r, &model.id_bytes(), &other).unwrap_err().field(), CheckField::OutputHash);
    }

    #[test]
    fn ids_parse_strictly() {
        let hex = "ab".repeat(32);
        assert_eq!(parse_id(&hex), Some([0xab; 32]));
        assert_eq!(parse_id(&format!("0x{}", hex.to_uppercase())), Some([0xab; 32]));
        for bad in ["", "ab", &"zz".repeat(32), &"ab".repeat(33), "é".repeat(32).as_str()] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }
}
