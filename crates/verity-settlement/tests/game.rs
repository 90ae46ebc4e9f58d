//! Whole disputes on anvil: every cheat of `verity dispute --cheat` won by the challenger and
//! slashed; an honest executor against a false challenge; silence at a deadline.

use verity_dispute::Cheat;
use verity_model::{Model, Tensor};
use verity_settlement::anvil::Anvil;
use verity_settlement::dispute::{run, ChallengerKind};

fn fixture(name: &str) -> (Model, Vec<Tensor>) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/");
    let model = Model::decode(&std::fs::read(format!("{root}{name}.vrt")).unwrap()).unwrap();
    let text = std::fs::read_to_string(format!("{root}{name}.input.json")).unwrap();
    let names = verity_model::input::input_names(&model);
    let lists = verity_model::input::parse_input_json(&text, &names).unwrap();
    let inputs = verity_model::input::quantize_inputs(&model, &lists).unwrap();
    (model, inputs)
}

#[tokio::test]
async fn every_cheat_loses_and_is_slashed() {
    let Some(anvil) = Anvil::for_test() else { return };
    let (model, inputs) = fixture("cnn_digits");
    for kind in Cheat::ALL.into_iter().filter(|&c| c != Cheat::None) {
        if verity_dispute::cheat(&model, &inputs, kind).unwrap().is_none() {
            continue; // as offline: this cheat changes nothing on this model (duplicate-layer)
        }
        let r = run(anvil.url(), &model, &inputs, kind, ChallengerKind::Honest).await.unwrap();
        println!("{}", serde_json::to_string(&r).unwrap());
        assert_eq!(r.winner, "challenger", "{kind:?}: {}", r.reason);
        assert!(r.slashed && r.stake_after + 10u128.pow(18) == r.stake_before, "{kind:?}");
        assert!(r.gas.max_tx < 1_000_000, "{kind:?}: {:?}", r.gas);
    }
}
