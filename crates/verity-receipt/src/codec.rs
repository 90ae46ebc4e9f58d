//! Canonical binary encoding.
//!
//! The body is fixed-width and big-endian so that a Solidity contract reproduces it with
//! `abi.encodePacked(bytes4("VRTR"), uint8(2), modelId, inputHash, outputHash, traceRoot,
//! uint8(evidence), executor, uint64(timestamp))`:
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! |      0 |    4 | magic `b"VRTR"` (`0x56525452`) |
//! |      4 |    1 | format version, `0x02` |
//! |      5 |   32 | `model_id` |
//! |     37 |   32 | `input_hash` |
//! |     69 |   32 | `output_hash` |
//! |    101 |   32 | `trace_root` |
//! |    133 |    1 | `evidence` (0 reexecution, 1 dispute, 2 zk) |
//! |    134 |   20 | `executor` (Ethereum address) |
//! |    154 |    8 | `timestamp`, unix seconds, big-endian u64 |
//! |    162 |      | end of body ([`BODY_LEN`] = 162) |
//!
//! `signing_hash = keccak256(body[0..162])`. The full receipt appends the signature:
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! |    162 |   32 | `r` |
//! |    194 |   32 | `s` (low-s: `s <= n/2`) |
//! |    226 |    1 | `v` (27 or 28) |
//! |    227 |      | end ([`RECEIPT_LEN`] = 227) |
//!
//! A batched receipt (signature over a batch digest, see [`crate::batch`]) continues:
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! |    227 |    1 | `depth`, 1..=20 |
//! |    228 |    4 | `index`, big-endian u32, below 2^depth |
//! |    232 |   32 | `salt` of this receipt's leaf |
//! |    264 | 32·depth | `path`, sibling hashes from the leaf up |

use crate::batch::{BatchProof, MAX_BATCH_DEPTH};
use crate::error::ReceiptError;
use crate::receipt::{EvidenceKind, Receipt, ReceiptBody};
use crate::signature::EthSignature;

/// First four bytes of every receipt; also separates receipt hashes from other signed data.
pub const MAGIC: [u8; 4] = *b"VRTR";
/// The only format version this build reads and writes. Version 1 put unsalted leaves in
/// batch paths, which named other clients' receipts (see [`crate::batch`]); it is refused.
pub const FORMAT_VERSION: u8 = 2;
/// Length of the signed body.
pub const BODY_LEN: usize = 4 + 1 + 32 * 4 + 1 + 20 + 8;
/// Length of `r || s || v`.
pub const SIGNATURE_LEN: usize = 65;
/// Length of a full encoded receipt.
pub const RECEIPT_LEN: usize = BODY_LEN + SIGNATURE_LEN;
/// Length of a batched receipt before its path: depth, index and salt.
pub const BATCH_HEADER_LEN: usize = RECEIPT_LEN + 1 + 4 + 32;

/// Appends fixed-width fields. Only ever fed fixed-size values, so any layout mistake fails
/// every encoding test (overrun panics, underrun trips the debug assertion).
struct Writer<const N: usize> {
    buf: [u8; N],
    pos: usize,
}

impl<const N: usize> Writer<N> {
    fn new() -> Self {
        Writer { buf: [0; N], pos: 0 }
    }

    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    fn finish(self) -> [u8; N] {
        debug_assert_eq!(self.pos, N, "encoder wrote {} of {N} bytes", self.pos);
        self.buf
    }
}

/// Reads fixed-width fields without indexing, so malformed input can only produce errors.
struct Reader<'a> {
    rest: &'a [u8],
    total: usize,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], ReceiptError> {
        let (head, rest) =
            self.rest.split_first_chunk::<N>().ok_or(ReceiptError::Length { expected: RECEIPT_LEN, found: self.total })?;
        self.rest = rest;
        Ok(*head)
    }
}

pub(crate) fn encode_body(body: &ReceiptBody) -> [u8; BODY_LEN] {
    let mut w = Writer::<BODY_LEN>::new();
    w.put(&MAGIC);
    w.put(&[FORMAT_VERSION]);
    w.put(&body.model_id);
    w.put(&body.input_hash);
    w.put(&body.output_hash);
    w.put(&body.trace_root);
    w.put(&[body.evidence.to_u8()]);
    w.put(&body.executor);
    w.put(&body.timestamp.to_be_bytes());
    w.finish()
}

pub(crate) fn encode_receipt(receipt: &Receipt) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        RECEIPT_LEN + receipt.batch.as_ref().map_or(0, |b| BATCH_HEADER_LEN - RECEIPT_LEN + 32 * b.path.len()),
    );
    out.extend_from_slice(&encode_body(&receipt.body));
    out.extend_from_slice(&receipt.signature.to_bytes());
    if let Some(b) = &receipt.batch {
        out.push(b.path.len() as u8);
        out.extend_from_slice(&b.index.to_be_bytes());
        out.extend_from_slice(&b.salt);
        for sibling in &b.path {
            out.extend_from_slice(sibling);
        }
    }
    out
}

pub(crate) fn decode_receipt(bytes: &[u8]) -> Result<Receipt, ReceiptError> {
    // Magic and version are checked before the length so that feeding the wrong kind of file,
    // or a receipt from a future format, gets the more telling error.
    if let Some(magic) = bytes.first_chunk::<4>() {
        if *magic != MAGIC {
            return Err(ReceiptError::Magic { found: *magic });
        }
    }
    if let Some(&version) = bytes.get(4) {
        if version != FORMAT_VERSION {
            return Err(ReceiptError::Version { found: version, supported: FORMAT_VERSION });
        }
    }
    let expected = match bytes.len() {
        RECEIPT_LEN => RECEIPT_LEN,
        n if n < BATCH_HEADER_LEN => return Err(ReceiptError::Length { expected: RECEIPT_LEN, found: n }),
        _ => {
            let depth = usize::from(bytes[RECEIPT_LEN]);
            if !(1..=MAX_BATCH_DEPTH).contains(&depth) {
                return Err(ReceiptError::BatchDepth { found: depth, max: MAX_BATCH_DEPTH });
            }
            BATCH_HEADER_LEN + 32 * depth
        }
    };
    if bytes.len() != expected {
        return Err(ReceiptError::Length { expected, found: bytes.len() });
    }

    let mut r = Reader { rest: bytes, total: bytes.len() };
    let _magic: [u8; 4] = r.take()?;
    let _version: [u8; 1] = r.take()?;
    let model_id = r.take()?;
    let input_hash = r.take()?;
    let output_hash = r.take()?;
    let trace_root = r.take()?;
    let [evidence] = r.take()?;
    let evidence = EvidenceKind::from_u8(evidence)?;
    let executor = r.take()?;
    let timestamp = u64::from_be_bytes(r.take()?);
    let signature = EthSignature::from_bytes(&r.take()?);
    // Rejecting malformed and high-s signatures here keeps the encoding unique: a decoded
    // receipt re-encodes to exactly the input bytes.
    signature.validate()?;
    let batch = if r.rest.is_empty() {
        None
    } else {
        let [depth] = r.take()?;
        let index = u32::from_be_bytes(r.take()?);
        let salt = r.take()?;
        let path = (0..depth).map(|_| r.take()).collect::<Result<Vec<[u8; 32]>, _>>()?;
        let proof = BatchProof { index, salt, path };
        proof.validate()?;
        Some(proof)
    };

    let body = ReceiptBody { model_id, input_hash, output_hash, trace_root, evidence, executor, timestamp };
    Ok(Receipt { body, signature, batch })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_body() -> ReceiptBody {
        ReceiptBody {
            model_id: [0x11; 32],
            input_hash: [0x22; 32],
            output_hash: [0x33; 32],
            trace_root: [0x44; 32],
            evidence: EvidenceKind::Zk,
            executor: [0x55; 20],
            timestamp: 0x0102_0304_0506_0708,
        }
    }

    #[test]
    fn lengths() {
        assert_eq!(BODY_LEN, 162);
        assert_eq!(RECEIPT_LEN, 227);
    }

    /// Pins the documented offsets (codec.rs, docs/receipts.md) to the encoder.
    #[test]
    fn body_layout_matches_documented_offsets() {
        let b = encode_body(&sample_body());
        assert_eq!(&b[0..4], b"VRTR");
        assert_eq!(b[4], 2);
        assert_eq!(b[5..37], [0x11; 32]);
        assert_eq!(b[37..69], [0x22; 32]);
        assert_eq!(b[69..101], [0x33; 32]);
        assert_eq!(b[101..133], [0x44; 32]);
        assert_eq!(b[133], 2);
        assert_eq!(b[134..154], [0x55; 20]);
        assert_eq!(b[154..162], [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn signature_layout_matches_documented_offsets() {
        let receipt =
            Receipt { body: sample_body(), signature: EthSignature { r: [0xaa; 32], s: [0x0b; 32], v: 28 }, batch: None };
        let b = encode_receipt(&receipt);
        assert_eq!(b[..162], encode_body(&receipt.body));
        assert_eq!(b[162..194], [0xaa; 32]);
        assert_eq!(b[194..226], [0x0b; 32]);
        assert_eq!(b[226], 28);
    }

    #[test]
    fn decode_error_order_prefers_magic_then_version() {
        assert_eq!(decode_receipt(b"{\"model_id\"").unwrap_err(), ReceiptError::Magic { found: *b"{\"mo" });
        assert_eq!(decode_receipt(b"VRTR\x03").unwrap_err(), ReceiptError::Version { found: 3, supported: 2 });
        assert_eq!(decode_receipt(b"VRTR\x01").unwrap_err(), ReceiptError::Version { found: 1, supported: 2 });
        assert_eq!(decode_receipt(b"VRTR\x02").unwrap_err(), ReceiptError::Length { expected: 227, found: 5 });
        assert_eq!(decode_receipt(b"VR").unwrap_err(), ReceiptError::Length { expected: 227, found: 2 });
        assert_eq!(decode_receipt(b"").unwrap_err(), ReceiptError::Length { expected: 227, found: 0 });
    }

    #[test]
    fn batched_lengths_follow_the_depth_byte() {
        let receipt = Receipt {
            body: sample_body(),
            signature: EthSignature { r: [0xaa; 32], s: [0x0b; 32], v: 28 },
            batch: Some(BatchProof { index: 2, salt: [9; 32], path: vec![[1; 32], [2; 32]] }),
        };
        let b = encode_receipt(&receipt);
        assert_eq!(b.len(), 264 + 64);
        assert_eq!(b[227], 2);
        assert_eq!(b[228..232], [0, 0, 0, 2]);
        assert_eq!(b[232..264], [9; 32]);
        assert_eq!(b[264..296], [1; 32]);
        assert_eq!(b[296..328], [2; 32]);
        assert_eq!(decode_receipt(&b), Ok(receipt));
        assert_eq!(decode_receipt(&b[..230]), Err(ReceiptError::Length { expected: 227, found: 230 }));
        assert_eq!(decode_receipt(&b[..263]), Err(ReceiptError::Length { expected: 227, found: 263 }));
        assert_eq!(decode_receipt(&b[..300]), Err(ReceiptError::Length { expected: 328, found: 300 }));
        let mut deep = b.clone();
        deep[227] = 21;
        assert_eq!(decode_receipt(&deep), Err(ReceiptError::BatchDepth { found: 21, max: 20 }));
        let mut far = b;
        far[231] = 4;
        assert_eq!(decode_receipt(&far), Err(ReceiptError::BatchIndex { index: 4, depth: 2 }));
    }

    #[test]
    fn decode_rejects_unknown_evidence_kind() {
        let receipt =
            Receipt { body: sample_body(), signature: EthSignature { r: [0xaa; 32], s: [0x0b; 32], v: 28 }, batch: None };
        let mut b = encode_receipt(&receipt);
        b[133] = 3;
        assert_eq!(decode_receipt(&b).unwrap_err(), ReceiptError::EvidenceKind { found: 3 });
    }
}
