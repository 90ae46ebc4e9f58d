//! The fast engine's layout of a quantized matrix and its AVX-512 VNNI matrix-vector
//! kernel. It computes the same exact sums as `forward::matvec_sums`, in i64 instead of
//! i128: a bound computed before each product ([`Acts::fits_i64`]) proves that no partial
//! sum can pass 2^62, and when it cannot be proven the caller takes the i128 path. So the
//! result never depends on which path ran.
//!
//! Layout, chosen so that each 512-bit load feeds `vpdpbusd` with no shuffles and every
//! lane of the accumulator is one row's sum (no reduction across a row, no partial
//! vectors however many blocks a row has):
//! - rows are taken eight at a time (a row group; a matrix is padded with zero rows to a
//!   multiple of eight), and a row group's blocks are stored block by block;
//! - codes are unsigned bytes: Q4_1's 4-bit codes packed two to a byte as in ggml (byte `j`
//!   of a block holds elements `j` and `j + 16`), so one 64-byte load holds one block of
//!   four rows, its low nibbles the first halves and its high nibbles the second halves;
//!   Q8_0's codes are biased by 128, the first halves of four rows' block then their
//!   second halves;
//! - the eight rows' scales of a block are stored in the order in which the reduction of
//!   the per-lane dots leaves them: rows `0, 4, 1, 5, 2, 6, 3, 7`;
//! - scales stay f16 (as in the GGUF), converted exactly to `value·2^24` with F16C: the
//!   memory traffic per weight is then the GGUF's own.

use std::sync::Arc;

use crate::model::{QMatrix, WKind, BLOCK};

/// Whether this CPU runs the kernel (checked once; the answer never changes).
pub fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static YES: OnceLock<bool> = OnceLock::new();
        *YES.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vnni")
                && std::arch::is_x86_feature_detected!("f16c")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Rows per group.
pub const ROWS: usize = 8;

/// Where row `r` (`0..8`) of a group sits among the eight scale slots.
fn slot(r: usize) -> usize {
    if r < 4 {
        2 * r
    } else {
        2 * (r - 4) + 1
    }
}

/// `v` (an integer `value·2^24`) as f16 bits, the inverse of `model::f16_fixed`.
fn f16_bits(v: i64) -> Option<u16> {
    let sign = if v < 0 { 0x8000u16 } else { 0 };
    let mag = v.unsigned_abs();
    if mag < 1024 {
        return Some(sign | mag as u16);
    }
    let e = (63 - mag.leading_zeros()) - 9;
    let mant = (mag >> (e - 1)) - 1024;
    (e <= 30 && (1024 + mant) << (e - 1) == mag).then_some(sign | (e as u16) << 10 | mant as u16)
}

#[derive(Clone)]
pub struct Packed {
    kind: WKind,
    rows: usize,
    cols: usize,
    /// Shared by every matrix of a model (one buffer, so that it can sit on huge pages).
    /// At `at`: per row group, per block, 128 bytes (Q4_1) or 256 bytes (Q8_0) of codes;
    /// then per row group, per block, eight f16 scales in slot order; then the mins.
    buf: Arc<Vec<u8>>,
    at: usize,
    /// `max |D|`, `max |M|` over the matrix (units of 2^-24), for the overflow bound.
    dmax: u64,
    mmax: u64,
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Packed({:?}, {}x{})", self.kind, self.rows, self.cols)
    }
}

/// Bytes of codes per row group and block.
fn unit(kind: WKind) -> usize {
    match kind {
        WKind::Q4_1 => 128,
        WKind::Q8_0 => 256,
    }
}

/// `(codes, scales)` bytes of `w`'s layout; the mins take as many bytes as the scales.
fn sizes(w: &QMatrix) -> (usize, usize) {
    let blocks = w.rows.div_ceil(ROWS) * w.blocks_per_row();
    (blocks * unit(w.kind), blocks * ROWS * 2)
}

/// Whether every scale and min fits the kernel's i32 lanes (magnitude below 128).
fn packable(w: &QMatrix) -> bool {
    let fits = |v: &i64| v.unsigned_abs() < 1 << 31;
    w.d.iter().all(fits) && w.m.iter().all(fits)
}

/// Writes `w`'s layout into `out` (zeroed, `sizes` long).
fn fill(w: &QMatrix, out: &mut [u8]) {
    let nb = w.blocks_per_row();
    let unit = unit(w.kind);
    let (codes_len, scales_len) = sizes(w);
    let (codes, rest) = out.split_at_mut(codes_len);
    let (d, m) = rest.split_at_mut(scales_len);
    for r in 0..w.rows {
        let (g, k) = (r / ROWS, r % ROWS);
        // Rows 0-3 of the group fill the first half of each block's bytes, 4-7 the second.
        let (half, k4) = (k / 4, k % 4);
        for b in 0..nb {
            let q = &w.q[r * w.cols + b * BLOCK..][..BLOCK];
            let at = (g * nb + b) * unit + half * unit / 2;
            for j in 0..16 {
                match w.kind {
                    WKind::Q4_1 => codes[at + 16 * k4 + j] = q[j] as u8 | (q[j + 16] as u8) << 4,
                    WKind::Q8_0 => {
                        codes[at + 16 * k4 + j] = (q[j] as u8) ^ 0x80;
                        codes[at + 64 + 16 * k4 + j] = (q[j + 16] as u8) ^ 0x80;
                    }
                }
            }
            let s = 2 * ((g * nb + b) * ROWS + slot(k));
            let bits = |v: i64| f16_bits(v).expect("every D and M is an f16 times 2^24").to_le_bytes();
            d[s..s + 2].copy_from_slice(&bits(w.d[r * nb + b]));
            m[s..s + 2].copy_from_slice(&bits(w.m[r * nb + b]));
        }
    }
}

impl Packed {
    /// `None` when a scale or min is at least 128 in magnitude (its fixed-point integer
    /// does not fit the kernel's i32 lanes); such a matrix takes the i128 path.
    pub fn new(w: &QMatrix) -> Option<Packed> {
        let (c, s) = sizes(w);
        packable(w).then(|| {
            let mut buf = huge_zeroed(c + 2 * s);
            fill(w, &mut buf);
            Packed::at(w, Arc::new(buf), 0)
        })
    }

    fn at(w: &QMatrix, buf: Arc<Vec<u8>>, at: usize) -> Packed {
        let amax = |v: &[i64]| v.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0);
        Packed { kind: w.kind, rows: w.rows, cols: w.cols, buf, at, dmax: amax(&w.d), mmax: amax(&w.m) }
    }

    /// Packs every matrix that can be into one shared buffer.
    pub fn all(ws: Vec<&mut QMatrix>) {
        // Each matrix starts on a cache line.
        let len = |w: &QMatrix| {
            let (c, s) = sizes(w);
            (c + 2 * s).next_multiple_of(64)
        };
        let total = ws.iter().filter(|w| packable(w)).map(|w| len(w)).sum();
        let mut buf = huge_zeroed(total);
        let mut at = vec![];
        let mut next = 0;
        for w in &ws {
            at.push(packable(w).then_some(next));
            if packable(w) {
                fill(w, &mut buf[next..next + len(w)]);
                next += len(w);
            }
        }
        let buf = Arc::new(buf);
        for (w, at) in ws.into_iter().zip(at) {
            w.packed = at.map(|at| Packed::at(w, buf.clone(), at));
        }
    }

    /// Codes, scales and mins of row group `g`.
    fn group(&self, g: usize) -> (*const u8, *const u16, *const u16) {
        let nb = self.cols / BLOCK;
        let (c, s) = (self.rows.div_ceil(ROWS) * nb * unit(self.kind), self.rows.div_ceil(ROWS) * nb * ROWS * 2);
        let base = self.buf[self.at..].as_ptr();
        // The buffer holds `c + 2s` bytes from `at` (`fill`); `g` is a row group of it.
        let (codes, d, m) = (base.wrapping_add(g * nb * unit(self.kind)), base.wrapping_add(c), base.wrapping_add(c + s));
        let d = d.wrapping_add(g * nb * ROWS * 2) as *const u16;
        let m = m.wrapping_add(g * nb * ROWS * 2) as *const u16;
        (codes, d, m)
    }
}

/// A zeroed buffer that Linux backs with 2 MiB pages where it can (asked before the first
/// write): the kernel streams the whole model once per token, and with 4 KiB pages every
/// page is a TLB miss.
fn huge_zeroed(len: usize) -> Vec<u8> {
    let v = vec![0u8; len];
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = (v.as_ptr() as usize).next_multiple_of(HUGE);
        let end = (v.as_ptr() as usize + len) / HUGE * HUGE;
        if end > start {
            // SAFETY: the range lies inside `v`'s allocation; MADV_HUGEPAGE changes how
            // pages are backed, never their contents. A refusal is harmless.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
    v
}

/// `forward::quantize_blocks` with the divisions in f64, eight at a time where the CPU has
/// AVX-512. `x = rdiv(127·a, s)` with `|a| ≤ s < 2^31`: the quotient `t = 127|a|/s` is at
/// most 127 and `127|a| < 2^38` is exact, so the correctly rounded f64 quotient is within
/// `2^-46` of it, while a quotient that is not a half-integer is at least `1/(2s) > 2^-32`
/// from every half-integer; so `trunc(t + 0.5)` (the sum rounds on the same side too) is
/// `rdiv`'s half-away-from-zero rounding, the sign put back after.
fn quantize(a: &[i32]) -> (Vec<i64>, Vec<i8>) {
    let s: Vec<i64> = a.chunks_exact(BLOCK).map(|b| b.iter().map(|v| v.unsigned_abs() as i64).max().unwrap_or(0)).collect();
    let mut x = vec![0i8; a.len()];
    #[inline(always)]
    fn blocks(a: &[i32], s: &[i64], x: &mut [i8]) {
        for ((blk, xs), m) in a.chunks_exact(BLOCK).zip(x.chunks_exact_mut(BLOCK)).zip(s) {
            let m = (*m).max(1) as f64;
            for (v, o) in blk.iter().zip(xs) {
                let t = (127 * v.unsigned_abs() as u64) as f64 / m + 0.5;
                // SAFETY: `0.5 ≤ t ≤ 127.5` (`|v| ≤ m`) is finite and in i32's range. (The
                // checked `as` keeps the loop from vectorizing.)
                let q: i32 = unsafe { t.to_int_unchecked() };
                *o = if *v < 0 { -q } else { q } as i8;
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl")]
    unsafe fn blocks_avx512(a: &[i32], s: &[i64], x: &mut [i8]) {
        blocks(a, s, x)
    }
    #[cfg(target_arch = "x86_64")]
    if supported() {
        // SAFETY: the CPU has AVX-512 (`supported`).
        unsafe { blocks_avx512(a, &s, &mut x) };
        return (s, x);
    }
    blocks(a, &s, &mut x);
    (s, x)
}

/// A Q16 activation vector quantized once (`forward::quantize_blocks`) for every matrix
/// that multiplies it.
pub struct Acts {
    pub s: Vec<i64>,
    pub x: Vec<i8>,
    pub sx: Vec<i64>,
    /// `Σ_b s_b·Σ|x|` and `Σ_b s_b·|Σx|`: with a matrix's largest scales they bound every
    /// partial sum of a row.
    t1: u128,
    t2: u128,
}

impl Acts {
    pub fn new(a: &[i32]) -> Acts {
        let (s, x) = quantize(a);
        let sx: Vec<i64> = x.chunks_exact(BLOCK).map(|c| c.iter().map(|v| *v as i64).sum()).collect();
        let (mut t1, mut t2) = (0u128, 0u128);
        for (b, blk) in x.chunks_exact(BLOCK).enumerate() {
            let ax: u128 = blk.iter().map(|v| v.unsigned_abs() as u128).sum();
            t1 += s[b] as u128 * ax;
            t2 += s[b] as u128 * sx[b].unsigned_abs() as u128;
        }
        Acts { s, x, sx, t1, t2 }
    }

    /// Whether every partial sum of `w`'s rows against this vector is below 2^62: each block adds
    /// at most `s_b·(|D|·|Σ q·x| + |M|·|Σx|)`, with `|Σ q·x| ≤ q_max·Σ|x|`.
    pub fn fits_i64(&self, w: &Packed) -> bool {
        let bound = match w.kind {
            WKind::Q4_1 => (w.dmax as u128 * 15).saturating_mul(self.t1).saturating_add((w.mmax as u128).saturating_mul(self.t2)),
            WKind::Q8_0 => (w.dmax as u128 * 128).saturating_mul(self.t1),
        };
        bound < 1 << 62
    }
}

/// Rows `rows` of `w·a`, rounded as `forward::matvec_reference` rounds. The caller checked
/// [`supported`], that `a` was quantized from a vector of `w.cols` values,
/// [`Acts::fits_i64`], and that `rows` starts at a multiple of [`ROWS`].
pub fn rows(w: &Packed, a: &Acts, rows: std::ops::Range<usize>, out: &mut [i32]) {
    assert!(supported() && a.x.len() == w.cols && rows.end <= w.rows && rows.start.is_multiple_of(ROWS));
    assert!(out.len() == rows.len());
    #[cfg(target_arch = "x86_64")]
    for (g, out) in (rows.start / ROWS..).zip(out.chunks_mut(ROWS)) {
        // SAFETY: `supported` checked the CPU features; the lengths were asserted above and
        // `Packed::new`/`Packed::all` fixed the per-group layout that `group` indexes.
        let y = unsafe {
            match w.kind {
                WKind::Q4_1 => avx512::group::<false>(w, a, g),
                WKind::Q8_0 => avx512::group::<true>(w, a, g),
            }
        };
        out.copy_from_slice(&y[..out.len()]);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Acts, Packed, ROWS};
    use crate::model::WFRAC;
    const PF: usize = 2048;
    use crate::model::BLOCK;

    /// Eight f16 values as i64 lanes of `value·2^24` in their low 32 bits (exact: every
    /// f16 times 2^24 is an integer, here below 2^31 by `Packed::new`; only the low halves
    /// are read, by `vpmuldq`).
    #[inline]
    #[target_feature(enable = "avx512f,f16c,avx2")]
    unsafe fn fixed(p: *const u16) -> __m512i {
        let f = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)), _mm256_set1_ps(16_777_216.0));
        _mm512_cvtepi32_epi64(_mm256_cvtps_epi32(f))
    }

    /// Row group `g` of the product: the exact sums `Σ_b s_b·(D_b·Σ q·x + M_b·Σx)`, then
    /// rounded as `forward::matvec_reference` rounds, in row order.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vnni,f16c,avx2")]
    pub unsafe fn group<const Q8: bool>(w: &Packed, a: &Acts, g: usize) -> [i32; ROWS] {
        let nb = w.cols / BLOCK;
        let unit = if Q8 { 256 } else { 128 };
        let (codes, d, m) = w.group(g);
        let nib = _mm512_set1_epi8(0x0f);
        let mut acc = _mm512_setzero_si512();
        for b in 0..nb {
            // This block of the activations in every 128-bit lane: first and second halves.
            let x = a.x.as_ptr().add(b * BLOCK);
            let xl = _mm512_broadcast_i32x4(_mm_loadu_si128(x as *const __m128i));
            let xh = _mm512_broadcast_i32x4(_mm_loadu_si128(x.add(16) as *const __m128i));
            let c = codes.add(b * unit);
            for l in 0..unit / 64 {
                _mm_prefetch(c.wrapping_add(PF * unit / 128 + 64 * l) as *const i8, _MM_HINT_T0);
            }
            _mm_prefetch(d.wrapping_add(b * ROWS + PF / 16) as *const i8, _MM_HINT_T0);
            _mm_prefetch(m.wrapping_add(b * ROWS + PF / 16) as *const i8, _MM_HINT_T0);
            let load = |o: usize| _mm512_loadu_si512(c.add(o) as *const _);
            let dot = |lo: __m512i, hi: __m512i| _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xl), hi, xh);
            // Rows 0-3 and 4-7: four i32 lanes per row, one row per 128-bit lane.
            let (pa, pb) = if Q8 {
                (dot(load(0), load(64)), dot(load(128), load(192)))
            } else {
                let (ca, cb) = (load(0), load(64));
                let hi = |v: __m512i| _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
                (dot(_mm512_and_si512(ca, nib), hi(ca)), dot(_mm512_and_si512(cb, nib), hi(cb)))
            };
            // Each 128-bit lane k ends as [A_k, A_k, B_k, B_k]: the low i32 of i64 lane 2k is
            // row k's dot and of lane 2k+1 row 4+k's, the slot order of the scales.
            let u = _mm512_add_epi32(_mm512_unpacklo_epi64(pa, pb), _mm512_unpackhi_epi64(pa, pb));
            let dots = _mm512_add_epi32(u, _mm512_shuffle_epi32(u, _MM_PERM_CDAB));
            let sx = _mm512_set1_epi64(a.sx[b]);
            let dv = fixed(d.add(b * ROWS));
            let inner = if Q8 {
                // Biased codes: Σ(q+128)·x − 128·Σx = Σ q·x, below 2^21 in magnitude.
                _mm512_mul_epi32(_mm512_sub_epi32(dots, _mm512_slli_epi32(sx, 7)), dv)
            } else {
                _mm512_add_epi64(_mm512_mul_epi32(dots, dv), _mm512_mul_epi32(sx, fixed(m.add(b * ROWS))))
            };
            acc = _mm512_add_epi64(acc, _mm512_mullo_epi64(inner, _mm512_set1_epi64(a.s[b])));
        }
        finish(acc)
    }

    /// `sat(rdiv(v, 127·2^24))` of the eight sums, from slot order to row order.
    /// `rdiv` rounds half away from zero: `q = floor((|v| + B/2) / B)` with the sign of `v`.
    /// For `X ≥ 0`, `floor(X / (127·2^24)) = floor(floor(X / 2^24) / 127)`; the inner
    /// floor is a shift, and `u = floor(X / 2^24) < 2^39` is exact in f64, as is the
    /// correctly rounded `u / 127`, which stays inside `(k, k+1)` when `u = 127k + r` with
    /// `r > 0` (its error, below `2^-53·2^40`, is far less than `1/127`): so its floor is `k`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2")]
    unsafe fn finish(v: __m512i) -> [i32; ROWS] {
        let neg = _mm512_cmplt_epi64_mask(v, _mm512_setzero_si512());
        let half = _mm512_set1_epi64(127 << (WFRAC - 1));
        let u = _mm512_srli_epi64(_mm512_add_epi64(_mm512_abs_epi64(v), half), WFRAC);
        let k = _mm512_div_pd(_mm512_cvtepu64_pd(u), _mm512_set1_pd(127.0));
        let q = _mm512_cvttpd_epu64(_mm512_roundscale_pd(k, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
        // Saturate to i32: at most 2^31 − 1 above zero and 2^31 below.
        let cap = _mm512_mask_add_epi64(
            _mm512_set1_epi64(i32::MAX as i64),
            neg,
            _mm512_set1_epi64(i32::MAX as i64),
            _mm512_set1_epi64(1),
        );
        let q = _mm512_min_epu64(q, cap);
        let y = _mm512_cvtepi64_epi32(_mm512_mask_sub_epi64(q, neg, _mm512_setzero_si512(), q));
        // Row k is at slot k·2 (k < 4) or (k − 4)·2 + 1.
        let rows = _mm256_permutevar8x32_epi32(y, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
        let mut out = [0i32; ROWS];
        _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, rows);
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::forward::{matvec_reference, matvec_sums};
    use crate::model::f16_fixed;

    #[test]
    fn f16_bits_inverts_f16_fixed() {
        for bits in 0..=u16::MAX {
            if let Some(v) = f16_fixed(bits) {
                // -0 and +0 are the same integer.
                let back = f16_bits(v).expect("every f16 value");
                assert_eq!(f16_fixed(back), Some(v), "{bits:#06x}");
            }
        }
    }

    /// A matrix with scales drawn up to `2^scale_bits` units of 2^-24 (f16-exact).
    fn matrix(kind: WKind, rows: usize, nb: usize, scale_bits: u32, seed: u64) -> QMatrix {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let cols = nb * BLOCK;
        let mut scale = |signed: bool| {
            let bits = (next() % 0x7c00) as u16 | if signed && next() % 2 == 0 { 0x8000 } else { 0 };
            let v = f16_fixed(bits).unwrap();
            v >> (40 - scale_bits.min(40))
        };
        let mut d = Vec::new();
        let mut m = Vec::new();
        for _ in 0..rows * nb {
            // Shifting right keeps the value an f16 exactly only while its low bits are zero;
            // re-encode through f16_bits and fall back to 0 when it is not exact.
            let pick = |v: i64| if f16_bits(v).is_some() { v } else { 0 };
            d.push(pick(scale(kind == WKind::Q8_0)));
            m.push(if kind == WKind::Q4_1 { pick(scale(true)) } else { 0 });
        }
        let q = (0..rows * cols)
            .map(|_| match kind {
                WKind::Q4_1 => (next() % 16) as i8,
                WKind::Q8_0 => next() as i8,
            })
            .collect();
        QMatrix { kind, rows, cols, d, m, q, packed: None }
    }

    proptest! {
        // Both kinds, 1 to 20 blocks a row, 1 to 19 rows (padded groups), scales small and near
        // the kernel's limit, activations small and at i32's extremes: where the bound admits
        // the kernel, it equals the i128 reference.
        #[test]
        fn kernel_equals_reference(
            q8 in any::<bool>(), nb in 1usize..21, rows in 1usize..20, scale_bits in 8u32..31,
            amp in 0u32..31, seed in any::<u64>(),
        ) {
            prop_assume!(supported());
            let kind = if q8 { WKind::Q8_0 } else { WKind::Q4_1 };
            let w = matrix(kind, rows, nb, scale_bits, seed);
            let p = Packed::new(&w).expect("scales below 2^31");
            let mut s = seed.rotate_left(17) | 1;
            let a: Vec<i32> = (0..w.cols).map(|_| { s ^= s << 13; s ^= s >> 7; s ^= s << 17; (s as i32) >> (31 - amp) }).collect();
            let acts = Acts::new(&a);
            // Past the bound the caller takes the i128 path, tested with the reference.
            prop_assume!(acts.fits_i64(&p));
            let mut out = vec![0; rows];
            super::rows(&p, &acts, 0..rows, &mut out);
            let want = matvec_reference(&w, &a);
            prop_assert_eq!(&out, &want);
            // A range that starts at a later group, as the threads split a product.
            if rows > ROWS {
                let mut tail = vec![0; rows - ROWS];
                super::rows(&p, &acts, ROWS..rows, &mut tail);
                prop_assert_eq!(&tail[..], &want[ROWS..]);
            }
        }
    }

    #[test]
    fn the_bound_admits_real_magnitudes_and_refuses_extremes() {
        // Activations up to 2^20 (16 in Q16) and scales up to 2^18 (1/64): the kernel runs,
        // and the row sums it computes are large enough that i32 would not have held them.
        let w = matrix(WKind::Q4_1, 4, 48, 18, 3);
        let a: Vec<i32> = (0..w.cols as i32).map(|i| (i * 7919 % 1000 - 500) << 11).collect();
        let p = Packed::new(&w).unwrap();
        let acts = Acts::new(&a);
        assert!(acts.fits_i64(&p));
        assert!(matvec_sums(&w, &a).iter().any(|v| v.unsigned_abs() > 1 << 40));
        // i32's extremes against scales near 2^31: a row could pass 2^62, so it is refused.
        let w = matrix(WKind::Q8_0, 1, 48, 30, 5);
        let a = vec![i32::MIN; w.cols];
        assert!(!Acts::new(&a).fits_i64(&Packed::new(&w).unwrap()));
    }

    proptest! {
        // Magnitudes from 0 to i32's extremes (i32::MIN included), blocks of equal values,
        // zeros, and one large value among small ones.
        #[test]
        fn quantize_equals_the_literal_formula(nb in 1usize..6, amp in 0u32..32, seed in any::<u64>(), kind in 0u8..4) {
            let mut s = seed | 1;
            let mut next = move || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
            let a: Vec<i32> = (0..nb * BLOCK)
                .map(|i| match kind {
                    0 => (next() as i32) >> (31 - amp.min(31)),
                    1 => [i32::MIN, i32::MAX, 0, -1][(next() % 4) as usize],
                    2 => if i % 7 == 0 { (next() as i32) | 1 << 30 } else { (next() as i32) >> 24 },
                    _ => 12345,
                })
                .collect();
            prop_assert_eq!(quantize(&a), crate::forward::quantize_blocks(&a));
        }
    }

    #[test]
    fn scales_of_128_or_more_are_not_packed() {
        let mut w = matrix(WKind::Q4_1, 2, 3, 10, 7);
        assert!(Packed::new(&w).is_some());
        w.d[1] = 128 << 24;
        assert!(Packed::new(&w).is_none());
    }
}
