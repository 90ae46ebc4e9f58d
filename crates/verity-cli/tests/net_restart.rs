//! kill -9 in the middle of a network dispute: a cheating executor is killed with SIGKILL
//! while it answers a verifier's dispute step (its third move), and restarted on its data
//! directory and p2p port. The verifier sends the move again until its step deadline; the
//! restarted executor, which keeps no game state, answers it; the game goes on and the
//! verifier wins: a checked fraud proof, and the cheater proven faulty.

use verity_exec::api::Evidence;

mod common;

use common::{fx, poll, NodeProc};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The value of the metric line that starts with `key` (name and labels), 0 if absent.
fn metric(url: &str, key: &str) -> u64 {
    let text = ureq::get(&format!("{url}/metrics")).call().ok().and_then(|mut r| r.body_mut().read_to_string().ok());
    let key = format!("{key} ");
    text.unwrap_or_default().lines().find_map(|l| l.strip_prefix(&key).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
}

fn events(url: &str, event: &str) -> u64 {
    metric(url, &format!("verity_net_events_total{{event=\"{event}\"}}"))
}

#[test]
fn a_network_dispute_resumes_after_kill_9_of_the_executor() {
    let dir = tempfile::tempdir().unwrap();
    let (pv, pc) = (free_port(), free_port());
    let verifier_p2p = format!("/ip4/127.0.0.1/tcp/{pv}");
    let cheater_p2p = format!("/ip4/127.0.0.1/tcp/{pc}");
    let verifier = NodeProc::start_with(
        &dir.path().join("verifier"),
        None,
        &["--role", "verifier", "--p2p-listen", &verifier_p2p, "--net-verify-sample", "1"],
    );
    let cheater_flags = ["--role", "executor", "--cheat-weight", "--p2p-listen", &cheater_p2p, "--bootstrap", &verifier_p2p];
    let cheat_env = [("VERITY_ALLOW_CHEAT", "1")];
    let cheater_data = dir.path().join("cheater");
    let cheater = NodeProc::start_env(&cheater_data, Some("net:dispute-step"), &cheater_flags, &cheat_env);

    let cache = dir.path().join("cache");
    let vrt = std::fs::read(fx("cnn_digits.vrt")).unwrap();
    let id = verifier.client(&cache).publish_vrt(&vrt).unwrap().model_id;
    cheater.client(&cache).publish_vrt(&vrt).unwrap();
    let input = std::fs::read_to_string(fx("cnn_digits.input.json")).unwrap();

    // Inferences until a receipt batch reaches the verifier (the gossip mesh forms within a
    // few seconds) and the game gets to the executor's third move, where the cheater holds.
    let mut sent = 0;
    while !cheater.paused_within(1) {
        assert!(sent < 60, "no dispute reached the executor's third move");
        cheater.client(&cache).infer(&id, &input, Evidence::Receipt).unwrap();
        sent += 1;
    }
    assert_eq!(events(&verifier.url, "disputes_won"), 0);
    cheater.kill9();

    let cheater = NodeProc::start_env(&cheater_data, None, &cheater_flags, &cheat_env);
    poll("the verifier to win the game against the restarted executor", 60, || {
        (events(&verifier.url, "disputes_won") >= 1).then_some(())
    });
    assert!(events(&cheater.url, "dispute_steps_answered") >= 1, "the restarted executor answered the game's moves");
    assert!(metric(&verifier.url, "verity_fraud_proofs_total") >= 1, "the verifier checked its own fraud proof");
    let peers = verifier.client(&cache).peers().unwrap();
    assert_eq!(peers["faulty_executors"].as_array().unwrap().len(), 1, "{peers}");
    // The game that was cut resumed: no game ended without a verdict.
    assert_eq!(events(&verifier.url, "disputes_unprovable"), 0);
}
