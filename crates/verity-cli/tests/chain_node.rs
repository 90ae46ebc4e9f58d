//! A node on chain survives kill -9 in the middle of a game: an honest executor node is
//! challenged (falsely, by a challenger answering at random) on a local anvil, killed with
//! SIGKILL after a few moves, restarted on the same data directory, finds its open game on
//! the chain, plays on and wins, and keeps its stake.

use std::time::Duration;

use verity_dispute::{Party, RandomChallenger};
use verity_exec::api::Evidence;
use verity_model::Model;
use verity_settlement::anvil::{Anvil, DEV_KEYS};
use verity_settlement::party::{play_side, referee};
use verity_settlement::{Address, BatchStatus, Chain, DeployParams, GameParams, Settlement, B256};

mod common;

use common::{fx, poll, NodeProc};

const ETH: u128 = 1_000_000_000_000_000_000;

/// One runtime for the whole test: a provider made in it keeps its tasks (the watcher of
/// pending transactions) across calls, from any thread.
fn on<F: std::future::Future>(f: F) -> F::Output {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()).block_on(f)
}

fn chain_events(url: &str, event: &str) -> u64 {
    let text = ureq::get(&format!("{url}/metrics")).call().unwrap().body_mut().read_to_string().unwrap();
    let key = format!("verity_chain_events_total{{event=\"{event}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&key).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
}

#[test]
fn a_node_killed_mid_game_resumes_it_from_the_chain_and_wins() {
    let Some(anvil) = Anvil::for_test() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let file = dir.path().join("chain.json");
    let publisher = on(async {
        let chain = Chain::connect(anvil.url(), None).await?;
        let p = DeployParams { min_stake: ETH, unbonding_delay: 2_000, challenge_window: 1_000, ..Default::default() };
        let d = chain.deploy_with_game(&p, &GameParams { bond: ETH / 10, move_timeout: 120 }).await?;
        d.deployment.save(&file)?;
        chain.attach(&d.deployment).await
    })
    .unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let (key, _) = verity_receipt::Signer::load_or_create(data.join("executor.key")).unwrap();
    let executor = Address::from(key.address());
    on(async {
        publisher.chain().send_value(executor, 10 * ETH).await?;
        publisher.with_key(&key.secret_hex()).await?.stake(2 * ETH).await
    })
    .unwrap();
    let flags = ["--chain-rpc", anvil.url(), "--chain-deployment", file.to_str().unwrap()];
    let node = NodeProc::start_with(&data, None, &flags);

    let bytes = std::fs::read(fx("cnn_digits.vrt")).unwrap();
    let model = Model::decode(&bytes).unwrap();
    let text = std::fs::read_to_string(fx("cnn_digits.input.json")).unwrap();
    let client = node.client(dir.path());
    let id = client.publish_vrt(&bytes).unwrap().model_id;
    let answer = client.infer(&id, &text, Evidence::Receipt).unwrap();
    let receipt = answer.receipt.expect("a receipt");
    let proof = receipt.batch.as_ref().expect("batch-signed, though alone");
    let root = B256::from(proof.root(&receipt.signing_hash()));
    poll("the node to post its batch", 30, || {
        (on(publisher.batch_status(executor, root)).unwrap().status == BatchStatus::Open).then_some(())
    });

    // A false challenge, answered at random, played from this test with dev account 2.
    let challenger: Settlement = on(publisher.with_key(DEV_KEYS[2])).unwrap();
    let commitment = verity_commit::ModelCommitment::new(&model);
    let inputs = verity_exec::parse_input(&model, &text).unwrap();
    let input_roots = verity_dispute::input_roots(&model.values, &inputs);
    let (game, tx) = on(challenger.challenge(&receipt, &commitment, &input_roots)).unwrap();
    let statement = verity_dispute::statement(&commitment, &inputs, &receipt).unwrap();
    let ch = challenger.clone();
    let side = std::thread::spawn(move || {
        let mut random = RandomChallenger { state: 3 };
        on(play_side(&ch, game, tx.block, Party::Challenger, &mut referee(statement), &mut random, Duration::from_millis(100)))
    });

    // A few moves in, SIGKILL; then the same node again, on the same data directory.
    poll("the game to get going", 60, || (on(publisher.game_state(game)).unwrap().2 >= 3).then_some(()));
    node.kill9();
    let moves_at_kill = on(publisher.game_state(game)).unwrap().2;
    let node = NodeProc::start_with(&data, None, &flags);
    let out = side.join().unwrap().unwrap();
    assert_eq!(out.winner, Party::Executor, "the restarted executor played on and won");
    assert!(out.moves > moves_at_kill, "moves after the restart: {} then {}", moves_at_kill, out.moves);
    let stake = on(publisher.stake_of(executor)).unwrap();
    assert_eq!((stake.amount, stake.locks), (2 * ETH, 0), "the stake is whole and unlocked");
    poll("the restarted node to count the game won", 20, || (chain_events(&node.url, "games_won") == 1).then_some(()));
    assert_eq!(chain_events(&node.url, "challenges_received"), 1);
}
