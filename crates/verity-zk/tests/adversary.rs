//! The adversarial prover of `harness` against every fixture and random models: every
//! attack must be rejected. Scaled for CI; `VERITY_ZK_ADVERSARY_STRIDE=1` attacks every
//! column and op of every model, and `examples/adversary.rs` runs the long campaign.

mod harness;

use harness::{campaign, fixture, Budget, Tally, Target, FIXTURES};
use verity_engine::testgen::random_model;
use verity_zk::circuit::unsupported;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn report(what: &str, t: &Tally) {
    eprintln!(
        "{what}: {} attacks {:?}, semantic forgeries repaired up to the range checks {} (others {}), accepted {}",
        t.attempts,
        t.by_family,
        t.repaired,
        t.unrepaired,
        t.accepted.len()
    );
    assert!(t.accepted.is_empty(), "{what}: accepted forgeries:\n{}", t.accepted.join("\n"));
}

#[test]
fn every_fixture_resists_the_adversary() {
    let mut all = Tally::default();
    for (n, name) in FIXTURES.iter().enumerate() {
        let (model, inputs) = fixture(name);
        let t = Target::new(name, model, inputs);
        // The big fixtures take a fraction of their columns per run (the offset moves
        // with the seed, so runs with other seeds cover the rest).
        let big = matches!(*name, "lenet5" | "transformer_block");
        let stride = env("VERITY_ZK_ADVERSARY_STRIDE", if big { 12 } else { 4 });
        let seed = env("VERITY_ZK_ADVERSARY_SEED", 0) as u64 + n as u64;
        let tally = campaign(&t, Budget { stride, semantic_per_quotient: if big { 2 } else { 3 } }, seed);
        report(name, &tally);
        all.merge(tally);
    }
    report("all fixtures", &all);
    assert!(all.repaired > 0, "no semantic forgery got past every constraint but the range checks");
}

/// Random models that together use every op (each kept only if it brings an op not yet
/// covered), plus `VERITY_ZK_ADVERSARY_MODELS` more.
#[test]
fn random_models_resist_the_adversary() {
    let mut chosen = vec![];
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..300 {
        let (m, _) = random_model(seed);
        if unsupported(&m).is_none() && m.nodes.iter().any(|n| !kinds.contains(n.op.kind())) {
            kinds.extend(m.nodes.iter().map(|n| n.op.kind()));
            chosen.push(seed);
        }
    }
    assert_eq!(kinds.len(), verity_engine::testgen::OP_KINDS.len(), "ops covered: {kinds:?}");
    chosen.extend((0..env("VERITY_ZK_ADVERSARY_MODELS", 0) as u64).map(|k| 10_000 + k));
    let mut all = Tally::default();
    for seed in chosen {
        let (model, inputs) = random_model(seed);
        if unsupported(&model).is_some() {
            continue;
        }
        let t = Target::new(&format!("random model {seed}"), model, inputs);
        let start = std::time::Instant::now();
        let tally = campaign(&t, Budget { stride: env("VERITY_ZK_ADVERSARY_STRIDE", 6), semantic_per_quotient: 1 }, seed);
        eprintln!(
            "{}: {} attacks in {:.1} s ({:.1} s building forgeries)",
            t.name,
            tally.attempts,
            start.elapsed().as_secs_f64(),
            tally.forge_secs
        );
        all.merge(tally);
    }
    report("random models", &all);
}
