//! Bisection disputes: an executor's signed trace root against a challenger, decided by
//! a referee that holds only commitments. See docs/disputes.md.
//!
//! 1. The executor opens its outputs against its trace root.
//! 2. Bisection over the trace's prefix roots finds the first value `k` on which the
//!    parties disagree while agreeing on everything before it.
//! 3. Bisection down value `k`'s chunk tree finds one chunk; the challenger names one
//!    element of it.
//! 4. The executor proves that element: the node (against the model commitment) and
//!    its operands (against the agreed prefix root). The referee recomputes it with
//!    the model's own element semantics.

pub mod cheat;
mod error;
pub mod game;
pub mod messages;
pub mod players;
pub mod referee;

pub use cheat::{cheat, Cheat, Claim};
pub use error::DisputeError;
pub use game::{play, GameLog, Round};
pub use messages::Move;
pub use players::{Challenger, Execution, Executor, Player, RandomChallenger};
pub use referee::{Party, Phase, Referee, Statement, Verdict};

use verity_commit::{hash, ModelCommitment, TensorCommitment};
use verity_model::{Model, Tensor};

/// The statement of a dispute over `claim`, for `model` on the honest `inputs`.
pub fn statement(model: &Model, commitment: &ModelCommitment, inputs: &[Tensor], claim: &Claim) -> Statement {
    let input_roots: Vec<_> =
        inputs.iter().zip(&model.values).map(|(t, v)| TensorCommitment::new(v.bits, &t.shape, &t.data).root()).collect();
    Statement {
        model_root: commitment.root(),
        header: commitment.header.clone(),
        nodes_root: commitment.nodes_root(),
        input_hash: hash::list(&input_roots),
        input_roots,
        output_hash: claim.output_hash,
        trace_root: claim.run.trace.root(),
    }
}
