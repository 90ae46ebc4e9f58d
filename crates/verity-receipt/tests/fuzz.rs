//! Decoder fuzzing: random and mutated inputs must never panic, and no mutation of a valid
//! receipt may decode to a different receipt that still verifies.

mod common;

use std::sync::LazyLock;

use proptest::prelude::*;
use serde_json::Value;
use verity_receipt::{Receipt, RECEIPT_LEN};

/// Cases per property; the seven properties below run 70,000 cases in all.
const CASES: u32 = 10_000;

static VALID: LazyLock<Vec<Receipt>> = LazyLock::new(common::receipts);

/// Decodes and, if that succeeds, verifies: the full path an untrusted receipt takes.
fn decode_and_verify(bytes: &[u8]) -> Option<Receipt> {
    let receipt = Receipt::decode(bytes).ok()?;
    receipt.verify_signature().ok()?;
    Some(receipt)
}

fn json_and_verify(text: &str) -> Option<Receipt> {
    let receipt = Receipt::from_json(text).ok()?;
    receipt.verify_signature().ok()?;
    Some(receipt)
}

#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn arb_edits() -> impl Strategy<Value = Vec<Edit>> {
    // Mostly length-preserving, so that most cases get past the length check.
    let edit = prop_oneof![
        6 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        1 => any::<usize>().prop_map(Edit::Delete),
    ];
    prop::collection::vec(edit, 1..8)
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        match *edit {
            Edit::Set(i, b) if !bytes.is_empty() => {
                let i = i % bytes.len();
                bytes[i] = b;
            }
            Edit::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Edit::Delete(i) if !bytes.is_empty() => {
                bytes.remove(i % bytes.len());
            }
            _ => {}
        }
    }
    bytes
}

/// Arbitrary JSON values (scalars, and shallow arrays/objects of them).
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "0x[0-9a-fA-F]{0,140}".prop_map(Value::from),
        prop::sample::select(vec!["reexecution", "dispute", "zk", "Zk", ""]).prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{0,12}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every field, and `batch`, which is absent from unbatched receipts: replacing it there adds
/// one (any value, `null` included, must then be refused).
const FIELDS: [&str; 10] =
    ["version", "model_id", "input_hash", "output_hash", "trace_root", "evidence", "executor", "timestamp", "signature", "batch"];

fn config() -> ProptestConfig {
    // Failing inputs are saved beside this file (tests/fuzz.regressions) and replayed first.
    let persistence = prop::test_runner::FileFailurePersistence::WithSource("regressions");
    ProptestConfig { cases: CASES, failure_persistence: Some(Box::new(persistence)), ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decode_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2 * RECEIPT_LEN)) {
        let _ = decode_and_verify(&bytes);
    }

    /// Right magic, version and length, a known evidence kind, v in {27, 28} and s < 2^255, so
    /// random fields and random r, s reach public-key recovery instead of stopping at a format check.
    #[test]
    fn decode_random_well_framed_bytes_never_panics(tail in prop::collection::vec(any::<u8>(), RECEIPT_LEN - 5)) {
        let mut bytes = b"VRTR\x02".to_vec();
        bytes.extend_from_slice(&tail);
        bytes[133] %= 3;
        bytes[194] &= 0x7f;
        bytes[226] = 27 + (bytes[226] & 1);
        let _ = decode_and_verify(&bytes);
    }

    #[test]
    fn mutated_encodings_never_panic_nor_verify(which in 0..5usize, edits in arb_edits()) {
        let original = &VALID[which];
        let bytes = apply(original.encode(), &edits);
        if let Some(receipt) = decode_and_verify(&bytes) {
            // Only a no-op mutation (e.g. setting a byte to its own value) may still verify.
            prop_assert_eq!(&receipt, original);
            prop_assert_eq!(bytes, original.encode());
        }
    }

    #[test]
    fn from_json_random_strings_never_panics(text in any::<String>()) {
        let _ = json_and_verify(&text);
    }

    #[test]
    fn mutated_json_never_panics_nor_verifies_altered(which in 0..5usize, edits in arb_edits()) {
        let original = &VALID[which];
        let bytes = apply(original.to_json().into_bytes(), &edits);
        if let Some(receipt) = json_and_verify(&String::from_utf8_lossy(&bytes)) {
            // Whitespace or hex-case edits may still parse, but only to the very same receipt.
            prop_assert_eq!(&receipt, original);
        }
    }

    #[test]
    fn json_with_a_replaced_field_never_panics(which in 0..5usize, field in 0..FIELDS.len(), value in arb_json()) {
        let original = &VALID[which];
        let mut json: Value = serde_json::from_str(&original.to_json()).unwrap();
        json[FIELDS[field]] = value;
        if let Some(receipt) = json_and_verify(&json.to_string()) {
            prop_assert_eq!(&receipt, original);
        }
    }

    /// A batched receipt's salt, index or a path element set to anything: never another
    /// receipt that verifies.
    #[test]
    fn json_with_a_replaced_batch_part_never_verifies_altered(which in 3..5usize, part in 0..3usize, value in arb_json()) {
        let original = &VALID[which];
        let mut json: Value = serde_json::from_str(&original.to_json()).unwrap();
        match part {
            0 => json["batch"]["salt"] = value,
            1 => json["batch"]["index"] = value,
            _ => json["batch"]["path"][0] = value,
        }
        if let Some(receipt) = json_and_verify(&json.to_string()) {
            prop_assert_eq!(&receipt, original);
        }
    }
}
