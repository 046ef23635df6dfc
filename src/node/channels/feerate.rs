//! The fees the hub pays on its channels, decided from the chain's estimate: pure functions,
//! called by the block handler (`chain`). The rules and numbers: `channel-spec/channel.md`,
//! "Fees the hub pays".

use crate::channel::limits::FEERATE_FLOOR_PER_KW;
use crate::channel::Format;

/// Confirmation target of the estimate an anchors commitment follows: it only has to enter
/// mempools, CPFP on its anchor makes it confirm when that matters.
pub const ANCHORS_CONF_TARGET: u16 = 144;
/// A static_remotekey commitment cannot be bumped: it pays to confirm by itself.
pub const STATIC_REMOTEKEY_CONF_TARGET: u16 = 6;
/// Confirmation target of the estimate closing fees are measured against.
pub const CLOSING_CONF_TARGET: u16 = 6;
/// Raise the commitment feerate once the estimate is more than 20 % above it...
pub const RAISE_ABOVE_PERCENT: u64 = 120;
/// ...and lower it once the estimate is below half of it.
pub const LOWER_BELOW_PERCENT: u64 = 50;
/// The default of `max_closing_fee_multiple`.
pub const DEFAULT_MAX_CLOSING_FEE_MULTIPLE: u32 = 3;

/// The estimate a channel of `format` follows.
pub fn conf_target(format: Format) -> u16 {
    match format {
        Format::Anchors => ANCHORS_CONF_TARGET,
        Format::StaticRemoteKey => STATIC_REMOTEKEY_CONF_TARGET,
    }
}

/// The feerate the opener moves its commitment to, or `None` to keep `current`. `estimate`
/// is the chain's (sat/kw), kept within `[min, max]` and never below BOLT 2's floor; the
/// hysteresis keeps small moves of the estimate from costing a round of signatures each.
pub fn next_commitment_feerate(current: u32, estimate: u32, min: u32, max: u32) -> Option<u32> {
    let floor = min.max(FEERATE_FLOOR_PER_KW);
    let target = estimate.clamp(floor, max.max(floor));
    let (cur, t) = (u64::from(current), u64::from(target));
    let raise = t * 100 > cur * RAISE_ABOVE_PERCENT;
    let lower = t * 100 < cur * LOWER_BELOW_PERCENT;
    (target != current && (raise || lower || current < floor)).then_some(target)
}

/// The most the hub pays to close cooperatively, in sat/kw: `multiple` times the estimate,
/// never above `max`.
pub fn max_closing_feerate(estimate: u32, multiple: u32, max: u32) -> u32 {
    estimate.saturating_mul(multiple.max(1)).min(max)
}

/// What each anchors channel keeps in the wallet to bump its commitment and HTLC transactions
/// when it closes by force (their fees come from a wallet coin, by CPFP), as LDK Node does.
pub const ANCHOR_RESERVE_PER_CHANNEL_SAT: u64 = 25_000;
/// The weight the funding fee is reckoned on before the wallet picks coins (one input, the
/// channel output and change come to about 700).
pub const FUNDING_WEIGHT_ESTIMATE: u64 = 1_000;

/// The funding transaction's fee at `feerate_per_kw`, reckoned before coins are picked.
pub fn funding_fee_estimate(feerate_per_kw: u64) -> u64 {
    feerate_per_kw.saturating_mul(FUNDING_WEIGHT_ESTIMATE) / 1000
}

/// Whether opening an anchors channel of `capacity_sat` leaves the on-chain reserve of
/// `anchors_channels` (the new one included) in the wallet's `confirmed_sat` (with our own
/// unconfirmed change); else `Err((needed, left))`.
pub fn check_anchor_reserve(
    confirmed_sat: u64,
    capacity_sat: u64,
    funding_feerate_per_kw: u64,
    anchors_channels: u64,
) -> Result<(), (u64, u64)> {
    let fee = funding_fee_estimate(funding_feerate_per_kw);
    let left = confirmed_sat.saturating_sub(capacity_sat.saturating_add(fee));
    let needed = ANCHOR_RESERVE_PER_CHANNEL_SAT.saturating_mul(anchors_channels);
    if left < needed {
        return Err((needed, left));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_keep_an_on_chain_reserve() {
        // 1,000,000 sat channel at 1,000 sat/kw (1,000 sat of funding fee).
        assert_eq!(check_anchor_reserve(1_026_000, 1_000_000, 1_000, 1), Ok(()));
        assert_eq!(
            check_anchor_reserve(1_025_999, 1_000_000, 1_000, 1),
            Err((25_000, 24_999))
        );
        // Every anchors channel already open counts.
        assert_eq!(
            check_anchor_reserve(1_026_000, 1_000_000, 1_000, 3),
            Err((75_000, 25_000))
        );
        assert_eq!(
            check_anchor_reserve(500_000, 1_000_000, 1_000, 1),
            Err((25_000, 0))
        );
    }

    const MIN: u32 = 253;
    const MAX: u32 = 100_000;

    #[test]
    fn follows_the_estimate_with_hysteresis() {
        // Up by 20 % or less: kept; above: raised to the estimate.
        assert_eq!(next_commitment_feerate(1000, 1200, MIN, MAX), None);
        assert_eq!(next_commitment_feerate(1000, 1201, MIN, MAX), Some(1201));
        assert_eq!(next_commitment_feerate(1000, 5000, MIN, MAX), Some(5000));
        // Down to half or less: kept until it falls below half.
        assert_eq!(next_commitment_feerate(1000, 500, MIN, MAX), None);
        assert_eq!(next_commitment_feerate(1000, 499, MIN, MAX), Some(499));
        assert_eq!(next_commitment_feerate(1000, 1000, MIN, MAX), None);
    }

    #[test]
    fn stays_within_the_bounds() {
        // Never below BOLT 2's floor, even when the estimate is (an empty mempool).
        assert_eq!(next_commitment_feerate(1000, 1, MIN, MAX), Some(253));
        assert_eq!(next_commitment_feerate(253, 1, MIN, MAX), None);
        assert_eq!(next_commitment_feerate(1000, 1, 0, MAX), Some(253));
        // Never above our own maximum (what we would accept from a peer).
        assert_eq!(
            next_commitment_feerate(1000, 1_000_000, MIN, MAX),
            Some(MAX)
        );
        assert_eq!(next_commitment_feerate(MAX, 1_000_000, MIN, MAX), None);
        // A feerate under the floor (an old channel) is raised to it.
        assert_eq!(next_commitment_feerate(200, 250, MIN, MAX), Some(253));
    }

    #[test]
    fn anchors_follow_a_slower_estimate() {
        assert!(conf_target(Format::Anchors) > conf_target(Format::StaticRemoteKey));
    }

    #[test]
    fn closing_cap() {
        assert_eq!(max_closing_feerate(2_000, 3, MAX), 6_000);
        assert_eq!(max_closing_feerate(50_000, 3, MAX), MAX);
        assert_eq!(max_closing_feerate(2_000, 0, MAX), 2_000);
        assert_eq!(max_closing_feerate(u32::MAX, 3, MAX), MAX);
    }
}
