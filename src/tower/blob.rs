//! The encrypted justice blob and the hint that names it (see `channel-spec/watchtower.md`).
//!
//! Both derive from the txid of the revoked commitment, which nobody but the two channel peers
//! knows until the cheater broadcasts it:
//!
//! ```text
//! hint = SHA256("chanhub tower hint" || txid)[..16]      what the tower indexes by
//! key  = SHA256("chanhub tower key"  || txid)            what opens the blob
//! blob = version(1) || nonce(12) || ChaCha20-Poly1305(key, nonce, aad = version || hint,
//!                                       u32 tx_len || justice tx || zero padding)
//! ```
//!
//! `txid` is the 32 bytes in internal (serialization) order. The two tags make hint and key
//! unrelated functions of the txid: the hint gives away no bit of the txid or of the key.

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::{Transaction, Txid};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The only blob version: a whole signed justice transaction.
pub const BLOB_VERSION: u8 = 1;
/// Plaintexts are padded to a multiple of this, so the blob's size says little about how many
/// HTLCs the revoked commitment carried.
pub const PAD_TO: usize = 1024;
/// Largest padded plaintext: the blob must fit one upload message (65535 bytes with type, hint
/// and length prefix).
pub const MAX_PLAINTEXT: usize = 63 * PAD_TO;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Version, nonce, tag and the 4-byte length of the transaction.
pub const OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;
/// Largest blob a tower accepts.
pub const MAX_BLOB_LEN: usize = OVERHEAD + MAX_PLAINTEXT;

const HINT_TAG: &[u8] = b"chanhub tower hint";
const KEY_TAG: &[u8] = b"chanhub tower key";

/// The first 16 bytes of a tagged hash of a commitment txid: the tower's lookup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hint(pub [u8; 16]);

impl Hint {
    pub fn of(txid: &Txid) -> Hint {
        let digest = tagged(HINT_TAG, txid);
        let mut h = [0u8; 16];
        h.copy_from_slice(&digest[..16]);
        Hint(h)
    }
}

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

fn tagged(tag: &[u8], txid: &Txid) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(tag);
    h.update(txid.as_byte_array());
    h.finalize().into()
}

/// Why a blob cannot be made or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    #[error("the justice transaction is {0} bytes, too large for one blob")]
    TooLarge(usize),
    #[error("blob of {0} bytes: shorter than its header and tag")]
    TooShort(usize),
    #[error("unknown blob version {0}")]
    Version(u8),
    /// A wrong key (this blob is not for that txid) or a tampered blob.
    #[error("the blob does not open with this key")]
    Authentication,
    #[error("the blob's plaintext is malformed: {0}")]
    Malformed(&'static str),
}

/// Encrypts `justice` for the commitment `breach_txid`. The nonce is random, so uploading the
/// same state twice never reuses a (key, nonce) pair with another plaintext.
///
/// # Errors
/// [`BlobError::TooLarge`] when the transaction does not fit [`MAX_PLAINTEXT`].
pub fn seal(breach_txid: &Txid, justice: &Transaction) -> Result<Vec<u8>, BlobError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    seal_with_nonce(breach_txid, justice, nonce)
}

fn seal_with_nonce(
    breach_txid: &Txid,
    justice: &Transaction,
    nonce: [u8; NONCE_LEN],
) -> Result<Vec<u8>, BlobError> {
    let tx = serialize(justice);
    let padded = (4 + tx.len()).div_ceil(PAD_TO) * PAD_TO;
    if padded > MAX_PLAINTEXT {
        return Err(BlobError::TooLarge(tx.len()));
    }
    let mut buf = Vec::with_capacity(padded + TAG_LEN);
    buf.extend_from_slice(&(tx.len() as u32).to_be_bytes());
    buf.extend_from_slice(&tx);
    buf.resize(padded, 0);
    let hint = Hint::of(breach_txid);
    let tag = cipher(breach_txid)
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), &aad(&hint), &mut buf)
        .map_err(|_| BlobError::TooLarge(tx.len()))?;
    let mut out = Vec::with_capacity(OVERHEAD + buf.len());
    out.push(BLOB_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&buf);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens a blob with the txid of the transaction that matched its hint.
///
/// # Errors
/// [`BlobError::Authentication`] when the blob was not sealed for this txid; the others for a
/// blob that is not ours to read.
pub fn open(breach_txid: &Txid, blob: &[u8]) -> Result<Transaction, BlobError> {
    if blob.len() < OVERHEAD {
        return Err(BlobError::TooShort(blob.len()));
    }
    let (version, rest) = blob.split_at(1);
    if version[0] != BLOB_VERSION {
        return Err(BlobError::Version(version[0]));
    }
    let (nonce, rest) = rest.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut buf = ciphertext.to_vec();
    cipher(breach_txid)
        .decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            &aad(&Hint::of(breach_txid)),
            &mut buf,
            Tag::from_slice(tag),
        )
        .map_err(|_| BlobError::Authentication)?;
    let len_bytes: [u8; 4] = buf
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(BlobError::Malformed("no length"))?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let tx = buf
        .get(4..4usize.saturating_add(len))
        .ok_or(BlobError::Malformed("length past the end"))?;
    deserialize(tx).map_err(|_| BlobError::Malformed("not a transaction"))
}

fn cipher(breach_txid: &Txid) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(Key::from_slice(&tagged(KEY_TAG, breach_txid)))
}

fn aad(hint: &Hint) -> [u8; 17] {
    let mut a = [0u8; 17];
    a[0] = BLOB_VERSION;
    a[1..].copy_from_slice(&hint.0);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, TxIn, TxOut, Witness};

    fn txid(b: u8) -> Txid {
        Txid::from_byte_array([b; 32])
    }

    fn justice(inputs: usize) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: (0..inputs)
                .map(|i| TxIn {
                    previous_output: OutPoint::new(txid(1), i as u32),
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::from_slice(&[vec![7u8; 72], vec![1], vec![9u8; 140]]),
                })
                .collect(),
            output: vec![TxOut {
                value: Amount::from_sat(12_345),
                script_pubkey: ScriptBuf::from_bytes(vec![0, 20, 3, 3]),
            }],
        }
    }

    #[test]
    fn a_blob_opens_with_the_txid_it_was_sealed_for() {
        let tx = justice(3);
        let blob = seal(&txid(1), &tx).unwrap();
        assert_eq!(open(&txid(1), &blob).unwrap(), tx);
    }

    #[test]
    fn a_wrong_txid_or_a_flipped_bit_does_not_open() {
        let blob = seal(&txid(1), &justice(1)).unwrap();
        assert_eq!(open(&txid(2), &blob), Err(BlobError::Authentication));
        for i in [1, 13, blob.len() / 2, blob.len() - 1] {
            let mut bad = blob.clone();
            bad[i] ^= 1;
            assert_eq!(open(&txid(1), &bad), Err(BlobError::Authentication), "{i}");
        }
        let mut bad = blob.clone();
        bad[0] = 2;
        assert_eq!(open(&txid(1), &bad), Err(BlobError::Version(2)));
        assert_eq!(
            open(&txid(1), &blob[..OVERHEAD - 1]),
            Err(BlobError::TooShort(OVERHEAD - 1))
        );
    }

    #[test]
    fn sizes_are_padded_and_bounded() {
        let small = seal(&txid(1), &justice(1)).unwrap();
        let two = seal(&txid(1), &justice(2)).unwrap();
        assert_eq!(small.len(), OVERHEAD + PAD_TO);
        assert_eq!(two.len(), small.len(), "one or two inputs look the same");
        let big = seal(&txid(1), &justice(200)).unwrap();
        assert_eq!((big.len() - OVERHEAD) % PAD_TO, 0);
        assert!(big.len() <= MAX_BLOB_LEN);
        assert!(matches!(
            seal(&txid(1), &justice(400)),
            Err(BlobError::TooLarge(_))
        ));
    }

    #[test]
    fn the_nonce_is_fresh_for_every_seal() {
        let (a, b) = (
            seal(&txid(1), &justice(1)).unwrap(),
            seal(&txid(1), &justice(1)).unwrap(),
        );
        assert_ne!(a[1..13], b[1..13]);
        assert_ne!(a, b);
    }

    #[test]
    fn hint_and_key_are_tagged_hashes_of_the_txid() {
        let t = txid(5);
        let mut h = Sha256::new();
        h.update(b"chanhub tower hint");
        h.update([5u8; 32]);
        let digest: [u8; 32] = h.finalize().into();
        assert_eq!(Hint::of(&t).0, digest[..16]);
        assert_ne!(Hint::of(&t).0, [5u8; 16], "not the txid itself");
        assert_ne!(
            tagged(KEY_TAG, &t)[..16],
            Hint::of(&t).0,
            "hint and key differ"
        );
        assert_eq!(Hint::of(&t).to_string().len(), 32);
    }
}
