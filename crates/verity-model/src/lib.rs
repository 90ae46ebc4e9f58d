//! Canonical integer models: the single exact semantics every Verity layer agrees on.
//!
//! A [`Model`] is a list of integer ops in execution order. Its bytes ([`Model::encode`])
//! are deterministic and its id ([`id`]) is a Merkle commitment to all of them. [`reference::run`] defines the
//! answer; `docs/semantics.md` states the same rules in prose.

pub mod arith;
mod codec;
pub mod element;
mod error;
mod graph;
pub mod id;
pub mod input;
pub mod merkle;
mod ops;
pub mod reference;
pub mod shape;
mod tensor;

pub use codec::{MAGIC, VERSION};
pub use error::{ModelError, Result};
pub use graph::{InputAffine, Model, ModelHead, Node, ValueId, ValueInfo, LIMIT, MAX_ELEMENTS};
pub use ops::{CmpMode, Op, Requant, Window};
pub use tensor::Tensor;
