//! Plays a whole game between two players in front of a referee, passing every move
//! through its canonical encoding as a network would.

use std::time::{Duration, Instant};

use crate::messages::Move;
use crate::players::Player;
use crate::referee::{Party, Referee, Verdict};

/// One accepted or rejected move.
#[derive(Clone, Debug)]
pub struct Round {
    pub party: Party,
    pub kind: &'static str,
    pub bytes: usize,
    /// `Some(reason)` when the referee rejected the move.
    pub rejected: Option<String>,
}

#[derive(Clone, Debug)]
pub struct GameLog {
    pub rounds: Vec<Round>,
    pub verdict: Verdict,
    /// Referee time spent on the final recomputation step.
    pub step_time: Duration,
}

impl GameLog {
    pub fn bytes(&self) -> usize {
        self.rounds.iter().map(|r| r.bytes).sum()
    }
    /// Accepted moves.
    pub fn moves(&self) -> usize {
        self.rounds.iter().filter(|r| r.rejected.is_none()).count()
    }
}

/// Plays until the referee decides. A player with no valid move lets its clock run out.
pub fn play(referee: &mut Referee, executor: &mut dyn Player, challenger: &mut dyn Player, timeout: u64) -> GameLog {
    let mut now = 0u64;
    let mut rounds = Vec::new();
    let mut step_time = Duration::ZERO;
    while let Some(turn) = referee.turn() {
        now += 1;
        let player: &mut dyn Player = if turn == Party::Executor { &mut *executor } else { &mut *challenger };
        let Some(mv) = player.play(referee) else {
            referee.tick(now + timeout + 1);
            continue;
        };
        let bytes = mv.encode();
        let decoded = Move::decode(&bytes).expect("a move decodes from its own encoding");
        let t = Instant::now();
        let result = referee.apply(turn, &decoded, now);
        if matches!(decoded, Move::Step(_)) {
            step_time = t.elapsed();
        }
        let rejected = result.err().map(|e| e.to_string());
        let stuck = rejected.is_some();
        rounds.push(Round { party: turn, kind: decoded.name(), bytes: bytes.len(), rejected });
        if stuck {
            // The player's only move was refused: its deadline passes.
            now += timeout + 1;
            referee.tick(now);
        }
    }
    GameLog { rounds, verdict: referee.verdict().expect("the loop ends with a verdict").clone(), step_time }
}
