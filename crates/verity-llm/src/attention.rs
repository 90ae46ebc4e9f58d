//! The fast kernel's attention for one query head: the numbers of `forward::attn_score` and
//! `forward::attn_mix`, with sums in i64 where a bound shows that no partial sum can pass
//! 2^62 (so the i64 sum is the i128 one), and the loops compiled for AVX-512 where the CPU
//! has it. The bounds use the largest magnitudes in the cache, which the session keeps.

use crate::forward::{attn_score, rdiv, sat};
use crate::model::{Model, FRAC};

/// The scores of `q` against every cached key (`keys` rows of `stride` values, this head's
/// `q.len()` values at `off`).
pub fn scores(model: &Model, q: &[i32], keys: &[i32], stride: usize, off: usize, k_max: u32) -> Vec<i64> {
    let n = keys.len() / stride;
    let q_max = q.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0);
    let bound = q_max as u128 * k_max as u128 * q.len() as u128 * model.inv_sqrt_hd.unsigned_abs() as u128;
    if bound >= 1 << 62 {
        return (0..n).map(|j| attn_score(model, q, &keys[j * stride + off..][..q.len()])).collect();
    }
    let mut out = vec![0i64; n];
    if crate::packed::supported() {
        // SAFETY: the CPU has AVX-512 (checked by `supported`).
        unsafe { scores_avx512(q, keys, stride, off, model.inv_sqrt_hd, &mut out) };
    } else {
        scores_i64(q, keys, stride, off, model.inv_sqrt_hd, &mut out);
    }
    out
}

/// `attn_mix` of every output of the head into `out`; false (nothing written) when the
/// bound `Σ|w|·|v|_max < 2^62` does not hold and the caller must take `attn_mix`.
pub fn mix(w: &[i32], values: &[i32], stride: usize, off: usize, v_max: u32, out: &mut [i32]) -> bool {
    let wsum: u128 = w.iter().map(|x| x.unsigned_abs() as u128).sum();
    if wsum * v_max as u128 >= 1 << 62 {
        return false;
    }
    // Weights are i32 and far fewer than 2^32: the sum fits i64.
    let total: i64 = w.iter().map(|x| *x as i64).sum();
    if total <= 0 {
        out.fill(0);
        return true;
    }
    let mut num = vec![0i64; out.len()];
    if crate::packed::supported() {
        // SAFETY: as in `scores`.
        unsafe { mix_avx512(w, values, stride, off, &mut num) };
    } else {
        mix_i64(w, values, stride, off, &mut num);
    }
    for (o, v) in out.iter_mut().zip(num) {
        *o = sat(rdiv(v as i128, total as i128));
    }
    true
}

#[inline(always)]
fn scores_i64(q: &[i32], keys: &[i32], stride: usize, off: usize, inv: i64, out: &mut [i64]) {
    for (j, o) in out.iter_mut().enumerate() {
        let k = &keys[j * stride + off..][..q.len()];
        let dot: i64 = q.iter().zip(k).map(|(a, b)| *a as i64 * *b as i64).sum();
        // `forward::rdiv(dot·inv, 2^32)`, the divisor a constant.
        let (p, b) = (dot * inv, 1i64 << (2 * FRAC));
        *o = if p >= 0 { (p + b / 2) / b } else { -((-p + b / 2) / b) };
    }
}

#[inline(always)]
fn mix_i64(w: &[i32], values: &[i32], stride: usize, off: usize, num: &mut [i64]) {
    // Weights past the cached positions (only a cheating hook makes them) pair with no
    // value, as in `attn_mix`.
    for (j, wj) in w.iter().enumerate().take(values.len() / stride) {
        let v = &values[j * stride + off..][..num.len()];
        for (acc, v) in num.iter_mut().zip(v) {
            *acc += *wj as i64 * *v as i64;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2")]
unsafe fn scores_avx512(q: &[i32], keys: &[i32], stride: usize, off: usize, inv: i64, out: &mut [i64]) {
    scores_i64(q, keys, stride, off, inv, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2")]
unsafe fn mix_avx512(w: &[i32], values: &[i32], stride: usize, off: usize, num: &mut [i64]) {
    mix_i64(w, values, stride, off, num)
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn scores_avx512(q: &[i32], keys: &[i32], stride: usize, off: usize, inv: i64, out: &mut [i64]) {
    scores_i64(q, keys, stride, off, inv, out)
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn mix_avx512(w: &[i32], values: &[i32], stride: usize, off: usize, num: &mut [i64]) {
    mix_i64(w, values, stride, off, num)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::forward::attn_mix;
    use crate::testutil;

    proptest! {
        // Magnitudes from tiny to i32's extremes, so both the i64 path and the fallback run;
        // weights as a cheating executor may write them (negative, zero sums).
        #[test]
        fn fast_attention_equals_the_literal_formulas(
            n in 1usize..40, amp in 0u32..32, seed in any::<u64>(), signed_w in any::<bool>(),
        ) {
            let model = Model::from_gguf(&crate::gguf::parse(&testutil::tiny_gguf(1, "llama")).unwrap()).unwrap();
            let (hd, stride, off) = (8usize, 24usize, 8usize);
            let mut s = seed | 1;
            let mut next = move || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
            let mut val = |amp: u32| (next() as i32) >> (31 - amp.min(31));
            let q: Vec<i32> = (0..hd).map(|_| val(amp)).collect();
            let keys: Vec<i32> = (0..n * stride).map(|_| val(amp)).collect();
            let w: Vec<i32> = (0..n).map(|_| if signed_w { val(30) } else { val(30).abs() >> 1 }).collect();
            let amax = |v: &[i32]| v.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0);
            let k_max = amax(&keys);
            let literal: Vec<i64> = (0..n).map(|j| attn_score(&model, &q, &keys[j * stride + off..][..hd])).collect();
            prop_assert_eq!(scores(&model, &q, &keys, stride, off, k_max), literal);
            let mut out = vec![0; hd];
            if mix(&w, &keys, stride, off, k_max, &mut out) {
                let literal: Vec<i32> = (0..hd).map(|i| attn_mix(&w, (0..n).map(|j| keys[j * stride + off + i]))).collect();
                prop_assert_eq!(out, literal);
            } else {
                prop_assert!(amp >= 20, "small values must take the i64 path");
            }
        }
    }
}
