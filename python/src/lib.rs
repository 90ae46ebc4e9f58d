//! `verity._native`: the Rust half of the Python package. The public API, its argument
//! conversion (numpy arrays in, numpy arrays out) and its documentation live in
//! `python/verity/__init__.py`; this module does the work on top of the workspace crates'
//! public APIs — the same functions the `verity` CLI, the node and the Rust client call —
//! so an answer checked from Python is checked by exactly the code that checks it anywhere
//! else.
//!
//! Inputs arrive either as the text of an input document (EZKL `{"input_data": [[...]]}`
//! or named `{"NAME": [...]}`), or as one little-endian `float64` buffer per model input,
//! in the model's input order. Outputs leave as `(name, shape, float64 bytes)` triples.
//! Every error is raised as one of the classes in `verity.errors`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use verity_client::{Error as ClientError, ExecutorCheck, KeySource, LocalModel};
use verity_commit::hash::hex;
use verity_exec::api::Evidence;
use verity_model::input::{input_names, parse_input_json, quantize_inputs};
use verity_model::{Model as CanonicalModel, Tensor};
use verity_receipt::{to_checksum_address, Receipt};
use verity_zk::file::ProofFile;
use verity_zk::protocol::ProvingKey;
use verity_zk::vk::LightKey;

/// An error of kind `kind` (a class name in `verity.errors`). Falls back to RuntimeError
/// if the Python half cannot be imported (the native module used on its own).
fn error(py: Python<'_>, kind: &str, message: String, status: Option<u16>) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let class = py.import("verity.errors")?.getattr(kind)?;
        let value = match status {
            Some(s) => class.call1((message.clone(), s))?,
            None => class.call1((message.clone(),))?,
        };
        Ok(PyErr::from_value(value))
    })();
    made.unwrap_or_else(|_| PyRuntimeError::new_err(format!("{kind}: {message}")))
}

/// A failure computed without the GIL, raised once it is held again.
struct Failure {
    kind: &'static str,
    message: String,
    status: Option<u16>,
}

type Res<T> = Result<T, Failure>;

fn fail(kind: &'static str, message: impl Into<String>) -> Failure {
    Failure { kind, message: message.into(), status: None }
}

impl Failure {
    fn raise(self, py: Python<'_>) -> PyErr {
        error(py, self.kind, self.message, self.status)
    }
}

fn input_err(e: impl std::fmt::Display) -> Failure {
    fail("InputError", e.to_string())
}

fn invalid(e: impl std::fmt::Display) -> Failure {
    fail("InvalidEvidence", e.to_string())
}

/// The client's errors, by whose fault (see `verity_client::Error`).
fn client_err(e: ClientError) -> Failure {
    match e {
        ClientError::Transport(m) => fail("NetworkError", m),
        ClientError::Node { status, message } => {
            let hint = match status {
                401 => " (pass api_key= to Client, or set VERITY_API_KEY, to the node's key)",
                403 => " (the node has no API key configured, so publishing is off: start it with --api-key or VERITY_API_KEY)",
                _ => "",
            };
            Failure { kind: "NodeError", message: format!("the node answered {status}: {message}{hint}"), status: Some(status) }
        }
        ClientError::Protocol(m) => fail("ProtocolError", m),
        ClientError::Verification(m) => fail("InvalidEvidence", m),
        ClientError::ProofFailed(m) => fail("ProofFailed", m),
        ClientError::Local(m) => fail("InputError", m),
    }
}

fn read_file(path: &Path, what: &str) -> Res<Vec<u8>> {
    std::fs::read(path).map_err(|e| fail("FileError", format!("cannot read {what} {}: {e}", path.display())))
}

/// Writes through a temporary file and a rename; the directory must already exist (a
/// mistyped path is an error, not a new directory tree).
fn write_file(path: &Path, bytes: &[u8], what: &str) -> Res<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(fail(
            "FileError",
            format!("cannot write {what} {}: directory {} does not exist", path.display(), dir.display()),
        ));
    }
    verity_exec::write_atomic(path, bytes).map_err(|e| fail("FileError", format!("cannot write {what} {}: {e}", path.display())))
}

/// A model's input or output: `(name, shape, bits, scale)`.
type ValueDesc = (String, Vec<usize>, u8, f32);

/// A canonical model (`.vrt`), checked and prepared for execution. The proving key is
/// derived on first use and kept.
#[pyclass(module = "verity._native", frozen)]
pub struct Model {
    inner: Arc<LocalModel>,
    pk: OnceLock<Arc<ProvingKey>>,
}

impl Model {
    fn new(model: CanonicalModel) -> Res<Model> {
        let engine = verity_exec::engine(&model, None).map_err(input_err)?;
        Ok(Model::from_local(Arc::new(LocalModel { model, engine })))
    }

    fn from_local(inner: Arc<LocalModel>) -> Model {
        Model { inner, pk: OnceLock::new() }
    }

    fn m(&self) -> &CanonicalModel {
        &self.inner.model
    }

    fn proving_key(&self) -> Res<Arc<ProvingKey>> {
        if let Some(pk) = self.pk.get() {
            return Ok(pk.clone());
        }
        let pk = Arc::new(
            verity_zk::protocol::keygen(self.m())
                .map_err(|e| fail("InputError", format!("proofs of this model are not supported: {e}")))?,
        );
        Ok(self.pk.get_or_init(|| pk).clone())
    }

    fn describe(&self, ids: &[u32]) -> Vec<ValueDesc> {
        describe(self.m(), ids)
    }
}

fn describe(m: &CanonicalModel, ids: &[u32]) -> Vec<ValueDesc> {
    ids.iter()
        .map(|&i| {
            let v = m.value(i);
            (v.name.clone(), v.shape.clone(), v.bits, v.scale)
        })
        .collect()
}

#[pymethods]
impl Model {
    /// Reads and decodes a `.vrt` file.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Model> {
        py.detach(|| {
            let bytes = read_file(&path, "model")?;
            let model = CanonicalModel::decode(&bytes).map_err(|e| {
                let hint = if bytes.starts_with(b"\x08") {
                    " (an ONNX file? turn it into a canonical model with verity.import_onnx first)"
                } else {
                    ""
                };
                fail("InputError", format!("{} is not a canonical model: {e}{hint}", path.display()))
            })?;
            Model::new(model)
        })
        .map_err(|f: Failure| f.raise(py))
    }

    /// Decodes canonical model bytes.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Model> {
        let data = data.to_vec();
        py.detach(|| {
            let model = CanonicalModel::decode(&data).map_err(|e| fail("InputError", format!("not a canonical model: {e}")))?;
            Model::new(model)
        })
        .map_err(|f: Failure| f.raise(py))
    }

    #[getter]
    fn id(&self) -> String {
        self.m().id()
    }

    #[getter]
    fn inputs(&self) -> Vec<ValueDesc> {
        self.describe(&self.m().inputs)
    }

    #[getter]
    fn outputs(&self) -> Vec<ValueDesc> {
        self.describe(&self.m().outputs)
    }

    #[getter]
    fn params(&self) -> usize {
        self.m().param_count()
    }

    /// The canonical encoding (its model id is its Merkle commitment).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.m().encode())
    }

    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let bytes = self.m().encode();
        py.detach(|| write_file(&path, &bytes, "model")).map_err(|f: Failure| f.raise(py))
    }

    /// `verity inspect --json` of the model, as JSON text.
    fn inspect_json(&self) -> String {
        verity_exec::inspect_json(self.m()).to_string()
    }

    fn __repr__(&self) -> String {
        format!("<verity.Model {} ({} params)>", self.m().id(), self.m().param_count())
    }
}

/// A verifying key (`.vk`, as `verity keygen` writes it): the model's public commitments,
/// enough to check its proofs without its weights.
#[pyclass(module = "verity._native", frozen)]
pub struct VerifyingKey {
    key: Arc<LightKey>,
}

impl VerifyingKey {
    fn m(&self) -> &CanonicalModel {
        self.key.model()
    }
}

#[pymethods]
impl VerifyingKey {
    /// The key of a model (derived from its weights).
    #[staticmethod]
    fn of_model(py: Python<'_>, model: &Model) -> PyResult<VerifyingKey> {
        py.detach(|| {
            let key = LightKey::new(model.m())
                .map_err(|e| fail("InputError", format!("proofs of this model are not supported: {e}")))?;
            Ok(VerifyingKey { key: Arc::new(key) })
        })
        .map_err(|f: Failure| f.raise(py))
    }

    /// Reads and decodes a `.vk` file.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<VerifyingKey> {
        py.detach(|| {
            let bytes = read_file(&path, "verifying key")?;
            let key = LightKey::decode(&bytes)
                .map_err(|e| fail("InputError", format!("{} is not a verifying key: {e}", path.display())))?;
            Ok(VerifyingKey { key: Arc::new(key) })
        })
        .map_err(|f: Failure| f.raise(py))
    }

    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<VerifyingKey> {
        let key = LightKey::decode(data).map_err(|e| error(py, "InputError", format!("not a verifying key: {e}"), None))?;
        Ok(VerifyingKey { key: Arc::new(key) })
    }

    /// The id of the model whose proofs this key checks.
    #[getter]
    fn model_id(&self) -> String {
        hex(&self.key.vk.model_id)
    }

    /// The key's digest (what `verity infer --vk-id` and `Client.infer(vk_id=)` pin).
    #[getter]
    fn vk_id(&self) -> String {
        hex(&self.key.key_id())
    }

    #[getter]
    fn inputs(&self) -> Vec<ValueDesc> {
        describe(self.m(), &self.m().inputs)
    }

    #[getter]
    fn outputs(&self) -> Vec<ValueDesc> {
        describe(self.m(), &self.m().outputs)
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.key.encode())
    }

    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let bytes = self.key.encode();
        py.detach(|| write_file(&path, &bytes, "verifying key")).map_err(|f: Failure| f.raise(py))
    }

    fn __repr__(&self) -> String {
        format!("<verity.VerifyingKey of model {} (vk_id {})>", self.model_id(), self.vk_id())
    }
}

/// What a caller gave as the model's input.
enum Input {
    /// An input document's text (parsed by the same code as `verity run --input`).
    Text(String),
    /// One flat list of reals per model input, in order.
    Arrays(Vec<Vec<f64>>),
}

impl<'a, 'py> FromPyObject<'a, 'py> for Input {
    type Error = PyErr;

    fn extract(ob: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(text) = ob.extract::<String>() {
            return Ok(Input::Text(text));
        }
        let buffers: Vec<Vec<u8>> = ob.extract()?;
        let mut lists = Vec::with_capacity(buffers.len());
        for b in buffers {
            if b.len() % 8 != 0 {
                return Err(error(ob.py(), "InputError", "an input buffer is not a whole number of float64 values".into(), None));
            }
            lists.push(b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect());
        }
        Ok(Input::Arrays(lists))
    }
}

impl Input {
    /// One flat list of reals per model input.
    fn lists(&self, model: &CanonicalModel) -> Res<Vec<Vec<f64>>> {
        match self {
            Input::Text(t) => parse_input_json(t, &input_names(model)).map_err(input_err),
            Input::Arrays(lists) => {
                if lists.len() != model.inputs.len() {
                    return Err(fail(
                        "InputError",
                        format!("{} input arrays given, the model has {} inputs", lists.len(), model.inputs.len()),
                    ));
                }
                Ok(lists.clone())
            }
        }
    }

    /// Quantized inputs for `model`, and a warning for each input some of whose values lie
    /// outside the range its calibration gave it (they are clamped, as everywhere).
    fn tensors(&self, model: &CanonicalModel) -> Res<(Vec<Tensor>, Vec<String>)> {
        let lists = self.lists(model)?;
        let tensors = quantize_inputs(model, &lists).map_err(input_err)?;
        Ok((tensors, clamp_warnings(model, &lists)))
    }

    /// The input document to send to a node: the caller's text as is, or arrays as EZKL
    /// `input_data` (serde_json writes the shortest text that reads back as the same f64).
    fn document(&self) -> Res<String> {
        match self {
            Input::Text(t) => Ok(t.clone()),
            Input::Arrays(lists) => {
                for (i, l) in lists.iter().enumerate() {
                    if let Some(p) = l.iter().position(|x| !x.is_finite()) {
                        return Err(fail("InputError", format!("input {i} value {p} is {}, expected a finite number", l[p])));
                    }
                }
                Ok(serde_json::json!({ "input_data": lists }).to_string())
            }
        }
    }
}

/// The values `quantize_input` clamps: the same arithmetic, before the clamp.
fn clamp_warnings(model: &CanonicalModel, lists: &[Vec<f64>]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, x) in lists.iter().enumerate() {
        let v = model.value(model.inputs[i]);
        let (lo, hi) = verity_model::arith::qrange(v.bits);
        let affine = model.input_affine.get(i);
        let (mut n, mut lo_real, mut hi_real) = (0usize, f64::INFINITY, f64::NEG_INFINITY);
        for (j, &x0) in x.iter().enumerate() {
            let mut x = x0;
            if let Some(a) = affine {
                x = x * a.mul.get(j).copied().unwrap_or(1.0) + a.add.get(j).copied().unwrap_or(0.0);
            }
            let q = (x / v.scale as f64).round();
            if q < lo as f64 || q > hi as f64 {
                n += 1;
                lo_real = lo_real.min(x0);
                hi_real = hi_real.max(x0);
            }
        }
        if n > 0 {
            out.push(format!(
                "input '{}': {n} of {} values (between {lo_real} and {hi_real}) lie outside the range the model was calibrated for and are clamped",
                v.name,
                x.len()
            ));
        }
    }
    out
}

/// Issues `verity.errors.ClampWarning`s.
fn warn(py: Python<'_>, warnings: &[String]) -> PyResult<()> {
    warn_as(py, "ClampWarning", warnings)
}

/// Raises each warning as a `verity.errors.KIND`.
fn warn_as(py: Python<'_>, kind: &str, warnings: &[String]) -> PyResult<()> {
    if warnings.is_empty() {
        return Ok(());
    }
    let class = py.import("verity.errors")?.getattr(kind)?;
    for w in warnings {
        PyErr::warn(py, &class, &std::ffi::CString::new(w.as_str()).unwrap_or_default(), 2)?;
    }
    Ok(())
}

/// Outputs as `(name, shape, float64 little-endian bytes)`, the reals they stand for.
fn outputs_py<'py>(py: Python<'py>, model: &CanonicalModel, outputs: &[Tensor]) -> PyResult<Bound<'py, PyList>> {
    let reals = verity_exec::real_outputs(model, outputs);
    let items = model.outputs.iter().zip(outputs).zip(reals).map(|((&id, t), r)| {
        let bytes: Vec<u8> = r.iter().flat_map(|x| x.to_le_bytes()).collect();
        (model.value(id).name.clone(), t.shape.clone(), PyBytes::new(py, &bytes))
    });
    PyList::new(py, items)
}

fn execution_dict<'py>(py: Python<'py>, model: &CanonicalModel, ex: &verity_exec::Executed) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("model_id", model.id())?;
    d.set_item("input_hash", hex(&ex.input_hash))?;
    d.set_item("output_hash", hex(&ex.output_hash))?;
    d.set_item("trace_root", hex(&ex.trace.root()))?;
    d.set_item("outputs", outputs_py(py, model, &ex.outputs)?)?;
    Ok(d)
}

/// Imports an ONNX model with calibration samples (the text of a calibration document),
/// exactly like `verity import`.
#[pyfunction]
fn import_onnx(py: Python<'_>, onnx_path: PathBuf, calibration: String, bits: u8) -> PyResult<Model> {
    py.detach(|| -> Res<(Model, Vec<String>)> {
        if bits != 8 && bits != 16 {
            return Err(fail("InputError", format!("bits must be 8 or 16, got {bits}")));
        }
        let onnx = read_file(&onnx_path, "ONNX model")?;
        let model = verity_exec::import_onnx(&onnx, &calibration, bits)
            .map_err(|e| fail("InputError", format!("cannot import {}: {e}", onnx_path.display())))?;
        Ok((Model::new(model)?, verity_exec::calibration_warnings(&onnx, &calibration)))
    })
    .map_err(|f: Failure| f.raise(py))
    .and_then(|(m, warnings)| warn_as(py, "CalibrationWarning", &warnings).map(|()| m))
}

/// Runs `model` on `input` with the fast engine (or the reference interpreter), with the
/// trace commitment: `{model_id, input_hash, output_hash, trace_root, outputs}`.
#[pyfunction]
#[pyo3(signature = (model, input, reference=false))]
fn run<'py>(py: Python<'py>, model: &Model, input: Input, reference: bool) -> PyResult<Bound<'py, PyDict>> {
    let m = model.m();
    let (ex, warnings) = py
        .detach(|| {
            let (inputs, warnings) = input.tensors(m)?;
            let ex = if reference {
                verity_exec::execute_reference(m, &inputs).map_err(input_err)?
            } else {
                verity_exec::execute(&model.inner.engine, m, &inputs).map_err(input_err)?
            };
            Ok((ex, warnings))
        })
        .map_err(|f: Failure| f.raise(py))?;
    warn(py, &warnings)?;
    execution_dict(py, m, &ex)
}

/// A proof of the inference of `model` on `input`: the proof file's bytes (what
/// `verity prove` writes).
#[pyfunction]
fn prove<'py>(py: Python<'py>, model: &Model, input: Input) -> PyResult<Bound<'py, PyBytes>> {
    let m = model.m();
    let (bytes, warnings) = py
        .detach(|| {
            let pk = model.proving_key()?;
            let (inputs, warnings) = input.tensors(m)?;
            let values = verity_zk::protocol::trace_values(m, &inputs).map_err(input_err)?;
            let proof = verity_zk::protocol::prove(m, &pk, &values, &mut |_, _, _| {})
                .map_err(|e| fail("VerityError", format!("proving failed: {e}")))?;
            let outputs = m
                .outputs
                .iter()
                .map(|&v| values.get(v as usize).cloned().flatten())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| fail("VerityError", "the prover's trace lacks an output"))?;
            Ok((ProofFile { model_id: m.id_bytes(), inputs, outputs, proof }.encode(), warnings))
        })
        .map_err(|f: Failure| f.raise(py))?;
    warn(py, &warnings)?;
    Ok(PyBytes::new(py, &bytes))
}

/// Checks a proof file against `model` (and, when `input` is given, that it is a proof
/// for exactly that input): `{model_id, input_hash, output_hash, proof_id, outputs}`.
#[pyfunction]
#[pyo3(signature = (model, proof, input=None))]
fn verify_proof<'py>(py: Python<'py>, model: &Model, proof: &[u8], input: Option<Input>) -> PyResult<Bound<'py, PyDict>> {
    let m = model.m();
    let proof = proof.to_vec();
    let file = py
        .detach(|| {
            let file = ProofFile::decode(&proof).map_err(|e| invalid(format!("not a valid proof file: {e}")))?;
            if file.model_id != m.id_bytes() {
                return Err(invalid(format!("the proof is for model {}, not {}", hex(&file.model_id), m.id())));
            }
            if let Some(input) = &input {
                if input.tensors(m)?.0 != file.inputs {
                    return Err(invalid("the proof is for another input than the one given"));
                }
            }
            let pk = model.proving_key()?;
            verity_zk::protocol::verify(m, &pk.vk, &file.inputs, &file.outputs, &file.proof)
                .map_err(|e| invalid(format!("the proof does not verify: {e}")))?;
            Ok(file)
        })
        .map_err(|f: Failure| f.raise(py))?;
    proof_dict(py, m, &m.id(), &file, &proof)
}

/// What a checked proof proves: `{model_id, input_hash, output_hash, proof_id, outputs}`
/// (`m` is the model or the key's skeleton, whose own id is not the model's).
fn proof_dict<'py>(
    py: Python<'py>,
    m: &CanonicalModel,
    model_id: &str,
    file: &ProofFile,
    proof: &[u8],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("model_id", model_id)?;
    d.set_item("input_hash", hex(&verity_exec::input_hash(m, &file.inputs)))?;
    d.set_item("output_hash", hex(&verity_exec::list_root(m, &m.outputs, &file.outputs)))?;
    d.set_item("proof_id", blake3::hash(proof).to_hex().to_string())?;
    d.set_item("outputs", outputs_py(py, m, &file.outputs)?)?;
    Ok(d)
}

/// Checks a proof file with a verifying key alone (no weights), and, when `input` is
/// given, that it is a proof for exactly that input (`verity verify --proof --vk`).
#[pyfunction]
#[pyo3(signature = (vk, proof, input=None))]
fn verify_proof_vk<'py>(py: Python<'py>, vk: &VerifyingKey, proof: &[u8], input: Option<Input>) -> PyResult<Bound<'py, PyDict>> {
    let m = vk.m();
    let proof = proof.to_vec();
    let file = py
        .detach(|| {
            let file = ProofFile::decode(&proof).map_err(|e| invalid(format!("not a valid proof file: {e}")))?;
            if file.model_id != vk.key.vk.model_id {
                return Err(invalid(format!(
                    "the proof is for model {}, the verifying key for {}",
                    hex(&file.model_id),
                    vk.model_id()
                )));
            }
            if let Some(input) = &input {
                if input.tensors(m)?.0 != file.inputs {
                    return Err(invalid("the proof is for another input than the one given"));
                }
            }
            vk.key
                .verify(&file.inputs, &file.outputs, &file.proof)
                .map_err(|e| invalid(format!("the proof does not verify: {e}")))?;
            Ok(file)
        })
        .map_err(|f: Failure| f.raise(py))?;
    proof_dict(py, m, &vk.model_id(), &file, &proof)
}

/// Checks a receipt (its JSON text): a valid signature, then a re-execution of `model` on
/// `input` that reproduces every claim, the trace root included (`verity verify
/// --receipt`).
#[pyfunction]
fn verify_receipt<'py>(py: Python<'py>, model: &Model, receipt: String, input: Input) -> PyResult<Bound<'py, PyDict>> {
    let m = model.m();
    let (r, ex) = py
        .detach(|| {
            let r = Receipt::from_json(&receipt).map_err(|e| invalid(format!("not a valid receipt: {e}")))?;
            verity_exec::check_signature(&r).map_err(invalid)?;
            let (inputs, _) = input.tensors(m)?;
            let ex = verity_exec::execute(&model.inner.engine, m, &inputs).map_err(input_err)?;
            verity_exec::check_execution(&r, &m.id_bytes(), &ex).map_err(invalid)?;
            Ok((r, ex))
        })
        .map_err(|f: Failure| f.raise(py))?;
    let d = execution_dict(py, m, &ex)?;
    d.set_item("executor", to_checksum_address(&r.body.executor))?;
    d.set_item("timestamp", r.body.timestamp)?;
    d.set_item("receipt_id", verity_exec::receipt_id(&r))?;
    Ok(d)
}

/// The input hash a receipt or proof for `input` on `model` claims (no execution).
#[pyfunction]
fn input_hash(py: Python<'_>, model: &Model, input: Input) -> PyResult<String> {
    let m = model.m();
    let (inputs, _) = input.tensors(m).map_err(|f: Failure| f.raise(py))?;
    Ok(hex(&verity_exec::input_hash(m, &inputs)))
}

/// A client of a Verity node that checks every answer (`verity_client::Client`).
#[pyclass(module = "verity._native", frozen)]
pub struct Client {
    inner: verity_client::Client,
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (url, api_key=None, cache_dir=None, executor=None, proof_timeout=None, ca_cert=None))]
    fn new(
        py: Python<'_>,
        url: String,
        api_key: Option<String>,
        cache_dir: Option<PathBuf>,
        executor: Option<String>,
        proof_timeout: Option<f64>,
        ca_cert: Option<PathBuf>,
    ) -> PyResult<Client> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(error(py, "InputError", format!("node URL {url:?} must start with http://"), None));
        }
        let check = match executor.as_deref() {
            None | Some("advertised") => ExecutorCheck::Advertised,
            Some("any") => ExecutorCheck::Any,
            Some(a) => ExecutorCheck::Expect(verity_client::parse_address(a).ok_or_else(|| {
                error(py, "InputError", format!("executor must be \"advertised\", \"any\" or a 0x address, got {a:?}"), None)
            })?),
        };
        let mut inner = verity_client::Client::new(&url).with_api_key(api_key).with_executor(check);
        if let Some(d) = cache_dir {
            inner = inner.with_cache_dir(Some(d));
        }
        if let Some(t) = proof_timeout {
            if !(t.is_finite() && t > 0.0) {
                return Err(error(
                    py,
                    "InputError",
                    format!("proof_timeout must be a positive number of seconds, got {t}"),
                    None,
                ));
            }
            inner = inner.with_proof_timeout(std::time::Duration::from_secs_f64(t));
        }
        if let Some(path) = ca_cert {
            let pem = read_file(&path, "CA certificate").map_err(|f| f.raise(py))?;
            inner = inner.with_ca_cert_pem(&pem).map_err(|e| client_err(e).raise(py))?;
        }
        Ok(Client { inner })
    }

    #[getter]
    fn url(&self) -> String {
        self.inner.base_url().to_string()
    }

    /// `GET /v1/info` as JSON text.
    fn info(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| {
            let info = self.inner.info().map_err(client_err)?;
            serde_json::to_string(&info).map_err(|e| fail("ProtocolError", e.to_string()))
        })
        .map_err(|f: Failure| f.raise(py))
    }

    /// Publishes a canonical model; the node must name it by its own id.
    fn publish_vrt(&self, py: Python<'_>, path: PathBuf) -> PyResult<(String, bool)> {
        py.detach(|| {
            let bytes = read_file(&path, "model")?;
            let r = self.inner.publish_vrt(&bytes).map_err(client_err)?;
            Ok((r.model_id, r.created))
        })
        .map_err(|f: Failure| f.raise(py))
    }

    /// Imports locally and publishes the ONNX model; the node's id must equal the local one.
    fn publish_onnx(&self, py: Python<'_>, path: PathBuf, calibration: String, bits: u8) -> PyResult<(String, bool)> {
        py.detach(|| {
            let bytes = read_file(&path, "ONNX model")?;
            let r = self.inner.publish_onnx(&bytes, &calibration, bits).map_err(client_err)?;
            Ok((r.model_id, r.created))
        })
        .map_err(|f: Failure| f.raise(py))
    }

    /// The model with this id, downloaded (or from the cache) and checked against the id.
    fn model(&self, py: Python<'_>, model_id: String) -> PyResult<Model> {
        py.detach(|| self.inner.model(&model_id).map_err(client_err)).map(Model::from_local).map_err(|f: Failure| f.raise(py))
    }

    /// Runs `input` on the node and returns the answer only if it passes every check of
    /// `Client::infer_verified` (re-execution; the receipt; the proof, waited for).
    fn infer<'py>(&self, py: Python<'py>, model_id: String, input: Input, evidence: &str) -> PyResult<Bound<'py, PyDict>> {
        let evidence = match evidence {
            "none" => Evidence::None,
            "receipt" => Evidence::Receipt,
            "zk" => Evidence::Zk,
            other => {
                return Err(error(
                    py,
                    "InputError",
                    format!("evidence must be \"none\", \"receipt\" or \"zk\", got {other:?}"),
                    None,
                ))
            }
        };
        let (v, warnings) = py
            .detach(|| {
                let doc = input.document()?;
                let v = self.inner.infer_verified(&model_id, &doc, evidence).map_err(client_err)?;
                let warnings = clamp_warnings(&v.model.model, &input.lists(&v.model.model)?);
                Ok((v, warnings))
            })
            .map_err(|f: Failure| f.raise(py))?;
        warn(py, &warnings)?;
        let m = &v.model.model;
        let d = execution_dict(py, m, &v.executed)?;
        d.set_item("evidence", v.evidence.as_str())?;
        if let Some(r) = &v.receipt {
            d.set_item("receipt", r.to_json())?;
            d.set_item("receipt_id", verity_exec::receipt_id(r))?;
        }
        if let Some(p) = &v.proof {
            d.set_item("proof", PyBytes::new(py, &p.bytes))?;
            d.set_item("proof_id", p.proof_id.clone())?;
            d.set_item("proof_job", p.job.job_id.clone())?;
        }
        Ok(d)
    }

    /// The verifying key of `model_id`: the node's, only if its digest is `vk_id`; else
    /// derived here from the model, downloaded and checked against its id.
    #[pyo3(signature = (model_id, vk_id=None))]
    fn light_key(&self, py: Python<'_>, model_id: String, vk_id: Option<String>) -> PyResult<VerifyingKey> {
        py.detach(|| {
            let source = match vk_id {
                Some(id) => KeySource::Pinned(verity_exec::parse_id(&id).ok_or_else(|| {
                    fail("InputError", format!("vk_id {id:?} is not a key digest (64 hex digits, VerifyingKey.vk_id)"))
                })?),
                None => KeySource::Derived,
            };
            let key = self.inner.light_key(&model_id, &source).map_err(client_err)?;
            Ok(VerifyingKey { key })
        })
        .map_err(|f: Failure| f.raise(py))
    }

    /// Runs `input` on the node with evidence `zk` and returns the answer only if its
    /// proof, waited for, verifies with `vk` and proves exactly this input and the node's
    /// answer (`Client::infer_light`); nothing is re-executed.
    fn infer_light<'py>(
        &self,
        py: Python<'py>,
        model_id: String,
        input: Input,
        vk: &VerifyingKey,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (v, warnings) = py
            .detach(|| {
                let doc = input.document()?;
                let source = KeySource::Local(vk.key.clone());
                let v = self.inner.infer_light(&model_id, &doc, &source, &mut |_| {}).map_err(client_err)?;
                let warnings = clamp_warnings(vk.m(), &input.lists(vk.m())?);
                Ok((v, warnings))
            })
            .map_err(|f: Failure| f.raise(py))?;
        warn(py, &warnings)?;
        let m = vk.m();
        let d = PyDict::new(py);
        d.set_item("model_id", hex(&v.model_id))?;
        d.set_item("input_hash", hex(&v.input_hash))?;
        d.set_item("output_hash", hex(&v.output_hash))?;
        d.set_item("outputs", outputs_py(py, m, &v.outputs)?)?;
        d.set_item("vk_id", hex(&v.key.key_id()))?;
        d.set_item("proof", PyBytes::new(py, &v.proof.bytes))?;
        d.set_item("proof_id", v.proof.proof_id.clone())?;
        d.set_item("proof_job", v.proof.job.job_id.clone())?;
        Ok(d)
    }

    /// A stored receipt by id, accepted only if re-executing its model on its stored input
    /// reproduces it: `{receipt, receipt_id, model_id, input, ...}`.
    fn fetch_receipt<'py>(&self, py: Python<'py>, receipt_id: String) -> PyResult<Bound<'py, PyDict>> {
        let (record, v) =
            py.detach(|| self.inner.fetch_receipt_verified(&receipt_id).map_err(client_err)).map_err(|f: Failure| f.raise(py))?;
        let d = execution_dict(py, &v.model.model, &v.executed)?;
        d.set_item("receipt", record.receipt.to_json())?;
        d.set_item("receipt_id", record.receipt_id)?;
        d.set_item("input", record.input.get())?;
        d.set_item("issued_at", record.issued_at)?;
        d.set_item("executor", to_checksum_address(&record.receipt.body.executor))?;
        Ok(d)
    }

    /// A chat completion from the node's `/v1/chat/completions`, returned only once
    /// `Client::chat_verified` accepts it (signature, executor, claims, the request's
    /// parameters; with `model_file`, the prompt and every token by re-execution).
    #[pyo3(signature = (request, model_file=None))]
    fn chat<'py>(&self, py: Python<'py>, request: String, model_file: Option<PathBuf>) -> PyResult<Bound<'py, PyDict>> {
        let a = py
            .detach(|| {
                let req = chat_request(&request)?;
                let model = model_file.as_deref().map(load_llm).transpose()?;
                self.inner.chat_verified(&req, model.as_ref(), threads()).map_err(client_err)
            })
            .map_err(|f: Failure| f.raise(py))?;
        let d = completion_dict(py, a.completion())?;
        d.set_item("receipt", serde_json::to_string(&a.file).map_err(|e| error(py, "ProtocolError", e.to_string(), None))?)?;
        d.set_item("receipt_id", a.receipt_id.clone())?;
        d.set_item("reexecuted", a.reexecuted)?;
        d.set_item("response", a.raw.to_string())?;
        Ok(d)
    }

    /// A proof by job id or proof id (waited for), accepted only if it verifies with a key
    /// derived locally from its checked model.
    fn fetch_proof<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyDict>> {
        let (model, p) = py
            .detach(|| self.inner.fetch_proof_verified(&id, &mut |_| {}).map_err(client_err))
            .map_err(|f: Failure| f.raise(py))?;
        let m = &model.model;
        let d = PyDict::new(py);
        d.set_item("model_id", m.id())?;
        d.set_item("input_hash", hex(&verity_exec::input_hash(m, &p.file.inputs)))?;
        d.set_item("output_hash", hex(&verity_exec::list_root(m, &m.outputs, &p.file.outputs)))?;
        d.set_item("proof", PyBytes::new(py, &p.bytes))?;
        d.set_item("proof_id", p.proof_id)?;
        d.set_item("proof_job", p.job.job_id)?;
        d.set_item("outputs", outputs_py(py, m, &p.file.outputs)?)?;
        Ok(d)
    }
}

fn load_llm(path: &Path) -> Res<verity_llm::Model> {
    if !path.exists() {
        return Err(fail("FileError", format!("cannot read model file {}: no such file", path.display())));
    }
    verity_llm::Model::load(path).map_err(|e| match e {
        verity_llm::LlmError::Io { .. } => fail("FileError", e.to_string()),
        e => input_err(format!("{}: {e}", path.display())),
    })
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The fields of a checked completion, for `verity.ChatAnswer` / `verity.LlmReceiptCheck`.
fn completion_dict<'py>(py: Python<'py>, c: &verity_llm::Completion) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("text", c.text.clone())?;
    d.set_item("finish_reason", c.finish_reason.clone())?;
    d.set_item("model_id", c.model_id.clone())?;
    d.set_item("prompt_tokens", c.prompt_tokens.clone())?;
    d.set_item("tokens", c.tokens.clone())?;
    d.set_item("trace_root", c.trace_root.clone())?;
    d.set_item("seed", c.params.seed)?;
    Ok(d)
}

/// Re-derives an LLM receipt file (`{"completion", "receipt"}`, as `verity chat --receipt`
/// writes and a node's chat answer carries in `verity`) with the GGUF, and returns its
/// completion; raises InvalidEvidence unless the signature and every claim hold.
#[pyfunction]
fn verify_llm_receipt<'py>(py: Python<'py>, receipt: String, gguf: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let (c, r) = py
        .detach(|| {
            let file: verity_llm::receipt::ReceiptFile =
                serde_json::from_str(&receipt).map_err(|e| invalid(format!("not an LLM receipt file: {e}")))?;
            let model = load_llm(&gguf)?;
            let c = verity_llm::receipt::verify(&model, &file, threads()).map_err(invalid)?;
            let r = Receipt::from_json(&file.receipt).map_err(invalid)?;
            Ok((c, r))
        })
        .map_err(|f: Failure| f.raise(py))?;
    let d = completion_dict(py, &c)?;
    d.set_item("receipt_id", verity_exec::receipt_id(&r))?;
    d.set_item("executor", to_checksum_address(&r.body.executor))?;
    d.set_item("timestamp", r.body.timestamp)?;
    Ok(d)
}

/// Testing only: writes the tiny random Llama GGUF the test suites use (not a real model).
#[pyfunction]
#[pyo3(signature = (path, seed=11))]
fn _write_tiny_gguf(py: Python<'_>, path: PathBuf, seed: u64) -> PyResult<()> {
    write_file(&path, &verity_llm::testutil::tiny_gguf(seed, "llama"), "GGUF").map_err(|f| f.raise(py))
}

/// A `verity_client::chat::ChatRequest` from the JSON the Python half builds:
/// `{"model", "messages": [[role, content], ...], "max_tokens", "temperature", "top_p",
/// "top_k", "seed", "stop": [...]}`.
fn chat_request(text: &str) -> Res<verity_client::chat::ChatRequest> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(input_err)?;
    let messages = v["messages"]
        .as_array()
        .ok_or_else(|| input_err("messages must be a list"))?
        .iter()
        .map(|m| match (m[0].as_str(), m[1].as_str()) {
            (Some(r), Some(c)) => Ok((r.to_string(), c.to_string())),
            _ => Err(input_err("each message is a role and a content string")),
        })
        .collect::<Res<Vec<_>>>()?;
    let u32_of = |k: &str| -> Res<Option<u32>> {
        match &v[k] {
            serde_json::Value::Null => Ok(None),
            x => x
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| input_err(format!("{k} must be a non-negative integer"))),
        }
    };
    let stop = match &v["stop"] {
        serde_json::Value::Null => Vec::new(),
        s => s
            .as_array()
            .and_then(|a| a.iter().map(|x| x.as_str().map(String::from)).collect::<Option<Vec<_>>>())
            .ok_or_else(|| input_err("stop must be a string or a list of strings"))?,
    };
    Ok(verity_client::chat::ChatRequest {
        model: v["model"].as_str().map(String::from),
        messages,
        max_tokens: u32_of("max_tokens")?,
        temperature: v["temperature"].as_f64(),
        top_p: v["top_p"].as_f64(),
        top_k: u32_of("top_k")?,
        seed: match &v["seed"] {
            serde_json::Value::Null => None,
            s => Some(s.as_u64().ok_or_else(|| input_err("seed must be a non-negative integer"))?),
        },
        stop,
    })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(verify_llm_receipt, m)?)?;
    m.add_function(wrap_pyfunction!(_write_tiny_gguf, m)?)?;
    m.add_class::<Model>()?;
    m.add_class::<Client>()?;
    m.add_class::<VerifyingKey>()?;
    m.add_function(wrap_pyfunction!(verify_proof_vk, m)?)?;
    m.add_function(wrap_pyfunction!(import_onnx, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(prove, m)?)?;
    m.add_function(wrap_pyfunction!(verify_proof, m)?)?;
    m.add_function(wrap_pyfunction!(verify_receipt, m)?)?;
    m.add_function(wrap_pyfunction!(input_hash, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
