//! Times the model id on fixture files: `cargo run --release -p verity-model --example
//! id_cost -- fixtures/lenet5.vrt fixtures/transformer_block.vrt`. Prints the median of
//! `Model::id_bytes` (from a decoded model) and of `Model::id_of_encoding` (from bytes).

use std::time::Instant;

use verity_model::Model;

fn median_us(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("readable model file");
        let model = Model::decode(&bytes).expect("a valid model");
        let mut sink = 0u8;
        let from_model = median_us(201, || sink ^= model.id_bytes()[0]);
        let from_bytes = median_us(201, || sink ^= Model::id_of_encoding(&bytes)[0]);
        println!(
            "{path}: {} bytes, {} nodes, id_bytes {from_model:.1} us, id_of_encoding {from_bytes:.1} us (median of 201){}",
            bytes.len(),
            model.nodes.len(),
            if sink == 0 { "" } else { " " }
        );
    }
}
