//! Gas of every settlement step on anvil, printed as the table of docs/settlement.md
//! (`cargo test -p verity-settlement --test gas -- --nocapture`), with the bounds the
//! design relies on asserted.

use verity_settlement::alloy::primitives::{keccak256, B256};
use verity_settlement::anvil::{dev_address, Anvil, DEV_KEYS};
use verity_settlement::{Chain, DeployParams};

const ETH: u128 = 1_000_000_000_000_000_000;

/// A leaf, a path of `depth` siblings and the root they lead to (as BatchMerkle computes it).
fn tree(depth: usize, index: u64) -> (B256, Vec<B256>, B256) {
    let leaf = keccak256(b"leaf");
    let path: Vec<B256> = (0..depth).map(|k| keccak256((k as u64).to_be_bytes())).collect();
    let root = path.iter().enumerate().fold(leaf, |acc, (k, s)| {
        if index >> k & 1 == 1 {
            keccak256([s.0, acc.0].concat())
        } else {
            keccak256([acc.0, s.0].concat())
        }
    });
    (leaf, path, root)
}

#[tokio::test]
async fn gas_of_each_step() {
    let Some(anvil) = Anvil::for_test() else { return };
    let chain = Chain::connect(anvil.url(), None).await.unwrap();
    let params = DeployParams { min_stake: ETH, unbonding_delay: 100, challenge_window: 50, challenger_manager: dev_address(9) };
    let deployed = chain.deploy(&params).await.unwrap();
    let mut rows: Vec<(String, u64)> = deployed.gas.iter().map(|(n, g)| (format!("deploy {n}"), *g)).collect();
    let s = chain.attach(&deployed.deployment).await.unwrap();
    let node = s.with_key(DEV_KEYS[1]).await.unwrap();
    let manager = s.with_key(DEV_KEYS[9]).await.unwrap();
    let challenger = s.with_key(DEV_KEYS[4]).await.unwrap();

    rows.push(("register a model".into(), s.register_model(keccak256(b"model")).await.unwrap().gas_used));
    rows.push(("stake (first)".into(), node.stake(ETH).await.unwrap().gas_used));
    rows.push(("stake (top-up)".into(), node.stake(ETH).await.unwrap().gas_used));
    let mut posts = Vec::new();
    for (i, depth) in [1usize, 10, 20].into_iter().enumerate() {
        let index = (1u64 << depth) - 1; // the last leaf: every sibling on the left
        let (leaf, path, root) = tree(depth, index);
        let post = node.post_batch(root, depth as u8).await.unwrap().gas_used;
        posts.push(post);
        rows.push((format!("post a batch (depth {depth}{})", if i == 0 { ", first" } else { "" }), post));
        assert!(s.is_included(dev_address(1), root, leaf, index, &path).await.unwrap(), "depth {depth}");
        let check = s.is_included_gas(dev_address(1), root, leaf, index, &path).await.unwrap();
        rows.push((format!("isIncluded as a transaction (depth {depth})"), check));
    }
    manager.lock(dev_address(1)).await.unwrap();
    rows.push(("lock (manager)".into(), manager.lock(dev_address(1)).await.unwrap().gas_used));
    rows.push(("unlock (manager)".into(), manager.unlock(dev_address(1)).await.unwrap().gas_used));
    manager.unlock(dev_address(1)).await.unwrap();
    rows.push(("slash (manager)".into(), manager.slash(dev_address(1), ETH / 2, dev_address(4)).await.unwrap().gas_used));
    rows.push(("claim".into(), challenger.claim().await.unwrap().gas_used));
    rows.push(("request unbond".into(), node.request_unbond().await.unwrap().gas_used));
    anvil.increase_time(100).await.unwrap();
    rows.push(("withdraw".into(), node.withdraw().await.unwrap().gas_used));

    println!("| step | gas |\n| --- | ---: |");
    for (step, gas) in &rows {
        println!("| {step} | {gas} |");
    }
    for (step, gas) in &rows {
        assert!(*gas > 21_000 && *gas < 1_000_000, "{step}: {gas}");
    }
    // The first post ever also sets the batch counter from zero; after it, a post costs the
    // same at any depth (a root is 32 bytes for any batch size), up to calldata zero bytes.
    assert!(posts[1] < 100_000 && posts[1].abs_diff(posts[2]) <= 32 * 12, "{posts:?}");
    let checks: Vec<u64> = rows.iter().filter(|(s, _)| s.starts_with("isIncluded")).map(|r| r.1).collect();
    assert!(checks.windows(2).all(|w| w[0] < w[1]), "inclusion gas grows with the depth: {checks:?}");
}
