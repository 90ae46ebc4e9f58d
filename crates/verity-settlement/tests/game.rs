//! Whole disputes on anvil: every cheat of `verity dispute --cheat` won by the challenger and
//! slashed; an honest executor against a false challenge; silence at a deadline; a step that
//! opens only the node pieces it reads, and tampered pieces refused.

use verity_dispute::Cheat;
use verity_model::{Model, Tensor};
use verity_settlement::anvil::Anvil;
use verity_settlement::dispute::{run, ChallengerKind};

fn fixture(name: &str) -> (Model, Vec<Tensor>) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/");
    let model = Model::decode(&std::fs::read(format!("{root}{name}.vrt")).unwrap()).unwrap();
    let text = std::fs::read_to_string(format!("{root}{name}.input.json")).unwrap();
    let names = verity_model::input::input_names(&model);
    let lists = verity_model::input::parse_input_json(&text, &names).unwrap();
    let inputs = verity_model::input::quantize_inputs(&model, &lists).unwrap();
    (model, inputs)
}

#[tokio::test]
async fn every_cheat_loses_and_is_slashed() {
    let Some(anvil) = Anvil::for_test() else { return };
    let (model, inputs) = fixture("cnn_digits");
    for kind in Cheat::ALL.into_iter().filter(|&c| c != Cheat::None) {
        if verity_dispute::cheat(&model, &inputs, kind).unwrap().is_none() {
            continue; // as offline: this cheat changes nothing on this model (duplicate-layer)
        }
        let r = run(anvil.url(), &model, &inputs, kind, ChallengerKind::Honest).await.unwrap();
        println!("{}", serde_json::to_string(&r).unwrap());
        assert_eq!(r.winner, "challenger", "{kind:?}: {}", r.reason);
        assert!(r.slashed && r.stake_after + 10u128.pow(18) == r.stake_before, "{kind:?}");
        assert!(r.gas.max_tx < 1_000_000, "{kind:?}: {:?}", r.gas);
    }
}

use verity_commit::ModelCommitment;
use verity_dispute::{statement, Challenger, Execution, Executor, Move, Player, RandomChallenger, Referee};
use verity_receipt::{Receipt, Signer};
use verity_settlement::alloy::primitives::{B256, U256};
use verity_settlement::anvil::{dev_address, DEV_KEYS};
use verity_settlement::dispute::{play, summary};
use verity_settlement::{Chain, DeployParams, GameParams, Settlement};

const ETH: u128 = 1_000_000_000_000_000_000;
const WINDOW: u64 = 1_000;
const DELAY: u64 = 2_000;
const MOVE: u64 = 100;

/// A deployment with a registered model, a staked executor (dev 1) that posted a batch of two
/// receipts for `kind`'s claim, and a challenger (dev 2).
struct World {
    _anvil: Anvil,
    anvil_url: String,
    model: Model,
    inputs: Vec<Tensor>,
    commitment: ModelCommitment,
    claim: verity_dispute::Claim,
    truth: Execution,
    receipts: Vec<Receipt>,
    executor: Settlement,
    challenger: Settlement,
}

async fn world(kind: Cheat) -> Option<World> {
    world_with("cnn_digits", |model, inputs| verity_dispute::cheat(model, inputs, kind).unwrap().unwrap()).await
}

/// [`world`] on fixture `name`, with the claim that `claim` makes of it.
async fn world_with(name: &str, claim: impl FnOnce(&Model, &[Tensor]) -> verity_dispute::Claim) -> Option<World> {
    let anvil = Anvil::for_test()?;
    let (model, inputs) = fixture(name);
    let chain = Chain::connect(anvil.url(), None).await.unwrap();
    let p = DeployParams { min_stake: ETH, unbonding_delay: DELAY, challenge_window: WINDOW, ..Default::default() };
    let d = chain.deploy_with_game(&p, &GameParams { bond: ETH / 10, move_timeout: MOVE }).await.unwrap();
    let publisher = chain.attach(&d.deployment).await.unwrap();
    let executor = publisher.with_key(DEV_KEYS[1]).await.unwrap();
    let challenger = publisher.with_key(DEV_KEYS[2]).await.unwrap();
    let commitment = ModelCommitment::new(&model);
    publisher.register_model(B256::from(commitment.root())).await.unwrap();
    executor.stake(2 * ETH).await.unwrap();
    let claim = claim(&model, &inputs);
    let truth = Execution::new(&model, verity_model::reference::run_tampered(&model, &inputs, |_, _| {}).unwrap());
    let body = claim.receipt_body(commitment.root(), 1);
    let other = verity_receipt::ReceiptBody { timestamp: 2, ..body };
    let receipts = Signer::from_hex(DEV_KEYS[1]).unwrap().sign_batch(&[body, other]).unwrap();
    let proof = receipts[0].batch.as_ref().unwrap();
    executor.post_batch(B256::from(proof.root(&receipts[0].body.signing_hash())), 1).await.unwrap();
    let anvil_url = anvil.url().to_string();
    Some(World { _anvil: anvil, anvil_url, model, inputs, commitment, claim, truth, receipts, executor, challenger })
}

impl World {
    fn input_roots(&self) -> Vec<[u8; 32]> {
        verity_dispute::input_roots(&self.model.values, &self.inputs)
    }
    async fn challenge(&self) -> Result<U256, verity_settlement::SettlementError> {
        self.challenger.challenge(&self.receipts[0], &self.commitment, &self.input_roots()).await.map(|r| r.0)
    }
    fn referee(&self) -> Referee {
        Referee::new(statement(&self.commitment, &self.inputs, &self.receipts[0]).unwrap(), 0, MOVE)
    }
}

fn rejected<T: std::fmt::Debug>(r: Result<T, verity_settlement::SettlementError>) -> String {
    r.unwrap_err().rejection().expect("a contract refusal").to_string()
}

#[tokio::test]
async fn an_honest_executor_wins_against_a_false_challenge_and_keeps_its_stake() {
    let Some(w) = world(Cheat::None).await else { return };
    for seed in [1u64, 2] {
        // A second batch for the second game (a receipt is challenged once).
        let w = if seed == 1 { &w } else { &world(Cheat::None).await.unwrap() };
        let id = w.challenge().await.unwrap();
        let mut local = w.referee();
        let mut ex = Executor { model: &w.model, commitment: &w.commitment, run: &w.claim.run };
        let out = play(id, &w.executor, &w.challenger, &mut local, &mut ex, &mut RandomChallenger { state: seed }).await.unwrap();
        assert_eq!(out.winner, verity_dispute::Party::Executor, "{}", out.reason);
        let stake = w.executor.stake_of(dev_address(1)).await.unwrap();
        assert_eq!((stake.amount, stake.locks), (2 * ETH, 0));
        // Half the bond is burned, half is the executor's.
        assert_eq!(w.executor.game_credit(dev_address(1)).await.unwrap(), U256::from(ETH / 20));
        assert_eq!(w.challenger.game_credit(dev_address(2)).await.unwrap(), U256::ZERO);
        w.executor.claim_game().await.unwrap();
        assert_eq!(rejected(w.executor.claim_game().await), "NothingToClaim");
    }
}

/// Plays nothing: a player that never moves.
struct Silent;
impl Player for Silent {
    fn play(&mut self, _: &Referee) -> Option<Move> {
        None
    }
}

#[tokio::test]
async fn a_silent_party_loses_at_its_deadline() {
    // The executor says nothing after the challenge: the challenger wins and the stake is cut.
    let Some(w) = world(Cheat::Weight).await else { return };
    let id = w.challenge().await.unwrap();
    assert_eq!(rejected(w.challenger.timeout(id).await), "NotLate"); // not before the deadline
    let out =
        play(id, &w.executor, &w.challenger, &mut w.referee(), &mut Silent, &mut Challenger { run: &w.truth }).await.unwrap();
    assert_eq!(out.winner, verity_dispute::Party::Challenger);
    assert_eq!(w.executor.stake_of(dev_address(1)).await.unwrap().amount, ETH);
    assert_eq!(w.challenger.game_credit(dev_address(2)).await.unwrap(), U256::from(ETH / 10), "the bond comes back");
    assert_eq!(rejected(w.challenger.timeout(id).await), "GameOver");

    // The challenger goes silent against an honest executor: the executor wins.
    let w = world(Cheat::None).await.unwrap();
    let id = w.challenge().await.unwrap();
    let mut ex = Executor { model: &w.model, commitment: &w.commitment, run: &w.claim.run };
    let out = play(id, &w.executor, &w.challenger, &mut w.referee(), &mut ex, &mut Silent).await.unwrap();
    assert_eq!(out.winner, verity_dispute::Party::Executor);
    assert_eq!(out.rounds, 2, "the executor's outputs and first prefix, then silence");
    assert_eq!(w.executor.stake_of(dev_address(1)).await.unwrap().amount, 2 * ETH);
}

#[tokio::test]
async fn refused_challenges_and_moves() {
    let Some(w) = world(Cheat::Weight).await else { return };
    let s = summary(&w.commitment.head);
    // A forged inclusion: the other receipt's proof with this receipt's body.
    let mut forged = w.receipts[0].clone();
    forged.batch = w.receipts[1].batch.clone();
    assert_eq!(rejected(w.challenger.challenge(&forged, &w.commitment, &w.input_roots()).await), "NotIncluded");
    // Another model's commitment, or inputs other than the signed ones.
    let (other, _) = fixture("mlp_digits");
    assert_eq!(
        rejected(w.challenger.challenge(&w.receipts[0], &ModelCommitment::new(&other), &w.input_roots()).await),
        "HeadNotModel"
    );
    assert_eq!(rejected(w.challenger.challenge(&w.receipts[0], &w.commitment, &[[7; 32]]).await), "BadInputs");

    let id = w.challenge().await.unwrap();
    assert_eq!(rejected(w.challenge().await), "AlreadyChallenged");
    // The stake is locked: unbonding past the delay still cannot withdraw it.
    w.executor.request_unbond().await.unwrap();
    let mut local = w.referee();
    let mut ex = Executor { model: &w.model, commitment: &w.commitment, run: &w.claim.run };
    let first = ex.play(&local).unwrap();
    // Out of turn: the challenger sends the executor's move.
    assert_eq!(rejected(w.challenger.send_move(id, 0, &s, local.phase(), &first).await), "NotYourTurn");
    // A wrong sequence number (a stale or replayed move).
    assert_eq!(rejected(w.executor.send_move(id, 1, &s, local.phase(), &first).await), "StaleMove");
    // A move of the wrong kind for the position.
    assert_eq!(rejected(w.executor.send_move(id, 0, &s, local.phase(), &Move::Prefix { root: [1; 32] }).await), "WrongPhase");
    w.executor.send_move(id, 0, &s, local.phase(), &first).await.unwrap();
    local.apply(verity_dispute::Party::Executor, &first, 1).unwrap();
    // The same move again (replayed): its sequence number is spent.
    assert_eq!(rejected(w.executor.send_move(id, 0, &s, local.phase(), &first).await), "StaleMove");
    let mut ch = Challenger { run: &w.truth };
    let second = ex.play(&local).or_else(|| ch.play(&local)).unwrap();
    // The next move, sent after its deadline.
    let turn = local.turn().unwrap();
    let side = if turn == verity_dispute::Party::Executor { &w.executor } else { &w.challenger };
    w.executor.pass_deadline().await.unwrap();
    assert_eq!(rejected(side.send_move(id, 1, &s, local.phase(), &second).await), "Late");
    // Past its deadline the party on turn has lost; the stake is still locked until then.
    anvil_increase(&w.anvil_url, DELAY).await;
    assert_eq!(rejected(w.executor.withdraw().await), "StakeLocked");
    w.challenger.timeout(id).await.unwrap();
    assert_eq!(rejected(side.send_move(id, 1, &s, local.phase(), &second).await), "GameOver");
    // Decided: the lock is released and the rest of the stake can leave.
    w.executor.withdraw().await.unwrap();
    // The batch is final now: the other receipt can no longer be challenged.
    assert_eq!(rejected(w.challenger.challenge(&w.receipts[1], &w.commitment, &w.input_roots()).await), "WindowClosed");
}

async fn anvil_increase(url: &str, secs: u64) {
    use verity_settlement::alloy::providers::{Provider, ProviderBuilder};
    let p = ProviderBuilder::new().connect_http(url.parse().unwrap());
    let _: serde_json::Value = p.raw_request("evm_increaseTime".into(), (secs,)).await.unwrap();
    let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
}

verity_settlement::alloy::sol!(
    #[sol(rpc)]
    ReentrantChallenger,
    "../../contracts/out/ReentrantChallenger.json"
);

#[tokio::test]
async fn a_payout_cannot_be_reentered() {
    use verity_settlement::alloy::sol_types::SolCall;
    let Some(w) = world(Cheat::Weight).await else { return };
    let attacker =
        ReentrantChallenger::deploy(w.challenger.chain().provider().clone(), w.executor.deployment().game.unwrap().game)
            .await
            .unwrap();
    let call = verity_settlement::dispute::challenge_call(&w.receipts[0], &w.commitment, &w.input_roots()).unwrap();
    let tx = attacker.forward(call.abi_encode().into()).value(U256::from(ETH / 10)).send().await.unwrap();
    assert!(tx.get_receipt().await.unwrap().status());
    // A move relayed through a contract is refused: the other party reads moves from
    // transaction inputs, which a relayed move would hide.
    let s = summary(&w.commitment.head);
    let relayed = verity_settlement::DisputeGame::postOutputsCall { id: U256::from(1), seq: 0, s, roots: vec![], paths: vec![] };
    let err = attacker.forward(relayed.abi_encode().into()).send().await.unwrap_err();
    assert_eq!(rejected::<()>(Err(verity_settlement::SettlementError::from_contract(err))), "NotDirect");
    // The executor stays silent: the attacking challenger wins and is owed its bond back.
    w.challenger.pass_deadline().await.unwrap();
    w.challenger.timeout(U256::from(1)).await.unwrap();
    assert_eq!(w.challenger.game_credit(*attacker.address()).await.unwrap(), U256::from(ETH / 10));
    let tx = attacker.claim().send().await.unwrap();
    assert!(tx.get_receipt().await.unwrap().status());
    // The inner claim was refused by the guard; the outer one paid exactly once.
    assert_eq!(attacker.reentered().call().await.unwrap(), U256::ZERO);
    assert_eq!(attacker.refused().call().await.unwrap(), U256::from(1));
    assert_eq!(w.challenger.chain().balance(*attacker.address()).await.unwrap(), U256::from(ETH / 10));
    assert_eq!(w.challenger.game_credit(*attacker.address()).await.unwrap(), U256::ZERO);
}

/// Each side on its own, as a node and a verifier play it: the executor and the challenger
/// run concurrently, each from its own referee, seeing the other's moves only through the
/// chain. A cheat loses and is slashed; an honest executor beats a random challenger; a
/// challenger whose opponent never answers claims the game at the deadline.
#[tokio::test]
async fn two_independent_sides_play_a_game_through_the_chain() {
    use std::time::Duration;
    use verity_dispute::Party;
    use verity_settlement::party::{play_side, referee};
    let poll = Duration::from_millis(20);
    let st = |w: &World| statement(&w.commitment, &w.inputs, &w.receipts[0]).unwrap();

    for (kind, seed) in [(Cheat::Weight, None), (Cheat::None, Some(7u64))] {
        let w = world(kind).await.unwrap();
        let (id, tx) = w.challenger.challenge(&w.receipts[0], &w.commitment, &w.input_roots()).await.unwrap();
        let (opened, _) = w.executor.challenges_of(dev_address(1), 0).await.unwrap();
        assert_eq!(opened.len(), 1);
        assert_eq!((opened[0].id, opened[0].receipt, opened[0].block), (id, w.receipts[0].body.signing_hash(), tx.block));
        let (mut ex_ref, mut ch_ref) = (referee(st(&w)), referee(st(&w)));
        let mut ex = Executor { model: &w.model, commitment: &w.commitment, run: &w.claim.run };
        let mut honest = Challenger { run: &w.truth };
        let mut random = RandomChallenger { state: seed.unwrap_or(0) };
        let ch: &mut dyn Player = if seed.is_some() { &mut random } else { &mut honest };
        let (a, b) = tokio::join!(
            play_side(&w.executor, id, tx.block, Party::Executor, &mut ex_ref, &mut ex, poll),
            play_side(&w.challenger, id, tx.block, Party::Challenger, &mut ch_ref, ch, poll),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let want = if kind == Cheat::None { Party::Executor } else { Party::Challenger };
        assert_eq!((a.winner, b.winner), (want, want), "{kind:?}");
        assert_eq!(a.moves, b.moves);
        assert!(a.gas.txs.len() + b.gas.txs.len() >= a.moves as usize, "every move was one side's transaction");
        let stake = w.executor.stake_of(dev_address(1)).await.unwrap().amount;
        assert_eq!(stake, if kind == Cheat::None { 2 * ETH } else { ETH }, "{kind:?}");
    }

    // The executor never answers: the challenger side waits out the deadline and claims it.
    let w = world(Cheat::Weight).await.unwrap();
    let (id, tx) = w.challenger.challenge(&w.receipts[0], &w.commitment, &w.input_roots()).await.unwrap();
    let mut ch_ref = referee(st(&w));
    let mut honest = Challenger { run: &w.truth };
    let url = w.anvil_url.clone();
    let clock = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        anvil_increase(&url, MOVE + 1).await;
    });
    let out = play_side(&w.challenger, id, tx.block, Party::Challenger, &mut ch_ref, &mut honest, poll).await.unwrap();
    clock.await.unwrap();
    assert_eq!(out.winner, Party::Challenger);
    assert_eq!(out.gas.txs.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(), ["timeout"]);
    assert_eq!(w.executor.stake_of(dev_address(1)).await.unwrap().amount, ETH);
}

/// A dispute ending on LeNet-5's `fc1` (a 400×120 Linear, 49 116 bytes encoded in 192
/// pieces): the step opens only the pieces the referee reads, which keeps it under 1 M gas,
/// and every tampered piece list is refused before or by the referee, never evaluated.
#[tokio::test]
async fn a_step_opens_only_the_node_pieces_it_reads() {
    use verity_dispute::Party;
    use verity_settlement::DisputeGame::StepProof;
    const FC1: usize = 7;
    let flip = |m: &Model, i: &[Tensor]| verity_dispute::cheat::bitflip_at(m, i, FC1).unwrap().unwrap();
    let Some(w) = world_with("lenet5", flip).await else { return };
    assert_eq!(w.model.nodes[FC1].name, "fc1");
    let s = summary(&w.commitment.head);
    let id = w.challenge().await.unwrap();
    let mut local = w.referee();
    let mut ex = Executor { model: &w.model, commitment: &w.commitment, run: &w.claim.run };
    let mut ch = Challenger { run: &w.truth };
    let mut seq = 0u16;
    let step = loop {
        let turn = local.turn().unwrap();
        let mv = if turn == Party::Executor { ex.play(&local) } else { ch.play(&local) }.unwrap();
        if let Move::Step(p) = mv {
            break p;
        }
        let side = if turn == Party::Executor { &w.executor } else { &w.challenger };
        side.send_move(id, seq, &s, &local.phase().clone(), &mv).await.unwrap();
        seq += 1;
        local.apply(turn, &mv, seq as u64).unwrap();
    };
    assert_eq!(step.node, w.model.nodes[FC1].encode(), "the game ends on fc1");
    let pieces = step.node.len().div_ceil(256);
    assert_eq!(pieces, 192);
    let depth = pieces.next_power_of_two().trailing_zeros();

    type Tamper = Box<dyn FnOnce(&mut StepProof)>;
    let cases: Vec<(&str, Tamper, &str)> = vec![
        ("no piece", Box::new(|p| p.pieces.clear()), "BadProof"),
        ("a byte of a piece changed", Box::new(|p| flip_byte(&mut p.pieces[1].data)), "BadProof"),
        ("a sibling of a piece's path changed", Box::new(|p| p.pieces[0].path[2] = B256::repeat_byte(7)), "BadProof"),
        ("a piece's path cut short", Box::new(|p| p.pieces[0].path.truncate(1)), "BadProof"),
        ("another encoding length", Box::new(|p| p.nodeLen += 1), "BadProof"),
        ("a piece the referee reads left out", Box::new(|p| p.pieces.truncate(p.pieces.len() - 1)), "NodeByteNotOpened"),
        ("a piece given twice", Box::new(|p| p.pieces.push(p.pieces[0].clone())), "BadPieces"),
        (
            "an index past the tree that aliases a leaf",
            Box::new(move |p| p.pieces.last_mut().unwrap().index += 1 << depth),
            "BadPieces",
        ),
    ];
    for (what, tamper, want) in cases {
        assert_eq!(rejected(w.executor.send_step(id, seq, &s, &step, tamper).await), want, "{what}");
    }
    let mut opened = Vec::new();
    let tx = w.executor.send_step(id, seq, &s, &step, |p| opened = p.pieces.iter().map(|x| x.index).collect()).await.unwrap();
    println!("fc1 step: pieces {opened:?} of {pieces}, {} gas", tx.gas_used);
    assert!(opened.len() <= 12, "{opened:?}");
    assert!(tx.gas_used < 1_000_000, "{}", tx.gas_used);
    // The executor flipped a bit of fc1's output: the referee recomputes the honest value.
    assert_eq!(w.executor.game_state(id).await.unwrap().1, 2, "the challenger wins");
}

fn flip_byte(b: &mut verity_settlement::alloy::primitives::Bytes) {
    let mut v = b.to_vec();
    v[0] ^= 1;
    *b = v.into();
}
