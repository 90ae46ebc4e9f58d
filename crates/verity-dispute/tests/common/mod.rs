//! Fixtures and signing shared by the dispute tests.

#![allow(dead_code)] // each test file uses its own subset

use verity_commit::ModelCommitment;
use verity_dispute::{statement, Claim, Execution, Referee};
use verity_model::input::{input_names, parse_input_json, quantize_inputs};
use verity_model::{reference, Model, Tensor};
use verity_receipt::{Receipt, Signer};

/// The fixtures on which the original attacks were shown.
pub const FIXTURES: [&str; 3] = ["cnn_digits", "mlp_digits", "transformer_block"];

pub fn fixture(name: &str) -> (Model, Vec<Tensor>) {
    let dir = format!("{}/../../fixtures", env!("CARGO_MANIFEST_DIR"));
    let model = Model::decode(&std::fs::read(format!("{dir}/{name}.vrt")).unwrap()).unwrap();
    let text = std::fs::read_to_string(format!("{dir}/{name}.input.json")).unwrap();
    let inputs = quantize_inputs(&model, &parse_input_json(&text, &input_names(&model)).unwrap()).unwrap();
    (model, inputs)
}

pub fn honest(model: &Model, inputs: &[Tensor]) -> Execution {
    Execution::new(model, reference::run_tampered(model, inputs, |_, _| {}).unwrap())
}

/// The executor signs its claim about model `model_id`.
pub fn sign(claim: &Claim, model_id: [u8; 32]) -> Receipt {
    Signer::from_secret_bytes(&[7; 32]).unwrap().sign(claim.receipt_body(model_id, 1_700_000_000))
}

/// A referee over the executor's receipt for `commitment`'s model, opened with it.
pub fn referee(commitment: &ModelCommitment, inputs: &[Tensor], claim: &Claim, timeout: u64) -> Referee {
    Referee::new(statement(commitment, inputs, &sign(claim, commitment.root())).unwrap(), 0, timeout)
}
