//! Executor keys: secp256k1 signing keys identified, as on Ethereum, by a 20-byte address.

use std::fmt;

use k256::ecdsa::{SigningKey, VerifyingKey};
use k256::elliptic_curve::common::getrandom::{self, SysRng};
use k256::elliptic_curve::zeroize::Zeroizing;
use k256::elliptic_curve::Generate;
use sha3::{Digest, Keccak256};

use crate::error::KeyError;
use crate::receipt::{Receipt, ReceiptBody};
use crate::signature::EthSignature;

/// Keccak-256 as used by Ethereum (the pre-standard padding, not NIST SHA3-256).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// Ethereum address of a public key: the last 20 bytes of keccak256 of the uncompressed point
/// without its `0x04` prefix.
pub(crate) fn address_of(key: &VerifyingKey) -> [u8; 20] {
    let point = key.to_sec1_point(false);
    let hash = keccak256(&point.as_bytes()[1..]);
    let mut address = [0; 20];
    address.copy_from_slice(&hash[12..]);
    address
}

/// EIP-55 mixed-case checksum form (`0x2c7536E3…`), what wallets and block explorers show.
pub fn to_checksum_address(address: &[u8; 20]) -> String {
    let lower = hex::encode(address);
    let hash = keccak256(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> (4 * (1 - i % 2))) & 0xf;
        out.push(if nibble >= 8 { c.to_ascii_uppercase() } else { c });
    }
    out
}

/// Holds an executor's private key and signs receipts with it.
pub struct Signer {
    key: SigningKey,
    address: [u8; 20],
}

impl fmt::Debug for Signer {
    // Never print the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("address", &to_checksum_address(&self.address)).finish_non_exhaustive()
    }
}

impl Signer {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Result<Self, KeyError> {
        SigningKey::try_generate().map(Self::from_key).map_err(|e| KeyError::Rng(e.to_string()))
    }

    /// A key from its 32-byte big-endian secret scalar (must be in `1..n`).
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Result<Self, KeyError> {
        SigningKey::from_slice(secret)
            .map(Self::from_key)
            .map_err(|_| KeyError::Invalid("the secret is zero or not below the secp256k1 group order".into()))
    }

    /// A key from 64 hex digits, optionally `0x`-prefixed and surrounded by whitespace (the
    /// format of `cast wallet new` and of our key files). Errors never echo the input.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let digits = text.strip_prefix("0x").unwrap_or(text);
        if digits.len() != 64 {
            return Err(KeyError::Invalid(format!(
                "expected 64 hex digits (optionally 0x-prefixed), found {} characters",
                digits.chars().count()
            )));
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(digits, secret.as_mut())
            .map_err(|_| KeyError::Invalid("the key contains a character that is not a hex digit".into()))?;
        Self::from_secret_bytes(&secret)
    }

    /// The secret as `0x` + 64 lowercase hex digits, the key-file format.
    pub fn secret_hex(&self) -> Zeroizing<String> {
        let secret = Zeroizing::new(self.key.to_bytes());
        Zeroizing::new(format!("0x{}", hex::encode(secret.as_slice())))
    }

    fn from_key(key: SigningKey) -> Self {
        let address = address_of(key.verifying_key());
        Signer { key, address }
    }

    /// This key's Ethereum address, the `executor` of every receipt it signs.
    pub fn address(&self) -> [u8; 20] {
        self.address
    }

    /// Signs `body` with [`ReceiptBody::executor`] set to [`Signer::address`] (whatever it held
    /// is replaced: a receipt always names the key that signed it).
    pub fn sign(&self, body: ReceiptBody) -> Receipt {
        let body = ReceiptBody { executor: self.address, ..body };
        let signature = self.sign_hash(&body.signing_hash());
        Receipt { body, signature, batch: None }
    }

    /// Signs many bodies with one signature over their Merkle root (see [`crate::batch`]),
    /// setting each executor like [`Signer::sign`]. A single body is signed as by `sign`.
    /// Each receipt gets a fresh 32-byte salt from the operating system's random number
    /// generator, which is the only way this can fail.
    pub fn sign_batch(&self, bodies: &[ReceiptBody]) -> Result<Vec<Receipt>, KeyError> {
        let mut salts = vec![[0u8; 32]; if bodies.len() < 2 { 0 } else { bodies.len() }];
        // One system call for the whole batch.
        getrandom::fill(salts.as_flattened_mut()).map_err(|e| KeyError::Rng(e.to_string()))?;
        Ok(self.sign_batch_salted(bodies, &salts))
    }

    /// [`Signer::sign_batch`], but a lone body too gets a batch proof (a batch of depth 1
    /// whose other leaf is the zero padding): what an executor settling on chain signs,
    /// since only a batch root can be posted, and so only a batched receipt challenged.
    pub fn sign_batch_always(&self, bodies: &[ReceiptBody]) -> Result<Vec<Receipt>, KeyError> {
        if bodies.len() != 1 {
            return self.sign_batch(bodies);
        }
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt).map_err(|e| KeyError::Rng(e.to_string()))?;
        Ok(self.batched(bodies, &[salt]))
    }

    /// [`Signer::sign_batch`] with the caller's salts (one per body; ignored for a single
    /// body). Salts must be fresh, random and never reused, or the receipts' paths name
    /// each other (see [`crate::batch`]): this exists for pinned test vectors.
    pub fn sign_batch_salted(&self, bodies: &[ReceiptBody], salts: &[[u8; 32]]) -> Vec<Receipt> {
        if bodies.len() < 2 {
            return bodies.iter().map(|b| self.sign(*b)).collect();
        }
        self.batched(bodies, salts)
    }

    fn batched(&self, bodies: &[ReceiptBody], salts: &[[u8; 32]]) -> Vec<Receipt> {
        let bodies: Vec<ReceiptBody> = bodies.iter().map(|b| ReceiptBody { executor: self.address, ..*b }).collect();
        let hashes: Vec<[u8; 32]> = bodies.iter().map(ReceiptBody::signing_hash).collect();
        let (root, proofs) = crate::batch::build(&hashes, salts);
        let signature = self.sign_hash(&crate::batch::batch_digest(proofs[0].path.len(), &root));
        bodies.into_iter().zip(proofs).map(|(body, proof)| Receipt { body, signature, batch: Some(proof) }).collect()
    }

    /// Low-level: a deterministic (RFC 6979), low-s, recoverable signature over a 32-byte hash,
    /// exactly what Ethereum's `ecrecover(hash, v, r, s)` accepts.
    ///
    /// Panics only if the operating system's RNG fails on the ~2^-128 path described inside.
    pub fn sign_hash(&self, hash: &[u8; 32]) -> EthSignature {
        let (mut sig, mut recid) = self.key.sign_prehash_recoverable(hash);
        // An x-reduced nonce point (r = x - n, probability ~2^-128) needs recovery id 2 or 3,
        // which v in {27, 28} cannot express; re-sign with a random nonce until it does not happen.
        while recid.is_x_reduced() {
            (sig, recid) = self
                .key
                .sign_prehash_recoverable_with_rng(&mut SysRng, hash)
                .expect("the operating system's random number generator failed");
        }
        let (r, s) = sig.split_bytes();
        EthSignature { r: r.into(), s: s.into(), v: 27 + u8::from(recid.is_y_odd()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB3_KEY: &str = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

    /// Ethereum test vector (web3.js `privateKeyToAccount` documentation).
    #[test]
    fn address_matches_ethereum_test_vector() {
        let signer = Signer::from_hex(WEB3_KEY).unwrap();
        assert_eq!(to_checksum_address(&signer.address()), "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
    }

    /// web3.js `accounts.sign('Some data', key)`: EIP-191 hash, deterministic r, s and v = 0x1c.
    /// Pins `sign_hash` byte-for-byte to an independent Ethereum implementation.
    #[test]
    fn signature_matches_web3js_test_vector() {
        let signer = Signer::from_hex(WEB3_KEY).unwrap();
        let hash = keccak256(b"\x19Ethereum Signed Message:\n9Some data");
        assert_eq!(hex::encode(hash), "1da44b586eb0729ff70a73c326926f6ed5a25f5b056e7f47fbc6e58d86871655");
        let sig = signer.sign_hash(&hash);
        assert_eq!(
            hex::encode(sig.to_bytes()),
            "b91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd\
             6007e74cd82e037b800186422fc2da167c747ef045e5d18a5f5d4300f8e1a029\
             1c"
        );
        assert_eq!(sig.recover_address(&hash).unwrap(), signer.address());
    }

    /// The four examples of EIP-55.
    #[test]
    fn eip55_checksum_vectors() {
        for expected in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let mut address = [0; 20];
            hex::decode_to_slice(&expected[2..], &mut address).unwrap();
            assert_eq!(to_checksum_address(&address), expected);
        }
    }

    #[test]
    fn keccak_empty_string() {
        assert_eq!(hex::encode(keccak256(b"")), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    }

    #[test]
    fn from_hex_accepts_bare_prefixed_and_padded() {
        let bare = Signer::from_hex(&WEB3_KEY[2..]).unwrap();
        let padded = Signer::from_hex(&format!("  {WEB3_KEY}\n")).unwrap();
        assert_eq!(bare.address(), padded.address());
        assert_eq!(*bare.secret_hex(), WEB3_KEY);
    }

    #[test]
    fn from_hex_errors_are_clear_and_do_not_leak_the_key() {
        let short = Signer::from_hex("0x1234").unwrap_err().to_string();
        assert!(short.contains("expected 64 hex digits") && short.contains("found 4"), "{short}");
        let bad_digit = format!("0x{}zz", &WEB3_KEY[2..64]);
        let msg = Signer::from_hex(&bad_digit).unwrap_err().to_string();
        assert!(msg.contains("not a hex digit") && !msg.contains(&WEB3_KEY[2..20]), "{msg}");
        let zero = Signer::from_hex(&"0".repeat(64)).unwrap_err().to_string();
        assert!(zero.contains("zero or not below"), "{zero}");
        let too_big = Signer::from_hex(&"f".repeat(64)).unwrap_err().to_string();
        assert!(too_big.contains("zero or not below"), "{too_big}");
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let signer = Signer::from_hex(WEB3_KEY).unwrap();
        let debug = format!("{signer:?}");
        assert!(debug.contains("0x2c7536E3605D9C16a7a3D7b1898e529396a65c23") && !debug.contains("4c0883"), "{debug}");
    }

    #[test]
    fn generated_keys_differ_and_sign() {
        let (a, b) = (Signer::generate().unwrap(), Signer::generate().unwrap());
        assert_ne!(a.address(), b.address());
        let hash = keccak256(b"x");
        assert_eq!(a.sign_hash(&hash).recover_address(&hash).unwrap(), a.address());
    }
}
