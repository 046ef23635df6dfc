//! Basepoints and per-commitment keys (BOLT 3 "Key Derivation").
//!
//! Each peer publishes five long-lived points in `open_channel`/`accept_channel`. Every
//! commitment transaction then uses keys tweaked by that commitment's `per_commitment_point`, so
//! that a watchtower holding old commitments learns nothing about current ones, and so that
//! revealing a `per_commitment_secret` hands the counterparty the revocation key of exactly that
//! commitment and no other.

use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::secp256k1::{PublicKey, Scalar, SecretKey};

use super::{secp, Bolt3Error, ChannelType};

/// The long-lived public keys a peer publishes for a channel (BOLT 2 `open_channel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelPublicKeys {
    /// Key of the 2-of-2 funding output; never tweaked.
    pub funding_pubkey: PublicKey,
    /// Base of the *other* peer's `revocationpubkey` on the other peer's commitments.
    pub revocation_basepoint: PublicKey,
    /// With `option_static_remotekey` this is used untweaked as the counterparty's `to_remote`.
    pub payment_basepoint: PublicKey,
    /// Base of `local_delayedpubkey` on our own commitments.
    pub delayed_payment_basepoint: PublicKey,
    /// Base of our HTLC keys on both commitments.
    pub htlc_basepoint: PublicKey,
}

/// The private counterparts of [`ChannelPublicKeys`].
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelSecrets {
    pub funding_key: SecretKey,
    pub revocation_base_secret: SecretKey,
    pub payment_base_secret: SecretKey,
    pub delayed_payment_base_secret: SecretKey,
    pub htlc_base_secret: SecretKey,
}

impl std::fmt::Debug for ChannelSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print private keys; the public keys identify the set.
        f.debug_struct("ChannelSecrets")
            .field("public", &self.public_keys())
            .finish()
    }
}

impl ChannelSecrets {
    /// The public keys to publish for these secrets.
    pub fn public_keys(&self) -> ChannelPublicKeys {
        let s = secp();
        ChannelPublicKeys {
            funding_pubkey: self.funding_key.public_key(s),
            revocation_basepoint: self.revocation_base_secret.public_key(s),
            payment_basepoint: self.payment_base_secret.public_key(s),
            delayed_payment_basepoint: self.delayed_payment_base_secret.public_key(s),
            htlc_basepoint: self.htlc_base_secret.public_key(s),
        }
    }
}

fn sha256_points(a: &PublicKey, b: &PublicKey) -> Result<Scalar, Bolt3Error> {
    let mut engine = sha256::Hash::engine();
    engine.input(&a.serialize());
    engine.input(&b.serialize());
    let digest = sha256::Hash::from_engine(engine).to_byte_array();
    Scalar::from_be_bytes(digest).map_err(|_| Bolt3Error::InvalidKeyDerivation)
}

/// `pubkey = basepoint + SHA256(per_commitment_point || basepoint) * G`.
///
/// Gives `localpubkey`, `remotepubkey`, the HTLC pubkeys and the delayed pubkeys.
pub fn derive_pubkey(
    basepoint: &PublicKey,
    per_commitment_point: &PublicKey,
) -> Result<PublicKey, Bolt3Error> {
    let tweak = sha256_points(per_commitment_point, basepoint)?;
    basepoint
        .add_exp_tweak(secp(), &tweak)
        .map_err(|_| Bolt3Error::InvalidKeyDerivation)
}

/// `privkey = basepoint_secret + SHA256(per_commitment_point || basepoint)`.
pub fn derive_privkey(
    basepoint_secret: &SecretKey,
    per_commitment_point: &PublicKey,
) -> Result<SecretKey, Bolt3Error> {
    let basepoint = basepoint_secret.public_key(secp());
    derive_privkey_with(basepoint_secret, &basepoint, per_commitment_point)
}

/// [`derive_privkey`] for a caller that knows the basepoint already (a signer keeps its
/// basepoints): computing it is most of the derivation's cost, paid once per HTLC signature.
pub fn derive_privkey_with(
    basepoint_secret: &SecretKey,
    basepoint: &PublicKey,
    per_commitment_point: &PublicKey,
) -> Result<SecretKey, Bolt3Error> {
    let tweak = sha256_points(per_commitment_point, basepoint)?;
    basepoint_secret
        .add_tweak(&tweak)
        .map_err(|_| Bolt3Error::InvalidKeyDerivation)
}

/// `revocationpubkey = revocation_basepoint * SHA256(revocation_basepoint || per_commitment_point)
/// + per_commitment_point * SHA256(per_commitment_point || revocation_basepoint)`.
///
/// Blinded so that neither the basepoint owner nor the per-commitment point owner alone knows
/// the private key.
pub fn derive_revocation_pubkey(
    revocation_basepoint: &PublicKey,
    per_commitment_point: &PublicKey,
) -> Result<PublicKey, Bolt3Error> {
    let s = secp();
    let base_factor = sha256_points(revocation_basepoint, per_commitment_point)?;
    let point_factor = sha256_points(per_commitment_point, revocation_basepoint)?;
    let a = revocation_basepoint
        .mul_tweak(s, &base_factor)
        .map_err(|_| Bolt3Error::InvalidKeyDerivation)?;
    let b = per_commitment_point
        .mul_tweak(s, &point_factor)
        .map_err(|_| Bolt3Error::InvalidKeyDerivation)?;
    a.combine(&b).map_err(|_| Bolt3Error::InvalidKeyDerivation)
}

/// `revocationprivkey = revocation_basepoint_secret * SHA256(revocation_basepoint ||
/// per_commitment_point) + per_commitment_secret * SHA256(per_commitment_point ||
/// revocation_basepoint)`: computable only once the commitment's owner revealed its secret.
pub fn derive_revocation_privkey(
    revocation_base_secret: &SecretKey,
    per_commitment_secret: &[u8; 32],
) -> Result<SecretKey, Bolt3Error> {
    let s = secp();
    let commitment_secret =
        SecretKey::from_slice(per_commitment_secret).map_err(|_| Bolt3Error::InvalidSecret)?;
    let revocation_basepoint = revocation_base_secret.public_key(s);
    let per_commitment_point = commitment_secret.public_key(s);
    let base_factor = sha256_points(&revocation_basepoint, &per_commitment_point)?;
    let point_factor = sha256_points(&per_commitment_point, &revocation_basepoint)?;
    let a = revocation_base_secret
        .mul_tweak(&base_factor)
        .map_err(|_| Bolt3Error::InvalidKeyDerivation)?;
    let b = commitment_secret
        .mul_tweak(&point_factor)
        .map_err(|_| Bolt3Error::InvalidKeyDerivation)?;
    a.add_tweak(&Scalar::from(b))
        .map_err(|_| Bolt3Error::InvalidKeyDerivation)
}

/// The keys one commitment transaction's scripts use, named from its owner's point of view
/// ("local" = owner, "remote" = the other peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommitmentKeys {
    /// The owner's point for this commitment.
    pub per_commitment_point: PublicKey,
    /// `revocationpubkey`: from the *remote* revocation basepoint and the owner's point.
    pub revocation_key: PublicKey,
    /// `local_htlcpubkey`.
    pub local_htlc_key: PublicKey,
    /// `remote_htlcpubkey`.
    pub remote_htlc_key: PublicKey,
    /// `local_delayedpubkey`: the owner's key after `to_self_delay`.
    pub local_delayed_key: PublicKey,
    /// `remotepubkey`: with static remotekey (both supported types) the remote peer's untweaked
    /// `payment_basepoint`, so it can sweep `to_remote` without knowing any per-commitment data.
    pub remote_payment_key: PublicKey,
}

impl CommitmentKeys {
    /// Derive the keys of `owner`'s commitment at `per_commitment_point`.
    pub fn derive(
        channel_type: ChannelType,
        owner: &ChannelPublicKeys,
        other: &ChannelPublicKeys,
        per_commitment_point: &PublicKey,
    ) -> Result<Self, Bolt3Error> {
        // Both supported types are static-remotekey: no tweak on the to_remote key.
        let remote_payment_key = match channel_type {
            ChannelType::StaticRemoteKey | ChannelType::AnchorsZeroFeeHtlc => {
                other.payment_basepoint
            }
        };
        Ok(CommitmentKeys {
            per_commitment_point: *per_commitment_point,
            revocation_key: derive_revocation_pubkey(
                &other.revocation_basepoint,
                per_commitment_point,
            )?,
            local_htlc_key: derive_pubkey(&owner.htlc_basepoint, per_commitment_point)?,
            remote_htlc_key: derive_pubkey(&other.htlc_basepoint, per_commitment_point)?,
            local_delayed_key: derive_pubkey(
                &owner.delayed_payment_basepoint,
                per_commitment_point,
            )?,
            remote_payment_key,
        })
    }
}

#[cfg(test)]
mod tests {
    //! Appendix E vectors.
    use super::*;

    fn sk(h: &str) -> SecretKey {
        SecretKey::from_slice(&hex::decode(h).unwrap()).unwrap()
    }
    fn pk(h: &str) -> PublicKey {
        PublicKey::from_slice(&hex::decode(h).unwrap()).unwrap()
    }
    const BASE_SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const PER_COMMITMENT_SECRET: &str =
        "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";
    const BASE_POINT: &str = "036d6caac248af96f6afa7f904f550253a0f3ef3f5aa2fe6838a95b216691468e2";
    const PER_COMMITMENT_POINT: &str =
        "025f7117a78150fe2ef97db7cfc83bd57b2e2c0d0dd25eaf467a4a1c2a45ce1486";

    #[test]
    fn appendix_e_points_match_secrets() {
        assert_eq!(sk(BASE_SECRET).public_key(secp()), pk(BASE_POINT));
        assert_eq!(
            sk(PER_COMMITMENT_SECRET).public_key(secp()),
            pk(PER_COMMITMENT_POINT)
        );
    }

    #[test]
    fn appendix_e_derive_pubkey() {
        let got = derive_pubkey(&pk(BASE_POINT), &pk(PER_COMMITMENT_POINT)).unwrap();
        assert_eq!(
            got,
            pk("0235f2dbfaa89b57ec7b055afe29849ef7ddfeb1cefdb9ebdc43f5494984db29e5")
        );
    }

    #[test]
    fn appendix_e_derive_privkey() {
        let got = derive_privkey(&sk(BASE_SECRET), &pk(PER_COMMITMENT_POINT)).unwrap();
        assert_eq!(
            got,
            sk("cbced912d3b21bf196a766651e436aff192362621ce317704ea2f75d87e7be0f")
        );
        // And it is the private key of the derived pubkey.
        assert_eq!(
            got.public_key(secp()),
            derive_pubkey(&pk(BASE_POINT), &pk(PER_COMMITMENT_POINT)).unwrap()
        );
    }

    #[test]
    fn appendix_e_derive_revocation_pubkey() {
        let got = derive_revocation_pubkey(&pk(BASE_POINT), &pk(PER_COMMITMENT_POINT)).unwrap();
        assert_eq!(
            got,
            pk("02916e326636d19c33f13e8c0c3a03dd157f332f3e99c317c141dd865eb01f8ff0")
        );
    }

    #[test]
    fn appendix_e_derive_revocation_privkey() {
        let secret: [u8; 32] = hex::decode(PER_COMMITMENT_SECRET)
            .unwrap()
            .try_into()
            .unwrap();
        let got = derive_revocation_privkey(&sk(BASE_SECRET), &secret).unwrap();
        assert_eq!(
            got,
            sk("d09ffff62ddb2297ab000cc85bcb4283fdeb6aa052affbc9dddcf33b61078110")
        );
        assert_eq!(
            got.public_key(secp()),
            derive_revocation_pubkey(&pk(BASE_POINT), &pk(PER_COMMITMENT_POINT)).unwrap()
        );
    }

    #[test]
    fn revocation_privkey_rejects_invalid_secret() {
        assert_eq!(
            derive_revocation_privkey(&sk(BASE_SECRET), &[0u8; 32]),
            Err(Bolt3Error::InvalidSecret)
        );
        assert_eq!(
            derive_revocation_privkey(&sk(BASE_SECRET), &[0xffu8; 32]),
            Err(Bolt3Error::InvalidSecret)
        );
    }
}
