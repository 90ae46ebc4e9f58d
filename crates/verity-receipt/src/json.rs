//! JSON form of a receipt: one flat object, every field required, no other field allowed.
//!
//! ```json
//! {
//!   "version": 2,
//!   "model_id": "0x<64 hex>",
//!   "input_hash": "0x<64 hex>",
//!   "output_hash": "0x<64 hex>",
//!   "trace_root": "0x<64 hex>",
//!   "evidence": "reexecution" | "dispute" | "zk",
//!   "executor": "0x<40 hex, EIP-55 checksummed>",
//!   "timestamp": <unix seconds, integer>,
//!   "signature": "0x<130 hex: r || s || v>",
//!   "batch": {"index": <integer>, "salt": "0x<64 hex>", "path": ["0x<64 hex>", ...]}   // only if batch-signed
//! }
//! ```
//!
//! There is deliberately no copy of the binary encoding in it: two representations of the same
//! data could disagree. Hex is written in lowercase (the executor in EIP-55 form) and read in
//! any case, except that a mixed-case executor must carry a correct EIP-55 checksum, so a
//! mistyped address is caught. An unbatched receipt has no `batch` field at all; `"batch":
//! null` is malformed, not a spelling of "unbatched". The accepted set of receipts is exactly
//! that of [`Receipt::decode`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::batch::BatchProof;
use crate::codec::FORMAT_VERSION;
use crate::error::ReceiptError;
use crate::keys::to_checksum_address;
use crate::receipt::{EvidenceKind, Receipt, ReceiptBody};
use crate::signature::EthSignature;

/// Field values stay untyped so that type errors can name their field; serde still rejects
/// missing, unknown and duplicate fields by name.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Receipt", deny_unknown_fields)]
struct ReceiptJson {
    version: Value,
    model_id: Value,
    input_hash: Value,
    output_hash: Value,
    trace_root: Value,
    evidence: Value,
    executor: Value,
    timestamp: Value,
    signature: Value,
    /// Absent for an unbatched receipt. Present means an object, so that `null` is not
    /// silently read as "unbatched".
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    batch: Option<BatchSlot>,
}

/// The `batch` field: written from the proof (fields in encoding order), read as any value
/// and then checked, so that a wrong type gets a message naming `batch`.
enum BatchSlot {
    Written(BatchJson),
    Read(Value),
}

impl Serialize for BatchSlot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            BatchSlot::Written(b) => b.serialize(serializer),
            BatchSlot::Read(v) => v.serialize(serializer),
        }
    }
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BatchSlot>, D::Error> {
    Value::deserialize(d).map(|v| Some(BatchSlot::Read(v)))
}

#[derive(Serialize, Deserialize)]
#[serde(rename = "BatchProof", deny_unknown_fields)]
struct BatchJson {
    index: Value,
    salt: Value,
    path: Value,
}

fn hex_value(bytes: &[u8]) -> Value {
    Value::String(format!("0x{}", hex::encode(bytes)))
}

impl From<&Receipt> for ReceiptJson {
    fn from(r: &Receipt) -> Self {
        let b = &r.body;
        ReceiptJson {
            version: FORMAT_VERSION.into(),
            model_id: hex_value(&b.model_id),
            input_hash: hex_value(&b.input_hash),
            output_hash: hex_value(&b.output_hash),
            trace_root: hex_value(&b.trace_root),
            evidence: b.evidence.as_str().into(),
            executor: to_checksum_address(&b.executor).into(),
            timestamp: b.timestamp.into(),
            signature: hex_value(&r.signature.to_bytes()),
            batch: r.batch.as_ref().map(|b| {
                BatchSlot::Written(BatchJson {
                    index: b.index.into(),
                    salt: hex_value(&b.salt),
                    path: Value::Array(b.path.iter().map(|h| hex_value(h)).collect()),
                })
            }),
        }
    }
}

fn field_err(field: &'static str, reason: impl Into<String>) -> ReceiptError {
    ReceiptError::JsonField { field, reason: reason.into() }
}

fn hex_field<const N: usize>(field: &'static str, value: &Value) -> Result<[u8; N], ReceiptError> {
    let text = value.as_str().ok_or_else(|| field_err(field, format!("expected a 0x-prefixed hex string, found {value}")))?;
    let digits = text.strip_prefix("0x").ok_or_else(|| field_err(field, "missing the 0x prefix"))?;
    if digits.len() != 2 * N {
        return Err(field_err(field, format!("expected {} hex digits after 0x, found {}", 2 * N, digits.chars().count())));
    }
    let mut out = [0; N];
    hex::decode_to_slice(digits, &mut out).map_err(|e| field_err(field, format!("not hexadecimal: {e}")))?;
    Ok(out)
}

fn executor_field(value: &Value) -> Result<[u8; 20], ReceiptError> {
    let address = hex_field::<20>("executor", value)?;
    let text = value.as_str().unwrap_or_default();
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mixed_case = digits.chars().any(|c| c.is_ascii_lowercase()) && digits.chars().any(|c| c.is_ascii_uppercase());
    let checksummed = to_checksum_address(&address);
    if mixed_case && text != checksummed {
        return Err(field_err("executor", format!("EIP-55 checksum mismatch (expected {checksummed}); the address is mistyped")));
    }
    Ok(address)
}

fn batch_proof(slot: BatchSlot) -> Result<BatchProof, ReceiptError> {
    let v = match slot {
        BatchSlot::Read(v) => v,
        BatchSlot::Written(j) => serde_json::to_value(j).map_err(|e| ReceiptError::Json(e.to_string()))?,
    };
    if !v.is_object() {
        return Err(field_err("batch", format!("expected an object, found {v} (an unbatched receipt has no `batch` field)")));
    }
    let j: BatchJson = serde_json::from_value(v).map_err(|e| ReceiptError::Json(format!("`batch`: {e}")))?;
    let salt = hex_field::<32>("batch.salt", &j.salt)?;
    let index = j.index.as_u64().and_then(|i| u32::try_from(i).ok());
    let index = index.ok_or_else(|| field_err("batch.index", format!("expected an integer in 0..2^32, found {}", j.index)))?;
    let items =
        j.path.as_array().ok_or_else(|| field_err("batch.path", format!("expected an array of hashes, found {}", j.path)))?;
    let path = items
        .iter()
        .enumerate()
        .map(|(k, v)| {
            hex_field::<32>("batch.path", v).map_err(|e| match e {
                ReceiptError::JsonField { field, reason } => {
                    ReceiptError::JsonField { field, reason: format!("element {k}: {reason}") }
                }
                other => other,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let proof = BatchProof { index, salt, path };
    proof.validate()?;
    Ok(proof)
}

impl TryFrom<ReceiptJson> for Receipt {
    type Error = ReceiptError;

    fn try_from(j: ReceiptJson) -> Result<Self, ReceiptError> {
        match j.version.as_u64() {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(v) if v <= u64::from(u8::MAX) => {
                return Err(ReceiptError::Version { found: v as u8, supported: FORMAT_VERSION });
            }
            _ => return Err(field_err("version", format!("expected the integer {FORMAT_VERSION}, found {}", j.version))),
        }
        let evidence = match j.evidence.as_str() {
            Some(s) => s.parse::<EvidenceKind>().map_err(|e| field_err("evidence", e))?,
            None => return Err(field_err("evidence", format!("expected a string, found {}", j.evidence))),
        };
        let timestamp = j.timestamp.as_u64().ok_or_else(|| {
            field_err("timestamp", format!("expected an integer in 0..=2^64-1 (unix seconds), found {}", j.timestamp))
        })?;
        let body = ReceiptBody {
            model_id: hex_field("model_id", &j.model_id)?,
            input_hash: hex_field("input_hash", &j.input_hash)?,
            output_hash: hex_field("output_hash", &j.output_hash)?,
            trace_root: hex_field("trace_root", &j.trace_root)?,
            evidence,
            executor: executor_field(&j.executor)?,
            timestamp,
        };
        let signature = EthSignature::from_bytes(&hex_field("signature", &j.signature)?);
        signature.validate()?;
        let batch = j.batch.map(batch_proof).transpose()?;
        Ok(Receipt { body, signature, batch })
    }
}

impl Receipt {
    /// Pretty-printed canonical JSON (see [`crate::json`] for the shape).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&ReceiptJson::from(self)).expect("a struct of JSON values always serializes")
    }

    /// Strict parse of the canonical JSON shape: errors name the missing, unknown, duplicate
    /// or invalid field.
    pub fn from_json(text: &str) -> Result<Self, ReceiptError> {
        let raw: ReceiptJson = serde_json::from_str(text).map_err(|e| ReceiptError::Json(e.to_string()))?;
        Receipt::try_from(raw)
    }
}

/// Lets other crates embed receipts in their own JSON (the node API) with the same shape.
impl Serialize for Receipt {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ReceiptJson::from(self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Receipt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Receipt::try_from(ReceiptJson::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Signer;

    fn receipt() -> Receipt {
        let signer = Signer::from_hex("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318").unwrap();
        signer.sign(ReceiptBody {
            model_id: [0xab; 32],
            input_hash: [0x01; 32],
            output_hash: [0x02; 32],
            trace_root: [0x03; 32],
            evidence: EvidenceKind::Dispute,
            executor: [0; 20],
            timestamp: 1_700_000_000,
        })
    }

    fn edited(f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
        let mut v: Value = serde_json::from_str(&receipt().to_json()).unwrap();
        f(v.as_object_mut().unwrap());
        v.to_string()
    }

    fn err(text: &str) -> String {
        Receipt::from_json(text).unwrap_err().to_string()
    }

    #[test]
    fn shape_is_canonical() {
        let v: Value = serde_json::from_str(&receipt().to_json()).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["evidence", "executor", "input_hash", "model_id", "output_hash", "signature", "timestamp", "trace_root", "version"]
        );
        assert_eq!(v["version"], 2);
        assert_eq!(v["evidence"], "dispute");
        assert_eq!(v["executor"], "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
        assert_eq!(v["timestamp"], 1_700_000_000u64);
        assert_eq!(v["model_id"], format!("0x{}", "ab".repeat(32)));
        assert_eq!(v["signature"].as_str().unwrap().len(), 2 + 130);
    }

    #[test]
    fn round_trip_and_serde_agree() {
        let r = receipt();
        assert_eq!(Receipt::from_json(&r.to_json()).unwrap(), r);
        let via_serde: Receipt = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(via_serde, r);
    }

    #[test]
    fn hex_case_is_free_but_checksum_is_enforced() {
        let upper = edited(|m| {
            let s = m["model_id"].as_str().unwrap().to_uppercase().replacen("0X", "0x", 1);
            m.insert("model_id".into(), s.into());
        });
        assert_eq!(Receipt::from_json(&upper).unwrap(), receipt());
        let lower = edited(|m| {
            m.insert("executor".into(), "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23".into());
        });
        assert_eq!(Receipt::from_json(&lower).unwrap(), receipt());
        let bad = edited(|m| {
            m.insert("executor".into(), "0x2C7536E3605D9C16a7a3D7b1898e529396a65c23".into());
        });
        assert!(err(&bad).contains("`executor`: EIP-55 checksum mismatch"), "{}", err(&bad));
    }

    #[test]
    fn missing_unknown_and_duplicate_fields_are_named() {
        for field in
            ["version", "model_id", "input_hash", "output_hash", "trace_root", "evidence", "executor", "timestamp", "signature"]
        {
            let msg = err(&edited(|m| {
                m.remove(field);
            }));
            assert!(msg.contains(&format!("missing field `{field}`")), "{msg}");
        }
        let msg = err(&edited(|m| {
            m.insert("encoded".into(), "0x00".into());
        }));
        assert!(msg.contains("unknown field `encoded`"), "{msg}");
        let json = receipt().to_json();
        let dup = json.replacen("{", "{\n  \"timestamp\": 5,", 1);
        assert!(err(&dup).contains("duplicate field `timestamp`"), "{}", err(&dup));
    }

    #[test]
    fn invalid_values_name_their_field() {
        let cases: [(&str, Value, &str); 12] = [
            ("model_id", "ab".repeat(32).into(), "`model_id`: missing the 0x prefix"),
            ("input_hash", "0x1234".into(), "`input_hash`: expected 64 hex digits after 0x, found 4"),
            ("output_hash", format!("0x{}", "zz".repeat(32)).into(), "`output_hash`: not hexadecimal"),
            ("trace_root", 5.into(), "`trace_root`: expected a 0x-prefixed hex string"),
            ("executor", "0x1234".into(), "`executor`: expected 40 hex digits"),
            ("evidence", "Zk".into(), "`evidence`: unknown evidence kind \"Zk\""),
            ("evidence", 2.into(), "`evidence`: expected a string"),
            ("timestamp", (-1).into(), "`timestamp`: expected an integer"),
            ("timestamp", 1.5.into(), "`timestamp`: expected an integer"),
            ("timestamp", "1700000000".into(), "`timestamp`: expected an integer"),
            ("version", Value::Null, "`version`: expected the integer 2"),
            ("signature", "0x00".into(), "`signature`: expected 130 hex digits"),
        ];
        for (field, value, expected) in cases {
            let msg = err(&edited(|m| {
                m.insert(field.into(), value);
            }));
            assert!(msg.contains(expected), "{field}: {msg}");
        }
        let msg = err(&edited(|m| {
            m.insert("version".into(), 3.into());
        }));
        assert!(msg.contains("unsupported receipt format version 3"), "{msg}");
        let msg = err(&edited(|m| {
            m.insert("version".into(), 1.into());
        }));
        assert!(msg.contains("unsupported receipt format version 1") && msg.contains("withdrawn"), "{msg}");
    }

    #[test]
    fn batch_proofs_round_trip_and_bad_ones_are_named() {
        let signer = Signer::from_secret_bytes(&[9; 32]).unwrap();
        let batch = signer.sign_batch(&[receipt().body, ReceiptBody { timestamp: 1, ..receipt().body }]).unwrap();
        let json = batch[1].to_json();
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["batch"]["index"], 1);
        assert_eq!(v["batch"]["path"].as_array().unwrap().len(), 1);
        assert_eq!(v["batch"]["salt"], format!("0x{}", hex::encode(batch[1].batch.as_ref().unwrap().salt)));
        assert_eq!(Receipt::from_json(&json).unwrap(), batch[1]);
        assert!(receipt().to_json().find("batch").is_none(), "an unbatched receipt has no batch field");
        let with = |batch: Value| {
            let mut v = v.clone();
            v["batch"] = batch;
            err(&v.to_string())
        };
        let h = format!("0x{}", "00".repeat(32));
        for (batch, expected) in [
            (serde_json::json!({"index": -1, "salt": h, "path": [h]}), "`batch.index`: expected an integer"),
            (serde_json::json!({"index": 0, "salt": h, "path": h}), "`batch.path`: expected an array"),
            (serde_json::json!({"index": 0, "salt": h, "path": [h, "0x12"]}), "`batch.path`: element 1: expected 64 hex digits"),
            (serde_json::json!({"index": 2, "salt": h, "path": [h]}), "batch index 2 does not fit a batch of depth 1"),
            (serde_json::json!({"index": 0, "salt": h, "path": []}), "batch proof has 0 levels"),
            (serde_json::json!({"index": 0, "salt": h}), "missing field `path`"),
            (serde_json::json!({"index": 0, "path": [h]}), "missing field `salt`"),
            (serde_json::json!({"index": 0, "salt": "0x12", "path": [h]}), "`batch.salt`: expected 64 hex digits"),
            (serde_json::json!({"index": 0, "salt": h, "path": [h], "root": h}), "unknown field `root`"),
            (Value::Null, "`batch`: expected an object, found null"),
            (serde_json::json!([h]), "`batch`: expected an object"),
        ] {
            let msg = with(batch);
            assert!(msg.contains(expected), "{msg}");
        }
    }

    #[test]
    fn malformed_signature_is_rejected_like_decode() {
        let mut r = receipt();
        r.signature.v = 1;
        assert_eq!(Receipt::from_json(&r.to_json()), Err(ReceiptError::SignatureV { found: 1 }));
    }

    #[test]
    fn not_an_object() {
        for text in ["", "[]", "null", "\"receipt\"", "{", "{} {}"] {
            assert!(matches!(Receipt::from_json(text), Err(ReceiptError::Json(_))), "{text:?}");
        }
        assert!(err(&format!("{} trailing", receipt().to_json())).contains("trailing characters"));
    }
}
