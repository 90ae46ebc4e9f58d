//! Fixtures and fraud-proof transcripts shared by the tests.

#![allow(dead_code)]

use verity_commit::ModelCommitment;
use verity_dispute::{cheat, statement, Challenger, Cheat, Execution, Executor, Player, Referee};
use verity_model::input::{input_names, parse_input_json, quantize_inputs};
use verity_model::{reference, Model, Tensor};
use verity_net::FraudProof;
use verity_receipt::{ReceiptBody, Signer};

pub fn fixture(name: &str) -> (Model, Vec<Tensor>) {
    let dir = format!("{}/../../fixtures", env!("CARGO_MANIFEST_DIR"));
    let model = Model::decode(&std::fs::read(format!("{dir}/{name}.vrt")).unwrap()).unwrap();
    let text = std::fs::read_to_string(format!("{dir}/{name}.input.json")).unwrap();
    let inputs = quantize_inputs(&model, &parse_input_json(&text, &input_names(&model)).unwrap()).unwrap();
    (model, inputs)
}

pub fn signer() -> Signer {
    Signer::from_secret_bytes(&[7; 32]).unwrap()
}

/// Plays a game and records every accepted move, as a verifier would to build a proof.
pub fn transcript(model: &Model, inputs: &[Tensor], kind: Cheat, challenger: &mut dyn Player) -> FraudProof {
    let commitment = ModelCommitment::new(model);
    let claim = cheat(model, inputs, kind).unwrap().unwrap();
    let mut body: ReceiptBody = claim.receipt_body(commitment.root(), 1_700_000_000);
    body.executor = signer().address();
    let receipt = signer().sign(body);
    let mut referee = Referee::new(statement(&commitment, inputs, &receipt).unwrap(), 0, 1000);
    let mut ex = Executor { model, commitment: &commitment, run: &claim.run };
    let mut moves = Vec::new();
    let mut now = 0;
    let nonce = [0x5a; 32];
    let mut signed = (0, verity_net::sign_transcript(&signer(), &receipt.signing_hash(), &nonce, &[]));
    while let Some(turn) = referee.turn() {
        now += 1;
        let p: &mut dyn Player = if turn == verity_dispute::Party::Executor { &mut ex } else { &mut *challenger };
        let Some(mv) = p.play(&referee) else { break };
        if referee.apply(turn, &mv, now).is_err() {
            break;
        }
        moves.push(mv);
        if turn == verity_dispute::Party::Executor {
            // The executor signs the transcript with each of its moves.
            signed = (moves.len(), verity_net::sign_transcript(&signer(), &receipt.signing_hash(), &nonce, &moves));
        }
    }
    let st = referee.statement();
    FraudProof {
        receipt,
        head: commitment.head_bytes().to_vec(),
        nodes_root: st.nodes_root(),
        input_roots: st.input_roots().to_vec(),
        moves,
        nonce,
        signed_moves: signed.0 as u32,
        executor_signature: signed.1,
    }
}

pub fn cheat_proof() -> FraudProof {
    let (model, inputs) = fixture("mlp_digits");
    let truth = Execution::new(&model, reference::run_tampered(&model, &inputs, |_, _| {}).unwrap());
    transcript(&model, &inputs, Cheat::Weight, &mut Challenger { run: &truth })
}
