//! Reading a Llama-architecture GGUF with the `gguf-rs-lib` crate: configuration, raw
//! tensors, vocabulary, merges and chat template. Nothing here interprets the numbers; the
//! canonical model ([`crate::model`]) does.

use std::collections::HashMap;
use std::io::Cursor;

use gguf_rs_lib::format::metadata::MetadataValue;
use gguf_rs_lib::prelude::GGUFFileReader;
use gguf_rs_lib::tensor::TensorType;

use crate::error::{LlmError, Result};

/// The weight encodings the canonical model keeps exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawKind {
    F32,
    Q4_1,
    Q8_0,
}

#[derive(Clone, Debug)]
pub struct RawTensor {
    pub kind: RawKind,
    /// GGUF order: `dims[0]` is the row length (contiguous), `dims[1]` the number of rows.
    pub dims: Vec<u64>,
    pub bytes: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub vocab: usize,
    pub context: usize,
    pub rope_base: f32,
    pub rms_eps: f32,
}

#[derive(Clone, Debug)]
pub struct GgufModel {
    pub config: LlamaConfig,
    pub tensors: HashMap<String, RawTensor>,
    pub tokens: Vec<String>,
    pub token_types: Vec<i32>,
    pub merges: Vec<String>,
    pub bos: u32,
    pub eos: u32,
    pub chat_template: String,
}

fn meta<'a>(m: &'a HashMap<String, MetadataValue>, key: &str) -> Result<&'a MetadataValue> {
    m.get(key).ok_or_else(|| LlmError::Metadata { key: key.into(), problem: "missing".into() })
}

fn meta_u(m: &HashMap<String, MetadataValue>, key: &str) -> Result<usize> {
    let v = meta(m, key)?;
    let n = match v {
        MetadataValue::U8(x) => Some(*x as u64),
        MetadataValue::U16(x) => Some(*x as u64),
        MetadataValue::U32(x) => Some(*x as u64),
        MetadataValue::U64(x) => Some(*x),
        MetadataValue::I32(x) if *x >= 0 => Some(*x as u64),
        MetadataValue::I64(x) if *x >= 0 => Some(*x as u64),
        _ => None,
    };
    let n = n.ok_or_else(|| LlmError::Metadata { key: key.into(), problem: "not a non-negative integer".into() })?;
    if n == 0 || n > 1 << 24 {
        return Err(LlmError::Metadata { key: key.into(), problem: format!("{n} is out of range") });
    }
    Ok(n as usize)
}

fn meta_f(m: &HashMap<String, MetadataValue>, key: &str) -> Result<f32> {
    match meta(m, key)? {
        MetadataValue::F32(x) if x.is_finite() && *x > 0.0 => Ok(*x),
        MetadataValue::F64(x) if x.is_finite() && *x > 0.0 => Ok(*x as f32),
        _ => Err(LlmError::Metadata { key: key.into(), problem: "not a positive finite float".into() }),
    }
}

fn meta_strings(m: &HashMap<String, MetadataValue>, key: &str) -> Result<Vec<String>> {
    match meta(m, key)? {
        MetadataValue::Array(a) => a
            .values
            .iter()
            .map(|v| match v {
                MetadataValue::String(s) => Ok(s.clone()),
                _ => Err(LlmError::Metadata { key: key.into(), problem: "array element is not a string".into() }),
            })
            .collect(),
        _ => Err(LlmError::Metadata { key: key.into(), problem: "not an array".into() }),
    }
}

fn meta_i32s(m: &HashMap<String, MetadataValue>, key: &str) -> Result<Vec<i32>> {
    match meta(m, key)? {
        MetadataValue::Array(a) => a
            .values
            .iter()
            .map(|v| match v {
                MetadataValue::I32(x) => Ok(*x),
                _ => Err(LlmError::Metadata { key: key.into(), problem: "array element is not an i32".into() }),
            })
            .collect(),
        _ => Err(LlmError::Metadata { key: key.into(), problem: "not an array".into() }),
    }
}

/// Reads a GGUF file from disk.
pub fn read_path(path: &std::path::Path) -> Result<GgufModel> {
    let bytes = std::fs::read(path).map_err(|source| LlmError::Io { path: path.display().to_string(), source })?;
    parse(&bytes)
}

/// Parses a GGUF file held in memory. Any structural problem (bad magic, truncation,
/// tensor data past the end) is an error, never a panic.
pub fn parse(bytes: &[u8]) -> Result<GgufModel> {
    let mut reader = GGUFFileReader::new(Cursor::new(bytes)).map_err(|e| LlmError::Gguf(e.to_string()))?;
    let m = reader.metadata().data.clone();
    let arch = match meta(&m, "general.architecture")? {
        MetadataValue::String(s) => s.clone(),
        _ => return Err(LlmError::Metadata { key: "general.architecture".into(), problem: "not a string".into() }),
    };
    if arch != "llama" {
        return Err(LlmError::Unsupported(format!("architecture {arch:?} (only \"llama\" is supported)")));
    }
    let n_embd = meta_u(&m, "llama.embedding_length")?;
    let n_head = meta_u(&m, "llama.attention.head_count")?;
    let n_head_kv = meta_u(&m, "llama.attention.head_count_kv").unwrap_or(n_head);
    if n_embd % n_head != 0 || n_head % n_head_kv != 0 {
        return Err(LlmError::Unsupported(format!("{n_embd} channels, {n_head} heads, {n_head_kv} kv heads do not divide")));
    }
    let head_dim = n_embd / n_head;
    let rope_dims = meta_u(&m, "llama.rope.dimension_count").unwrap_or(head_dim);
    if rope_dims != head_dim || head_dim % 2 != 0 {
        return Err(LlmError::Unsupported(format!("rotary dimension {rope_dims} with head size {head_dim}")));
    }
    let tokens = meta_strings(&m, "tokenizer.ggml.tokens")?;
    let config = LlamaConfig {
        n_layer: meta_u(&m, "llama.block_count")?,
        n_embd,
        n_ff: meta_u(&m, "llama.feed_forward_length")?,
        n_head,
        n_head_kv,
        head_dim,
        vocab: tokens.len(),
        context: meta_u(&m, "llama.context_length")?,
        rope_base: meta_f(&m, "llama.rope.freq_base").unwrap_or(10000.0),
        rms_eps: meta_f(&m, "llama.attention.layer_norm_rms_epsilon")?,
    };
    match meta(&m, "tokenizer.ggml.model")? {
        MetadataValue::String(s) if s == "gpt2" => {}
        other => {
            return Err(LlmError::Unsupported(format!(
                "tokenizer model {} (only byte-level BPE \"gpt2\" is supported)",
                other.to_string_representation()
            )))
        }
    }
    let token_types = meta_i32s(&m, "tokenizer.ggml.token_type")?;
    if token_types.len() != tokens.len() {
        return Err(LlmError::Metadata {
            key: "tokenizer.ggml.token_type".into(),
            problem: "length differs from the vocabulary".into(),
        });
    }
    let merges = meta_strings(&m, "tokenizer.ggml.merges")?;
    let bos = meta_u(&m, "tokenizer.ggml.bos_token_id").unwrap_or(1) as u32;
    let eos = meta_u(&m, "tokenizer.ggml.eos_token_id")? as u32;
    let chat_template = match meta(&m, "tokenizer.chat_template")? {
        MetadataValue::String(s) => s.clone(),
        _ => return Err(LlmError::Metadata { key: "tokenizer.chat_template".into(), problem: "not a string".into() }),
    };

    let infos: Vec<(String, Vec<u64>, TensorType)> =
        reader.tensor_infos().iter().map(|t| (t.name().to_string(), t.shape().dims().to_vec(), t.tensor_type())).collect();
    let mut tensors = HashMap::new();
    for (name, dims, ty) in infos {
        let kind = match ty {
            TensorType::F32 => RawKind::F32,
            TensorType::Q4_1 => RawKind::Q4_1,
            TensorType::Q8_0 => RawKind::Q8_0,
            other => {
                return Err(LlmError::Tensor { name, problem: format!("type {other:?} is not supported (F32, Q4_1, Q8_0)") })
            }
        };
        let data = reader
            .load_tensor_data(&name)
            .map_err(|e| LlmError::Gguf(format!("tensor {name}: {e}")))?
            .ok_or_else(|| LlmError::Gguf(format!("tensor {name} has no data")))?;
        tensors.insert(name, RawTensor { kind, dims, bytes: data.to_owned() });
    }
    Ok(GgufModel { config, tensors, tokens, token_types, merges, bos, eos, chat_template })
}
