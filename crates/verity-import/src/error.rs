use thiserror::Error;
use verity_model::ModelError;

#[derive(Debug, Error)]
pub enum ImportError {
    #[error("not a valid ONNX model: {0}")]
    Onnx(String),
    /// A valid model whose graph input shape is not fixed (a symbolic or missing
    /// dimension): not malformed, it needs `--shape`.
    #[error("the ONNX model's input shape is not fixed: {0}")]
    Shape(String),
    #[error("unsupported ONNX op '{op}' (node '{node}'){detail}")]
    Unsupported { op: String, node: String, detail: String },
    /// Several unsupported ops: (op, node) for each, in graph order.
    #[error("unsupported ONNX ops: {}", list_ops(.0))]
    UnsupportedOps(Vec<(String, String)>),
    #[error("node '{node}' ({op}): {msg}")]
    Node { op: String, node: String, msg: String },
    #[error("calibration: {0}")]
    Calibration(String),
    #[error(transparent)]
    Model(#[from] ModelError),
}

fn list_ops(ops: &[(String, String)]) -> String {
    ops.iter().map(|(op, node)| format!("'{op}' (node '{node}')")).collect::<Vec<_>>().join(", ")
}

pub type Result<T> = std::result::Result<T, ImportError>;

pub(crate) fn shape_err<T>(msg: impl Into<String>) -> Result<T> {
    Err(ImportError::Shape(msg.into()))
}

pub(crate) fn onnx_err<T>(msg: impl Into<String>) -> Result<T> {
    Err(ImportError::Onnx(msg.into()))
}
