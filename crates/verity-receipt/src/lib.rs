//! Signed execution receipts.
//!
//! A [`Receipt`] is an executor's signed statement "model `model_id` on input `input_hash`
//! produced `output_hash`, with trace root `trace_root`, backed by `evidence`". The executor is
//! identified by an Ethereum address and signs with secp256k1, so a smart contract can check a
//! receipt with `ecrecover`.
//!
//! An unbatched receipt encodes to exactly [`RECEIPT_LEN`] = 227 bytes: a 162-byte body
//! (`"VRTR"`, version 2, then the fields big-endian, i.e. Solidity's `abi.encodePacked`)
//! followed by the signature `r || s || v`. The signature is over `keccak256(body)` with no
//! EIP-191 prefix, so a contract verifies with `ecrecover(hash, v, r, s) == executor`.
//! Byte offsets are in [`codec`]; the full specification, with a Solidity verifier and a
//! worked example, is `docs/receipts.md`.
//!
//! A busy executor may instead sign the Merkle root of many bodies once ([`Signer::sign_batch`]);
//! each such receipt appends its place in the batch ([`batch`]) and is checked on its own.
//!
//! ```
//! use verity_receipt::{Claims, EvidenceKind, Receipt, ReceiptBody, Signer};
//!
//! let signer = Signer::generate().unwrap();
//! let body = ReceiptBody {
//!     model_id: [1; 32], input_hash: [2; 32], output_hash: [3; 32], trace_root: [4; 32],
//!     evidence: EvidenceKind::Reexecution, executor: signer.address(), timestamp: 1_700_000_000,
//! };
//! let receipt = Receipt::decode(&signer.sign(body).encode()).unwrap();
//! receipt.verify(&Claims { model_id: [1; 32], input_hash: [2; 32], output_hash: [3; 32] }).unwrap();
//! ```

pub mod batch;
pub mod codec;
mod error;
pub mod json;
mod keyfile;
mod keys;
mod receipt;
mod signature;

pub use batch::{leaf as batch_leaf, BatchProof};
pub use codec::{BATCH_HEADER_LEN, BODY_LEN, FORMAT_VERSION, MAGIC, RECEIPT_LEN, SIGNATURE_LEN};
pub use error::{KeyError, ReceiptError};
pub use keys::{keccak256, to_checksum_address, Signer};
pub use receipt::{ClaimField, Claims, EvidenceKind, Receipt, ReceiptBody};
pub use signature::EthSignature;
