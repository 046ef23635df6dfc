//! Inbound channel opens that are not funded yet (`accept_channel` sent, no `funding_created`):
//! each holds a channel row and a key index for a peer that has committed nothing, so they are
//! bounded per peer and in total, and dropped when not funded in time. Only the bookkeeping
//! lives here; the actor refuses, forgets and tells the peer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use bitcoin::{OutPoint, Transaction};
use tokio::time::Instant;

use crate::net::PeerLimits;

/// Why an inbound open is refused; the text goes to the peer in an `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum OpenLimit {
    #[error("too many unfunded channel opens from you (max_pending_opens_per_peer = {0}): fund or drop one first")]
    PerPeer(usize),
    #[error(
        "too many unfunded channel opens at this node (max_pending_opens = {0}): try again later"
    )]
    Total(usize),
}

/// The pending inbound opens, by the channel's key index.
pub(super) struct PendingOpens {
    per_peer: usize,
    total: usize,
    timeout: Duration,
    opens: BTreeMap<u32, (PublicKey, Instant)>,
}

impl PendingOpens {
    pub fn new(limits: &PeerLimits) -> Self {
        PendingOpens {
            per_peer: limits.max_pending_opens_per_peer,
            total: limits.max_pending_opens,
            timeout: limits.pending_open_timeout,
            opens: BTreeMap::new(),
        }
    }

    /// Whether `peer` may open one more.
    pub fn admit(&self, peer: &PublicKey) -> Result<(), OpenLimit> {
        if self.opens.len() >= self.total {
            return Err(OpenLimit::Total(self.total));
        }
        if self.opens.values().filter(|(p, _)| p == peer).count() >= self.per_peer {
            return Err(OpenLimit::PerPeer(self.per_peer));
        }
        Ok(())
    }

    pub fn insert(&mut self, idx: u32, peer: PublicKey, now: Instant) {
        self.opens.insert(idx, (peer, now + self.timeout));
    }

    /// Every pending open, with whether its time is up at `now`.
    pub fn all(&self, now: Instant) -> Vec<(u32, bool)> {
        self.opens
            .iter()
            .map(|(idx, (_, deadline))| (*idx, *deadline <= now))
            .collect()
    }

    pub fn remove(&mut self, idx: u32) {
        self.opens.remove(&idx);
    }

    /// When the oldest open runs out.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.opens.values().map(|(_, d)| *d).min()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// BOLT 2: the fundee forgets a channel whose funding it has not seen confirm 2016 blocks
/// after `funding_signed` (the funder may never broadcast it; the funder itself never forgets,
/// its money is in the funding transaction).
pub(super) const FUNDING_TIMEOUT_BLOCKS: u32 = 2016;

/// Fundee channels signed but not confirmed: the height each was first seen waiting at, and
/// the inputs of its funding once seen in the mempool (to tell a double spend of them).
/// Kept in memory: after a restart the count starts again from the tip, which only forgets
/// later, and a funding already gone from the mempool is left to the timeout.
pub(super) struct FundingWaits {
    blocks: u32,
    since: HashMap<u32, u32>,
    inputs: HashMap<u32, Vec<OutPoint>>,
    /// Seen confirmed this run: not looked for between blocks.
    confirmed: HashSet<u32>,
}

impl Default for FundingWaits {
    fn default() -> Self {
        FundingWaits {
            blocks: FUNDING_TIMEOUT_BLOCKS,
            since: HashMap::new(),
            inputs: HashMap::new(),
            confirmed: HashSet::new(),
        }
    }
}

impl FundingWaits {
    /// The channel `idx` still has no confirmed funding at `height`: whether its time is up.
    pub fn unconfirmed(&mut self, idx: u32, height: u32) -> bool {
        let since = *self.since.entry(idx).or_insert(height);
        height.saturating_sub(since) >= self.blocks
    }

    /// Confirmed or gone: no longer counted.
    pub fn done(&mut self, idx: u32) {
        self.since.remove(&idx);
        self.inputs.remove(&idx);
    }

    /// The funding of channel `idx` confirmed: no longer counted nor looked for between blocks.
    pub fn confirmed(&mut self, idx: u32) {
        self.done(idx);
        self.confirmed.insert(idx);
    }

    /// Whether the funding of channel `idx` was seen confirmed this run.
    pub fn was_confirmed(&self, idx: u32) -> bool {
        self.confirmed.contains(&idx)
    }

    /// The funding of channel `idx` was seen (in the mempool or a block): its inputs.
    pub fn seen(&mut self, idx: u32, funding: &Transaction) {
        let inputs = funding.input.iter().map(|i| i.previous_output).collect();
        self.inputs.insert(idx, inputs);
    }

    /// The inputs of channel `idx`'s funding, when it was seen this run.
    pub fn inputs(&self, idx: u32) -> Option<&[OutPoint]> {
        self.inputs.get(&idx).map(Vec::as_slice)
    }
}

/// Resolves at `deadline`; never without one.
pub(super) async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};

    fn peer(b: u8) -> PublicKey {
        SecretKey::from_slice(&[b; 32])
            .unwrap()
            .public_key(&Secp256k1::new())
    }

    fn limits() -> PeerLimits {
        PeerLimits {
            max_pending_opens_per_peer: 2,
            max_pending_opens: 3,
            pending_open_timeout: Duration::from_secs(60),
            ..PeerLimits::default()
        }
    }

    #[test]
    fn opens_are_capped_per_peer_and_in_total() {
        let mut p = PendingOpens::new(&limits());
        let now = Instant::now();
        p.insert(1, peer(1), now);
        p.insert(2, peer(1), now);
        let e = p.admit(&peer(1)).unwrap_err();
        assert_eq!(e, OpenLimit::PerPeer(2));
        assert!(e.to_string().contains("max_pending_opens_per_peer = 2"));
        p.admit(&peer(2)).unwrap();
        p.insert(3, peer(2), now);
        let e = p.admit(&peer(3)).unwrap_err();
        assert!(e.to_string().contains("max_pending_opens = 3"));
        // A funded (or dropped) open frees its place.
        p.remove(1);
        p.admit(&peer(1)).unwrap();
        p.admit(&peer(3)).unwrap();
    }

    #[test]
    fn an_unconfirmed_funding_is_given_up_after_2016_blocks() {
        let mut w = FundingWaits::default();
        assert!(!w.unconfirmed(7, 100));
        assert!(!w.unconfirmed(7, 100 + 2015));
        assert!(w.unconfirmed(7, 100 + 2016));
        // Confirmed in between: the count starts over if it ever waits again.
        w.done(7);
        assert!(!w.unconfirmed(7, 100 + 2016));
    }

    #[test]
    fn a_seen_funding_keeps_its_inputs_until_confirmed() {
        let mut w = FundingWaits::default();
        let input = OutPoint::new(bitcoin::hashes::Hash::from_byte_array([3; 32]), 1);
        let funding = Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![bitcoin::TxIn {
                previous_output: input,
                ..Default::default()
            }],
            output: Vec::new(),
        };
        assert_eq!(w.inputs(4), None);
        w.seen(4, &funding);
        assert_eq!(w.inputs(4), Some(&[input][..]));
        assert!(!w.was_confirmed(4));
        // Confirmed: nothing left to watch, and not looked for between blocks again.
        w.confirmed(4);
        assert_eq!(w.inputs(4), None);
        assert!(w.was_confirmed(4));
    }

    #[test]
    fn opens_expire_after_the_timeout() {
        let mut p = PendingOpens::new(&limits());
        let t0 = Instant::now();
        p.insert(1, peer(1), t0);
        p.insert(2, peer(2), t0 + Duration::from_secs(30));
        assert_eq!(p.next_deadline(), Some(t0 + Duration::from_secs(60)));
        assert_eq!(
            p.all(t0 + Duration::from_secs(59)),
            [(1, false), (2, false)]
        );
        assert_eq!(p.all(t0 + Duration::from_secs(60)), [(1, true), (2, false)]);
        p.remove(1);
        assert_eq!(p.next_deadline(), Some(t0 + Duration::from_secs(90)));
        assert_eq!(p.all(t0).len(), 1);
    }
}
