//! Our configuration, the parameters each side announced, and every limit check on them.
//!
//! The values and why they are what they are: `channel-spec/channel.md`, "Limits".

use serde::{Deserialize, Serialize};

use crate::bolt3::fees::{self, MAX_HTLCS};
use crate::bolt3::{ChannelType, HtlcDirection};

use super::changes::{Origin, Spec};
use super::error::ChannelError;

/// BOLT 2 asks for `cltv_expiry` below this: above it is a timestamp, not a height.
pub const MAX_CLTV_EXPIRY: u32 = 500_000_000;
/// Below this a dust limit makes non-standard outputs (BOLT 3: 354 sat covers every type).
pub const MIN_DUST_LIMIT_SAT: u64 = 354;
/// BOLT 2's floor on `feerate_per_kw`.
pub const FEERATE_FLOOR_PER_KW: u32 = 253;

/// Our policy for every channel. Kept in the channel state, so a restored channel checks
/// with the limits it announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelConfig {
    /// The smallest and largest channel we open or accept (without `option_support_large_channel`
    /// 2^24 - 1 is the protocol maximum).
    pub min_funding_sat: u64,
    pub max_funding_sat: u64,
    /// Our `dust_limit_satoshis`.
    pub dust_limit_sat: u64,
    /// The largest `dust_limit_satoshis` we accept from a peer: above it, whole payments vanish
    /// into fees on their commitment.
    pub max_peer_dust_limit_sat: u64,
    /// The reserve we ask the peer to keep, in thousandths of the capacity (10 = 1%); never
    /// below either dust limit.
    pub reserve_per_mille: u64,
    /// The largest reserve, in thousandths of the capacity, we agree to keep ourselves.
    pub max_peer_reserve_per_mille: u64,
    /// Our `max_htlc_value_in_flight_msat`, in percent of the capacity.
    pub max_in_flight_percent: u8,
    /// Our `max_accepted_htlcs` (at most 483).
    pub max_accepted_htlcs: u16,
    /// Our `htlc_minimum_msat`.
    pub htlc_minimum_msat: u64,
    /// The `to_self_delay` we impose on the peer.
    pub to_self_delay: u16,
    /// The longest `to_self_delay` we accept to wait for our own funds.
    pub max_peer_to_self_delay: u16,
    /// Bounds on `feerate_per_kw` in `open_channel` and `update_fee`.
    pub min_feerate_per_kw: u32,
    pub max_feerate_per_kw: u32,
    /// Confirmations of the funding transaction before `channel_ready`.
    pub minimum_depth: u32,
    /// The most confirmations we accept to wait when the peer asks.
    pub max_minimum_depth: u32,
    /// The cap on the total of trimmed HTLCs on each commitment, ours and the peer's: they go
    /// to miners if it goes on chain, so an attacker could burn that much of our money (see
    /// `super::dust`). `max_dust_htlc_exposure_msat` in `chanhub.toml`. 50,000 sat by default,
    /// as Core Lightning and Eclair: on static_remotekey the fee buffer counts every HTLC
    /// below ~2,500 sat, and a hub carries many small payments at once.
    pub max_dust_htlc_exposure_msat: u64,
    /// The feerate at which we aim to close cooperatively.
    pub closing_feerate_per_kw: u32,
    /// Whether we accept an `option_zeroconf` channel from this peer: set per peer by the
    /// node (`zeroconf_peers`), since the acceptor of a zero-conf channel carries the risk
    /// that the opener double-spends its funding.
    #[serde(default)]
    pub accept_zero_conf: bool,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            min_funding_sat: 20_000,
            max_funding_sat: (1 << 24) - 1,
            dust_limit_sat: 546,
            max_peer_dust_limit_sat: 10_000,
            reserve_per_mille: 10,
            max_peer_reserve_per_mille: 200,
            max_in_flight_percent: 100,
            max_accepted_htlcs: 483,
            htlc_minimum_msat: 1,
            to_self_delay: 144,
            max_peer_to_self_delay: 2016,
            min_feerate_per_kw: FEERATE_FLOOR_PER_KW,
            max_feerate_per_kw: 100_000,
            minimum_depth: 3,
            max_minimum_depth: 144,
            max_dust_htlc_exposure_msat: 50_000_000,
            closing_feerate_per_kw: 1_000,
            accept_zero_conf: false,
        }
    }
}

/// The parameters one side announced in `open_channel` / `accept_channel`. Each constrains
/// the *other* side: its reserve is what the other must keep, its `max_accepted_htlcs` counts
/// what the other offers it, its `to_self_delay` is what the other waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideParams {
    pub dust_limit_sat: u64,
    pub max_htlc_value_in_flight_msat: u64,
    pub channel_reserve_sat: u64,
    pub htlc_minimum_msat: u64,
    pub to_self_delay: u16,
    pub max_accepted_htlcs: u16,
}

impl ChannelConfig {
    /// What we announce for a channel of `funding_sat`, given the peer's dust limit (our
    /// reserve demand must be at least the peer's dust limit, BOLT 2).
    pub fn our_params(&self, funding_sat: u64, peer_dust_limit_sat: u64) -> SideParams {
        let reserve = (funding_sat * self.reserve_per_mille / 1000)
            .max(self.dust_limit_sat)
            .max(peer_dust_limit_sat);
        SideParams {
            dust_limit_sat: self.dust_limit_sat,
            max_htlc_value_in_flight_msat: funding_sat
                * 1000
                * u64::from(self.max_in_flight_percent)
                / 100,
            channel_reserve_sat: reserve,
            htlc_minimum_msat: self.htlc_minimum_msat.max(1),
            to_self_delay: self.to_self_delay,
            max_accepted_htlcs: self.max_accepted_htlcs.min(MAX_HTLCS as u16),
        }
    }

    /// Check what the peer announced for a channel of `funding_sat` (both open and accept).
    pub fn check_peer_params(
        &self,
        funding_sat: u64,
        theirs: &SideParams,
        ours: &SideParams,
    ) -> Result<(), ChannelError> {
        let bad = |s: String| Err(ChannelError::BadOpenParameter(s));
        if theirs.dust_limit_sat < MIN_DUST_LIMIT_SAT
            || theirs.dust_limit_sat > self.max_peer_dust_limit_sat
        {
            return bad(format!(
                "dust_limit_satoshis {} outside [{MIN_DUST_LIMIT_SAT}, {}]",
                theirs.dust_limit_sat, self.max_peer_dust_limit_sat
            ));
        }
        let max_reserve = funding_sat * self.max_peer_reserve_per_mille / 1000;
        if theirs.channel_reserve_sat > max_reserve {
            return bad(format!(
                "channel_reserve_satoshis {} above {max_reserve} ({} per mille of the capacity)",
                theirs.channel_reserve_sat, self.max_peer_reserve_per_mille
            ));
        }
        if theirs.channel_reserve_sat < ours.dust_limit_sat {
            return bad(format!(
                "channel_reserve_satoshis {} below our dust limit {}",
                theirs.channel_reserve_sat, ours.dust_limit_sat
            ));
        }
        if ours.channel_reserve_sat < theirs.dust_limit_sat {
            return bad(format!(
                "dust_limit_satoshis {} above the reserve {} we require",
                theirs.dust_limit_sat, ours.channel_reserve_sat
            ));
        }
        if theirs.to_self_delay > self.max_peer_to_self_delay {
            return bad(format!(
                "to_self_delay {} above {}",
                theirs.to_self_delay, self.max_peer_to_self_delay
            ));
        }
        if theirs.max_accepted_htlcs == 0 || usize::from(theirs.max_accepted_htlcs) > MAX_HTLCS {
            return bad(format!(
                "max_accepted_htlcs {} outside [1, {MAX_HTLCS}]",
                theirs.max_accepted_htlcs
            ));
        }
        if theirs.htlc_minimum_msat >= funding_sat * 1000 {
            return bad(format!(
                "htlc_minimum_msat {} not below the capacity",
                theirs.htlc_minimum_msat
            ));
        }
        if theirs.max_htlc_value_in_flight_msat == 0 {
            return bad("max_htlc_value_in_flight_msat is zero".into());
        }
        Ok(())
    }

    pub fn check_funding(&self, funding_sat: u64) -> Result<(), ChannelError> {
        if funding_sat < self.min_funding_sat || funding_sat > self.max_funding_sat {
            return Err(ChannelError::BadOpenParameter(format!(
                "funding_satoshis {funding_sat} outside [{}, {}]",
                self.min_funding_sat, self.max_funding_sat
            )));
        }
        Ok(())
    }

    pub fn check_feerate(&self, feerate_per_kw: u32) -> Result<(), String> {
        if feerate_per_kw < self.min_feerate_per_kw || feerate_per_kw > self.max_feerate_per_kw {
            return Err(format!(
                "feerate_per_kw {feerate_per_kw} outside [{}, {}]",
                self.min_feerate_per_kw, self.max_feerate_per_kw
            ));
        }
        Ok(())
    }
}

/// What the opener pays on a commitment with `htlcs` HTLC outputs: fee plus anchors, in msat.
pub fn opener_cost_msat(ct: ChannelType, feerate_per_kw: u32, htlcs: usize) -> u64 {
    (fees::commitment_fee_sat(ct, feerate_per_kw, htlcs) + ct.anchors_total_sat()) * 1000
}

/// HTLCs of `spec` with an output on the commitment owned by `owner` (dust limit `dust_sat`).
pub fn untrimmed_count(ct: ChannelType, spec: &Spec, owner: Origin, dust_sat: u64) -> usize {
    spec.htlcs
        .iter()
        .filter(|h| {
            !fees::is_trimmed(
                ct,
                direction(h.origin, owner),
                h.add.amount_msat,
                spec.feerate_per_kw,
                dust_sat,
            )
        })
        .count()
}

pub(super) fn direction(origin: Origin, owner: Origin) -> HtlcDirection {
    if origin == owner {
        HtlcDirection::Offered
    } else {
        HtlcDirection::Received
    }
}

/// The HTLC checks BOLT 2 asks of the receiver of `update_add_htlc`, applied to `spec` (the
/// commitment the HTLC will first appear in, with the HTLC in it): `offerer`'s HTLCs against
/// the limits `receiver` announced, `offerer`'s reserve, the opener's fee (the dust cap is
/// `super::dust`).
pub struct HtlcCheck<'a> {
    pub channel_type: ChannelType,
    pub spec: &'a Spec,
    pub offerer: Origin,
    pub receiver_params: &'a SideParams,
    /// The reserve the offerer must keep (the receiver's `channel_reserve_satoshis`).
    pub opener: Origin,
    /// HTLC outputs the opener pays fee for on the commitment checked.
    pub fee_htlcs: usize,
    /// The feerate to check the opener's fee at (a multiple of the spec's, for a spike buffer).
    pub fee_feerate_per_kw: u32,
}

impl HtlcCheck<'_> {
    pub fn run(&self, amount_msat: u64, cltv_expiry: u32) -> Result<(), ChannelError> {
        let fail = |s: String| Err(ChannelError::HtlcLimit(s));
        let p = self.receiver_params;
        if amount_msat == 0 || amount_msat < p.htlc_minimum_msat {
            return fail(format!(
                "amount {amount_msat} msat below htlc_minimum_msat {}",
                p.htlc_minimum_msat.max(1)
            ));
        }
        if cltv_expiry >= MAX_CLTV_EXPIRY {
            return fail(format!("cltv_expiry {cltv_expiry} is not a block height"));
        }
        let count = self.spec.offered_count(self.offerer);
        if count > usize::from(p.max_accepted_htlcs) {
            return fail(format!(
                "{count} HTLCs in flight above max_accepted_htlcs {}",
                p.max_accepted_htlcs
            ));
        }
        let in_flight = self.spec.offered_msat(self.offerer);
        if in_flight > p.max_htlc_value_in_flight_msat {
            return fail(format!(
                "{in_flight} msat in flight above max_htlc_value_in_flight_msat {}",
                p.max_htlc_value_in_flight_msat
            ));
        }
        let mut needed = p.channel_reserve_sat * 1000;
        if self.offerer == self.opener {
            needed += opener_cost_msat(self.channel_type, self.fee_feerate_per_kw, self.fee_htlcs);
        }
        let balance = self.spec.balance(self.offerer);
        if balance < needed {
            return fail(format!(
                "offerer balance {balance} msat below reserve and fees {needed} msat"
            ));
        }
        if self.offerer != self.opener {
            let cost = opener_cost_msat(self.channel_type, self.fee_feerate_per_kw, self.fee_htlcs);
            if self.spec.balance(self.opener) < cost {
                return fail("the opener could not pay the commitment fee".into());
            }
        }
        Ok(())
    }
}
