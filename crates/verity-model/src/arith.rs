//! The integer primitives every op is written in. Each is exact and total for the
//! operand ranges that `Model::validate` admits, so a second implementation (or a
//! circuit) only has to agree on these few definitions.

/// Smallest and largest value of a signed `bits`-bit integer.
pub fn qrange(bits: u8) -> (i64, i64) {
    let half = 1i64 << (bits - 1);
    (-half, half - 1)
}

/// Saturate `v` into the signed `bits`-bit range.
pub fn clamp_bits(v: i64, bits: u8) -> i32 {
    let (lo, hi) = qrange(bits);
    v.clamp(lo, hi) as i32
}

/// `round(v / 2^s)` with ties toward +infinity: `floor((v + 2^(s-1)) / 2^s)`.
pub fn rshift_round(v: i64, s: u8) -> i64 {
    if s == 0 {
        v
    } else {
        (v + (1i64 << (s - 1))) >> s
    }
}

/// Fixed-point requantization: `clamp(rshift_round(acc * mult, shift))`.
pub fn requant(acc: i64, mult: i32, shift: u8, bits: u8) -> i32 {
    clamp_bits(rshift_round(acc * mult as i64, shift), bits)
}

/// `round(n / d)` for `d > 0`, ties toward +infinity: `floor((2n + d) / 2d)`.
pub fn div_round(n: i128, d: i128) -> i128 {
    debug_assert!(d > 0);
    (2 * n + d).div_euclid(2 * d)
}

/// `floor(sqrt(v))` for `v >= 0`, exact for all `u128`.
pub fn isqrt(v: u128) -> u128 {
    if v < 2 {
        return v;
    }
    // Newton's iteration from an over-estimate decreases monotonically to floor(sqrt).
    let mut x = 1u128 << (128 - v.leading_zeros()).div_ceil(2);
    loop {
        let y = (x + v / x) / 2;
        if y >= x {
            return x;
        }
        x = y;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rounding_ties_go_up() {
        assert_eq!(rshift_round(3, 1), 2); // 1.5 -> 2
        assert_eq!(rshift_round(-3, 1), -1); // -1.5 -> -1
        assert_eq!(rshift_round(-5, 2), -1); // -1.25 -> -1
        assert_eq!(div_round(3, 2), 2);
        assert_eq!(div_round(-3, 2), -1);
        assert_eq!(div_round(-7, 3), -2);
        assert_eq!(clamp_bits(300, 8), 127);
        assert_eq!(clamp_bits(-300, 8), -128);
    }

    proptest! {
        #[test]
        fn isqrt_is_floor_sqrt(v in any::<u64>()) {
            let r = isqrt(v as u128);
            prop_assert!(r * r <= v as u128);
            prop_assert!((r + 1) * (r + 1) > v as u128);
        }

        #[test]
        fn shift_matches_division(v in -(1i64 << 40)..(1i64 << 40), s in 1u8..20) {
            prop_assert_eq!(rshift_round(v, s) as i128, div_round(v as i128, 1i128 << s));
        }
    }
}
