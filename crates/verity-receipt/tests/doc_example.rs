//! The worked example in docs/receipts.md, pinned so the document cannot drift from the code.
//! The same bytes were cross-checked against independent Ethereum tooling (eth-abi's
//! `encode_packed`, eth-keys' signing and recovery, and the documented Solidity library run on
//! an EVM); see the doc.

use verity_receipt::{Claims, EvidenceKind, Receipt, ReceiptBody, Signer};

const KEY: &str = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const ENCODED: &str = concat!(
    "56525452",                                                         // magic
    "02",                                                               // version
    "1111111111111111111111111111111111111111111111111111111111111111", // model_id
    "2222222222222222222222222222222222222222222222222222222222222222", // input_hash
    "3333333333333333333333333333333333333333333333333333333333333333", // output_hash
    "4444444444444444444444444444444444444444444444444444444444444444", // trace_root
    "00",                                                               // evidence
    "2c7536e3605d9c16a7a3d7b1898e529396a65c23",                         // executor
    "000000006553f100",                                                 // timestamp
    "5d95a54a369e9f007778f81451fcfd2cb9db24b8fe9d7b2d7adb7b7f039c7ae8", // r
    "4aa8a784d766219326c6505350413f443eadf81296a30292d1e2d6955e473442", // s
    "1b",                                                               // v
);
const SIGNING_HASH: &str = "65858925b7cce873d0c39f3195114017be895b2236b83afa44b9cf894d768a27";
const JSON: &str = r#"{
  "version": 2,
  "model_id": "0x1111111111111111111111111111111111111111111111111111111111111111",
  "input_hash": "0x2222222222222222222222222222222222222222222222222222222222222222",
  "output_hash": "0x3333333333333333333333333333333333333333333333333333333333333333",
  "trace_root": "0x4444444444444444444444444444444444444444444444444444444444444444",
  "evidence": "reexecution",
  "executor": "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
  "timestamp": 1700000000,
  "signature": "0x5d95a54a369e9f007778f81451fcfd2cb9db24b8fe9d7b2d7adb7b7f039c7ae84aa8a784d766219326c6505350413f443eadf81296a30292d1e2d6955e4734421b"
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
/// 1700000000..=1700000002), signed as one batch by the same key with salts 32 × 0xa0,
/// 32 × 0xa1 and 32 × 0xa2 (fixed here only so the example can be pinned; the node draws
/// them from the operating system's random number generator).
const BATCHED: &str = concat!(
    "5652545202",
    "1111111111111111111111111111111111111111111111111111111111111111",
    "2222222222222222222222222222222222222222222222222222222222222222",
    "3333333333333333333333333333333333333333333333333333333333333333",
    "4444444444444444444444444444444444444444444444444444444444444444",
    "00",
    "2c7536e3605d9c16a7a3d7b1898e529396a65c23",
    "000000006553f102",
    "f454d765d169a7d62db18de273d9f292007e101a4aed795f36d2ed6ffaa301e6", // r
    "0af403171edbb9e2ecc3ab0d394629f5e860c35209ab0f782c3d96f3136bfca3", // s
    "1b",                                                               // v
    "02",                                                               // depth
    "00000002",                                                         // index
    "a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2", // salt
    "0000000000000000000000000000000000000000000000000000000000000000", // path[0]: padding
    "1dce3d9394397ce2d0e66fe11fe3fd5355bcb74482c72b39fead7af6d05a3dae", // path[1]
);
const SIGNING_HASHES: [&str; 3] = [
    "65858925b7cce873d0c39f3195114017be895b2236b83afa44b9cf894d768a27",
    "13db57da04337324d4aef44277740bf2d742bfbe50186f44bb31726416d14b96",
    "deaf0226b435faf622304479138c3432fd47cea98116779c310d19b46b340d7c",
];
const LEAVES: [&str; 3] = [
    "f77873c782f46108f7f83ac3fcfc993a640313624c309ed3ef754ae49b19593c",
    "d6bb483874a8978228109d6c177431e10b1487f972ef9d0114e227d44177b462",
    "8670c3603f47db7ed13bd6f444ac266ba087b8f2bfc31868dd83c3834ba3ef91",
];
const SALTS: [[u8; 32]; 3] = [[0xa0; 32], [0xa1; 32], [0xa2; 32]];
const BATCH_DIGEST: &str = "445e949dd577c2ba8e966fe0ca2e7ac03fbdb899c02e3318be6394c8d63ed43a";

#[test]
fn documented_batch_example() {
    let bodies: Vec<ReceiptBody> = (0..3).map(|i| ReceiptBody { timestamp: 1_700_000_000 + i, ..example().body }).collect();
    let batch = Signer::from_hex(KEY).unwrap().sign_batch_salted(&bodies, &SALTS);
    for (i, r) in batch.iter().enumerate() {
        assert_eq!(hex::encode(r.signing_hash()), SIGNING_HASHES[i]);
        assert_eq!(hex::encode(verity_receipt::batch_leaf(&SALTS[i], &r.signing_hash())), LEAVES[i]);
        assert_eq!(hex::encode(r.signed_digest()), BATCH_DIGEST);
    }
    let receipt = &batch[2];
    assert_eq!(hex::encode(receipt.encode()), BATCHED);
    assert_eq!(Receipt::decode(&hex::decode(BATCHED).unwrap()).as_ref(), Ok(receipt));
    assert_eq!(receipt.verify_signature(), Ok(()));
    let doc = include_str!("../../../docs/receipts.md");
    let json = doc.split("```json\n").nth(2).and_then(|b| b.split("\n```").next()).expect("the second JSON block");
    assert_eq!(receipt.to_json(), json);
    assert!(doc.contains(BATCH_DIGEST) && LEAVES.iter().chain(&SIGNING_HASHES).all(|l| doc.contains(l)));
    // The path names no other member: neither its signing hash nor the unsalted form.
    for other in &SIGNING_HASHES[..2] {
        assert!(!BATCHED.contains(other));
    }
}
