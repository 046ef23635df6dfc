//! The dust exposure cap (the CVE-2021-41591/2/3 class).
//!
//! An HTLC below a commitment's dust limit (plus, on static_remotekey channels, the fee of its
//! second-stage transaction) has no output: if that commitment goes on chain its value goes to
//! miners. A peer offering many such HTLCs, or raising the feerate until many are trimmed,
//! could burn that much of our money, so we cap the total on *each* commitment: ours (our dust
//! limit) and the peer's (its own, up to `max_peer_dust_limit_sat`).
//!
//! On static_remotekey channels trimming moves with the feerate, so new HTLCs are checked at
//! a buffered feerate (see [`buffer_feerate`]): a later fee rise within the buffer cannot take
//! the total over the cap. Anchors channels' HTLC transactions pay no fee, so there the dust
//! threshold is the dust limit alone. The numbers: `channel-spec/channel.md`, "Limits".

use std::sync::Arc;

use crate::bolt3::fees;
use crate::bolt3::ChannelType;

use super::changes::{Origin, Spec};
use super::limits::direction;
use super::Channel;

/// The least feerate rise (10 sat/vB) new HTLCs are checked against on static_remotekey
/// channels; the rise is 25 % when that is more.
pub const DUST_BUFFER_PER_KW: u32 = 2_530;

/// The feerate at which new HTLCs are checked against the cap: the feerate plus
/// [`DUST_BUFFER_PER_KW`] or plus 25 %, whichever is higher (on anchors channels the feerate
/// does not move the dust threshold, so it is returned as is).
pub fn buffer_feerate(ct: ChannelType, feerate_per_kw: u32) -> u32 {
    if ct.has_anchors() {
        return feerate_per_kw;
    }
    let quarter = (u64::from(feerate_per_kw) * 5 / 4).min(u64::from(u32::MAX)) as u32;
    feerate_per_kw
        .saturating_add(DUST_BUFFER_PER_KW)
        .max(quarter)
}

/// The trimmed totals on both commitments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DustExposure {
    /// On our commitment (our dust limit).
    pub local_msat: u64,
    /// On the peer's commitment (its dust limit).
    pub remote_msat: u64,
}

impl DustExposure {
    pub fn max_msat(&self) -> u64 {
        self.local_msat.max(self.remote_msat)
    }
}

/// What decides which HTLCs are dust on each commitment of a channel.
#[derive(Debug, Clone, Copy)]
pub struct DustLimits {
    pub channel_type: ChannelType,
    pub local_dust_sat: u64,
    pub remote_dust_sat: u64,
}

impl DustLimits {
    fn dust_sat(&self, owner: Origin) -> u64 {
        match owner {
            Origin::Local => self.local_dust_sat,
            Origin::Remote => self.remote_dust_sat,
        }
    }

    /// Whether an HTLC offered by `origin` is trimmed on `owner`'s commitment at `feerate`.
    pub fn trimmed(&self, origin: Origin, amount_msat: u64, owner: Origin, feerate: u32) -> bool {
        fees::is_trimmed(
            self.channel_type,
            direction(origin, owner),
            amount_msat,
            feerate,
            self.dust_sat(owner),
        )
    }

    fn on(&self, spec: &Spec, owner: Origin, feerate: u32) -> u64 {
        spec.htlcs
            .iter()
            .filter(|h| self.trimmed(h.origin, h.add.amount_msat, owner, feerate))
            .map(|h| h.add.amount_msat)
            .sum()
    }

    /// The HTLCs of `spec` trimmed on each commitment at `feerate`.
    pub fn exposure(&self, spec: &Spec, feerate: u32) -> DustExposure {
        DustExposure {
            local_msat: self.on(spec, Origin::Local, feerate),
            remote_msat: self.on(spec, Origin::Remote, feerate),
        }
    }

    /// Whether adding an HTLC of `amount_msat` offered by `origin` (already in `spec`) takes
    /// a commitment on which it is dust over `cap_msat`, at the buffered feerate of `spec`.
    /// An HTLC with an output on both commitments adds nothing and always passes.
    pub fn check_add(
        &self,
        spec: &Spec,
        origin: Origin,
        amount_msat: u64,
        cap_msat: u64,
    ) -> Result<(), String> {
        let feerate = buffer_feerate(self.channel_type, spec.feerate_per_kw);
        for owner in [Origin::Local, Origin::Remote] {
            if !self.trimmed(origin, amount_msat, owner, feerate) {
                continue;
            }
            let total = self.on(spec, owner, feerate);
            if total > cap_msat {
                let whose = match owner {
                    Origin::Local => "our",
                    Origin::Remote => "the peer's",
                };
                return Err(format!(
                    "dust exposure on {whose} commitment would be {total} msat (at {feerate} \
                     sat/kw), above the cap of {cap_msat} msat"
                ));
            }
        }
        Ok(())
    }

    /// Whether moving every commitment of `spec` from `from` to `to` sat/kw takes the
    /// exposure on one of them over `cap_msat` and above what its HTLCs were admitted at (the
    /// buffered `from`). A rise within the buffer, or a fall, always passes; so does one that
    /// trims nothing new while HTLCs we are failing back for the cap still sit on the
    /// commitments.
    pub fn check_fee(&self, spec: &Spec, from: u32, to: u32, cap_msat: u64) -> Result<(), String> {
        let admitted = buffer_feerate(self.channel_type, from);
        let (before, after) = (self.exposure(spec, admitted), self.exposure(spec, to));
        let over = |b: u64, a: u64| a > cap_msat && a > b;
        if over(before.local_msat, after.local_msat) || over(before.remote_msat, after.remote_msat)
        {
            return Err(format!(
                "at {to} sat/kw the dust exposure would be {} msat, above the cap of {cap_msat} \
                 msat",
                after.max_msat()
            ));
        }
        Ok(())
    }
}

impl Channel {
    /// The dust exposure as the cap counts it: the HTLCs any commitment may hold (see the
    /// sender's worst case in `update`), trimmed on our commitment or the peer's at the
    /// buffered feerate; the higher of the two. 0 before funding.
    pub fn dust_exposure_msat(&self) -> u64 {
        let (Some(c), Some(remote)) = (&self.state.commitments, self.state.setup.remote) else {
            return 0;
        };
        let limits = DustLimits {
            channel_type: self.state.setup.format.into(),
            local_dust_sat: self.state.setup.local.dust_limit_sat,
            remote_dust_sat: remote.dust_limit_sat,
        };
        let worst = super::update::worst_case_spec(c);
        let feerate = buffer_feerate(limits.channel_type, worst.feerate_per_kw);
        limits.exposure(&worst, feerate).max_msat()
    }

    /// The cap this channel checks against.
    pub fn max_dust_htlc_exposure_msat(&self) -> u64 {
        self.state.config.max_dust_htlc_exposure_msat
    }

    /// Apply the node's configured cap to a channel restored with another: the cap is our
    /// policy alone (the peer never learns it), so it may change for open channels. Takes
    /// effect on the next update; persisted with the next state written.
    pub fn set_max_dust_htlc_exposure_msat(&mut self, cap_msat: u64) {
        if self.state.config.max_dust_htlc_exposure_msat != cap_msat {
            Arc::make_mut(&mut self.state)
                .config
                .max_dust_htlc_exposure_msat = cap_msat;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_is_2530_or_a_quarter_and_none_for_anchors() {
        let srk = ChannelType::StaticRemoteKey;
        assert_eq!(buffer_feerate(srk, 253), 253 + 2530);
        assert_eq!(buffer_feerate(srk, 10_000), 12_530);
        assert_eq!(buffer_feerate(srk, 20_000), 25_000);
        assert_eq!(buffer_feerate(srk, u32::MAX), u32::MAX);
        assert_eq!(
            buffer_feerate(ChannelType::AnchorsZeroFeeHtlc, 5_000),
            5_000
        );
    }
}
