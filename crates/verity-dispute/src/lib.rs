//! Bisection disputes: an executor's signed receipt (its trace root) against a challenger,
//! decided by a referee that holds only the receipt and openings checked against it. See
//! docs/disputes.md.
//!
//! 1. The executor opens its outputs against its trace root.
//! 2. Bisection over the trace's prefix roots finds the first value `k` on which the
//!    parties disagree while agreeing on everything before it.
//! 3. Bisection down value `k`'s chunk tree finds one chunk; the challenger names one
//!    element of it.
//! 4. The executor proves that element: the node (against the model id) and
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

use verity_commit::{Hash, ModelCommitment, TensorCommitment};
use verity_model::{Tensor, ValueInfo};
use verity_receipt::Receipt;

/// The statement of a dispute over `receipt`, opened with the model `commitment` and the
/// `inputs` the challenger holds. Refused unless they are what the receipt signs: a
/// commitment to another model (or inputs other than the receipt's) cannot be substituted.
pub fn statement(commitment: &ModelCommitment, inputs: &[Tensor], receipt: &Receipt) -> Result<Statement, DisputeError> {
    Statement::from_receipt(
        receipt,
        commitment.head_bytes(),
        commitment.nodes_root(),
        input_roots(&commitment.head.values, inputs),
    )
}

/// The tensor roots of a model's `inputs` (the first values of `values`), which the
/// receipt's input hash lists.
pub fn input_roots(values: &[ValueInfo], inputs: &[Tensor]) -> Vec<Hash> {
    inputs.iter().zip(values).map(|(t, v)| TensorCommitment::new(v.bits, &t.shape, &t.data).root()).collect()
}
