//! `verity dispute`: a full game between an honest challenger and an executor that
//! cheats in a chosen way, in front of a referee that holds only the executor's signed
//! receipt and the openings checked against it.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use verity_commit::{hash, ModelCommitment};
use verity_dispute::{cheat, play, statement, Challenger, Cheat, Execution, Executor, Referee};
use verity_model::reference;
use verity_receipt::{to_checksum_address, Signer};

use crate::files::{read_input, read_model};

const TIMEOUT: u64 = 60;

pub fn run(model: &Path, input: &Path, kind: &str, as_json: bool, chain: Option<&str>) -> Result<()> {
    if let Some(rpc) = chain {
        return crate::chain::dispute_on_chain(model, input, kind, rpc, as_json);
    }
    let kinds = Cheat::ALL.map(Cheat::name).join(", ");
    let kind = Cheat::parse(kind).with_context(|| format!("unknown cheat '{kind}' (one of: {kinds})"))?;
    let m = read_model(model)?;
    let inputs = read_input(&m, input)?;
    let commitment = ModelCommitment::new(&m);
    let claim =
        cheat(&m, &inputs, kind)?.with_context(|| format!("cheat '{}' changes nothing on this model and input", kind.name()))?;
    let truth = Execution::new(&m, reference::run_tampered(&m, &inputs, |_, _| {})?);
    // The executor signs its claim about the published model, as it would for a client
    // (an ephemeral key: this executor exists only for the game). The referee's statement
    // is that receipt, opened with the published model and the input.
    let signer = Signer::generate().context("cannot make the executor's key")?;
    let receipt = signer.sign(claim.receipt_body(commitment.root(), verity_exec::unix_now()));
    let mut referee = Referee::new(statement(&commitment, &inputs, &receipt)?, 0, TIMEOUT);
    let mut ex = Executor { model: &m, commitment: &commitment, run: &claim.run };
    let log = play(&mut referee, &mut ex, &mut Challenger { run: &truth }, TIMEOUT);
    let v = &log.verdict;
    if as_json {
        let rounds: Vec<_> = log
            .rounds
            .iter()
            .map(|r| json!({"party": r.party.name(), "move": r.kind, "bytes": r.bytes, "rejected": r.rejected}))
            .collect();
        let out = json!({
            "cheat": kind.name(), "detail": claim.detail, "winner": v.winner.name(), "reason": v.reason,
            "model_id": hash::hex(&receipt.body.model_id), "executor": to_checksum_address(&receipt.body.executor),
            "rounds": log.moves(), "bytes": log.bytes(), "referee_step_us": log.step_time.as_secs_f64() * 1e6,
            "moves": rounds,
        });
        println!("{out}");
        return Ok(());
    }
    println!("model {}  cheat: {} ({})", m.id(), kind.name(), claim.detail);
    println!("receipt signed by {} for that model; the referee decides on it", to_checksum_address(&receipt.body.executor));
    for (i, r) in log.rounds.iter().enumerate() {
        let note = r.rejected.as_ref().map(|e| format!("  REJECTED: {e}")).unwrap_or_default();
        println!("  {:>3}  {:<10} {:<9} {:>6} bytes{note}", i + 1, r.party.name(), r.kind, r.bytes);
    }
    println!("verdict: {} wins — {}", v.winner.name(), v.reason);
    println!("{} moves, {} bytes, referee final step {:.1} us", log.moves(), log.bytes(), log.step_time.as_secs_f64() * 1e6);
    Ok(())
}
