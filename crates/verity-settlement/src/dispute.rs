//! The bisection dispute of `verity-dispute`, played on chain against `DisputeGame`: a
//! challenge of a receipt posted in a batch, then every move as a transaction, each checked
//! by the contract *and* by a local `verity_dispute::Referee` on the same position (the two
//! must agree on every acceptance, every refusal and the verdict, or the driver stops with an
//! error), down to the one-step check and the payout.

use std::collections::BTreeMap;

use alloy::primitives::{Bytes, B256, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolInterface;
use serde::Serialize;
use verity_commit::{ModelCommitment, CHUNK};
use verity_dispute::{Move, Party, Phase, Player, Referee};
use verity_model::id::NODE_PIECE_LEN;
use verity_model::ModelHead;
use verity_receipt::Receipt;

use crate::bindings::game::{DisputeGame, NodeBytes, OneStep, VerityModel};
use crate::bindings::referee::OneStepReferee;
use crate::chain::{confirm, Settlement, Tx, ANVIL_CHAIN_ID};
use crate::error::SettlementError;

/// The head as the contract summarizes it (`VerityModel.Summary`).
pub fn summary(head: &ModelHead) -> VerityModel::Summary {
    VerityModel::Summary {
        bits: head.values.iter().map(|v| v.bits).collect(),
        shapes: head.values.iter().map(|v| v.shape.iter().map(|&d| d as u32).collect()).collect(),
        inputs: head.inputs.clone(),
        outputs: head.outputs.clone(),
        nNodes: head.n_nodes as u32,
    }
}

/// Chunk values packed at their width, exactly as `verity_commit::hash::chunk` hashes them.
pub fn pack(bits: u8, values: &[i32]) -> Bytes {
    if bits <= 8 {
        values.iter().map(|&v| v as i8 as u8).collect::<Vec<u8>>().into()
    } else {
        values.iter().flat_map(|&v| (v as i16).to_le_bytes()).collect::<Vec<u8>>().into()
    }
}

fn b(h: &[u8; 32]) -> B256 {
    B256::from(*h)
}

fn bs(hs: &[[u8; 32]]) -> Vec<B256> {
    hs.iter().map(b).collect()
}

/// Gas of every transaction of a dispute, by kind of move.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GasLog {
    pub txs: Vec<(String, u64)>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct StepGas {
    pub txs: u64,
    pub total: u64,
    pub max: u64,
}

impl GasLog {
    pub fn push(&mut self, kind: &str, gas: u64) {
        self.txs.push((kind.to_string(), gas));
    }
    pub fn total(&self) -> u64 {
        self.txs.iter().map(|t| t.1).sum()
    }
    pub fn max_tx(&self) -> u64 {
        self.txs.iter().map(|t| t.1).max().unwrap_or(0)
    }
    pub fn per_step(&self) -> BTreeMap<String, StepGas> {
        let mut m: BTreeMap<String, StepGas> = BTreeMap::new();
        for (k, g) in &self.txs {
            let e = m.entry(k.clone()).or_default();
            e.txs += 1;
            e.total += g;
            e.max = e.max.max(*g);
        }
        m
    }
}

/// How a game on chain ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub id: U256,
    pub winner: Party,
    /// Accepted moves (the challenge not counted).
    pub rounds: usize,
    /// Moves the contract refused (and the local referee too).
    pub rejected: Vec<String>,
    pub reason: String,
    pub gas: GasLog,
}

impl Settlement {
    pub(crate) fn game(&self) -> Result<&DisputeGame::DisputeGameInstance<alloy::providers::DynProvider>, SettlementError> {
        self.game.as_ref().ok_or_else(|| SettlementError::DeploymentFile("this deployment has no dispute game".into()))
    }

    /// Challenges `receipt` (batch-signed, with the batch posted by its executor) with the
    /// deployment's bond, opening the model with `commitment` and the inputs with their roots.
    pub async fn challenge(
        &self,
        receipt: &Receipt,
        commitment: &ModelCommitment,
        input_roots: &[[u8; 32]],
    ) -> Result<(U256, Tx), SettlementError> {
        let game = self.game()?;
        let c = challenge_call(receipt, commitment, input_roots)?;
        let bond = self.deployment().game.expect("a game deployment").bond;
        let call = game.challenge(c.r, c.inc, c.head, c.nodesRoot, c.inputRoots).value(U256::from(bond));
        let tx = self.chain().send(call).await?;
        let id = self.game_of(&receipt.body.signing_hash()).await?;
        Ok((id, tx))
    }

    /// Sends `mv` as move number `seq` of game `id`, from the position `phase` of the local
    /// referee (the challenger's element pick repeats the chunk the executor showed).
    pub async fn send_move(
        &self,
        id: U256,
        seq: u16,
        s: &VerityModel::Summary,
        phase: &Phase,
        mv: &Move,
    ) -> Result<Tx, SettlementError> {
        let g = self.game()?;
        let one = self.chain().sending().await;
        let sent = match mv {
            Move::Outputs { roots, paths } => {
                g.postOutputs(id, seq, s.clone(), bs(roots), paths.iter().map(|p| bs(p)).collect()).send().await
            }
            Move::Prefix { root } => g.postPrefix(id, seq, b(root)).send().await,
            Move::Respond { agree } => g.respond(id, seq, *agree).send().await,
            Move::Leaf { chunk_root, path, .. } => g.openLeaf(id, seq, s.clone(), b(chunk_root), bs(path)).send().await,
            Move::Children { left, right } => g.postChildren(id, seq, b(left), b(right)).send().await,
            Move::Choose { right } => g.choose(id, seq, *right).send().await,
            Move::Chunk { values } => {
                let Phase::Chunk { k, .. } = phase else { return Err(SettlementError::Rpc("a chunk out of place".into())) };
                g.postChunk(id, seq, pack(s.bits[*k], values)).send().await
            }
            Move::Element { offset } => {
                let Phase::Chunk { k, values: Some(v), .. } = phase else {
                    return Err(SettlementError::Rpc("an element pick before the chunk".into()));
                };
                g.pickElement(id, seq, *offset, pack(s.bits[*k], v)).send().await
            }
            Move::Step(p) => {
                drop(one);
                return self.send_step(id, seq, s, p, |_| {}).await;
            }
        };
        drop(one);
        confirm(sent).await
    }

    /// Executor: the one-step proof, with the pieces of the node encoding that the referee
    /// reads (`send_move` sends a step this way). `tamper` edits the proof before it is sent,
    /// for tests of what the contract refuses.
    pub async fn send_step(
        &self,
        id: U256,
        seq: u16,
        s: &VerityModel::Summary,
        p: &verity_dispute::messages::StepProof,
        tamper: impl FnOnce(&mut DisputeGame::StepProof),
    ) -> Result<Tx, SettlementError> {
        let g = self.game()?;
        let mut proof = DisputeGame::StepProof {
            nodeLen: p.node.len() as u32,
            pieces: Vec::new(),
            nodePath: bs(&p.node_path),
            tensors: p
                .tensors
                .iter()
                .map(|t| DisputeGame::TensorOpening { value: t.value, chunkRoot: b(&t.chunk_root), path: bs(&t.path) })
                .collect(),
            chunks: p
                .chunks
                .iter()
                .map(|c| OneStep::ChunkOpening {
                    value: c.value,
                    index: c.index,
                    packed: pack(s.bits[c.value as usize], &c.values),
                    path: bs(&c.path),
                })
                .collect(),
        };
        proof.pieces = self.pieces_read(id, seq, s, &p.node, &proof).await;
        tamper(&mut proof);
        let one = self.chain().sending().await;
        let sent = g.step(id, seq, s.clone(), proof).send().await;
        drop(one);
        confirm(sent).await
    }

    /// The pieces of a node encoding that the step reads, found by asking the chain: a step
    /// missing a piece reverts with `NodeByteNotOpened(offset)`, so pieces are added (from
    /// piece 0, the wiring) until the call stops naming one. At most every piece, one call each.
    async fn pieces_read(
        &self,
        id: U256,
        seq: u16,
        s: &VerityModel::Summary,
        node: &[u8],
        proof: &DisputeGame::StepProof,
    ) -> Vec<NodeBytes::Piece> {
        let tree = verity_model::id::node_pieces(node);
        let piece =
            |i: usize| NodeBytes::Piece { index: i as u32, data: piece_of(node, i).to_vec().into(), path: bs(&tree.path(i)) };
        let count = node.len().div_ceil(NODE_PIECE_LEN);
        let Ok(g) = self.game() else { return vec![piece(0)] };
        let mut opened = std::collections::BTreeSet::from([0usize]);
        loop {
            let pieces: Vec<NodeBytes::Piece> = opened.iter().map(|&i| piece(i)).collect();
            let trial = DisputeGame::StepProof { pieces: pieces.clone(), ..proof.clone() };
            let missing = match g.step(id, seq, s.clone(), trial).from(self.chain().sender()).call().await {
                Err(e) => e.as_revert_data().and_then(|d| match OneStepReferee::OneStepRefereeErrors::abi_decode(&d) {
                    Ok(OneStepReferee::OneStepRefereeErrors::NodeByteNotOpened(x)) => {
                        Some(x.offset.saturating_to::<usize>() / NODE_PIECE_LEN)
                    }
                    _ => None,
                }),
                Ok(_) => None,
            };
            match missing {
                Some(k) if k < count && opened.insert(k) => continue,
                _ => return pieces,
            }
        }
    }

    /// The game opened over the receipt with this signing hash (0: none).
    pub async fn game_of(&self, receipt: &[u8; 32]) -> Result<U256, SettlementError> {
        self.game()?.gameOf(b(receipt)).call().await.map_err(SettlementError::from_contract)
    }

    /// Anyone: decides game `id` against the party that let its deadline pass.
    pub async fn timeout(&self, id: U256) -> Result<Tx, SettlementError> {
        self.chain().send(self.game()?.timeout(id)).await
    }

    /// `(phase, winner, moves, deadline)` of game `id` (phase and winner as the contract's enums).
    pub async fn game_state(&self, id: U256) -> Result<(u8, u8, u16, u64), SettlementError> {
        let s = self.game()?.state(id).call().await.map_err(SettlementError::from_contract)?;
        Ok((s.phase, s.winner, s.moves, s.deadline))
    }

    /// The dispute game's pending payouts (returned bonds, bond shares) to `who`.
    pub async fn game_credit(&self, who: alloy::primitives::Address) -> Result<U256, SettlementError> {
        self.game()?.credit(who).call().await.map_err(SettlementError::from_contract)
    }

    /// Takes the sender's dispute-game credit.
    pub async fn claim_game(&self) -> Result<Tx, SettlementError> {
        self.chain().send(self.game()?.claim()).await
    }

    /// Moves anvil's clock past the move deadline (tests and `verity dispute --chain` on anvil).
    pub async fn pass_deadline(&self) -> Result<(), SettlementError> {
        if self.chain().chain_id() != ANVIL_CHAIN_ID {
            return Err(SettlementError::Rpc(
                "the party on turn cannot move; on a chain other than anvil, wait for its deadline and call timeout".into(),
            ));
        }
        let secs = self.deployment().game.expect("a game deployment").move_timeout + 1;
        let p = self.chain().provider();
        let _: serde_json::Value = p.raw_request("evm_increaseTime".into(), (secs,)).await.map_err(SettlementError::rpc)?;
        let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.map_err(SettlementError::rpc)?;
        Ok(())
    }
}

/// The arguments of `DisputeGame.challenge` for `receipt` (batch-signed), opening the model
/// with `commitment` and the inputs with their roots.
pub fn challenge_call(
    receipt: &Receipt,
    commitment: &ModelCommitment,
    input_roots: &[[u8; 32]],
) -> Result<DisputeGame::challengeCall, SettlementError> {
    let proof = receipt.batch.as_ref().ok_or_else(|| {
        SettlementError::Rpc("only a batch-signed receipt (its batch posted on chain) can be challenged".into())
    })?;
    let body = &receipt.body;
    Ok(DisputeGame::challengeCall {
        r: DisputeGame::Receipt {
            modelId: b(&body.model_id),
            inputHash: b(&body.input_hash),
            outputHash: b(&body.output_hash),
            traceRoot: b(&body.trace_root),
            evidence: body.evidence as u8,
            executor: body.executor.into(),
            timestamp: body.timestamp,
        },
        inc: DisputeGame::Inclusion {
            salt: b(&proof.salt),
            root: b(&proof.root(&body.signing_hash())),
            index: U256::from(proof.index),
            path: bs(&proof.path),
        },
        head: commitment.head_bytes().to_vec().into(),
        nodesRoot: b(&commitment.nodes_root()),
        inputRoots: bs(input_roots),
    })
}

/// Plays game `id` to its end: each player moves on the local referee's position, the move
/// goes to the chain from that player's account and to the local referee. A player with no
/// move, or whose move both refuse, lets its deadline pass (anvil time travel) and the game
/// is decided by `timeout`.
pub async fn play(
    id: U256,
    executor: &Settlement,
    challenger: &Settlement,
    local: &mut Referee,
    ex: &mut dyn Player,
    ch: &mut dyn Player,
) -> Result<Outcome, SettlementError> {
    let s = summary(local.statement().head());
    let mut gas = GasLog::default();
    let mut rejected = Vec::new();
    let (mut seq, mut now) = (0u16, 0u64);
    let diverged = |what: String| Err(SettlementError::Rpc(format!("the contract and the Rust referee disagree: {what}")));
    while let Some(turn) = local.turn() {
        now += 1;
        let (player, side): (&mut dyn Player, &Settlement) =
            if turn == Party::Executor { (&mut *ex, executor) } else { (&mut *ch, challenger) };
        let Some(mv) = player.play(local) else {
            silent(id, challenger, local, now, &mut gas).await?;
            break;
        };
        let phase = local.phase().clone();
        let on_chain = side.send_move(id, seq, &s, &phase, &mv).await;
        let here = local.apply(turn, &mv, now);
        match (here, on_chain) {
            (Ok(()), Ok(tx)) => {
                seq += 1;
                gas.push(mv.name(), tx.gas_used);
            }
            (Err(e), Err(c)) if c.rejection().is_some() => {
                rejected.push(format!("{} {}: {e} / {c}", turn.name(), mv.name()));
                silent(id, challenger, local, now, &mut gas).await?;
                break;
            }
            (Ok(()), Err(c)) => return diverged(format!("the contract refused a valid {} move: {c}", mv.name())),
            (Err(e), Ok(_)) => return diverged(format!("the contract accepted a {} move the referee refuses: {e}", mv.name())),
            (Err(_), Err(c)) => return Err(c),
        }
    }
    let verdict = local.verdict().expect("the loop ends with a verdict").clone();
    let (phase, winner, moves, _) = executor.game_state(id).await?;
    let chain_winner = match winner {
        1 => Party::Executor,
        2 => Party::Challenger,
        _ => return diverged(format!("the game is not decided on chain (phase {phase})")),
    };
    if chain_winner != verdict.winner {
        return diverged(format!("the chain says {} wins, the referee {}", chain_winner.name(), verdict.winner.name()));
    }
    Ok(Outcome { id, winner: chain_winner, rounds: moves as usize, rejected, reason: verdict.reason, gas })
}

async fn silent(id: U256, anyone: &Settlement, local: &mut Referee, now: u64, gas: &mut GasLog) -> Result<(), SettlementError> {
    anyone.pass_deadline().await?;
    let tx = anyone.timeout(id).await?;
    gas.push("timeout", tx.gas_used);
    local.tick(now + u64::MAX / 2);
    Ok(())
}

/// The chunk index and packed values of value `v`'s chunk holding element `j` (for tests).
pub fn chunk_of(values: &[i32], j: usize) -> (usize, &[i32]) {
    let c = j / CHUNK;
    (c, &values[c * CHUNK..((c + 1) * CHUNK).min(values.len())])
}

/// One whole dispute on a chain whose id is anvil's, from deployment to payout, with anvil's
/// dev accounts: 0 deploys and publishes the model, 1 is the executor (its key signs the
/// receipts and holds the stake), 2 challenges.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub cheat: String,
    pub detail: String,
    pub model_id: String,
    pub winner: String,
    pub reason: String,
    pub rounds: usize,
    /// Whether the executor's stake was cut.
    pub slashed: bool,
    #[serde(with = "crate::chain::decimal")]
    pub stake_before: u128,
    #[serde(with = "crate::chain::decimal")]
    pub stake_after: u128,
    pub rejected: Vec<String>,
    /// Gas of the dispute's transactions: the challenge, every move, a timeout.
    pub gas: GasReport,
    /// Gas of the setup: each deployment, the registration, the stake, the batch post.
    pub setup_gas: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GasReport {
    pub total: u64,
    pub max_tx: u64,
    pub per_step: BTreeMap<String, StepGas>,
}

impl From<&GasLog> for GasReport {
    fn from(g: &GasLog) -> Self {
        GasReport { total: g.total(), max_tx: g.max_tx(), per_step: g.per_step() }
    }
}

/// Who the challenger is in [`run`]: the honest re-executor, or one that disputes at random
/// (a false challenge against an honest executor, `cheat = none`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengerKind {
    Honest,
    Random(u64),
}

/// Deploys, registers `model`, stakes the executor, signs and posts a batch of two receipts
/// (the disputed claim and an honest one), challenges the claim and plays the game on chain.
pub async fn run(
    rpc: &str,
    model: &verity_model::Model,
    inputs: &[verity_model::Tensor],
    kind: verity_dispute::Cheat,
    challenger_kind: ChallengerKind,
) -> Result<Report, anyhow::Error> {
    use anyhow::Context;
    let claim = verity_dispute::cheat(model, inputs, kind)?
        .with_context(|| format!("cheat '{}' changes nothing on this model and input", kind.name()))?;
    run_claim(rpc, model, inputs, kind.name(), &claim, challenger_kind).await
}

/// [`run`] for any claim (`cheat` names it in the report).
pub async fn run_claim(
    rpc: &str,
    model: &verity_model::Model,
    inputs: &[verity_model::Tensor],
    cheat: &str,
    claim: &verity_dispute::Claim,
    challenger_kind: ChallengerKind,
) -> Result<Report, anyhow::Error> {
    use anyhow::Context;
    use verity_dispute::{statement, Challenger, Execution, Executor, RandomChallenger};

    let chain = crate::Chain::connect(rpc, None).await?;
    anyhow::ensure!(chain.chain_id() == ANVIL_CHAIN_ID, "--chain plays with anvil's dev accounts: chain id 31337 needed");
    let params = crate::DeployParams {
        min_stake: 10u128.pow(18),
        unbonding_delay: 7 * 86_400,
        challenge_window: 86_400,
        ..Default::default()
    };
    let deployed = chain.deploy_with_game(&params, &crate::GameParams::default()).await?;
    let mut setup: BTreeMap<String, u64> = deployed.gas.iter().map(|(n, g)| (format!("deploy {n}"), *g)).collect();
    let publisher = chain.attach(&deployed.deployment).await?;
    let executor = publisher.with_key(crate::anvil::DEV_KEYS[1]).await?;
    let challenger = publisher.with_key(crate::anvil::DEV_KEYS[2]).await?;

    let commitment = ModelCommitment::new(model);
    let id = commitment.root();
    setup.insert("register model".into(), publisher.register_model(b(&id)).await?.gas_used);
    setup.insert("stake".into(), executor.stake(params.min_stake * 2).await?.gas_used);

    let truth = Execution::new(model, verity_model::reference::run_tampered(model, inputs, |_, _| {})?);
    let signer = verity_receipt::Signer::from_hex(crate::anvil::DEV_KEYS[1]).context("the executor's dev key")?;
    let now = chain.provider().get_block(alloy::eips::BlockId::latest()).await?.map(|b| b.header.timestamp).unwrap_or(0);
    let disputed = claim.receipt_body(id, now);
    let other = verity_receipt::ReceiptBody { timestamp: now + 1, ..disputed };
    let receipts = signer.sign_batch(&[disputed, other])?;
    let receipt = &receipts[0];
    let proof = receipt.batch.as_ref().expect("a batch of two");
    let root = proof.root(&receipt.body.signing_hash());
    setup.insert("post batch".into(), executor.post_batch(b(&root), proof.path.len() as u8).await?.gas_used);

    let input_roots = verity_dispute::input_roots(&model.values, inputs);
    let st = statement(&commitment, inputs, receipt)?;
    let stake_before = executor.stake_of(signer_address(&signer)).await?.amount;
    let (game_id, tx) = challenger.challenge(receipt, &commitment, &input_roots).await?;
    let timeout = deployed.deployment.game.expect("deployed with a game").move_timeout;
    let mut local = Referee::new(st, 0, timeout);
    let mut ex = Executor { model, commitment: &commitment, run: &claim.run };
    let mut honest = Challenger { run: &truth };
    let mut random = RandomChallenger {
        state: match challenger_kind {
            ChallengerKind::Random(s) => s,
            _ => 0,
        },
    };
    let ch: &mut dyn Player = match challenger_kind {
        ChallengerKind::Honest => &mut honest,
        ChallengerKind::Random(_) => &mut random,
    };
    let mut out = play(game_id, &executor, &challenger, &mut local, &mut ex, ch).await?;
    out.gas.txs.insert(0, ("challenge".into(), tx.gas_used));
    let stake_after = executor.stake_of(signer_address(&signer)).await?.amount;
    Ok(Report {
        cheat: cheat.into(),
        detail: claim.detail.clone(),
        model_id: verity_commit::hash::hex(&id),
        winner: out.winner.name().into(),
        reason: out.reason.clone(),
        rounds: out.rounds,
        slashed: stake_after < stake_before,
        stake_before,
        stake_after,
        rejected: out.rejected.clone(),
        gas: GasReport::from(&out.gas),
        setup_gas: setup,
    })
}

/// Piece `i` of a node encoding (empty past its end).
fn piece_of(node: &[u8], i: usize) -> &[u8] {
    node.get(i * NODE_PIECE_LEN..node.len().min((i + 1) * NODE_PIECE_LEN)).unwrap_or_default()
}

fn signer_address(s: &verity_receipt::Signer) -> alloy::primitives::Address {
    s.address().into()
}

impl Settlement {
    /// The Solidity one-step referee's value of element `j` of `node` (an encoding) from the
    /// operand chunks `(value, chunk index, values)`: an `eth_call`, for the differential test
    /// against `verity_model::element::eval`. A refusal (e.g. an operand not opened) is an error.
    pub async fn referee_eval(
        &self,
        head: &ModelHead,
        node: &[u8],
        j: usize,
        chunks: &[(u32, u32, Vec<i32>)],
    ) -> Result<i64, SettlementError> {
        let all: Vec<usize> = (0..node.len().div_ceil(NODE_PIECE_LEN)).collect();
        self.referee_eval_pieces(head, node, &all, j, chunks).await
    }

    /// [`Self::referee_eval`] with only the node's pieces `pieces` opened (in this order).
    pub async fn referee_eval_pieces(
        &self,
        head: &ModelHead,
        node: &[u8],
        pieces: &[usize],
        j: usize,
        chunks: &[(u32, u32, Vec<i32>)],
    ) -> Result<i64, SettlementError> {
        use crate::bindings::referee::{NodeBytes as R0, OneStep as R1, VerityModel as R2};
        let r = self.referee.as_ref().ok_or_else(|| SettlementError::DeploymentFile("this deployment has no referee".into()))?;
        let s = summary(head);
        let s = R2::Summary { bits: s.bits, shapes: s.shapes, inputs: s.inputs, outputs: s.outputs, nNodes: s.nNodes };
        let chunks = chunks
            .iter()
            .map(|(v, i, vals)| R1::ChunkOpening {
                value: *v,
                index: *i,
                packed: pack(head.values[*v as usize].bits, vals),
                path: vec![],
            })
            .collect();
        let pieces = pieces
            .iter()
            .map(|&i| R0::Piece { index: i as u32, data: piece_of(node, i).to_vec().into(), path: vec![] })
            .collect();
        let out = r
            .evaluate(s, U256::from(node.len()), pieces, U256::from(j), chunks)
            .call()
            .await
            .map_err(SettlementError::from_contract)?;
        i64::try_from(out.y).map_err(|_| SettlementError::Rpc(format!("the referee returned {} (out of range)", out.y)))
    }

    /// Whether the Solidity referee covers op `tag` (the op byte of the model encoding).
    pub async fn referee_covers(&self, tag: u8) -> Result<bool, SettlementError> {
        let r = self.referee.as_ref().ok_or_else(|| SettlementError::DeploymentFile("this deployment has no referee".into()))?;
        r.covered(U256::from(tag)).call().await.map_err(SettlementError::from_contract)
    }
}
