//! The hub's checks before it forwards an HTLC (BOLT 4, "Requirements for forwarding").
//!
//! ```text
//! alice --(in_msat, in_cltv)--> hub --(amt_to_forward, outgoing_cltv_value)--> bob
//!   in_msat  >= amt_to_forward + fee(amt_to_forward)      else fee_insufficient
//!   in_cltv  >= outgoing_cltv_value + cltv_delta          else incorrect_cltv_expiry
//!   outgoing_cltv_value > height + MIN_OUTGOING_BLOCKS    else expiry_too_soon
//!   in_cltv  <= height + MAX_EXPIRY_BLOCKS                else expiry_too_far
//! ```
//!
//! Liquidity is not checked here: the outgoing channel refuses an add it cannot carry, and the
//! hub then fails the HTLC back with `temporary_channel_failure`.

use crate::onion::FailureMessage;

use super::types::FeePolicy;

/// The outgoing HTLC must leave us at least this many blocks to claim the incoming one on
/// chain if the next hop misbehaves, and the payee time to settle.
pub const MIN_OUTGOING_BLOCKS: u32 = 6;
/// An incoming HTLC may lock our funds for at most this long (about two weeks).
pub const MAX_EXPIRY_BLOCKS: u32 = 2016;

/// The incoming HTLC, as the channel committed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incoming {
    pub amount_msat: u64,
    pub cltv_expiry: u32,
}

/// What the onion asks us to send on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing {
    pub amount_msat: u64,
    pub cltv_expiry: u32,
}

/// The outgoing channel as the hub sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextChannel {
    /// Shutting down or closed: it will never carry an HTLC again.
    pub closing: bool,
    /// Connected and in normal operation.
    pub usable: bool,
    /// The smallest HTLC the peer accepts.
    pub htlc_minimum_msat: u64,
}

/// Checks a forward against our policy. `next` is `None` when no channel of ours has the
/// requested short channel id.
///
/// # Errors
/// The failure to return to the sender.
pub fn check_forward(
    policy: &FeePolicy,
    incoming: Incoming,
    outgoing: Outgoing,
    next: Option<NextChannel>,
    height: u32,
) -> Result<(), FailureMessage> {
    let Some(next) = next else {
        return Err(FailureMessage::UnknownNextPeer);
    };
    if next.closing {
        return Err(FailureMessage::PermanentChannelFailure);
    }
    if !next.usable {
        return Err(FailureMessage::TemporaryChannelFailure {
            channel_update: None,
        });
    }
    if outgoing.amount_msat < next.htlc_minimum_msat.max(1) {
        return Err(FailureMessage::AmountBelowMinimum {
            htlc_msat: incoming.amount_msat,
            channel_update: None,
        });
    }
    let required = policy
        .fee_msat(outgoing.amount_msat)
        .and_then(|fee| outgoing.amount_msat.checked_add(fee));
    if required.map_or(true, |r| incoming.amount_msat < r) {
        return Err(FailureMessage::FeeInsufficient {
            htlc_msat: incoming.amount_msat,
            channel_update: None,
        });
    }
    let needed_cltv = outgoing
        .cltv_expiry
        .checked_add(u32::from(policy.cltv_delta));
    if needed_cltv.map_or(true, |c| incoming.cltv_expiry < c) {
        return Err(FailureMessage::IncorrectCltvExpiry {
            cltv_expiry: incoming.cltv_expiry,
            channel_update: None,
        });
    }
    if outgoing.cltv_expiry <= height.saturating_add(MIN_OUTGOING_BLOCKS) {
        return Err(FailureMessage::ExpiryTooSoon {
            channel_update: None,
        });
    }
    if incoming.cltv_expiry > height.saturating_add(MAX_EXPIRY_BLOCKS) {
        return Err(FailureMessage::ExpiryTooFar);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: FeePolicy = FeePolicy {
        base_msat: 1_000,
        ppm: 1_000,
        cltv_delta: 40,
    };
    const NEXT: Option<NextChannel> = Some(NextChannel {
        closing: false,
        usable: true,
        htlc_minimum_msat: 1,
    });

    fn check(in_msat: u64, in_cltv: u32, out_msat: u64, out_cltv: u32) -> Result<(), u16> {
        check_forward(
            &POLICY,
            Incoming {
                amount_msat: in_msat,
                cltv_expiry: in_cltv,
            },
            Outgoing {
                amount_msat: out_msat,
                cltv_expiry: out_cltv,
            },
            NEXT,
            100,
        )
        .map_err(|f| f.code())
    }

    #[test]
    fn exact_fee_and_delta_pass_one_less_fails() {
        // fee(1_000_000) = 1_000 + 1_000 = 2_000.
        assert_eq!(check(1_002_000, 200, 1_000_000, 160), Ok(()));
        assert_eq!(check(1_001_999, 200, 1_000_000, 160), Err(0x1000 | 12));
        assert_eq!(check(1_002_000, 199, 1_000_000, 160), Err(0x1000 | 13));
    }

    #[test]
    fn expiry_bounds() {
        assert_eq!(check(1_002_000, 146, 1_000_000, 106), Err(0x1000 | 14));
        assert_eq!(check(1_002_000, 147, 1_000_000, 107), Ok(()));
        assert_eq!(check(1_002_000, 2117, 1_000_000, 1000), Err(21));
    }

    #[test]
    fn unknown_or_unusable_channel_and_minimum() {
        let i = Incoming {
            amount_msat: 10_000,
            cltv_expiry: 200,
        };
        let o = Outgoing {
            amount_msat: 5_000,
            cltv_expiry: 150,
        };
        assert_eq!(
            check_forward(&POLICY, i, o, None, 100),
            Err(FailureMessage::UnknownNextPeer)
        );
        let closing = NextChannel {
            closing: true,
            usable: false,
            htlc_minimum_msat: 1,
        };
        assert_eq!(
            check_forward(&POLICY, i, o, Some(closing), 100),
            Err(FailureMessage::PermanentChannelFailure)
        );
        let down = NextChannel {
            closing: false,
            usable: false,
            htlc_minimum_msat: 1,
        };
        assert_eq!(
            check_forward(&POLICY, i, o, Some(down), 100).map_err(|f| f.code()),
            Err(0x1000 | 7)
        );
        let high_min = NextChannel {
            closing: false,
            usable: true,
            htlc_minimum_msat: 6_000,
        };
        assert_eq!(
            check_forward(&POLICY, i, o, Some(high_min), 100).map_err(|f| f.code()),
            Err(0x1000 | 11)
        );
    }

    #[test]
    fn overflow_is_a_failure_not_a_panic() {
        assert!(check(u64::MAX, u32::MAX, u64::MAX, u32::MAX).is_err());
    }
}
