//! The worked example in docs/receipts.md, pinned so the document cannot drift from the code.
//! The same bytes were cross-checked against independent Ethereum tooling (eth-abi's
//! `encode_packed`, eth-keys' signing and recovery, and the documented Solidity library run on
//! an EVM); see the doc.

use verity_receipt::{Claims, EvidenceKind, Receipt, ReceiptBody, Signer};

const KEY: &str = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const ENCODED: &str = concat!(
    "56525452",                                                         // magic
    "01",                                                               // version
    "1111111111111111111111111111111111111111111111111111111111111111", // model_id
    "2222222222222222222222222222222222222222222222222222222222222222", // input_hash
    "3333333333333333333333333333333333333333333333333333333333333333", // output_hash
    "4444444444444444444444444444444444444444444444444444444444444444", // trace_root
    "00",                                                               // evidence
    "2c7536e3605d9c16a7a3d7b1898e529396a65c23",                         // executor
    "000000006553f100",                                                 // timestamp
    "faf2bd7df0b01f711b53edc49952fc85c0f8e8ed8b0dd9f76f82c477623e139b", // r
    "09d0f08ba5ba03f9856baed5d76d15e24a9aa2ea50cd84aae1fa46c694e8998c", // s
    "1c",                                                               // v
);
const SIGNING_HASH: &str = "2c1c11ab62934ec947232ee705a9b703ba70c76d026e71565e7c2d7faf75ec10";
const JSON: &str = r#"{
  "version": 1,
  "model_id": "0x1111111111111111111111111111111111111111111111111111111111111111",
  "input_hash": "0x2222222222222222222222222222222222222222222222222222222222222222",
  "output_hash": "0x3333333333333333333333333333333333333333333333333333333333333333",
  "trace_root": "0x4444444444444444444444444444444444444444444444444444444444444444",
  "evidence": "reexecution",
  "executor": "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
  "timestamp": 1700000000,
  "signature": "0xfaf2bd7df0b01f711b53edc49952fc85c0f8e8ed8b0dd9f76f82c477623e139b09d0f08ba5ba03f9856baed5d76d15e24a9aa2ea50cd84aae1fa46c694e8998c1c"
}"#;

fn example() -> Receipt {
    Signer::from_hex(KEY).unwrap().sign(ReceiptBody {
        model_id: [0x11; 32],
        input_hash: [0x22; 32],
        output_hash: [0x33; 32],
        trace_root: [0x44; 32],
        evidence: EvidenceKind::Reexecution,
        executor: [0; 20],
        timestamp: 1_700_000_000,
    })
}

#[test]
fn documented_example_bytes_hash_and_json() {
    let receipt = example();
    assert_eq!(hex::encode(receipt.encode()), ENCODED);
    assert_eq!(hex::encode(receipt.signing_hash()), SIGNING_HASH);
    assert_eq!(receipt.to_json(), JSON);
    assert_eq!(Receipt::decode(&hex::decode(ENCODED).unwrap()).unwrap(), receipt);
    assert_eq!(Receipt::from_json(JSON).unwrap(), receipt);
    let claims = Claims { model_id: [0x11; 32], input_hash: [0x22; 32], output_hash: [0x33; 32] };
    assert_eq!(receipt.verify(&claims), Ok(()));
}

/// The batched example: the third of three bodies like the one above (timestamps
/// 1700000000..=1700000002), signed as one batch by the same key.
const BATCHED: &str = concat!(
    "5652545201",
    "1111111111111111111111111111111111111111111111111111111111111111",
    "2222222222222222222222222222222222222222222222222222222222222222",
    "3333333333333333333333333333333333333333333333333333333333333333",
    "4444444444444444444444444444444444444444444444444444444444444444",
    "00",
    "2c7536e3605d9c16a7a3d7b1898e529396a65c23",
    "000000006553f102",
    "5f2e7c3cd287f1ba90efbca7b6f5243f0c15cad1b875ddef047a184c96a826ba", // r
    "1a2ca8566255482e3c9658ad0012d6843a69c6766f3d86623e91936f54bbe2fd", // s
    "1b",                                                               // v
    "02",                                                               // depth
    "00000002",                                                         // index
    "0000000000000000000000000000000000000000000000000000000000000000", // path[0]: padding
    "662a50757013b10695b97051823674fe2f623f01404a6261f242d42d15a5f1ff", // path[1]
);
const LEAVES: [&str; 3] = [
    "2c1c11ab62934ec947232ee705a9b703ba70c76d026e71565e7c2d7faf75ec10",
    "00f1f2f5c846ab4cf62fa246b004b0dd1b7f2410f31b651612bc5a55bc01af4c",
    "e0b254172136fe47a9acfca7bff6e9af29ecd85949c8704d988c39864d2cd678",
];
const BATCH_DIGEST: &str = "6f7c73ebae94e7c384b2f211a4c3d8bdacfb790457bf2ece5e4c458f2e3e09c8";

#[test]
fn documented_batch_example() {
    let bodies: Vec<ReceiptBody> = (0..3).map(|i| ReceiptBody { timestamp: 1_700_000_000 + i, ..example().body }).collect();
    let batch = Signer::from_hex(KEY).unwrap().sign_batch(&bodies);
    for (r, leaf) in batch.iter().zip(LEAVES) {
        assert_eq!(hex::encode(r.signing_hash()), leaf);
        assert_eq!(hex::encode(r.signed_digest()), BATCH_DIGEST);
    }
    let receipt = &batch[2];
    assert_eq!(hex::encode(receipt.encode()), BATCHED);
    assert_eq!(Receipt::decode(&hex::decode(BATCHED).unwrap()).as_ref(), Ok(receipt));
    assert_eq!(receipt.verify_signature(), Ok(()));
    let doc = include_str!("../../../docs/receipts.md");
    let json = doc.split("```json\n").nth(2).and_then(|b| b.split("\n```").next()).expect("the second JSON block");
    assert_eq!(receipt.to_json(), json);
    assert!(doc.contains(BATCH_DIGEST) && LEAVES.iter().all(|l| doc.contains(l)));
}
