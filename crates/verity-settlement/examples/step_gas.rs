//! The gas of a dispute that ends on each node's one-step check: for every node of MODEL
//! (or the given node indices), a fresh deployment on a local anvil, a claim with one bit
//! flipped in that node's output alone, and the whole game played by an honest challenger.
//!
//!   cargo run --release -p verity-settlement --example step_gas -- fixtures/transformer_block.vrt \
//!       fixtures/transformer_block.input.json [NODE ...]

use verity_model::Model;
use verity_settlement::anvil::Anvil;
use verity_settlement::dispute::{run_claim, ChallengerKind};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() >= 2, "usage: step_gas MODEL.vrt INPUT.json [NODE ...]");
    let model = Model::decode(&std::fs::read(&args[0])?)?;
    let text = std::fs::read_to_string(&args[1])?;
    let names = verity_model::input::input_names(&model);
    let inputs = verity_model::input::quantize_inputs(&model, &verity_model::input::parse_input_json(&text, &names)?)?;
    let nodes: Vec<usize> = if args.len() > 2 {
        args[2..].iter().map(|a| a.parse()).collect::<Result<_, _>>()?
    } else {
        (0..model.nodes.len()).collect()
    };
    let anvil = Anvil::start()?;
    println!("| node | op | node bytes | winner | moves | step gas | whole dispute | largest tx |");
    println!("| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |");
    for i in nodes {
        let Some(claim) = verity_dispute::cheat::bitflip_at(&model, &inputs, i)? else {
            println!("| {i} | {} | | (a flip changes nothing here) | | | | |", model.nodes[i].op.kind());
            continue;
        };
        let r =
            verity_settlement::block_on(run_claim(anvil.url(), &model, &inputs, "bitflip-at", &claim, ChallengerKind::Honest))??;
        let step = r.gas.per_step.get("step").map_or(0, |s| s.max);
        let bytes = model.nodes[i].encode().len();
        println!(
            "| {i} | {} {} | {bytes} | {} | {} | {step} | {} | {} |",
            model.nodes[i].op.kind(),
            model.nodes[i].name,
            r.winner,
            r.rounds,
            r.gas.total,
            r.gas.max_tx
        );
    }
    Ok(())
}
