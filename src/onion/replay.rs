//! Onion replay protection.
//!
//! An attacker who saw an HTLC's onion could resend it in a new HTLC with the same payment
//! hash, to probe where it leads. Every onion's shared secret is unique to it, so a hop
//! remembers the secrets it has accepted and refuses one seen before.
//!
//! The guard stores `SHA256(shared_secret)`, never the secret itself, so a leaked replay table
//! cannot decrypt anything. An entry can be forgotten once the HTLC's `cltv_expiry` has passed:
//! a replay would then carry an expired HTLC, which the hop refuses anyway.
//!
//! The node records an onion only once its HTLC passed every check and is about to be
//! forwarded or claimed, so an HTLC refused for its expiry (or anything else) writes nothing,
//! and a recorded expiry is at most [`MAX_EXPIRY_BLOCKS`] ahead (a forward further out is
//! refused as `expiry_too_far`; a payment to us is kept that long at most, since a replay of
//! it finds its invoice paid). Rows are deleted [`REPLAY_MARGIN_BLOCKS`] after their expiry,
//! at most [`REPLAY_PRUNE_BATCH`] per block.
//!
//! Replays must be told from retransmissions: after a reconnection the channel layer re-sends
//! the *same* HTLC (same channel and id), which must be recognised there, before the guard is
//! asked. The guard only sees new HTLCs.

use std::collections::HashMap;
use std::convert::Infallible;

use super::crypto::{sha256, SharedSecret};
pub use crate::payments::forward::MAX_EXPIRY_BLOCKS;

/// Blocks a stored row outlives its HTLC's expiry, so a reorg that lowers the height a few
/// blocks does not let a replay of a just-forgotten onion through.
pub const REPLAY_MARGIN_BLOCKS: u32 = 12;
/// Rows deleted per block at most: one short write however many expired together (the rest
/// go with the next blocks).
pub const REPLAY_PRUNE_BATCH: u32 = 5_000;

/// The expiry a row is stored with at `height`: the HTLC's, capped at [`MAX_EXPIRY_BLOCKS`]
/// ahead so no row is kept for longer.
pub fn stored_expiry(cltv_expiry: u32, height: u32) -> u32 {
    cltv_expiry.min(height.saturating_add(MAX_EXPIRY_BLOCKS))
}

/// At `height`, rows whose stored expiry is below this are forgotten.
pub fn forget_below(height: u32) -> u32 {
    height.saturating_sub(REPLAY_MARGIN_BLOCKS)
}

/// What the guard stores for an onion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplayKey(pub [u8; 32]);

impl ReplayKey {
    pub fn of(secret: &SharedSecret) -> Self {
        Self(sha256(&[&secret.0]))
    }
}

/// The answer for a new HTLC's onion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayCheck {
    /// First time seen; now recorded.
    Fresh,
    /// Seen before: fail the HTLC (as a temporary node failure, which reveals nothing).
    Replayed,
}

/// A store of onions already accepted. The node persists it (the record must be durable
/// before the HTLC is forwarded); [`MemoryReplayGuard`] serves tests and a stateless hop.
pub trait ReplayGuard {
    /// Store failures (an I/O error); an in-memory guard cannot fail.
    type Error;

    /// Records the onion with its HTLC's expiry, atomically with the check.
    fn check_and_record(
        &mut self,
        secret: &SharedSecret,
        cltv_expiry: u32,
    ) -> Result<ReplayCheck, Self::Error>;

    /// Forgets onions whose HTLC expired before `height`; returns how many.
    fn forget_expired(&mut self, height: u32) -> Result<usize, Self::Error>;
}

/// An in-memory [`ReplayGuard`].
#[derive(Debug, Default, Clone)]
pub struct MemoryReplayGuard {
    /// Key to the largest `cltv_expiry` seen with it, which bounds how long it must be kept.
    seen: HashMap<ReplayKey, u32>,
}

impl MemoryReplayGuard {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

impl ReplayGuard for MemoryReplayGuard {
    type Error = Infallible;

    fn check_and_record(
        &mut self,
        secret: &SharedSecret,
        cltv_expiry: u32,
    ) -> Result<ReplayCheck, Infallible> {
        let key = ReplayKey::of(secret);
        match self.seen.get_mut(&key) {
            Some(expiry) => {
                *expiry = (*expiry).max(cltv_expiry);
                Ok(ReplayCheck::Replayed)
            }
            None => {
                self.seen.insert(key, cltv_expiry);
                Ok(ReplayCheck::Fresh)
            }
        }
    }

    fn forget_expired(&mut self, height: u32) -> Result<usize, Infallible> {
        let before = self.seen.len();
        self.seen.retain(|_, expiry| *expiry >= height);
        Ok(before - self.seen.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_sight_is_a_replay_until_expiry() {
        let mut g = MemoryReplayGuard::new();
        let a = SharedSecret([1; 32]);
        let b = SharedSecret([2; 32]);
        assert_eq!(g.check_and_record(&a, 100), Ok(ReplayCheck::Fresh));
        assert_eq!(g.check_and_record(&b, 200), Ok(ReplayCheck::Fresh));
        assert_eq!(g.check_and_record(&a, 100), Ok(ReplayCheck::Replayed));
        assert_eq!(g.forget_expired(100), Ok(0));
        assert_eq!(g.forget_expired(101), Ok(1));
        assert_eq!(g.len(), 1);
        assert_eq!(g.check_and_record(&b, 200), Ok(ReplayCheck::Replayed));
        assert_eq!(g.check_and_record(&a, 300), Ok(ReplayCheck::Fresh));
    }

    #[test]
    fn rows_are_kept_a_bounded_time() {
        assert_eq!(stored_expiry(900, 800), 900);
        assert_eq!(stored_expiry(u32::MAX, 800), 800 + MAX_EXPIRY_BLOCKS);
        assert_eq!(stored_expiry(u32::MAX, u32::MAX), u32::MAX);
        assert_eq!(forget_below(1000), 1000 - REPLAY_MARGIN_BLOCKS);
        assert_eq!(forget_below(3), 0);
    }

    #[test]
    fn the_key_is_not_the_secret() {
        let s = SharedSecret([3; 32]);
        assert_ne!(ReplayKey::of(&s).0, s.0);
    }
}
