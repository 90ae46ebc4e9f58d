//! What a receipt costs: signing (executor) and signature recovery (verifier).
//!
//!     cargo run --release -p verity-receipt --example sign_cost

use std::time::Instant;

use verity_receipt::{EvidenceKind, ReceiptBody, Signer};

fn median_us(mut f: impl FnMut()) -> f64 {
    let mut t = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < 1.0 {
        let s = Instant::now();
        f();
        t.push(s.elapsed().as_secs_f64() * 1e6);
    }
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let signer = Signer::from_secret_bytes(&[7; 32]).expect("a valid test key");
    let mut body = ReceiptBody {
        model_id: [1; 32],
        input_hash: [2; 32],
        output_hash: [3; 32],
        trace_root: [4; 32],
        evidence: EvidenceKind::Reexecution,
        executor: signer.address(),
        timestamp: 0,
    };
    let sign = median_us(|| {
        body.timestamp += 1;
        std::hint::black_box(signer.sign(body));
    });
    let receipt = signer.sign(body);
    let verify = median_us(|| receipt.verify_signature().expect("own signature verifies"));
    println!("sign {sign:.1} us, verify (ecrecover) {verify:.1} us");
}
