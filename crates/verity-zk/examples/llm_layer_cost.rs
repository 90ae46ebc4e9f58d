//! What proving the matrix work of one SmolLM2-135M decoder layer costs (docs/llm.md, "A
//! proof of one decoding step"): a canonical stand-in with the layer's seven matrices at
//! their real shapes (q, o 576×576; k, v 192×576; gate, up 1536×576; down 576×1536),
//! random int8 weights and 8-bit activations, wired as attention projections plus a gated
//! MLP. Not the LLM's semantics (those have no canonical form; see the doc): a lower bound
//! on what an exact proof of a step would cost, per layer.
//!
//! `cargo run --release -p verity-zk --example llm_layer_cost [layers] [runs]` (layers
//! chained in one circuit, default 1).

use std::time::Instant;

use verity_model::{Model, Node, Op, Requant, Tensor, ValueInfo};
use verity_zk::protocol::{keygen, prove, trace_values, Verifier};

const EMBD: usize = 576;
const KV: usize = 192;
const FF: usize = 1536;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| ((self.next() % 255) as i64 - 127) as i8).collect()
    }
}

fn value(m: &mut Model, name: &str, n: usize) -> u32 {
    m.values.push(ValueInfo { name: name.into(), shape: vec![1, n], bits: 8, scale: 1.0 });
    (m.values.len() - 1) as u32
}

fn node(m: &mut Model, op: Op, inputs: Vec<u32>, name: &str, n: usize) -> u32 {
    let out = value(m, name, n);
    m.nodes.push(Node { name: name.into(), op, inputs, output: out });
    out
}

/// `y = rq(W x)` with a shift that brings `k` int8·int8 products back to 8 bits.
fn linear(m: &mut Model, rng: &mut Lcg, x: u32, name: &str, n: usize, k: usize) -> u32 {
    let shift = (k as f64 * 127.0 * 127.0).log2().ceil() as u8 - 9;
    let op = Op::Linear { weight: rng.i8s(n * k), bias: vec![0; n], rq: Requant::uniform(1, shift) };
    node(m, op, vec![x], name, n)
}

fn layers(n: usize) -> Model {
    let mut rng = Lcg(135);
    let mut m = Model::default();
    let mut x = value(&mut m, "x", EMBD);
    m.inputs.push(x);
    for l in 0..n {
        let name = |s: &str| format!("{s}{l}");
        let q = linear(&mut m, &mut rng, x, &name("q"), EMBD, EMBD);
        let k = linear(&mut m, &mut rng, x, &name("k"), KV, EMBD);
        let v = linear(&mut m, &mut rng, x, &name("v"), KV, EMBD);
        let o = linear(&mut m, &mut rng, q, &name("o"), EMBD, EMBD);
        let g = linear(&mut m, &mut rng, x, &name("gate"), FF, EMBD);
        let u = linear(&mut m, &mut rng, x, &name("up"), FF, EMBD);
        let h = node(&mut m, Op::Mul { mult: 1, shift: 7 }, vec![g, u], &name("h"), FF);
        let d = linear(&mut m, &mut rng, h, &name("down"), EMBD, FF);
        x = node(&mut m, Op::Add { mult_a: 1, mult_b: 1, shift: 1 }, vec![o, d], &name("y"), EMBD);
        // The cache entries a decoding step writes are outputs too.
        m.outputs.extend([k, v]);
    }
    m.outputs.insert(0, x);
    m.validate().expect("a valid stand-in");
    m
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
fn peak_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|r| r.parse().ok()).unwrap_or(1);
    let runs: usize = std::env::args().nth(2).and_then(|r| r.parse().ok()).unwrap_or(3);
    let model = layers(n);
    let mut rng = Lcg(7);
    let input = Tensor::new(vec![1, EMBD], (0..EMBD).map(|_| (rng.next() % 255) as i32 - 127).collect());
    let inputs = vec![input];
    let (mut key, mut pr, mut ve, mut size) = (vec![], vec![], vec![], 0);
    for _ in 0..runs {
        let t = Instant::now();
        let pk = keygen(&model).unwrap();
        key.push(t.elapsed().as_secs_f64());
        let values = trace_values(&model, &inputs).unwrap();
        let t = Instant::now();
        let proof = prove(&model, &pk, &values, &mut |_, _, _| {}).unwrap();
        pr.push(t.elapsed().as_secs_f64());
        size = proof.len();
        let outputs: Vec<Tensor> = model.outputs.iter().map(|&o| values[o as usize].clone().unwrap()).collect();
        let verifier = Verifier::new(&model, &pk.vk).unwrap();
        let t = Instant::now();
        verifier.verify(&inputs, &outputs, &proof).unwrap();
        ve.push(t.elapsed().as_secs_f64());
    }
    println!(
        "stand-in of {n} layer(s): {} weights (SmolLM2-135M has 30 such layers and 28,311,552 logit weights)",
        model.param_count()
    );
    println!(
        "medians of {runs}: key {:.3} s, prove {:.3} s, verify {:.1} ms, proof {} bytes, peak memory {:.0} MiB",
        median(key),
        median(pr),
        median(ve) * 1e3,
        size,
        peak_mib()
    );
}
