//! Decoder-only language models (Llama architecture, GGUF) in Verity's exact integer
//! semantics. The semantics are written in `docs/llm.md`.

mod attention;
mod blake3x16;
mod dots;
pub mod error;
pub mod forward;
pub mod gguf;
pub mod model;
mod packed;
pub mod tokenizer;

pub use error::{LlmError, Result};
pub use forward::{Kernel, Session};
pub use model::Model;
pub mod generate;
pub use generate::{complete, Completion, Params};
pub mod chat;
pub mod dispute;
pub mod receipt;
mod team;
#[doc(hidden)]
pub mod testutil;
pub mod trace;
