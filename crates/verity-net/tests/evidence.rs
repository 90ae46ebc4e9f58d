//! Fraud proofs are checked with the referee alone: a lost game convicts, a tampered
//! transcript or a game against an honest executor does not. Codecs refuse bad input.

mod common;

use common::{cheat_proof, fixture, signer, transcript};
use proptest::prelude::*;
use verity_dispute::{cheat, Cheat, Move, RandomChallenger};
use verity_net::libp2p::identity::Keypair;
use verity_net::{codec, BatchAnnouncement, Book, FraudProof, NetError, NodeRecord, Role};
use verity_receipt::{Receipt, ReceiptBody};

#[test]
fn a_lost_game_convicts_the_executor_everywhere() {
    let proof = cheat_proof();
    let c = proof.check().expect("a valid fraud proof");
    assert_eq!(c.executor, signer().address());
    let bytes = proof.encode();
    assert_eq!(FraudProof::decode(&bytes).unwrap(), proof);
    let mut book = Book::default();
    book.accept_fraud_proof(&bytes).unwrap();
    assert!(book.is_faulty(&signer().address()));
    assert_eq!(book.counter("fraud_proofs_total"), 1);
    assert!(book.metrics(0).contains("verity_fraud_proofs_total 1\n"));
    // The same proof again is a replay: counted, not re-counted as a conviction.
    assert!(matches!(book.accept_fraud_proof(&bytes), Err(NetError::Replayed(_))));
    assert_eq!(book.counter("fraud_proofs_total"), 1);
    assert_eq!(book.counter("rejected_replayed"), 1);
}

#[test]
fn tampered_fraud_proofs_are_refused() {
    let proof = cheat_proof();
    // The game is not over without its last move.
    let mut short = proof.clone();
    short.moves.pop();
    assert!(matches!(short.check(), Err(NetError::InvalidFraudProof(_))));
    // Another executor's signature, or a changed receipt body.
    let mut forged = proof.clone();
    forged.receipt.body.timestamp += 1;
    assert!(forged.check().is_err());
    // Another model head.
    let mut head = proof.clone();
    head.head[0] ^= 1;
    assert!(head.check().is_err());
    // Another game's nonce, or a signature by another key.
    let mut nonce = proof.clone();
    nonce.nonce[0] ^= 1;
    assert!(nonce.check().is_err());
    let mut key = proof.clone();
    key.executor_signature = verity_net::sign_transcript(
        &verity_receipt::Signer::from_secret_bytes(&[8; 32]).unwrap(),
        &proof.receipt.signing_hash(),
        &proof.nonce,
        &proof.moves[..proof.signed_moves as usize],
    );
    assert!(key.check().is_err());
    // Every signed move replaced by every other move of the transcript (moves after the
    // signed prefix are the challenger's own choices).
    for i in 0..proof.signed_moves as usize {
        for j in 0..proof.moves.len() {
            if proof.moves[i] != proof.moves[j] {
                let mut p = proof.clone();
                p.moves[i] = proof.moves[j].clone();
                assert!(p.check().is_err(), "move {i} replaced by move {j} still convicts");
            }
        }
    }
    let mut book = Book::default();
    assert!(book.accept_fraud_proof(&short.encode()).is_err());
    assert_eq!(book.counter("rejected_invalid_fraud_proof"), 1);
    assert!(!book.is_faulty(&signer().address()));
}

/// Without the executor's signature on its moves, a verifier could invent the executor's
/// prefix roots and "convict" an honest executor: the referee alone cannot tell. This
/// builds such a transcript (invented roots posted for the executor, who never played)
/// and checks that it is refused for want of the executor's signature.
#[test]
fn invented_executor_moves_do_not_convict_an_honest_executor() {
    let (model, inputs) = fixture("mlp_digits");
    let honest = transcript(&model, &inputs, Cheat::None, &mut RandomChallenger { state: 1 });
    assert!(honest.check().is_err(), "an honest game convicts nobody");
    // Replace the executor's first prefix root with an invented one and resign as the
    // forger: rejected, whatever the rest of the game.
    let mut forged = honest.clone();
    if let Some(Move::Prefix { root }) = forged.moves.get_mut(1) {
        root[0] ^= 0xff;
    }
    let forger = verity_receipt::Signer::from_secret_bytes(&[9; 32]).unwrap();
    forged.executor_signature = verity_net::sign_transcript(
        &forger,
        &forged.receipt.signing_hash(),
        &forged.nonce,
        &forged.moves[..forged.signed_moves as usize],
    );
    match forged.check() {
        Err(NetError::InvalidFraudProof(m)) => assert!(m.contains("did not sign"), "{m}"),
        other => panic!("a forged transcript was not refused for its signature: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever a verifier answers, a transcript of a game against an honest executor
    /// never convicts it.
    #[test]
    fn an_honest_executor_is_never_convicted(seed in any::<u64>()) {
        let (model, inputs) = fixture("mlp_digits");
        let proof = transcript(&model, &inputs, Cheat::None, &mut RandomChallenger { state: seed });
        prop_assert!(proof.check().is_err());
    }

    #[test]
    fn random_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..600), kind in 0u8..8) {
        // A valid header in front of random bytes reaches the payload parsers too.
        let sealed = codec::Kind::from_u8(kind).map(|k| codec::seal(k, &bytes)).unwrap_or_else(|| bytes.clone());
        for b in [&bytes, &sealed] {
            let _ = FraudProof::decode(b);
            let _ = BatchAnnouncement::decode(b);
            let _ = NodeRecord::decode(b);
            let _ = Move::decode(b);
            let mut book = Book::default();
            let peer = Keypair::generate_ed25519().public().to_peer_id();
            prop_assert!(book.accept_fraud_proof(b).is_err());
            prop_assert!(book.accept_batch(b).is_err());
            prop_assert!(book.accept_record(&peer, b).is_err());
        }
    }
}

#[test]
fn envelopes_refuse_truncated_oversized_and_wrong_version_messages() {
    let proof = cheat_proof().encode();
    let mut book = Book::default();
    for cut in [0, 5, 10, proof.len() / 2, proof.len() - 1] {
        assert!(matches!(FraudProof::decode(&proof[..cut]), Err(NetError::Truncated { .. })), "cut at {cut}");
    }
    let mut v2 = proof.clone();
    v2[4] = 2;
    assert_eq!(FraudProof::decode(&v2), Err(NetError::WrongVersion { found: 2, supported: 1 }));
    let mut huge = proof.clone();
    huge[6..10].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(FraudProof::decode(&huge), Err(NetError::Oversized { .. })));
    let mut trailing = proof.clone();
    trailing.push(0);
    assert!(matches!(FraudProof::decode(&trailing), Err(NetError::Malformed(_))));
    // A batch announcement is not a fraud proof.
    assert!(matches!(FraudProof::decode(&codec::seal(codec::Kind::BatchAnnouncement, &[])), Err(NetError::Malformed(_))));
    for b in [&proof[..9], &v2[..], &huge[..]] {
        assert!(book.accept_fraud_proof(b).is_err());
    }
    assert_eq!(book.counter("rejected_truncated"), 1);
    assert_eq!(book.counter("rejected_wrong_version"), 1);
    assert_eq!(book.counter("rejected_oversized"), 1);
}

fn batch() -> Vec<Receipt> {
    let (model, inputs) = fixture("mlp_digits");
    let claim = cheat(&model, &inputs, Cheat::None).unwrap().unwrap();
    let bodies: Vec<ReceiptBody> = (0..3)
        .map(|i| {
            let mut b = claim.receipt_body(model.id_bytes(), 1_700_000_000 + i);
            b.executor = signer().address();
            b
        })
        .collect();
    signer().sign_batch(&bodies).unwrap()
}

#[test]
fn batch_announcements_are_checked_and_replays_counted() {
    let receipts = batch();
    let a = BatchAnnouncement::from_batch(&receipts, 1).unwrap();
    a.verify().unwrap();
    assert_eq!(a.receipt_ids.len(), 3);
    let mut book = Book::default();
    book.accept_batch(&a.encode()).unwrap();
    assert!(matches!(book.accept_batch(&a.encode()), Err(NetError::Replayed(_))));
    // Claiming another executor, or another root, breaks the signature.
    let mut other = a.clone();
    other.executor[0] ^= 1;
    other.seq = 2;
    assert!(matches!(book.accept_batch(&other.encode()), Err(NetError::BadSignature { .. })));
    let mut root = a.clone();
    root.root[0] ^= 1;
    root.seq = 3;
    assert!(book.accept_batch(&root.encode()).is_err());
    assert_eq!(book.counter("batches_accepted"), 1);
    assert_eq!(book.counter("rejected_bad_signature"), 2);
}

#[test]
fn a_lone_receipt_is_announced_with_depth_zero() {
    let lone = signer().sign(batch()[0].body);
    let a = BatchAnnouncement::from_batch(std::slice::from_ref(&lone), 1).unwrap();
    assert_eq!((a.depth, a.root, a.receipt_ids.clone()), (0, lone.signing_hash(), vec![lone.signing_hash()]));
    a.verify().unwrap();
    assert_eq!(BatchAnnouncement::decode(&a.encode()).unwrap(), a);
    // Depth 0 must list exactly its root, and the signature must be over that root.
    let mut extra = a.clone();
    extra.receipt_ids.push([1; 32]);
    assert!(matches!(extra.verify(), Err(NetError::Malformed(_))));
    let mut other = a.clone();
    other.root[0] ^= 1;
    other.receipt_ids = vec![other.root];
    assert!(matches!(other.verify(), Err(NetError::BadSignature { .. })));
    // Several plainly signed receipts are not one batch.
    assert!(BatchAnnouncement::from_batch(&[lone.clone(), lone], 2).is_err());
}

#[test]
fn node_records_bind_the_peer_id_to_the_executor_key() {
    let key = Keypair::generate_ed25519();
    let peer = key.public().to_peer_id();
    let rec = NodeRecord::sign(&signer(), peer, Role::Executor, 10);
    let bytes = rec.encode();
    let back = NodeRecord::decode(&bytes).unwrap();
    back.verify(&peer).unwrap();
    assert_eq!(back.executor, signer().address());
    // Presented by another peer: refused.
    let thief = Keypair::generate_ed25519().public().to_peer_id();
    assert!(matches!(back.verify(&thief), Err(NetError::BadSignature { .. })));
    // Claiming another executor address, or a changed role or time: the signature fails.
    let mut addr = back.clone();
    addr.executor[3] ^= 1;
    assert!(addr.verify(&peer).is_err());
    let mut role = back.clone();
    role.role = Role::Verifier;
    assert!(role.verify(&peer).is_err());
    let mut book = Book::default();
    book.accept_record(&peer, &bytes).unwrap();
    let older = NodeRecord::sign(&signer(), peer, Role::Both, 9).encode();
    assert!(matches!(book.accept_record(&peer, &older), Err(NetError::Replayed(_))));
    book.accept_record(&peer, &NodeRecord::sign(&signer(), peer, Role::Both, 11).encode()).unwrap();
    assert_eq!(book.records[&peer].role, Role::Both);
}
