//! The settlement contracts on a real anvil chain: every test starts its own anvil, deploys,
//! and plays the part of each account (publisher, executors, a challenger, the manager
//! role, an attacker contract). Skipped, with a message, only when anvil is not installed
//! outside CI.

use verity_receipt::batch::batch_digest;
use verity_receipt::{batch_leaf, EvidenceKind, Receipt, ReceiptBody, Signer};
use verity_settlement::alloy::primitives::{keccak256, Address, B256, U256};
use verity_settlement::alloy::providers::Provider;
use verity_settlement::alloy::sol_types::SolError;
use verity_settlement::anvil::{dev_address, Anvil, DEV_KEYS};
use verity_settlement::{
    BatchSettlement, BatchStatus, Chain, DeployParams, Settlement, SettlementError, ANVIL_CHAIN_ID, KIND_BLAKE3, KIND_KECCAK,
};

const ETH: u128 = 1_000_000_000_000_000_000;
const WINDOW: u64 = 600;
const DELAY: u64 = 1_000;
const MANAGER: usize = 9;
const NODE_A: usize = 1;
const NODE_B: usize = 2;
const OUTSIDER: usize = 3;
const CHALLENGER: usize = 4;

fn params() -> DeployParams {
    DeployParams { min_stake: ETH, unbonding_delay: DELAY, challenge_window: WINDOW, challenger_manager: dev_address(MANAGER) }
}

/// A fresh chain with the contracts deployed by dev account 0.
async fn setup() -> Option<(Anvil, Settlement)> {
    let anvil = Anvil::for_test()?;
    let chain = Chain::connect(anvil.url(), None).await.unwrap();
    assert_eq!(chain.chain_id(), ANVIL_CHAIN_ID);
    assert_eq!(chain.sender(), dev_address(0), "anvil's first dev account signs by default");
    let deployed = chain.deploy(&params()).await.unwrap();
    let s = chain.attach(&deployed.deployment).await.unwrap();
    Some((anvil, s))
}

async fn as_dev(s: &Settlement, i: usize) -> Settlement {
    s.with_key(DEV_KEYS[i]).await.unwrap()
}

/// The contract error's name, or a panic showing what happened instead.
fn rejected<T: std::fmt::Debug>(r: Result<T, SettlementError>) -> String {
    match r {
        Err(e) => e.rejection().unwrap_or_else(|| panic!("expected a contract rejection, got: {e}")).to_string(),
        Ok(v) => panic!("expected a contract rejection, got success: {v:?}"),
    }
}

fn body(i: u64) -> ReceiptBody {
    ReceiptBody {
        model_id: [7; 32],
        input_hash: *keccak256(i.to_be_bytes()),
        output_hash: *keccak256((i + 1000).to_be_bytes()),
        trace_root: [9; 32],
        evidence: EvidenceKind::Dispute,
        executor: [0; 20],
        timestamp: 1_700_000_000 + i,
    }
}

/// The batch leaf of a receipt, checked against what its signature signs: if the receipt
/// layer changes its leaf formula, this says so instead of testing a made-up tree.
fn leaf_of(r: &Receipt) -> B256 {
    let proof = r.batch.as_ref().expect("a batched receipt");
    assert_eq!(batch_digest(proof.path.len(), &proof.root(&r.signing_hash())), r.signed_digest(), "batch formula changed");
    B256::from(batch_leaf(&proof.salt, &r.signing_hash()))
}

fn path_of(r: &Receipt) -> Vec<B256> {
    r.batch.as_ref().unwrap().path.iter().map(|h| B256::from(*h)).collect()
}

#[tokio::test]
async fn models_are_registered_once_with_their_commitment() {
    let Some((_anvil, s)) = setup().await else { return };
    let publisher = as_dev(&s, 5).await;
    let id = keccak256(b"a model id");
    assert_eq!(s.model(id).await.unwrap(), None);
    publisher.register_model(id).await.unwrap();
    let entry = s.model(id).await.unwrap().expect("registered");
    assert_eq!((entry.publisher, entry.kind, entry.commitment), (dev_address(5), KIND_KECCAK, id));
    assert!(entry.registered_at > 0);

    // Nobody, the publisher included, can register the id again or change its commitment.
    assert_eq!(rejected(publisher.register_model(id).await), "ModelAlreadyRegistered");
    assert_eq!(rejected(s.register_model(id).await), "ModelAlreadyRegistered");
    let other = keccak256(b"another model");
    assert_eq!(rejected(s.register_model_with(other, KIND_KECCAK, id).await), "CommitmentNotModelId");
    // BLAKE3 (v2) commitments cannot be opened on chain at a sane cost: no longer accepted.
    assert_eq!(rejected(s.register_model_with(other, KIND_BLAKE3, other).await), "UnknownCommitmentKind");
    assert_eq!(rejected(s.register_model_with(other, 3, other).await), "UnknownCommitmentKind");
    assert_eq!(rejected(s.register_model(B256::ZERO).await), "ZeroModelId");
    assert_eq!(s.model(other).await.unwrap(), None);
    assert_eq!(s.model(id).await.unwrap(), Some(entry), "a refused registration changed nothing");
}

#[tokio::test]
async fn two_staked_nodes_post_batches_and_receipts_are_provably_included() {
    let Some((anvil, s)) = setup().await else { return };
    let a = as_dev(&s, NODE_A).await;
    let b = as_dev(&s, NODE_B).await;
    assert_eq!(rejected(a.stake(ETH - 1).await), "BelowMinStake");
    a.stake(ETH).await.unwrap();
    b.stake(2 * ETH).await.unwrap();
    b.stake(1).await.unwrap(); // a top-up may be any amount
    let (sa, sb) = (s.stake_of(dev_address(NODE_A)).await.unwrap(), s.stake_of(dev_address(NODE_B)).await.unwrap());
    assert_eq!((sa.amount, sa.active, sa.unbond_at, sa.locks), (ETH, true, 0, 0));
    assert_eq!((sb.amount, sb.active), (2 * ETH + 1, true));
    assert_eq!(s.chain().balance(s.deployment().staking).await.unwrap(), U256::from(3 * ETH + 1));

    // Node A's executor key signs the receipts and is its staking account: one key.
    let signer = Signer::from_hex(DEV_KEYS[NODE_A]).unwrap();
    assert_eq!(Address::from(signer.address()), dev_address(NODE_A));
    let receipts = signer.sign_batch(&(0..5).map(body).collect::<Vec<_>>()).unwrap();
    let depth = receipts[0].batch.as_ref().unwrap().path.len() as u8;
    assert_eq!(depth, 3);
    let root = B256::from(receipts[0].batch.as_ref().unwrap().root(&receipts[0].signing_hash()));
    let posted = a.post_batch(root, depth).await.unwrap();
    let info = s.batch_status(dev_address(NODE_A), root).await.unwrap();
    assert_eq!((info.status, info.depth, info.final_at), (BatchStatus::Open, depth, info.posted_at + WINDOW));
    assert_eq!(s.batch_count().await.unwrap(), 1);

    let (pa, pb) = (dev_address(NODE_A), dev_address(NODE_B));
    let mut forged = 0;
    for (i, r) in receipts.iter().enumerate() {
        r.verify_signature().unwrap();
        let (leaf, path, index) = (leaf_of(r), path_of(r), i as u64);
        assert!(s.is_included(pa, root, leaf, index, &path).await.unwrap(), "receipt {i}");
        // An attacker controls every argument; each forgery must fail on its own.
        let other_leaf = leaf_of(&receipts[(i + 1) % receipts.len()]);
        let mut bent = path.clone();
        bent[1].0[31] ^= 1;
        let attempts: Vec<(&str, B256, u64, Vec<B256>, Address)> = vec![
            ("another receipt's leaf", other_leaf, index, path.clone(), pa),
            ("a flipped leaf bit", leaf ^ B256::with_last_byte(1), index, path.clone(), pa),
            ("the neighbouring index", leaf, index ^ 1, path.clone(), pa),
            ("an index past the depth", leaf, index + 8, path.clone(), pa),
            ("a bent sibling", leaf, index, bent, pa),
            ("a path one short", leaf, index, path[..2].to_vec(), pa),
            ("a path one long", leaf, index, [path.clone(), vec![B256::ZERO]].concat(), pa),
            ("another poster", leaf, index, path.clone(), pb),
        ];
        for (what, l, idx, p, poster) in attempts {
            assert!(!s.is_included(poster, root, l, idx, &p).await.unwrap(), "forged inclusion accepted: {what} (receipt {i})");
            forged += 1;
        }
    }
    assert_eq!(forged, 40);

    // An inner node posing as a leaf of a shallower tree hashes to the root, but the
    // depth is fixed by the posting.
    let inner = B256::from(keccak_pair(leaf_of(&receipts[0]), path_of(&receipts[0])[0]));
    assert_eq!(keccak_pair(keccak_pair(inner, path_of(&receipts[0])[1]), path_of(&receipts[0])[2]), root);
    assert!(!s.is_included(pa, root, inner, 0, &path_of(&receipts[0])[1..]).await.unwrap());
    // The padding leaves (5..8 are zero) hash to the root too, but prove no receipt.
    let p4 = path_of(&receipts[4]);
    let pad_path = vec![leaf_of(&receipts[4]), p4[1], p4[2]];
    assert_eq!(keccak_pair(p4[2], keccak_pair(keccak_pair(leaf_of(&receipts[4]), B256::ZERO), p4[1])), root);
    assert!(!s.is_included(pa, root, B256::ZERO, 5, &pad_path).await.unwrap());

    // Posting rules.
    assert_eq!(rejected(a.post_batch(root, depth).await), "BatchAlreadyPosted");
    b.post_batch(root, depth).await.unwrap(); // keyed by poster: A's posting blocks no one else
    assert_eq!(rejected(a.post_batch(keccak256(b"r"), 0).await), "BadDepth");
    assert_eq!(rejected(a.post_batch(keccak256(b"r"), 21).await), "BadDepth");
    a.post_batch(keccak256(b"r"), 20).await.unwrap();
    assert_eq!(rejected(a.post_batch(B256::ZERO, 3).await), "ZeroRoot");
    assert_eq!(s.batch_status(pa, keccak256(b"never")).await.unwrap().status, BatchStatus::Unknown);

    // The window closes, to the second: open in its last second, final after it.
    anvil.set_next_timestamp(info.final_at - 1).await.unwrap();
    anvil.increase_time(0).await.unwrap();
    assert_eq!(s.batch_status(pa, root).await.unwrap().status, BatchStatus::Open);
    anvil.set_next_timestamp(info.final_at).await.unwrap();
    anvil.increase_time(0).await.unwrap();
    assert_eq!(s.batch_status(pa, root).await.unwrap().status, BatchStatus::Final);
    assert!(s.is_included(pa, root, leaf_of(&receipts[2]), 2, &path_of(&receipts[2])).await.unwrap());
    assert!(posted.gas_used > 0);
}

fn keccak_pair(l: B256, r: B256) -> B256 {
    keccak256([l.0, r.0].concat())
}

#[tokio::test]
async fn only_an_active_staked_executor_posts() {
    let Some((_anvil, s)) = setup().await else { return };
    let outsider = as_dev(&s, OUTSIDER).await;
    let root = keccak256(b"root");
    match outsider.post_batch(root, 2).await {
        Err(SettlementError::NotActive { executor }) => assert_eq!(executor, dev_address(OUTSIDER).to_string()),
        other => panic!("expected NotActive, got {other:?}"),
    }
    // The contract refuses by itself, without the client's check.
    assert_eq!(rejected(outsider.post_batch_unchecked(root, 2).await), "NotActiveExecutor");
    // A leaving executor can no longer post: its stake would be gone before the window closes.
    let a = as_dev(&s, NODE_A).await;
    a.stake(ETH).await.unwrap();
    a.post_batch(root, 2).await.unwrap();
    a.request_unbond().await.unwrap();
    assert_eq!(rejected(a.post_batch_unchecked(keccak256(b"later"), 2).await), "NotActiveExecutor");
    assert_eq!(s.batch_count().await.unwrap(), 1);
}

#[tokio::test]
async fn the_unbonding_delay_holds_the_stake() {
    let Some((anvil, s)) = setup().await else { return };
    let a = as_dev(&s, NODE_A).await;
    let who = dev_address(NODE_A);
    a.stake(3 * ETH).await.unwrap();
    assert_eq!(rejected(a.withdraw().await), "NotUnbonding");
    let requested = a.request_unbond().await.unwrap();
    let info = s.stake_of(who).await.unwrap();
    assert!(!info.active);
    assert_eq!(rejected(a.request_unbond().await), "AlreadyUnbonding");
    assert_eq!(rejected(a.stake(ETH).await), "AlreadyUnbonding");
    assert_eq!(rejected(a.withdraw().await), "UnbondingNotOver");
    // One second before the end of the delay: still held.
    anvil.set_next_timestamp(info.unbond_at - 1).await.unwrap();
    assert_eq!(rejected(a.withdraw().await), "UnbondingNotOver");
    anvil.increase_time(0).await.unwrap(); // mines the block at unbond_at - 1
    assert_eq!(block_time(&s).await, info.unbond_at - 1);
    // The second it ends: free.
    anvil.set_next_timestamp(info.unbond_at).await.unwrap();
    let before = s.chain().balance(who).await.unwrap();
    let w = a.withdraw().await.unwrap();
    let gas_cost = gas_cost(&s, w.hash).await;
    assert_eq!(s.chain().balance(who).await.unwrap(), before + U256::from(3 * ETH) - gas_cost, "the whole stake, once");
    assert_eq!(s.chain().balance(s.deployment().staking).await.unwrap(), U256::ZERO);
    assert_eq!(s.stake_of(who).await.unwrap().amount, 0);
    assert_eq!(rejected(a.withdraw().await), "NotUnbonding");
    assert!(requested.block < w.block);
}

async fn block_time(s: &Settlement) -> u64 {
    use verity_settlement::alloy::eips::BlockNumberOrTag;
    let block = s.chain().provider().get_block_by_number(BlockNumberOrTag::Latest).await.unwrap().unwrap();
    block.header.timestamp
}

async fn gas_cost(s: &Settlement, hash: B256) -> U256 {
    let r = s.chain().provider().get_transaction_receipt(hash).await.unwrap().unwrap();
    U256::from(r.gas_used) * U256::from(r.effective_gas_price)
}

#[tokio::test]
async fn a_locked_stake_cannot_be_withdrawn() {
    let Some((anvil, s)) = setup().await else { return };
    let manager = as_dev(&s, MANAGER).await;
    let a = as_dev(&s, NODE_A).await;
    let who = dev_address(NODE_A);
    assert_eq!(rejected(manager.lock(who).await), "NotStaked");
    a.stake(ETH).await.unwrap();
    // Two challenges open against A; it tries to leave at once.
    manager.lock(who).await.unwrap();
    manager.lock(who).await.unwrap();
    a.request_unbond().await.unwrap();
    anvil.increase_time(DELAY * 10).await.unwrap();
    assert_eq!(rejected(a.withdraw().await), "StakeLocked");
    manager.unlock(who).await.unwrap();
    assert_eq!(s.stake_of(who).await.unwrap().locks, 1);
    assert_eq!(rejected(a.withdraw().await), "StakeLocked");
    manager.unlock(who).await.unwrap();
    assert_eq!(rejected(manager.unlock(who).await), "NotLocked");
    a.withdraw().await.unwrap();
    assert_eq!(s.stake_of(who).await.unwrap().amount, 0);
}

#[tokio::test]
async fn only_the_manager_locks_and_slashes_and_the_split_is_as_documented() {
    let Some((_anvil, s)) = setup().await else { return };
    let manager = as_dev(&s, MANAGER).await;
    let a = as_dev(&s, NODE_A).await;
    let challenger = as_dev(&s, CHALLENGER).await;
    let (who, to) = (dev_address(NODE_A), dev_address(CHALLENGER));
    a.stake(2 * ETH).await.unwrap();
    let mut refused = 0;
    for intruder in [&s, &a, &challenger] {
        assert_eq!(rejected(intruder.slash(who, ETH, to).await), "NotChallengerManager");
        assert_eq!(rejected(intruder.lock(who).await), "NotChallengerManager");
        assert_eq!(rejected(intruder.unlock(who).await), "NotChallengerManager");
        refused += 3;
    }
    assert_eq!(refused, 9);
    assert_eq!(s.stake_of(who).await.unwrap().amount, 2 * ETH);

    assert_eq!(rejected(manager.slash(who, 2 * ETH + 1, to).await), "SlashExceedsStake");
    manager.slash(who, 3 * ETH / 2, to).await.unwrap();
    let left = s.stake_of(who).await.unwrap();
    assert_eq!(left.amount, ETH / 2);
    assert!(!left.active, "below the minimum after the slash: no more batches");
    // BURN_BPS = 5000: half burned, half to the winner.
    assert_eq!(s.credit(to).await.unwrap(), U256::from(3 * ETH / 4));
    assert_eq!(s.total_burned().await.unwrap(), U256::from(3 * ETH / 4));
    assert_eq!(rejected(a.post_batch_unchecked(keccak256(b"r"), 1).await), "NotActiveExecutor");

    let before = s.chain().balance(to).await.unwrap();
    let c = challenger.claim().await.unwrap();
    let fee = gas_cost(&s, c.hash).await;
    assert_eq!(s.chain().balance(to).await.unwrap(), before + U256::from(3 * ETH / 4) - fee);
    assert_eq!(rejected(challenger.claim().await), "NothingToClaim");
    // What is left: A's remaining half and the burned share, which nobody can take out.
    assert_eq!(s.chain().balance(s.deployment().staking).await.unwrap(), U256::from(ETH / 2 + 3 * ETH / 4));
}

verity_settlement::alloy::sol!(
    #[sol(rpc)]
    ReentrantStaker,
    "../../contracts/out/ReentrantStaker.json"
);

#[tokio::test]
async fn reentrant_payouts_are_refused() {
    let Some((anvil, s)) = setup().await else { return };
    let provider = s.chain().provider().clone();
    let attacker = ReentrantStaker::deploy(provider.clone(), s.deployment().staking).await.unwrap();
    let addr = *attacker.address();
    attacker.stake().value(U256::from(ETH)).send().await.unwrap().get_receipt().await.unwrap();
    attacker.requestUnbond().send().await.unwrap().get_receipt().await.unwrap();
    anvil.increase_time(DELAY).await.unwrap();
    // A victim whose slashed stake is credited to the attacker, so it has a claim as well.
    let manager = as_dev(&s, MANAGER).await;
    as_dev(&s, NODE_A).await.stake(2 * ETH).await.unwrap();
    manager.slash(dev_address(NODE_A), 2 * ETH, addr).await.unwrap();
    assert_eq!(s.credit(addr).await.unwrap(), U256::from(ETH));
    let reentrancy = verity_settlement::Staking::Reentrancy::SELECTOR;
    let staking_before = s.chain().balance(s.deployment().staking).await.unwrap();

    // 1: withdraw re-entering withdraw; 2: withdraw re-entering claim (cross-function).
    for (mode, payout) in [(1u8, "withdraw"), (2, "withdraw")] {
        if mode == 2 {
            // A second stake to withdraw, for the cross-function attempt.
            attacker.stake().value(U256::from(ETH)).send().await.unwrap().get_receipt().await.unwrap();
            attacker.requestUnbond().send().await.unwrap().get_receipt().await.unwrap();
            anvil.increase_time(DELAY).await.unwrap();
        }
        let r = attacker.withdraw(mode).send().await.unwrap().get_receipt().await.unwrap();
        assert!(r.status(), "the outer {payout} itself succeeds");
        assert!(!attacker.reentrySucceeded().call().await.unwrap(), "mode {mode}: the re-entrant call went through");
        let data = attacker.reentryRevert().call().await.unwrap();
        assert_eq!(&data[..4], reentrancy.as_slice(), "mode {mode}: refused by the guard");
    }
    // 3: claim re-entering claim.
    let r = attacker.claim(2).send().await.unwrap().get_receipt().await.unwrap();
    assert!(r.status());
    assert!(!attacker.reentrySucceeded().call().await.unwrap());
    assert_eq!(&attacker.reentryRevert().call().await.unwrap()[..4], reentrancy.as_slice());
    assert_eq!(attacker.attempts().call().await.unwrap(), U256::from(3));

    // Paid exactly what it was owed: two stakes of 1 ETH and a 1 ETH reward, once each.
    assert_eq!(s.chain().balance(addr).await.unwrap(), U256::from(3 * ETH));
    assert_eq!(s.chain().balance(s.deployment().staking).await.unwrap(), staking_before - U256::from(2 * ETH));
    assert_eq!(s.credit(addr).await.unwrap(), U256::ZERO);
}

#[tokio::test]
async fn deployment_and_connection_errors_are_clear() {
    let Some((anvil, s)) = setup().await else { return };
    // The window must not outlive the unbonding delay; the client checks, and so does the
    // contract's constructor when the client is bypassed.
    let bad = DeployParams { challenge_window: DELAY + 1, ..params() };
    assert!(s.chain().deploy(&bad).await.is_err());
    let raw = BatchSettlement::deploy_builder(s.chain().provider().clone(), s.deployment().staking, DELAY + 1).send().await;
    let err = SettlementError::from_contract(raw.map(|_| ()).unwrap_err());
    assert_eq!(err.rejection(), Some("WindowOutlivesUnbonding"), "{err}");

    let mut elsewhere = s.deployment().clone();
    elsewhere.chain_id = 1;
    match s.chain().attach(&elsewhere).await {
        Err(SettlementError::WrongChain { expected: 1, found: ANVIL_CHAIN_ID }) => {}
        Err(e) => panic!("expected WrongChain, got {e}"),
        Ok(_) => panic!("expected WrongChain, got a connection"),
    }
    let mut gone = s.deployment().clone();
    gone.staking = dev_address(7); // an account, not a contract
    assert!(matches!(s.chain().attach(&gone).await, Err(SettlementError::NoContract { name: "Staking", .. })));

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = Chain::connect(&format!("http://127.0.0.1:{closed}"), None).await.err().expect("nothing listens there");
    assert!(matches!(e, SettlementError::Unreachable { .. }), "{e}");
    assert!(matches!(Chain::connect("not a url", None).await, Err(SettlementError::BadUrl(_))));
    assert!(matches!(Chain::connect(&anvil.url().replace("http:", "https:"), None).await, Err(SettlementError::BadUrl(_))));
    let e = Chain::connect(anvil.url(), Some("0x1234")).await.err().unwrap();
    assert!(e.to_string().contains("64 hex digits"), "{e}");
    drop(anvil);

    // Another chain id: no default key.
    let Some(other) = Anvil::for_test_with(&["--chain-id", "4242"]) else { return };
    match Chain::connect(other.url(), None).await {
        Err(SettlementError::NoKey { chain_id: 4242 }) => {}
        Err(e) => panic!("expected NoKey, got {e}"),
        Ok(_) => panic!("expected NoKey, got a connection"),
    }
    assert_eq!(Chain::connect(other.url(), Some(DEV_KEYS[2])).await.unwrap().sender(), dev_address(2));
}
