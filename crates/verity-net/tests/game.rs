//! The dispute game over request-response: a challenger drives, a stateless executor
//! answers each step by replaying the game. A cheating executor loses and the transcript
//! is a fraud proof any peer checks; an honest one wins; a silent or refusing one loses
//! without a proof. Random challengers never beat an honest executor step by step, and
//! nonsense steps are refused, never answered with a move.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use verity_commit::ModelCommitment;
use verity_dispute::{cheat, statement, Cheat, Execution, Executor, Move, Party, Player, RandomChallenger, Referee};
use verity_model::{reference, Model, Tensor};
use verity_net::forward::{self, decode_move_answer, DisputeStep};
use verity_net::game::{challenge, executor_step, Case, Outcome};
use verity_net::libp2p::identity::Keypair;
use verity_net::libp2p::Multiaddr;
use verity_net::{spawn, Config, Handle, NodeRecord, Role, TransportKind};
use verity_receipt::{Receipt, Signer};

mod common;

use common::{fixture, signer};

struct Setup {
    model: Model,
    inputs: Vec<Tensor>,
    commitment: ModelCommitment,
    truth: Execution,
    /// Receipt id → (receipt, the execution its executor committed to).
    claims: HashMap<[u8; 32], (Receipt, Execution)>,
}

fn setup() -> (Setup, Receipt, Receipt) {
    let (model, inputs) = fixture("mlp_digits");
    let commitment = ModelCommitment::new(&model);
    let truth = Execution::new(&model, reference::run_tampered(&model, &inputs, |_, _| {}).unwrap());
    let mut claims = HashMap::new();
    let mut receipt_for = |kind: Cheat| {
        let claim = cheat(&model, &inputs, kind).unwrap().unwrap();
        let receipt = signer().sign(claim.receipt_body(commitment.root(), 1_700_000_000));
        claims.insert(receipt.signing_hash(), (receipt.clone(), claim.run));
        receipt
    };
    let cheated = receipt_for(Cheat::Weight);
    let honest = receipt_for(Cheat::None);
    (Setup { model, inputs, commitment, truth, claims }, cheated, honest)
}

/// The executor's answer to one step, as a node computes it.
fn answer(s: &Setup, body: &[u8]) -> Result<(Move, verity_receipt::EthSignature), String> {
    let step = DisputeStep::decode(body).map_err(|e| e.to_string())?;
    let (receipt, run) = s.claims.get(&step.receipt_id).ok_or("unknown receipt")?;
    let st = statement(&s.commitment, &s.inputs, receipt).map_err(|e| e.to_string())?;
    let mut player = Executor { model: &s.model, commitment: &s.commitment, run };
    executor_step(st, &mut player, &step, &signer()).map_err(|e| e.to_string())
}

async fn node(port: u64, bootstrap: Vec<Multiaddr>, key: &Signer) -> Handle {
    let keypair = Keypair::generate_ed25519();
    let record = NodeRecord::sign(key, keypair.public().to_peer_id(), Role::Both, 1);
    let cfg = Config {
        keypair,
        transport: TransportKind::Memory,
        listen: vec![format!("/memory/{port}").parse().unwrap()],
        bootstrap,
        record: Some(record),
        heartbeat: Duration::from_millis(100),
        bytes_sent: None,
    };
    spawn(cfg).unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn games_over_the_network_convict_cheaters_only() {
    let (s, cheated, honest) = setup();
    let s = Arc::new(s);
    let base = 7_500_000 + u64::from(std::process::id() % 1000) * 10;
    let ex = node(base, vec![], &signer()).await;
    let ch =
        node(base + 1, vec![format!("/memory/{base}").parse().unwrap()], &Signer::from_secret_bytes(&[9; 32]).unwrap()).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<verity_net::Inbound>(16);
    ex.serve_requests(tx).unwrap();
    let served = s.clone();
    tokio::spawn(async move {
        while let Some(req) = rx.recv().await {
            let resp = match answer(&served, &req.body) {
                Ok((mv, sig)) => forward::ok(&forward::encode_move_answer(&mv, &sig)),
                Err(e) => forward::refused(400, &e),
            };
            let _ = req.reply.send(resp);
        }
    });
    tokio::time::timeout(Duration::from_secs(10), async {
        while !ch.peers().await.unwrap().contains(&ex.peer_id) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("connected within 10 s");

    let case = |r| Case { commitment: &s.commitment, inputs: &s.inputs, receipt: r, truth: &s.truth };
    let t = Duration::from_secs(5);
    match challenge(&ch, ex.peer_id, case(&cheated), [1; 32], t).await.unwrap() {
        Outcome::Convicted(proof) => {
            let c = proof.check().expect("a checkable fraud proof");
            assert_eq!(c.executor, signer().address());
            // It travels: decoded from its bytes it still convicts.
            assert!(verity_net::FraudProof::decode(&proof.encode()).unwrap().check().is_ok());
        }
        _ => panic!("the cheater was not convicted"),
    }
    assert!(matches!(challenge(&ch, ex.peer_id, case(&honest), [2; 32], t).await.unwrap(), Outcome::ExecutorWon(_)));

    // An executor that refuses (here: does not know the receipt) loses without a proof.
    let mut unknown = cheated.clone();
    unknown.body.timestamp += 1;
    let unknown = signer().sign(unknown.body);
    assert!(matches!(challenge(&ch, ex.peer_id, case(&unknown), [3; 32], t).await.unwrap(), Outcome::Unprovable(_)));
}

/// Plays the challenger `p` in-process against `executor_step` (the executor's network
/// side), returning the winner.
fn play_steps(s: &Setup, receipt: &Receipt, p: &mut dyn Player) -> Option<Party> {
    let mut referee = Referee::new(statement(&s.commitment, &s.inputs, receipt).unwrap(), 0, u64::MAX / 4);
    let (mut mine, mut execs) = (Vec::new(), 0u32);
    let nonce = [4; 32];
    let mut now = 0;
    while let Some(turn) = referee.turn() {
        now += 1;
        if turn == Party::Challenger {
            let mv = p.play(&referee)?;
            referee.apply(turn, &mv, now).ok()?;
            mine.push(mv);
        } else {
            let step =
                DisputeStep { receipt_id: receipt.signing_hash(), nonce, executor_moves: execs, challenger_moves: mine.clone() };
            let env = step.encode();
            let body = &env[verity_net::codec::HEADER_LEN..];
            let (mv, _) = answer(s, body).expect("an honest executor answers every legal step");
            referee.apply(turn, &mv, now).expect("the executor's move is legal");
            execs += 1;
        }
    }
    referee.verdict().map(|v| v.winner)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Whatever a (random) verifier plays, an honest executor answering step by step wins.
    #[test]
    fn random_challengers_never_beat_an_honest_executor(seed in any::<u64>()) {
        let (s, _, honest) = setup();
        let winner = play_steps(&s, &honest, &mut RandomChallenger { state: seed });
        prop_assert_ne!(winner, Some(Party::Challenger));
    }

    /// Steps with arbitrary challenger moves are refused or answered with a legal move,
    /// never a panic.
    #[test]
    fn arbitrary_steps_are_refused_or_legal(moves in proptest::collection::vec((0u8..3, any::<u32>()), 0..12), execs in 0u32..20) {
        let (s, cheated, _) = setup();
        let challenger_moves = moves.iter().map(|&(k, x)| match k {
            0 => Move::Respond { agree: x % 2 == 0 },
            1 => Move::Choose { right: x % 2 == 0 },
            _ => Move::Element { offset: x % 300 },
        }).collect();
        let step = DisputeStep { receipt_id: cheated.signing_hash(), nonce: [5; 32], executor_moves: execs, challenger_moves };
        let env = step.encode();
        if let Ok((mv, sig)) = answer(&s, &env[verity_net::codec::HEADER_LEN..]) {
            // The answer decodes as sent on the wire.
            let data = forward::encode_move_answer(&mv, &sig);
            prop_assert_eq!(decode_move_answer(&data).unwrap().0, mv);
        }
    }
}
