//! Semantic forgeries of the selection ops (Compare, Where, Arg): a prover that claims a
//! wrong boolean, branch or index and rewrites the op's own witnesses (sign bits, selector,
//! limbs) to fit the lie is rejected; the same prover telling the truth verifies, so the
//! rejection comes from the argument, not from the rewriting.

use p3_field::{PrimeCharacteristicRing, PrimeField64};
use verity_model::{CmpMode, Model, Node, Op, Tensor, ValueInfo};
use verity_zk::circuit::Circuit;
use verity_zk::field::{from_i64, F};
use verity_zk::protocol::{keygen, prove_adversarial, trace_values, verify, Adversary};

fn value(name: &str, shape: Vec<usize>) -> ValueInfo {
    ValueInfo { name: name.into(), shape, bits: 8, scale: 1.0 }
}

fn model(values: Vec<ValueInfo>, n_in: usize, op: Op) -> Model {
    let out = values.len() as u32 - 1;
    let m = Model {
        inputs: (0..n_in as u32).collect(),
        input_affine: vec![],
        outputs: vec![out],
        nodes: vec![Node { name: "op".into(), op, inputs: (0..n_in as u32).collect(), output: out }],
        values,
    };
    m.validate().unwrap();
    m
}

/// Sets column `name`'s padded row `row` to `v`; with `limbs`, also re-splits the limb
/// columns `"{limbs} limb k"` at that row into the field value `gap` (low limbs in range,
/// the top one taking the rest), as a forger would.
struct Edit {
    sets: Vec<(String, usize, F)>,
    limbs: Option<(String, usize, F)>,
}

impl Adversary for Edit {
    fn witness(&mut self, c: &Circuit, vals: &mut [Option<Vec<F>>]) {
        let col = |name: &str| c.columns.iter().position(|k| k.name == name).unwrap_or_else(|| panic!("no column '{name}'"));
        for (name, row, v) in &self.sets {
            vals[col(name)].as_mut().unwrap()[*row] = *v;
        }
        if let Some((name, row, gap)) = &self.limbs {
            let rb = c.range_bits;
            let mut rest = gap.as_canonical_u64();
            for k in 0.. {
                let Some(i) = c.columns.iter().position(|x| x.name == format!("{name} limb {k}")) else { break };
                let next = c.columns.iter().any(|x| x.name == format!("{name} limb {}", k + 1));
                let v = if next { rest & ((1 << rb) - 1) } else { rest };
                vals[i].as_mut().unwrap()[*row] = F::from_u64(v);
                rest >>= rb;
            }
        }
    }
}

/// Proves `m` on `inputs` with `edit` and checks the claim `claim`.
fn attempt(m: &Model, inputs: &[Tensor], claim: &Tensor, mut edit: Edit) -> Result<(), String> {
    let pk = keygen(m).unwrap();
    let values = trace_values(m, inputs).unwrap();
    let proof = prove_adversarial(m, &pk, &values, &mut edit)?;
    verify(m, &pk.vk, inputs, std::slice::from_ref(claim), &proof)
}

fn honest(m: &Model, inputs: &[Tensor]) -> Tensor {
    verity_model::reference::run(m, inputs).unwrap().remove(0)
}

#[test]
fn arg_with_a_reselected_index_is_rejected() {
    // Two equal maxima (at 1 and 4): ArgMax picks the first, and ties must not be moved.
    let x = Tensor::new(vec![1, 6], vec![3, 9, -2, 5, 9, 0]);
    let m = model(
        vec![value("x", vec![1, 6]), value("y", vec![1])],
        1,
        Op::Arg { axis: 1, keep_dims: false, min: false, last: false },
    );
    let y = honest(&m, std::slice::from_ref(&x));
    assert_eq!(y.data, vec![1]);
    let reselect = |k: usize| {
        let mut sets = vec![("y".to_string(), 0, from_i64(k as i64))];
        for t in 0..6 {
            let on = (t == k) as i64;
            sets.push(("op selector".into(), t, from_i64(on)));
            sets.push(("op selected".into(), t, from_i64(on * x.data[t] as i64)));
            sets.push(("op selected position".into(), t, from_i64(on * t as i64)));
        }
        Edit { sets, limbs: None }
    };
    attempt(&m, std::slice::from_ref(&x), &y, reselect(1)).expect("the truth, rewritten the same way, verifies");
    for k in [0, 2, 3, 4, 5] {
        let claim = Tensor::new(vec![1], vec![k as i32]);
        assert!(attempt(&m, std::slice::from_ref(&x), &claim, reselect(k)).is_err(), "index {k} was accepted");
    }
}

#[test]
fn compare_with_rewritten_sign_bits_is_rejected() {
    let (a, b) = (Tensor::new(vec![1, 4], vec![5, -3, 7, 0]), Tensor::new(vec![1, 4], vec![2, -3, 9, 1]));
    for mode in CmpMode::ALL {
        let vals = vec![value("a", vec![1, 4]), value("b", vec![1, 4]), value("y", vec![1, 4])];
        let m = model(vals, 2, Op::Compare { mode, mult_a: 1, mult_b: 1 });
        let inputs = [a.clone(), b.clone()];
        let y = honest(&m, &inputs);
        for i in 0..4 {
            let d = (a.data[i] - b.data[i]) as i64;
            // Every sign pattern (g, l) for d, with y set to what that pattern implies.
            for (g, l) in [(0i64, 0i64), (1, 0), (0, 1)] {
                let implied = match mode {
                    CmpMode::Less => l,
                    CmpMode::LessEq => 1 - g,
                    CmpMode::Greater => g,
                    CmpMode::GreaterEq => 1 - l,
                    CmpMode::Equal => 1 - g - l,
                };
                let mut claim = y.clone();
                claim.data[i] = implied as i32;
                let gap = from_i64(g * (d - 1) - l * (d + 1));
                let edit = Edit {
                    sets: vec![
                        ("y".into(), i, from_i64(implied)),
                        ("op d > 0".into(), i, from_i64(g)),
                        ("op d < 0".into(), i, from_i64(l)),
                    ],
                    limbs: Some(("op |d| − 1".into(), i, gap)),
                };
                let truth = (g, l) == ((d > 0) as i64, (d < 0) as i64);
                let r = attempt(&m, &inputs, &claim, edit);
                assert_eq!(r.is_ok(), truth, "{mode:?} element {i}: d = {d}, g = {g}, l = {l}: {r:?}");
            }
        }
    }
}

#[test]
fn where_with_the_other_branch_is_rejected() {
    let c = Tensor::new(vec![1, 4], vec![0, 3, -1, 0]);
    let (a, b) = (Tensor::new(vec![1, 4], vec![10, 20, 30, 40]), Tensor::new(vec![1, 4], vec![-1, -2, -3, -4]));
    let vals = vec![value("c", vec![1, 4]), value("a", vec![1, 4]), value("b", vec![1, 4]), value("y", vec![1, 4])];
    let m = model(vals, 3, Op::Where);
    let inputs = [c.clone(), a.clone(), b.clone()];
    let y = honest(&m, &inputs);
    for i in 0..4 {
        let cv = c.data[i] as i64;
        for (g, l) in [(0i64, 0i64), (1, 0), (0, 1)] {
            let pick = if g + l == 1 { a.data[i] } else { b.data[i] };
            let mut claim = y.clone();
            claim.data[i] = pick;
            let gap = from_i64(g * (cv - 1) - l * (cv + 1));
            let edit = Edit {
                sets: vec![
                    ("y".into(), i, from_i64(pick as i64)),
                    ("op d > 0".into(), i, from_i64(g)),
                    ("op d < 0".into(), i, from_i64(l)),
                ],
                limbs: Some(("op |d| − 1".into(), i, gap)),
            };
            let truth = (g, l) == ((cv > 0) as i64, (cv < 0) as i64);
            let r = attempt(&m, &inputs, &claim, edit);
            assert_eq!(r.is_ok(), truth, "element {i}: cond = {cv}, g = {g}, l = {l}: {r:?}");
        }
    }
}

#[test]
fn softmax_over_a_long_lane_proves_and_a_moved_max_is_rejected() {
    // 40 classes: more than the 16 the old lane-max product allowed.
    let n = 40;
    let exp_table: Vec<i32> = (0..256).map(|d| ((1 << 20) as f64 * (-0.05 * d as f64).exp()).round() as i32).collect();
    let m = model(vec![value("x", vec![1, n]), value("y", vec![1, n])], 1, Op::Softmax { axis: 1, exp_table });
    let x = Tensor::new(vec![1, n], (0..n as i32).map(|i| (i * 37) % 101 - 50).collect());
    let y = honest(&m, std::slice::from_ref(&x));
    attempt(&m, std::slice::from_ref(&x), &y, Edit { sets: vec![], limbs: None }).expect("the honest proof verifies");
    // A selector on a smaller element (the true max is at the largest x): the claimed
    // outputs then follow that smaller max, and the range check of max − x fails.
    let top = (0..n).max_by_key(|&i| x.data[i]).unwrap();
    let other = (top + 1) % n;
    let sets = (0..n)
        .flat_map(|t| {
            let on = (t == other) as i64;
            [("op selector".to_string(), t, from_i64(on)), ("op selected".to_string(), t, from_i64(on * x.data[t] as i64))]
        })
        .collect();
    assert!(attempt(&m, std::slice::from_ref(&x), &y, Edit { sets, limbs: None }).is_err(), "a non-maximal lane max verified");
}
