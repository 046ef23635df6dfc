//! LSPS2's JIT holds (bLIP 52 steps 3–6): the HTLCs that arrive for a sold
//! `jit_channel_scid` are held until the payment is whole, the channel is opened, and once it
//! is ready each part is forwarded minus its share of the opening fee.
//!
//! Pure: parts, the sale and the clock in; decisions out. The router executes them (holds the
//! HTLCs, opens the channel, forwards or fails), so the rules are tested here without a node.
//!
//! ```text
//! part ─► Collecting ──(sum ≥ payment size, or the one part of a variable sale)──► Open
//!            │ 90 s with the set short: temporary_channel_failure          │ runtime opens
//!            │ the offer's valid_until passes: unknown_next_peer            ▼
//!            └──────────────────────────────────────────────────────── Opening(channel)
//!                                   ready ─► forward each part minus its fee share
//!                                   open failed or 60 s without ready ─► fail every part
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bitcoin::secp256k1::PublicKey;

use super::lsps2::{take_fee, variable_fee, Bought};
use crate::payments::HtlcRef;
use crate::wire::ShortChannelId;

/// How long the parts of a payment wait for the rest (bLIP 52: at least 90 s).
pub const JIT_MPP_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a channel being opened for a payment may take to become ready before the held
/// parts are failed back (the payer can retry; the channel, if it ever opens, stays).
pub const JIT_OPEN_TIMEOUT: Duration = Duration::from_secs(60);
/// What one sale may make us hold: a payment in more parts than this is refused.
pub const MAX_PARTS_PER_SCID: usize = 32;
/// What every sale together may make us hold (each part is an HTLC slot on an incoming
/// channel, and an onion kept in memory).
pub const MAX_HELD_PARTS: usize = 1024;

/// Why held parts are failed back; the runtime maps them to BOLT 4 failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JitFailure {
    /// bLIP 52: the sale does not cover this part, or its offer ended.
    UnknownNextPeer,
    /// The set stayed short, the channel did not open, or a bound was hit.
    TemporaryChannelFailure,
}

/// One held HTLC: where it came from, what the onion asks us to forward, and the runtime's
/// own data (the onion's shared secret, the next onion, the outgoing expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPart<T> {
    pub htlc: HtlcRef,
    /// `amt_to_forward`: what the payer meant the client to get.
    pub out_msat: u64,
    pub data: T,
}

/// What the router does with a part it just handed over.
#[derive(Debug, PartialEq, Eq)]
pub enum Added<T> {
    /// Held; nothing to do yet.
    Hold,
    /// Refused at once (the part comes back).
    Refuse(HeldPart<T>, JitFailure),
    /// The payment is whole: open a channel to `client` able to carry `payment_msat` (the
    /// parts' sum), then call [`JitHolds::opening`] with it.
    Open {
        scid: ShortChannelId,
        client: PublicKey,
        payment_msat: u64,
    },
}

/// A part to forward on the new channel: `amount_msat` (the part less `extra_fee_msat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward<T> {
    pub part: HeldPart<T>,
    pub amount_msat: u64,
    pub extra_fee_msat: u64,
}

/// The outcome of a set: forward these, or fail them all.
#[derive(Debug, PartialEq, Eq)]
pub enum Settled<T> {
    Forward {
        scid: ShortChannelId,
        fee_msat: u64,
        parts: Vec<Forward<T>>,
    },
    Fail(Vec<HeldPart<T>>, JitFailure),
}

#[derive(Debug)]
enum Stage {
    Collecting {
        since: Instant,
    },
    /// Asked to open; `channel` once the runtime knows which (its key index).
    Opening {
        channel: Option<u32>,
        since: Instant,
    },
}

#[derive(Debug)]
struct Set<T> {
    client: PublicKey,
    bought: Bought,
    parts: Vec<HeldPart<T>>,
    stage: Stage,
}

impl<T> Set<T> {
    fn sum(&self) -> u64 {
        self.parts.iter().map(|p| p.out_msat).sum()
    }
}

/// Every JIT payment being held, by its scid.
#[derive(Debug)]
pub struct JitHolds<T> {
    sets: HashMap<ShortChannelId, Set<T>>,
    mpp_timeout: Duration,
}

impl<T> JitHolds<T> {
    pub fn new(mpp_timeout: Duration) -> Self {
        JitHolds {
            sets: HashMap::new(),
            mpp_timeout,
        }
    }

    /// Whether this HTLC is already held (the reconcile delivers unsettled HTLCs again).
    pub fn holds(&self, htlc: &HtlcRef) -> bool {
        self.sets
            .values()
            .any(|s| s.parts.iter().any(|p| p.htlc == *htlc))
    }

    fn held(&self) -> usize {
        self.sets.values().map(|s| s.parts.len()).sum()
    }

    /// A part for a sold scid. `bought` and `client` come from the stored sale; `now_secs`
    /// is wall-clock time (the offer's `valid_until`), `now` the monotonic clock.
    pub fn add(
        &mut self,
        scid: ShortChannelId,
        client: PublicKey,
        bought: &Bought,
        part: HeldPart<T>,
        now: Instant,
        now_secs: u64,
    ) -> Added<T> {
        if self.held() >= MAX_HELD_PARTS {
            return Added::Refuse(part, JitFailure::TemporaryChannelFailure);
        }
        let set = self.sets.entry(scid).or_insert_with(|| Set {
            client,
            bought: bought.clone(),
            parts: Vec::new(),
            stage: Stage::Collecting { since: now },
        });
        if set.parts.len() >= MAX_PARTS_PER_SCID {
            // bLIP 52: "too many payment parts".
            return Added::Refuse(part, JitFailure::UnknownNextPeer);
        }
        let collecting = matches!(set.stage, Stage::Collecting { .. });
        // bLIP 52: a set still short when the offer ends is refused; a variable sale takes
        // one part, of a size the offer allows (the real htlc_minimum_msat is checked again
        // once the channel exists).
        let refuse = (collecting && now_secs > set.bought.valid_until_secs)
            || (set.bought.payment_size_msat.is_none()
                && (!set.parts.is_empty()
                    || variable_fee(&set.bought, part.out_msat, 1).is_none()));
        if refuse {
            if set.parts.is_empty() {
                self.sets.remove(&scid);
            }
            return Added::Refuse(part, JitFailure::UnknownNextPeer);
        }
        set.parts.push(part);
        if !collecting {
            // More parts while the channel opens: they are forwarded with the rest.
            return Added::Hold;
        }
        let whole = match set.bought.payment_size_msat {
            None => true,
            Some(size) => set.sum() >= size,
        };
        if !whole {
            return Added::Hold;
        }
        set.stage = Stage::Opening {
            channel: None,
            since: now,
        };
        Added::Open {
            scid,
            client: set.client,
            payment_msat: set.sum(),
        }
    }

    /// The channel opening for `scid` is the one with key index `channel`.
    pub fn opening(&mut self, scid: ShortChannelId, channel: u32) {
        if let Some(Set {
            stage: Stage::Opening { channel: c, .. },
            ..
        }) = self.sets.get_mut(&scid)
        {
            *c = Some(channel);
        }
    }

    /// The sale whose channel is `channel`, if one is opening.
    pub fn scid_of(&self, channel: u32) -> Option<ShortChannelId> {
        self.sets.iter().find_map(|(scid, s)| match s.stage {
            Stage::Opening {
                channel: Some(c), ..
            } if c == channel => Some(*scid),
            _ => None,
        })
    }

    /// The channel for `scid` is ready and its peer takes HTLCs of at least
    /// `htlc_minimum_msat`: what to forward, with the fee taken in the parts' order (bLIP 52
    /// step 5), or every part to fail when the parts cannot carry the fee.
    pub fn ready(&mut self, scid: ShortChannelId, htlc_minimum_msat: u64) -> Option<Settled<T>> {
        let set = self.sets.remove(&scid)?;
        let sum = set.sum();
        let fee = match set.bought.payment_size_msat {
            Some(_) => set.bought.opening_fee_msat,
            None => variable_fee(&set.bought, sum, htlc_minimum_msat),
        };
        let amounts: Vec<u64> = set.parts.iter().map(|p| p.out_msat).collect();
        let split = fee.and_then(|fee| Some((fee, take_fee(&amounts, fee, htlc_minimum_msat)?)));
        Some(match split {
            Some((fee_msat, split)) => Settled::Forward {
                scid,
                fee_msat,
                parts: set
                    .parts
                    .into_iter()
                    .zip(split)
                    .map(|(part, (amount_msat, extra_fee_msat))| Forward {
                        part,
                        amount_msat,
                        extra_fee_msat,
                    })
                    .collect(),
            },
            None => Settled::Fail(set.parts, JitFailure::UnknownNextPeer),
        })
    }

    /// The open for `scid` failed (the client refused it, or left before signing): every
    /// part goes back.
    pub fn open_failed(&mut self, scid: ShortChannelId) -> Vec<HeldPart<T>> {
        self.sets.remove(&scid).map(|s| s.parts).unwrap_or_default()
    }

    /// Sets whose time is up at `now`: collecting for longer than the MPP timeout or past
    /// the offer's end, or opening for longer than [`JIT_OPEN_TIMEOUT`].
    pub fn expire(&mut self, now: Instant, now_secs: u64) -> Vec<(ShortChannelId, Settled<T>)> {
        let due: Vec<(ShortChannelId, JitFailure)> = self
            .sets
            .iter()
            .filter_map(|(scid, s)| {
                let f = match s.stage {
                    Stage::Collecting { .. } if now_secs > s.bought.valid_until_secs => {
                        JitFailure::UnknownNextPeer
                    }
                    Stage::Collecting { since } if now >= since + self.mpp_timeout => {
                        JitFailure::TemporaryChannelFailure
                    }
                    Stage::Opening { since, .. } if now >= since + JIT_OPEN_TIMEOUT => {
                        JitFailure::TemporaryChannelFailure
                    }
                    _ => return None,
                };
                Some((*scid, f))
            })
            .collect();
        due.into_iter()
            .filter_map(|(scid, f)| {
                let s = self.sets.remove(&scid)?;
                Some((scid, Settled::Fail(s.parts, f)))
            })
            .collect()
    }

    /// When [`Self::expire`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.sets
            .values()
            .map(|s| match s.stage {
                Stage::Collecting { since } => since + self.mpp_timeout,
                Stage::Opening { since, .. } => since + JIT_OPEN_TIMEOUT,
            })
            .min()
    }
}

#[cfg(test)]
mod tests;
