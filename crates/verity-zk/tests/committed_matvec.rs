//! The pieces composed: a verifier holding only a commitment to `W` checks `y = W·x`
//! for public `x` and `y` — sumcheck reduces the claim to `W̃(r, s)`, which the
//! polynomial commitment opens.

use verity_zk::field::{ext, E};
use verity_zk::layers::{padded, prove_matvec, verify_matvec, Matrix};
use verity_zk::mle::{evaluate, table};
use verity_zk::pcs::{self, Commitment, Opening};
use verity_zk::sumcheck::SumcheckProof;
use verity_zk::transcript::Transcript;

struct Proof {
    sumcheck: SumcheckProof,
    w_at: E,
    opening: Opening,
}

fn challenge_row(t: &mut Transcript, vars: usize) -> Vec<E> {
    t.challenges(vars)
}

fn prove(w: &[i64], rows: usize, cols: usize, committed: &pcs::Committed, x: &[i64], y: &[i64]) -> Proof {
    let m = Matrix::new(w, rows, cols);
    let mut t = Transcript::new("committed matvec");
    t.absorb(b"weights", &committed.commitment.root);
    t.absorb_ext(b"x", &table(x, cols.next_power_of_two()));
    t.absorb_ext(b"y", &table(y, rows.next_power_of_two()));
    let r = challenge_row(&mut t, m.row_vars());
    let (sumcheck, s, _) = prove_matvec(&m, x, &r, &mut t);
    let point: Vec<E> = r.iter().chain(&s).copied().collect();
    let w_at = m.evaluate(&r, &s);
    let opening = pcs::open(committed, &point, w_at, &mut t);
    Proof { sumcheck, w_at, opening }
}

fn verify(c: &Commitment, rows: usize, cols: usize, x: &[i64], y: &[i64], p: &Proof) -> Result<(), String> {
    let mut t = Transcript::new("committed matvec");
    t.absorb(b"weights", &c.root);
    t.absorb_ext(b"x", &table(x, cols.next_power_of_two()));
    let yt = table(y, rows.next_power_of_two());
    t.absorb_ext(b"y", &yt);
    let (row_vars, col_vars) =
        (rows.next_power_of_two().trailing_zeros() as usize, cols.next_power_of_two().trailing_zeros() as usize);
    let r = challenge_row(&mut t, row_vars);
    let claim = evaluate(&yt, &r);
    let red = verify_matvec(claim, col_vars, &p.sumcheck, &mut t)?;
    let x_at = evaluate(&table(x, cols.next_power_of_two()), &red.point);
    if p.w_at * x_at != red.value {
        return Err("final sumcheck check failed".into());
    }
    let point: Vec<E> = r.iter().chain(&red.point).copied().collect();
    pcs::verify(c, &point, p.w_at, &p.opening, &mut t)
}

#[test]
fn committed_weights_prove_a_matrix_product() {
    let (rows, cols) = (10, 64);
    let w: Vec<i64> = (0..rows * cols).map(|i| (i as i64 * 37 % 255) - 127).collect();
    let x: Vec<i64> = (0..cols).map(|i| (i as i64 * 11 % 200) - 100).collect();
    let y: Vec<i64> = (0..rows).map(|j| (0..cols).map(|k| w[j * cols + k] * x[k]).sum()).collect();
    let committed = pcs::commit(&padded(&w, rows, cols));
    let c = committed.commitment.clone();
    let p = prove(&w, rows, cols, &committed, &x, &y);
    verify(&c, rows, cols, &x, &y, &p).unwrap();

    let mut y2 = y.clone();
    y2[3] += 1;
    assert!(verify(&c, rows, cols, &x, &y2, &p).is_err(), "a wrong output is rejected");
    let mut x2 = x.clone();
    x2[0] += 1;
    assert!(verify(&c, rows, cols, &x2, &y, &p).is_err(), "another input is rejected");
    let mut w2 = w.clone();
    w2[5] += 1;
    let c2 = pcs::commit(&padded(&w2, rows, cols)).commitment;
    assert!(verify(&c2, rows, cols, &x, &y, &p).is_err(), "a proof for one model does not verify for another");
    let mut p2 = Proof { sumcheck: p.sumcheck.clone(), w_at: p.w_at + ext(1), opening: p.opening.clone() };
    assert!(verify(&c, rows, cols, &x, &y, &p2).is_err());
    p2.w_at = p.w_at;
    p2.opening.columns[0].1[0] += verity_zk::field::from_i64(1);
    assert!(verify(&c, rows, cols, &x, &y, &p2).is_err());
}
