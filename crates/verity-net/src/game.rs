//! A dispute game played over request-response. The challenger drives: it keeps the
//! referee, plays its own moves and asks the executor for each of the executor's moves
//! ([`DisputeStep`]). The executor keeps no state between steps: it replays the game from
//! the challenger's moves, recomputing its own, and answers its next move with its
//! signature over the transcript so far ([`crate::sign_transcript`]). A game the
//! executor loses becomes a [`FraudProof`]; an executor that does not answer within the
//! step timeout loses by silence, which is not provable to third parties (no proof).

use std::time::Duration;

use libp2p::PeerId;
use verity_commit::ModelCommitment;
use verity_dispute::{Challenger, Execution, Move, Party, Player, Referee, Statement};
use verity_receipt::{EthSignature, Receipt, Signer};

use crate::error::NetError;
use crate::evidence::{sign_transcript, transcript_hash, FraudProof, MAX_MOVES};
use crate::forward::{decode_move_answer, Answer, DisputeStep};
use crate::swarm::Handle;

/// Synthetic referee times: one tick a move, a timeout no game reaches (network deadlines
/// are kept by the challenger's step timeout instead).
const NO_TIMEOUT: u64 = u64::MAX / 4;

/// The executor's side of one step: replays `step` in front of a fresh referee, with
/// `player` making the executor's moves, and returns the executor's next move and its
/// signature over the transcript including it. Refuses a step whose challenger moves the
/// referee refuses, or that asks for a move when it is not the executor's turn.
pub fn executor_step(
    statement: Statement,
    player: &mut dyn Player,
    step: &DisputeStep,
    signer: &Signer,
) -> Result<(Move, EthSignature), NetError> {
    let bad = |m: String| NetError::Malformed(format!("dispute step: {m}"));
    let mut referee = Referee::new(statement, 0, NO_TIMEOUT);
    let mut moves = Vec::new();
    let (mut seen, mut next) = (0u32, 0usize);
    while moves.len() <= MAX_MOVES {
        let now = moves.len() as u64 + 1;
        match referee.turn() {
            None => return Err(bad("the game is already decided".into())),
            Some(Party::Executor) => {
                let mv = player.play(&referee).ok_or_else(|| bad("the executor has no move here".into()))?;
                referee.apply(Party::Executor, &mv, now).map_err(|e| bad(format!("own move refused: {e}")))?;
                moves.push(mv);
                if seen == step.executor_moves {
                    let sig = sign_transcript(signer, &step.receipt_id, &step.nonce, &moves);
                    return Ok((moves.pop().expect("just pushed"), sig));
                }
                seen += 1;
            }
            Some(Party::Challenger) => {
                let mv = step.challenger_moves.get(next).ok_or_else(|| bad("it is the challenger's turn".into()))?;
                referee.apply(Party::Challenger, mv, now).map_err(|e| bad(format!("challenger move {next} refused: {e}")))?;
                moves.push(mv.clone());
                next += 1;
            }
        }
    }
    Err(bad("too many moves".into()))
}

/// How a game over the network ended.
pub enum Outcome {
    /// The executor lost: the proof, checked by [`FraudProof::check`] before it is returned.
    Convicted(Box<FraudProof>),
    /// The executor won (the challenger was wrong, or the executor is honest).
    ExecutorWon(String),
    /// The executor did not answer a step in time, refused, or sent a move the referee
    /// refuses or a signature that is not its own: it loses the game, but nothing a third
    /// party can check shows it.
    Unprovable(String),
}

/// What the challenger disputes: the executor's `receipt`, and its own execution `truth`
/// of the model behind `commitment` on `inputs`.
pub struct Case<'a> {
    pub commitment: &'a ModelCommitment,
    pub inputs: &'a [verity_model::Tensor],
    pub receipt: &'a Receipt,
    pub truth: &'a Execution,
}

/// How long the challenger waits before sending a move again after a transport failure.
const RETRY_AFTER: Duration = Duration::from_millis(250);

/// Plays the challenger against the executor at `peer` over `case`.
pub async fn challenge(
    handle: &Handle,
    peer: PeerId,
    case: Case<'_>,
    nonce: [u8; 32],
    step_timeout: Duration,
) -> Result<Outcome, NetError> {
    let Case { commitment, inputs, receipt, truth } = case;
    let statement = verity_dispute::statement(commitment, inputs, receipt)
        .map_err(|e| NetError::Malformed(format!("the receipt cannot be disputed: {e}")))?;
    let receipt_id = receipt.signing_hash();
    let mut referee = Referee::new(statement, 0, NO_TIMEOUT);
    let mut moves: Vec<Move> = Vec::new();
    let mut challenger_moves = Vec::new();
    let mut executor_moves = 0u32;
    let mut signed: Option<(usize, EthSignature)> = None;
    while let Some(turn) = referee.turn() {
        if moves.len() >= MAX_MOVES {
            return Ok(Outcome::Unprovable("the game did not end within the move limit".into()));
        }
        let now = moves.len() as u64 + 1;
        if turn == Party::Challenger {
            let mv = Challenger { run: truth }
                .play(&referee)
                .ok_or_else(|| NetError::Malformed("the challenger has no move in this position".into()))?;
            referee.apply(Party::Challenger, &mv, now).map_err(|e| NetError::Malformed(format!("own move refused: {e}")))?;
            challenger_moves.push(mv.clone());
            moves.push(mv);
            continue;
        }
        let step = DisputeStep { receipt_id, nonce, executor_moves, challenger_moves: challenger_moves.clone() };
        // A transport failure (a dropped connection, the executor restarting) is retried until
        // the move's deadline: the executor keeps no game state, so a restarted one answers
        // the same step.
        let deadline = tokio::time::Instant::now() + step_timeout;
        let answer = loop {
            match tokio::time::timeout_at(deadline, handle.call(peer, step.encode())).await {
                Err(_) => return Ok(Outcome::Unprovable(format!("no answer to move {} within {step_timeout:?}", moves.len()))),
                Ok(Err(_)) if tokio::time::Instant::now() + RETRY_AFTER < deadline => tokio::time::sleep(RETRY_AFTER).await,
                Ok(Err(e)) => return Ok(Outcome::Unprovable(format!("move {}: {e}", moves.len()))),
                Ok(Ok(Answer::Refused { message, .. })) => {
                    return Ok(Outcome::Unprovable(format!("the executor refused move {}: {message}", moves.len())))
                }
                Ok(Ok(Answer::Ok(data))) => break data,
            }
        };
        let (mv, sig) = match decode_move_answer(&answer) {
            Ok(x) => x,
            Err(e) => return Ok(Outcome::Unprovable(format!("move {}: {e}", moves.len()))),
        };
        if let Err(e) = referee.apply(Party::Executor, &mv, now) {
            return Ok(Outcome::Unprovable(format!("the executor's move {} is refused: {e}", moves.len())));
        }
        moves.push(mv);
        let digest = transcript_hash(&receipt_id, &nonce, &moves);
        if sig.validate().and_then(|_| sig.recover_address(&digest)).ok() != Some(receipt.body.executor) {
            return Ok(Outcome::Unprovable(format!("the executor's signature on move {} is not its own", moves.len() - 1)));
        }
        signed = Some((moves.len(), sig));
        executor_moves += 1;
    }
    let verdict = referee.verdict().cloned().ok_or_else(|| NetError::Malformed("the game ended undecided".into()))?;
    if verdict.winner != Party::Challenger {
        return Ok(Outcome::ExecutorWon(verdict.reason));
    }
    let Some((signed_moves, executor_signature)) = signed else {
        return Ok(Outcome::Unprovable("the executor made no signed move".into()));
    };
    let st = referee.statement();
    let proof = FraudProof {
        receipt: receipt.clone(),
        head: commitment.head_bytes().to_vec(),
        nodes_root: st.nodes_root(),
        input_roots: st.input_roots().to_vec(),
        moves,
        nonce,
        signed_moves: signed_moves as u32,
        executor_signature,
    };
    proof.check()?;
    Ok(Outcome::Convicted(Box::new(proof)))
}
