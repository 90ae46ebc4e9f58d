//! The tokenizer, built with the `tokenizers` crate from the GGUF's vocabulary and merges:
//! a byte-level BPE with single-digit splitting (the SmolLM / GPT-2 pre-tokenizer), the
//! control tokens (GGUF token type 3) as special tokens. The JSON it is built from is bound
//! into the model id.

use serde_json::json;
use tokenizers::Tokenizer;

use crate::error::{LlmError, Result};
use crate::gguf::GgufModel;

/// The canonical `tokenizer.json` text for a GGUF vocabulary (deterministic: keys sorted by
/// `serde_json`'s map, tokens in id order).
pub fn tokenizer_json(g: &GgufModel) -> Result<String> {
    let mut vocab = serde_json::Map::new();
    for (id, t) in g.tokens.iter().enumerate() {
        if vocab.insert(t.clone(), json!(id)).is_some() {
            return Err(LlmError::Tokenizer(format!("token {t:?} appears twice in the vocabulary")));
        }
    }
    let added: Vec<_> = g
        .tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| g.token_types[*i] == 3)
        .map(|(i, t)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": true})
        })
        .collect();
    let merges: Vec<_> = g.merges.iter().map(|m| json!(m)).collect();
    let tok = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
        ]},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": vocab, "merges": merges}
    });
    serde_json::to_string(&tok).map_err(|e| LlmError::Tokenizer(e.to_string()))
}

#[derive(Clone)]
pub struct Tok {
    inner: Tokenizer,
}

impl Tok {
    pub fn from_json(text: &str) -> Result<Self> {
        let inner: Tokenizer = text.parse().map_err(|e| LlmError::Tokenizer(format!("building the BPE: {e}")))?;
        Ok(Tok { inner })
    }

    /// Encodes text; control tokens written in the text (`<|im_start|>`) become their ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, false).map_err(|e| LlmError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(|e| LlmError::Tokenizer(e.to_string()))
    }

    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.inner.token_to_id(text)
    }
}
