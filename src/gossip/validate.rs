//! What makes gossip count, and applying it to the graph. Pure: messages, our clock and the
//! chain's answers in; verdicts and the changes to persist out.
//!
//! A `channel_announcement` takes two calls: [`Validator::channel_announcement`] checks what
//! can be checked without the chain and answers [`Verdict::CheckFunding`]; the runtime looks
//! the funding output up and hands the answer to [`Validator::funding_checked`]. How many
//! such lookups may wait is bounded per peer and in total, so a stranger cannot make us do
//! unbounded chain work.
//!
//! Every verdict says whose fault a refusal is ([`Verdict::is_peer_fault`]): a forged
//! signature, another chain, a funding output that is not there or not the channel's, a
//! malformed field cost the peer that sent it; a duplicate, a stale or rate-limited message,
//! a race with a spend are harmless.

use std::collections::{HashMap, VecDeque};

use bitcoin::constants::ChainHash;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::PublicKey;
use bitcoin::{ScriptBuf, Txid};
use serde::Serialize;

use super::graph::{NetworkGraph, NodeInfo, Policy, RateState};
use crate::bolt3::funding::funding_output;
use crate::wire::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement, ShortChannelId};

/// Funding lookups one peer may have waiting at once; past it its announcements are
/// ignored until answers come back (the runtime should stop reading from it meanwhile).
pub const MAX_LOOKUPS_PER_PEER: usize = 32;
/// Funding lookups waiting at once, all peers together.
pub const MAX_LOOKUPS_TOTAL: usize = 256;
/// Announcements whose funding check failed, remembered (by content, not by scid: a forger
/// must not be able to bar the real channel) so a repeat is refused without the chain.
pub const FAILED_FUNDING_MEMORY: usize = 4096;
/// A message dated further ahead of our clock than this (seconds) is ignored.
pub const MAX_FUTURE_SECS: u32 = 24 * 3600;
/// Rate limit per channel direction and per node: a burst of this many messages…
pub const RATE_BURST: u8 = 4;
/// …then one more per this many seconds…
pub const RATE_REFILL_SECS: u32 = 300;
/// …and never more than this many accepted in a day.
pub const RATE_DAILY_CAP: u16 = 48;

/// A refusal that is the sending peer's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("for another chain")]
    WrongChain,
    #[error("node ids not in ascending order")]
    NodeIdsOutOfOrder,
    #[error("a signature does not verify")]
    BadSignature,
    #[error("no such funding output on chain")]
    FundingMissing,
    #[error("the funding output is not the 2-of-2 of the announced funding keys")]
    FundingScriptMismatch,
    #[error("htlc_maximum_msat above the channel's capacity")]
    HtlcMaximumAboveCapacity,
    #[error("malformed message")]
    Malformed,
}

/// A refusal that is nobody's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Harmless {
    #[error("already known")]
    Duplicate,
    #[error("not newer than what we have")]
    Stale,
    #[error("dated more than a day ahead")]
    FutureTimestamp,
    #[error("rate-limited")]
    RateLimited,
    #[error("unknown channel")]
    UnknownChannel,
    #[error("node without an announced channel")]
    UnknownNode,
    #[error("marked dont_forward")]
    DontForward,
    #[error("the funding output is spent")]
    FundingSpent,
    #[error("the chain could not answer")]
    ChainUnavailable,
    #[error("too many funding lookups waiting")]
    TooManyLookups,
    #[error("held until its channel's announcement is checked")]
    Held,
}

/// One change to the graph, to persist (and, for the first three, to relay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphChange {
    Channel {
        scid: ShortChannelId,
        capacity_sat: u64,
        /// The funding transaction: with the scid's output index, the outpoint whose spend
        /// the runtime watches.
        funding_txid: Txid,
        added_at: u32,
        /// The `channel_announcement`, type included.
        announcement: Vec<u8>,
    },
    Update {
        scid: ShortChannelId,
        direction: u8,
        timestamp: u32,
        /// The `channel_update`, type included.
        bytes: Vec<u8>,
    },
    Node {
        node_id: PublicKey,
        timestamp: u32,
        /// The `node_announcement`, type included.
        bytes: Vec<u8>,
    },
    Spent {
        scid: ShortChannelId,
        height: u32,
    },
    ForgetChannel(ShortChannelId),
    ForgetNode(PublicKey),
}

impl GraphChange {
    /// The message bytes to relay, for an accepted message.
    pub fn relay_bytes(&self) -> Option<&[u8]> {
        match self {
            GraphChange::Channel { announcement, .. } => Some(announcement),
            GraphChange::Update { bytes, .. } | GraphChange::Node { bytes, .. } => Some(bytes),
            _ => None,
        }
    }
}

/// Where the runtime must look for a channel's funding output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FundingLookup {
    pub scid: ShortChannelId,
    pub block_height: u32,
    pub tx_index: u32,
    pub output_index: u16,
}

/// The runtime's answer to a [`FundingLookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FundingCheck {
    /// The output exists and is unspent.
    Unspent {
        txid: Txid,
        script_pubkey: ScriptBuf,
        amount_sat: u64,
    },
    /// The block is known and has no such transaction or output.
    Missing,
    /// The output exists but is spent.
    Spent,
    /// The chain could not say (backend down, block not yet there): nobody's fault.
    Unavailable,
}

/// The outcome of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Applied to the graph. The first change is the message itself; updates held for a
    /// newly accepted channel follow it.
    Accepted(Vec<GraphChange>),
    /// Look this funding output up and call [`Validator::funding_checked`].
    CheckFunding(FundingLookup),
    Ignored(Harmless),
    Rejected(Fault),
}

impl Verdict {
    /// Whether the peer that sent the message should pay for it.
    pub fn is_peer_fault(&self) -> bool {
        matches!(self, Verdict::Rejected(_))
    }
}

/// Accepted and refused messages of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    pub accepted: u64,
    /// Refused as the peer's fault.
    pub rejected: u64,
    /// Refused as harmless.
    pub ignored: u64,
}

impl KindCounts {
    fn count(&mut self, v: &Verdict) {
        match v {
            Verdict::Accepted(_) => self.accepted += 1,
            Verdict::Rejected(_) => self.rejected += 1,
            Verdict::Ignored(_) => self.ignored += 1,
            Verdict::CheckFunding(_) => {}
        }
    }
}

/// Counters for /metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GossipCounters {
    pub channel_announcement: KindCounts,
    pub channel_update: KindCounts,
    pub node_announcement: KindCounts,
}

/// A `channel_announcement` waiting for its funding output.
struct PendingLookup {
    peer: PublicKey,
    announcement: ChannelAnnouncement,
    bytes: Vec<u8>,
    /// Updates for it that came meanwhile, one per direction, applied (after their own
    /// checks) once it is accepted. Bounded by the lookups' bound.
    held: [Option<(ChannelUpdate, Vec<u8>)>; 2],
}

/// Validation state: the lookups in flight, funding failures remembered, counters.
pub struct Validator {
    chain_hash: ChainHash,
    pending: HashMap<u64, PendingLookup>,
    per_peer: HashMap<PublicKey, usize>,
    failed: HashMap<[u8; 32], Fault>,
    failed_order: VecDeque<[u8; 32]>,
    counters: GossipCounters,
}

/// What identifies an announcement in the failure memory: the hash of its signed part.
fn content_id(a: &ChannelAnnouncement) -> [u8; 32] {
    sha256::Hash::hash(&a.contents.signed_bytes()).to_byte_array()
}

/// Spends a token of `rate` at `now`, if the burst, the refill and the daily cap allow.
fn take_token(rate: &mut RateState, now: u32) -> bool {
    if rate.refilled_at == 0 && rate.day_start == 0 {
        // First message seen: a full burst.
        *rate = RateState {
            tokens: RATE_BURST,
            refilled_at: now,
            day_start: now,
            today: 0,
        };
    }
    let earned = now.saturating_sub(rate.refilled_at) / RATE_REFILL_SECS;
    if earned > 0 {
        rate.tokens = (u32::from(rate.tokens) + earned).min(u32::from(RATE_BURST)) as u8;
        rate.refilled_at = now;
    }
    if now.saturating_sub(rate.day_start) >= 24 * 3600 {
        rate.day_start = now;
        rate.today = 0;
    }
    if rate.tokens == 0 || rate.today >= RATE_DAILY_CAP {
        return false;
    }
    rate.tokens -= 1;
    rate.today += 1;
    true
}

impl Validator {
    pub fn new(chain_hash: ChainHash) -> Self {
        Self {
            chain_hash,
            pending: HashMap::new(),
            per_peer: HashMap::new(),
            failed: HashMap::new(),
            failed_order: VecDeque::new(),
            counters: GossipCounters::default(),
        }
    }

    pub fn counters(&self) -> GossipCounters {
        self.counters
    }

    /// Funding lookups waiting, all peers.
    pub fn lookups_pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether `peer` may start another funding lookup (a runtime pauses reading from a peer
    /// that may not).
    pub fn can_look_up(&self, peer: &PublicKey) -> bool {
        self.pending.len() < MAX_LOOKUPS_TOTAL
            && self.per_peer.get(peer).copied().unwrap_or(0) < MAX_LOOKUPS_PER_PEER
    }

    /// First step for a `channel_announcement` (`bytes` its encoding, type included).
    pub fn channel_announcement(
        &mut self,
        graph: &NetworkGraph,
        peer: &PublicKey,
        msg: ChannelAnnouncement,
        bytes: Vec<u8>,
    ) -> Verdict {
        let v = self.check_announcement(graph, peer, msg, bytes);
        self.counters.channel_announcement.count(&v);
        v
    }

    fn check_announcement(
        &mut self,
        graph: &NetworkGraph,
        peer: &PublicKey,
        msg: ChannelAnnouncement,
        bytes: Vec<u8>,
    ) -> Verdict {
        let c = &msg.contents;
        let scid = c.short_channel_id;
        if c.chain_hash != self.chain_hash {
            return Verdict::Rejected(Fault::WrongChain);
        }
        if c.node_id_1.serialize() >= c.node_id_2.serialize() {
            return Verdict::Rejected(Fault::NodeIdsOutOfOrder);
        }
        if graph.channel(scid).is_some() || self.pending.contains_key(&scid.0) {
            return Verdict::Ignored(Harmless::Duplicate);
        }
        if !msg.verify() {
            return Verdict::Rejected(Fault::BadSignature);
        }
        if let Some(fault) = self.failed.get(&content_id(&msg)) {
            return Verdict::Rejected(*fault);
        }
        if !self.can_look_up(peer) {
            return Verdict::Ignored(Harmless::TooManyLookups);
        }
        *self.per_peer.entry(*peer).or_insert(0) += 1;
        self.pending.insert(
            scid.0,
            PendingLookup {
                peer: *peer,
                announcement: msg,
                bytes,
                held: [None, None],
            },
        );
        Verdict::CheckFunding(FundingLookup {
            scid,
            block_height: scid.block(),
            tx_index: scid.tx_index(),
            output_index: scid.output_index(),
        })
    }

    /// Second step: the chain's answer for `scid`. Returns the peer that sent the
    /// announcement and the verdict, or `None` if no lookup for `scid` was waiting. Every
    /// [`Verdict::CheckFunding`] must be answered ([`FundingCheck::Unavailable`] when the
    /// chain fails): an unanswered lookup keeps its slot.
    pub fn funding_checked(
        &mut self,
        graph: &mut NetworkGraph,
        scid: ShortChannelId,
        check: FundingCheck,
        now: u32,
    ) -> Option<(PublicKey, Verdict)> {
        let p = self.pending.remove(&scid.0)?;
        if let Some(n) = self.per_peer.get_mut(&p.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_peer.remove(&p.peer);
            }
        }
        let c = &p.announcement.contents;
        let v = match check {
            FundingCheck::Unavailable => Verdict::Ignored(Harmless::ChainUnavailable),
            FundingCheck::Spent => Verdict::Ignored(Harmless::FundingSpent),
            FundingCheck::Missing => {
                self.remember_failed(content_id(&p.announcement), Fault::FundingMissing);
                Verdict::Rejected(Fault::FundingMissing)
            }
            FundingCheck::Unspent {
                txid,
                script_pubkey,
                amount_sat,
            } => {
                let expected = funding_output(amount_sat, &c.bitcoin_key_1, &c.bitcoin_key_2);
                if expected.script_pubkey != script_pubkey {
                    self.remember_failed(content_id(&p.announcement), Fault::FundingScriptMismatch);
                    Verdict::Rejected(Fault::FundingScriptMismatch)
                } else if graph.add_channel(
                    scid,
                    c.node_id_1,
                    c.node_id_2,
                    amount_sat,
                    now,
                    p.bytes.clone(),
                ) {
                    let mut changes = vec![GraphChange::Channel {
                        scid,
                        capacity_sat: amount_sat,
                        funding_txid: txid,
                        added_at: now,
                        announcement: p.bytes,
                    }];
                    for (msg, bytes) in p.held.into_iter().flatten() {
                        if let Verdict::Accepted(more) = self.apply_update(graph, msg, bytes, now) {
                            changes.extend(more);
                        }
                    }
                    Verdict::Accepted(changes)
                } else {
                    Verdict::Ignored(Harmless::Duplicate)
                }
            }
        };
        self.counters.channel_announcement.count(&v);
        Some((p.peer, v))
    }

    fn remember_failed(&mut self, id: [u8; 32], fault: Fault) {
        if self.failed.insert(id, fault).is_none() {
            self.failed_order.push_back(id);
            if self.failed_order.len() > FAILED_FUNDING_MEMORY {
                if let Some(old) = self.failed_order.pop_front() {
                    self.failed.remove(&old);
                }
            }
        }
    }

    /// A `channel_update` (`bytes` its encoding, type included), at our clock `now`.
    pub fn channel_update(
        &mut self,
        graph: &mut NetworkGraph,
        msg: ChannelUpdate,
        bytes: Vec<u8>,
        now: u32,
    ) -> Verdict {
        let v = self.check_update(graph, msg, bytes, now);
        self.counters.channel_update.count(&v);
        v
    }

    fn check_update(
        &mut self,
        graph: &mut NetworkGraph,
        msg: ChannelUpdate,
        bytes: Vec<u8>,
        now: u32,
    ) -> Verdict {
        if msg.chain_hash != self.chain_hash {
            return Verdict::Rejected(Fault::WrongChain);
        }
        if msg.dont_forward() {
            return Verdict::Ignored(Harmless::DontForward);
        }
        if msg.timestamp > now.saturating_add(MAX_FUTURE_SECS) {
            return Verdict::Ignored(Harmless::FutureTimestamp);
        }
        if graph.channel(msg.short_channel_id).is_none() {
            // Its announcement may be waiting for the chain: hold the newest per direction.
            let Some(p) = self.pending.get_mut(&msg.short_channel_id.0) else {
                return Verdict::Ignored(Harmless::UnknownChannel);
            };
            let slot = &mut p.held[usize::from(msg.direction())];
            if slot
                .as_ref()
                .is_some_and(|(h, _)| h.timestamp >= msg.timestamp)
            {
                return Verdict::Ignored(Harmless::Stale);
            }
            *slot = Some((msg, bytes));
            return Verdict::Ignored(Harmless::Held);
        }
        self.apply_update(graph, msg, bytes, now)
    }

    /// Checks an update for a known channel and applies it.
    fn apply_update(
        &mut self,
        graph: &mut NetworkGraph,
        msg: ChannelUpdate,
        bytes: Vec<u8>,
        now: u32,
    ) -> Verdict {
        let scid = msg.short_channel_id;
        let dir = usize::from(msg.direction());
        let Some(c) = graph.channel(scid) else {
            return Verdict::Ignored(Harmless::UnknownChannel);
        };
        if c.spent_at.is_some() {
            return Verdict::Ignored(Harmless::FundingSpent);
        }
        if let Some(have) = &c.directions[dir].policy {
            if msg.timestamp < have.timestamp {
                return Verdict::Ignored(Harmless::Stale);
            }
            if msg.timestamp == have.timestamp {
                return Verdict::Ignored(Harmless::Duplicate);
            }
        }
        let (n1, n2) = graph.ends(c);
        let origin = if dir == 0 { n1 } else { n2 };
        if !msg.verify(origin) {
            return Verdict::Rejected(Fault::BadSignature);
        }
        if msg.htlc_maximum_msat > c.capacity_sat.saturating_mul(1000) {
            return Verdict::Rejected(Fault::HtlcMaximumAboveCapacity);
        }
        let Some(policy) = Policy::from_update_bytes(bytes) else {
            return Verdict::Rejected(Fault::Malformed);
        };
        let Some(c) = graph.channel_mut(scid) else {
            return Verdict::Ignored(Harmless::UnknownChannel);
        };
        if !take_token(&mut c.directions[dir].rate, now) {
            return Verdict::Ignored(Harmless::RateLimited);
        }
        let change = GraphChange::Update {
            scid,
            direction: dir as u8,
            timestamp: policy.timestamp,
            bytes: policy.bytes.to_vec(),
        };
        c.directions[dir].policy = Some(policy);
        Verdict::Accepted(vec![change])
    }

    /// A `node_announcement` (`bytes` its encoding, type included), at our clock `now`.
    pub fn node_announcement(
        &mut self,
        graph: &mut NetworkGraph,
        msg: NodeAnnouncement,
        bytes: Vec<u8>,
        now: u32,
    ) -> Verdict {
        let v = self.check_node(graph, msg, bytes, now);
        self.counters.node_announcement.count(&v);
        v
    }

    fn check_node(
        &mut self,
        graph: &mut NetworkGraph,
        msg: NodeAnnouncement,
        bytes: Vec<u8>,
        now: u32,
    ) -> Verdict {
        let c = &msg.contents;
        let Some(node) = graph.node(&c.node_id) else {
            return Verdict::Ignored(Harmless::UnknownNode);
        };
        if c.timestamp > now.saturating_add(MAX_FUTURE_SECS) {
            return Verdict::Ignored(Harmless::FutureTimestamp);
        }
        if let Some(have) = &node.announcement {
            if c.timestamp < have.timestamp {
                return Verdict::Ignored(Harmless::Stale);
            }
            if c.timestamp == have.timestamp {
                return Verdict::Ignored(Harmless::Duplicate);
            }
        }
        if !msg.verify() {
            return Verdict::Rejected(Fault::BadSignature);
        }
        let node_id = c.node_id;
        let timestamp = c.timestamp;
        let Some(node) = graph.node_mut(&node_id) else {
            return Verdict::Ignored(Harmless::UnknownNode);
        };
        if !take_token(&mut node.rate, now) {
            return Verdict::Ignored(Harmless::RateLimited);
        }
        node.announcement = Some(NodeInfo {
            timestamp,
            bytes: bytes.clone().into_boxed_slice(),
        });
        Verdict::Accepted(vec![GraphChange::Node {
            node_id,
            timestamp,
            bytes,
        }])
    }

    /// The chain saw a channel's funding output spent at `height`: it is no longer relayed,
    /// and forgotten [`super::graph::SPENT_FORGET_BLOCKS`] blocks later by [`Validator::prune`].
    pub fn funding_spent(
        &mut self,
        graph: &mut NetworkGraph,
        scid: ShortChannelId,
        height: u32,
    ) -> Option<GraphChange> {
        graph
            .mark_spent(scid, height)
            .then_some(GraphChange::Spent { scid, height })
    }

    /// Forgets channels spent long enough ago and stale ones, and nodes left without a
    /// channel (see [`NetworkGraph::prune`]); run on each block and periodically.
    pub fn prune(&mut self, graph: &mut NetworkGraph, now: u32, height: u32) -> Vec<GraphChange> {
        let pruned = graph.prune(now, height);
        pruned
            .channels
            .into_iter()
            .map(GraphChange::ForgetChannel)
            .chain(pruned.nodes.into_iter().map(GraphChange::ForgetNode))
            .collect()
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
