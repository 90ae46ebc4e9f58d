//! One decoding step of the canonical integer Llama, in two implementations that must agree
//! bit for bit: [`Kernel::Reference`] (literal per-element formulas) and [`Kernel::Fast`]
//! (activation blocks quantized once, i8 dot products per block, rows split over threads).
//! Every op's output is committed, in order, into the position's trace (`trace.rs`); the
//! per-element functions here are the ones the dispute referee recomputes with.

use crate::attention;
use crate::model::{Model, QMatrix, BLOCK, EXP_RANGE, FRAC, ONE, SIG_RANGE, TFRAC, TSTEP, WFRAC};
use crate::packed;
pub use crate::packed::Acts;
use crate::team::Team;
use crate::trace::{Hash, Layout};
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Reference,
    Fast,
}

/// `a / b` rounded half away from zero (`b > 0`).
#[inline]
pub fn rdiv(a: i128, b: i128) -> i128 {
    debug_assert!(b > 0);
    // The same quotient in i64 when nothing can overflow: i128 division is a library call,
    // several times slower, and most operands are small.
    // Written on magnitudes, the sign put back with a select: operands of either sign are
    // equally likely, and a branch on it is mispredicted half the time.
    const SMALL: i128 = 1 << 62;
    if a.abs() < SMALL && b < SMALL {
        let q = ((a.unsigned_abs() as u64 + b as u64 / 2) / b as u64) as i64;
        return if a < 0 { -q } else { q } as i128;
    }
    if a >= 0 {
        (a + b / 2) / b
    } else {
        -((-a + b / 2) / b)
    }
}

#[inline]
pub fn sat(x: i128) -> i32 {
    x.clamp(i32::MIN as i128, i32::MAX as i128) as i32
}

/// Per 32-block int8 quantization of a Q16 vector: `s = max |a|`, `x = rdiv(127·a, s)`.
pub fn quantize_blocks(a: &[i32]) -> (Vec<i64>, Vec<i8>) {
    let mut s = Vec::with_capacity(a.len() / BLOCK);
    let mut x = Vec::with_capacity(a.len());
    for blk in a.chunks_exact(BLOCK) {
        let m = blk.iter().map(|v| (*v as i64).abs()).max().unwrap_or(0);
        s.push(m);
        for v in blk {
            x.push(if m == 0 { 0 } else { rdiv(127 * *v as i128, m as i128) as i8 });
        }
    }
    (s, x)
}

/// `y_r = rdiv(Σ_b s_b · Σ_i (D_rb·q_ri + M_rb)·x_i, 127·2^24)`, saturated to i32.
pub fn matvec_reference(w: &QMatrix, a: &[i32]) -> Vec<i32> {
    matvec_sums(w, a).into_iter().map(|acc| sat(rdiv(acc, 127i128 << WFRAC))).collect()
}

/// The exact sums `Σ_b s_b · Σ_i (D_rb·q_ri + M_rb)·x_i` of [`matvec_reference`], before
/// its division. Written with indices on purpose: it is the literal formula.
#[allow(clippy::needless_range_loop)]
pub fn matvec_sums(w: &QMatrix, a: &[i32]) -> Vec<i128> {
    let (s, x) = quantize_blocks(a);
    let nb = w.blocks_per_row();
    (0..w.rows)
        .map(|r| {
            let mut acc: i128 = 0;
            for b in 0..nb {
                let (d, m) = (w.d[r * nb + b] as i128, w.m[r * nb + b] as i128);
                for i in 0..BLOCK {
                    let col = b * BLOCK + i;
                    let wv = d * w.q[r * w.cols + col] as i128 + m;
                    acc += s[b] as i128 * wv * x[col] as i128;
                }
            }
            acc
        })
        .collect()
}

/// Row `r` of [`matvec_reference`], for recomputing one element.
pub fn matvec_row(w: &QMatrix, a: &[i32], r: usize) -> i32 {
    let acts = Acts::new(a);
    row_fast(w, r, &acts.s, &acts.x, &acts.sx)
}

/// Row `r` of the product: block dots eight blocks at a time (`dots.rs`), then each
/// block's exact term `s_b·(D·qx + M·sx_b)`.
fn row_fast(w: &QMatrix, r: usize, s: &[i64], x: &[i8], sx: &[i64]) -> i32 {
    let nb = w.blocks_per_row();
    let q = &w.q[r * w.cols..(r + 1) * w.cols];
    let (d, m) = (&w.d[r * nb..(r + 1) * nb], &w.m[r * nb..(r + 1) * nb]);
    let mut acc: i128 = 0;
    let mut dots = [0i32; 8];
    for g in (0..nb).step_by(8) {
        let n = (nb - g).min(8);
        let span = g * BLOCK..(g + n) * BLOCK;
        crate::dots::block_dots(&q[span.clone()], &x[span], &mut dots[..n]);
        for (j, qx) in dots[..n].iter().enumerate() {
            let b = g + j;
            // |D·qx + M·sx| < 2^40·2^16: fits i64; the product with s_b needs i128.
            acc += (d[b] * *qx as i64 + m[b] * sx[b]) as i128 * s[b] as i128;
        }
    }
    sat(rdiv(acc, 127i128 << WFRAC))
}

/// Rows `rows` of [`matvec_reference`]'s numbers: the AVX-512 kernel (`packed.rs`) where
/// the CPU has it and its overflow bound holds, the i128 path otherwise.
pub fn matvec_rows(w: &QMatrix, a: &Acts, rows: std::ops::Range<usize>, out: &mut [i32]) {
    match w.packed.as_ref().filter(|p| packed::supported() && a.fits_i64(p)) {
        Some(p) => packed::rows(p, a, rows, out),
        None => {
            for (o, r) in out.iter_mut().zip(rows) {
                *o = row_fast(w, r, &a.s, &a.x, &a.sx);
            }
        }
    }
}

/// Integer RMSNorm: `r = isqrt(floor(Σx²/n) + eps)`, `y = rdiv(x·g, r)`.
pub fn rmsnorm(x: &[i32], g: &[i32], eps_q32: i64) -> Vec<i32> {
    let ss: i128 = x.iter().map(|v| (*v as i128) * (*v as i128)).sum();
    let ms = (ss / x.len() as i128) as u128 + eps_q32 as u128;
    let r = (ms.isqrt() as i128).max(1);
    x.iter().zip(g).map(|(v, g)| sat(rdiv(*v as i128 * *g as i128, r))).collect()
}

/// [`rmsnorm`] with its divisions by `r` done by an f64 estimate that integer arithmetic
/// corrects: exact for every input, several times faster than dividing (the fast kernel).
pub fn rmsnorm_fast(x: &[i32], g: &[i32], eps_q32: i64) -> Vec<i32> {
    let ss: i128 = x.iter().map(|v| (*v as i128) * (*v as i128)).sum();
    let ms = (ss / x.len() as i128) as u128 + eps_q32 as u128;
    let r = (ms.isqrt() as u64).max(1);
    let (half, inv) = (r / 2, 1.0 / r as f64);
    x.iter()
        .zip(g)
        .map(|(v, g)| {
            // |v·g| ≤ 2^62, so n = |v·g| + ⌊r/2⌋ fits u64 and `rdiv` is ⌊n/r⌋ with the sign.
            let p = *v as i64 * *g as i64;
            let n = p.unsigned_abs() + half;
            let mut q = (n as f64 * inv) as u64;
            // Relative error below 2^-51: past 2^32 the result saturates either way; below,
            // the estimate is off by at most one, and `q·r < 2^32·2^32` fits u64.
            if q < 1 << 32 {
                q -= (q * r > n) as u64;
                q += ((q + 1) * r <= n) as u64;
            }
            let q = q.min(1 << 32) as i64;
            (if p < 0 { -q } else { q }).clamp(i32::MIN as i64, i32::MAX as i64) as i32
        })
        .collect()
}

/// One rotary pair `(a, b)` of frequency `i` at `pos`.
pub fn rope_pair(model: &Model, a: i32, b: i32, pos: usize, i: usize) -> (i32, i32) {
    let (c, s) = model.rope[pos * (model.config.head_dim / 2) + i];
    let (a, b) = (a as i128, b as i128);
    (sat(rdiv(a * c as i128 - b * s as i128, 1 << TFRAC)), sat(rdiv(a * s as i128 + b * c as i128, 1 << TFRAC)))
}

/// Rotary positions on adjacent pairs (GGUF's Llama layout) of the rows `r0..` of a
/// product, heads of `head_dim` rows (`r0` even).
fn rope(model: &Model, r0: usize, v: &mut [i32], pos: usize) {
    let hd = model.config.head_dim;
    for (k, pair) in v.chunks_exact_mut(2).enumerate() {
        let i = ((r0 + 2 * k) % hd) / 2;
        (pair[0], pair[1]) = rope_pair(model, pair[0], pair[1], pos, i);
    }
}

/// Element `i` of token `t`'s embedding row, dequantized to Q16: `rdiv(D·q + M, 2^8)`.
pub fn embed_value(model: &Model, t: usize, i: usize) -> i32 {
    let e = &model.embed;
    let b = t * e.blocks_per_row() + i / BLOCK;
    sat(rdiv((e.d[b] * e.q[t * e.cols + i] as i64 + e.m[b]) as i128, 1 << (WFRAC - FRAC)))
}

/// The attention score of a query head against a key head, Q16.
pub fn attn_score(model: &Model, q: &[i32], k: &[i32]) -> i64 {
    let dot: i128 = q.iter().zip(k).map(|(a, b)| *a as i128 * *b as i128).sum();
    rdiv(dot * model.inv_sqrt_hd as i128, 1i128 << (2 * FRAC)) as i64
}

/// `rdiv(Σ w_j·v_j, Σ w_j)`; 0 when the weights do not sum to a positive number (never for
/// weights this engine computed, but the referee may be handed anything).
pub fn attn_mix(w: &[i32], v: impl Iterator<Item = i32>) -> i32 {
    let total: i128 = w.iter().map(|x| *x as i128).sum();
    if total <= 0 {
        return 0;
    }
    let num: i128 = w.iter().zip(v).map(|(a, b)| *a as i128 * b as i128).sum();
    sat(rdiv(num, total))
}

/// `rdiv(silu(g)·u, 2^16)`.
pub fn gated(model: &Model, g: i32, u: i32) -> i32 {
    sat(rdiv(silu(model, g) as i128 * u as i128, ONE as i128))
}

/// `exp(-t)` in Q30 for a Q16 `t >= 0`, by the table with linear interpolation.
pub fn exp_neg(model: &Model, t: i64) -> i64 {
    let shift = FRAC - TSTEP;
    let k = (t >> shift) as usize;
    if k >= (EXP_RANGE as usize) << TSTEP {
        return 0;
    }
    let frac = t & ((1 << shift) - 1);
    let (a, b) = (model.exp_table[k], model.exp_table[k + 1]);
    a + rdiv(((b - a) * frac) as i128, 1 << shift) as i64
}

/// `rdiv(a, 2^k)` for `|a| < 2^63 − 2^(k−1)`: on the magnitude, shifts only.
#[inline(always)]
fn rshift_round(a: i64, k: u32) -> i64 {
    let q = ((a.unsigned_abs() + (1 << (k - 1))) >> k) as i64;
    if a < 0 {
        -q
    } else {
        q
    }
}

/// [`gated`] for every row of an item, in i64 (the fast kernel). Every intermediate fits:
/// inside the table's range `|x·σ| < 2^20·2^16`, `|(b − a)·frac| < 2^16·2^8`; and
/// `|silu(g)·u| ≤ (2^31 − 1)·2^31 < 2^62`.
pub fn gated_rows(model: &Model, g: &mut [i32], u: &[i32]) {
    let (lo, hi, shift) = (-SIG_RANGE * ONE, SIG_RANGE * ONE, FRAC - TSTEP);
    for (g, u) in g.iter_mut().zip(u) {
        let x = *g as i64;
        let silu = if x < lo {
            0
        } else if x >= hi {
            x
        } else {
            let t = x - lo;
            let k = (t >> shift) as usize;
            let (a, b) = (model.sig_table[k], model.sig_table[k + 1]);
            let sig = a + rshift_round((b - a) * (t & ((1 << shift) - 1)), shift);
            rshift_round(x * sig, FRAC)
        };
        *g = rshift_round(silu * *u as i64, FRAC).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
    }
}

fn silu(model: &Model, x: i32) -> i64 {
    let x = x as i64;
    let lo = -SIG_RANGE * ONE;
    if x < lo {
        return 0;
    }
    if x >= SIG_RANGE * ONE {
        return x;
    }
    let shift = FRAC - TSTEP;
    let u = x - lo;
    let k = (u >> shift) as usize;
    let frac = u & ((1 << shift) - 1);
    let (a, b) = (model.sig_table[k], model.sig_table[k + 1]);
    let sig = a + rdiv(((b - a) * frac) as i128, 1 << shift) as i64;
    rdiv(x as i128 * sig as i128, ONE as i128) as i64
}

/// A decoding session: the KV cache and the position.
pub struct Session<'m> {
    pub model: &'m Model,
    kernel: Kernel,
    team: Team,
    /// Per layer: keys and values, `[pos][n_head_kv·head_dim]` flattened.
    k_cache: Vec<Vec<i32>>,
    v_cache: Vec<Vec<i32>>,
    /// Per layer: the largest `|key|` and `|value|` cached, for the attention bounds.
    k_max: Vec<u32>,
    v_max: Vec<u32>,
    /// The length of the last step's op outputs, laid end to end.
    outputs_len: usize,
    pub pos: usize,
}

pub struct Step {
    /// Q16 logits over the vocabulary.
    pub logits: Vec<i32>,
    /// The roots of this position's op outputs in [`Layout`] order, all but the last
    /// (`Next`, which the decoder adds once it has picked the token).
    pub op_roots: Vec<Hash>,
}

/// Elementwise work on each thread's rows of the products of [`Session::mv_then`].
type Post<'a> = dyn Fn(&mut [(usize, &mut [i32])]) + Sync + 'a;

/// Sees (and may change, to model a cheat) every op output before it is committed and used.
pub type Hook<'a> = dyn FnMut(usize, &mut Vec<i32>) + 'a;

impl<'m> Session<'m> {
    pub fn new(model: &'m Model, kernel: Kernel, threads: usize) -> Session<'m> {
        let n = model.config.n_layer;
        Session {
            model,
            kernel,
            team: Team::new(threads),
            k_cache: vec![Vec::new(); n],
            v_cache: vec![Vec::new(); n],
            k_max: vec![0; n],
            v_max: vec![0; n],
            outputs_len: 0,
            pos: 0,
        }
    }

    fn norm(&self, x: &[i32], g: &[i32]) -> Vec<i32> {
        match self.kernel {
            Kernel::Reference => rmsnorm(x, g, self.model.eps_q32),
            Kernel::Fast => rmsnorm_fast(x, g, self.model.eps_q32),
        }
    }

    /// `w·a` for every `w`, the activations quantized once. With `t` threads each product
    /// is cut into `t` row ranges (multiples of 16 rows); thread `j` computes range `j` of
    /// every product, so the team is started once per call, not once per matrix.
    fn mv<const N: usize>(&self, ws: [&QMatrix; N], a: &[i32]) -> [Vec<i32>; N] {
        self.mv_then(ws, a, &|_| {})
    }

    /// [`Session::mv`], then `post` on each thread's rows, as `(first row, values)` of every
    /// product (the same rows of products with as many rows): elementwise work that would
    /// otherwise run on one thread while the others wait.
    fn mv_then<const N: usize>(&self, ws: [&QMatrix; N], a: &[i32], post: &Post<'_>) -> [Vec<i32>; N] {
        let mut ys = ws.map(|w| vec![0i32; w.rows]);
        if self.kernel == Kernel::Reference {
            for (y, w) in ys.iter_mut().zip(ws) {
                *y = matvec_reference(w, a);
            }
            post(&mut ys.iter_mut().map(|y| (0, y.as_mut_slice())).collect::<Vec<_>>());
            return ys;
        }
        let acts = Acts::new(a);
        let t = self.team.threads();
        // Thread j's share: rows [j·per, (j+1)·per) of every product, possibly none.
        let mut shares: Vec<Vec<(usize, &mut [i32])>> = (0..t).map(|_| Vec::with_capacity(N)).collect();
        for y in ys.iter_mut() {
            let (len, per) = (y.len(), y.len().div_ceil(t).next_multiple_of(16));
            let mut rest = y.as_mut_slice();
            for (j, share) in shares.iter_mut().enumerate() {
                let (mine, more) = rest.split_at_mut(per.min(rest.len()));
                share.push(((j * per).min(len), mine));
                rest = more;
            }
        }
        let shares: Vec<Mutex<Vec<_>>> = shares.into_iter().map(Mutex::new).collect();
        self.team.run(&|j| {
            let mut share = shares[j].lock().expect("share lock");
            for (w, (r0, out)) in ws.iter().zip(share.iter_mut()).filter(|(_, (_, out))| !out.is_empty()) {
                matvec_rows(w, &acts, *r0..*r0 + out.len(), out);
            }
            post(&mut share);
        });
        drop(shares);
        ys
    }

    /// Each query head's attention weights over the cached positions of layer `li`, the
    /// heads spread over the team.
    fn attention_weights(&self, li: usize, q: &[i32]) -> Vec<Vec<i32>> {
        let (m, c) = (self.model, &self.model.config);
        let (hd, kvd, group) = (c.head_dim, c.n_head_kv * c.head_dim, c.n_head / c.n_head_kv);
        let kc = &self.k_cache[li];
        let n = kc.len() / kvd;
        let weights: Vec<Mutex<Vec<i32>>> = (0..c.n_head).map(|_| Mutex::new(Vec::new())).collect();
        let t = self.team.threads();
        self.team.run(&|j| {
            for head in (j..c.n_head).step_by(t) {
                let (g, qh) = (head / group, &q[head * hd..(head + 1) * hd]);
                let scores = match self.kernel {
                    Kernel::Reference => {
                        (0..n).map(|p| attn_score(m, qh, &kc[p * kvd + g * hd..p * kvd + (g + 1) * hd])).collect()
                    }
                    Kernel::Fast => attention::scores(m, qh, kc, kvd, g * hd, self.k_max[li]),
                };
                let mx = *scores.iter().max().expect("n >= 1");
                // exp(-t) <= 2^30: the weights fit i32.
                *weights[head].lock().expect("head lock") = scores.iter().map(|s| exp_neg(m, mx - s) as i32).collect();
            }
        });
        weights.into_iter().map(|w| w.into_inner().expect("head lock")).collect()
    }

    /// The heads' weighted sums of the cached values of layer `li`, spread over the team.
    fn attention_mix(&self, li: usize, weights: &[Vec<i32>]) -> Vec<i32> {
        let c = &self.model.config;
        let (hd, kvd, group) = (c.head_dim, c.n_head_kv * c.head_dim, c.n_head / c.n_head_kv);
        let vc = &self.v_cache[li];
        let mut att = vec![0i32; c.n_embd];
        let t = self.team.threads();
        let outs: Vec<Mutex<&mut [i32]>> = att.chunks_mut(hd).map(Mutex::new).collect();
        self.team.run(&|j| {
            for head in (j..c.n_head).step_by(t) {
                let (g, w) = (head / group, &weights[head]);
                let mut out = outs[head].lock().expect("head lock");
                if self.kernel == Kernel::Reference || !attention::mix(w, vc, kvd, g * hd, self.v_max[li], &mut out) {
                    for (i, o) in out.iter_mut().enumerate() {
                        *o = attn_mix(w, (0..vc.len() / kvd).map(|p| vc[p * kvd + g * hd + i]));
                    }
                }
            }
        });
        drop(outs);
        att
    }

    /// Runs one token at the next position. The caller checks the context bound.
    pub fn step(&mut self, token: u32) -> Step {
        self.step_with(token, &mut |_, _| {})
    }

    /// [`Session::step`], showing every op output to `hook` first.
    pub fn step_with(&mut self, token: u32, hook: &mut Hook) -> Step {
        let m = self.model;
        let c = &m.config;
        assert!(self.pos < m.context && (token as usize) < c.vocab, "caller checks bounds");
        let pos = self.pos;
        // The outputs, laid end to end (sized like the last step's, which had one attention
        // weight less per head), are hashed together when the step ends, spread over the
        // team; the hook still sees (and may change) each one before it is used.
        let (mut outputs, mut ranges) = (Vec::with_capacity(self.outputs_len + 4096), Vec::with_capacity(Layout::of(c).n_ops()));
        let mut rec = |v: &mut Vec<i32>| {
            hook(ranges.len(), v);
            ranges.push(outputs.len()..outputs.len() + v.len());
            outputs.extend_from_slice(v);
        };
        let t = token as usize;
        let mut x: Vec<i32> = (0..c.n_embd).map(|i| embed_value(m, t, i)).collect();
        rec(&mut x);
        for (li, l) in m.layers.iter().enumerate() {
            let mut h = self.norm(&x, &l.attn_norm);
            rec(&mut h);
            let [mut q, mut k, mut v] = self.mv_then([&l.wq, &l.wk, &l.wv], &h, &|s| {
                for (r0, out) in &mut s[..2] {
                    rope(m, *r0, out, pos);
                }
            });
            rec(&mut q);
            rec(&mut k);
            rec(&mut v);
            self.k_cache[li].extend_from_slice(&k);
            self.v_cache[li].extend_from_slice(&v);
            let amax = |v: &[i32]| v.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0);
            self.k_max[li] = self.k_max[li].max(amax(&k));
            self.v_max[li] = self.v_max[li].max(amax(&v));
            let mut weights = self.attention_weights(li, &q);
            for w in &mut weights {
                rec(w);
            }
            let mut att = self.attention_mix(li, &weights);
            rec(&mut att);
            let [o] = self.mv([&l.wo], &att);
            for (a, b) in x.iter_mut().zip(&o) {
                *a = a.saturating_add(*b);
            }
            rec(&mut x);
            let mut h = self.norm(&x, &l.ffn_norm);
            rec(&mut h);
            // The gate's values become the activations, row by row on each thread.
            let [mut act, _] = self.mv_then([&l.w_gate, &l.w_up], &h, &|s| {
                let [(_, g), (_, u)] = s else { unreachable!("two products") };
                if self.kernel == Kernel::Reference {
                    for (g, u) in g.iter_mut().zip(u.iter()) {
                        *g = gated(m, *g, *u);
                    }
                } else {
                    gated_rows(m, g, u);
                }
            });
            rec(&mut act);
            let [down] = self.mv([&l.w_down], &act);
            for (a, b) in x.iter_mut().zip(&down) {
                *a = a.saturating_add(*b);
            }
            rec(&mut x);
        }
        let h = self.norm(&x, &m.out_norm);
        let [mut logits] = self.mv([&m.embed], &h);
        rec(&mut logits);
        self.pos += 1;
        let op_roots = crate::trace::commit_ops(&outputs, &ranges, self.team.threads(), &|f| self.team.run(f));
        self.outputs_len = outputs.len();
        Step { logits, op_roots }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        // Vectors from tiny to i32's extremes, gains of both signs and every size, and the
        // epsilon from 1 to large, so that r runs from 1 to 2^31.
        #[test]
        fn rmsnorm_fast_equals_rmsnorm(seed in any::<u64>(), amp in 0u32..32, gamp in 0u32..32, eps in 1i64..1 << 40, n in 1usize..80) {
            let mut s = seed | 1;
            let mut next = move || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
            let x: Vec<i32> = (0..n).map(|i| if i == 0 && amp == 31 { i32::MIN } else { (next() as i32) >> (31 - amp.min(31)) }).collect();
            let g: Vec<i32> = (0..n).map(|i| if i == 1 && gamp == 31 { i32::MIN } else { (next() as i32) >> (31 - gamp.min(31)) }).collect();
            prop_assert_eq!(rmsnorm_fast(&x, &g, eps), rmsnorm(&x, &g, eps));
        }
    }

    proptest! {
        // Gates across the table's range, its edges and i32's extremes; ups of every size.
        #[test]
        fn gated_rows_equals_gated(seed in any::<u64>(), amp in 0u32..32) {
            let m = Model::from_gguf(&crate::gguf::parse(&crate::testutil::tiny_gguf(1, "llama")).unwrap()).unwrap();
            let mut s = seed | 1;
            let mut next = move || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
            let edges = [i32::MIN, i32::MAX, -(16 << 16) - 1, -(16 << 16), (16 << 16) - 1, 16 << 16, 0, -1];
            let g: Vec<i32> = (0..64).map(|i| if i % 4 == 0 { edges[(next() % 8) as usize] } else { (next() as i32) >> (31 - amp.min(31)) }).collect();
            let u: Vec<i32> = (0..64).map(|i| if i % 5 == 0 { edges[(next() % 8) as usize] } else { next() as i32 >> (next() % 32) }).collect();
            let want: Vec<i32> = g.iter().zip(&u).map(|(g, u)| gated(&m, *g, *u)).collect();
            let mut got = g.clone();
            gated_rows(&m, &mut got, &u);
            prop_assert_eq!(got, want);
        }
    }
}
