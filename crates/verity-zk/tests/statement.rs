//! The output statement: model outputs that the circuit does not compute (a constant, a
//! model input, an output listed twice) are checked by the verifier against what they
//! must equal; a wrong claimed value is rejected, the right one verifies.

use verity_model::{Model, Node, Op, Tensor, ValueInfo};
use verity_zk::protocol::{keygen, prove, trace_values, verify};

/// `x` (input, 1×4, 8-bit) → `y = Rescale(x)`, and a constant `c`; `outputs` picks which
/// values (0 = x, 1 = y, 2 = c) the model returns.
fn model(outputs: Vec<u32>) -> Model {
    let v = |name: &str| ValueInfo { name: name.into(), shape: vec![1, 4], bits: 8, scale: 0.1 };
    let model = Model {
        values: vec![v("x"), v("y"), v("c")],
        inputs: vec![0],
        input_affine: vec![],
        outputs,
        nodes: vec![
            Node { name: "half".into(), op: Op::Rescale { mult: 1, shift: 1 }, inputs: vec![0], output: 1 },
            Node { name: "table".into(), op: Op::Const { data: vec![3, -7, 0, 127] }, inputs: vec![], output: 2 },
        ],
    };
    model.validate().unwrap();
    model
}

/// Proves `model` on a fixed input; returns the honest outputs and a checker for claims.
fn proven(model: &Model) -> (Vec<Tensor>, impl Fn(&[Tensor]) -> Result<(), String> + '_) {
    let pk = keygen(model).unwrap();
    let inputs = vec![Tensor::new(vec![1, 4], vec![10, -3, 0, 99])];
    let values = trace_values(model, &inputs).unwrap();
    let proof = prove(model, &pk, &values, &mut |_, _, _| {}).unwrap();
    let outputs: Vec<Tensor> = model.outputs.iter().map(|&v| values[v as usize].clone().unwrap()).collect();
    (outputs, move |claim: &[Tensor]| verify(model, &pk.vk, &inputs, claim, &proof))
}

/// Every claim that differs from the honest outputs in one element of output `k`.
fn wrong_claims(honest: &[Tensor], k: usize) -> Vec<Vec<Tensor>> {
    (0..honest[k].data.len())
        .map(|i| {
            let mut w = honest.to_vec();
            let x = &mut w[k].data[i];
            *x = if *x == 127 { 126 } else { *x + 1 };
            w
        })
        .collect()
}

fn assert_statement(outputs: Vec<u32>, checked: usize, why: &str) {
    let m = model(outputs.clone());
    let (honest, check) = proven(&m);
    check(&honest).unwrap_or_else(|e| panic!("{outputs:?}: the honest claim fails: {e}"));
    for claim in wrong_claims(&honest, checked) {
        let err = check(&claim).expect_err("a wrong claimed output verified");
        assert!(err.contains(why), "{outputs:?}: {err}");
    }
}

#[test]
fn a_constant_output_must_be_claimed_as_the_constant() {
    assert_statement(vec![1, 2], 1, "constant of node 'table'");
    assert_statement(vec![2], 0, "constant of node 'table'");
}

#[test]
fn an_input_returned_as_an_output_must_be_claimed_as_given() {
    assert_statement(vec![1, 0], 1, "is the model input");
    assert_statement(vec![0, 1], 0, "is the model input");
}

#[test]
fn an_output_listed_twice_must_be_claimed_the_same_twice() {
    assert_statement(vec![1, 1], 1, "listed twice");
    assert_statement(vec![2, 2], 1, "listed twice");
    assert_statement(vec![0, 0], 1, "is the model input");
    // The first copy of a node output is still bound by the proof.
    let m = model(vec![1, 1]);
    let (honest, check) = proven(&m);
    for mut claim in wrong_claims(&honest, 0) {
        claim[1] = claim[0].clone();
        assert!(check(&claim).is_err(), "a wrong output claimed twice verified");
    }
}
