//! Bisection disputes over a completion (docs/llm.md "Disputes"): the game descends the
//! trace commitment from the receipt's trace root — positions, then ops, then chunks — to
//! one element, which the referee recomputes from openings of earlier op outputs (the KV
//! cache included) and the model, without replaying the prefix.

pub mod cheat;
pub mod game;
pub mod messages;
pub mod players;
pub mod referee;
pub mod statement;

pub use cheat::{cheat, Cheat, Claim};
pub use game::{play, GameLog, Round};
pub use messages::{Move, Opening};
pub use players::{expected_trace, Challenger, Executor, Player, RandomChallenger, Trace};
pub use referee::{Party, Phase, Referee, Stage, Verdict};
pub use statement::Statement;

use crate::error::Result;
use crate::model::Model;
use crate::receipt::ReceiptFile;
use crate::trace::Layout;

/// A game over `file` between an executor defending `trace` and an honest challenger, in
/// front of a referee holding `model`.
pub fn dispute(model: &Model, file: &ReceiptFile, trace: &Trace) -> Result<GameLog> {
    let st = Statement::from_receipt(model, file)?;
    let (expected, invalid) = match st.inconsistent {
        // The referee decides at once; there is nothing to compare.
        Some(_) => (Trace::from_values(Vec::new()), None),
        None => expected_trace(model, &st)?,
    };
    let mut referee = Referee::new(model, st);
    let mut challenger = Challenger { trace: &expected, invalid, layout: Layout::of(&model.config) };
    Ok(play(&mut referee, &mut Executor { trace }, &mut challenger))
}
