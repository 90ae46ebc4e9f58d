//! Bench (not a test): the integer model against a float f32 forward pass of the same
//! dequantized GGUF, and decode speed.
//! `cargo run --release -p verity-llm --example faithfulness -- MODEL.gguf [N_NEW]`
use std::time::Instant;

use rayon::prelude::*;
use verity_llm::model::{render_chat, QMatrix, BLOCK};
use verity_llm::{Kernel, Model, Session};

fn deq(w: &QMatrix) -> Vec<f32> {
    let nb = w.blocks_per_row();
    (0..w.rows * w.cols)
        .map(|i| {
            let (r, c) = (i / w.cols, i % w.cols);
            let b = r * nb + c / BLOCK;
            (w.d[b] as f64 * w.q[i] as f64 + w.m[b] as f64) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

fn mv(w: &[f32], cols: usize, a: &[f32]) -> Vec<f32> {
    w.par_chunks(cols).map(|row| row.iter().zip(a).map(|(x, y)| x * y).sum()).collect()
}

fn norm(x: &[f32], g: &[i32], eps: f32) -> Vec<f32> {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let r = 1.0 / (ms + eps).sqrt();
    x.iter().zip(g).map(|(v, g)| v * r * (*g as f32 / 65536.0)).collect()
}

struct Float<'m> {
    m: &'m Model,
    w: Vec<[Vec<f32>; 7]>,
    emb: Vec<f32>,
    kc: Vec<Vec<f32>>,
    vc: Vec<Vec<f32>>,
    pos: usize,
}

impl<'m> Float<'m> {
    fn new(m: &'m Model) -> Self {
        let w = m.layers.iter().map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down].map(deq)).collect();
        let n = m.config.n_layer;
        Float { m, w, emb: deq(&m.embed), kc: vec![vec![]; n], vc: vec![vec![]; n], pos: 0 }
    }
    fn step(&mut self, tok: u32) -> Vec<f32> {
        let c = &self.m.config;
        let (e, hd) = (c.n_embd, c.head_dim);
        let kvd = c.n_head_kv * hd;
        let eps = c.rms_eps;
        let mut x = self.emb[tok as usize * e..(tok as usize + 1) * e].to_vec();
        let rope = |v: &mut [f32], pos: usize| {
            for h in v.chunks_exact_mut(hd) {
                for i in 0..hd / 2 {
                    let a = pos as f64 * (c.rope_base as f64).powf(-(2.0 * i as f64) / hd as f64);
                    let (s, co) = (a.sin() as f32, a.cos() as f32);
                    let (p, q) = (h[2 * i], h[2 * i + 1]);
                    h[2 * i] = p * co - q * s;
                    h[2 * i + 1] = p * s + q * co;
                }
            }
        };
        for (li, l) in self.m.layers.iter().enumerate() {
            let w = &self.w[li];
            let h = norm(&x, &l.attn_norm, eps);
            let mut q = mv(&w[0], e, &h);
            let mut k = mv(&w[1], e, &h);
            let v = mv(&w[2], e, &h);
            rope(&mut q, self.pos);
            rope(&mut k, self.pos);
            self.kc[li].extend(k);
            self.vc[li].extend(v);
            let n = self.pos + 1;
            let mut att = vec![0f32; e];
            for head in 0..c.n_head {
                let g = head / (c.n_head / c.n_head_kv);
                let qh = &q[head * hd..(head + 1) * hd];
                let s: Vec<f32> = (0..n)
                    .map(|j| {
                        qh.iter().zip(&self.kc[li][j * kvd + g * hd..]).map(|(a, b)| a * b).sum::<f32>() / (hd as f32).sqrt()
                    })
                    .collect();
                let mx = s.iter().cloned().fold(f32::MIN, f32::max);
                let p: Vec<f32> = s.iter().map(|v| (v - mx).exp()).collect();
                let z: f32 = p.iter().sum();
                for i in 0..hd {
                    att[head * hd + i] = (0..n).map(|j| p[j] * self.vc[li][j * kvd + g * hd + i]).sum::<f32>() / z;
                }
            }
            let o = mv(&w[3], e, &att);
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
            let h = norm(&x, &l.ffn_norm, eps);
            let gt = mv(&w[4], e, &h);
            let up = mv(&w[5], e, &h);
            let act: Vec<f32> = gt.iter().zip(&up).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
            let d = mv(&w[6], c.n_ff, &act);
            x.iter_mut().zip(&d).for_each(|(a, b)| *a += b);
        }
        self.pos += 1;
        mv(&self.emb, e, &norm(&x, &self.m.out_norm, eps))
    }
}

fn argmax<T: PartialOrd + Copy>(v: &[T]) -> u32 {
    let mut b = 0;
    for i in 1..v.len() {
        if v[i] > v[b] {
            b = i;
        }
    }
    b as u32
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n_new: usize = a.get(2).map(|s| s.parse().unwrap()).unwrap_or(24);
    let m = Model::load(std::path::Path::new(&a[1])).unwrap();
    let prompts = [
        "What is the capital of France?",
        "Write a haiku about the sea.",
        "Explain photosynthesis in one sentence.",
        "List three prime numbers.",
        "Hi",
        "What is 2 + 2?",
    ];
    let (mut agree, mut total) = (0, 0);
    for p in prompts {
        let toks = m.tokenizer.encode(&render_chat(None, p)).unwrap();
        // Float greedy continuation, then the integer model teacher-forced along it.
        let mut f = Float::new(&m);
        let mut fl = vec![];
        for t in &toks {
            fl = f.step(*t);
        }
        let mut seq = vec![];
        for _ in 0..n_new {
            let t = argmax(&fl);
            seq.push(t);
            if t == m.eos || t == m.im_end {
                break;
            }
            fl = f.step(t);
        }
        let mut s = Session::new(&m, Kernel::Fast, 2);
        let mut il = vec![];
        for t in &toks {
            il = s.step(*t).logits;
        }
        let mut prefix = None;
        for (i, t) in seq.iter().enumerate() {
            let it = argmax(&il);
            total += 1;
            if it == *t {
                agree += 1;
            } else if prefix.is_none() {
                prefix = Some(i);
            }
            if i + 1 < seq.len() {
                il = s.step(*t).logits;
            }
        }
        let prefix = prefix.unwrap_or(seq.len());
        println!("{p:?}: identical greedy prefix {prefix}/{} ; float: {:?}", seq.len(), m.tokenizer.decode(&seq).unwrap());
    }
    println!("next-token top-1 agreement (teacher-forced on the float continuation): {agree}/{total}");
    // The trace commitment's share of a step: the `costs` example.
    // Decode speed: 32 positions after a short prompt, 1 and 2 threads.
    for th in [1, 2] {
        let mut s = Session::new(&m, Kernel::Fast, th);
        s.step(1);
        let t = Instant::now();
        let n = 32;
        for i in 0..n {
            s.step(100 + i);
        }
        let dt = t.elapsed().as_secs_f64();
        println!(
            "threads {th}: {:.2} tokens/s decode ({:.1} ms/token, trace hashing included)",
            n as f64 / dt,
            dt * 1000.0 / n as f64
        );
    }
}
