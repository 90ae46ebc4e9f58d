//! Fixed keys and receipts shared by the integration tests (deterministic, so failures replay).

#![allow(dead_code)] // each test binary uses a different subset

use verity_receipt::{EvidenceKind, Receipt, ReceiptBody, Signer};

pub fn signer(seed: u8) -> Signer {
    Signer::from_secret_bytes(&[seed; 32]).expect("small constant keys are valid")
}

pub fn body(seed: u8, evidence: EvidenceKind) -> ReceiptBody {
    ReceiptBody {
        model_id: [seed; 32],
        input_hash: [seed.wrapping_add(1); 32],
        output_hash: [seed.wrapping_add(2); 32],
        trace_root: [seed.wrapping_add(3); 32],
        evidence,
        executor: [0; 20],
        timestamp: 1_700_000_000 + u64::from(seed),
    }
}

/// Three receipts by different keys, one per evidence kind, then two from a batch of three
/// (depth 2: the padding leaf's side and the other).
pub fn receipts() -> Vec<Receipt> {
    let mut all: Vec<Receipt> =
        EvidenceKind::ALL.iter().enumerate().map(|(i, &kind)| signer(i as u8 + 1).sign(body(0x10 * i as u8, kind))).collect();
    let bodies = [0x40, 0x50, 0x60].map(|seed| body(seed, EvidenceKind::Reexecution));
    let batch = signer(4).sign_batch_salted(&bodies, &[[0xa1; 32], [0xa2; 32], [0xa3; 32]]);
    all.extend([batch[0].clone(), batch[2].clone()]);
    all
}
