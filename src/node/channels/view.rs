//! What the API shows of a channel.

use bitcoin::secp256k1::PublicKey;
use bitcoin::OutPoint;
use serde::Serialize;

use crate::channel::{Channel, Format, Phase};

/// The user-facing lifecycle: finer phases are in the node's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelStatus {
    Opening,
    Active,
    Closing,
    Closed,
}

impl ChannelStatus {
    pub fn of(phase: &Phase) -> ChannelStatus {
        match phase {
            Phase::OpenSent
            | Phase::AwaitingFundingTx
            | Phase::FundingCreatedSent
            | Phase::AcceptSent
            | Phase::AwaitingReady { .. } => ChannelStatus::Opening,
            Phase::Normal => ChannelStatus::Active,
            Phase::ShuttingDown
            | Phase::Negotiating
            | Phase::Closing { .. }
            | Phase::ForceClosing { .. } => ChannelStatus::Closing,
            Phase::Closed | Phase::Aborted => ChannelStatus::Closed,
        }
    }
}

/// A snapshot of one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    pub channel_id: [u8; 32],
    pub peer: PublicKey,
    pub status: ChannelStatus,
    /// The machine's phase name, for the curious.
    pub phase: &'static str,
    pub format: Format,
    /// `announce_channel` was set in `open_channel` (by us or the peer).
    pub announce: bool,
    /// `option_scid_alias` and `option_zeroconf` in the channel type.
    pub scid_alias: bool,
    pub zero_conf: bool,
    pub capacity_sat: u64,
    /// Balances on our current commitment, HTLCs in flight excluded.
    pub local_msat: u64,
    pub remote_msat: u64,
    pub funding: Option<OutPoint>,
    pub local_commitment_number: u64,
    pub remote_commitment_number: u64,
    /// The feerate of our current commitment (sat/kw); 0 before funding.
    pub feerate_per_kw: u32,
    pub pending_htlcs: Vec<PendingHtlc>,
    /// Trimmed HTLCs on the worse of the two commitments, as the dust cap counts them.
    pub dust_exposure_msat: u64,
    pub max_dust_htlc_exposure_msat: u64,
    pub connected: bool,
    /// The confirmed transaction that spent the funding output.
    pub closing_txid: Option<bitcoin::Txid>,
    /// How the funds were settled on chain, once final.
    pub resolution: Option<crate::channel::Resolution>,
    /// Why the funding will never confirm (a double-spent zero-conf funding).
    pub funding_lost: Option<crate::channel::FundingLost>,
}

/// An HTLC on our current commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingHtlc {
    /// `offered` (ours) or `received`.
    pub direction: &'static str,
    pub id: u64,
    pub amount_msat: u64,
    pub payment_hash: String,
    pub cltv_expiry: u32,
}

impl ChannelInfo {
    pub fn of(channel: &Channel, peer: PublicKey) -> ChannelInfo {
        let s = channel.state();
        let (local_msat, remote_msat) = channel.balances_msat();
        let c = s.commitments.as_ref();
        let pending_htlcs = c
            .map(|c| {
                c.local
                    .spec
                    .htlcs
                    .iter()
                    .map(|h| PendingHtlc {
                        direction: match h.origin {
                            crate::channel::Origin::Local => "offered",
                            crate::channel::Origin::Remote => "received",
                        },
                        id: h.add.id,
                        amount_msat: h.add.amount_msat,
                        payment_hash: hex::encode(h.add.payment_hash),
                        cltv_expiry: h.add.cltv_expiry,
                    })
                    .collect()
            })
            .unwrap_or_default();
        ChannelInfo {
            channel_id: s.channel_id,
            peer,
            status: ChannelStatus::of(&s.phase),
            phase: s.phase.name(),
            format: s.setup.format,
            announce: s.setup.announce,
            scid_alias: s.setup.scid_alias,
            zero_conf: s.setup.zero_conf,
            capacity_sat: s.setup.funding_sat,
            local_msat,
            remote_msat,
            funding: s.setup.funding_outpoint,
            local_commitment_number: c.map(|c| c.local.number).unwrap_or(0),
            remote_commitment_number: c.map(|c| c.remote.number).unwrap_or(0),
            feerate_per_kw: c.map(|c| c.local.spec.feerate_per_kw).unwrap_or(0),
            pending_htlcs,
            dust_exposure_msat: channel.dust_exposure_msat(),
            max_dust_htlc_exposure_msat: channel.max_dust_htlc_exposure_msat(),
            connected: s.link == crate::channel::Link::Connected,
            closing_txid: s.funding_spend.as_ref().map(|t| t.compute_txid()),
            resolution: s.resolution.clone(),
            funding_lost: s.funding_lost.clone(),
        }
    }
}
