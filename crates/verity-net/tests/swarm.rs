//! Nodes on libp2p's memory transport: a fraud proof published by one node reaches and
//! convicts at every other; a garbage message is refused and counted; a model is
//! found through the DHT and fetched verified against its id; node records are exchanged.

use std::time::Duration;

use verity_net::libp2p::identity::Keypair;
use verity_net::libp2p::Multiaddr;
use verity_net::{spawn, Accepted, Config, Event, Handle, NodeRecord, Role, TransportKind, TOPIC_FRAUD};
use verity_receipt::Signer;

async fn node(port: u64, bootstrap: Vec<Multiaddr>) -> (Handle, tokio::sync::mpsc::UnboundedReceiver<Event>) {
    let keypair = Keypair::generate_ed25519();
    let signer = Signer::from_secret_bytes(&[port as u8 + 1; 32]).unwrap();
    let record = NodeRecord::sign(&signer, keypair.public().to_peer_id(), Role::Both, 1);
    let cfg = Config {
        keypair,
        transport: TransportKind::Memory,
        listen: vec![format!("/memory/{port}").parse().unwrap()],
        bootstrap,
        record: Some(record),
        heartbeat: Duration::from_millis(100),
        bytes_sent: None,
    };
    spawn(cfg).unwrap()
}

async fn wait_for<F: Fn(&Event) -> bool>(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Event>, f: F) -> Event {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = rx.recv().await.expect("network task alive");
            if f(&e) {
                return e;
            }
        }
    })
    .await
    .expect("event within 10 s")
}

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fraud_proofs_spread_and_models_are_fetched_by_id() {
    let base = 7_000_000 + u64::from(std::process::id() % 1000) * 10;
    let addr = |p: u64| -> Multiaddr { format!("/memory/{p}").parse().unwrap() };
    let (a, _ea) = node(base, vec![]).await;
    let (b, mut eb) = node(base + 1, vec![addr(base)]).await;
    let (c, mut ec) = node(base + 2, vec![addr(base + 1)]).await;
    // Let the gossip mesh form (a few heartbeats).
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Garbage on the fraud topic is refused and counted.
    a.publish(TOPIC_FRAUD, vec![1, 2, 3]).await.unwrap();
    wait_for(&mut eb, |e| matches!(e, Event::Rejected { .. })).await;
    assert_eq!(b.book.lock().unwrap().counter("rejected_truncated"), 1);

    let proof = common::cheat_proof();
    a.publish(TOPIC_FRAUD, proof.encode()).await.unwrap();
    for rx in [&mut eb, &mut ec] {
        let e = wait_for(rx, |e| matches!(e, Event::Accepted(Accepted::Conviction(_)))).await;
        let Event::Accepted(Accepted::Conviction(conv)) = e else { unreachable!() };
        assert_eq!(conv.executor, proof.receipt.body.executor);
    }
    for h in [&b, &c] {
        let book = h.book.lock().unwrap();
        assert!(book.is_faulty(&proof.receipt.body.executor));
        assert_eq!(book.counter("fraud_proofs_total"), 1);
    }
    // Gossipsub delivers a message once per node, even a refused one.
    assert!(c.book.lock().unwrap().counter("rejected_truncated") <= 1);

    // A model served by A is found from C through the DHT and fetched, checked by id.
    let model = std::fs::read(format!("{}/../../fixtures/mlp_digits.vrt", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let id = a.serve_model(model.clone()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let providers = c.find_providers(id).await.unwrap();
    assert!(providers.contains(&a.peer_id), "providers {providers:?}");
    assert_eq!(c.fetch_model(a.peer_id, id).await.unwrap(), model);
    assert!(c.fetch_model(a.peer_id, [9; 32]).await.is_err());

    // Node records: C checks B's record against B's peer id.
    let rec = c.fetch_record(b.peer_id).await.unwrap();
    assert_eq!(rec.peer_id, b.peer_id);
    assert_eq!(b.peers().await.unwrap().len(), 2);
}

/// Waits up to 10 s for `f` to hold.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 10 s: {what}");
}

/// Two flooders connected to B: one sends 3000 copies of a valid batch announcement (each a
/// new gossip message), which B checks up to the peer's budget and then ignores unchecked;
/// the other sends 40 invalid messages, and B bans it at its 16th (disconnected, the rest
/// unchecked). Meanwhile A's fraud proof still reaches B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_are_rate_limited_and_invalid_senders_banned() {
    use verity_net::limits::{GOSSIP_BURST, GOSSIP_PER_SECOND, MAX_STRIKES};
    use verity_net::{BatchAnnouncement, TOPIC_BATCHES};
    let base = 7_500_000 + u64::from(std::process::id() % 1000) * 10;
    let addr = |p: u64| -> Multiaddr { format!("/memory/{p}").parse().unwrap() };
    let (a, _ea) = node(base, vec![]).await;
    let (b, mut eb) = node(base + 1, vec![addr(base)]).await;
    let (replayer, _er) = node(base + 2, vec![addr(base + 1)]).await;
    let (garbler, _eg) = node(base + 3, vec![addr(base + 1)]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(b.peers().await.unwrap().contains(&garbler.peer_id));

    let (model, inputs) = common::fixture("mlp_digits");
    let claim = verity_dispute::cheat(&model, &inputs, verity_dispute::Cheat::None).unwrap().unwrap();
    let bodies: Vec<_> = (0..2).map(|i| claim.receipt_body(model.id_bytes(), 1_700_000_000 + i)).collect();
    let receipts = common::signer().sign_batch(&bodies).unwrap();
    let announcement = BatchAnnouncement::from_batch(&receipts, 1).unwrap().encode();
    let flood = 3 * GOSSIP_BURST as usize;
    let start = std::time::Instant::now();
    for _ in 0..flood {
        replayer.publish(TOPIC_BATCHES, announcement.clone()).await.unwrap();
    }
    let count = |name: &str| b.book.lock().unwrap().counter(name);
    until("B has every message of the flood", || {
        count("batches_accepted") + count("rejected_replayed") + count("gossip_rate_limited") == flood as u64
    })
    .await;
    let checked = count("batches_accepted") + count("rejected_replayed");
    let budget = GOSSIP_BURST + GOSSIP_PER_SECOND * start.elapsed().as_secs_f64();
    assert!(count("gossip_rate_limited") > 0 && checked as f64 <= budget, "{checked} of {flood} checked, budget {budget:.0}");
    assert_eq!(count("batches_accepted"), 1);
    assert_eq!(count("peers_banned"), 0, "replays are not strikes");

    for i in 0..40u8 {
        garbler.publish(TOPIC_FRAUD, vec![i; 3]).await.unwrap();
    }
    until("B bans the garbler", || count("peers_banned") == 1).await;
    assert!(count("rejected_truncated") <= MAX_STRIKES as u64, "{} invalid messages checked", count("rejected_truncated"));
    for _ in 0..100 {
        if !b.peers().await.unwrap().contains(&garbler.peer_id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!b.peers().await.unwrap().contains(&garbler.peer_id), "the banned peer is disconnected");
    garbler.dial(addr(base + 1)).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!b.peers().await.unwrap().contains(&garbler.peer_id), "and refused when it dials again");

    // The others keep serving: A's fraud proof convicts at B.
    let proof = common::cheat_proof();
    a.publish(TOPIC_FRAUD, proof.encode()).await.unwrap();
    wait_for(&mut eb, |e| matches!(e, Event::Accepted(Accepted::Conviction(_)))).await;
    assert_eq!(count("peers_banned"), 1);
    println!(
        "B: {checked} of {flood} replays checked, {} ignored past the budget; {} invalid checked before the ban, {} after it unchecked",
        count("gossip_rate_limited"),
        count("rejected_truncated"),
        count("gossip_from_banned")
    );
}
