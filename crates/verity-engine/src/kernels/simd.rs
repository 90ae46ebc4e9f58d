//! The pair-GEMM micro-kernel behind small convolutions, for three instruction sets: the
//! x86-64 baseline (SSE2), AVX2 (detected at run time) and plain Rust (other targets,
//! and a cross-check in tests). All three compute the same integers.
//!
//! Operands are *pairs*: an i32 holding two i16 halves, `lo | hi << 16`. One `pmaddwd`
//! multiplies a pair of input taps by a pair of weights and adds the two products, so
//! every instruction does useful work on taps that are not a multiple of 8 long.

use super::quant::{Epi, Lanes};

/// Which instruction set the kernels use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Plain Rust loops: the only choice off x86-64, and selectable on it for tests.
    Portable,
    /// The x86-64 baseline.
    Sse2,
    Avx2,
}

impl Isa {
    /// The best instruction set this CPU has.
    #[cfg(target_arch = "x86_64")]
    pub fn detect() -> Isa {
        if std::arch::is_x86_feature_detected!("avx2") {
            Isa::Avx2
        } else {
            Isa::Sse2
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn detect() -> Isa {
        Isa::Portable
    }
}

/// Output rows per micro-kernel call.
pub const OCB: usize = 4;
/// A convolution's weights per pair of taps: `OCB` channels, each pair repeated over 4
/// lanes (one SSE2 load per channel, no shuffle).
pub const W_STRIDE: usize = OCB * 4;
/// Columns (output positions) are computed in blocks; `x2` rows are padded to whole
/// blocks of this many.
pub const POS_BLOCK: usize = 16;

/// `lo | hi << 16` as an i32.
#[inline(always)]
pub fn pack(lo: i16, hi: i16) -> i32 {
    (lo as u16 as u32 | (hi as u16 as u32) << 16) as i32
}

/// `lo * lo' + hi * hi'` of two pairs, as `pmaddwd` computes it (wrapping i32).
#[inline(always)]
fn madd(x: i32, w: i32) -> i32 {
    let lo = (x as i16 as i32).wrapping_mul(w as i16 as i32);
    let hi = ((x >> 16) as i16 as i32).wrapping_mul((w >> 16) as i16 as i32);
    lo.wrapping_add(hi)
}

/// The operand broadcast along a row: pair `data[k * k_stride + j * j_stride]` for tap
/// pair `k` of row `j`. With `repeated`, that pair is stored 4 times from there (a
/// plan-time layout that SSE2 loads without a shuffle).
#[derive(Clone, Copy)]
pub struct Bcast<'a> {
    pub data: &'a [i32],
    pub k_stride: usize,
    pub j_stride: usize,
    pub repeated: bool,
}

/// How a row's sums become outputs.
#[derive(Clone, Copy)]
pub enum Epilogue<'a> {
    /// Row `j` uses `epi[j]` (a convolution's channel, or MatMul's one requantization).
    Rows(&'a [Epi]),
    /// Column `c` uses column `first + c` of the lanes (a Linear's channel).
    Columns(&'a Lanes, usize),
}

/// One call of the micro-kernel: for rows `j < rows` (at most [`OCB`]) and columns
/// `c < cols`,
/// `out[j * out_stride + c] = epilogue(sum_{k < kk} madd(x2(k, c), bcast(k, j)))`.
///
/// `x2` holds `kk` rows of pairs in blocks of [`POS_BLOCK`] columns: `x2(k, c)` is
/// `x2[(c / POS_BLOCK) * block_stride + k * pr + c % POS_BLOCK]`. Row-major rows of `pr`
/// have `block_stride = POS_BLOCK`; `pr = POS_BLOCK` with `block_stride = kk * POS_BLOCK`
/// stores each block of columns as one contiguous slab. Columns up to `cols` rounded up
/// to a whole block are read (those past `cols` may hold anything). The caller
/// guarantees that every true sum fits in i32, so the wrapping i32 sums, in any order,
/// are exact.
pub struct Gemm<'a> {
    pub x2: &'a [i32],
    pub pr: usize,
    pub block_stride: usize,
    pub kk: usize,
    pub bcast: Bcast<'a>,
    pub epi: Epilogue<'a>,
    pub rows: usize,
    pub cols: usize,
}

impl Gemm<'_> {
    /// Checks every index the SIMD loops use (they then read through raw pointers).
    fn check(&self, out: &[i32], out_stride: usize) {
        let (kk, rows, cols) = (self.kk, self.rows, self.cols);
        let span = cols.next_multiple_of(POS_BLOCK);
        assert!((1..=OCB).contains(&rows) && cols >= 1 && self.pr >= POS_BLOCK);
        assert!(out_stride >= cols && out.len() >= (rows - 1) * out_stride + cols);
        if kk > 0 {
            let last_block = (span / POS_BLOCK - 1) * self.block_stride;
            assert!(self.x2.len() >= last_block + (kk - 1) * self.pr + POS_BLOCK);
            let b = &self.bcast;
            let last = (kk - 1) * b.k_stride + (rows - 1) * b.j_stride + if b.repeated { 4 } else { 1 };
            assert!(b.data.len() >= last);
        }
        match self.epi {
            Epilogue::Rows(e) => assert!(e.len() >= rows),
            Epilogue::Columns(l, first) => {
                let end = first + span;
                assert!(first % 2 == 0 && l.rq.len() >= end && l.mult.len() >= end && l.count.len() >= end);
                assert!(l.round_even.len() >= end / 2 && l.round_odd.len() >= end / 2);
            }
        }
    }

    /// Writes the outputs (see [`Gemm`]) into `out`, rows `out_stride` apart.
    pub fn run(&self, isa: Isa, out: &mut [i32], out_stride: usize) {
        self.check(out, out_stride);
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Sse2 => {
                // SAFETY: `check` asserted every bound `x86::gemm_sse2` relies on.
                unsafe {
                    match (self.rows, self.bcast.repeated) {
                        (1, false) => x86::gemm_sse2::<1, false>(self, out, out_stride),
                        (2, false) => x86::gemm_sse2::<2, false>(self, out, out_stride),
                        (3, false) => x86::gemm_sse2::<3, false>(self, out, out_stride),
                        (_, false) => x86::gemm_sse2::<4, false>(self, out, out_stride),
                        (1, true) => x86::gemm_sse2::<1, true>(self, out, out_stride),
                        (2, true) => x86::gemm_sse2::<2, true>(self, out, out_stride),
                        (3, true) => x86::gemm_sse2::<3, true>(self, out, out_stride),
                        (_, true) => x86::gemm_sse2::<4, true>(self, out, out_stride),
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                assert!(std::arch::is_x86_feature_detected!("avx2"), "AVX2 kernels need an AVX2 CPU");
                // SAFETY: the CPU has AVX2 (checked above; std caches the answer) and
                // `check` asserted every bound `x86::gemm_avx2` relies on.
                unsafe {
                    match self.rows {
                        1 => x86::gemm_avx2::<1>(self, out, out_stride),
                        2 => x86::gemm_avx2::<2>(self, out, out_stride),
                        3 => x86::gemm_avx2::<3>(self, out, out_stride),
                        _ => x86::gemm_avx2::<4>(self, out, out_stride),
                    }
                }
            }
            _ => self.portable(out, out_stride),
        }
    }

    fn portable(&self, out: &mut [i32], out_stride: usize) {
        let (pr, b) = (self.pr, &self.bcast);
        for j in 0..self.rows {
            let row = &mut out[j * out_stride..j * out_stride + self.cols];
            for p0 in (0..self.cols).step_by(POS_BLOCK) {
                // Whole blocks of fixed length, so the compiler can vectorize the sums.
                let mut acc = [0i32; POS_BLOCK];
                let block = p0 / POS_BLOCK * self.block_stride;
                for k in 0..self.kk {
                    let w = b.data[k * b.k_stride + j * b.j_stride];
                    let xs: &[i32; POS_BLOCK] = self.x2[block + k * pr..block + k * pr + POS_BLOCK].try_into().unwrap();
                    for (a, &x) in acc.iter_mut().zip(xs) {
                        *a = a.wrapping_add(madd(x, w));
                    }
                }
                for (i, (o, &a)) in row[p0..].iter_mut().take(POS_BLOCK).zip(&acc).enumerate() {
                    *o = match self.epi {
                        Epilogue::Rows(e) => e[j].rq.apply(a as i64),
                        Epilogue::Columns(l, first) => l.rq[first + p0 + i].apply(a as i64),
                    };
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! Why `unsafe`: loads and stores through raw pointers (every bound asserted by
    //! `Gemm::check`), and AVX2 code (run only after runtime detection). The rest is
    //! register arithmetic. The helpers are `unsafe fn` so that the intrinsics, safe to
    //! call only in recent Rust, need no `unsafe` block of their own.

    use super::{Epilogue, Gemm, OCB, POS_BLOCK};
    use crate::kernels::quant::{Epi, Lanes};
    use std::arch::x86_64::*;

    /// Scalar epilogue of row `j` for `acc` at columns `c ..` of the call.
    #[inline(always)]
    fn scalar_epi(acc: &[i32], epi: Epilogue, j: usize, c: usize, row: &mut [i32]) {
        match epi {
            Epilogue::Rows(e) => row.iter_mut().zip(acc).for_each(|(o, &a)| *o = e[j].rq.apply(a as i64)),
            Epilogue::Columns(l, first) => {
                for ((o, &a), rq) in row.iter_mut().zip(acc).zip(&l.rq[first + c..]) {
                    *o = rq.apply(a as i64);
                }
            }
        }
    }

    /// `NV` vectors of 4 sums for each of `NOC` rows at columns `x .. x + 4 NV`.
    ///
    /// # Safety
    /// For `k < kk` and `j < NOC`, `x + k pr .. + 4 NV` and the broadcast pair at
    /// `w + k ks + j js` (4 of them with `REP`) are readable.
    #[inline(always)]
    unsafe fn block_sse2<const NOC: usize, const NV: usize, const REP: bool>(
        x: *const i32,
        pr: usize,
        w: *const i32,
        (ks, js): (usize, usize),
        kk: usize,
    ) -> [[__m128i; NV]; NOC] {
        let mut acc = [[_mm_setzero_si128(); NV]; NOC];
        for k in 0..kk {
            let (xr, wr) = (x.add(k * pr), w.add(k * ks));
            let mut xv = [_mm_setzero_si128(); NV];
            for (v, xv) in xv.iter_mut().enumerate() {
                *xv = _mm_loadu_si128(xr.add(4 * v).cast());
            }
            for (j, acc) in acc.iter_mut().enumerate() {
                let wv = if REP { _mm_loadu_si128(wr.add(j * js).cast()) } else { _mm_set1_epi32(*wr.add(j * js)) };
                for (a, &xv) in acc.iter_mut().zip(&xv) {
                    *a = _mm_add_epi32(*a, _mm_madd_epi16(xv, wv));
                }
            }
        }
        acc
    }

    /// `floor((a * mult + round) / 2^shift)` for 4 lanes, `shift >= 32`, unclamped.
    /// SSE2 multiplies only unsigned 32-bit halves: the product of `|mult|` and `a`
    /// read as unsigned exceeds the signed one by `2^32 |mult|` where `a < 0`, which
    /// only changes the high half; that is corrected after adding `round` (carries
    /// are the same either way, modulo 2^64). The true value lies within 2^62
    /// (validator), so its high half is `floor(value / 2^32)` exactly.
    ///
    /// # Safety
    /// None beyond SSE2 (the x86-64 baseline).
    #[inline(always)]
    unsafe fn requant4_sse2(a: __m128i, e: &Epi) -> __m128i {
        let sign = _mm_set1_epi32(e.sign);
        let m = _mm_set1_epi32(e.mult_abs as i32);
        let round = _mm_set1_epi64x(e.round);
        // a * sign(mult); |a| < 2^31 for real sums (junk lanes may wrap, harmlessly).
        let a = _mm_sub_epi32(_mm_xor_si128(a, sign), sign);
        let even = _mm_add_epi64(_mm_mul_epu32(a, m), round);
        let odd = _mm_add_epi64(_mm_mul_epu32(_mm_srli_epi64::<32>(a), m), round);
        let hi = _mm_or_si128(_mm_srli_epi64::<32>(even), _mm_and_si128(odd, _mm_set_epi32(-1, 0, -1, 0)));
        let hi = _mm_sub_epi32(hi, _mm_and_si128(_mm_srai_epi32::<31>(a), m));
        _mm_sra_epi32(hi, _mm_cvtsi32_si128(e.count))
    }

    /// 8 requantized, clamped outputs. The clamp packs to i16 with saturation first,
    /// which is exact because both bounds lie in the i16 range.
    ///
    /// # Safety
    /// None beyond SSE2.
    #[inline(always)]
    unsafe fn requant8_sse2(a: [__m128i; 2], e: &Epi) -> [__m128i; 2] {
        let packed = _mm_packs_epi32(requant4_sse2(a[0], e), requant4_sse2(a[1], e));
        let c = _mm_min_epi16(_mm_max_epi16(packed, _mm_set1_epi16(e.lo as i16)), _mm_set1_epi16(e.hi as i16));
        [_mm_srai_epi32::<16>(_mm_unpacklo_epi16(c, c)), _mm_srai_epi32::<16>(_mm_unpackhi_epi16(c, c))]
    }

    /// # Safety
    /// The bounds asserted by `Gemm::check`.
    pub unsafe fn gemm_sse2<const NOC: usize, const REP: bool>(g: &Gemm, out: &mut [i32], out_stride: usize) {
        debug_assert!(NOC <= OCB && NOC == g.rows);
        let (b, cols) = (&g.bcast, g.cols);
        let mut p0 = 0;
        while p0 < cols {
            // p0 is a multiple of 8 below `cols`: the 8 columns read lie in one block
            // within the checked span.
            let x = g.x2.as_ptr().add(p0 / POS_BLOCK * g.block_stride + p0 % POS_BLOCK);
            let acc = block_sse2::<NOC, 2, REP>(x, g.pr, b.data.as_ptr(), (b.k_stride, b.j_stride), g.kk);
            let n = (cols - p0).min(8);
            for (j, acc) in acc.iter().enumerate() {
                let row = &mut out[j * out_stride + p0..j * out_stride + p0 + n];
                let mut t = [0i32; 8];
                match g.epi {
                    Epilogue::Rows(e) if e[j].vector => {
                        let v = requant8_sse2(*acc, &e[j]);
                        if n == 8 {
                            _mm_storeu_si128(row.as_mut_ptr().cast(), v[0]);
                            _mm_storeu_si128(row.as_mut_ptr().add(4).cast(), v[1]);
                        } else {
                            _mm_storeu_si128(t.as_mut_ptr().cast(), v[0]);
                            _mm_storeu_si128(t.as_mut_ptr().add(4).cast(), v[1]);
                            row.copy_from_slice(&t[..n]);
                        }
                    }
                    // SSE2 has no per-lane shift, so per-column requantization is scalar.
                    _ => {
                        _mm_storeu_si128(t.as_mut_ptr().cast(), acc[0]);
                        _mm_storeu_si128(t.as_mut_ptr().add(4).cast(), acc[1]);
                        scalar_epi(&t, g.epi, j, p0, row);
                    }
                }
            }
            p0 += 8;
        }
    }

    /// # Safety
    /// AVX2, and the reads described at [`block_sse2`] (without `REP`) for 8-lane vectors.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn block_avx2<const NOC: usize, const NV: usize>(
        x: *const i32,
        pr: usize,
        w: *const i32,
        (ks, js): (usize, usize),
        kk: usize,
    ) -> [[__m256i; NV]; NOC] {
        let mut acc = [[_mm256_setzero_si256(); NV]; NOC];
        for k in 0..kk {
            let (xr, wr) = (x.add(k * pr), w.add(k * ks));
            let mut xv = [_mm256_setzero_si256(); NV];
            for (v, xv) in xv.iter_mut().enumerate() {
                *xv = _mm256_loadu_si256(xr.add(8 * v).cast());
            }
            for (j, acc) in acc.iter_mut().enumerate() {
                let wv = _mm256_set1_epi32(*wr.add(j * js));
                for (a, &xv) in acc.iter_mut().zip(&xv) {
                    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xv, wv));
                }
            }
        }
        acc
    }

    /// As [`requant4_sse2`] for 8 lanes, clamped; AVX2 has a signed 32x32 product.
    ///
    /// # Safety
    /// AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn requant8_avx2(a: __m256i, e: &Epi) -> __m256i {
        let m = _mm256_set1_epi32(e.mult);
        let round = _mm256_set1_epi64x(e.round);
        let even = _mm256_add_epi64(_mm256_mul_epi32(a, m), round);
        let odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64::<32>(a), m), round);
        let hi = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(even), odd);
        let q = _mm256_sra_epi32(hi, _mm_cvtsi32_si128(e.count));
        _mm256_min_epi32(_mm256_max_epi32(q, _mm256_set1_epi32(e.lo)), _mm256_set1_epi32(e.hi))
    }

    /// As [`requant8_avx2`] with each lane's own constants: columns `c .. c + 8`.
    ///
    /// # Safety
    /// AVX2, `c` even, and the lanes' arrays hold columns up to `c + 8`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn requant8_avx2_lanes(a: __m256i, l: &Lanes, c: usize) -> __m256i {
        let m = _mm256_loadu_si256(l.mult.as_ptr().add(c).cast());
        let round_even = _mm256_loadu_si256(l.round_even.as_ptr().add(c / 2).cast());
        let round_odd = _mm256_loadu_si256(l.round_odd.as_ptr().add(c / 2).cast());
        let even = _mm256_add_epi64(_mm256_mul_epi32(a, m), round_even);
        let odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64::<32>(a), _mm256_srli_epi64::<32>(m)), round_odd);
        let hi = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(even), odd);
        let q = _mm256_srav_epi32(hi, _mm256_loadu_si256(l.count.as_ptr().add(c).cast()));
        _mm256_min_epi32(_mm256_max_epi32(q, _mm256_set1_epi32(l.lo)), _mm256_set1_epi32(l.hi))
    }

    /// Epilogue of row `j` for `NV` vectors at columns `c ..` of the call, into `row`
    /// (at most `8 NV` outputs).
    ///
    /// # Safety
    /// AVX2, and the bounds asserted by `Gemm::check`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn store_avx2<const NV: usize>(acc: &[__m256i; NV], epi: Epilogue, j: usize, c: usize, row: &mut [i32]) {
        let mut t = [0i32; 16];
        let mut v = *acc;
        match epi {
            Epilogue::Rows(e) if e[j].vector => {
                for v in v.iter_mut() {
                    *v = requant8_avx2(*v, &e[j]);
                }
            }
            Epilogue::Columns(l, first) if l.vector => {
                for (i, v) in v.iter_mut().enumerate() {
                    *v = requant8_avx2_lanes(*v, l, first + c + 8 * i);
                }
            }
            _ => return scalar_avx2(acc, epi, j, c, row),
        }
        if row.len() == 8 * NV {
            for (i, &v) in v.iter().enumerate() {
                _mm256_storeu_si256(row.as_mut_ptr().add(8 * i).cast(), v);
            }
        } else {
            for (i, &v) in v.iter().enumerate() {
                _mm256_storeu_si256(t.as_mut_ptr().add(8 * i).cast(), v);
            }
            row.copy_from_slice(&t[..row.len()]);
        }
    }

    /// The scalar epilogue (shifts below 32), out of line so the vector one inlines.
    ///
    /// # Safety
    /// AVX2, and the bounds asserted by `Gemm::check`.
    #[target_feature(enable = "avx2")]
    #[inline(never)]
    #[cold]
    unsafe fn scalar_avx2<const NV: usize>(acc: &[__m256i; NV], epi: Epilogue, j: usize, c: usize, row: &mut [i32]) {
        let mut t = [0i32; 16];
        for (i, &a) in acc.iter().enumerate() {
            _mm256_storeu_si256(t.as_mut_ptr().add(8 * i).cast(), a);
        }
        scalar_epi(&t, epi, j, c, row)
    }

    /// # Safety
    /// AVX2, and the bounds asserted by `Gemm::check`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn gemm_avx2<const NOC: usize>(g: &Gemm, out: &mut [i32], out_stride: usize) {
        debug_assert!(NOC <= OCB && NOC == g.rows);
        let (b, cols) = (&g.bcast, g.cols);
        let (w, strides) = (b.data.as_ptr(), (b.k_stride, b.j_stride));
        let mut p0 = 0;
        while p0 < cols {
            // Blocks of 16 start at multiples of 16 below `cols`; a last block of at
            // most 8 columns uses one vector. Reads stay within the checked span.
            let n = (cols - p0).min(16);
            let x = g.x2.as_ptr().add(p0 / POS_BLOCK * g.block_stride);
            if n > 8 {
                let acc = block_avx2::<NOC, 2>(x, g.pr, w, strides, g.kk);
                for (j, acc) in acc.iter().enumerate() {
                    store_avx2::<2>(acc, g.epi, j, p0, &mut out[j * out_stride + p0..j * out_stride + p0 + n]);
                }
            } else {
                let acc = block_avx2::<NOC, 1>(x, g.pr, w, strides, g.kk);
                for (j, acc) in acc.iter().enumerate() {
                    store_avx2::<1>(acc, g.epi, j, p0, &mut out[j * out_stride + p0..j * out_stride + p0 + n]);
                }
            }
            p0 += 16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::quant::Rq;
    use proptest::prelude::*;

    fn isas() -> Vec<Isa> {
        [Isa::Portable, Isa::Sse2, Isa::Avx2].into_iter().filter(|&i| i <= Isa::detect()).collect()
    }

    proptest! {
        /// Every instruction set gives the scalar requantization of the exact sums, for
        /// real-model multipliers (~2^30, shift >= 32) and small ones (shift < 32).
        #[test]
        fn gemm_matches_scalar(seed in any::<u64>(), kk in 1usize..12, p in 1usize..40, noc in 1usize..=4,
                               big in any::<bool>(), clamp in any::<bool>()) {
            let mut rng = crate::testgen::Rng::new(seed);
            let pr = p.next_multiple_of(POS_BLOCK);
            let x2: Vec<i32> = (0..kk * pr).map(|_| pack(rng.range(-32768, 32767) as i16, rng.range(-32768, 32767) as i16)).collect();
            // Each channel's weight pair repeated over its 4 lanes, as the plan packs them.
            let w: Vec<i32> = (0..kk * OCB)
                .flat_map(|_| [pack(rng.range(-128, 127) as i16, rng.range(-128, 127) as i16); 4])
                .collect();
            let bits = if rng.chance(50) { 8 } else { 16 };
            let epi: Vec<Epi> = (0..noc).map(|_| {
                let (mult, shift) = if big {
                    (rng.range(-(1 << 31), (1 << 31) - 1) as i32, rng.range(32, 40) as u8)
                } else {
                    (rng.range(-(1 << 15), 1 << 15) as i32, rng.range(0, 31) as u8)
                };
                let mut rq = Rq::new(mult, shift, bits).with_bias(rng.range(-100_000, 100_000) as i32);
                if clamp {
                    rq = rq.clamped(0, 100);
                }
                Epi::new(rq)
            }).collect();
            let mut want = vec![0; noc * p];
            for (j, row) in want.chunks_exact_mut(p).enumerate() {
                for (i, o) in row.iter_mut().enumerate() {
                    let acc: i64 = (0..kk).map(|k| {
                        let (x, w) = (x2[k * pr + i], w[k * W_STRIDE + 4 * j]);
                        (x as i16 as i64) * (w as i16 as i64) + ((x >> 16) as i16 as i64) * ((w >> 16) as i16 as i64)
                    }).sum();
                    *o = epi[j].rq.apply(acc);
                }
            }
            let bcast = Bcast { data: &w, k_stride: W_STRIDE, j_stride: 4, repeated: true };
            let g = Gemm { x2: &x2, pr, block_stride: POS_BLOCK, kk, bcast, epi: Epilogue::Rows(&epi), rows: noc, cols: p };
            for isa in isas() {
                let mut got = vec![0; noc * p];
                g.run(isa, &mut got, p);
                prop_assert_eq!(&got, &want, "{:?}", isa);
            }
        }
    }
}
