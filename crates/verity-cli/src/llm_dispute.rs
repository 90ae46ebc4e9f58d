//! `verity dispute MODEL.gguf --prompt …`: a game over a completion receipt between an
//! honest challenger and an executor cheating in the chosen way, in front of a referee
//! that holds the model and the receipt (docs/llm.md "Disputes").

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::json;
use verity_llm::dispute::{cheat, dispute, Cheat};
use verity_llm::model::render_chat;
use verity_llm::receipt::sign;
use verity_llm::trace::Layout;
use verity_llm::{Model, Params};
use verity_receipt::{to_checksum_address, Signer};

pub struct Request<'a> {
    pub prompt: &'a str,
    pub system: Option<&'a str>,
    pub max_tokens: u32,
    pub temperature: f64,
    pub seed: u64,
}

pub fn run(model: &Path, req: &Request, kind: &str, as_json: bool) -> Result<()> {
    let kinds = Cheat::ALL.map(Cheat::name).join(", ");
    let kind = Cheat::parse(kind).with_context(|| format!("unknown cheat '{kind}' for an LLM (one of: {kinds})"))?;
    let params = Params::from_floats(req.max_tokens, req.temperature, 1.0, 0, req.seed, Vec::new())?;
    let m = Model::load(model)?;
    let prompt = m.tokenizer.encode(&render_chat(req.system, req.prompt))?;
    let t = Instant::now();
    let claim = cheat(&m, &prompt, &params, kind)?.with_context(|| {
        format!("cheat '{}' changes nothing on this model and prompt (the seed cheat needs --temperature > 0)", kind.name())
    })?;
    let run_s = t.elapsed().as_secs_f64();
    // The executor signs its claim with an ephemeral key (it exists only for this game);
    // the referee's statement is that receipt, checked against the model it holds.
    let signer = Signer::generate().context("cannot make the executor's key")?;
    let file = sign(&signer, &claim.completion, verity_exec::unix_now())?;
    let log = dispute(&m, &file, &claim.trace)?;
    let v = &log.verdict;
    let ly = Layout::of(&m.config);
    let at =
        v.at.map(|(p, o, e)| json!({"position": p, "op": o, "op_kind": format!("{:?}", ly.kind(o).expect("op")), "element": e}));
    if as_json {
        let moves: Vec<_> = log
            .rounds
            .iter()
            .map(|r| json!({"party": r.party.name(), "move": r.kind, "bytes": r.bytes, "rejected": r.rejected}))
            .collect();
        let out = json!({
            "cheat": kind.name(), "detail": claim.detail, "winner": v.winner.name(), "reason": v.reason, "at": at,
            "model_id": m.id_hex(), "executor": to_checksum_address(&signer.address()),
            "positions": claim.trace.leaves.len(), "rounds": log.moves(), "bytes": log.bytes(),
            "referee_step_us": log.step_time.as_secs_f64() * 1e6, "referee_total_us": log.referee_time.as_secs_f64() * 1e6,
            "moves": moves,
        });
        println!("{out}");
        return Ok(());
    }
    println!("model {}  cheat: {} ({})", m.id_hex(), kind.name(), claim.detail);
    println!(
        "receipt signed by {} over {} positions ({run_s:.1} s to run both traces)",
        to_checksum_address(&signer.address()),
        claim.trace.leaves.len()
    );
    println!("verdict: {} wins — {}", v.winner.name(), v.reason);
    println!(
        "{} moves, {} bytes, referee {:.1} us in all, {:.1} us on the final step",
        log.moves(),
        log.bytes(),
        log.referee_time.as_secs_f64() * 1e6,
        log.step_time.as_secs_f64() * 1e6
    );
    Ok(())
}
