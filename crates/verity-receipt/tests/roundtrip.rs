//! Sign → verify, and both encodings round-trip exactly, for arbitrary bodies and keys.

mod common;

use proptest::prelude::*;
use verity_receipt::{EvidenceKind, Receipt, ReceiptBody, Signer};

/// Each case generates a key, signs, and recovers twice, so fewer cases than the decoder fuzzers.
const CASES: u32 = 512;

fn arb_body() -> impl Strategy<Value = ReceiptBody> {
    (any::<[[u8; 32]; 4]>(), 0..3usize, any::<[u8; 20]>(), any::<u64>()).prop_map(|(h, kind, executor, timestamp)| ReceiptBody {
        model_id: h[0],
        input_hash: h[1],
        output_hash: h[2],
        trace_root: h[3],
        evidence: EvidenceKind::ALL[kind],
        executor,
        timestamp,
    })
}

fn config() -> ProptestConfig {
    let persistence = prop::test_runner::FileFailurePersistence::WithSource("regressions");
    ProptestConfig { cases: CASES, failure_persistence: Some(Box::new(persistence)), ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sign_verify_and_round_trip(body in arb_body(), secret in any::<[u8; 32]>()) {
        // Rare invalid scalars (0 or >= n) are simply skipped.
        let Ok(signer) = Signer::from_secret_bytes(&secret) else { return Ok(()) };
        let receipt = signer.sign(body);
        prop_assert_eq!(receipt.body.executor, signer.address());
        prop_assert_eq!(receipt.verify(&body.claims()), Ok(()));

        let bytes = receipt.encode();
        let decoded = Receipt::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &receipt);
        prop_assert_eq!(decoded.encode(), bytes);

        let from_json = Receipt::from_json(&receipt.to_json()).unwrap();
        prop_assert_eq!(&from_json, &receipt);
        prop_assert_eq!(from_json.verify_signature(), Ok(()));
    }
}

#[test]
fn every_evidence_kind_round_trips() {
    for receipt in common::receipts() {
        assert_eq!(receipt.verify_signature(), Ok(()));
        assert_eq!(Receipt::decode(&receipt.encode()).unwrap(), receipt);
        assert_eq!(Receipt::from_json(&receipt.to_json()).unwrap(), receipt);
    }
}

#[test]
fn signing_is_deterministic() {
    let (signer, body) = (common::signer(9), common::body(9, EvidenceKind::Dispute));
    assert_eq!(signer.sign(body), signer.sign(body));
}

#[test]
fn receipt_size() {
    assert_eq!(common::receipts()[0].encode().len(), 227);
    assert_eq!(verity_receipt::RECEIPT_LEN, 227);
    assert_eq!(verity_receipt::BODY_LEN, 162);
}
