//! The network end to end, with real processes: `verity devnet` starts 5 `verity node`
//! processes on loopback (A verifier, B and C honest executors, E an executor holding no
//! model, D a test-only cheater). An inference sent to E for a model only B and C serve is
//! forwarded and its answer verifies against the executor's key; D serves a model with one
//! weight changed, A catches it, the fraud proof reaches every honest node, and E no longer
//! routes to D. Every wait polls with a deadline; the devnet (and so every node) is stopped
//! by a guard, and the test checks that no node process outlives it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use verity_client::{check_answer, Client, LocalModel};
use verity_exec::api::Evidence;
use verity_model::Model;

mod common;

use common::{fx, poll, KEY};

/// The devnet process; SIGTERM (then SIGKILL) on drop.
struct Devnet {
    child: Child,
    nodes: Vec<Value>,
    /// The devnet's own JSON line.
    line: Value,
}

impl Devnet {
    fn start(dir: &std::path::Path) -> Devnet {
        Self::start_with(dir, &["--nodes", "5", "--cheaters", "1"])
    }

    fn start_with(dir: &std::path::Path, args: &[&str]) -> Devnet {
        let mut child = Command::new(env!("CARGO_BIN_EXE_verity"))
            .arg("devnet")
            .args(args)
            .args(["--json", "--data", dir.to_str().unwrap()])
            .env("VERITY_API_KEY", KEY)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("devnet printed {line:?}: {e}"));
        Devnet { child, nodes: v["nodes"].as_array().unwrap().clone(), line: v }
    }

    fn url(&self, i: usize) -> String {
        self.nodes[i]["url"].as_str().unwrap().to_string()
    }

    fn executor(&self, i: usize) -> [u8; 20] {
        let hex = self.nodes[i]["executor"].as_str().unwrap().trim_start_matches("0x").to_lowercase();
        let bytes: Vec<u8> = (0..20).map(|k| u8::from_str_radix(&hex[2 * k..2 * k + 2], 16).unwrap()).collect();
        bytes.try_into().unwrap()
    }

    fn stop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        self.stop();
    }
}

fn local(name: &str) -> (Arc<LocalModel>, String, String) {
    let bytes = std::fs::read(fx(&format!("{name}.vrt"))).unwrap();
    let model = Model::decode(&bytes).unwrap();
    let id = verity_commit::hash::hex(&model.id_bytes());
    let engine = verity_exec::engine(&model, None).unwrap();
    let input = std::fs::read_to_string(fx(&format!("{name}.input.json"))).unwrap();
    (Arc::new(LocalModel { model, engine }), id, input)
}

fn publish(url: &str, name: &str) {
    let c = Client::new(url).with_api_key(Some(KEY.into()));
    c.publish_vrt(&std::fs::read(fx(&format!("{name}.vrt"))).unwrap()).unwrap();
}

fn faulty_at(url: &str) -> Vec<String> {
    let v = Client::new(url).peers().unwrap();
    v["faulty_executors"].as_array().unwrap().iter().map(|f| f["executor"].as_str().unwrap().to_lowercase()).collect()
}

fn metric(url: &str, name: &str) -> u64 {
    let text = ureq_get(&format!("{url}/metrics"));
    text.lines().find_map(|l| l.strip_prefix(&format!("{name} ")).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
}

fn ureq_get(url: &str) -> String {
    ureq::get(url).call().ok().and_then(|mut r| r.body_mut().read_to_string().ok()).unwrap_or_default()
}

fn pid_alive(pid: u64) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

#[test]
fn forwarding_verification_and_fraud_proofs_across_five_processes() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Devnet::start(dir.path());
    let (a, b, c, e, d) = (0, 1, 2, 3, 4);
    assert_eq!(net.nodes[a]["role"], "verifier");
    assert_eq!(net.nodes[d]["cheater"], true);
    let hex = |x: [u8; 20]| format!("0x{}", x.iter().map(|b| format!("{b:02x}")).collect::<String>());

    // M is published on A (the verifier keeps the weights to re-execute) and served by B
    // and C only; N is served by the cheater D only, for now.
    let (m_model, m, m_input) = local("mlp_digits");
    let (n_model, n, n_input) = local("cnn_digits");
    for i in [a, b, c] {
        publish(&net.url(i), "mlp_digits");
    }
    for i in [a, d] {
        publish(&net.url(i), "cnn_digits");
    }

    // E holds no model: its answers come from a peer, with that peer's receipt.
    let entry = Client::new(&net.url(e));
    let served_m = poll("E to forward an inference of M", 30, || entry.infer(&m, &m_input, Evidence::Receipt).ok());
    let r = served_m.receipt.as_ref().expect("a receipt");
    assert!([net.executor(b), net.executor(c)].contains(&r.body.executor), "M served by {}", hex(r.body.executor));
    check_answer(&m_model, &m_input, Evidence::Receipt, &served_m).expect("the forwarded answer verifies");

    // D serves N with one weight changed: a client re-executing sees it at once...
    let cheated = poll("E to forward an inference of N", 30, || entry.infer(&n, &n_input, Evidence::Receipt).ok());
    assert_eq!(cheated.receipt.as_ref().unwrap().body.executor, net.executor(d));
    assert!(check_answer(&n_model, &n_input, Evidence::Receipt, &cheated).is_err(), "the cheat changes the answer");

    // ...and so does the verifier, which disputes it with D and gossips the proof.
    let cheater = hex(net.executor(d));
    for i in [a, b, c, e] {
        poll(&format!("node {i} to hold the fraud proof against D"), 40, || {
            faulty_at(&net.url(i)).contains(&cheater).then_some(())
        });
        assert!(metric(&net.url(i), "verity_fraud_proofs_total") >= 1, "node {i} counted no checked fraud proof");
        assert!(!faulty_at(&net.url(i)).iter().any(|f| *f != cheater), "node {i} convicted an honest executor");
    }

    // E no longer routes to D: N has no honest provider...
    let refused = entry.infer(&n, &n_input, Evidence::Receipt);
    let msg = format!("{:?}", refused.as_ref().err());
    assert!(refused.is_err() && msg.contains("faulty"), "E still served N: {msg}");
    // ...until C serves it; then every answer for N comes from C.
    publish(&net.url(c), "cnn_digits");
    poll("E to route N to C", 30, || entry.infer(&n, &n_input, Evidence::Receipt).ok());
    for _ in 0..5 {
        let ans = entry.infer(&n, &n_input, Evidence::Receipt).unwrap();
        assert_eq!(ans.receipt.as_ref().unwrap().body.executor, net.executor(c));
        check_answer(&n_model, &n_input, Evidence::Receipt, &ans).unwrap();
    }

    // Stopping the devnet stops every node.
    let pids: Vec<u64> = net.nodes.iter().map(|n| n["pid"].as_u64().unwrap()).collect();
    net.stop();
    poll("every node process to exit", 20, || (!pids.iter().any(|&p| pid_alive(p))).then_some(()));
}

/// The devnet on a local anvil, with no human step between the cheat and the slash: the
/// executors' batches are posted, the verifiers' re-execution of the cheater's receipt
/// disagrees, the receipt is challenged on chain (once: the other verifier, and each
/// verifier again when the other's fraud proof reaches it, find the game open), the
/// challenger and the cheater play the game on their own, and the cheater's stake is cut
/// while the honest executor keeps its stake.
#[test]
fn on_chain_a_cheater_is_challenged_and_slashed_by_the_nodes_alone() {
    use verity_settlement::{anvil::Anvil, Chain, Deployment};
    let Some(anvil) = Anvil::for_test() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut net =
        Devnet::start_with(dir.path(), &["--nodes", "4", "--verifiers", "2", "--cheaters", "1", "--chain", anvil.url()]);
    let v = net.line.clone();
    let (a, a2, b, d) = (0, 1, 2, 3);
    assert_eq!(net.nodes[d]["cheater"], true);
    let deployment = Deployment::load(v["chain"]["deployment"].as_str().unwrap().as_ref()).unwrap();
    let s = verity_settlement::block_on(async { Chain::connect(anvil.url(), None).await?.attach(&deployment).await })
        .unwrap()
        .unwrap();
    let stake = |i: usize| {
        let who = verity_settlement::Address::from(net.executor(i));
        verity_settlement::block_on(s.stake_of(who)).unwrap().unwrap().amount
    };
    let staked = stake(b);
    assert!(staked > 0 && stake(d) == staked, "the devnet stakes every executor");
    assert_eq!(stake(a) + stake(a2), 0, "verifiers have no stake");

    let (_, m, m_input) = local("mlp_digits");
    let (n_model, n, n_input) = local("cnn_digits");
    for i in [a, a2, b] {
        publish(&net.url(i), "mlp_digits");
    }
    for i in [a, a2, d] {
        publish(&net.url(i), "cnn_digits");
    }
    let honest = Client::new(&net.url(b)).infer(&m, &m_input, Evidence::Receipt).unwrap();
    let cheated = Client::new(&net.url(d)).infer(&n, &n_input, Evidence::Receipt).unwrap();
    assert!(check_answer(&n_model, &n_input, Evidence::Receipt, &cheated).is_err(), "the cheat changes the answer");
    for (i, r) in [(b, &honest), (d, &cheated)] {
        assert!(r.receipt.as_ref().unwrap().batch.is_some(), "node {i} batch-signs even a lone receipt");
    }

    poll("the cheater's stake to be slashed on chain", 120, || (stake(d) < staked).then_some(()));
    let events = |i: usize, e: &str| metric(&net.url(i), &format!("verity_chain_events_total{{event=\"{e}\"}}"));
    assert!(events(b, "batches_posted") >= 1 && events(d, "batches_posted") >= 1);
    let both = |e: &str| events(a, e) + events(a2, e);
    assert_eq!(both("challenges_opened"), 1, "one game for the receipt");
    // Each side sees the end at its next look at the chain.
    poll("the challenger to count the game won", 20, || (both("challenges_won") == 1).then_some(()));
    // Either one verifier convicted the cheater and the other takes the fraud proof it
    // receives to the chain, or both convicted it on their own (then neither fraud proof is
    // news to the other). Either way the second attempt finds the game open.
    let net_events = |i: usize, e: &str| metric(&net.url(i), &format!("verity_net_events_total{{event=\"{e}\"}}"));
    poll("the second verifier to take the cheat to the chain", 30, || {
        let relayed = net_events(a, "conviction_challenged") + net_events(a2, "conviction_challenged") >= 1;
        let both_convicted = net_events(a, "disputes_won") >= 1 && net_events(a2, "disputes_won") >= 1;
        (relayed || both_convicted).then_some(())
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while both("already_challenged") == 0 {
        let dump = || [a, a2].map(|i| ureq_get(&format!("{}/metrics", net.url(i)))).join("\n");
        assert!(Instant::now() < deadline, "no later challenge found the game open:\n{}", dump());
        std::thread::sleep(Duration::from_millis(200));
    }
    poll("the cheater to count the game lost", 20, || (events(d, "games_lost") == 1).then_some(()));
    assert_eq!(events(d, "games_failed"), 0, "the cheater played to the end (not silent)");
    let (_, winner, moves, _) = verity_settlement::block_on(s.game_state(verity_settlement::U256::from(1))).unwrap().unwrap();
    assert_eq!(winner, 2, "the challenger won game 1");
    assert!(moves > 4, "decided by the one-step referee after bisection, not by a timeout ({moves} moves)");
    assert_eq!(stake(b), staked, "the honest executor keeps its stake");
    assert_eq!(events(b, "challenges_received"), 0);
    net.stop();
}
