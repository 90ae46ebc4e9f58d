//! The canonical integer Llama (semantics in `docs/llm.md`).
//!
//! Activations are Q16 fixed point in `i32`. Weights keep their GGUF blocks exactly: a
//! block's f16 scale `d` and min `m` are turned into the integers `D = d·2^24`, `M = m·2^24`,
//! which is exact for every finite f16, and the 4-bit (Q4_1) or 8-bit (Q8_0) codes are kept
//! as they are. Norm gains (F32 in GGUF) are rounded to Q16 once, here. The rotary, exp
//! and sigmoid tables are computed with the pure-Rust `libm` crate (IEEE operations only,
//! so the same on every platform) and rounded to integers; all of it is hashed into the
//! model id.

use crate::error::{LlmError, Result};
use crate::gguf::{GgufModel, LlamaConfig, RawKind, RawTensor};
use crate::tokenizer::{tokenizer_json, Tok};

pub const FRAC: u32 = 16;
pub const ONE: i64 = 1 << FRAC;
/// Weight scales are integers in units of 2^-24 (the smallest f16 subnormal).
pub const WFRAC: u32 = 24;
pub const BLOCK: usize = 32;
/// Rotary and exp tables are Q30.
pub const TFRAC: u32 = 30;
/// exp(-t) and sigmoid tables step 2^-8 in their argument.
pub const TSTEP: u32 = 8;
/// exp(-t) is 0 for t >= 32; sigmoid(x) is taken as 0 / 1 outside [-16, 16).
pub const EXP_RANGE: i64 = 32;
pub const SIG_RANGE: i64 = 16;
/// The canonical model's context is capped (the rotary table is part of the model).
pub const MAX_CONTEXT: usize = 2048;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WKind {
    Q4_1,
    Q8_0,
}

/// A quantized matrix, `rows × cols`, blocks of 32 along each row.
#[derive(Clone, Debug)]
pub struct QMatrix {
    pub kind: WKind,
    pub rows: usize,
    pub cols: usize,
    /// Per block (row-major, `cols/32` per row): scale and min in units of 2^-24.
    pub d: Vec<i64>,
    pub m: Vec<i64>,
    /// Codes, one per weight: 0..=15 for Q4_1, -128..=127 for Q8_0.
    pub q: Vec<i8>,
    /// The fast kernel's copy (`packed.rs`), on CPUs that run it; not part of the model id.
    pub packed: Option<crate::packed::Packed>,
}

impl QMatrix {
    pub fn blocks_per_row(&self) -> usize {
        self.cols / BLOCK
    }

    /// Rebuilds the fast kernel's copy; call it after changing `d`, `m` or `q`.
    pub fn repack(&mut self) {
        self.packed = if crate::packed::supported() { crate::packed::Packed::new(self) } else { None };
    }
}

#[derive(Clone, Debug)]
pub struct Layer {
    pub attn_norm: Vec<i32>,
    pub wq: QMatrix,
    pub wk: QMatrix,
    pub wv: QMatrix,
    pub wo: QMatrix,
    pub ffn_norm: Vec<i32>,
    pub w_gate: QMatrix,
    pub w_up: QMatrix,
    pub w_down: QMatrix,
}

#[derive(Clone)]
pub struct Model {
    pub config: LlamaConfig,
    /// `min(context_length, MAX_CONTEXT)`.
    pub context: usize,
    pub embed: QMatrix,
    pub layers: Vec<Layer>,
    pub out_norm: Vec<i32>,
    /// `rms_eps` in Q32 (the unit of a mean square of Q16 values).
    pub eps_q32: i64,
    /// `1/sqrt(head_dim)` in Q16.
    pub inv_sqrt_hd: i64,
    /// `[pos][i] = (cos, sin)(pos · base^(-2i/head_dim))` in Q30.
    pub rope: Vec<(i32, i32)>,
    /// `exp(-k/256)` in Q30, `k = 0..=32·256`.
    pub exp_table: Vec<i64>,
    /// `sigmoid(-16 + k/256)` in Q16, `k = 0..=32·256`.
    pub sig_table: Vec<i64>,
    pub tokenizer_json: String,
    pub tokenizer: Tok,
    pub chat_template: String,
    pub bos: u32,
    pub eos: u32,
    /// `<|im_end|>`, the end of an assistant turn in the ChatML template.
    pub im_end: u32,
    pub id: [u8; 32],
}

/// `f16` bits to the exact integer `value · 2^24`.
pub fn f16_fixed(bits: u16) -> Option<i64> {
    let sign = if bits & 0x8000 != 0 { -1 } else { 1 };
    let exp = ((bits >> 10) & 0x1f) as u32;
    let mant = (bits & 0x3ff) as i64;
    let mag = match exp {
        0 => mant,
        31 => return None,
        e => (1024 + mant) << (e - 1),
    };
    Some(sign * mag)
}

fn f32_q16(name: &str, x: f32) -> Result<i32> {
    let v = (x as f64 * ONE as f64).round();
    if !v.is_finite() || v.abs() > i32::MAX as f64 {
        return Err(LlmError::Tensor { name: name.into(), problem: format!("value {x} does not fit Q16") });
    }
    Ok(v as i32)
}

fn tensor<'a>(g: &'a GgufModel, name: &str) -> Result<&'a RawTensor> {
    g.tensors.get(name).ok_or_else(|| LlmError::Tensor { name: name.into(), problem: "missing".into() })
}

fn vector(g: &GgufModel, name: &str, len: usize) -> Result<Vec<i32>> {
    let t = tensor(g, name)?;
    if t.kind != RawKind::F32 || t.dims != [len as u64] || t.bytes.len() != 4 * len {
        return Err(LlmError::Tensor {
            name: name.into(),
            problem: format!("expected F32 [{len}], found {:?} {:?}", t.kind, t.dims),
        });
    }
    t.bytes.chunks_exact(4).map(|c| f32_q16(name, f32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect()
}

fn matrix(g: &GgufModel, name: &str, cols: usize, rows: usize) -> Result<QMatrix> {
    let t = tensor(g, name)?;
    let bad = |p: String| LlmError::Tensor { name: name.into(), problem: p };
    if t.dims != [cols as u64, rows as u64] {
        return Err(bad(format!("shape {:?}, expected [{cols}, {rows}]", t.dims)));
    }
    if !cols.is_multiple_of(BLOCK) || cols > 8192 {
        return Err(bad(format!("row length {cols} must be a multiple of 32 and at most 8192")));
    }
    let nb = rows * cols / BLOCK;
    let (kind, bsize) = match t.kind {
        RawKind::Q4_1 => (WKind::Q4_1, 20),
        RawKind::Q8_0 => (WKind::Q8_0, 34),
        RawKind::F32 => return Err(bad("F32 matrices are not supported (Q4_1 or Q8_0)".into())),
    };
    if t.bytes.len() != nb * bsize {
        return Err(bad(format!("{} bytes of data, expected {}", t.bytes.len(), nb * bsize)));
    }
    let mut d = Vec::with_capacity(nb);
    let mut m = Vec::with_capacity(nb);
    let mut q = Vec::with_capacity(rows * cols);
    for blk in t.bytes.chunks_exact(bsize) {
        let h = |i: usize| u16::from_le_bytes([blk[i], blk[i + 1]]);
        let fx = |bits: u16| f16_fixed(bits).ok_or_else(|| bad("a block scale is inf or NaN".into()));
        match kind {
            WKind::Q4_1 => {
                d.push(fx(h(0))?);
                m.push(fx(h(2))?);
                // ggml layout: byte j holds element j (low nibble) and element j+16 (high).
                q.extend(blk[4..20].iter().map(|b| (b & 15) as i8));
                q.extend(blk[4..20].iter().map(|b| (b >> 4) as i8));
            }
            WKind::Q8_0 => {
                d.push(fx(h(0))?);
                m.push(0);
                q.extend(blk[2..34].iter().map(|b| *b as i8));
            }
        }
    }
    Ok(QMatrix { kind, rows, cols, d, m, q, packed: None })
}

/// The only chat template rendered: ChatML (`<|im_start|>role\n…<|im_end|>\n`), which
/// SmolLM2's GGUF template produces. A GGUF whose template is not ChatML is refused.
pub fn render_chat(system: Option<&str>, user: &str) -> String {
    let system = system.unwrap_or("You are a helpful AI assistant named SmolLM, trained by Hugging Face");
    format!("<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
}

impl Model {
    pub fn from_gguf(g: &GgufModel) -> Result<Model> {
        let c = g.config.clone();
        let kv = c.n_head_kv * c.head_dim;
        if !g.chat_template.contains("<|im_start|>") {
            return Err(LlmError::Unsupported("chat template is not ChatML (<|im_start|>)".into()));
        }
        let embed = matrix(g, "token_embd.weight", c.n_embd, c.vocab)?;
        if g.tensors.contains_key("output.weight") {
            return Err(LlmError::Unsupported("untied output.weight (only tied embeddings)".into()));
        }
        let mut layers = Vec::with_capacity(c.n_layer);
        for l in 0..c.n_layer {
            let n = |s: &str| format!("blk.{l}.{s}.weight");
            layers.push(Layer {
                attn_norm: vector(g, &n("attn_norm"), c.n_embd)?,
                wq: matrix(g, &n("attn_q"), c.n_embd, c.n_embd)?,
                wk: matrix(g, &n("attn_k"), c.n_embd, kv)?,
                wv: matrix(g, &n("attn_v"), c.n_embd, kv)?,
                wo: matrix(g, &n("attn_output"), c.n_embd, c.n_embd)?,
                ffn_norm: vector(g, &n("ffn_norm"), c.n_embd)?,
                w_gate: matrix(g, &n("ffn_gate"), c.n_embd, c.n_ff)?,
                w_up: matrix(g, &n("ffn_up"), c.n_embd, c.n_ff)?,
                w_down: matrix(g, &n("ffn_down"), c.n_ff, c.n_embd)?,
            });
        }
        let out_norm = vector(g, "output_norm.weight", c.n_embd)?;
        let context = c.context.min(MAX_CONTEXT);
        let half = c.head_dim / 2;
        let mut rope = Vec::with_capacity(context * half);
        for pos in 0..context {
            for i in 0..half {
                let inv = libm::pow(c.rope_base as f64, -(2.0 * i as f64) / c.head_dim as f64);
                let a = pos as f64 * inv;
                let s = (1i64 << TFRAC) as f64;
                rope.push(((libm::cos(a) * s).round() as i32, (libm::sin(a) * s).round() as i32));
            }
        }
        let n = (2 * EXP_RANGE as usize) << TSTEP;
        let exp_table: Vec<i64> = (0..=(EXP_RANGE as usize) << TSTEP)
            .map(|k| (libm::exp(-(k as f64) / 256.0) * (1i64 << TFRAC) as f64).round() as i64)
            .collect();
        let sig_table: Vec<i64> = (0..=n / 2)
            .map(|k| {
                let x = -(SIG_RANGE as f64) + k as f64 / 256.0;
                (ONE as f64 / (1.0 + libm::exp(-x))).round() as i64
            })
            .collect();
        let eps_q32 = ((c.rms_eps as f64) * (1u64 << 32) as f64).round().max(1.0) as i64;
        let inv_sqrt_hd = (ONE as f64 / libm::sqrt(c.head_dim as f64)).round() as i64;
        let tokenizer_json = tokenizer_json(g)?;
        let tokenizer = Tok::from_json(&tokenizer_json)?;
        let im_end = tokenizer.token_id("<|im_end|>").ok_or_else(|| LlmError::Tokenizer("no <|im_end|> token".into()))?;
        let mut model = Model {
            config: c,
            context,
            embed,
            layers,
            out_norm,
            eps_q32,
            inv_sqrt_hd,
            rope,
            exp_table,
            sig_table,
            tokenizer_json,
            tokenizer,
            chat_template: g.chat_template.clone(),
            bos: g.bos,
            eos: g.eos,
            im_end,
            id: [0; 32],
        };
        model.id = model.compute_id();
        if crate::packed::supported() {
            let mut ws = vec![&mut model.embed];
            for l in &mut model.layers {
                ws.extend([&mut l.wq, &mut l.wk, &mut l.wv, &mut l.wo, &mut l.w_gate, &mut l.w_up, &mut l.w_down]);
            }
            crate::packed::Packed::all(ws);
        }
        Ok(model)
    }

    pub fn load(path: &std::path::Path) -> Result<Model> {
        Model::from_gguf(&crate::gguf::read_path(path)?)
    }

    /// blake3 over the canonical encoding: a version tag, the configuration, every weight
    /// (codes and fixed-point scales), every table, the tokenizer JSON and the chat template.
    fn compute_id(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(b"verity-llm/llama/v1\0");
        let c = &self.config;
        for v in [c.n_layer, c.n_embd, c.n_ff, c.n_head, c.n_head_kv, c.head_dim, c.vocab, self.context] {
            h.update(&(v as u64).to_le_bytes());
        }
        h.update(&self.eps_q32.to_le_bytes());
        h.update(&self.inv_sqrt_hd.to_le_bytes());
        let mat = |h: &mut blake3::Hasher, m: &QMatrix| {
            h.update(&[m.kind as u8]);
            h.update(&(m.rows as u64).to_le_bytes());
            h.update(&(m.cols as u64).to_le_bytes());
            for (d, mm) in m.d.iter().zip(&m.m) {
                h.update(&d.to_le_bytes());
                h.update(&mm.to_le_bytes());
            }
            let q: Vec<u8> = m.q.iter().map(|x| *x as u8).collect();
            h.update(&q);
        };
        let vec = |h: &mut blake3::Hasher, v: &[i32]| {
            h.update(&(v.len() as u64).to_le_bytes());
            for x in v {
                h.update(&x.to_le_bytes());
            }
        };
        mat(&mut h, &self.embed);
        for l in &self.layers {
            vec(&mut h, &l.attn_norm);
            for m in [&l.wq, &l.wk, &l.wv, &l.wo] {
                mat(&mut h, m);
            }
            vec(&mut h, &l.ffn_norm);
            for m in [&l.w_gate, &l.w_up, &l.w_down] {
                mat(&mut h, m);
            }
        }
        vec(&mut h, &self.out_norm);
        for (c, s) in &self.rope {
            h.update(&c.to_le_bytes());
            h.update(&s.to_le_bytes());
        }
        for t in [&self.exp_table, &self.sig_table] {
            for x in t {
                h.update(&x.to_le_bytes());
            }
        }
        for s in [&self.tokenizer_json, &self.chat_template] {
            h.update(&(s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        h.update(&self.bos.to_le_bytes());
        h.update(&self.eos.to_le_bytes());
        *h.finalize().as_bytes()
    }

    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }
}
