//! The proof field: Goldilocks (p = 2^64 − 2^32 + 1) for values, its degree-2 extension
//! for verifier challenges (so each sumcheck round errs with probability ≈ d / p²).

use p3_field::extension::BinomialExtensionField;
use p3_field::{BasedVectorSpace, PrimeCharacteristicRing, PrimeField64};

pub use p3_goldilocks::Goldilocks as F;
pub type E = BinomialExtensionField<F, 2>;

/// Embeds a canonical-model integer. `Model::validate` keeps every quantity below 2^62
/// in magnitude, far from p/2, so the embedding is injective on them.
pub fn from_i64(v: i64) -> F {
    if v >= 0 {
        F::from_u64(v as u64)
    } else {
        -F::from_u64(v.unsigned_abs())
    }
}

pub fn ext(v: i64) -> E {
    E::from(from_i64(v))
}

/// Canonical little-endian bytes of an extension element (for the transcript and proofs).
pub fn to_bytes(e: &E) -> [u8; 16] {
    let c: &[F] = BasedVectorSpace::<F>::as_basis_coefficients_slice(e);
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&c[0].as_canonical_u64().to_le_bytes());
    b[8..].copy_from_slice(&c[1].as_canonical_u64().to_le_bytes());
    b
}

/// Parses `to_bytes` output; rejects non-canonical coefficients (≥ p).
pub fn from_bytes(b: &[u8; 16]) -> Option<E> {
    let coeff = |s: &[u8]| {
        let v = u64::from_le_bytes(s.try_into().expect("8 bytes"));
        (v < F::ORDER_U64).then(|| F::from_u64(v))
    };
    let (a, c) = (coeff(&b[..8])?, coeff(&b[8..])?);
    E::from_basis_coefficients_slice(&[a, c])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_embed_and_bytes_round_trip() {
        assert_eq!(from_i64(-5) + from_i64(5), F::ZERO);
        assert_eq!(from_i64(-(1 << 61)) * from_i64(2), from_i64(-(1 << 62)));
        let e = ext(-7) * ext(3);
        assert_eq!(from_bytes(&to_bytes(&e)), Some(e));
        assert_eq!(from_bytes(&[0xff; 16]), None);
    }
}
