//! Expected weights, fees and trimming (BOLT 3 "Fees", "Trimmed Outputs", Appendix A).
//!
//! Fees are computed from *expected* weights, not the real ones: both peers must compute the
//! same fee before either signature exists, and signature sizes vary. The expected weights
//! assume 73-byte signatures and both balance outputs present.

use super::{ChannelType, HtlcDirection};

/// Value of each anchor output: just above the P2WSH dust threshold.
pub const ANCHOR_OUTPUT_SAT: u64 = 330;

/// Weight added to a commitment per untrimmed HTLC output (an 43-byte P2WSH output, times 4).
pub const HTLC_OUTPUT_WEIGHT: u64 = 172;

/// The most HTLCs one side may have in flight (BOLT 2 `max_accepted_htlcs` ceiling).
pub const MAX_HTLCS: usize = 483;

impl ChannelType {
    /// Expected weight of a commitment with no HTLC outputs: 724, plus 400 for the two anchor
    /// outputs (2 x 43 bytes x 4, with a larger `to_remote` P2WSH) under anchors.
    pub fn commitment_base_weight(self) -> u64 {
        if self.has_anchors() {
            1124
        } else {
            724
        }
    }

    /// Expected weight of an HTLC-timeout transaction (3 more under anchors for the longer
    /// script).
    pub fn htlc_timeout_weight(self) -> u64 {
        if self.has_anchors() {
            666
        } else {
            663
        }
    }

    /// Expected weight of an HTLC-success transaction.
    pub fn htlc_success_weight(self) -> u64 {
        if self.has_anchors() {
            706
        } else {
            703
        }
    }

    /// The total taken from the opener for anchors: both anchors are always paid for, even
    /// when only one is created (the other's value then goes to the fee).
    pub fn anchors_total_sat(self) -> u64 {
        if self.has_anchors() {
            2 * ANCHOR_OUTPUT_SAT
        } else {
            0
        }
    }
}

/// `feerate_per_kw * weight / 1000`, rounded down.
pub fn fee_for_weight(feerate_per_kw: u32, weight: u64) -> u64 {
    u64::from(feerate_per_kw) * weight / 1000
}

/// Expected weight of a commitment with `untrimmed_htlcs` HTLC outputs.
pub fn commitment_weight(channel_type: ChannelType, untrimmed_htlcs: usize) -> u64 {
    channel_type.commitment_base_weight() + HTLC_OUTPUT_WEIGHT * untrimmed_htlcs as u64
}

/// The base commitment fee paid by the opener.
pub fn commitment_fee_sat(channel_type: ChannelType, feerate_per_kw: u32, untrimmed: usize) -> u64 {
    fee_for_weight(feerate_per_kw, commitment_weight(channel_type, untrimmed))
}

/// The fee an HTLC-timeout transaction carries: zero under anchors, where it is brought by
/// extra inputs at broadcast time instead.
pub fn htlc_timeout_fee_sat(channel_type: ChannelType, feerate_per_kw: u32) -> u64 {
    if channel_type.has_anchors() {
        0
    } else {
        fee_for_weight(feerate_per_kw, channel_type.htlc_timeout_weight())
    }
}

/// The fee an HTLC-success transaction carries (zero under anchors).
pub fn htlc_success_fee_sat(channel_type: ChannelType, feerate_per_kw: u32) -> u64 {
    if channel_type.has_anchors() {
        0
    } else {
        fee_for_weight(feerate_per_kw, channel_type.htlc_success_weight())
    }
}

/// The second-stage fee of an HTLC of `direction` on its owner's commitment.
pub fn htlc_tx_fee_sat(channel_type: ChannelType, direction: HtlcDirection, feerate: u32) -> u64 {
    match direction {
        HtlcDirection::Offered => htlc_timeout_fee_sat(channel_type, feerate),
        HtlcDirection::Received => htlc_success_fee_sat(channel_type, feerate),
    }
}

/// Whether an HTLC gets no output: its whole satoshis minus its second-stage fee would be below
/// the owner's dust limit. Its value then goes to the commitment fee.
pub fn is_trimmed(
    channel_type: ChannelType,
    direction: HtlcDirection,
    amount_msat: u64,
    feerate_per_kw: u32,
    dust_limit_sat: u64,
) -> bool {
    let threshold = dust_limit_sat + htlc_tx_fee_sat(channel_type, direction, feerate_per_kw);
    amount_msat / 1000 < threshold
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChannelType::*;

    #[test]
    fn bolt3_fee_example() {
        // The worked example of BOLT 3 "Fee Calculation": feerate 5000, dust limit 546.
        assert_eq!(htlc_timeout_fee_sat(StaticRemoteKey, 5000), 3315);
        assert_eq!(htlc_success_fee_sat(StaticRemoteKey, 5000), 3515);
        let offered = [5_000_000, 1_000_000];
        let received = [7_000_000, 800_000];
        let untrimmed = offered
            .iter()
            .filter(|a| !is_trimmed(StaticRemoteKey, HtlcDirection::Offered, **a, 5000, 546))
            .count()
            + received
                .iter()
                .filter(|a| !is_trimmed(StaticRemoteKey, HtlcDirection::Received, **a, 5000, 546))
                .count();
        assert_eq!(untrimmed, 2);
        assert_eq!(commitment_weight(StaticRemoteKey, untrimmed), 1068);
        assert_eq!(commitment_fee_sat(StaticRemoteKey, 5000, untrimmed), 5340);
    }

    #[test]
    fn anchors_trim_at_the_dust_limit_alone() {
        for dir in [HtlcDirection::Offered, HtlcDirection::Received] {
            assert!(is_trimmed(AnchorsZeroFeeHtlc, dir, 545_999, 100_000, 546));
            assert!(!is_trimmed(AnchorsZeroFeeHtlc, dir, 546_000, 100_000, 546));
            assert!(is_trimmed(StaticRemoteKey, dir, 546_000, 100_000, 546));
        }
        assert_eq!(commitment_fee_sat(AnchorsZeroFeeHtlc, 15000, 0), 16860);
        assert_eq!(AnchorsZeroFeeHtlc.anchors_total_sat(), 660);
        assert_eq!(StaticRemoteKey.anchors_total_sat(), 0);
    }

    #[test]
    fn fees_do_not_overflow_at_extremes() {
        let w = commitment_weight(AnchorsZeroFeeHtlc, MAX_HTLCS * 2);
        assert_eq!(fee_for_weight(u32::MAX, w), u64::from(u32::MAX) * w / 1000);
    }
}
