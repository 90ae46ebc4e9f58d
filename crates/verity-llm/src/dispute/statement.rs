//! What a dispute is about: a signed completion receipt, checked against the model the
//! referee holds (its id is the receipt's model id) before any move.

use verity_receipt::Receipt;

use crate::error::{LlmError, Result};
use crate::generate::{check_request, Completion};
use crate::model::Model;
use crate::receipt::{input_hash, output_hash, ReceiptFile};
use crate::trace::Hash;

#[derive(Clone, Debug)]
pub struct Statement {
    pub completion: Completion,
    pub trace_root: Hash,
    pub executor: [u8; 20],
    /// Positions the claimed trace must have: the prompt and every fed token.
    pub positions: usize,
    /// Why the signed claims contradict themselves (tokens, text and finish reason), if
    /// they do: the challenger then wins without a game.
    pub inconsistent: Option<String>,
}

impl Statement {
    /// Refused unless the receipt's signature holds, it is for this model, and the
    /// completion carried with it is exactly what it signs (input, output, trace root).
    pub fn from_receipt(model: &Model, file: &ReceiptFile) -> Result<Statement> {
        let bad = |m: String| LlmError::Receipt(m);
        let r = Receipt::from_json(&file.receipt).map_err(|e| bad(e.to_string()))?;
        r.verify_signature().map_err(|e| bad(e.to_string()))?;
        let c = &file.completion;
        if r.body.model_id != model.id || c.model_id != model.id_hex() {
            return Err(bad("the receipt is for another model than the one the referee holds".into()));
        }
        if r.body.input_hash != input_hash(c) || r.body.output_hash != output_hash(c) {
            return Err(bad("the completion is not the one the receipt signs (input or output hash)".into()));
        }
        if hex::encode(r.body.trace_root) != c.trace_root {
            return Err(bad("the completion's trace root is not the signed one".into()));
        }
        check_request(model, &c.prompt_tokens, &c.params)?;
        let (positions, inconsistent) = match positions(model, c) {
            Ok(n) => (n, None),
            Err(e) => (c.prompt_tokens.len(), Some(e)),
        };
        Ok(Statement { completion: c.clone(), trace_root: r.body.trace_root, executor: r.body.executor, positions, inconsistent })
    }

    pub fn n_prompt(&self) -> usize {
        self.completion.prompt_tokens.len()
    }

    /// The token fed at position `pos < positions`.
    pub fn token(&self, pos: usize) -> u32 {
        let n = self.n_prompt();
        if pos < n {
            self.completion.prompt_tokens[pos]
        } else {
            self.completion.tokens[pos - n]
        }
    }
}

/// The number of positions a decoder that produced these tokens ran, from the decoding
/// rules alone (end token, stop sequences, max tokens); an error if the tokens, text and
/// finish reason cannot come out of those rules together.
pub fn positions(model: &Model, c: &Completion) -> std::result::Result<usize, String> {
    let (n, m, max) = (c.prompt_tokens.len(), c.tokens.len(), c.params.max_tokens as usize);
    if m > max {
        return Err(format!("{m} tokens claimed, max_tokens is {max}"));
    }
    if let Some(t) = c.tokens.iter().find(|t| **t as usize >= model.config.vocab || **t == model.eos || **t == model.im_end) {
        return Err(format!("claimed token {t} is outside the vocabulary or an end token"));
    }
    let expect = |finish: &str, text: &str| {
        if c.finish_reason != finish || c.text != text {
            return Err(format!("finish reason {:?} and text do not follow from the tokens", c.finish_reason));
        }
        Ok(())
    };
    for i in 0..m {
        let mut text = model.tokenizer.decode(&c.tokens[..=i]).map_err(|e| e.to_string())?;
        let cut = c.params.stop.iter().filter_map(|s| text.find(s.as_str())).min();
        if cut.is_some() || i + 1 == max {
            if i + 1 != m {
                return Err(format!("decoding ends after token {i}, but {m} tokens are claimed"));
            }
            if let Some(cut) = cut {
                text.truncate(cut);
                expect("stop", &text)?;
            } else {
                expect("length", &text)?;
            }
            return Ok(n + m - 1);
        }
    }
    let text = model.tokenizer.decode(&c.tokens).map_err(|e| e.to_string())?;
    expect("stop", &text)?;
    Ok(n + m)
}
