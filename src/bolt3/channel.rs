//! Commitments from one peer's fixed point of view.
//!
//! [`super::commitment`] speaks of "local" and "remote" relative to a commitment's owner, which
//! flips depending on whose commitment is built. A node instead holds state as "holder" (us) and
//! "counterparty" (them). [`ChannelParameters::describe`] maps one onto the other, so both of
//! our commitments and both of theirs come from one state, and the counterparty building our
//! commitment from its own view gets the very same transaction.

use bitcoin::secp256k1::PublicKey;
use bitcoin::OutPoint;

use super::commitment::{
    build_commitment_tx, obscuring_factor, CommitmentDescription, CommitmentTx, Htlc,
};
use super::keys::{ChannelPublicKeys, CommitmentKeys};
use super::{Bolt3Error, ChannelType, HtlcDirection, PaymentHash};

/// One of the two peers, from the point of view of the node holding this state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Holder,
    Counterparty,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Holder => Side::Counterparty,
            Side::Counterparty => Side::Holder,
        }
    }
}

/// What is fixed for the life of the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelParameters {
    pub channel_type: ChannelType,
    pub funding_outpoint: OutPoint,
    pub funding_sat: u64,
    pub holder_pubkeys: ChannelPublicKeys,
    pub counterparty_pubkeys: ChannelPublicKeys,
    /// Who sent `open_channel`: pays commitment fees and anchors.
    pub opener: Side,
    /// Blocks the holder waits for its own funds on its own commitment (set by the counterparty).
    pub holder_to_self_delay: u16,
    /// Blocks the counterparty waits on its commitment (set by the holder).
    pub counterparty_to_self_delay: u16,
    /// The holder's `dust_limit_satoshis`, applied to the holder's commitment.
    pub holder_dust_limit_sat: u64,
    pub counterparty_dust_limit_sat: u64,
}

/// An HTLC in the channel state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelHtlc {
    /// Who pays it.
    pub offerer: Side,
    pub amount_msat: u64,
    pub payment_hash: PaymentHash,
    pub cltv_expiry: u32,
}

/// The balances and HTLCs of one commitment, as the holder sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentState {
    pub commitment_number: u64,
    /// Balances without HTLCs in flight.
    pub holder_msat: u64,
    pub counterparty_msat: u64,
    pub htlcs: Vec<ChannelHtlc>,
    pub feerate_per_kw: u32,
}

impl CommitmentState {
    /// The same state as the counterparty holds it.
    pub fn flipped(&self) -> CommitmentState {
        CommitmentState {
            commitment_number: self.commitment_number,
            holder_msat: self.counterparty_msat,
            counterparty_msat: self.holder_msat,
            htlcs: self
                .htlcs
                .iter()
                .map(|h| ChannelHtlc {
                    offerer: h.offerer.other(),
                    ..*h
                })
                .collect(),
            feerate_per_kw: self.feerate_per_kw,
        }
    }
}

impl ChannelParameters {
    /// The same parameters as the counterparty holds them.
    pub fn flipped(&self) -> ChannelParameters {
        ChannelParameters {
            channel_type: self.channel_type,
            funding_outpoint: self.funding_outpoint,
            funding_sat: self.funding_sat,
            holder_pubkeys: self.counterparty_pubkeys,
            counterparty_pubkeys: self.holder_pubkeys,
            opener: self.opener.other(),
            holder_to_self_delay: self.counterparty_to_self_delay,
            counterparty_to_self_delay: self.holder_to_self_delay,
            holder_dust_limit_sat: self.counterparty_dust_limit_sat,
            counterparty_dust_limit_sat: self.holder_dust_limit_sat,
        }
    }

    /// The public keys of `side`.
    pub fn pubkeys(&self, side: Side) -> &ChannelPublicKeys {
        match side {
            Side::Holder => &self.holder_pubkeys,
            Side::Counterparty => &self.counterparty_pubkeys,
        }
    }

    /// The commitment-number obscuring factor: opener's payment basepoint first.
    pub fn obscuring_factor(&self) -> u64 {
        obscuring_factor(
            &self.pubkeys(self.opener).payment_basepoint,
            &self.pubkeys(self.opener.other()).payment_basepoint,
        )
    }

    /// The keys of `owner`'s commitment at `per_commitment_point` (a point of `owner`'s).
    pub fn commitment_keys(
        &self,
        owner: Side,
        per_commitment_point: &PublicKey,
    ) -> Result<CommitmentKeys, Bolt3Error> {
        CommitmentKeys::derive(
            self.channel_type,
            self.pubkeys(owner),
            self.pubkeys(owner.other()),
            per_commitment_point,
        )
    }

    /// Describe `owner`'s commitment for `state`, using `owner`'s `per_commitment_point`.
    pub fn describe(
        &self,
        owner: Side,
        state: &CommitmentState,
        per_commitment_point: &PublicKey,
    ) -> Result<CommitmentDescription, Bolt3Error> {
        let (to_local_msat, to_remote_msat) = match owner {
            Side::Holder => (state.holder_msat, state.counterparty_msat),
            Side::Counterparty => (state.counterparty_msat, state.holder_msat),
        };
        let (to_self_delay, dust_limit_sat) = match owner {
            Side::Holder => (self.holder_to_self_delay, self.holder_dust_limit_sat),
            Side::Counterparty => (
                self.counterparty_to_self_delay,
                self.counterparty_dust_limit_sat,
            ),
        };
        let htlcs = state
            .htlcs
            .iter()
            .map(|h| Htlc {
                direction: if h.offerer == owner {
                    HtlcDirection::Offered
                } else {
                    HtlcDirection::Received
                },
                amount_msat: h.amount_msat,
                payment_hash: h.payment_hash,
                cltv_expiry: h.cltv_expiry,
            })
            .collect();
        Ok(CommitmentDescription {
            channel_type: self.channel_type,
            funding_outpoint: self.funding_outpoint,
            funding_sat: self.funding_sat,
            local_funding_pubkey: self.pubkeys(owner).funding_pubkey,
            remote_funding_pubkey: self.pubkeys(owner.other()).funding_pubkey,
            commitment_number: state.commitment_number,
            obscuring_factor: self.obscuring_factor(),
            local_is_opener: self.opener == owner,
            to_local_msat,
            to_remote_msat,
            htlcs,
            feerate_per_kw: state.feerate_per_kw,
            dust_limit_sat,
            to_self_delay,
            keys: self.commitment_keys(owner, per_commitment_point)?,
        })
    }

    /// Build `owner`'s commitment for `state`.
    pub fn build_commitment(
        &self,
        owner: Side,
        state: &CommitmentState,
        per_commitment_point: &PublicKey,
    ) -> Result<CommitmentTx, Bolt3Error> {
        build_commitment_tx(&self.describe(owner, state, per_commitment_point)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bolt3::sign::InMemorySigner;
    use crate::bolt3::testutil::secrets_from_byte;
    use crate::bolt3::ChannelSigner;

    fn params() -> ChannelParameters {
        ChannelParameters {
            channel_type: ChannelType::AnchorsZeroFeeHtlc,
            funding_outpoint: OutPoint::null(),
            funding_sat: 100_000,
            holder_pubkeys: InMemorySigner::new(secrets_from_byte(1)).pubkeys(),
            counterparty_pubkeys: InMemorySigner::new(secrets_from_byte(9)).pubkeys(),
            opener: Side::Counterparty,
            holder_to_self_delay: 144,
            counterparty_to_self_delay: 2016,
            holder_dust_limit_sat: 546,
            counterparty_dust_limit_sat: 330,
        }
    }

    #[test]
    fn describe_maps_holder_state_onto_each_owner() {
        let p = params();
        let state = CommitmentState {
            commitment_number: 9,
            holder_msat: 30_000_000,
            counterparty_msat: 60_000_000,
            htlcs: vec![ChannelHtlc {
                offerer: Side::Holder,
                amount_msat: 10_000_000,
                payment_hash: PaymentHash([1; 32]),
                cltv_expiry: 600,
            }],
            feerate_per_kw: 253,
        };
        let point = p.counterparty_pubkeys.payment_basepoint;
        let ours = p.describe(Side::Holder, &state, &point).unwrap();
        assert_eq!(ours.to_local_msat, 30_000_000);
        assert_eq!(ours.to_self_delay, 144);
        assert_eq!(ours.dust_limit_sat, 546);
        assert!(!ours.local_is_opener);
        assert_eq!(ours.htlcs[0].direction, HtlcDirection::Offered);
        assert_eq!(ours.local_funding_pubkey, p.holder_pubkeys.funding_pubkey);
        let theirs = p.describe(Side::Counterparty, &state, &point).unwrap();
        assert_eq!(theirs.to_local_msat, 60_000_000);
        assert_eq!(theirs.to_self_delay, 2016);
        assert_eq!(theirs.dust_limit_sat, 330);
        assert!(theirs.local_is_opener);
        assert_eq!(theirs.htlcs[0].direction, HtlcDirection::Received);
        assert_eq!(
            theirs.keys.remote_payment_key,
            p.holder_pubkeys.payment_basepoint
        );
        // Both owners share the obscuring factor, and flipping twice is the identity.
        assert_eq!(ours.obscuring_factor, theirs.obscuring_factor);
        assert_eq!(p.flipped().obscuring_factor(), p.obscuring_factor());
        assert_eq!(p.flipped().flipped(), p);
        assert_eq!(state.flipped().flipped(), state);
    }
}
