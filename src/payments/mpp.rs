//! Multi-part payments at the payee (BOLT 4, `basic_mpp`): the parts of one payment are held
//! until their sum reaches the `total_msat` they announce, then settled together, or failed
//! together once the set has waited too long.
//!
//! Pure bookkeeping: the node feeds it committed HTLCs and the clock, and executes what it
//! answers. A set is keyed by payment hash; every part must carry the set's payment secret
//! (none for a keysend without `payment_data`) and `total_msat`, or that part alone is failed.
//!
//! What a stranger can make us hold is bounded: [`MAX_PARTS_PER_SET`] parts in a set,
//! [`MAX_SETS`] incomplete sets at once, each for at most [`MPP_TIMEOUT`], and never within
//! [`HOLD_MARGIN_BLOCKS`] of a part's expiry.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::onion::FailureMessage;

use super::HtlcRef;

/// BOLT 4's `mpp_timeout`: an incomplete set is failed back 60 seconds after its first part.
pub const MPP_TIMEOUT: Duration = Duration::from_secs(60);
/// The most parts one set may have. Senders split into far fewer (LND 16 by default, LDK 10).
pub const MAX_PARTS_PER_SET: usize = 64;
/// The most incomplete sets held at once; a part that would open one more is refused.
pub const MAX_SETS: usize = 1024;
/// A held part is failed back once the tip is this close to its expiry: the channel takes a
/// fulfilled incoming HTLC on chain 12 blocks before it expires
/// (`channel::queries::RECEIVED_CLAIM_BUFFER`), so a set settled later than this would end on
/// chain; 3 more blocks cover the time the fulfill takes to reach the peer.
pub const HOLD_MARGIN_BLOCKS: u32 = crate::channel::queries::RECEIVED_CLAIM_BUFFER + 3;

/// One HTLC of a set, with what the node needs to settle it (`T`: its onion's shared secret,
/// say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<T> {
    pub htlc: HtlcRef,
    pub amount_msat: u64,
    pub cltv_expiry: u32,
    pub data: T,
}

/// What a part announces about its set, from its onion's `payment_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetTerms {
    /// `None`: a keysend without `payment_data` (one part only, it cannot be joined).
    pub payment_secret: Option<[u8; 32]>,
    pub total_msat: u64,
}

/// What `add` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added<T> {
    /// The part is held (or was held already): the set is not complete yet.
    Hold,
    /// The set is complete: settle every one of these parts (the set is forgotten).
    Complete(Vec<Part<T>>),
    /// Fail this part alone with this failure; the set, if any, stays as it was.
    Fail(FailureMessage),
}

/// An expired set: fail every part with `failure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired<T> {
    pub payment_hash: [u8; 32],
    pub parts: Vec<Part<T>>,
    pub failure: FailureMessage,
}

impl<T> Expired<T> {
    /// The failure for one of the set's parts (`incorrect_or_unknown_payment_details` names
    /// the part's own amount).
    pub fn failure_for(&self, part: &Part<T>) -> FailureMessage {
        match self.failure {
            FailureMessage::IncorrectOrUnknownPaymentDetails { height, .. } => {
                FailureMessage::IncorrectOrUnknownPaymentDetails {
                    htlc_msat: part.amount_msat,
                    height,
                }
            }
            ref other => other.clone(),
        }
    }
}

#[derive(Debug)]
struct Set<T> {
    terms: SetTerms,
    parts: Vec<Part<T>>,
    sum_msat: u64,
    deadline: Instant,
}

/// The incomplete sets held, by payment hash.
#[derive(Debug)]
pub struct PartSets<T> {
    sets: HashMap<[u8; 32], Set<T>>,
    timeout: Duration,
    max_parts: usize,
    max_sets: usize,
}

impl<T> Default for PartSets<T> {
    fn default() -> Self {
        PartSets::new(MPP_TIMEOUT)
    }
}

impl<T> PartSets<T> {
    /// Sets failed `timeout` after their first part, with the default bounds.
    pub fn new(timeout: Duration) -> Self {
        PartSets::with_bounds(timeout, MAX_PARTS_PER_SET, MAX_SETS)
    }

    pub fn with_bounds(timeout: Duration, max_parts: usize, max_sets: usize) -> Self {
        PartSets {
            sets: HashMap::new(),
            timeout,
            max_parts,
            max_sets,
        }
    }

    /// Whether `htlc` is a part held in some set.
    pub fn holds(&self, htlc: &HtlcRef) -> bool {
        self.sets
            .values()
            .any(|s| s.parts.iter().any(|p| p.htlc == *htlc))
    }

    /// Incomplete sets held.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// When the next set times out, if any is held.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.sets.values().map(|s| s.deadline).min()
    }

    /// Adds a part that passed the invoice's (or keysend's) own checks. `amount_msat` is what
    /// the payee asks (the invoice's amount; `None` for an open amount or a keysend): the
    /// announced total must be at least that, and a set completes only if its sum is at most
    /// twice it (twice the total when it is `None`). `height` is the chain tip.
    pub fn add(
        &mut self,
        payment_hash: [u8; 32],
        terms: SetTerms,
        part: Part<T>,
        amount_msat: Option<u64>,
        height: u32,
        now: Instant,
    ) -> Added<T> {
        if self.holds(&part.htlc) {
            return Added::Hold;
        }
        if let Err(f) = self.admit(&payment_hash, terms, &part, amount_msat, height) {
            return Added::Fail(f);
        }
        let timeout = self.timeout;
        let set = self.sets.entry(payment_hash).or_insert_with(|| Set {
            terms,
            parts: Vec::new(),
            sum_msat: 0,
            deadline: now + timeout,
        });
        set.sum_msat += part.amount_msat;
        set.parts.push(part);
        if set.sum_msat < terms.total_msat {
            return Added::Hold;
        }
        let set = self
            .sets
            .remove(&payment_hash)
            .expect("the set just added to");
        Added::Complete(set.parts)
    }

    /// What [`PartSets::add`] would refuse, without adding: the node checks this before it
    /// records anything for the HTLC.
    ///
    /// # Errors
    /// The failure to return for this part alone.
    pub fn admit(
        &self,
        payment_hash: &[u8; 32],
        terms: SetTerms,
        part: &Part<T>,
        amount_msat: Option<u64>,
        height: u32,
    ) -> Result<(), FailureMessage> {
        let details = FailureMessage::IncorrectOrUnknownPaymentDetails {
            htlc_msat: part.amount_msat,
            height,
        };
        if self.holds(&part.htlc) {
            return Ok(());
        }
        if part.cltv_expiry <= height.saturating_add(HOLD_MARGIN_BLOCKS) {
            return Err(details);
        }
        let held = match self.sets.get(payment_hash) {
            Some(set) => {
                if set.terms != terms || set.parts.len() >= self.max_parts {
                    return Err(details);
                }
                set.sum_msat
            }
            None => {
                if terms.total_msat < amount_msat.unwrap_or(0) || terms.total_msat == 0 {
                    return Err(details);
                }
                // A keysend without payment_data cannot be joined by later parts: it pays
                // alone.
                if terms.payment_secret.is_none() && part.amount_msat < terms.total_msat {
                    return Err(details);
                }
                // A part that completes its set alone is never held, so it needs no room.
                if self.sets.len() >= self.max_sets && part.amount_msat < terms.total_msat {
                    return Err(FailureMessage::TemporaryNodeFailure);
                }
                0
            }
        };
        let Some(sum) = held.checked_add(part.amount_msat) else {
            return Err(details);
        };
        // A part that would overpay is refused; the set keeps waiting for the rest.
        let asked = amount_msat.unwrap_or(terms.total_msat);
        if sum >= terms.total_msat && sum > asked.saturating_mul(2) {
            return Err(details);
        }
        Ok(())
    }

    /// Takes every set to fail back at `now` and chain tip `height`: those past their timeout
    /// (`mpp_timeout`) and those with a part within [`HOLD_MARGIN_BLOCKS`] of its expiry
    /// (`incorrect_or_unknown_payment_details`, as for an expiry too near on arrival).
    pub fn expire(&mut self, now: Instant, height: u32) -> Vec<Expired<T>> {
        let due: Vec<[u8; 32]> = self
            .sets
            .iter()
            .filter(|(_, s)| {
                now >= s.deadline
                    || s.parts
                        .iter()
                        .any(|p| p.cltv_expiry <= height.saturating_add(HOLD_MARGIN_BLOCKS))
            })
            .map(|(h, _)| *h)
            .collect();
        due.into_iter()
            .filter_map(|h| {
                let set = self.sets.remove(&h)?;
                let failure = if now >= set.deadline {
                    FailureMessage::MppTimeout
                } else {
                    FailureMessage::IncorrectOrUnknownPaymentDetails {
                        htlc_msat: set.sum_msat,
                        height,
                    }
                };
                Some(Expired {
                    payment_hash: h,
                    parts: set.parts,
                    failure,
                })
            })
            .collect()
    }

    /// Takes the set of `payment_hash` (its invoice was cancelled): fail every part.
    pub fn remove(&mut self, payment_hash: &[u8; 32]) -> Vec<Part<T>> {
        self.sets
            .remove(payment_hash)
            .map(|s| s.parts)
            .unwrap_or_default()
    }
}

#[cfg(test)]
#[path = "mpp_tests.rs"]
mod tests;
