//! The receipt: what an executor claims to have computed, signed with its key.

use std::fmt;
use std::str::FromStr;

use crate::batch::BatchProof;
use crate::codec::{self, BODY_LEN};
use crate::error::ReceiptError;
use crate::keys::keccak256;
use crate::signature::EthSignature;

/// Which kind of evidence backs the receipt (see DESIGN.md, "Three kinds of evidence").
/// The discriminant is the byte in the encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EvidenceKind {
    /// The verifier re-runs the canonical model and compares hashes.
    Reexecution = 0,
    /// The executor answers a bisection dispute over the trace.
    Dispute = 1,
    /// A zero-knowledge proof accompanies the receipt.
    Zk = 2,
}

impl EvidenceKind {
    pub const ALL: [EvidenceKind; 3] = [EvidenceKind::Reexecution, EvidenceKind::Dispute, EvidenceKind::Zk];

    pub const fn to_u8(self) -> u8 {
        self as u8
    }

    pub fn from_u8(byte: u8) -> Result<Self, ReceiptError> {
        Self::ALL.into_iter().find(|k| k.to_u8() == byte).ok_or(ReceiptError::EvidenceKind { found: byte })
    }

    /// The JSON spelling: `"reexecution"`, `"dispute"` or `"zk"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::Reexecution => "reexecution",
            EvidenceKind::Dispute => "dispute",
            EvidenceKind::Zk => "zk",
        }
    }
}

impl fmt::Display for EvidenceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EvidenceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown evidence kind {s:?} (expected \"reexecution\", \"dispute\" or \"zk\")"))
    }
}

/// The signed part of a receipt. Its canonical encoding is [`ReceiptBody::encode`]; the
/// layout is documented in the crate root and in `docs/receipts.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReceiptBody {
    pub model_id: [u8; 32],
    pub input_hash: [u8; 32],
    pub output_hash: [u8; 32],
    pub trace_root: [u8; 32],
    pub evidence: EvidenceKind,
    /// Ethereum address of the signing key.
    pub executor: [u8; 20],
    /// Unix seconds.
    pub timestamp: u64,
}

impl ReceiptBody {
    /// The 162-byte canonical encoding (`abi.encodePacked` of the fields, see [`crate::codec`]).
    pub fn encode(&self) -> [u8; BODY_LEN] {
        codec::encode_body(self)
    }

    /// `keccak256(encode())`, the 32-byte message the executor signs.
    pub fn signing_hash(&self) -> [u8; 32] {
        keccak256(&self.encode())
    }

    /// The parts of the body a verifier recomputes.
    pub fn claims(&self) -> Claims {
        Claims { model_id: self.model_id, input_hash: self.input_hash, output_hash: self.output_hash }
    }
}

/// A signed receipt.
///
/// Decoding ([`Receipt::decode`], [`Receipt::from_json`]) checks only the format; call
/// [`Receipt::verify_signature`] to authenticate it and [`Receipt::check`] to compare it with
/// what the verifier computed, or [`Receipt::verify`] for both.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Receipt {
    pub body: ReceiptBody,
    pub signature: EthSignature,
    /// Present when the signature is over a batch of receipts (see [`crate::batch`]).
    pub batch: Option<BatchProof>,
}

/// What a verifier recomputed independently and expects a receipt to claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Claims {
    pub model_id: [u8; 32],
    pub input_hash: [u8; 32],
    pub output_hash: [u8; 32],
}

/// The claim that did not match in a [`ReceiptError::ClaimMismatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClaimField {
    ModelId,
    InputHash,
    OutputHash,
}

impl ClaimField {
    pub const fn as_str(self) -> &'static str {
        match self {
            ClaimField::ModelId => "model_id",
            ClaimField::InputHash => "input_hash",
            ClaimField::OutputHash => "output_hash",
        }
    }
}

impl fmt::Display for ClaimField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Receipt {
    /// `keccak256` of the body: the receipt's id, and the hash an unbatched signature is over.
    pub fn signing_hash(&self) -> [u8; 32] {
        self.body.signing_hash()
    }

    /// The hash the signature is over: the signing hash, or for a batched receipt the batch
    /// digest its proof leads to.
    pub fn signed_digest(&self) -> [u8; 32] {
        let leaf = self.signing_hash();
        self.batch.as_ref().map_or(leaf, |b| b.digest(&leaf))
    }

    /// The canonical encoding: body (162 bytes) || r || s || v, 227 bytes, then for a batched
    /// receipt depth (1 byte) || index (4 bytes) || path (32 bytes per level).
    pub fn encode(&self) -> Vec<u8> {
        codec::encode_receipt(self)
    }

    /// Parses the canonical encoding. Rejects a wrong magic, version or length, an unknown
    /// evidence kind and a malformed signature (v not 27/28, r or s out of range, high s).
    /// Does not check who signed: see [`Receipt::verify_signature`].
    pub fn decode(bytes: &[u8]) -> Result<Self, ReceiptError> {
        codec::decode_receipt(bytes)
    }

    /// Checks that the signature is well formed and was made by `executor` over this body
    /// (directly, or over a batch the body is in).
    pub fn verify_signature(&self) -> Result<(), ReceiptError> {
        if let Some(b) = &self.batch {
            b.validate()?;
        }
        let recovered = self.signature.recover_address(&self.signed_digest())?;
        if recovered != self.body.executor {
            return Err(ReceiptError::WrongSigner { executor: self.body.executor, recovered });
        }
        Ok(())
    }

    /// Compares the claimed model, input and output hashes with what the verifier computed;
    /// the error names the first field (in that order) that differs.
    pub fn check(&self, expected: &Claims) -> Result<(), ReceiptError> {
        let pairs = [
            (ClaimField::ModelId, expected.model_id, self.body.model_id),
            (ClaimField::InputHash, expected.input_hash, self.body.input_hash),
            (ClaimField::OutputHash, expected.output_hash, self.body.output_hash),
        ];
        match pairs.into_iter().find(|(_, expected, found)| expected != found) {
            Some((field, expected, found)) => Err(ReceiptError::ClaimMismatch { field, expected, found }),
            None => Ok(()),
        }
    }

    /// [`Receipt::verify_signature`] then [`Receipt::check`].
    pub fn verify(&self, expected: &Claims) -> Result<(), ReceiptError> {
        self.verify_signature()?;
        self.check(expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Signer;

    fn body() -> ReceiptBody {
        ReceiptBody {
            model_id: [1; 32],
            input_hash: [2; 32],
            output_hash: [3; 32],
            trace_root: [4; 32],
            evidence: EvidenceKind::Reexecution,
            executor: [0; 20],
            timestamp: 1_700_000_000,
        }
    }

    fn signer() -> Signer {
        Signer::from_secret_bytes(&[7; 32]).unwrap()
    }

    #[test]
    fn evidence_kind_bytes_and_names() {
        for (kind, byte, name) in
            [(EvidenceKind::Reexecution, 0, "reexecution"), (EvidenceKind::Dispute, 1, "dispute"), (EvidenceKind::Zk, 2, "zk")]
        {
            assert_eq!(kind.to_u8(), byte);
            assert_eq!(EvidenceKind::from_u8(byte), Ok(kind));
            assert_eq!(name.parse::<EvidenceKind>(), Ok(kind));
            assert_eq!(kind.to_string(), name);
        }
        assert_eq!(EvidenceKind::from_u8(3), Err(ReceiptError::EvidenceKind { found: 3 }));
        assert!("Zk".parse::<EvidenceKind>().is_err());
    }

    #[test]
    fn sign_sets_executor_and_verifies() {
        let signer = signer();
        let receipt = signer.sign(body());
        assert_eq!(receipt.body.executor, signer.address());
        assert_eq!(receipt.verify_signature(), Ok(()));
        assert_eq!(receipt.verify(&body().claims()), Ok(()));
    }

    #[test]
    fn binary_round_trip_is_exact() {
        let receipt = signer().sign(body());
        let bytes = receipt.encode();
        assert_eq!(bytes.len(), 227);
        let decoded = Receipt::decode(&bytes).unwrap();
        assert_eq!(decoded, receipt);
        assert_eq!(decoded.encode(), bytes);
    }

    #[test]
    fn check_names_the_first_mismatching_field() {
        let receipt = signer().sign(body());
        let claims = body().claims();
        for (field, edit) in [
            (ClaimField::ModelId, (|c: &mut Claims| c.model_id[0] ^= 1) as fn(&mut Claims)),
            (ClaimField::InputHash, |c: &mut Claims| c.input_hash[31] ^= 0x80),
            (ClaimField::OutputHash, |c: &mut Claims| c.output_hash[5] = 0),
        ] {
            let mut expected = claims;
            edit(&mut expected);
            match receipt.check(&expected) {
                Err(ReceiptError::ClaimMismatch { field: f, expected: e, found }) => {
                    assert_eq!(f, field);
                    assert_ne!(e, found);
                }
                other => panic!("expected a {field} mismatch, got {other:?}"),
            }
        }
        let msg = receipt.check(&Claims { output_hash: [9; 32], ..claims }).unwrap_err().to_string();
        assert!(msg.contains("output_hash") && msg.contains(&hex::encode([9u8; 32])), "{msg}");
    }

    #[test]
    fn tampered_body_fails_signature() {
        let mut receipt = signer().sign(body());
        receipt.body.timestamp += 1;
        assert!(matches!(receipt.verify_signature(), Err(ReceiptError::WrongSigner { .. })));
    }
}
