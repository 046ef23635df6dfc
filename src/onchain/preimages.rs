//! Learning preimages from the chain: when the peer takes an HTLC we offered with its preimage
//! (its HTLC-success transaction on its commitment, or a direct spend of the HTLC output on
//! ours), the preimage is in the witness, and we owe it upstream.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::Transaction;

/// Length of a payment preimage.
const PREIMAGE_LEN: usize = 32;

/// Every `(payment_hash, preimage)` for which a 32-byte witness element of `tx` hashes (SHA256)
/// to one of `hashes`, in the order found, each hash once.
///
/// Any spending path is covered without parsing the scripts: HTLC-success
/// (`0 <remote sig> <local sig> <preimage> <script>`), the offered-HTLC preimage path
/// (`<sig> <preimage> <script>`), or anything else that reveals one. No other element of these
/// witnesses is 32 bytes long (signatures are 70-72, keys 33, scripts longer), and a collision
/// with SHA256 of a chosen hash is not a concern.
pub fn preimages_in(tx: &Transaction, hashes: &[[u8; 32]]) -> Vec<([u8; 32], [u8; 32])> {
    let mut found: Vec<([u8; 32], [u8; 32])> = Vec::new();
    if hashes.is_empty() {
        return found;
    }
    for input in &tx.input {
        for element in input.witness.iter() {
            let Ok(preimage) = <[u8; PREIMAGE_LEN]>::try_from(element) else {
                continue;
            };
            let hash = sha256::Hash::hash(&preimage).to_byte_array();
            if hashes.contains(&hash) && !found.iter().any(|(h, _)| *h == hash) {
                found.push((hash, preimage));
            }
        }
    }
    found
}
