//! Building, signing and checking the two commitments from the state and our keys.
//!
//! We never check a signature against a transaction the peer describes: we build our
//! commitment ourselves from the spec both sides reduced, and the signature either verifies on
//! it or the peer is wrong.

use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::secp256k1::PublicKey;

use crate::bolt3::{
    ChannelHtlc, ChannelParameters, ChannelSecrets, CommitmentState, CommitmentTx, InMemorySigner,
    PaymentHash, PerCommitmentSecrets, Side,
};
use crate::keys::channel::ChannelKeys;

use super::changes::{Origin, Spec};
use super::error::ChannelError;
use super::state::{PubKeys, Setup};

/// Our secrets for one channel, derived from the node seed each time the channel is loaded:
/// they are never part of the persisted state.
#[derive(Clone)]
pub struct KeyMaterial {
    pub(crate) signer: InMemorySigner,
    pub(crate) secrets: PerCommitmentSecrets,
    pub(crate) pubkeys: PubKeys,
    last_point: PointCache,
}

/// The last per-commitment point computed. The point sent with a revocation is the one the
/// next `commitment_signed` is checked against: one multiplication by G, not two.
#[derive(Default)]
struct PointCache(std::sync::Mutex<Option<(u64, PublicKey)>>);

impl PointCache {
    fn get(&self) -> std::sync::MutexGuard<'_, Option<(u64, PublicKey)>> {
        // A plain value: a panic elsewhere cannot leave it half-written.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Clone for PointCache {
    fn clone(&self) -> Self {
        PointCache(std::sync::Mutex::new(*self.get()))
    }
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("pubkeys", &self.pubkeys)
            .finish_non_exhaustive()
    }
}

impl KeyMaterial {
    pub fn new(secrets: ChannelSecrets, commitment_seed: [u8; 32]) -> Self {
        let pubkeys = secrets.public_keys().into();
        KeyMaterial {
            signer: InMemorySigner::new(secrets),
            secrets: PerCommitmentSecrets::new(commitment_seed),
            pubkeys,
            last_point: PointCache::default(),
        }
    }

    /// The keys of channel `n` of a node, from [`crate::keys::KeysManager::channel_keys`].
    pub fn from_channel_keys(k: &ChannelKeys) -> Self {
        Self::new(
            ChannelSecrets {
                funding_key: k.funding_key,
                revocation_base_secret: k.revocation_base_key,
                payment_base_secret: k.payment_base_key,
                delayed_payment_base_secret: k.delayed_payment_base_key,
                htlc_base_secret: k.htlc_base_key,
            },
            k.commitment_seed,
        )
    }

    pub fn point(&self, number: u64) -> Result<PublicKey, ChannelError> {
        let mut last = self.last_point.get();
        if let Some((n, point)) = *last {
            if n == number {
                return Ok(point);
            }
        }
        let point = self.secrets.point(number)?;
        *last = Some((number, point));
        Ok(point)
    }

    pub fn secret(&self, number: u64) -> Result<[u8; 32], ChannelError> {
        Ok(self.secrets.secret(number)?)
    }
}

/// The BOLT 3 parameters, once the funding outpoint and the peer's keys are known.
pub fn parameters(setup: &Setup) -> Result<ChannelParameters, ChannelError> {
    let missing = || ChannelError::Bolt3("channel parameters are not complete yet".into());
    let remote = setup.remote.ok_or_else(missing)?;
    Ok(ChannelParameters {
        channel_type: setup.format.into(),
        funding_outpoint: setup.funding_outpoint.ok_or_else(missing)?,
        funding_sat: setup.funding_sat,
        holder_pubkeys: setup.local_keys.into(),
        counterparty_pubkeys: setup.remote_keys.ok_or_else(missing)?.into(),
        opener: match setup.opener {
            Origin::Local => Side::Holder,
            Origin::Remote => Side::Counterparty,
        },
        // Each side waits the delay the *other* side asked for.
        holder_to_self_delay: remote.to_self_delay,
        counterparty_to_self_delay: setup.local.to_self_delay,
        holder_dust_limit_sat: setup.local.dust_limit_sat,
        counterparty_dust_limit_sat: remote.dust_limit_sat,
    })
}

pub fn commitment_state(spec: &Spec, number: u64) -> CommitmentState {
    CommitmentState {
        commitment_number: number,
        holder_msat: spec.local_msat,
        counterparty_msat: spec.remote_msat,
        htlcs: spec
            .htlcs
            .iter()
            .map(|h| ChannelHtlc {
                offerer: match h.origin {
                    Origin::Local => Side::Holder,
                    Origin::Remote => Side::Counterparty,
                },
                amount_msat: h.add.amount_msat,
                payment_hash: PaymentHash(h.add.payment_hash),
                cltv_expiry: h.add.cltv_expiry,
            })
            .collect(),
        feerate_per_kw: spec.feerate_per_kw,
    }
}

/// Our commitment `number` for `spec`.
pub fn build_local(
    keys: &KeyMaterial,
    setup: &Setup,
    spec: &Spec,
    number: u64,
) -> Result<CommitmentTx, ChannelError> {
    let point = keys.point(number)?;
    Ok(parameters(setup)?.build_commitment(
        Side::Holder,
        &commitment_state(spec, number),
        &point,
    )?)
}

/// The peer's commitment `number` for `spec` at its `point`.
pub fn build_remote(
    setup: &Setup,
    spec: &Spec,
    number: u64,
    point: &PublicKey,
) -> Result<CommitmentTx, ChannelError> {
    Ok(parameters(setup)?.build_commitment(
        Side::Counterparty,
        &commitment_state(spec, number),
        point,
    )?)
}

/// Our signatures on the peer's commitment: the funding signature and one per HTLC
/// transaction, in commitment output order.
pub fn sign_remote(
    keys: &KeyMaterial,
    setup: &Setup,
    spec: &Spec,
    number: u64,
    point: &PublicKey,
) -> Result<(Signature, Vec<Signature>), ChannelError> {
    let tx = build_remote(setup, spec, number, point)?;
    let sig = tx.sign(&keys.signer)?.signature;
    let htlc_sigs = tx
        .htlc_txs()?
        .iter()
        .map(|h| h.sign_as_remote(&keys.signer))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((sig, htlc_sigs))
}

/// Check the peer's signatures on our commitment `number` for `spec`.
pub fn verify_local(
    keys: &KeyMaterial,
    setup: &Setup,
    spec: &Spec,
    number: u64,
    sig: &Signature,
    htlc_sigs: &[Signature],
) -> Result<(), ChannelError> {
    let tx = build_local(keys, setup, spec, number)?;
    let remote_funding = setup
        .remote_keys
        .ok_or_else(|| ChannelError::Bolt3("no peer keys".into()))?
        .funding;
    tx.verify(sig, &remote_funding)
        .map_err(|_| ChannelError::BadCommitmentSignature {
            commitment_number: number,
        })?;
    let htlc_txs = tx.htlc_txs()?;
    if htlc_txs.len() != htlc_sigs.len() {
        return Err(ChannelError::HtlcSignatureCount {
            expected: htlc_txs.len(),
            got: htlc_sigs.len(),
        });
    }
    for (index, (h, s)) in htlc_txs.iter().zip(htlc_sigs).enumerate() {
        h.verify_remote(s)
            .map_err(|_| ChannelError::BadHtlcSignature {
                commitment_number: number,
                index,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::channel::testing::harness::keys;

    #[test]
    fn points_are_the_same_cached_or_not() {
        let k = keys(3);
        for n in [5, 5, 6, 5, 7, 7, 0] {
            assert_eq!(
                k.point(n).unwrap(),
                k.secrets.point(n).unwrap(),
                "point {n}"
            );
        }
        // A copy starts from the same cache and keeps its own from then on.
        let copy = k.clone();
        assert_eq!(copy.point(0).unwrap(), k.secrets.point(0).unwrap());
        assert_eq!(copy.point(9).unwrap(), k.secrets.point(9).unwrap());
        assert_eq!(k.point(0).unwrap(), k.secrets.point(0).unwrap());
    }
}
