//! The three primitives of BOLT 8: ECDH, HKDF-SHA256 and ChaCha20-Poly1305 with a counter
//! nonce.

use bitcoin::secp256k1::{ecdh::SharedSecret, PublicKey, SecretKey};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

/// Poly1305 tag length.
pub const MAC_LEN: usize = 16;

/// SHA256 of the compressed shared point, which is exactly what libsecp256k1's default ECDH
/// hash computes.
pub fn ecdh(sk: &SecretKey, pk: &PublicKey) -> [u8; 32] {
    SharedSecret::new(pk, sk).secret_bytes()
}

pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// HKDF with the chaining key as salt, empty info, split into two 32-byte keys.
pub fn hkdf2(salt: &[u8; 32], ikm: &[u8]) -> ([u8; 32], [u8; 32]) {
    let mut okm = [0u8; 64];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(&[], &mut okm)
        // 64 bytes is far below HKDF-SHA256's 8160-byte limit; this cannot fail.
        .expect("64-byte HKDF output is always valid");
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a.copy_from_slice(&okm[..32]);
    b.copy_from_slice(&okm[32..]);
    (a, b)
}

/// 32 zero bits then the counter little-endian, as BOLT 8 specifies.
fn nonce(n: u64) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[4..].copy_from_slice(&n.to_le_bytes());
    out
}

/// Ciphertext followed by the tag.
pub fn encrypt_with_ad(key: &[u8; 32], n: u64, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(plaintext.len() + MAC_LEN);
    buf.extend_from_slice(plaintext);
    let tag = ChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt_in_place_detached(Nonce::from_slice(&nonce(n)), ad, &mut buf)
        // Only inputs over 256 GiB are refused; ours are at most 65535 bytes.
        .expect("plaintext within ChaCha20-Poly1305 limits");
    buf.extend_from_slice(&tag);
    buf
}

/// The plaintext, or `None` if the input is shorter than a tag or fails authentication.
pub fn decrypt_with_ad(key: &[u8; 32], n: u64, ad: &[u8], input: &[u8]) -> Option<Vec<u8>> {
    let body_len = input.len().checked_sub(MAC_LEN)?;
    let (body, tag) = input.split_at(body_len);
    let mut buf = body.to_vec();
    ChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt_in_place_detached(
            Nonce::from_slice(&nonce(n)),
            ad,
            &mut buf,
            Tag::from_slice(tag),
        )
        .ok()?;
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aead_round_trip_and_tamper_detection() {
        let key = [7u8; 32];
        let ct = encrypt_with_ad(&key, 5, b"ad", b"hello");
        assert_eq!(ct.len(), 5 + MAC_LEN);
        assert_eq!(
            decrypt_with_ad(&key, 5, b"ad", &ct),
            Some(b"hello".to_vec())
        );
        assert_eq!(decrypt_with_ad(&key, 6, b"ad", &ct), None);
        assert_eq!(decrypt_with_ad(&key, 5, b"AD", &ct), None);
        assert_eq!(decrypt_with_ad(&key, 5, b"ad", &ct[..10]), None);
        assert_eq!(decrypt_with_ad(&key, 5, b"ad", &[]), None);
    }
}
