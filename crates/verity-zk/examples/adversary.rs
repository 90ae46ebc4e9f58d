//! The long adversarial campaign (`tests/harness`): every attack family against every
//! witness and helper column and every op of every fixture, for several seeds, and of
//! random models; prints the counts and exits non-zero if any forgery verified.
//!
//! `cargo run --release -p verity-zk --example adversary -- --cases 200 --rounds 3`
//! (`--cases`: random models; `--rounds`: full passes over each fixture, each with its
//! own seed; `--semantic`: fractional-output forgeries per quotient argument and pass;
//! `--only NAME`: that fixture alone).

#[path = "../tests/harness/mod.rs"]
mod harness;

use harness::{campaign, fixture, Budget, Tally, Target, FIXTURES};
use std::time::Instant;
use verity_engine::testgen::random_model;
use verity_zk::circuit::unsupported;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn line(what: &str, t: &Tally, secs: f64) {
    println!(
        "{what}: {} attacks {:?}; semantic forgeries repaired up to the range checks {} (others {}); accepted {} ({secs:.0} s)",
        t.attempts,
        t.by_family,
        t.repaired,
        t.unrepaired,
        t.accepted.len()
    );
    for a in &t.accepted {
        println!("  ACCEPTED {a}");
    }
}

fn main() {
    let (cases, rounds, semantic) = (arg("--cases", 100), arg("--rounds", 2), arg("--semantic", 8) as usize);
    let budget = Budget { stride: 1, semantic_per_quotient: semantic };
    let mut all = Tally::default();
    let args: Vec<String> = std::env::args().collect();
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    for name in FIXTURES.into_iter().filter(|n| only.as_deref().is_none_or(|o| o == *n)) {
        let (model, inputs) = fixture(name);
        let t = Target::new(name, model, inputs);
        let start = Instant::now();
        let mut tally = Tally::default();
        for round in 0..rounds {
            tally.merge(campaign(&t, budget, 7919 * round + 1));
        }
        line(name, &tally, start.elapsed().as_secs_f64());
        all.merge(tally);
    }
    let (start, mut random, mut models) = (Instant::now(), Tally::default(), 0);
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..cases {
        let (model, inputs) = random_model(50_000 + seed);
        if unsupported(&model).is_some() {
            continue;
        }
        kinds.extend(model.nodes.iter().map(|n| n.op.kind()));
        let t = Target::new(&format!("random model {}", 50_000 + seed), model, inputs);
        random.merge(campaign(&t, budget, seed));
        models += 1;
        if models % 10 == 0 {
            line(&format!("  after {models} random models"), &random, start.elapsed().as_secs_f64());
        }
    }
    line(&format!("{models} random models ({} op kinds)", kinds.len()), &random, start.elapsed().as_secs_f64());
    all.merge(random);
    line("total", &all, 0.0);
    if !all.accepted.is_empty() {
        std::process::exit(1);
    }
}
