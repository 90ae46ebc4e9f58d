//! `verity_model::arith` in forms the hot loops can inline: constants resolved once per
//! op, and i64 division where the plan has proved the operands small enough.

use verity_model::arith::{self, qrange};

/// `arith::requant(acc, mult, shift, bits)` with its rounding constant precomputed.
#[derive(Clone, Copy, Debug)]
pub struct Rq {
    mult: i64,
    round: i64,
    shift: u32,
    lo: i64,
    hi: i64,
}

impl Rq {
    pub fn new(mult: i32, shift: u8, bits: u8) -> Rq {
        let (lo, hi) = qrange(bits);
        let round = if shift == 0 { 0 } else { 1i64 << (shift - 1) };
        Rq { mult: mult as i64, round, shift: shift as u32, lo, hi }
    }

    /// One per channel, expanding a single pair (`Requant::at`) to all `channels`.
    pub fn per_channel(rq: &verity_model::Requant, channels: usize, bits: u8) -> Vec<Rq> {
        (0..channels).map(|c| rq.at(c)).map(|(m, s)| Rq::new(m, s, bits)).collect()
    }

    /// `apply(acc)` then equals `requant(acc + bias)`: `bias * mult` joins the rounding
    /// constant (the validator's accumulator bound includes the bias, so it fits).
    pub fn with_bias(self, bias: i32) -> Rq {
        Rq { round: self.round + bias as i64 * self.mult, ..self }
    }

    /// The validator bounds `|acc * mult| + 2^shift` below 2^62, so nothing overflows.
    #[inline(always)]
    pub fn apply(self, acc: i64) -> i32 {
        ((acc * self.mult + self.round) >> self.shift).clamp(self.lo, self.hi) as i32
    }

    /// `apply` followed by a Clamp to `[lo, hi]`, for a Clamp fused into this op. The
    /// validator puts a Clamp's bounds inside its (equal) input and output bit range,
    /// so clamping to the bit range and then to `[lo, hi]` is clamping to `[lo, hi]`.
    pub fn clamped(self, lo: i32, hi: i32) -> Rq {
        debug_assert!(self.lo <= lo as i64 && lo <= hi && hi as i64 <= self.hi);
        Rq { lo: lo as i64, hi: hi as i64, ..self }
    }
}

/// One output channel's requantization in the form the SIMD epilogues use: with
/// `shift >= 32`, `floor((acc * mult + round) / 2^shift)` is the high 32 bits of the
/// 64-bit value shifted right by `shift - 32`, so no 64-bit shift or compare is needed.
#[derive(Clone, Copy, Debug)]
pub struct Epi {
    /// The exact scalar form, used when `vector` is false.
    pub rq: Rq,
    /// Whether the vector form applies (`shift >= 32`).
    pub vector: bool,
    pub mult: i32,
    /// `|mult|` and `-1` if `mult < 0` else 0 (SSE2 has only an unsigned 32x32 product).
    pub mult_abs: u32,
    pub sign: i32,
    pub round: i64,
    /// `shift - 32`.
    pub count: i32,
    pub lo: i32,
    pub hi: i32,
}

impl Epi {
    pub fn new(rq: Rq) -> Epi {
        let vector = rq.shift >= 32;
        Epi {
            rq,
            vector,
            mult: rq.mult as i32,
            mult_abs: (rq.mult as i32).unsigned_abs(),
            sign: if rq.mult < 0 { -1 } else { 0 },
            round: rq.round,
            count: if vector { rq.shift as i32 - 32 } else { 0 },
            // Output ranges are 8 or 16 bits, so these fit i16 (the SSE2 clamp packs to i16).
            lo: rq.lo as i32,
            hi: rq.hi as i32,
        }
    }
}

/// `rshift_round` then `clamp_bits`, for ops with one shift and a computed product.
#[derive(Clone, Copy, Debug)]
pub struct Shift {
    round: i64,
    shift: u32,
    lo: i64,
    hi: i64,
}

impl Shift {
    pub fn new(shift: u8, bits: u8) -> Shift {
        let r = Rq::new(1, shift, bits);
        Shift { round: r.round, shift: r.shift, lo: r.lo, hi: r.hi }
    }

    #[inline(always)]
    pub fn apply(self, v: i64) -> i32 {
        ((v + self.round) >> self.shift).clamp(self.lo, self.hi) as i32
    }
}

/// Requantization per column (Linear: a channel per output column) in the form the
/// AVX2 epilogue loads eight lanes at a time. Arrays cover whole blocks of columns.
pub struct Lanes {
    pub rq: Vec<Rq>,
    /// Whether every column's shift is at least 32 (see [`Epi`]).
    pub vector: bool,
    pub mult: Vec<i32>,
    /// Rounding constants of the even and of the odd columns, as the 64-bit lanes of
    /// the even and odd products line up.
    pub round_even: Vec<i64>,
    pub round_odd: Vec<i64>,
    pub count: Vec<i32>,
    pub lo: i32,
    pub hi: i32,
}

impl Lanes {
    /// For `rq` (one per column, sharing the clamp bounds), padded to `len` columns (a
    /// multiple of 16) with copies of the first.
    pub fn new(rq: &[Rq], len: usize) -> Lanes {
        let rq: Vec<Rq> = (0..len).map(|c| *rq.get(c).unwrap_or(&rq[0])).collect();
        let epi: Vec<Epi> = rq.iter().map(|&r| Epi::new(r)).collect();
        debug_assert!(epi.iter().all(|e| (e.lo, e.hi) == (epi[0].lo, epi[0].hi)));
        Lanes {
            vector: epi.iter().all(|e| e.vector),
            mult: epi.iter().map(|e| e.mult).collect(),
            round_even: epi.iter().step_by(2).map(|e| e.round).collect(),
            round_odd: epi.iter().skip(1).step_by(2).map(|e| e.round).collect(),
            count: epi.iter().map(|e| e.count).collect(),
            lo: epi[0].lo,
            hi: epi[0].hi,
            rq,
        }
    }
}

/// Whether `div_round(n, d)` for `|n| <= n_max`, `0 < d <= d_max` can run in i64:
/// it needs `2n + d` and `2d` to fit.
pub fn div_fits_i64(n_max: i128, d_max: i128) -> bool {
    2 * n_max + d_max < i64::MAX as i128 && 2 * d_max < i64::MAX as i128
}

/// `arith::div_round` in i64; only for operands admitted by [`div_fits_i64`].
#[inline(always)]
pub fn div_round64(n: i64, d: i64) -> i64 {
    (2 * n + d).div_euclid(2 * d)
}

/// `div_round(n, d)` then `clamp_bits`, choosing the i64 or the i128 form by a flag the
/// plan computed from the operand bounds.
#[inline(always)]
pub fn div_clamp(n: i64, d: i64, wide: bool, lo: i64, hi: i64) -> i32 {
    let q = if wide { arith::div_round(n as i128, d as i128) as i64 } else { div_round64(n, d) };
    q.clamp(lo, hi) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn requant_matches_arith(acc in -(1i64 << 40)..(1i64 << 40), mult in -(1i32 << 20)..(1i32 << 20),
                                 shift in 0u8..40, wide in any::<bool>()) {
            let bits = if wide { 16 } else { 8 };
            prop_assert_eq!(Rq::new(mult, shift, bits).apply(acc), arith::requant(acc, mult, shift, bits));
            let bias = (acc % 100_000) as i32;
            prop_assert_eq!(Rq::new(mult, shift, bits).with_bias(bias).apply(acc), arith::requant(acc + bias as i64, mult, shift, bits));
            let v = acc * mult as i64;
            prop_assert_eq!(Shift::new(shift, bits).apply(v), arith::clamp_bits(arith::rshift_round(v, shift), bits));
        }

        #[test]
        fn div_matches_arith(n in -(1i64 << 61)..(1i64 << 61), d in 1i64..(1i64 << 61)) {
            let (lo, hi) = qrange(16);
            let want = arith::clamp_bits(arith::div_round(n as i128, d as i128) as i64, 16);
            prop_assert_eq!(div_clamp(n, d, true, lo, hi), want);
            if div_fits_i64(n.unsigned_abs() as i128, d as i128) {
                prop_assert_eq!(div_clamp(n, d, false, lo, hi), want);
            }
        }
    }

    #[test]
    fn div_ties_and_signs() {
        for n in -50i64..50 {
            for d in 1i64..12 {
                assert_eq!(div_round64(n, d) as i128, arith::div_round(n as i128, d as i128), "{n}/{d}");
            }
        }
    }
}
