//! A tiny random model of the same architecture, written as a real GGUF (with the same
//! `gguf-rs-lib` crate), so tests exercise the whole import path without the 98 MB model.

use gguf_rs_lib::format::metadata::{MetadataArray, MetadataValue};
use gguf_rs_lib::format::types::GGUFValueType;
use gguf_rs_lib::prelude::GGUFBuilder;
use gguf_rs_lib::tensor::TensorType;

/// GPT-2's byte-to-unicode alphabet: the 256 base tokens of a byte-level BPE.
pub fn byte_alphabet() -> Vec<String> {
    let mut keep: Vec<u32> = (33..=126).chain(161..=172).chain(174..=255).collect();
    let mut out = vec![String::new(); 256];
    let mut extra = 0;
    for b in 0..256u32 {
        let c = if keep.contains(&b) {
            b
        } else {
            extra += 1;
            255 + extra
        };
        out[b as usize] = char::from_u32(c).expect("valid char").to_string();
    }
    keep.clear();
    out
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
}

fn f16_bits(x: f32) -> u16 {
    // Only small normal values are needed here: round the mantissa to 10 bits.
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    let mant = ((b >> 13) & 0x3ff) as u16;
    if exp <= 0 {
        return sign;
    }
    sign | ((exp as u16) << 10) | mant
}

fn q4_1(rng: &mut Rng, rows: usize, cols: usize, scale: f32) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rows * cols / 32 {
        let d = scale * (0.5 + (rng.next() % 1000) as f32 / 1000.0);
        out.extend(f16_bits(d).to_le_bytes());
        out.extend(f16_bits(-7.5 * d).to_le_bytes());
        for _ in 0..16 {
            out.push(rng.next() as u8);
        }
    }
    out
}

fn q8_0(rng: &mut Rng, rows: usize, cols: usize, scale: f32) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rows * cols / 32 {
        out.extend(f16_bits(scale).to_le_bytes());
        for _ in 0..32 {
            out.push(rng.next() as u8);
        }
    }
    out
}

fn f32s(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).flat_map(|_| (0.8 + (rng.next() % 400) as f32 / 1000.0).to_le_bytes()).collect()
}

fn strings(v: Vec<String>) -> MetadataValue {
    MetadataValue::Array(Box::new(
        MetadataArray::new(GGUFValueType::String, v.into_iter().map(MetadataValue::String).collect()).expect("strings"),
    ))
}

/// A tiny Llama GGUF: 2 layers, 64 channels, 4 heads over 2 KV heads, 128 hidden, a
/// 262-token byte-level vocabulary with a few merges, ChatML control tokens.
pub fn tiny_gguf(seed: u64, architecture: &str) -> Vec<u8> {
    let (n_layer, n_embd, n_ff, n_head, n_kv) = (2usize, 64usize, 128usize, 4usize, 2usize);
    let hd = n_embd / n_head;
    let mut tokens = byte_alphabet();
    let merges = vec!["h e".to_string(), "l l".to_string(), "he ll".to_string(), "Ġ t".to_string()];
    tokens.extend(["he", "ll", "hell", "Ġt"].map(String::from));
    let mut types = vec![1i32; tokens.len()];
    for special in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] {
        tokens.push(special.to_string());
        types.push(3);
    }
    let vocab = tokens.len();
    let mut rng = Rng(seed);
    let mut b = GGUFBuilder::new()
        .add_metadata("general.architecture", MetadataValue::String(architecture.into()))
        .add_metadata("llama.block_count", MetadataValue::U32(n_layer as u32))
        .add_metadata("llama.embedding_length", MetadataValue::U32(n_embd as u32))
        .add_metadata("llama.feed_forward_length", MetadataValue::U32(n_ff as u32))
        .add_metadata("llama.attention.head_count", MetadataValue::U32(n_head as u32))
        .add_metadata("llama.attention.head_count_kv", MetadataValue::U32(n_kv as u32))
        .add_metadata("llama.rope.dimension_count", MetadataValue::U32(hd as u32))
        .add_metadata("llama.context_length", MetadataValue::U32(96))
        .add_metadata("llama.rope.freq_base", MetadataValue::F32(10000.0))
        .add_metadata("llama.attention.layer_norm_rms_epsilon", MetadataValue::F32(1e-5))
        .add_metadata("tokenizer.ggml.model", MetadataValue::String("gpt2".into()))
        .add_metadata("tokenizer.ggml.tokens", strings(tokens))
        .add_metadata(
            "tokenizer.ggml.token_type",
            MetadataValue::Array(Box::new(
                MetadataArray::new(GGUFValueType::I32, types.into_iter().map(MetadataValue::I32).collect()).expect("i32s"),
            )),
        )
        .add_metadata("tokenizer.ggml.merges", strings(merges))
        .add_metadata("tokenizer.ggml.bos_token_id", MetadataValue::U32(vocab as u32 - 2))
        .add_metadata("tokenizer.ggml.eos_token_id", MetadataValue::U32(vocab as u32 - 3))
        .add_metadata("tokenizer.chat_template", MetadataValue::String("{{'<|im_start|>' + m['role'] }}".into()));
    let add = |b: GGUFBuilder, name: String, dims: Vec<u64>, ty: TensorType, data: Vec<u8>| {
        b.add_tensor(name, dims, ty, data).expect("tensor")
    };
    b = add(
        b,
        "token_embd.weight".into(),
        vec![n_embd as u64, vocab as u64],
        TensorType::Q8_0,
        q8_0(&mut rng, vocab, n_embd, 0.02),
    );
    for l in 0..n_layer {
        let n = |s: &str| format!("blk.{l}.{s}.weight");
        b = add(b, n("attn_norm"), vec![n_embd as u64], TensorType::F32, f32s(&mut rng, n_embd));
        b = add(b, n("attn_q"), vec![n_embd as u64, n_embd as u64], TensorType::Q4_1, q4_1(&mut rng, n_embd, n_embd, 0.05));
        b = add(
            b,
            n("attn_k"),
            vec![n_embd as u64, (n_kv * hd) as u64],
            TensorType::Q4_1,
            q4_1(&mut rng, n_kv * hd, n_embd, 0.05),
        );
        b = add(
            b,
            n("attn_v"),
            vec![n_embd as u64, (n_kv * hd) as u64],
            TensorType::Q4_1,
            q4_1(&mut rng, n_kv * hd, n_embd, 0.05),
        );
        b = add(b, n("attn_output"), vec![n_embd as u64, n_embd as u64], TensorType::Q4_1, q4_1(&mut rng, n_embd, n_embd, 0.05));
        b = add(b, n("ffn_norm"), vec![n_embd as u64], TensorType::F32, f32s(&mut rng, n_embd));
        b = add(b, n("ffn_gate"), vec![n_embd as u64, n_ff as u64], TensorType::Q4_1, q4_1(&mut rng, n_ff, n_embd, 0.05));
        b = add(b, n("ffn_up"), vec![n_embd as u64, n_ff as u64], TensorType::Q4_1, q4_1(&mut rng, n_ff, n_embd, 0.05));
        b = add(b, n("ffn_down"), vec![n_ff as u64, n_embd as u64], TensorType::Q4_1, q4_1(&mut rng, n_embd, n_ff, 0.05));
    }
    b = add(b, "output_norm.weight".into(), vec![n_embd as u64], TensorType::F32, f32s(&mut rng, n_embd));
    b.build_to_bytes().expect("gguf").0
}
