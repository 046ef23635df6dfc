//! Signature hashes, low-S ECDSA signing and verification, and the signer seam.
//!
//! Signatures are RFC 6979 deterministic with no extra entropy and no low-R grinding, which is
//! what the BOLT 3 vectors use; libsecp256k1 always produces low-S. Signatures received from a
//! peer are checked for low-S explicitly (high-S is non-standard under BIP 146 and would make the
//! transaction unrelayable) before being verified.

use bitcoin::ecdsa::Signature as BitcoinSignature;
use bitcoin::hashes::Hash as _;
use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::secp256k1::{Message, PublicKey, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{Amount, Script, Transaction};

use super::keys::{
    derive_privkey_with, derive_revocation_privkey, ChannelPublicKeys, ChannelSecrets,
};
use super::scripts::p2wpkh;
use super::{secp, Bolt3Error};

/// The BIP 143 signature hash of input `input_index` spending a P2WSH output.
pub fn p2wsh_sighash(
    tx: &Transaction,
    input_index: usize,
    witness_script: &Script,
    value_sat: u64,
    sighash_type: EcdsaSighashType,
) -> Result<Message, Bolt3Error> {
    let hash = SighashCache::new(tx)
        .p2wsh_signature_hash(
            input_index,
            witness_script,
            Amount::from_sat(value_sat),
            sighash_type,
        )
        .map_err(|e| Bolt3Error::Sighash(e.to_string()))?;
    Ok(Message::from_digest(hash.to_byte_array()))
}

/// The BIP 143 signature hash of input `input_index` spending a P2WPKH output of `key`.
pub fn p2wpkh_sighash(
    tx: &Transaction,
    input_index: usize,
    key: &PublicKey,
    value_sat: u64,
    sighash_type: EcdsaSighashType,
) -> Result<Message, Bolt3Error> {
    let hash = SighashCache::new(tx)
        .p2wpkh_signature_hash(
            input_index,
            &p2wpkh(key),
            Amount::from_sat(value_sat),
            sighash_type,
        )
        .map_err(|e| Bolt3Error::Sighash(e.to_string()))?;
    Ok(Message::from_digest(hash.to_byte_array()))
}

/// Sign a digest: RFC 6979, low-S.
pub fn sign_digest(msg: &Message, key: &SecretKey) -> Signature {
    secp().sign_ecdsa(msg, key)
}

/// Refuse a signature whose S is in the upper half of the curve order.
pub fn check_low_s(sig: &Signature) -> Result<(), Bolt3Error> {
    let mut normalized = *sig;
    normalized.normalize_s();
    if normalized == *sig {
        Ok(())
    } else {
        Err(Bolt3Error::HighS)
    }
}

/// Verify a digest signature, refusing high-S first.
pub fn verify_digest(msg: &Message, sig: &Signature, key: &PublicKey) -> Result<(), Bolt3Error> {
    check_low_s(sig)?;
    secp()
        .verify_ecdsa(msg, sig, key)
        .map_err(|_| Bolt3Error::InvalidSignature)
}

/// Parse a 64-byte compact signature as sent in BOLT 2 messages, refusing high-S.
pub fn parse_compact_signature(bytes: &[u8; 64]) -> Result<Signature, Bolt3Error> {
    let sig = Signature::from_compact(bytes).map_err(|_| Bolt3Error::InvalidSignature)?;
    check_low_s(&sig)?;
    Ok(sig)
}

/// Sign input `input_index` of `tx` spending a P2WSH output.
pub fn sign_p2wsh(
    tx: &Transaction,
    input_index: usize,
    witness_script: &Script,
    value_sat: u64,
    sighash_type: EcdsaSighashType,
    key: &SecretKey,
) -> Result<BitcoinSignature, Bolt3Error> {
    let msg = p2wsh_sighash(tx, input_index, witness_script, value_sat, sighash_type)?;
    Ok(BitcoinSignature {
        signature: sign_digest(&msg, key),
        sighash_type,
    })
}

/// Verify a signature on input `input_index` of `tx` spending a P2WSH output.
pub fn verify_p2wsh(
    tx: &Transaction,
    input_index: usize,
    witness_script: &Script,
    value_sat: u64,
    sig: &BitcoinSignature,
    key: &PublicKey,
) -> Result<(), Bolt3Error> {
    let msg = p2wsh_sighash(tx, input_index, witness_script, value_sat, sig.sighash_type)?;
    verify_digest(&msg, &sig.signature, key)
}

/// Which of a peer's keys signs, and how it is tweaked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKey {
    /// The funding key, for commitment and closing transactions.
    Funding,
    /// The untweaked payment basepoint key: spends our `to_remote` on the peer's commitment.
    Payment,
    /// `local_delayedpubkey` of our commitment at this point: `to_local` and second-stage outputs.
    Delayed { per_commitment_point: PublicKey },
    /// Our HTLC key at this point (on either commitment).
    Htlc { per_commitment_point: PublicKey },
    /// The revocation key of a counterparty commitment whose secret it revealed.
    Revocation { per_commitment_secret: [u8; 32] },
}

/// The seam between transaction construction and key custody: tests inject the BOLT vector keys,
/// production may keep keys elsewhere.
pub trait ChannelSigner {
    /// The basepoints this signer holds secrets for.
    fn pubkeys(&self) -> ChannelPublicKeys;

    /// Sign a 32-byte digest with the key described by `key`; the result must be low-S.
    fn sign(&self, key: SigningKey, msg: &Message) -> Result<Signature, Bolt3Error>;

    /// The public key that `sign(key, ..)` signs for.
    fn public_key(&self, key: SigningKey) -> Result<PublicKey, Bolt3Error>;
}

/// A signer holding the basepoint secrets in memory.
#[derive(Debug, Clone)]
pub struct InMemorySigner {
    secrets: ChannelSecrets,
    pubkeys: ChannelPublicKeys,
}

impl InMemorySigner {
    pub fn new(secrets: ChannelSecrets) -> Self {
        let pubkeys = secrets.public_keys();
        InMemorySigner { secrets, pubkeys }
    }

    /// The private key `key` resolves to.
    pub fn private_key(&self, key: SigningKey) -> Result<SecretKey, Bolt3Error> {
        let s = &self.secrets;
        match key {
            SigningKey::Funding => Ok(s.funding_key),
            SigningKey::Payment => Ok(s.payment_base_secret),
            SigningKey::Delayed {
                per_commitment_point,
            } => derive_privkey_with(
                &s.delayed_payment_base_secret,
                &self.pubkeys.delayed_payment_basepoint,
                &per_commitment_point,
            ),
            SigningKey::Htlc {
                per_commitment_point,
            } => derive_privkey_with(
                &s.htlc_base_secret,
                &self.pubkeys.htlc_basepoint,
                &per_commitment_point,
            ),
            SigningKey::Revocation {
                per_commitment_secret,
            } => derive_revocation_privkey(&s.revocation_base_secret, &per_commitment_secret),
        }
    }
}

impl ChannelSigner for InMemorySigner {
    fn pubkeys(&self) -> ChannelPublicKeys {
        self.pubkeys
    }

    fn sign(&self, key: SigningKey, msg: &Message) -> Result<Signature, Bolt3Error> {
        Ok(sign_digest(msg, &self.private_key(key)?))
    }

    fn public_key(&self, key: SigningKey) -> Result<PublicKey, Bolt3Error> {
        Ok(self.private_key(key)?.public_key(secp()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::constants::CURVE_ORDER;

    fn negate_s(sig: &Signature) -> Signature {
        // s' = n - s: the same signature with the other S, always valid-but-high if s was low.
        let compact = sig.serialize_compact();
        let mut s = [0u8; 32];
        s.copy_from_slice(&compact[32..]);
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = CURVE_ORDER[i] as i16 - s[i] as i16 - borrow;
            out[i] = d.rem_euclid(256) as u8;
            borrow = if d < 0 { 1 } else { 0 };
        }
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&compact[..32]);
        bytes[32..].copy_from_slice(&out);
        Signature::from_compact(&bytes).unwrap()
    }

    #[test]
    fn signatures_are_low_s_and_high_s_is_rejected() {
        let key = SecretKey::from_slice(&[0x42; 32]).unwrap();
        let pk = key.public_key(secp());
        for i in 0..32u8 {
            let msg = Message::from_digest([i; 32]);
            let sig = sign_digest(&msg, &key);
            check_low_s(&sig).unwrap();
            verify_digest(&msg, &sig, &pk).unwrap();
            let high = negate_s(&sig);
            assert_ne!(high, sig);
            assert_eq!(verify_digest(&msg, &high, &pk), Err(Bolt3Error::HighS));
            assert_eq!(
                parse_compact_signature(&high.serialize_compact()),
                Err(Bolt3Error::HighS)
            );
            assert_eq!(
                parse_compact_signature(&sig.serialize_compact()).unwrap(),
                sig
            );
        }
    }

    #[test]
    fn wrong_key_or_message_fails_verification() {
        let key = SecretKey::from_slice(&[0x42; 32]).unwrap();
        let other = SecretKey::from_slice(&[0x43; 32])
            .unwrap()
            .public_key(secp());
        let msg = Message::from_digest([1; 32]);
        let sig = sign_digest(&msg, &key);
        assert_eq!(
            verify_digest(&msg, &sig, &other),
            Err(Bolt3Error::InvalidSignature)
        );
        assert_eq!(
            verify_digest(
                &Message::from_digest([2; 32]),
                &sig,
                &key.public_key(secp())
            ),
            Err(Bolt3Error::InvalidSignature)
        );
    }

    /// The signer derives with the basepoints it keeps: the same keys as from the secrets
    /// alone, and they match the public derivation.
    #[test]
    fn the_signer_derives_per_commitment_keys_as_the_secrets_do() {
        let secret = |b: u8| SecretKey::from_slice(&[b; 32]).unwrap();
        let secrets = ChannelSecrets {
            funding_key: secret(1),
            revocation_base_secret: secret(2),
            payment_base_secret: secret(3),
            delayed_payment_base_secret: secret(4),
            htlc_base_secret: secret(5),
        };
        let signer = InMemorySigner::new(secrets.clone());
        let point = secret(9).public_key(secp());
        let htlc = signer
            .private_key(SigningKey::Htlc {
                per_commitment_point: point,
            })
            .unwrap();
        let delayed = signer
            .private_key(SigningKey::Delayed {
                per_commitment_point: point,
            })
            .unwrap();
        use super::super::keys::{derive_privkey, derive_pubkey};
        assert_eq!(
            htlc,
            derive_privkey(&secrets.htlc_base_secret, &point).unwrap()
        );
        assert_eq!(
            delayed,
            derive_privkey(&secrets.delayed_payment_base_secret, &point).unwrap()
        );
        let basepoint = secrets.htlc_base_secret.public_key(secp());
        assert_eq!(
            htlc.public_key(secp()),
            derive_pubkey(&basepoint, &point).unwrap()
        );
    }
}
