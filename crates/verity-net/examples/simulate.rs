//! In-process network simulation (not a test): N nodes on libp2p's memory transport,
//! each dialing up to 4 random earlier nodes. Measures how long a receipt-batch
//! announcement and a fraud proof take to be accepted by 99% of the other nodes, and the
//! bytes each node sends (all protocols, Noise and Yamux framing included).
//!
//!     cargo run --release -p verity-net --example simulate -- 10 50 100 200

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use verity_commit::ModelCommitment;
use verity_dispute::{cheat, statement, Challenger, Cheat, Execution, Executor, Party, Player, Referee};
use verity_model::input::{input_names, parse_input_json, quantize_inputs};
use verity_model::{reference, Model};
use verity_net::libp2p::identity::Keypair;
use verity_net::{spawn, Accepted, BatchAnnouncement, Config, Event, FraudProof, TransportKind, TOPIC_BATCHES, TOPIC_FRAUD};
use verity_receipt::{ReceiptBody, Signer};

fn evidence() -> (BatchAnnouncement, FraudProof) {
    let dir = format!("{}/../../fixtures", env!("CARGO_MANIFEST_DIR"));
    let model = Model::decode(&std::fs::read(format!("{dir}/mlp_digits.vrt")).unwrap()).unwrap();
    let text = std::fs::read_to_string(format!("{dir}/mlp_digits.input.json")).unwrap();
    let inputs = quantize_inputs(&model, &parse_input_json(&text, &input_names(&model)).unwrap()).unwrap();
    let signer = Signer::from_secret_bytes(&[7; 32]).unwrap();
    let commitment = ModelCommitment::new(&model);
    let claim = cheat(&model, &inputs, Cheat::Weight).unwrap().unwrap();
    let mut body: ReceiptBody = claim.receipt_body(commitment.root(), 1_700_000_000);
    body.executor = signer.address();
    let bodies: Vec<_> = (0..64).map(|i| ReceiptBody { timestamp: body.timestamp + i, ..body }).collect();
    let batch = BatchAnnouncement::from_batch(&signer.sign_batch(&bodies).unwrap(), 1).unwrap();
    let receipt = signer.sign(body);
    let truth = Execution::new(&model, reference::run_tampered(&model, &inputs, |_, _| {}).unwrap());
    let mut referee = Referee::new(statement(&commitment, &inputs, &receipt).unwrap(), 0, 1000);
    let mut ex = Executor { model: &model, commitment: &commitment, run: &claim.run };
    let mut ch = Challenger { run: &truth };
    let mut moves = Vec::new();
    let nonce = [1; 32];
    let mut signed = 0;
    while let Some(turn) = referee.turn() {
        let p: &mut dyn Player = if turn == Party::Executor { &mut ex } else { &mut ch };
        let mv = p.play(&referee).unwrap();
        referee.apply(turn, &mv, moves.len() as u64 + 1).unwrap();
        moves.push(mv);
        if turn == Party::Executor {
            signed = moves.len();
        }
    }
    let executor_signature = verity_net::sign_transcript(&signer, &receipt.signing_hash(), &nonce, &moves[..signed]);
    let st = referee.statement();
    let proof = FraudProof {
        receipt,
        head: commitment.head_bytes().to_vec(),
        nodes_root: st.nodes_root(),
        input_roots: st.input_roots().to_vec(),
        moves,
        nonce,
        signed_moves: signed as u32,
        executor_signature,
    };
    proof.check().unwrap();
    (batch, proof)
}

/// Publishes `data` from node 0 and returns how long after the publish each other node
/// accepted it (sorted; within 30 s).
async fn spread(
    nodes: &[verity_net::Handle],
    events: &mut [tokio::sync::mpsc::UnboundedReceiver<Event>],
    topic: &'static str,
    data: Vec<u8>,
) -> Vec<Duration> {
    // Until node 0's mesh has formed, gossipsub refuses to publish; keep trying (not counted
    // in the times, which start at the publish that succeeds).
    let waiting = Instant::now();
    while let Err(e) = nodes[0].publish(topic, data.clone()).await {
        assert!(waiting.elapsed() < Duration::from_secs(30), "cannot publish: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if waiting.elapsed() > Duration::from_millis(100) {
        eprintln!("({} nodes: node 0 could publish after {:.1} s)", nodes.len(), waiting.elapsed().as_secs_f64());
    }
    let t = Instant::now();
    let mut times = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for rx in events.iter_mut().skip(1) {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some(Event::Accepted(Accepted::Batch { .. } | Accepted::Conviction(_)))) => {
                    times.push(t.elapsed());
                    break;
                }
                Ok(Some(_)) => continue,
                _ => break,
            }
        }
    }
    times.sort();
    times
}

/// When the fraction `q` of the `others` nodes had accepted, as "12.3 ms", or "not reached".
fn at(times: &[Duration], others: usize, q: f64) -> String {
    let need = ((others as f64 * q).ceil() as usize).max(1);
    times.get(need - 1).map_or("not reached".into(), |t| format!("{:.1} ms", t.as_secs_f64() * 1e3))
}

async fn run(n: usize, seed: u64) {
    let base = 1_000_000 * (n as u64 + 1);
    let mut state = seed;
    let mut rnd = |m: usize| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % m
    };
    let mut nodes = Vec::new();
    let mut events = Vec::new();
    let mut counters = Vec::new();
    for i in 0..n {
        let bootstrap = if i == 0 {
            vec![]
        } else {
            let mut peers: Vec<usize> = (0..4.min(i)).map(|_| rnd(i)).collect();
            peers.sort();
            peers.dedup();
            peers.into_iter().map(|p| format!("/memory/{}", base + p as u64).parse().unwrap()).collect()
        };
        let sent = Arc::new(AtomicU64::new(0));
        let cfg = Config {
            keypair: Keypair::generate_ed25519(),
            transport: TransportKind::Memory,
            listen: vec![format!("/memory/{}", base + i as u64).parse().unwrap()],
            bootstrap,
            record: None,
            heartbeat: Duration::from_millis(200),
            bytes_sent: Some(sent.clone()),
        };
        let (h, rx) = spawn(cfg).unwrap();
        nodes.push(h);
        events.push(rx);
        counters.push(sent);
    }
    // Let the meshes form: 4 s, and longer for large networks, which one process runs on
    // few cores.
    tokio::time::sleep(Duration::from_secs(4.max(n as u64 / 25))).await;
    let before: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let (batch, proof) = evidence();
    let (bsize, fsize) = (batch.encode().len(), proof.encode().len());
    let tb = spread(&nodes, &mut events, TOPIC_BATCHES, batch.encode()).await;
    let tf = spread(&nodes, &mut events, TOPIC_FRAUD, proof.encode()).await;
    let sent: Vec<u64> = counters.iter().zip(&before).map(|(c, b)| c.load(Ordering::Relaxed) - b).collect();
    let mean = sent.iter().sum::<u64>() as f64 / n as f64;
    let max = *sent.iter().max().unwrap();
    let o = n - 1;
    println!(
        "{n:>4} nodes | batch ({bsize} B) 50% {} 99% {} ({}/{o}) | fraud proof ({fsize} B) 50% {} 99% {} ({}/{o}) | sent per node during both: mean {mean:>8.0} B, max {max:>8} B",
        at(&tb, o, 0.5),
        at(&tb, o, 0.99),
        tb.len(),
        at(&tf, o, 0.5),
        at(&tf, o, 0.99),
        tf.len(),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("node counts")).collect();
    for n in if sizes.is_empty() { vec![10, 50, 100, 200] } else { sizes } {
        run(n, 42).await;
    }
}
