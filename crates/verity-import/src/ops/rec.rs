//! Recurrent ops (LSTM, GRU, RNN), unrolled at import over the static sequence length
//! onto existing float ops: per direction and gate one Linear computes `x W^T + b` for
//! every timestep at once, and each step slices its row, adds `h W_r^T` (a Linear with
//! the constant recurrence weights), applies the gate's activation table and combines
//! gates with element-wise Mul/Add/Sub. Every step's values are values of their own, so
//! each gets its own calibrated scale, and the dispute game and proofs cover each step.
//!
//! Shapes follow ONNX (layout 0): X `[seq, batch, input]`, W `[dirs, gates·H, input]`,
//! R `[dirs, gates·H, H]`, B `[dirs, 2·gates·H]`, states `[dirs, batch, H]`; outputs
//! Y `[seq, dirs, batch, H]`, Y_h (and LSTM's Y_c) `[dirs, batch, H]`. Layout 1 swaps
//! the batch to the front of X, the states and the outputs.

use crate::error::Result;
use crate::fgraph::{Binary, FOp, Unary};
use crate::ftensor::FTensor;
use crate::translate::{Builder, Cx, Out};

/// Every unrolled value's calibrated range is widened by this factor (at most to the
/// bound of a bounded activation): about 0.3 bits of resolution, for no clamping on
/// held-out inputs (see `fgraph::FGraph::headroom`).
const HEADROOM: f64 = 1.25;

/// Longest unrolled sequence (steps × directions): each step is about twenty float ops.
const MAX_STEPS: usize = 1024;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Lstm,
    Gru,
    Rnn,
}

impl Kind {
    /// Gates stacked in W and R: LSTM i, o, f, c; GRU z, r, h; RNN one.
    fn gates(self) -> usize {
        match self {
            Kind::Lstm => 4,
            Kind::Gru => 3,
            Kind::Rnn => 1,
        }
    }
    /// The default activations of one direction (f, g, h).
    fn default_activations(self) -> &'static [&'static str] {
        match self {
            Kind::Lstm => &["Sigmoid", "Tanh", "Tanh"],
            Kind::Gru => &["Sigmoid", "Tanh"],
            Kind::Rnn => &["Tanh"],
        }
    }
}

/// The node's activations, `default_activations().len()` per direction, with their
/// alphas and betas taken in order from `activation_alpha`/`activation_beta` (ONNX's
/// defaults when the lists run out), as onnxruntime reads them.
fn activations(cx: &Cx, kind: Kind, dirs: usize) -> Result<Vec<Unary>> {
    let per = kind.default_activations().len();
    let names: Vec<String> = match cx.a.strings("activations") {
        None => kind.default_activations().iter().cycle().take(per * dirs).map(|s| s.to_string()).collect(),
        Some(v) if v.len() == per * dirs => v,
        Some(v) => {
            return Err(cx.fail(format!(
                "activations has {} entries; {} with {dirs} direction(s) takes {}",
                v.len(),
                cx.op,
                per * dirs
            )))
        }
    };
    let (alphas, betas) =
        (cx.a.floats("activation_alpha").unwrap_or_default(), cx.a.floats("activation_beta").unwrap_or_default());
    let (mut ai, mut bi) = (alphas.iter(), betas.iter());
    let mut alpha = |d: f64| ai.next().copied().unwrap_or(d);
    let mut beta = |d: f64| bi.next().copied().unwrap_or(d);
    let mut out = Vec::with_capacity(names.len());
    for name in &names {
        let u = match name.to_ascii_lowercase().as_str() {
            "sigmoid" => Unary::Sigmoid,
            "tanh" => Unary::Tanh,
            "relu" => Unary::Relu,
            "softsign" => Unary::Softsign,
            "softplus" => Unary::Softplus,
            "leakyrelu" => Unary::LeakyRelu(alpha(0.01)),
            "thresholdedrelu" => Unary::ThresholdedRelu(alpha(1.0)),
            "elu" => Unary::Elu(alpha(1.0)),
            "hardsigmoid" => {
                let a = alpha(0.2);
                Unary::HardSigmoid(a, beta(0.5))
            }
            "affine" => {
                let a = alpha(1.0);
                Unary::Affine(a, beta(0.0))
            }
            "scaledtanh" => {
                let a = alpha(1.0);
                Unary::ScaledTanh(a, beta(1.0))
            }
            _ => return Err(cx.fail(format!("activations: '{name}' is not a supported activation"))),
        };
        out.push(u);
    }
    let finite = |u: &Unary| match *u {
        Unary::LeakyRelu(a) | Unary::ThresholdedRelu(a) | Unary::Elu(a) => a.is_finite(),
        Unary::HardSigmoid(a, b) | Unary::Affine(a, b) | Unary::ScaledTanh(a, b) => a.is_finite() && b.is_finite(),
        _ => true,
    };
    if !out.iter().all(finite) {
        return Err(cx.fail("activation_alpha / activation_beta hold a value that is not finite"));
    }
    Ok(out)
}

/// The largest |f(x)| of a bounded activation, else infinity.
fn bound(u: Unary) -> f64 {
    match u {
        Unary::Sigmoid | Unary::Tanh | Unary::Softsign | Unary::HardSigmoid(..) => 1.0,
        Unary::ScaledTanh(a, _) => a.abs(),
        _ => f64::INFINITY,
    }
}

/// The constant input `i` checked to have `shape`, or `None` when it is omitted.
fn weights(cx: &Cx, i: usize, what: &str, shape: &[usize], why: &str) -> Result<Option<FTensor>> {
    let Some(t) = cx.konst_opt(i, what)? else { return Ok(None) };
    if t.shape != shape {
        return Err(cx.fail(format!("{what} has shape {:?}; {why} needs {shape:?}", t.shape)));
    }
    Ok(Some(t))
}

/// Adds float ops for one recurrent node, each named after the node, its direction and
/// its step.
struct Unroll<'a, 'b> {
    b: &'a mut Builder,
    cx: &'a Cx<'b>,
    clip: Option<f64>,
}

impl Unroll<'_, '_> {
    fn push(&mut self, op: FOp, ins: Vec<usize>, what: &str) -> Result<usize> {
        let cap = match &op {
            FOp::Unary(u) => bound(*u),
            _ => f64::INFINITY,
        };
        let id = self.b.push(self.cx.name, self.cx.op, op, ins, &self.cx.part(what))?;
        self.b.headroom(id, HEADROOM, cap);
        Ok(id)
    }
    fn bin(&mut self, kind: Binary, p: usize, q: usize, what: &str) -> Result<usize> {
        self.push(FOp::Binary(kind), vec![p, q], what)
    }
    /// `p + q`, where an absent `q` is zero.
    fn add_opt(&mut self, p: usize, q: Option<usize>, what: &str) -> Result<usize> {
        match q {
            Some(q) => self.bin(Binary::Add, p, q, what),
            None => Ok(p),
        }
    }
    /// The activation `u` of `x`, after the cell clip if there is one.
    fn act(&mut self, u: Unary, x: usize, what: &str) -> Result<usize> {
        let x = match self.clip {
            Some(c) => self.push(FOp::Unary(Unary::Clip(-c, c)), vec![x], &format!("{what} clipped"))?,
            None => x,
        };
        self.push(FOp::Unary(u), vec![x], what)
    }
    /// The activation `u` of `x`, without the clip (the cell state's `h`).
    fn act_unclipped(&mut self, u: Unary, x: usize, what: &str) -> Result<usize> {
        self.push(FOp::Unary(u), vec![x], what)
    }
    fn konst(&mut self, what: &str, t: FTensor) -> usize {
        self.b.add_const(&self.cx.part(what), t)
    }
    /// Row `t` of `[seq, batch, H]`, as `[1, batch, H]`.
    fn step(&mut self, all: usize, t: usize, what: &str) -> Result<usize> {
        let op = FOp::Slice { axes: vec![0], starts: vec![t as i64], ends: vec![t as i64 + 1], steps: vec![1] };
        self.push(op, vec![all], what)
    }
}

pub fn recurrent(b: &mut Builder, cx: &Cx) -> Result<Out> {
    let kind = match cx.op {
        "LSTM" => Kind::Lstm,
        "GRU" => Kind::Gru,
        _ => Kind::Rnn,
    };
    let gates = kind.gates();
    let mut x = cx.x()?;
    let xs = cx.shape_of(x);
    if xs.len() != 3 {
        return Err(cx.fail(format!("X must have 3 dimensions, got shape {xs:?}")));
    }
    let batch_first = cx.flag("layout", false)?;
    let (seq, batch, inp) = if batch_first { (xs[1], xs[0], xs[2]) } else { (xs[0], xs[1], xs[2]) };
    let direction = cx.a.string("direction").unwrap_or_else(|| "forward".into());
    let dirs_order: &[bool] = match direction.as_str() {
        "forward" => &[false],
        "reverse" => &[true],
        "bidirectional" => &[false, true],
        other => return Err(cx.fail(format!("direction '{other}' is not forward, reverse or bidirectional"))),
    };
    let dirs = dirs_order.len();
    if seq * dirs > MAX_STEPS {
        return Err(cx.fail(format!("{seq} steps × {dirs} direction(s) is too long to unroll (at most {MAX_STEPS})")));
    }
    let r_shape = cx.konst_in(2, "R")?.shape;
    let hidden = match cx.a.int("hidden_size", -1) {
        -1 => match r_shape.as_slice() {
            [_, _, h] if *h > 0 => *h,
            _ => return Err(cx.fail(format!("R has shape {r_shape:?}, not [directions, {gates}·hidden, hidden]"))),
        },
        h if h > 0 && h <= 1 << 16 => h as usize,
        h => return Err(cx.fail(format!("hidden_size {h} must be a positive number"))),
    };
    let gh = gates * hidden;
    let why = format!("{direction} with hidden_size {hidden} and input size {inp}");
    let w = weights(cx, 1, "W", &[dirs, gh, inp], &why)?.ok_or_else(|| cx.fail("missing input 1 (W)"))?;
    let r = weights(cx, 2, "R", &[dirs, gh, hidden], &why)?.ok_or_else(|| cx.fail("missing input 2 (R)"))?;
    let bias = weights(cx, 3, "B", &[dirs, 2 * gh], &why)?.map_or_else(|| vec![0.0; dirs * 2 * gh], |t| t.data);
    if let Some(lens) = cx.konst_opt(4, "sequence_lens")? {
        if lens.data.len() != batch || lens.data.iter().any(|&l| l != seq as f64) {
            return Err(cx.fail(format!(
                "sequence_lens {:?} must all equal the sequence length {seq}: shorter sequences in a batch are not supported",
                lens.data
            )));
        }
    }
    let clip = match cx.a.float("clip", f64::INFINITY) {
        c if c == f64::INFINITY => None,
        c if c.is_finite() && c > 0.0 => Some(c),
        c => return Err(cx.fail(format!("clip {c} must be a positive number"))),
    };
    let lbr = kind == Kind::Gru && cx.flag("linear_before_reset", false)?;
    if kind == Kind::Lstm && cx.flag("input_forget", false)? {
        return Err(cx.fail("input_forget=1 (coupled input and forget gates) is not supported"));
    }
    let acts = activations(cx, kind, dirs)?;
    let per = kind.default_activations().len();
    let peep = match kind {
        Kind::Lstm => weights(cx, 7, "P", &[dirs, 3 * hidden], &why)?.filter(|p| p.data.iter().any(|&v| v != 0.0)),
        _ => None,
    };

    let mut u = Unroll { b, cx, clip };
    let swap = FOp::Transpose { perm: vec![1, 0, 2] };
    if batch_first {
        x = u.push(swap.clone(), vec![x], "X seq-first")?;
    }
    // An initial state as `[dirs, batch, H]`; one that is constant zero is absent.
    let state = |u: &mut Unroll, i: usize, what: &str| -> Result<Option<usize>> {
        let Some(id) = cx.opt(i) else { return Ok(None) };
        if u.b.konst(id).is_some_and(|t| t.data.iter().all(|&v| v == 0.0)) {
            return Ok(None);
        }
        let want = if batch_first { [batch, dirs, hidden] } else { [dirs, batch, hidden] };
        if cx.shape_of(id) != want {
            return Err(cx.fail(format!("{what} has shape {:?}; {why} needs {want:?}", cx.shape_of(id))));
        }
        Ok(Some(if batch_first { u.push(swap.clone(), vec![id], &format!("{what} dirs-first"))? } else { id }))
    };
    let h0 = state(&mut u, 5, "initial_h")?;
    let c0 = if kind == Kind::Lstm { state(&mut u, 6, "initial_c")? } else { None };

    let (mut ys, mut yh, mut yc) = (Vec::new(), Vec::new(), Vec::new());
    for (d, &reverse) in dirs_order.iter().enumerate() {
        let dir_state = |u: &mut Unroll, s: Option<usize>, what: &str| -> Result<Option<usize>> {
            match s {
                Some(s) if dirs > 1 => {
                    let op = FOp::Slice { axes: vec![0], starts: vec![d as i64], ends: vec![d as i64 + 1], steps: vec![1] };
                    u.push(op, vec![s], &format!("d{d}/{what}")).map(Some)
                }
                s => Ok(s),
            }
        };
        let mut h = dir_state(&mut u, h0, "initial_h")?;
        let mut c = dir_state(&mut u, c0, "initial_c")?;
        let rows = |t: &FTensor, g: usize, k: usize| t.data[(d * gh + g * hidden) * k..(d * gh + (g + 1) * hidden) * k].to_vec();
        let wb = |g: usize| bias[d * 2 * gh + g * hidden..d * 2 * gh + (g + 1) * hidden].to_vec();
        let rb = |g: usize| bias[d * 2 * gh + gh + g * hidden..d * 2 * gh + gh + (g + 1) * hidden].to_vec();
        // x W^T + b for every step, per gate; GRU's reset-gated R bias stays with R.
        let mut xw = Vec::with_capacity(gates);
        for g in 0..gates {
            let in_r = kind == Kind::Gru && g == 2 && lbr;
            let b: Vec<f64> = if in_r { wb(g) } else { wb(g).iter().zip(rb(g)).map(|(p, q)| p + q).collect() };
            xw.push(u.push(FOp::Linear { w: rows(&w, g, inp), b }, vec![x], &format!("d{d}/x W{g}"))?);
        }
        let peeps: Vec<usize> = match &peep {
            Some(p) => (0..3)
                .map(|k| {
                    let v = p.data[(d * 3 + k) * hidden..(d * 3 + k + 1) * hidden].to_vec();
                    u.konst(&format!("d{d}/P{k}"), FTensor::new(vec![hidden], v))
                })
                .collect(),
            None => Vec::new(),
        };
        let act = &acts[d * per..(d + 1) * per];
        let mut hs = vec![0; seq];
        let steps: Vec<usize> = if reverse { (0..seq).rev().collect() } else { (0..seq).collect() };
        for t in steps {
            let at = |what: &str| format!("d{d}/t{t}/{what}");
            // Gate g's pre-activation without the recurrent term, and h W_r^T with `bias`.
            let mut pre = Vec::with_capacity(gates);
            for (g, &all) in xw.iter().enumerate() {
                pre.push(u.step(all, t, &at(&format!("x W{g}")))?);
            }
            let rec = |u: &mut Unroll, g: usize, bias: Vec<f64>| -> Result<Option<usize>> {
                match h {
                    Some(h) => {
                        u.push(FOp::Linear { w: rows(&r, g, hidden), b: bias }, vec![h], &at(&format!("h R{g}"))).map(Some)
                    }
                    None => Ok(None),
                }
            };
            let zero = vec![0.0; hidden];
            let h_new = match kind {
                Kind::Rnn => {
                    let hr = rec(&mut u, 0, zero)?;
                    let s = u.add_opt(pre[0], hr, &at("sum"))?;
                    u.act(act[0], s, &at("h"))?
                }
                Kind::Lstm => {
                    // Gate g's sum, with the peephole term p ⊙ state when there is one.
                    let gate = |u: &mut Unroll, g: usize, p: Option<usize>, st: Option<usize>, f: Unary, what: &str| {
                        let hr = rec(u, g, zero.clone())?;
                        let mut s = u.add_opt(pre[g], hr, &at(&format!("{what} sum")))?;
                        if let (Some(p), Some(st)) = (p, st) {
                            let pc = u.bin(Binary::Mul, st, p, &at(&format!("{what} peephole")))?;
                            s = u.bin(Binary::Add, s, pc, &at(&format!("{what} sum+peephole")))?;
                        }
                        u.act(f, s, &at(what))
                    };
                    let (pi, po, pf) = (peeps.first().copied(), peeps.get(1).copied(), peeps.get(2).copied());
                    let i = gate(&mut u, 0, pi, c, act[0], "i")?;
                    let f = gate(&mut u, 2, pf, c, act[0], "f")?;
                    let cc = gate(&mut u, 3, None, None, act[1], "c~")?;
                    let ic = u.bin(Binary::Mul, i, cc, &at("i c~"))?;
                    let c_new = match c {
                        Some(c) => {
                            let fc = u.bin(Binary::Mul, f, c, &at("f c"))?;
                            u.bin(Binary::Add, fc, ic, &at("c"))?
                        }
                        None => ic,
                    };
                    let o = gate(&mut u, 1, po, Some(c_new), act[0], "o")?;
                    c = Some(c_new);
                    let hc = u.act_unclipped(act[2], c_new, &at("h(c)"))?;
                    u.bin(Binary::Mul, o, hc, &at("h"))?
                }
                Kind::Gru => {
                    let hz = rec(&mut u, 0, zero.clone())?;
                    let sz = u.add_opt(pre[0], hz, &at("z sum"))?;
                    let z = u.act(act[0], sz, &at("z"))?;
                    let hr = rec(&mut u, 1, zero.clone())?;
                    let sr = u.add_opt(pre[1], hr, &at("r sum"))?;
                    let rg = u.act(act[0], sr, &at("r"))?;
                    let gated = match (h, lbr) {
                        // r ⊙ (h R_h^T + Rb_h)
                        (Some(_), true) => match rec(&mut u, 2, rb(2))? {
                            Some(hh) => Some(u.bin(Binary::Mul, rg, hh, &at("r (h Rh)"))?),
                            None => None,
                        },
                        // h = 0: r ⊙ Rb_h
                        (None, true) if rb(2).iter().any(|&v| v != 0.0) => {
                            let k = u.konst(&at("Rb_h"), FTensor::new(vec![hidden], rb(2)));
                            Some(u.bin(Binary::Mul, rg, k, &at("r Rb_h"))?)
                        }
                        // (r ⊙ h) R_h^T
                        (Some(h), false) => {
                            let rh = u.bin(Binary::Mul, rg, h, &at("r h"))?;
                            let w = rows(&r, 2, hidden);
                            Some(u.push(FOp::Linear { w, b: zero.clone() }, vec![rh], &at("(r h) Rh"))?)
                        }
                        (None, _) => None,
                    };
                    let sh = u.add_opt(pre[2], gated, &at("h~ sum"))?;
                    let hh = u.act(act[1], sh, &at("h~"))?;
                    // (1 − z) ⊙ h~ + z ⊙ h = h~ + z ⊙ (h − h~)
                    match h {
                        Some(h) => {
                            let diff = u.bin(Binary::Sub, h, hh, &at("h - h~"))?;
                            let zd = u.bin(Binary::Mul, z, diff, &at("z (h - h~)"))?;
                            u.bin(Binary::Add, hh, zd, &at("h"))?
                        }
                        None => {
                            let zh = u.bin(Binary::Mul, z, hh, &at("z h~"))?;
                            u.bin(Binary::Sub, hh, zh, &at("h"))?
                        }
                    }
                }
            };
            hs[t] = h_new;
            h = Some(h_new);
        }
        let last = h.ok_or_else(|| cx.fail("X has an empty sequence"))?;
        yh.push(last);
        if let Some(c) = c {
            yc.push(c);
        }
        let y = if seq == 1 { hs[0] } else { u.push(FOp::Concat { axis: 0 }, hs, &format!("d{d}/Y"))? };
        ys.push(u.push(FOp::Reshape { shape: vec![seq, 1, batch, hidden] }, vec![y], &format!("d{d}/Y 4d"))?);
    }
    let join = |u: &mut Unroll, parts: Vec<usize>, axis: usize, what: &str| -> Result<usize> {
        if parts.len() == 1 {
            Ok(parts[0])
        } else {
            u.push(FOp::Concat { axis }, parts, what)
        }
    };
    let mut y = join(&mut u, ys, 1, "Y dirs")?;
    let mut y_h = join(&mut u, yh, 0, "Y_h dirs")?;
    let mut outs = Vec::new();
    if batch_first {
        y = u.push(FOp::Transpose { perm: vec![2, 0, 1, 3] }, vec![y], "Y batch-first")?;
        y_h = u.push(swap.clone(), vec![y_h], "Y_h batch-first")?;
    }
    outs.push(y);
    outs.push(y_h);
    if kind == Kind::Lstm {
        let mut y_c = match yc.len() {
            0 => return Err(cx.fail("no cell state")),
            _ => join(&mut u, yc, 0, "Y_c dirs")?,
        };
        if batch_first {
            y_c = u.push(swap, vec![y_c], "Y_c batch-first")?;
        }
        outs.push(y_c);
    }
    Ok(Out::Many(outs))
}
