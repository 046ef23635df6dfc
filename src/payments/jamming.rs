//! Channel jamming: how much of an outgoing channel one incoming peer may hold.
//!
//! A forwarded HTLC occupies a slot and some value of the outgoing channel until it resolves,
//! and the next hop decides when. A peer that forwards through us to a node of its own and
//! never settles can fill the outgoing channel's slots (its peer's `max_accepted_htlcs`) or its
//! value in flight (`max_htlc_value_in_flight_msat`), and no one else can pay through it. So
//! the forwards of each incoming peer on each outgoing channel are capped at a share of those
//! two limits; a forward past its peer's share is failed back with `temporary_channel_failure`.
//!
//! The default share is half, after the resource bucketing of the local-reputation proposal
//! (bLIP "local resource conservation", which Eclair follows): a peer without reputation
//! never gets more than half of a channel, so one peer alone cannot jam it.
//!
//! [`PeerShares`] counts what each peer holds: updated when a forward is added and when it
//! settles or fails, rebuilt from the stored pending forwards at start (and at every block).

use std::collections::HashMap;

use bitcoin::secp256k1::PublicKey;

use super::HtlcRef;

/// The shares of an outgoing channel one incoming peer may hold, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JammingLimits {
    /// Of the outgoing channel's HTLC slots (its peer's `max_accepted_htlcs`).
    pub htlc_share_percent: u8,
    /// Of its value in flight (its peer's `max_htlc_value_in_flight_msat`).
    pub value_share_percent: u8,
}

impl Default for JammingLimits {
    fn default() -> Self {
        Self {
            htlc_share_percent: 50,
            value_share_percent: 50,
        }
    }
}

impl JammingLimits {
    /// Both shares must be 1 to 100 percent.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("htlc_share_percent", self.htlc_share_percent),
            ("value_share_percent", self.value_share_percent),
        ] {
            if !(1..=100).contains(&v) {
                return Err(format!("{name} must be 1 to 100, not {v}"));
            }
        }
        Ok(())
    }

    /// (slots, msat) one peer may hold on a channel with these limits; at least one slot, so
    /// a channel with few slots still forwards for everyone.
    pub fn caps(&self, out: OutLimits) -> (u32, u64) {
        let slots = u32::from(out.max_htlcs) * u32::from(self.htlc_share_percent) / 100;
        let value = u128::from(out.max_in_flight_msat) * u128::from(self.value_share_percent) / 100;
        (slots.max(1), value as u64)
    }
}

/// What the outgoing channel's peer lets us have in flight towards it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutLimits {
    pub max_htlcs: u16,
    pub max_in_flight_msat: u64,
}

/// Why a forward is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShareExceeded {
    #[error("the incoming peer already holds {held} of {cap} HTLC slots on the outgoing channel")]
    Slots { held: u32, cap: u32 },
    #[error("the incoming peer's {held_msat} msat plus {amount_msat} msat in flight on the outgoing channel would exceed its {cap_msat} msat")]
    Value {
        held_msat: u64,
        amount_msat: u64,
        cap_msat: u64,
    },
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Held {
    htlcs: u32,
    msat: u64,
}

/// The pending forwards of each incoming peer on each outgoing channel.
#[derive(Debug, Default)]
pub struct PeerShares {
    /// (incoming peer, outgoing channel id) to what it holds there.
    held: HashMap<(PublicKey, [u8; 32]), Held>,
    /// Each counted outgoing HTLC: its incoming peer and amount.
    forwards: HashMap<HtlcRef, (PublicKey, u64)>,
}

impl PeerShares {
    /// Whether `peer` may add a forward of `amount_msat` on `out_channel`, whose peer set
    /// `out` as its limits.
    pub fn admits(
        &self,
        limits: &JammingLimits,
        peer: PublicKey,
        out_channel: [u8; 32],
        out: OutLimits,
        amount_msat: u64,
    ) -> Result<(), ShareExceeded> {
        let (cap, cap_msat) = limits.caps(out);
        let held = self
            .held
            .get(&(peer, out_channel))
            .copied()
            .unwrap_or_default();
        if held.htlcs >= cap {
            return Err(ShareExceeded::Slots {
                held: held.htlcs,
                cap,
            });
        }
        if held.msat.saturating_add(amount_msat) > cap_msat {
            return Err(ShareExceeded::Value {
                held_msat: held.msat,
                amount_msat,
                cap_msat,
            });
        }
        Ok(())
    }

    /// Counts a forward added on `out` for `peer` (a second call for the same HTLC is a no-op).
    pub fn add(&mut self, peer: PublicKey, out: HtlcRef, amount_msat: u64) {
        if self.forwards.insert(out, (peer, amount_msat)).is_some() {
            return;
        }
        let h = self.held.entry((peer, out.channel_id)).or_default();
        h.htlcs += 1;
        h.msat = h.msat.saturating_add(amount_msat);
    }

    /// Releases a forward that settled or failed (unknown ones are ignored).
    pub fn remove(&mut self, out: &HtlcRef) {
        let Some((peer, amount)) = self.forwards.remove(out) else {
            return;
        };
        let key = (peer, out.channel_id);
        if let Some(h) = self.held.get_mut(&key) {
            h.htlcs = h.htlcs.saturating_sub(1);
            h.msat = h.msat.saturating_sub(amount);
            if h.htlcs == 0 {
                self.held.remove(&key);
            }
        }
    }

    /// Replaces the counts with the given pending forwards: (incoming peer, outgoing HTLC,
    /// amount).
    pub fn rebuild(&mut self, pending: impl IntoIterator<Item = (PublicKey, HtlcRef, u64)>) {
        *self = Self::default();
        for (peer, out, amount) in pending {
            self.add(peer, out, amount);
        }
    }

    /// (HTLCs, msat) `peer` holds on `out_channel`.
    pub fn held(&self, peer: &PublicKey, out_channel: &[u8; 32]) -> (u32, u64) {
        let h = self
            .held
            .get(&(*peer, *out_channel))
            .copied()
            .unwrap_or_default();
        (h.htlcs, h.msat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};

    fn peer(n: u8) -> PublicKey {
        SecretKey::from_slice(&[n; 32])
            .unwrap()
            .public_key(&Secp256k1::new())
    }

    fn out(ch: u8, id: u64) -> HtlcRef {
        HtlcRef {
            channel_id: [ch; 32],
            htlc_id: id,
        }
    }

    const CH: OutLimits = OutLimits {
        max_htlcs: 10,
        max_in_flight_msat: 1_000_000,
    };

    #[test]
    fn caps_are_shares_of_the_channel_with_at_least_one_slot() {
        let l = JammingLimits::default();
        assert_eq!(l.caps(CH), (5, 500_000));
        let full = OutLimits {
            max_htlcs: 483,
            max_in_flight_msat: u64::MAX,
        };
        assert_eq!(l.caps(full), (241, u64::MAX / 2));
        let tiny = JammingLimits {
            htlc_share_percent: 1,
            value_share_percent: 100,
        };
        assert_eq!(tiny.caps(CH), (1, 1_000_000));
        assert!(l.validate().is_ok());
        assert!(tiny.validate().is_ok());
        let zero = JammingLimits {
            htlc_share_percent: 0,
            ..l
        };
        assert!(zero.validate().unwrap_err().contains("htlc_share_percent"));
        let over = JammingLimits {
            value_share_percent: 101,
            ..l
        };
        assert!(over.validate().unwrap_err().contains("value_share_percent"));
    }

    #[test]
    fn a_peer_past_its_slot_share_is_refused_another_is_not() {
        let l = JammingLimits::default();
        let mut s = PeerShares::default();
        for id in 0..5 {
            assert_eq!(s.admits(&l, peer(1), [9; 32], CH, 1_000), Ok(()));
            s.add(peer(1), out(9, id), 1_000);
        }
        assert_eq!(
            s.admits(&l, peer(1), [9; 32], CH, 1_000),
            Err(ShareExceeded::Slots { held: 5, cap: 5 })
        );
        // Another peer, or the same peer on another channel, is not affected.
        assert_eq!(s.admits(&l, peer(2), [9; 32], CH, 1_000), Ok(()));
        assert_eq!(s.admits(&l, peer(1), [8; 32], CH, 1_000), Ok(()));
        // A resolved forward frees its slot; a repeat or unknown removal changes nothing.
        s.remove(&out(9, 3));
        s.remove(&out(9, 3));
        s.remove(&out(7, 0));
        assert_eq!(s.held(&peer(1), &[9; 32]), (4, 4_000));
        assert_eq!(s.admits(&l, peer(1), [9; 32], CH, 1_000), Ok(()));
    }

    #[test]
    fn a_peer_past_its_value_share_is_refused() {
        let l = JammingLimits::default();
        let mut s = PeerShares::default();
        s.add(peer(1), out(9, 0), 300_000);
        assert_eq!(s.admits(&l, peer(1), [9; 32], CH, 200_000), Ok(()));
        assert_eq!(
            s.admits(&l, peer(1), [9; 32], CH, 200_001),
            Err(ShareExceeded::Value {
                held_msat: 300_000,
                amount_msat: 200_001,
                cap_msat: 500_000
            })
        );
        assert_eq!(s.admits(&l, peer(2), [9; 32], CH, 500_000), Ok(()));
        assert!(s.admits(&l, peer(2), [9; 32], CH, u64::MAX).is_err());
    }

    #[test]
    fn adding_twice_counts_once_and_rebuild_replaces_everything() {
        let mut s = PeerShares::default();
        s.add(peer(1), out(9, 0), 100);
        s.add(peer(1), out(9, 0), 100);
        assert_eq!(s.held(&peer(1), &[9; 32]), (1, 100));
        s.rebuild([
            (peer(2), out(9, 1), 10),
            (peer(2), out(9, 2), 20),
            (peer(1), out(8, 0), 5),
        ]);
        assert_eq!(s.held(&peer(1), &[9; 32]), (0, 0));
        assert_eq!(s.held(&peer(2), &[9; 32]), (2, 30));
        assert_eq!(s.held(&peer(1), &[8; 32]), (1, 5));
        s.remove(&out(9, 1));
        s.remove(&out(9, 2));
        assert_eq!(s.held(&peer(2), &[9; 32]), (0, 0));
    }
}
