//! Deterministic keys and signatures for codec tests.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{ecdsa::Signature, Message, PublicKey, Secp256k1, SecretKey};

fn secret(n: u8) -> SecretKey {
    let mut bytes = [0u8; 32];
    bytes[31] = n.max(1);
    bytes[0] = 0x01;
    SecretKey::from_slice(&bytes).expect("small nonzero scalar is a valid key")
}

pub fn pk(n: u8) -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::signing_only(), &secret(n))
}

pub fn sig(n: u8) -> Signature {
    let msg = Message::from_digest(sha256::Hash::hash(&[n]).to_byte_array());
    Secp256k1::signing_only().sign_ecdsa(&msg, &secret(n))
}
