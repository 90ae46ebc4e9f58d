//! Plays a whole game in front of a referee, passing every move through its canonical
//! encoding as a network would.

use std::time::{Duration, Instant};

use super::messages::Move;
use super::players::Player;
use super::referee::{Party, Referee, Verdict};

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
    /// Referee time on the final move (checking the openings and recomputing the element).
    pub step_time: Duration,
    /// Referee time over the whole game.
    pub referee_time: Duration,
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

/// Plays until the referee decides. A player with no move, or whose move is rejected, lets
/// its deadline pass (its strategy has nothing else to send).
pub fn play(referee: &mut Referee, executor: &mut dyn Player, challenger: &mut dyn Player) -> GameLog {
    let mut rounds = Vec::new();
    let (mut step_time, mut referee_time) = (Duration::ZERO, Duration::ZERO);
    while let Some(turn) = referee.turn() {
        let player: &mut dyn Player = if turn == Party::Executor { &mut *executor } else { &mut *challenger };
        let Some(mv) = player.play(referee) else {
            referee.timeout();
            continue;
        };
        let bytes = mv.encode();
        let t = Instant::now();
        let result = Move::decode(&bytes).and_then(|m| referee.apply(turn, &m).map(|_| m));
        let took = t.elapsed();
        referee_time += took;
        if matches!(mv, Move::Step { .. }) {
            step_time = took;
        }
        let rejected = result.err();
        let stuck = rejected.is_some();
        rounds.push(Round { party: turn, kind: mv.name(), bytes: bytes.len(), rejected });
        if stuck {
            referee.timeout();
        }
    }
    GameLog { rounds, verdict: referee.verdict().expect("the loop ends with a verdict").clone(), step_time, referee_time }
}
