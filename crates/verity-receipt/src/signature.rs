//! Ethereum-style recoverable signatures: `r || s || v` with `v` in {27, 28}.

use k256::ecdsa::{signature::hazmat::PrehashVerifier, RecoveryId, Signature, VerifyingKey};
use k256::elliptic_curve::scalar::IsHigh;
use k256::{FieldBytes, NonZeroScalar};

use crate::error::ReceiptError;
use crate::keys::address_of;

/// A secp256k1 ECDSA signature in the 65-byte form `ecrecover` takes.
///
/// Fields are public so any bytes can be represented (and rejected by [`EthSignature::validate`]);
/// signatures made by [`crate::Signer`] are always valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EthSignature {
    pub r: [u8; 32],
    pub s: [u8; 32],
    /// 27 + parity of the nonce point's y coordinate.
    pub v: u8,
}

impl EthSignature {
    /// Splits `r || s || v` without checking it; see [`EthSignature::validate`].
    pub fn from_bytes(bytes: &[u8; 65]) -> Self {
        let (mut r, mut s) = ([0; 32], [0; 32]);
        r.copy_from_slice(&bytes[..32]);
        s.copy_from_slice(&bytes[32..64]);
        EthSignature { r, s, v: bytes[64] }
    }

    /// `r || s || v`, the layout of Ethereum's `eth_sign` / `personal_sign` output.
    pub fn to_bytes(&self) -> [u8; 65] {
        let mut out = [0; 65];
        out[..32].copy_from_slice(&self.r);
        out[32..64].copy_from_slice(&self.s);
        out[64] = self.v;
        out
    }

    /// Checks the encoding rules Ethereum applies: `v` is 27 or 28, `0 < r, s < n`, and `s <= n/2`.
    /// High-s is rejected because `(r, n - s)` is a second valid signature for the same message;
    /// allowing it would give one receipt two encodings.
    pub fn validate(&self) -> Result<(), ReceiptError> {
        self.to_k256().map(|_| ())
    }

    /// Recovers the Ethereum address that produced this signature over `hash`.
    pub fn recover_address(&self, hash: &[u8; 32]) -> Result<[u8; 20], ReceiptError> {
        let (sig, recid) = self.to_k256()?;
        let key = VerifyingKey::recover_from_prehash(hash, &sig, recid).map_err(|_| ReceiptError::SignatureRecovery)?;
        // Recovery implies validity mathematically; the explicit check guards against a bug in that shortcut.
        key.verify_prehash(hash, &sig).map_err(|_| ReceiptError::SignatureRecovery)?;
        Ok(address_of(&key))
    }

    fn to_k256(self) -> Result<(Signature, RecoveryId), ReceiptError> {
        let recid = match self.v {
            27 => RecoveryId::new(false, false),
            28 => RecoveryId::new(true, false),
            found => return Err(ReceiptError::SignatureV { found }),
        };
        scalar(&self.r, "r")?;
        let s = scalar(&self.s, "s")?;
        if bool::from(s.is_high()) {
            return Err(ReceiptError::SignatureHighS);
        }
        let sig = Signature::from_scalars(self.r, self.s).map_err(|_| ReceiptError::SignatureScalar { component: "r" })?;
        Ok((sig, recid))
    }
}

fn scalar(bytes: &[u8; 32], component: &'static str) -> Result<NonZeroScalar, ReceiptError> {
    Option::from(NonZeroScalar::from_repr(FieldBytes::from(*bytes))).ok_or(ReceiptError::SignatureScalar { component })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// secp256k1 group order n.
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6,
        0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
    ];
    /// floor(n / 2), the largest acceptable s.
    const HALF_N: [u8; 32] = [
        0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e, 0x73,
        0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
    ];

    fn sig(r: [u8; 32], s: [u8; 32], v: u8) -> EthSignature {
        EthSignature { r, s, v }
    }

    #[test]
    fn bytes_round_trip() {
        let s = sig([1; 32], [2; 32], 27);
        assert_eq!(EthSignature::from_bytes(&s.to_bytes()), s);
    }

    #[test]
    fn v_must_be_27_or_28() {
        for v in [0u8, 1, 2, 3, 26, 29, 35, 36, 255] {
            assert_eq!(sig([1; 32], [1; 32], v).validate(), Err(ReceiptError::SignatureV { found: v }));
        }
        assert_eq!(sig([1; 32], [1; 32], 27).validate(), Ok(()));
        assert_eq!(sig([1; 32], [1; 32], 28).validate(), Ok(()));
    }

    #[test]
    fn scalars_must_be_in_range() {
        let r_err = Err(ReceiptError::SignatureScalar { component: "r" });
        let s_err = Err(ReceiptError::SignatureScalar { component: "s" });
        assert_eq!(sig([0; 32], [1; 32], 27).validate(), r_err);
        assert_eq!(sig(N, [1; 32], 27).validate(), r_err);
        assert_eq!(sig([0xff; 32], [1; 32], 27).validate(), r_err);
        assert_eq!(sig([1; 32], [0; 32], 27).validate(), s_err);
        assert_eq!(sig([1; 32], N, 27).validate(), s_err);
    }

    #[test]
    fn s_above_half_order_is_rejected() {
        assert_eq!(sig([1; 32], HALF_N, 27).validate(), Ok(()));
        let mut above = HALF_N;
        above[31] += 1;
        assert_eq!(sig([1; 32], above, 27).validate(), Err(ReceiptError::SignatureHighS));
        let mut n_minus_1 = N;
        n_minus_1[31] -= 1;
        assert_eq!(sig([1; 32], n_minus_1, 27).validate(), Err(ReceiptError::SignatureHighS));
    }
}
