//! What a node hands its tower for one revoked commitment of the peer's: the justice
//! transaction, signed now, sealed under the commitment's txid. Pure: state and keys in,
//! bytes out.
//!
//! The justice transaction is the one the node's own monitor would broadcast
//! ([`crate::onchain::justice_tx`]): the peer's `to_local` and every HTLC output, with the
//! revocation key, to the channel's shutdown script (a script of our wallet). Our `to_remote`
//! is not in it: nobody else can take it, so the node sweeps it when it is back, at leisure.

use bitcoin::{Transaction, Txid};

use crate::bolt3::spend::Destination;
use crate::channel::commitments::build_remote;
use crate::channel::{ChannelState, KeyMaterial, Spec};
use crate::onchain::{justice_tx, revoked_claims, Claim, KnownHtlc, OnchainError};

use super::blob::{seal, BlobError, Hint};

/// The justice feerate is fixed when the blob is made (the tower cannot change a signed
/// transaction): twice the revoked commitment's own feerate, which the peers agreed when it
/// was current, so it follows the fees of that time with room for them to rise.
pub const FEERATE_MULTIPLIER: u32 = 2;
/// ... and never below 2 sat/vB.
pub const MIN_FEERATE_PER_KW: u32 = 500;
/// Outputs below this are not relayed (P2WSH/P2WPKH dust is lower; this is bitcoind's
/// generic limit, and a justice transaction worth less is not worth a blob).
const DUST_SAT: u64 = 546;

/// One upload, ready for the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedJustice {
    /// The revoked commitment's number.
    pub commitment_number: u64,
    /// The revoked commitment's txid (never stored: it is the blob's key).
    pub breach_txid: Txid,
    pub hint: Hint,
    pub blob: Vec<u8>,
    /// The transaction inside the blob (tests and logs).
    pub justice: Transaction,
}

/// Why no blob could be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JusticeError {
    #[error(transparent)]
    Onchain(#[from] OnchainError),
    #[error(transparent)]
    Channel(#[from] crate::channel::ChannelError),
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// The feerate (sat per 1000 weight units) of the justice transaction for a commitment of
/// `spec`.
pub fn feerate_per_kw(spec: &Spec) -> u32 {
    spec.feerate_per_kw
        .saturating_mul(FEERATE_MULTIPLIER)
        .max(MIN_FEERATE_PER_KW)
}

/// The sealed justice transaction for the peer's commitment `number` (built from `spec` at
/// `point`), which the peer has just revoked: `state` must already hold its secret.
///
/// `Ok(None)` when there is nothing worth taking: the peer had no `to_local` and no HTLC above
/// dust on that commitment, or all of it would go in fees.
///
/// # Errors
/// The state does not hold the secret of `number` (not revoked), or the transaction is too
/// large for one blob.
pub fn seal_revoked(
    state: &ChannelState,
    keys: &KeyMaterial,
    number: u64,
    spec: &Spec,
    point: &bitcoin::secp256k1::PublicKey,
) -> Result<Option<SealedJustice>, JusticeError> {
    let commitment = build_remote(&state.setup, spec, number, point)?.tx;
    let secret = state
        .commitments
        .as_ref()
        .ok_or(OnchainError::NoCommitments)?
        .revocations
        .secret_for_commitment(number)
        .map_err(|_| OnchainError::NotRevoked { number })?;
    // The spec names every HTLC of that commitment: no archive is needed.
    let htlcs: Vec<KnownHtlc> = spec
        .htlcs
        .iter()
        .map(|h| KnownHtlc {
            payment_hash: h.add.payment_hash,
            cltv_expiry: h.add.cltv_expiry,
        })
        .collect();
    let claims: Vec<Claim> = revoked_claims(state, keys, &commitment, number, &secret, &htlcs)?
        .into_iter()
        .filter(|c| c.kind.is_justice())
        .collect();
    let total: u64 = claims.iter().map(|c| c.value_sat).sum();
    if claims.is_empty() {
        return Ok(None);
    }
    let dest = |fee_sat| Destination {
        script_pubkey: state.setup.shutdown_script.clone(),
        fee_sat,
    };
    // Signatures vary by a byte; sign once to weigh, add a byte per input, sign again.
    let draft = justice_tx(&claims, &dest(0))?;
    let weight = draft.weight().to_wu() + claims.len() as u64;
    let fee = (weight * u64::from(feerate_per_kw(spec))).div_ceil(1000);
    if total < fee + DUST_SAT {
        return Ok(None);
    }
    let justice = justice_tx(&claims, &dest(fee))?;
    let breach_txid = commitment.compute_txid();
    Ok(Some(SealedJustice {
        commitment_number: number,
        breach_txid,
        hint: Hint::of(&breach_txid),
        blob: seal(&breach_txid, &justice)?,
        justice,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::testing::harness::*;
    use crate::channel::{Event, Format};

    /// Every `PeerRevoked` b saw, in order.
    fn revoked(n: &Node) -> Vec<(u64, Spec, bitcoin::secp256k1::PublicKey)> {
        n.events
            .iter()
            .filter_map(|e| match e {
                Event::PeerRevoked {
                    number,
                    spec,
                    point,
                } => Some((*number, spec.clone(), *point)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_blob_of_the_cheated_state_takes_every_revoked_output() {
        for format in [Format::Anchors, Format::StaticRemoteKey] {
            // a pays b 400,000 sat: a's previous commitment has the HTLC in flight.
            let mut p = Pair::open(format, 0);
            p.pay(true, 400_000_000, 1);
            let cheat =
                p.a.channel
                    .signed_revoked_commitment()
                    .unwrap()
                    .expect("kept on regtest");
            let state = p.b.channel.state();
            let sealed: Vec<SealedJustice> = revoked(&p.b)
                .iter()
                .filter_map(|(n, spec, point)| {
                    seal_revoked(state, &keys(2), *n, spec, point).unwrap()
                })
                .collect();
            assert!(!sealed.is_empty());
            let mine: Vec<_> = sealed
                .iter()
                .filter(|s| s.breach_txid == cheat.compute_txid())
                .collect();
            assert_eq!(mine.len(), 1, "{format:?}: exactly one blob for that state");
            let s = mine[0];
            assert_eq!(s.hint, Hint::of(&cheat.compute_txid()));
            let opened = super::super::blob::open(&cheat.compute_txid(), &s.blob).unwrap();
            assert_eq!(opened, s.justice);
            // Every output but the anchors: a's to_local and the HTLC (b had nothing, so
            // there is no to_remote).
            let mut taken: Vec<u32> = opened
                .input
                .iter()
                .inspect(|i| assert_eq!(i.previous_output.txid, cheat.compute_txid()))
                .map(|i| i.previous_output.vout)
                .collect();
            taken.sort();
            let not_anchors: Vec<u32> = (0..cheat.output.len() as u32)
                .filter(|v| cheat.output[*v as usize].value.to_sat() != 330)
                .collect();
            assert_eq!(taken, not_anchors, "{format:?}");
            assert_eq!(taken.len(), 2, "{format:?}: to_local and the HTLC");
            assert_eq!(opened.output.len(), 1);
            assert_eq!(opened.output[0].script_pubkey, state.setup.shutdown_script);
            let claimed: u64 = taken
                .iter()
                .map(|v| cheat.output[*v as usize].value.to_sat())
                .sum();
            let fee = claimed - opened.output[0].value.to_sat();
            // The fee is the fixed feerate on the weight (within the byte per input that
            // signatures vary by).
            let spec = &revoked(&p.b)
                .into_iter()
                .find(|(n, _, _)| *n == s.commitment_number)
                .unwrap()
                .1;
            let rate = u64::from(feerate_per_kw(spec));
            let weight = opened.weight().to_wu();
            assert!(
                fee >= weight * rate / 1000 && fee <= (weight + 2 * 2) * rate / 1000 + 1,
                "{format:?}: {fee} sat for {weight} wu at {rate} sat/kw"
            );
        }
    }

    #[test]
    fn a_state_not_revoked_gets_no_blob() {
        let mut p = Pair::open(Format::Anchors, 0);
        p.pay(true, 100_000_000, 1);
        let state = p.b.channel.state();
        let c = state.commitments.as_ref().unwrap();
        let current = &c.remote;
        let r = seal_revoked(
            state,
            &keys(2),
            current.number,
            &current.spec,
            &current.point,
        );
        assert!(
            matches!(
                r,
                Err(JusticeError::Onchain(OnchainError::NotRevoked { .. }))
            ),
            "{r:?}"
        );
    }

    #[test]
    fn the_feerate_is_twice_the_commitments_with_a_floor() {
        let mut spec = Spec {
            local_msat: 0,
            remote_msat: 0,
            htlcs: vec![],
            feerate_per_kw: 253,
        };
        assert_eq!(feerate_per_kw(&spec), 506);
        spec.feerate_per_kw = 100;
        assert_eq!(feerate_per_kw(&spec), MIN_FEERATE_PER_KW);
        spec.feerate_per_kw = u32::MAX;
        assert_eq!(feerate_per_kw(&spec), u32::MAX);
    }
}
