//! Fiat–Shamir transcript: a BLAKE3 hash chain over length-prefixed, labelled messages.
//! Challenges are squeezed from the chain and reduced from 128 bits, so their bias is
//! below 2^-64 per coordinate.

use crate::field::{to_bytes, E, F};
use p3_field::{BasedVectorSpace, PrimeCharacteristicRing, PrimeField64};

#[derive(Clone)]
pub struct Transcript {
    state: [u8; 32],
}

impl Transcript {
    /// A transcript bound to a protocol name (domain separation between proof kinds).
    pub fn new(protocol: &str) -> Self {
        let mut t = Transcript { state: [0; 32] };
        t.absorb(b"protocol", protocol.as_bytes());
        t
    }

    pub fn absorb(&mut self, label: &[u8], data: &[u8]) {
        let mut h = blake3::Hasher::new_keyed(&self.state);
        h.update(&(label.len() as u64).to_le_bytes());
        h.update(label);
        h.update(&(data.len() as u64).to_le_bytes());
        h.update(data);
        self.state = *h.finalize().as_bytes();
    }

    pub fn absorb_ext(&mut self, label: &[u8], values: &[E]) {
        let bytes: Vec<u8> = values.iter().flat_map(to_bytes).collect();
        self.absorb(label, &bytes);
    }

    /// A challenge in the extension field.
    pub fn challenge(&mut self) -> E {
        self.absorb(b"challenge", &[]);
        let mut out = [0u8; 32];
        blake3::Hasher::new_keyed(&self.state).update(b"squeeze").finalize_xof().fill(&mut out);
        let coeff = |b: &[u8]| {
            let v = u128::from_le_bytes(b.try_into().expect("16 bytes"));
            F::from_u64((v % F::ORDER_U64 as u128) as u64)
        };
        E::from_basis_coefficients_slice(&[coeff(&out[..16]), coeff(&out[16..])]).expect("two coefficients")
    }

    pub fn challenges(&mut self, n: usize) -> Vec<E> {
        (0..n).map(|_| self.challenge()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_depend_on_everything_absorbed() {
        let mut a = Transcript::new("t");
        let mut b = Transcript::new("t");
        assert_eq!(a.challenge(), b.challenge());
        a.absorb(b"x", &[1]);
        b.absorb(b"x", &[2]);
        assert_ne!(a.challenge(), b.challenge());
        // Length prefixes keep (label, data) splits apart.
        let mut c = Transcript::new("t");
        let mut d = Transcript::new("t");
        c.absorb(b"ab", b"c");
        d.absorb(b"a", b"bc");
        assert_ne!(c.challenge(), d.challenge());
        assert_ne!(Transcript::new("t").challenge(), Transcript::new("u").challenge());
    }
}
