//! Per-block i8 dot products of a weight row with the quantized activations: the inner
//! loop of the fast matrix-vector kernel. Integer sums only, so every implementation returns
//! the same numbers; the AVX2 one is picked at run time when the CPU has it.

use crate::model::BLOCK;

/// `out[b] = Σ_{i<32} q[32b+i]·x[32b+i]` for every block `b` (`q`, `x`: `32·out.len()`).
pub fn block_dots(q: &[i8], x: &[i8], out: &mut [i32]) {
    assert!(q.len() == out.len() * BLOCK && x.len() == q.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above); the lengths were asserted.
        unsafe { avx2::block_dots(q, x, out) };
        return;
    }
    portable(q, x, out);
}

pub fn portable(q: &[i8], x: &[i8], out: &mut [i32]) {
    for ((o, qb), xb) in out.iter_mut().zip(q.chunks_exact(BLOCK)).zip(x.chunks_exact(BLOCK)) {
        *o = qb.iter().zip(xb).map(|(a, b)| *a as i32 * *b as i32).sum();
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use crate::model::BLOCK;

    /// Eight i32 partial sums of one block. `maddubs` multiplies unsigned by signed bytes,
    /// so each product is taken as `|q|·(x·sign q)`. Pair sums stay below `2·128·127 < 2^15`
    /// (`x` is in `-127..=127` by the activation quantizer, `|q| ≤ 128`): nothing saturates
    /// and the sum is the exact dot product.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn partial(q: *const i8, x: *const i8) -> __m256i {
        let qv = _mm256_loadu_si256(q as *const __m256i);
        let xv = _mm256_loadu_si256(x as *const __m256i);
        let p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(qv, qv), _mm256_sign_epi8(xv, qv));
        _mm256_madd_epi16(p16, _mm256_set1_epi16(1))
    }

    /// Eight blocks at a time, their partial-sum vectors reduced together by a tree of
    /// horizontal adds (reducing each block alone costs four times the shuffles).
    #[target_feature(enable = "avx2")]
    pub unsafe fn block_dots(q: &[i8], x: &[i8], out: &mut [i32]) {
        let (qp, xp) = (q.as_ptr(), x.as_ptr());
        let p = |b: usize| partial(qp.add(b * BLOCK), xp.add(b * BLOCK));
        let groups = out.len() / 8;
        for g in 0..groups {
            let b = 8 * g;
            let h01 = _mm256_hadd_epi32(p(b), p(b + 1));
            let h23 = _mm256_hadd_epi32(p(b + 2), p(b + 3));
            let h45 = _mm256_hadd_epi32(p(b + 4), p(b + 5));
            let h67 = _mm256_hadd_epi32(p(b + 6), p(b + 7));
            let (h03, h47) = (_mm256_hadd_epi32(h01, h23), _mm256_hadd_epi32(h45, h67));
            let lo = _mm256_permute2x128_si256(h03, h47, 0x20);
            let hi = _mm256_permute2x128_si256(h03, h47, 0x31);
            _mm256_storeu_si256(out.as_mut_ptr().add(b) as *mut __m256i, _mm256_add_epi32(lo, hi));
        }
        for (b, o) in out.iter_mut().enumerate().skip(8 * groups) {
            let v = p(b);
            let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
            *o = _mm_cvtsi128_si32(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        // Codes over Q8_0's full range (-128 included) and Q4_1's 0..=15; activations over
        // the quantizer's -127..=127, extremes weighted in; every block count mod 8.
        #[test]
        fn dispatch_equals_portable(nb in 1usize..20, seed in any::<u64>(), extreme in any::<bool>()) {
            let mut s = seed | 1;
            let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
            let n = nb * BLOCK;
            let q: Vec<i8> =
                (0..n).map(|_| if extreme { [-128, 127, 0, 15][(next() % 4) as usize] } else { next() as i8 }).collect();
            let x: Vec<i8> =
                (0..n).map(|_| if extreme { [-127, 127][(next() % 2) as usize] } else { ((next() % 255) as i32 - 127) as i8 }).collect();
            let (mut a, mut b) = (vec![0; nb], vec![0; nb]);
            block_dots(&q, &x, &mut a);
            portable(&q, &x, &mut b);
            prop_assert_eq!(a, b);
        }
    }
}
