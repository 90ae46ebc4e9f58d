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
