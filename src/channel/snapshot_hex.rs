//! Hex for the channel snapshot's bulk fields, written through a lookup table.
//!
//! The store rewrites the parts of a channel's snapshot that each transition changed
//! (`store::channel_parts`), and under load most of their text is hex: each in-flight HTLC's signatures in both commitments and
//! the onions of adds in flight. The `Display` of secp256k1's types (their serde form) writes a
//! byte at a time through `core::fmt`; in the hub's profile at 64 payments in flight, formatting
//! signatures alone was 14 % of its CPU. These write the same text (lowercase hex, signatures in
//! DER as before) into one allocation, so stored states read the same either way.

use bitcoin::secp256k1::ecdsa::Signature;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `bytes` as lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = vec![0u8; bytes.len() * 2];
    for (pair, b) in text.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
    String::from_utf8(text).expect("hex digits are ASCII")
}

/// One signature, written as its DER hex (what `Signature`'s own serde writes; reading goes
/// through that serde directly).
struct Sig(Signature);

impl Serialize for Sig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&encode(&self.0.serialize_der()))
        } else {
            self.0.serialize(s)
        }
    }
}

/// `#[serde(with = "sig")]` for a `Signature`.
pub mod sig {
    use super::*;

    pub fn serialize<S: Serializer>(sig: &Signature, s: S) -> Result<S::Ok, S::Error> {
        Sig(*sig).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Signature, D::Error> {
        Signature::deserialize(d)
    }
}

/// `#[serde(with = "opt_sig")]` for an `Option<Signature>`.
pub mod opt_sig {
    use super::*;

    pub fn serialize<S: Serializer>(sig: &Option<Signature>, s: S) -> Result<S::Ok, S::Error> {
        sig.map(Sig).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Signature>, D::Error> {
        Option::<Signature>::deserialize(d)
    }
}

/// `#[serde(with = "sigs")]` for a `Vec<Signature>` (a commitment's HTLC signatures).
pub mod sigs {
    use super::*;
    use serde::ser::SerializeSeq;

    pub fn serialize<S: Serializer>(sigs: &[Signature], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(sigs.len()))?;
        for sig in sigs {
            seq.serialize_element(&Sig(*sig))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Signature>, D::Error> {
        Vec::<Signature>::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Fields {
        #[serde(with = "sig")]
        one: Signature,
        #[serde(with = "opt_sig")]
        some: Option<Signature>,
        #[serde(with = "opt_sig")]
        none: Option<Signature>,
        #[serde(with = "sigs")]
        many: Vec<Signature>,
    }

    /// The same fields with secp256k1's own serde: what older snapshots hold.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Plain {
        one: Signature,
        some: Option<Signature>,
        none: Option<Signature>,
        many: Vec<Signature>,
    }

    fn signatures(n: u8) -> Vec<Signature> {
        let secp = Secp256k1::new();
        (1..=n)
            .map(|i| {
                let key = SecretKey::from_slice(&[i; 32]).unwrap();
                // Digests that give DER encodings of different lengths (short r or s).
                secp.sign_ecdsa(&Message::from_digest([i.wrapping_mul(37); 32]), &key)
            })
            .collect()
    }

    #[test]
    fn signatures_are_written_as_secp256k1_writes_them_and_read_back() {
        let s = signatures(40);
        let fields = Fields {
            one: s[0],
            some: Some(s[1]),
            none: None,
            many: s[2..].to_vec(),
        };
        let plain = Plain {
            one: s[0],
            some: Some(s[1]),
            none: None,
            many: s[2..].to_vec(),
        };
        let ours = serde_json::to_string(&fields).unwrap();
        assert_eq!(ours, serde_json::to_string(&plain).unwrap());
        let back: Fields = serde_json::from_str(&ours).unwrap();
        assert_eq!(back, fields);
    }

    #[test]
    fn bytes_are_written_as_the_hex_crate_writes_them() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        assert_eq!(encode(&bytes), hex::encode(&bytes));
        assert_eq!(encode(&[]), "");
    }
}
