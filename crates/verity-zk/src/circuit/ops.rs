//! Each op of `docs/semantics.md` as columns, constraints and lookups.

use super::*;

impl Builder<'_> {
    pub(super) fn node(&mut self, i: usize) -> Result<(), String> {
        let model = self.model;
        let node = &model.nodes[i];
        let ins: Vec<&ValueInfo> = node.inputs.iter().map(|&v| model.value(v)).collect();
        let out = model.value(node.output);
        let cx = OpContext { op: &node.op, inputs: &ins, output: out };
        let shape = out.shape.clone();
        let vars = layout::vars(&shape);
        let n: usize = shape.iter().product();
        let name = node.name.as_str();
        if let Op::Const { .. } = node.op {
            self.public_value(node.output)?;
            return Ok(());
        }
        let y = self.output_col(node.output)?;
        let inst = self.instance(name, vars);
        let one = |j: usize| operands(cx, j).into_iter().map(|(_, u)| u).collect::<Vec<_>>();
        let valid = |s: &[usize]| -> Vec<i64> { pad_values(s, std::iter::repeat_n(1, s.iter().product())) };
        match &node.op {
            Op::Const { .. } => unreachable!(),
            Op::Linear { weight, bias, rq } => {
                let x = self.value_col(node.inputs[0]);
                let (k, nout) = (weight.len() / bias.len(), bias.len());
                let [tables] = weight_tables(&node.op).try_into().expect("one table pair");
                let acc = self.bilinear(name, x, &shape[..shape.len() - 1], tables, k, nout, &[]);
                let ch = shape.len() - 1;
                self.requant(inst, &shape, Expr::col(acc), acc, |c| rq.at(c), ch, y, out.bits, acc_bound(&ins, weight, bias))?;
            }
            Op::Conv { weight, bias, window, rq, groups } => {
                // Group g is a convolution with the weight rows of the other groups zeroed,
                // over its own input channels; the accumulator is the sum over groups.
                let xs = ins[0].shape.clone();
                let (cig, [kh, kw]) = (xs[1] / groups, window.kernel);
                let j = cig * kh * kw;
                let im2col_shape = [shape[0], j, shape[2], shape[3]];
                let src = self.value_col(node.inputs[0]);
                let mut sum = Expr::zero();
                let mut accs = vec![];
                for (g, tables) in weight_tables(&node.op).into_iter().enumerate() {
                    let mut entries = Vec::new();
                    for b in 0..shape[0] {
                        for (oy, ox) in (0..shape[2]).flat_map(|oy| (0..shape[3]).map(move |ox| (oy, ox))) {
                            for c in 0..cig {
                                for (ky, kx, sy, sx) in window_taps(window, xs[2], xs[3], oy, ox) {
                                    let t = layout::index(&im2col_shape, &[b, (c * kh + ky) * kw + kx, oy, ox]);
                                    entries.push((t as u32, layout::index(&xs, &[b, g * cig + c, sy, sx]) as u32));
                                }
                            }
                        }
                    }
                    let xcol = self.virtual_col(&format!("{name} im2col {g}"), src, layout::vars(&im2col_shape), entries);
                    let acc = self.bilinear(name, xcol, &shape[..1], tables, j, bias.len(), &shape[2..]);
                    sum = sum.add(&Expr::col(acc));
                    accs.push(acc);
                }
                let acc = if accs.len() == 1 {
                    accs[0]
                } else {
                    let vals = self.prover.then(|| self.combine(&accs, |v| v.iter().sum()));
                    let c = self.col(format!("{name} accumulator"), vars, Kind::Witness, vals);
                    self.constrain(inst, Expr::col(c).sub(&sum));
                    c
                };
                self.requant(inst, &shape, Expr::col(acc), acc, |c| rq.at(c), 1, y, out.bits, acc_bound(&ins, weight, bias))?;
            }
            Op::Rescale { mult, shift } => {
                let x = self.value_col(node.inputs[0]);
                let bound = 1i128 << (ins[0].bits - 1);
                self.requant(inst, &shape, Expr::col(x), x, |_| (*mult, *shift), 0, y, out.bits, bound)?;
            }
            Op::Add { mult_a, mult_b, shift } => {
                let a = self.wiring(&format!("{name} a"), node.inputs[0], &shape, |j| vec![operands(cx, j)[0].1]);
                let b = self.wiring(&format!("{name} b"), node.inputs[1], &shape, |j| vec![operands(cx, j)[1].1]);
                let e = Expr::col(a).scale_i(*mult_a as i64).add(&Expr::col(b).scale_i(*mult_b as i64));
                let vals = self.prover.then(|| self.combine(&[a, b], |v| v[0] * *mult_a as i64 + v[1] * *mult_b as i64));
                let bound = (1i128 << (ins[0].bits - 1)) * (*mult_a as i128).abs()
                    + (1i128 << (ins[1].bits - 1)) * (*mult_b as i128).abs();
                self.divround(inst, &shape, e, vals, |_| (1, 1 << shift >> 1, 1 << shift), y, out.bits, bound)?;
            }
            Op::Mul { mult, shift } => {
                let a = self.wiring(&format!("{name} a"), node.inputs[0], &shape, |j| vec![operands(cx, j)[0].1]);
                let b = self.wiring(&format!("{name} b"), node.inputs[1], &shape, |j| vec![operands(cx, j)[1].1]);
                let e = Expr::col(a).mul(&Expr::col(b)).scale_i(*mult as i64);
                let vals = self.prover.then(|| self.combine(&[a, b], |v| v[0] * v[1] * *mult as i64));
                let bound = (1i128 << (ins[0].bits + ins[1].bits - 2)) * (*mult as i128).abs();
                self.divround(inst, &shape, e, vals, |_| (1, 1 << shift >> 1, 1 << shift), y, out.bits, bound)?;
            }
            Op::AvgPool { window, count_include_pad, mult, shift } => {
                let s = self.wiring(&format!("{name} sum"), node.inputs[0], &shape, one);
                let full = (window.kernel[0] * window.kernel[1]) as i64;
                let counts: Vec<i64> = (0..n).map(|j| if *count_include_pad { full } else { one(j).len() as i64 }).collect();
                let bound = (1i128 << (ins[0].bits - 1)) * full as i128;
                let vals = self.prover.then(|| self.combine(&[s], |v| v[0]));
                let d = |j: usize| counts[j] << shift;
                self.divround(inst, &shape, Expr::col(s), vals, |j| (2 * *mult as i64, d(j), 2 * d(j)), y, out.bits, bound)?;
            }
            Op::Reduce { mean, mult, shift, .. } => {
                let s = self.wiring(&format!("{name} sum"), node.inputs[0], &shape, one);
                let counts: Vec<i64> = (0..n).map(|j| if *mean { one(j).len() as i64 } else { 1 }).collect();
                let cnt = counts.iter().copied().max().unwrap_or(1).max(one(0).len() as i64);
                let bound = (1i128 << (ins[0].bits - 1)) * cnt as i128;
                let vals = self.prover.then(|| self.combine(&[s], |v| v[0]));
                let d = |j: usize| counts[j] << shift;
                self.divround(inst, &shape, Expr::col(s), vals, |j| (2 * *mult as i64, d(j), 2 * d(j)), y, out.bits, bound)?;
            }
            Op::Clamp { .. } | Op::Lut { .. } | Op::PRelu { .. } => {
                // A lookup of (channel, x, y, 1) in the op's table of (c, x, f_c(x), 1);
                // only per-channel PRelu has more than one channel.
                let in_bits = ins[0].bits;
                let (lo, hi) = qrange(in_bits);
                let channels = match &node.op {
                    Op::PRelu { neg_mult, .. } if neg_mult.len() > 1 => neg_mult.len(),
                    _ => 1,
                };
                let f = |c: usize, x: i64| match &node.op {
                    Op::PRelu { pos_mult, neg_mult, shift } => {
                        let m = if x >= 0 { *pos_mult } else { neg_mult[if neg_mult.len() == 1 { 0 } else { c }] };
                        verity_model::arith::requant(x, m, *shift, out.bits) as i64
                    }
                    _ => verity_model::element::eval(cx, 0, &[x as i32]) as i64,
                };
                let rows = (hi - lo + 1) as usize * channels;
                let tvars = log2(rows + 1);
                let mut t: [Vec<i64>; 4] = std::array::from_fn(|_| vec![0; 1 << tvars]);
                let mut r = 0;
                for c in 0..channels {
                    for x in lo..=hi {
                        (t[0][r], t[1][r], t[2][r], t[3][r]) = (c as i64, x, f(c, x), 1);
                        r += 1;
                    }
                }
                let cols: Vec<ColId> = t
                    .into_iter()
                    .zip(["c", "x", "y", "valid"])
                    .map(|(v, n)| self.public(format!("{name} table {n}"), tvars, v))
                    .collect();
                let table = self.table(name, tvars, cols);
                let x = self.value_col(node.inputs[0]);
                let chan = self.per_element(&format!("{name} channel"), &shape, |j| {
                    if channels > 1 {
                        layout::unravel(j, &shape)[1] as i64
                    } else {
                        0
                    }
                });
                let vcol = self.public(format!("{name} valid"), vars, valid(&shape));
                self.lookup(inst, table, vec![Expr::col(chan), Expr::col(x), Expr::col(y), Expr::col(vcol)]);
            }
            Op::MaxPool { window } => {
                let taps = window.kernel[0] * window.kernel[1];
                let mut prod = Expr::constant(1);
                let mut diffs = Vec::new();
                for t in 0..taps {
                    // Windows cut by padding repeat their first tap; the max is unchanged.
                    let xt = self.wiring(&format!("{name} tap {t}"), node.inputs[0], &shape, |j| {
                        let o = one(j);
                        vec![*o.get(t).unwrap_or(&o[0])]
                    });
                    let d = Expr::col(y).sub(&Expr::col(xt));
                    prod = prod.mul(&d);
                    diffs.push(d);
                }
                self.constrain(inst, prod);
                // y − x_t is a field difference of integers; the plain lookup makes it an
                // integer in [0, 2^w), and the product makes y one of the taps.
                for d in diffs {
                    self.range_check(inst, d, self.range_bits);
                }
            }
            Op::Reshape | Op::Transpose { .. } | Op::Slice { .. } | Op::Gather { .. } | Op::Concat { .. } => {
                let mut e = Expr::col(y);
                for (slot, &src) in node.inputs.iter().enumerate() {
                    let xt = self.wiring(&format!("{name} input {slot}"), src, &shape, |j| {
                        operands(cx, j).into_iter().filter(|o| o.0 == slot).map(|o| o.1).collect()
                    });
                    e = e.sub(&Expr::col(xt));
                }
                self.constrain(inst, e);
            }
            Op::MatMul { rq } => {
                let (a, b) = (ins[0], ins[1]);
                let r = shape.len();
                let (m, k, n_) = (shape[r - 2], a.shape[a.shape.len() - 1], shape[r - 1]);
                let batch = &shape[..r - 2];
                let mut left = batch.to_vec();
                left.extend([m, k]);
                let mut right = batch.to_vec();
                right.extend([k, n_]);
                let nb: usize = batch.iter().product();
                let (mut ea, mut eb) = (Vec::new(), Vec::new());
                for g in 0..nb {
                    for i in 0..m {
                        let ops = operands(cx, (g * m + i) * n_);
                        for (t, &(_, u)) in ops[..k].iter().enumerate() {
                            ea.push((
                                layout::flat_to_padded(&left, (g * m + i) * k + t) as u32,
                                layout::flat_to_padded(&a.shape, u) as u32,
                            ));
                        }
                    }
                    for jj in 0..n_ {
                        let ops = operands(cx, g * m * n_ + jj);
                        for (t, &(_, u)) in ops[k..].iter().enumerate() {
                            eb.push((
                                layout::flat_to_padded(&right, (g * k + t) * n_ + jj) as u32,
                                layout::flat_to_padded(&b.shape, u) as u32,
                            ));
                        }
                    }
                }
                let (sa, sb) = (self.value_col(node.inputs[0]), self.value_col(node.inputs[1]));
                let ac = self.virtual_col(&format!("{name} left"), sa, layout::vars(&left), ea);
                let bc = self.virtual_col(&format!("{name} right"), sb, layout::vars(&right), eb);
                let acc = self.product(name, ac, bc, layout::vars(batch), log2(m), log2(k), log2(n_));
                let bound = k as i128 * (1i128 << (a.bits - 1)) * (1i128 << (b.bits - 1));
                self.requant(inst, &shape, Expr::col(acc), acc, |_| rq.at(0), 0, y, out.bits, bound)?;
            }
            Op::Softmax { axis, exp_table } => {
                // m = max of the lane (a selected lane element, no smaller than any),
                // e = exp_table[m − x] by lookup, S = Σ_lane e by wiring, then
                // y = clamp(floor((2·qmax·e + S) / 2S)).
                let lane_of = |j: usize| verity_model::shape::lane(&shape, *axis, j).collect::<Vec<_>>();
                let len = shape[*axis];
                let stride: usize = shape[*axis + 1..].iter().product();
                let (_, _, mx) = self.lane_extreme(name, node.inputs[0], &lane_of, &|j| j / stride % len, false, None)?;
                let x = self.value_col(node.inputs[0]);
                let tvars = log2(exp_table.len() + 1);
                let mut t: [Vec<i64>; 3] = std::array::from_fn(|_| vec![0; 1 << tvars]);
                for (k, &e) in exp_table.iter().enumerate() {
                    (t[0][k], t[1][k], t[2][k]) = (k as i64, e as i64, 1);
                }
                let cols: Vec<ColId> = t
                    .into_iter()
                    .zip(["d", "exp", "valid"])
                    .map(|(v, n)| self.public(format!("{name} table {n}"), tvars, v))
                    .collect();
                let table = self.table(name, tvars, cols);
                let e_vals = self.prover.then(|| {
                    let (m, xv) = (self.vals(mx), self.vals(x));
                    let valid = valid(&shape);
                    (0..m.len())
                        .map(|i| if valid[i] == 1 { exp_table[(m[i] - xv[i]) as usize] as i64 } else { 0 })
                        .collect::<Vec<_>>()
                });
                let e = self.witness(format!("{name} exp"), vars, || e_vals.clone().unwrap());
                let vcol = self.public(format!("{name} valid"), vars, valid(&shape));
                let d = Expr::col(mx).sub(&Expr::col(x)).mul(&Expr::col(vcol));
                self.lookup(inst, table, vec![d, Expr::col(e), Expr::col(vcol)]);
                let sum = self.virtual_sum(&format!("{name} sum"), e, &shape, lane_of);
                let qmax = qrange(out.bits).1;
                let num = Expr::col(e).scale_i(2 * qmax).add(&Expr::col(sum));
                let (num_vals, den_vals) = match (&e_vals, self.c.columns[sum].values.as_ref()) {
                    (Some(ev), Some(sv)) => (
                        Some(ev.iter().zip(sv).map(|(e, s)| 2 * qmax * e + s).collect()),
                        Some(sv.iter().map(|s| 2 * s).collect()),
                    ),
                    _ => (None, None),
                };
                let e_max = exp_table.iter().map(|&v| v as i64).max().unwrap_or(1);
                let d_max = 2 * len as i64 * e_max;
                self.quotient(
                    inst,
                    &shape,
                    num,
                    num_vals,
                    Expr::col(sum).scale_i(2),
                    den_vals,
                    vec![qmax + 2; n],
                    vec![d_max; n],
                    (2 * qmax as i128 + len as i128) * e_max as i128,
                    Quotient::Clamped(y, out.bits),
                )?;
            }
            Op::LayerNorm { axis, eps, frac_bits, gamma, beta, shift } => {
                self.layer_norm(inst, node.inputs[0], y, out.bits, *axis, *eps, *frac_bits, gamma, beta, *shift)?
            }
            Op::Compare { mode, mult_a, mult_b } => {
                // d = a·mult_a − b·mult_b; its sign bits g = [d > 0], l = [d < 0] decide
                // every mode: y = l, 1 − g, g, 1 − l or 1 − g − l (times `valid`, zero in
                // the padding).
                let a = self.wiring(&format!("{name} a"), node.inputs[0], &shape, |j| vec![operands(cx, j)[0].1]);
                let b = self.wiring(&format!("{name} b"), node.inputs[1], &shape, |j| vec![operands(cx, j)[1].1]);
                let (ma, mb) = (*mult_a as i64, *mult_b as i64);
                let d = Expr::col(a).scale_i(ma).sub(&Expr::col(b).scale_i(mb));
                let d_vals = self.prover.then(|| self.combine(&[a, b], |v| v[0] * ma - v[1] * mb));
                let bound = (1i128 << (ins[0].bits - 1)) * (ma as i128).abs() + (1i128 << (ins[1].bits - 1)) * (mb as i128).abs();
                let (g, l) = self.sign_split(inst, name, vars, d, d_vals, bits_for(bound + 1));
                let v = Expr::col(self.per_element("valid", &shape, |_| 1));
                let want = match mode {
                    CmpMode::Less => l,
                    CmpMode::LessEq => v.sub(&g),
                    CmpMode::Greater => g,
                    CmpMode::GreaterEq => v.sub(&l),
                    CmpMode::Equal => v.sub(&g).sub(&l),
                };
                self.constrain(inst, Expr::col(y).sub(&want));
            }
            Op::Where => {
                // nz = g + l = [cond ≠ 0] from cond's sign bits, y = b + nz·(a − b).
                let wire = |b: &mut Self, slot: usize| {
                    b.wiring(&format!("{name} input {slot}"), node.inputs[slot], &shape, |j| vec![operands(cx, j)[slot].1])
                };
                let (c, a, b) = (wire(self, 0), wire(self, 1), wire(self, 2));
                let c_vals = self.prover.then(|| self.vals(c).clone());
                let (g, l) = self.sign_split(inst, name, vars, Expr::col(c), c_vals, ins[0].bits as u32);
                let (ae, be) = (Expr::col(a), Expr::col(b));
                self.constrain(inst, Expr::col(y).sub(&be).sub(&g.add(&l).mul(&ae.sub(&be))));
            }
            Op::Arg { axis, min, last, .. } => {
                // The selected lane element's position: y = Σ_lane s·pos, with `s` the
                // first (last) extreme of the lane.
                let xs = ins[0].shape.clone();
                let (len, stride) = (xs[*axis], xs[*axis + 1..].iter().product::<usize>());
                let lane_of = |j: usize| verity_model::shape::lane(&xs, *axis, j).collect::<Vec<_>>();
                let pos_of = |j: usize| j / stride % len;
                let (in_inst, s, _) = self.lane_extreme(name, node.inputs[0], &lane_of, &pos_of, *min, Some(*last))?;
                let pos = self.per_element(&format!("{name} position"), &xs, |j| pos_of(j) as i64);
                let qv = self.prover.then(|| self.combine(&[s, pos], |v| v[0] * v[1]));
                let q = self.witness(format!("{name} selected position"), layout::vars(&xs), || qv.unwrap());
                self.constrain(in_inst, Expr::col(q).sub(&Expr::col(s).mul(&Expr::col(pos))));
                let entries = (0..n)
                    .flat_map(|j| {
                        let (t, xs) = (layout::flat_to_padded(&shape, j) as u32, &xs);
                        operands(cx, j).into_iter().map(move |(_, u)| (t, layout::flat_to_padded(xs, u) as u32))
                    })
                    .collect();
                let idx = self.virtual_col(&format!("{name} index"), q, vars, entries);
                self.constrain(inst, Expr::col(y).sub(&Expr::col(idx)));
            }
            Op::Div { mult, shift } => {
                // With sa = sign(a), sb = sign(b) (witnesses: s³ = s, x·(1 − s²) = 0,
                // s·x ≥ 0), the op is one quotient: for b ≠ 0
                // ⌊(2·mult·a·sb + |b|·2^shift) / (2·|b|·2^shift)⌋, and for b = 0 the
                // numerator sa·sign(mult)·(qmax + 1) over 1, which clamps to the bound or 0.
                let a = self.wiring(&format!("{name} a"), node.inputs[0], &shape, |j| vec![operands(cx, j)[0].1]);
                let b = self.wiring(&format!("{name} b"), node.inputs[1], &shape, |j| vec![operands(cx, j)[1].1]);
                let vcol = self.per_element("valid", &shape, |_| 1);
                let mut signs = vec![];
                for (col, bits, what) in [(a, ins[0].bits, "a"), (b, ins[1].bits, "b")] {
                    let sv = self.prover.then(|| self.vals(col).iter().map(|x| x.signum()).collect::<Vec<_>>());
                    let sg = self.witness(format!("{name} sign {what}"), vars, || sv.clone().unwrap());
                    let (se, xe) = (Expr::col(sg), Expr::col(col));
                    self.constrain(inst, se.mul(&se).mul(&se).sub(&se));
                    self.constrain(inst, xe.sub(&xe.mul(&se).mul(&se)));
                    let abs = self.prover.then(|| self.vals(col).iter().map(|x| x.abs()).collect::<Vec<_>>());
                    let (l, _) = self.limbs(inst, &format!("{name} |{what}|"), vars, bits as u32, abs.as_deref(), false);
                    self.constrain(inst, l.sub(&xe.mul(&se)));
                    // |x| − s² ≥ 0: a zero x has sign 0.
                    let gap = self.prover.then(|| self.vals(col).iter().map(|x| x.abs() - x.signum().abs()).collect::<Vec<_>>());
                    let (g, _) = self.limbs(inst, &format!("{name} |{what}| − sign²"), vars, bits as u32, gap.as_deref(), false);
                    self.constrain(inst, g.sub(&xe.mul(&se)).add(&se.mul(&se)));
                    signs.push(se);
                }
                let (sa, sb) = (&signs[0], &signs[1]);
                let (v, ae, be) = (Expr::col(vcol), Expr::col(a), Expr::col(b));
                let qmax = qrange(out.bits).1;
                let zero_b = v.sub(&sb.mul(sb));
                let num = ae
                    .mul(sb)
                    .scale_i(2 * *mult as i64)
                    .add(&be.mul(sb).scale_i(1 << shift))
                    .add(&zero_b.mul(sa).scale_i(mult.signum() as i64 * (qmax + 1)));
                let den = be.mul(sb).scale_i(2 << shift).add(&zero_b);
                let (num_vals, den_vals) = if self.prover {
                    let (av, bv, valid) = (self.vals(a), self.vals(b), self.vals(vcol));
                    let f = |i: usize| -> (i64, i64) {
                        if valid[i] == 0 {
                            (0, 0)
                        } else if bv[i] == 0 {
                            (av[i].signum() * mult.signum() as i64 * (qmax + 1), 1)
                        } else {
                            (2 * *mult as i64 * av[i] * bv[i].signum() + (bv[i].abs() << shift), bv[i].abs() << (shift + 1))
                        }
                    };
                    let (nv, dv): (Vec<i64>, Vec<i64>) = (0..av.len()).map(f).unzip();
                    (Some(nv), Some(dv))
                } else {
                    (None, None)
                };
                let qb = (((1i64 << (ins[0].bits - 1)) * (*mult as i64).abs()) >> shift) + qmax + 3;
                let d_max = (1i64 << (ins[1].bits - 1)) << (shift + 1);
                let num_max = ((2 * (*mult as i128).abs()) << (ins[0].bits - 1)) + ((d_max as i128) >> 1) + qmax as i128 + 1;
                self.quotient(
                    inst,
                    &shape,
                    num,
                    num_vals,
                    den,
                    den_vals,
                    vec![qb; n],
                    vec![d_max; n],
                    num_max,
                    Quotient::Clamped(y, out.bits),
                )?;
            }
        }
        Ok(())
    }

    /// LayerNorm over rows of `n` elements (`docs/semantics.md`), as a chain of exact
    /// integer steps, each a constraint or a quotient argument:
    /// `S = Σ_row x` (wiring), `d = n·x − S`, `sq = d²`, `SS = Σ_row sq` (wiring),
    /// `v = ⌊(SS + eps) / n⌋`, `den = isqrt(v)` (`v − den² ≥ 0`, `(den + 1)² − 1 − v ≥ 0`),
    /// `z = ⌊(2·d·2^frac + den) / 2den⌋` or 0 when `den = 0` (indicator `nz`), and
    /// `y = clamp(⌊(z·γ + β + 2^(shift−1)) / 2^shift⌋)`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn layer_norm(
        &mut self,
        inst: usize,
        x_id: u32,
        y: ColId,
        bits: u8,
        axis: usize,
        eps: i64,
        frac: u8,
        gamma: &[i64],
        beta: &[i64],
        shift: u8,
    ) -> Result<(), String> {
        let xin = self.model.value(x_id);
        let shape = xin.shape.clone();
        let vars = layout::vars(&shape);
        let count: usize = shape.iter().product();
        let n = shape[axis..].iter().product::<usize>();
        let row = |j: usize| (j / n * n..j / n * n + n).collect::<Vec<_>>();
        let name = self.c.instances[inst].name.clone();
        let x = self.value_col(x_id);
        let s = self.wiring(&format!("{name} row sum"), x_id, &shape, row);
        let d = Expr::col(x).scale_i(n as i64).sub(&Expr::col(s));
        let vcol = self.per_element("valid", &shape, |_| 1);
        let valid = self.vals(vcol).clone();
        // Witness values, following the reference step by step.
        let mut wv: Option<[Vec<i64>; 7]> = None;
        if self.prover {
            let (xv, sv) = (self.vals(x), self.vals(s));
            let len = 1 << vars;
            let mut w: [Vec<i64>; 7] = std::array::from_fn(|_| vec![0; len]);
            // sq, ss (per row), v, den, nz, z numerator, z denominator
            let dv: Vec<i64> = (0..len).map(|i| n as i64 * xv[i] - sv[i]).collect();
            for i in 0..len {
                w[0][i] = dv[i] * dv[i] * valid[i];
            }
            for j in 0..count {
                let i = layout::flat_to_padded(&shape, j);
                let ss: i64 = row(j).into_iter().map(|u| w[0][layout::flat_to_padded(&shape, u)]).sum();
                let v = (ss + eps) / n as i64;
                let den = verity_model::arith::isqrt(v as u128) as i64;
                let nz = (den != 0) as i64;
                (w[1][i], w[2][i], w[3][i], w[4][i]) = (ss, v, den, nz);
                (w[5][i], w[6][i]) = if nz == 1 { (2 * (dv[i] << frac) + den, 2 * den) } else { (0, 1) };
            }
            wv = Some(w);
        }
        let w = wv.as_ref();
        let x_mag = 1i128 << (self.model.value(x_id).bits - 1);
        let d_max = 2 * n as i128 * x_mag;
        let ss_max = n as i128 * d_max * d_max;
        if ss_max + eps as i128 >= 1 << 62 || frac > 40 || (d_max << frac) >= 1 << 60 {
            return Err(format!("LayerNorm over {n} elements is outside the proof's range"));
        }
        let (d_max, ss_max) = (d_max as i64, ss_max as i64);
        let sq = self.witness(format!("{name} squared deviation"), vars, || w.unwrap()[0].clone());
        self.constrain(inst, Expr::col(sq).sub(&d.mul(&d)));
        let ss = self.virtual_sum(&format!("{name} squares sum"), sq, &shape, row);
        // v = ⌊(SS + eps) / n⌋
        let v_max = (ss_max + eps) / n as i64;
        let num = Expr::col(ss).add(&Expr::col(vcol).scale_i(eps));
        let num_vals = w.map(|w| (0..w[1].len()).map(|i| (w[1][i] + eps) * valid[i]).collect());
        let den_vals = w.map(|_| valid.iter().map(|v| v * n as i64).collect());
        let v = self.quotient(
            inst,
            &shape,
            num,
            num_vals,
            Expr::col(vcol).scale_i(n as i64),
            den_vals,
            vec![v_max + 1; count],
            vec![n as i64; count],
            (ss_max + eps) as i128,
            Quotient::Free,
        )?;
        // den = isqrt(v)
        let den_max = verity_model::arith::isqrt(v_max as u128) as i64;
        let den = self.witness(format!("{name} isqrt"), vars, || w.unwrap()[3].clone());
        let den_e = Expr::col(den);
        let (dn, _) =
            self.limbs(inst, &format!("{name} isqrt range"), vars, bits_for(den_max as i128), w.map(|w| w[3].as_slice()), true);
        self.constrain(inst, dn.sub(&den_e));
        let gap_bits = bits_for(2 * den_max as i128 + 1);
        let lo_gap = w.map(|w| (0..w[2].len()).map(|i| w[2][i] - w[3][i] * w[3][i]).collect::<Vec<_>>());
        let hi_gap = w.map(|w| (0..w[2].len()).map(|i| (w[3][i] + 1) * (w[3][i] + 1) - 1 - w[2][i]).collect::<Vec<_>>());
        let (lo, _) = self.limbs(inst, &format!("{name} isqrt low gap"), vars, gap_bits, lo_gap.as_deref(), false);
        let (hi, _) = self.limbs(inst, &format!("{name} isqrt high gap"), vars, gap_bits, hi_gap.as_deref(), false);
        let den_sq = den_e.mul(&den_e);
        self.constrain(inst, lo.sub(&v).add(&den_sq));
        // (den + 1)² − 1 − v = den² + 2·den − v; padding rows have v = den = 0, gaps 0.
        self.constrain(inst, hi.sub(&den_sq).sub(&den_e.scale_i(2)).add(&v));
        // nz = [den ≠ 0]
        let nz = self.witness(format!("{name} nonzero"), vars, || w.unwrap()[4].clone());
        let nz_e = Expr::col(nz);
        self.constrain(inst, nz_e.mul(&nz_e).sub(&nz_e));
        self.constrain(inst, den_e.sub(&den_e.mul(&nz_e)));
        let pos = w.map(|w| (0..w[3].len()).map(|i| w[3][i] - w[4][i]).collect::<Vec<_>>());
        let (pos_e, _) =
            self.limbs(inst, &format!("{name} isqrt positive"), vars, bits_for(den_max as i128), pos.as_deref(), false);
        self.constrain(inst, pos_e.sub(&den_e).add(&nz_e));
        // z = ⌊(2·d·2^frac + den) / 2den⌋ when den ≠ 0, else ⌊0 / 1⌋.
        let num = nz_e.mul(&d.scale_i(2i64 << frac).add(&den_e));
        let den2 = den_e.scale_i(2).add(&Expr::col(vcol)).sub(&nz_e);
        let z_max = (d_max << frac) + den_max + 1;
        let z = self.quotient(
            inst,
            &shape,
            num,
            w.map(|w| w[5].clone()),
            den2,
            w.map(|w| w[6].clone()),
            vec![z_max; count],
            vec![2 * den_max + 1; count],
            ((d_max as i128) << (frac + 1)) + den_max as i128,
            Quotient::Free,
        )?;
        // y = clamp(⌊(z·γ + β + half) / 2^shift⌋)
        let zvals = w.map(|_| {
            let zc = z.columns().next().expect("quotient column");
            self.vals(zc).clone()
        });
        let half = if shift == 0 { 0 } else { 1i64 << (shift - 1) };
        let g_max = gamma.iter().map(|g| g.abs()).max().unwrap_or(0) as i128;
        let b_max = beta.iter().map(|b| b.abs()).max().unwrap_or(0) as i128;
        if z_max as i128 * g_max + b_max + half as i128 >= 1 << 62 {
            return Err("LayerNorm scale is outside the proof's range".into());
        }
        let pos_in_row = |j: usize| j % n;
        let gcol = self.per_element("gamma", &shape, |j| gamma[pos_in_row(j)]);
        let bcol = self.per_element("beta", &shape, |j| beta[pos_in_row(j)] + half);
        let num = z.mul(&Expr::col(gcol)).add(&Expr::col(bcol));
        let num_vals = zvals.map(|zv| {
            let (g, b) = (self.vals(gcol), self.vals(bcol));
            (0..zv.len()).map(|i| zv[i] * g[i] + b[i]).collect()
        });
        let dcol = self.per_element("D", &shape, |_| 1i64 << shift);
        let qb = (z_max as i128 * g_max + b_max + half as i128) / (1i128 << shift) + 1;
        let den_vals = self.prover.then(|| self.vals(dcol).clone());
        self.quotient(
            inst,
            &shape,
            num,
            num_vals,
            Expr::col(dcol),
            den_vals,
            vec![qb as i64; count],
            vec![1i64 << shift; count],
            z_max as i128 * g_max + b_max + half as i128,
            Quotient::Clamped(y, bits),
        )?;
        Ok(())
    }
}
