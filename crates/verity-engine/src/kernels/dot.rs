//! i16 dot products with i32 accumulation (`pmaddwd` on x86-64), split into K-blocks
//! whose i32 sum provably cannot overflow, added up in i64.

/// Rows are zero-padded to a multiple of this, so the kernels never handle a tail.
pub const LANES: usize = 16;

/// Row length after padding `k` to whole lanes.
pub fn padded(k: usize) -> usize {
    k.next_multiple_of(LANES).max(LANES)
}

/// Longest K-block (a multiple of [`LANES`], at most `kp`) whose i32 sum of products of
/// magnitude at most `max_product` stays within i32. 0 means even one lane-block could
/// overflow: use the i64 kernel.
pub fn block_len(max_product: i64, kp: usize) -> usize {
    if max_product <= 0 {
        return kp;
    }
    let terms = (i32::MAX as i64 / max_product) as usize;
    (terms / LANES * LANES).min(kp)
}

/// Copies `rows` rows of `k` values into `dst` as i16 rows of `kp` (zero tail).
/// Values are 8- or 16-bit, so the casts are exact.
pub fn pack_rows(src: &[i32], rows: usize, k: usize, kp: usize, dst: &mut [i16]) {
    let dst = &mut dst[..rows * kp];
    // One fill for all the tails: a fill per short tail costs a `memset` call each.
    if kp > k {
        dst.fill(0);
    }
    for (s, d) in src[..rows * k].chunks_exact(k).zip(dst.chunks_exact_mut(kp)) {
        for (d, &v) in d.iter_mut().zip(s) {
            *d = v as i16;
        }
    }
}

/// Largest magnitude in `v` (0 for an empty slice).
pub fn max_abs(v: &[i32]) -> i64 {
    v.iter().fold(0i64, |m, &x| m.max((x as i64).abs()))
}

// Wrapping i32 arithmetic is exact here: sums are taken modulo 2^32 in any order, and
// the block length guarantees the true block sum lies in i32, so the result is that sum.

/// Four dot products `a . b_t` over the first `a.len()` (a multiple of 8) elements.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn dot4(a: &[i16], b: [&[i16]; 4]) -> [i32; 4] {
    use std::arch::x86_64::*;
    let n = a.len() / 8;
    assert!(a.len() == n * 8 && b.iter().all(|b| b.len() >= n * 8), "dot operands are whole 8-lane rows");
    let mut out = [0i32; 4];
    // SAFETY: SSE2 is part of the x86_64 baseline, and every load reads 8 i16 at
    // offset `8 * i < 8 * n`, inside the slices (asserted above); the one store writes
    // `out` (16 bytes). Unaligned load/store intrinsics are used throughout.
    // Why unsafe: the safe reduction forms vectorize to half-width `pmaddwd` under the
    // workspace's codegen-units = 4; these intrinsics measured 2-2.7x faster (23-34 vs
    // 11-14 multiply-adds per ns for K = 32..256).
    unsafe {
        let mut acc = [_mm_setzero_si128(); 4];
        for i in 0..n {
            let x = _mm_loadu_si128(a.as_ptr().add(i * 8) as *const __m128i);
            for t in 0..4 {
                let y = _mm_loadu_si128(b[t].as_ptr().add(i * 8) as *const __m128i);
                acc[t] = _mm_add_epi32(acc[t], _mm_madd_epi16(x, y));
            }
        }
        // Transpose-and-add: lane t of the result is the sum of acc[t]'s four lanes.
        let u0 = _mm_add_epi32(_mm_unpacklo_epi32(acc[0], acc[1]), _mm_unpackhi_epi32(acc[0], acc[1]));
        let u1 = _mm_add_epi32(_mm_unpacklo_epi32(acc[2], acc[3]), _mm_unpackhi_epi32(acc[2], acc[3]));
        let sums = _mm_add_epi32(_mm_unpacklo_epi64(u0, u1), _mm_unpackhi_epi64(u0, u1));
        _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, sums);
    }
    out
}

/// Portable form: the loop vectorizer turns this into (half-width) `pmaddwd`-style code.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn dot4(a: &[i16], b: [&[i16]; 4]) -> [i32; 4] {
    let mut s = [0i32; 4];
    for ((((&x, &y0), &y1), &y2), &y3) in a.iter().zip(b[0]).zip(b[1]).zip(b[2]).zip(b[3]) {
        let x = x as i32;
        s[0] = s[0].wrapping_add(x.wrapping_mul(y0 as i32));
        s[1] = s[1].wrapping_add(x.wrapping_mul(y1 as i32));
        s[2] = s[2].wrapping_add(x.wrapping_mul(y2 as i32));
        s[3] = s[3].wrapping_add(x.wrapping_mul(y3 as i32));
    }
    s
}

/// Exact dot product for any operands: each i16 product fits i32, the sum goes to i64.
fn dot_wide(a: &[i16], b: &[i16]) -> i64 {
    a.iter().zip(b).map(|(&x, &y)| (x as i32 * y as i32) as i64).sum()
}

/// `a . b_t` for four rows of `kp`, in i32 blocks of `block` (0: all in i64).
fn dot4_blocked(a: &[i16], b: [&[i16]; 4], kp: usize, block: usize) -> [i64; 4] {
    if block >= kp {
        return dot4(a, b).map(|v| v as i64);
    }
    if block == 0 {
        return [dot_wide(a, b[0]), dot_wide(a, b[1]), dot_wide(a, b[2]), dot_wide(a, b[3])];
    }
    let mut s = [0i64; 4];
    let mut k0 = 0;
    while k0 < kp {
        let r = k0..(k0 + block).min(kp);
        let t = dot4(&a[r.clone()], [&b[0][r.clone()], &b[1][r.clone()], &b[2][r.clone()], &b[3][r]]);
        for (s, t) in s.iter_mut().zip(t) {
            *s += t as i64;
        }
        k0 += block;
    }
    s
}

/// Outputs computed per epilogue call: their sums live on the stack in between.
const GROUP: usize = 32;

/// Computes `a . b[j]` for the rows `j = j0 .. j0 + out.len()` of `b` (rows of `kp`;
/// `a` is one row of `kp`) and hands them to `epi(j, sums, out)` in groups, which
/// writes `out[i]` from `sums[i]` (a group starts at row `j`). `block` comes from
/// [`block_len`]. Grouping lets the epilogue zip its per-row constants instead of
/// indexing them per output.
#[inline]
pub fn dot_row(
    a: &[i16],
    b: &[i16],
    kp: usize,
    block: usize,
    j0: usize,
    out: &mut [i32],
    epi: impl Fn(usize, &[i64], &mut [i32]),
) {
    let a = &a[..kp];
    let row = |j: usize| &b[j * kp..(j + 1) * kp];
    let mut sums = [0i64; GROUP];
    for (g, out) in out.chunks_mut(GROUP).enumerate() {
        let (jg, n) = (j0 + g * GROUP, out.len());
        let mut t = 0;
        while t + 4 <= n {
            let j = jg + t;
            sums[t..t + 4].copy_from_slice(&dot4_blocked(a, [row(j), row(j + 1), row(j + 2), row(j + 3)], kp, block));
            t += 4;
        }
        // The 1-3 rows left over go through one four-row pass, repeating the last row.
        if t < n {
            let (j, last) = (jg + t, jg + n - 1);
            let s = dot4_blocked(a, [row(j), row((j + 1).min(last)), row((j + 2).min(last)), row(last)], kp, block);
            sums[t..n].copy_from_slice(&s[..n - t]);
        }
        epi(jg, &sums[..n], out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_never_overflow_and_sum_exactly() {
        // Worst case 16-bit x 16-bit: every product is 2^30, so no i32 block is safe.
        assert_eq!(block_len(1 << 30, 64), 0);
        let kp = padded(40);
        let a = vec![i16::MIN; kp];
        let b = vec![i16::MIN; 5 * kp];
        let mut out = [0i32; 5];
        let epi = |f: fn(i64) -> i32| move |_: usize, s: &[i64], o: &mut [i32]| o.iter_mut().zip(s).for_each(|(o, &s)| *o = f(s));
        dot_row(&a, &b, kp, block_len(1 << 30, kp), 0, &mut out, epi(|acc| (acc - (80 << 30)) as i32));
        assert_eq!(out, [0; 5]);
        // 16-bit x 8-bit: blocks of 496 terms.
        assert_eq!(block_len((1 << 15) * 128, 4096), 496);
        let kp = padded(2000);
        let a = vec![i16::MIN; kp];
        let b = vec![-128i16; 5 * kp];
        dot_row(&a, &b, kp, block_len((1 << 15) * 128, kp), 0, &mut out, epi(|acc| (acc / (1 << 22)) as i32));
        assert_eq!(out, [kp as i32; 5]);
    }
}
