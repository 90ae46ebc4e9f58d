//! A receipt must bind everything it carries: no tampering, key substitution, signature
//! malleation or replay may yield a receipt that verifies with the original's claims.

mod common;

use verity_receipt::{ClaimField, Claims, EthSignature, Receipt, ReceiptError};

/// Where a flipped receipt was stopped.
#[derive(Debug, Default)]
struct Outcomes {
    decode: usize,
    signature: usize,
}

/// Flips every bit of each receipt (batch proofs included), one at a time.
#[test]
fn every_single_bit_flip_is_rejected() {
    let mut outcomes = Outcomes::default();
    let mut flips = 0;
    for original in common::receipts() {
        let claims = original.body.claims();
        let bytes = original.encode();
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            flips += 1;
            let receipt = match Receipt::decode(&flipped) {
                Err(_) => {
                    outcomes.decode += 1;
                    continue;
                }
                Ok(r) => r,
            };
            // The property asked for: nothing both verifies and carries the original claims.
            assert!(receipt.verify(&claims).is_err(), "bit {bit}: modified receipt verifies with the original claims");
            // In fact every flip breaks the signature, including flips outside the claims.
            assert!(receipt.verify_signature().is_err(), "bit {bit}: modified receipt still verifies");
            outcomes.signature += 1;
        }
    }
    assert_eq!(flips, 8 * (3 * 227 + 2 * (264 + 2 * 32)));
    assert_eq!(outcomes.decode + outcomes.signature, flips);
    eprintln!("{flips} bit flips: {outcomes:?}");
}

#[test]
fn signature_by_another_key_naming_the_first_executor_fails() {
    let (honest, forger) = (common::signer(1), common::signer(2));
    let mut body = common::body(7, verity_receipt::EvidenceKind::Reexecution);
    body.executor = honest.address();
    // The forger signs the exact body that names the honest executor.
    let forged = Receipt { body, signature: forger.sign_hash(&body.signing_hash()), batch: None };
    assert_eq!(
        forged.verify_signature(),
        Err(ReceiptError::WrongSigner { executor: honest.address(), recovered: forger.address() })
    );
    // Same via the encoding, and with the forger's own signed receipt relabelled.
    assert!(Receipt::decode(&forged.encode()).unwrap().verify_signature().is_err());
    let mut relabelled = forger.sign(body);
    relabelled.body.executor = honest.address();
    assert!(matches!(relabelled.verify_signature(), Err(ReceiptError::WrongSigner { .. })));
}

#[test]
fn receipt_replayed_for_another_input_fails_check() {
    let signer = common::signer(3);
    let receipt = signer.sign(common::body(1, verity_receipt::EvidenceKind::Reexecution));
    // A verifier re-ran the model on a different input and got (say) the same output.
    let recomputed = Claims { input_hash: [0xee; 32], ..receipt.body.claims() };
    assert_eq!(receipt.verify_signature(), Ok(()));
    match receipt.verify(&recomputed) {
        Err(ReceiptError::ClaimMismatch { field: ClaimField::InputHash, expected, found }) => {
            assert_eq!(expected, [0xee; 32]);
            assert_eq!(found, receipt.body.input_hash);
        }
        other => panic!("expected an input_hash mismatch, got {other:?}"),
    }
    // Other models and outputs are caught the same way.
    let other_model = Claims { model_id: [0; 32], ..receipt.body.claims() };
    assert!(matches!(receipt.check(&other_model), Err(ReceiptError::ClaimMismatch { field: ClaimField::ModelId, .. })));
    let other_output = Claims { output_hash: [0; 32], ..receipt.body.claims() };
    assert!(matches!(receipt.check(&other_output), Err(ReceiptError::ClaimMismatch { field: ClaimField::OutputHash, .. })));
}

/// secp256k1 group order n, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf,
    0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

fn n_minus(s: &[u8; 32]) -> [u8; 32] {
    let mut out = [0; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        out[i] = d.rem_euclid(256) as u8;
    }
    out
}

/// `(r, n - s, v ^ 1)` is the textbook second valid ECDSA signature of the same message by the
/// same key; accepting it would give one receipt two encodings.
#[test]
fn high_s_twin_signature_is_rejected() {
    for receipt in common::receipts() {
        let sig = receipt.signature;
        let twin = EthSignature { r: sig.r, s: n_minus(&sig.s), v: if sig.v == 27 { 28 } else { 27 } };
        let malleated = Receipt { signature: twin, ..receipt };
        assert_eq!(malleated.verify_signature(), Err(ReceiptError::SignatureHighS));
        assert_eq!(Receipt::decode(&malleated.encode()), Err(ReceiptError::SignatureHighS));
        assert_eq!(Receipt::from_json(&malleated.to_json()), Err(ReceiptError::SignatureHighS));
    }
}

#[test]
fn other_v_recovers_another_key() {
    let receipt = common::receipts().remove(0);
    let mut other = receipt.clone();
    other.signature.v = if receipt.signature.v == 27 { 28 } else { 27 };
    assert!(matches!(other.verify_signature(), Err(ReceiptError::WrongSigner { .. }) | Err(ReceiptError::SignatureRecovery)));
}

#[test]
fn signer_cannot_name_another_executor() {
    let (a, b) = (common::signer(1), common::signer(2));
    let mut body = common::body(1, verity_receipt::EvidenceKind::Zk);
    body.executor = a.address();
    let receipt: Receipt = b.sign(body);
    assert_eq!(receipt.body.executor, b.address());
    assert_eq!(receipt.verify_signature(), Ok(()));
}

/// A batch signature covers each member and nothing else: members verify on their own, and
/// neither another body, another place in the batch, a shortened or re-rooted path, nor the
/// batch digest passed off as an unbatched signature verifies.
#[test]
fn batch_members_verify_alone_and_nothing_else_does() {
    let signer = common::signer(5);
    let bodies: Vec<_> = (0..5).map(|i| common::body(0x70 + i, verity_receipt::EvidenceKind::Reexecution)).collect();
    let batch = signer.sign_batch(&bodies).unwrap();
    assert_eq!(batch.len(), 5);
    for (i, r) in batch.iter().enumerate() {
        assert_eq!(r.verify_signature(), Ok(()), "member {i}");
        assert_eq!(r.batch.as_ref().unwrap().path.len(), 3);
        assert_eq!(Receipt::decode(&r.encode()).as_ref(), Ok(r));
        assert_eq!(Receipt::from_json(&r.to_json()).as_ref(), Ok(r));

        let mut other_body = r.clone();
        other_body.body = batch[(i + 1) % 5].body;
        assert!(other_body.verify_signature().is_err(), "member {i} with a neighbour's body");
        let mut moved = r.clone();
        moved.batch.as_mut().unwrap().index ^= 1;
        assert!(moved.verify_signature().is_err(), "member {i} at another index");
        let mut resalted = r.clone();
        resalted.batch.as_mut().unwrap().salt[0] ^= 1;
        assert!(resalted.verify_signature().is_err(), "member {i} with another salt");
        let mut short = r.clone();
        short.batch.as_mut().unwrap().path.pop();
        assert!(short.verify_signature().is_err(), "member {i} with a shortened path");
        let mut unbatched = r.clone();
        unbatched.batch = None;
        assert!(unbatched.verify_signature().is_err(), "member {i} without its proof");
    }
    // An unbatched receipt does not verify with a batch proof attached.
    let single = signer.sign(bodies[0]);
    let with_proof = Receipt { batch: batch[0].batch.clone(), ..single.clone() };
    assert!(with_proof.verify_signature().is_err());
    // One body alone is signed plainly.
    assert_eq!(signer.sign_batch(&bodies[..1]).unwrap(), vec![single.clone()]);
}

/// For settlement a lone body is a batch of depth 1 beside the zero leaf: it verifies with
/// its proof, and neither without it, at the padding's index, nor as the plain signature.
#[test]
fn a_lone_body_signed_as_a_batch_verifies_only_as_one() {
    let signer = common::signer(7);
    let body = common::body(0x41, verity_receipt::EvidenceKind::Reexecution);
    let [r] = <[Receipt; 1]>::try_from(signer.sign_batch_always(&[body]).unwrap()).unwrap();
    assert_eq!(r.verify_signature(), Ok(()));
    let proof = r.batch.as_ref().unwrap();
    assert_eq!((proof.index, proof.path.clone()), (0, vec![[0u8; 32]]));
    let mut moved = r.clone();
    moved.batch.as_mut().unwrap().index = 1;
    assert!(moved.verify_signature().is_err());
    assert!(Receipt { batch: None, ..r.clone() }.verify_signature().is_err());
    assert!(Receipt { signature: signer.sign(body).signature, ..r.clone() }.verify_signature().is_err());
    // Two bodies or more are batched exactly as by sign_batch.
    let two = signer.sign_batch_always(&[body, body]).unwrap();
    assert!(two.iter().all(|r| r.batch.as_ref().unwrap().path.len() == 1 && r.verify_signature().is_ok()));
}

/// The attack of issue 10: a batched receipt's path carried its sibling's leaf, which was the
/// sibling's signing hash and so its public id. Now no path element, and nothing else a
/// member carries, is another member's signing hash; and two batches of the same bodies get
/// different salts, so leaves cannot be recognised across batches either.
#[test]
fn a_batch_member_carries_no_other_members_id() {
    let signer = common::signer(6);
    let bodies: Vec<_> = (0..8).map(|i| common::body(0x30 + i, verity_receipt::EvidenceKind::Reexecution)).collect();
    let batch = signer.sign_batch(&bodies).unwrap();
    let ids: Vec<[u8; 32]> = batch.iter().map(Receipt::signing_hash).collect();
    for (i, r) in batch.iter().enumerate() {
        let encoded = r.encode();
        for (j, id) in ids.iter().enumerate() {
            if i != j {
                assert!(!encoded.windows(32).any(|w| w == id), "member {i} carries member {j}'s id");
                assert!(!r.to_json().contains(&hex::encode(id)), "member {i}'s JSON carries member {j}'s id");
            }
        }
    }
    let again = signer.sign_batch(&bodies).unwrap();
    for (a, b) in batch.iter().zip(&again) {
        assert_ne!(a.batch.as_ref().unwrap().salt, b.batch.as_ref().unwrap().salt);
        assert!(a.batch.as_ref().unwrap().path.iter().all(|h| !b.batch.as_ref().unwrap().path.contains(h)));
    }
}
