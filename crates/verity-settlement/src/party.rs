//! One side of a game on chain, played by a process that holds only its own key and an RPC
//! endpoint: what a node runs to answer a challenge of its receipt, and a verifier to play
//! the challenge it opened (`docs/settlement.md`, "Playing one side").
//!
//! The party keeps a local `verity_dispute::Referee` in step with the contract. It reads
//! every accepted move from the chain (the `Moved` events of the game, then the input of
//! each event's transaction, which `DisputeGame` requires to be the move's own call) and
//! applies it locally; on its turn it asks its `Player` for a move and sends it. When the
//! other side is silent past its deadline, it claims the game with `timeout`.

use std::time::Duration;

use alloy::consensus::Transaction as _;
use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolEvent, SolInterface};
use verity_dispute::{Move, Party, Phase, Player, Referee};

use crate::bindings::game::DisputeGame;
use crate::chain::Settlement;
use crate::dispute::{summary, GasLog};
use crate::error::SettlementError;

/// Synthetic referee time: one tick a move, and a timeout the local referee never reaches
/// (deadlines are the contract's).
const NO_TIMEOUT: u64 = u64::MAX / 4;
/// Failed sends before the party gives up on the game (which it then loses by silence).
const SEND_ATTEMPTS: u32 = 5;

/// How one side's game ended.
#[derive(Clone, Debug)]
pub struct SideOutcome {
    pub id: U256,
    pub winner: Party,
    /// Accepted moves of the whole game.
    pub moves: u16,
    /// Gas of this side's own transactions.
    pub gas: GasLog,
}

/// A game opened against `executor`, as `watch_challenges` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    pub id: U256,
    /// The challenged receipt's signing hash (its id).
    pub receipt: [u8; 32],
    pub block: u64,
}

impl Settlement {
    fn game_address(&self) -> Result<alloy::primitives::Address, SettlementError> {
        Ok(*self.game()?.address())
    }

    /// Games opened against `executor` in blocks `from..=latest`, and the next block to scan.
    pub async fn challenges_of(
        &self,
        executor: alloy::primitives::Address,
        from: u64,
    ) -> Result<(Vec<Opened>, u64), SettlementError> {
        let p = self.chain().provider();
        let latest = p.get_block_number().await.map_err(SettlementError::rpc)?;
        if latest < from {
            return Ok((Vec::new(), from));
        }
        let filter = Filter::new()
            .address(self.game_address()?)
            .event_signature(DisputeGame::Challenged::SIGNATURE_HASH)
            .topic3(executor.into_word())
            .from_block(from)
            .to_block(latest);
        let mut out = Vec::new();
        for log in p.get_logs(&filter).await.map_err(SettlementError::rpc)? {
            let e = log.log_decode::<DisputeGame::Challenged>().map_err(SettlementError::rpc)?;
            out.push(Opened { id: e.inner.data.id, receipt: e.inner.data.receipt.0, block: log.block_number.unwrap_or(from) });
        }
        Ok((out, latest + 1))
    }

    /// The accepted moves of game `id` from its `from` block on, in order, after the first
    /// `skip`, each with its mover: decoded from the transactions that the game's `Moved`
    /// events come from.
    async fn moves_of(&self, id: U256, from: u64, skip: usize) -> Result<Vec<(Party, MoveCall)>, SettlementError> {
        let p = self.chain().provider();
        let filter = Filter::new()
            .address(self.game_address()?)
            .event_signature(DisputeGame::Moved::SIGNATURE_HASH)
            .topic1(id)
            .from_block(from);
        let mut logs = p.get_logs(&filter).await.map_err(SettlementError::rpc)?;
        logs.sort_by_key(|l| (l.block_number, l.log_index));
        let mut out = Vec::with_capacity(logs.len().saturating_sub(skip));
        for log in logs.into_iter().skip(skip) {
            let e = log.log_decode::<DisputeGame::Moved>().map_err(SettlementError::rpc)?.inner.data;
            let party = match e.party {
                1 => Party::Executor,
                2 => Party::Challenger,
                x => return Err(SettlementError::Rpc(format!("a move by party {x}"))),
            };
            let hash = log.transaction_hash.ok_or_else(|| SettlementError::Rpc("a move log without its transaction".into()))?;
            let tx = p
                .get_transaction_by_hash(hash)
                .await
                .map_err(SettlementError::rpc)?
                .ok_or_else(|| SettlementError::Rpc(format!("move transaction {hash} not found")))?;
            let call = DisputeGame::DisputeGameCalls::abi_decode(tx.input())
                .map_err(|e| SettlementError::Rpc(format!("move transaction {hash} is not a game call: {e}")))?;
            out.push((party, MoveCall(call)));
        }
        Ok(out)
    }
}

/// A move as the game's calldata holds it.
struct MoveCall(DisputeGame::DisputeGameCalls);

impl MoveCall {
    /// The `verity_dispute` move this call made at the referee's position `phase` (which
    /// gives the widths and shapes that calldata leaves out). `None` for the last move (the
    /// step), which ends the game and is never replayed.
    fn to_move(&self, local: &Referee) -> Result<Option<Move>, SettlementError> {
        use DisputeGame::DisputeGameCalls as C;
        let hs = |v: &[alloy::primitives::B256]| v.iter().map(|h| h.0).collect::<Vec<_>>();
        let head = local.statement().head();
        let mv = match &self.0 {
            C::postOutputs(c) => Move::Outputs { roots: hs(&c.roots), paths: c.paths.iter().map(|p| hs(p)).collect() },
            C::postPrefix(c) => Move::Prefix { root: c.root.0 },
            C::respond(c) => Move::Respond { agree: c.agree },
            C::openLeaf(c) => {
                let Phase::OpenLeaf { k, .. } = local.phase() else { return Err(out_of_step("a leaf")) };
                let v = &head.values[*k];
                let chunk_root = c.chunkRoot.0;
                Move::Leaf {
                    value_root: verity_commit::hash::tensor(v.bits, &v.shape, &chunk_root),
                    chunk_root,
                    path: hs(&c.path),
                }
            }
            C::postChildren(c) => Move::Children { left: c.left.0, right: c.right.0 },
            C::choose(c) => Move::Choose { right: c.right },
            C::postChunk(c) => {
                let Phase::Chunk { k, .. } = local.phase() else { return Err(out_of_step("a chunk")) };
                Move::Chunk { values: unpack(head.values[*k].bits, &c.packed) }
            }
            C::pickElement(c) => Move::Element { offset: c.offset },
            C::step(_) => return Ok(None),
            _ => return Err(SettlementError::Rpc("a Moved event from a call that is not a move".into())),
        };
        Ok(Some(mv))
    }
}

fn out_of_step(what: &str) -> SettlementError {
    SettlementError::Rpc(format!("the chain shows {what} where the local referee expects another move"))
}

/// The inverse of `dispute::pack`.
fn unpack(bits: u8, packed: &[u8]) -> Vec<i32> {
    if bits <= 8 {
        packed.iter().map(|&b| i32::from(b as i8)).collect()
    } else {
        packed.chunks_exact(2).map(|c| i32::from(i16::from_le_bytes([c[0], c[1]]))).collect()
    }
}

/// Plays `me`'s side of game `id` (opened in block `from`) with `player`, from `local` (a
/// fresh referee of the game's statement), polling every `poll`, until the contract decides
/// the game. The other side's silence past its deadline is claimed with `timeout`.
pub async fn play_side<P: Player + ?Sized>(
    side: &Settlement,
    id: U256,
    from: u64,
    me: Party,
    local: &mut Referee,
    player: &mut P,
    poll: Duration,
) -> Result<SideOutcome, SettlementError> {
    let s = summary(local.statement().head());
    let mut gas = GasLog::default();
    let (mut applied, mut failures) = (0usize, 0u32);
    loop {
        let (_, winner, moves, deadline) = side.game_state(id).await?;
        if winner != 0 {
            let winner = if winner == 1 { Party::Executor } else { Party::Challenger };
            return Ok(SideOutcome { id, winner, moves, gas });
        }
        if applied < moves as usize {
            for (party, call) in side.moves_of(id, from, applied).await? {
                let Some(mv) = call.to_move(local)? else { break };
                local.apply(party, &mv, applied as u64 + 1).map_err(|e| {
                    SettlementError::Rpc(format!("the contract accepted a {} move the referee refuses: {e}", mv.name()))
                })?;
                applied += 1;
            }
        }
        if applied == moves as usize && local.turn() == Some(me) {
            let Some(mv) = player.play(local) else {
                return Err(SettlementError::Rpc(format!("game {id}: no move to make here; the game is lost at its deadline")));
            };
            match side.send_move(id, moves, &s, local.phase(), &mv).await {
                Ok(tx) => gas.push(mv.name(), tx.gas_used),
                Err(e) if failures + 1 < SEND_ATTEMPTS => {
                    failures += 1;
                    tracing::warn!("game {id}: sending a {} move failed (will retry): {e}", mv.name());
                }
                Err(e) => return Err(e),
            }
        } else if local.turn() != Some(me) && now(side).await? > deadline {
            match side.timeout(id).await {
                Ok(tx) => gas.push("timeout", tx.gas_used),
                Err(e) if e.rejection().is_some() => {} // decided meanwhile, or not late yet
                Err(e) => return Err(e),
            }
        }
        tokio::time::sleep(poll).await;
    }
}

async fn now(side: &Settlement) -> Result<u64, SettlementError> {
    let b = side.chain().provider().get_block(alloy::eips::BlockId::latest()).await.map_err(SettlementError::rpc)?;
    Ok(b.map_or(0, |b| b.header.timestamp))
}

/// A fresh local referee for a game (the statement checked by the caller).
pub fn referee(st: verity_dispute::Statement) -> Referee {
    Referee::new(st, 0, NO_TIMEOUT)
}
