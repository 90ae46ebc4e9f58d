//! Where proving and verifying time goes, per model: medians of key derivation (weight
//! commitment), verifier setup (circuit from the model), witness (reference trace),
//! proving and verifying, plus the proof size.
//!
//! `cargo run --release -p verity-zk --example zk_cost -- fixtures/lenet5.vrt [runs]`
//! (the input is `fixtures/NAME.input.json` next to the model).

use std::time::Instant;
use verity_model::input::{input_names, parse_input_json, quantize_inputs};
use verity_model::Model;
use verity_zk::protocol::{keygen, prove, trace_values, Verifier};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed().as_secs_f64() * 1e3)
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: zk_cost MODEL.vrt [runs]");
    let runs: usize = std::env::args().nth(2).and_then(|r| r.parse().ok()).unwrap_or(5);
    let model = Model::decode(&std::fs::read(&path).unwrap()).unwrap();
    let text = std::fs::read_to_string(path.replace(".vrt", ".input.json")).unwrap();
    let inputs = quantize_inputs(&model, &parse_input_json(&text, &input_names(&model)).unwrap()).unwrap();
    let (mut key, mut wit, mut pr, mut ve, mut pre) = (vec![], vec![], vec![], vec![], vec![]);
    let mut size = 0;
    let mut phases = std::collections::BTreeMap::<String, f64>::new();
    for _ in 0..runs {
        let (pk, k) = ms(|| keygen(&model).unwrap());
        let (values, w) = ms(|| trace_values(&model, &inputs).unwrap());
        // Time between progress reports, per step: where proving time goes.
        let mut last = (String::new(), Instant::now());
        let (proof, p) = ms(|| {
            prove(&model, &pk, &values, &mut |step, _, _| {
                if step != last.0 {
                    let now = Instant::now();
                    *phases.entry(std::mem::replace(&mut last.0, step.to_string())).or_default() +=
                        (now - last.1).as_secs_f64() * 1e3;
                    last.1 = now;
                }
            })
            .unwrap()
        });
        let outputs: Vec<_> = model.outputs.iter().map(|&v| values[v as usize].clone().unwrap()).collect();
        let (verifier, prep) = ms(|| Verifier::new(&model, &pk.vk).unwrap());
        let (ok, v) = ms(|| verifier.verify(&inputs, &outputs, &proof));
        ok.unwrap();
        size = proof.len();
        key.push(k);
        wit.push(w);
        pr.push(p);
        ve.push(v);
        pre.push(prep);
    }
    println!(
        "{path}: key {:.1} ms, verifier setup {:.1} ms, witness {:.1} ms, prove {:.1} ms, verify {:.2} ms, proof {size} bytes (medians of {runs})",
        median(key),
        median(pre),
        median(wit),
        median(pr),
        median(ve)
    );
    phases.remove("");
    let shown: Vec<String> = phases.iter().map(|(k, v)| format!("{k} {:.1}", v / runs as f64)).collect();
    println!("  proving steps, mean ms: {}", shown.join(", "));
}
