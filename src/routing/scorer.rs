//! What past payments taught us: a penalty per channel direction and per node, added to a
//! path's cost so a channel that failed recently loses to a slightly dearer one, and fading
//! with time (halved every [`HALF_LIFE_SECS`]) so it is tried again later.
//!
//! - A channel failure (`temporary_channel_failure` and the like) adds
//!   [`CHANNEL_FAILURE_PENALTY_MSAT`] plus [`CHANNEL_FAILURE_PENALTY_PPM`] of the amount that
//!   failed. The penalty counts in full for that amount or more, and in proportion below it
//!   (a smaller HTLC may fit the liquidity that was missing), but never under a quarter (the
//!   failure may not have been about liquidity).
//! - A node failure adds [`NODE_FAILURE_PENALTY_MSAT`] to every path through the node.
//! - Repeated failures add up, to at most [`MAX_PENALTY_MSAT`].
//! - A success lifts the penalty of each channel that carried at least the amount that had
//!   failed on it, and halves the others' and its forwarders' node penalties.
//! - At most [`MAX_ENTRIES`] entries are kept; past that the oldest goes.
//!
//! Plain data in and out ([`Scorer::entries`], [`Scorer::from_entries`]): the node persists it.

use std::collections::HashMap;

use bitcoin::secp256k1::PublicKey;

use super::Path;
use crate::wire::ShortChannelId;

/// A penalty halves every hour.
pub const HALF_LIFE_SECS: u64 = 3600;
/// Added by one failure of a channel direction.
pub const CHANNEL_FAILURE_PENALTY_MSAT: u64 = 20_000;
/// Added by one failure of a channel direction, per million of the amount that failed.
pub const CHANNEL_FAILURE_PENALTY_PPM: u64 = 2_000;
/// Added by one failure of a node.
pub const NODE_FAILURE_PENALTY_MSAT: u64 = 100_000;
/// The most one channel direction or node is penalised.
pub const MAX_PENALTY_MSAT: u64 = 10_000_000;
/// The most entries (channel directions and nodes together) kept.
pub const MAX_ENTRIES: usize = 10_000;
/// A penalty decayed below this is forgotten.
const FORGET_BELOW_MSAT: u64 = 1;

/// What an entry penalises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PenaltyKey {
    Channel { scid: ShortChannelId, dir: u8 },
    Node(PublicKey),
}

/// One entry, as persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PenaltyEntry {
    pub key: PenaltyKey,
    /// The penalty at `at_secs`.
    pub penalty_msat: u64,
    /// For a channel: the smallest amount that failed on it (0 for a node).
    pub amount_msat: u64,
    /// When the penalty was last set (unix seconds).
    pub at_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    penalty_msat: u64,
    amount_msat: u64,
    at_secs: u64,
}

/// The learned penalties; see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scorer {
    entries: HashMap<PenaltyKey, Entry>,
}

/// `penalty` after `elapsed` seconds of halving every [`HALF_LIFE_SECS`].
fn decayed(penalty: u64, elapsed: u64) -> u64 {
    let halvings = elapsed / HALF_LIFE_SECS;
    if halvings >= 64 {
        return 0;
    }
    let whole = penalty >> halvings;
    // Within a half-life, linear between the two halvings: close enough, and integer.
    let rest = elapsed % HALF_LIFE_SECS;
    let lost = u128::from(whole / 2) * u128::from(rest) / u128::from(HALF_LIFE_SECS);
    whole - lost as u64
}

impl Entry {
    fn now(&self, now: u64) -> u64 {
        decayed(self.penalty_msat, now.saturating_sub(self.at_secs))
    }
}

impl Scorer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A channel direction failed to carry `amount_msat`.
    pub fn channel_failed(&mut self, scid: ShortChannelId, dir: u8, amount_msat: u64, now: u64) {
        let key = PenaltyKey::Channel { scid, dir: dir & 1 };
        let add = CHANNEL_FAILURE_PENALTY_MSAT.saturating_add(
            u64::try_from(
                u128::from(amount_msat) * u128::from(CHANNEL_FAILURE_PENALTY_PPM) / 1_000_000,
            )
            .unwrap_or(u64::MAX),
        );
        let amount = match self.entries.get(&key) {
            Some(e) if e.now(now) > 0 => e.amount_msat.min(amount_msat),
            _ => amount_msat,
        };
        self.add(key, add, amount, now);
    }

    /// A node failed (a node-level BOLT 4 failure, or it could not be reached).
    pub fn node_failed(&mut self, node: &PublicKey, now: u64) {
        self.add(PenaltyKey::Node(*node), NODE_FAILURE_PENALTY_MSAT, 0, now);
    }

    fn add(&mut self, key: PenaltyKey, add: u64, amount_msat: u64, now: u64) {
        let before = self.entries.get(&key).map_or(0, |e| e.now(now));
        let entry = Entry {
            penalty_msat: before.saturating_add(add).min(MAX_PENALTY_MSAT),
            amount_msat,
            at_secs: now,
        };
        self.entries.insert(key, entry);
        self.evict();
    }

    /// Drops the oldest entries past [`MAX_ENTRIES`].
    fn evict(&mut self) {
        while self.entries.len() > MAX_ENTRIES {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.at_secs)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => self.entries.remove(&k),
                None => break,
            };
        }
    }

    /// `path` delivered its amount: the channels that carried at least what had failed on
    /// them are forgiven, the others and the forwarders have their penalty halved.
    pub fn path_succeeded(&mut self, path: &Path, now: u64) {
        let carried = path.forwarded_amounts();
        for ((scid, dir), amount) in path.channels().into_iter().zip(carried) {
            let key = PenaltyKey::Channel { scid, dir };
            self.relieve(key, |e| e.amount_msat <= amount, now);
        }
        for f in &path.forwarders {
            self.relieve(PenaltyKey::Node(f.node_id), |_| false, now);
        }
    }

    fn relieve(&mut self, key: PenaltyKey, forgive: impl Fn(&Entry) -> bool, now: u64) {
        let Some(e) = self.entries.get(&key).copied() else {
            return;
        };
        let left = if forgive(&e) { 0 } else { e.now(now) / 2 };
        if left < FORGET_BELOW_MSAT {
            self.entries.remove(&key);
        } else {
            self.entries.insert(
                key,
                Entry {
                    penalty_msat: left,
                    at_secs: now,
                    ..e
                },
            );
        }
    }

    /// The penalty of sending `amount_msat` over a channel direction now.
    pub fn channel_penalty_msat(
        &self,
        scid: ShortChannelId,
        dir: u8,
        amount_msat: u64,
        now: u64,
    ) -> u64 {
        let Some(e) = self
            .entries
            .get(&PenaltyKey::Channel { scid, dir: dir & 1 })
        else {
            return 0;
        };
        let p = e.now(now);
        if amount_msat >= e.amount_msat || e.amount_msat == 0 {
            return p;
        }
        let share = u128::from(p) * u128::from(amount_msat) / u128::from(e.amount_msat);
        (share as u64).max(p / 4)
    }

    /// The penalty of a path through `node` now.
    pub fn node_penalty_msat(&self, node: &PublicKey, now: u64) -> u64 {
        self.entries
            .get(&PenaltyKey::Node(*node))
            .map_or(0, |e| e.now(now))
    }

    /// The channel directions with an entry (the search looks only these up).
    pub fn channel_keys(&self) -> impl Iterator<Item = (ShortChannelId, u8)> + '_ {
        self.entries.keys().filter_map(|k| match k {
            PenaltyKey::Channel { scid, dir } => Some((*scid, *dir)),
            PenaltyKey::Node(_) => None,
        })
    }

    /// Every node's penalty now.
    pub fn node_penalties(&self, now: u64) -> impl Iterator<Item = (PublicKey, u64)> + '_ {
        self.entries.iter().filter_map(move |(k, e)| match k {
            PenaltyKey::Node(n) => Some((*n, e.now(now))),
            PenaltyKey::Channel { .. } => None,
        })
    }

    /// Every entry, for the store.
    pub fn entries(&self) -> Vec<PenaltyEntry> {
        self.entries
            .iter()
            .map(|(k, e)| PenaltyEntry {
                key: *k,
                penalty_msat: e.penalty_msat,
                amount_msat: e.amount_msat,
                at_secs: e.at_secs,
            })
            .collect()
    }

    /// A scorer from stored entries (bounded as any other: the newest [`MAX_ENTRIES`] kept;
    /// a duplicate key keeps its newest entry).
    pub fn from_entries(entries: Vec<PenaltyEntry>) -> Scorer {
        let mut sorted = entries;
        sorted.sort_by_key(|e| std::cmp::Reverse(e.at_secs));
        let mut s = Scorer::new();
        for e in sorted {
            if s.entries.len() >= MAX_ENTRIES {
                break;
            }
            let key = match e.key {
                PenaltyKey::Channel { scid, dir } => PenaltyKey::Channel { scid, dir: dir & 1 },
                k => k,
            };
            s.entries.entry(key).or_insert(Entry {
                penalty_msat: e.penalty_msat.min(MAX_PENALTY_MSAT),
                amount_msat: e.amount_msat,
                at_secs: e.at_secs,
            });
        }
        s
    }

    /// Forgets entries decayed to nothing by `now` (the node may call it now and then).
    pub fn prune(&mut self, now: u64) {
        self.entries.retain(|_, e| e.now(now) >= FORGET_BELOW_MSAT);
    }
}
