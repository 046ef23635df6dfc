//! The primitives of BOLT 4: ECDH shared secrets, ephemeral key blinding, the keys derived
//! from a shared secret, ChaCha20 streams and HMAC-SHA256.

use std::fmt;
use std::sync::OnceLock;

use bitcoin::hashes::hmac::{Hmac, HmacEngine};
use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::secp256k1::{ecdh, All, PublicKey, Scalar, Secp256k1, SecretKey};
use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;

use super::error::OnionError;

/// One context for the whole module: building a context is far more costly than using it.
pub(crate) fn secp() -> &'static Secp256k1<All> {
    static CTX: OnceLock<Secp256k1<All>> = OnceLock::new();
    CTX.get_or_init(Secp256k1::new)
}

/// The secret one hop shares with the sender: SHA256 of the compressed ECDH point.
///
/// Every key of the hop (payload stream, HMAC, error keys) derives from it, and it identifies
/// the onion for replay protection, so the hop must keep it as long as the HTLC lives.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SharedSecret(pub [u8; 32]);

impl SharedSecret {
    /// ECDH between a node key and the other side's point.
    pub fn new(point: &PublicKey, secret: &SecretKey) -> Self {
        Self(ecdh::SharedSecret::new(point, secret).secret_bytes())
    }

    /// `rho`: the stream that encrypts the hop payloads.
    pub fn rho(&self) -> [u8; 32] {
        derive_key(b"rho", self)
    }

    /// `mu`: the key of the packet HMAC.
    pub fn mu(&self) -> [u8; 32] {
        derive_key(b"mu", self)
    }

    /// `um`: the key of the error HMAC.
    pub fn um(&self) -> [u8; 32] {
        derive_key(b"um", self)
    }

    /// `ammag`: the stream that obfuscates error packets.
    pub fn ammag(&self) -> [u8; 32] {
        derive_key(b"ammag", self)
    }
}

impl fmt::Debug for SharedSecret {
    /// Never printed: it decrypts the hop's part of the onion and its errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(..)")
    }
}

/// HMAC-SHA256 keyed by the key type's ASCII name (no terminating zero), over the secret.
pub(crate) fn derive_key(key_type: &[u8], secret: &SharedSecret) -> [u8; 32] {
    hmac(key_type, &[&secret.0])
}

pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut engine = HmacEngine::<sha256::Hash>::new(key);
    for p in parts {
        engine.input(p);
    }
    Hmac::<sha256::Hash>::from_engine(engine).to_byte_array()
}

pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut engine = sha256::Hash::engine();
    for p in parts {
        engine.input(p);
    }
    sha256::Hash::from_engine(engine).to_byte_array()
}

/// XORs `buf` with the ChaCha20 stream of `key` under the all-zero 96-bit nonce. The nonce can
/// be fixed because every key is used for one stream only.
pub(crate) fn apply_stream(key: &[u8; 32], buf: &mut [u8]) {
    let mut cipher = ChaCha20::new(key.into(), &[0u8; 12].into());
    cipher.apply_keystream(buf);
}

/// `len` bytes of the stream of `key`.
pub(crate) fn stream(key: &[u8; 32], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    apply_stream(key, &mut out);
    out
}

/// Constant-time comparison, so an attacker cannot learn a correct HMAC prefix by timing.
pub(crate) fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SHA256(ephemeral public key || shared secret): what each hop multiplies the ephemeral key
/// by, so consecutive hops see unlinkable keys.
pub(crate) fn blinding_factor(ephemeral: &PublicKey, secret: &SharedSecret) -> Scalar {
    let bytes = sha256(&[&ephemeral.serialize(), &secret.0]);
    // A SHA256 output at or above the curve order has probability ~2^-128; treat it as the
    // invalid key it would produce.
    Scalar::from_be_bytes(bytes).unwrap_or(Scalar::ZERO)
}

/// The ephemeral key the next hop receives.
pub(crate) fn blind_point(
    ephemeral: &PublicKey,
    secret: &SharedSecret,
) -> Result<PublicKey, OnionError> {
    ephemeral
        .mul_tweak(secp(), &blinding_factor(ephemeral, secret))
        .map_err(|_| OnionError::InvalidBlinding)
}

/// What the sender knows about one hop of its route.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HopKeys {
    /// The ephemeral key this hop finds in its packet.
    pub ephemeral: PublicKey,
    /// The secret it derives from that key.
    pub shared_secret: SharedSecret,
}

/// The ephemeral key and shared secret of every hop, from the session key.
///
/// The sender blinds its private key after each hop, in step with the public blinding every
/// hop applies, so both sides agree on each hop's secret.
pub fn hop_keys(session_key: &SecretKey, route: &[PublicKey]) -> Result<Vec<HopKeys>, OnionError> {
    let mut priv_key = *session_key;
    let mut out = Vec::with_capacity(route.len());
    for node in route {
        let ephemeral = priv_key.public_key(secp());
        let shared_secret = SharedSecret::new(node, &priv_key);
        out.push(HopKeys {
            ephemeral,
            shared_secret,
        });
        priv_key = priv_key
            .mul_tweak(&blinding_factor(&ephemeral, &shared_secret))
            .map_err(|_| OnionError::InvalidBlinding)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_types_are_distinct_and_bound_to_the_secret() {
        let a = SharedSecret([1; 32]);
        let b = SharedSecret([2; 32]);
        let keys = [a.rho(), a.mu(), a.um(), a.ammag()];
        for (i, x) in keys.iter().enumerate() {
            for y in &keys[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_ne!(a.rho(), b.rho());
        assert_eq!(format!("{a:?}"), "SharedSecret(..)");
    }

    #[test]
    fn stream_is_chacha20_with_zero_nonce() {
        // RFC 8439 section 2.3.2 keystream for the all-zero key and nonce, block 0.
        let ks = stream(&[0; 32], 16);
        assert_eq!(hex::encode(ks), "76b8e0ada0f13d90405d6ae55386bd28");
    }

    #[test]
    fn sender_and_hop_agree_on_every_secret() {
        let nodes: Vec<SecretKey> = (1..=4u8)
            .map(|i| SecretKey::from_slice(&[i; 32]).unwrap())
            .collect();
        let route: Vec<PublicKey> = nodes.iter().map(|k| k.public_key(secp())).collect();
        let keys = hop_keys(&SecretKey::from_slice(&[9; 32]).unwrap(), &route).unwrap();
        let mut ephemeral = keys[0].ephemeral;
        for (node, k) in nodes.iter().zip(&keys) {
            assert_eq!(ephemeral, k.ephemeral);
            let ss = SharedSecret::new(&ephemeral, node);
            assert!(ss == k.shared_secret);
            ephemeral = blind_point(&ephemeral, &ss).unwrap();
        }
    }
}
