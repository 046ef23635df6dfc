//! Gossip sync and relay with each peer, as a pure core: peer events, messages and the clock
//! in, [`Action`]s out. The runtime sends what [`Action::Send`] says, in order, and calls
//! [`GossipSync::tick`] about once a second.
//!
//! - Every peer offering `gossip_queries` gets a `gossip_timestamp_filter` for the last
//!   [`SyncConfig::filter_backlog_secs`] and onwards; up to [`SyncConfig::max_sync_peers`] of
//!   them are also asked for the whole chain's channels (the `client` module).
//! - Peers' queries are answered a step at a time through the per-tick budget; a second query
//!   of a kind while one is being answered ends the connection.
//! - Accepted gossip is relayed on the stagger of [`SyncConfig::flush_interval_secs`] (the
//!   `relay` module). A peer that never sent a filter (every peer without `gossip_queries`)
//!   gets only our own gossip, as BOLT 7 asks.

use std::collections::{HashMap, VecDeque};

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::PublicKey;
use thiserror::Error;

use super::answer::{Dump, ScidAnswer, ALL_FLAGS};
use super::client::SyncClient;
use super::range::RangeAnswer;
use super::relay::{admits, RelayBatch, RelayQueue};
use super::GraphQuery;
use crate::wire::{
    Feature, Features, GossipTimestampFilter, Message, QueryShortChannelIds, ShortChannelId,
    TlvStream,
};

mod config;
pub use config::SyncConfig;

/// A peer's gossip-query misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SyncFault {
    #[error("gossip query reply for another chain")]
    WrongChain,
    #[error("gossip query reply we did not ask for")]
    Unsolicited,
    #[error("reply_channel_range parts do not cover the queried range in order")]
    RangeNotCovered,
    #[error("reply_channel_range lists a channel outside its blocks")]
    IdOutsideRange,
    #[error("reply_channel_range ids are not ascending")]
    IdsNotAscending,
    #[error("too many reply_channel_range parts")]
    TooManyParts,
    #[error("too many channels in reply_channel_range")]
    TooManyIds,
    #[error("query_channel_range while the previous one is being answered")]
    RangeQueryOverlap,
    #[error("query_short_channel_ids while the previous one is being answered")]
    ScidQueryOverlap,
}

/// What the runtime must do, in order.
// Actions are moved straight to the runtime; boxing the message would only add an allocation
// per message sent.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this message to the peer.
    Send(PublicKey, Message),
    /// The peer broke the protocol in a way that ends the connection: send it a `warning`
    /// with the reason, then disconnect (and call [`GossipSync::peer_disconnected`]).
    Disconnect(PublicKey, SyncFault),
    /// The peer sent bad query replies: count it against the peer (the connection stays).
    /// Its sync, if any, was abandoned.
    Penalise(PublicKey, SyncFault),
}

/// Counters for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Initial syncs that ran to the end.
    pub syncs_completed: u64,
    /// Initial syncs given up (timeout or a faulty peer).
    pub syncs_abandoned: u64,
    /// Relayed messages dropped from full peer queues.
    pub relay_dropped: u64,
    /// Accepted messages not batched because the batch was full.
    pub batch_dropped: u64,
}

#[derive(Debug)]
enum SyncRole {
    /// Not (yet) a sync peer.
    Idle,
    Syncing(Box<SyncClient>),
    /// Synced with, or given up for bad replies: not asked again on this connection.
    Finished,
    /// Given up for silence: its late replies are ignored, not held against it, and nothing
    /// more is asked of it on this connection.
    TimedOut,
}

#[derive(Debug)]
struct Peer {
    gossip_queries: bool,
    /// The peer's `gossip_timestamp_filter`: `(first_timestamp, timestamp_range)`.
    filter: Option<(u32, u32)>,
    /// Answers to its queries, ready to send (small: one step's output).
    replies: VecDeque<Message>,
    range_answer: Option<RangeAnswer>,
    scid_answer: Option<ScidAnswer>,
    dump: Option<Dump>,
    /// Our own gossip: never dropped, sent first.
    own: VecDeque<Message>,
    relay: RelayQueue,
    role: SyncRole,
    /// Channels the runtime asked us to fetch from this peer, and whether such a query awaits
    /// its end.
    requested: VecDeque<ShortChannelId>,
    request_outstanding: bool,
    sent_this_tick: usize,
    lookups_this_tick: usize,
}

/// Gossip sync and relay for every connected peer.
#[derive(Debug)]
pub struct GossipSync {
    chain_hash: ChainHash,
    config: SyncConfig,
    peers: HashMap<PublicKey, Peer>,
    batch: RelayBatch,
    next_flush: u64,
    stats: SyncStats,
}

impl GossipSync {
    pub fn new(chain_hash: ChainHash, config: SyncConfig, now: u64) -> Self {
        let next_flush = now + config.flush_interval_secs;
        Self {
            chain_hash,
            config,
            peers: HashMap::new(),
            batch: RelayBatch::default(),
            next_flush,
            stats: SyncStats::default(),
        }
    }

    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    pub fn stats(&self) -> SyncStats {
        SyncStats {
            batch_dropped: self.batch.dropped,
            ..self.stats
        }
    }

    /// Relayed messages dropped for this peer since it connected.
    pub fn peer_dropped(&self, peer: &PublicKey) -> Option<u64> {
        self.peers.get(peer).map(|p| p.relay.dropped)
    }

    /// Whether our initial sync with this peer is running.
    pub fn is_syncing(&self, peer: &PublicKey) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|p| matches!(p.role, SyncRole::Syncing(_)))
    }

    /// A peer finished `init`: our filter for peers offering `gossip_queries`, and our
    /// range query when it becomes a sync peer.
    pub fn peer_connected(
        &mut self,
        peer: PublicKey,
        their_features: &Features,
        now: u64,
    ) -> Vec<Action> {
        // BOLT 9 now marks gossip_queries ASSUMED: a node may leave its bits unset and still
        // answer queries, so every peer is treated as a gossip_queries peer.
        let gossip_queries =
            their_features.supports(Feature::GossipQueries) || Feature::GossipQueries.is_assumed();
        self.peers.insert(
            peer,
            Peer {
                gossip_queries,
                filter: None,
                replies: VecDeque::new(),
                range_answer: None,
                scid_answer: None,
                dump: None,
                own: VecDeque::new(),
                relay: RelayQueue::default(),
                role: SyncRole::Idle,
                requested: VecDeque::new(),
                request_outstanding: false,
                sent_this_tick: 0,
                lookups_this_tick: 0,
            },
        );
        let mut actions = Vec::new();
        if gossip_queries {
            let first = u32::try_from(now)
                .unwrap_or(u32::MAX)
                .saturating_sub(self.config.filter_backlog_secs);
            actions.push(Action::Send(
                peer,
                Message::GossipTimestampFilter(GossipTimestampFilter {
                    chain_hash: self.chain_hash,
                    first_timestamp: first,
                    timestamp_range: u32::MAX - first,
                    excess_data: Vec::new(),
                }),
            ));
        }
        self.fill_sync_slots(now, &mut actions);
        actions
    }

    pub fn peer_disconnected(&mut self, peer: &PublicKey) {
        if let Some(p) = self.peers.remove(peer) {
            if matches!(p.role, SyncRole::Syncing(_)) {
                self.stats.syncs_abandoned += 1;
            }
        }
    }

    /// A gossip message our validator accepted, to relay at the next flush; `origin` is the
    /// peer it came from, `None` for our own (sent to every peer, filters aside).
    pub fn on_accepted(&mut self, origin: Option<PublicKey>, msg: Message) {
        self.batch.accept(
            origin,
            msg,
            self.config.max_batch,
            self.config.max_waiting_announcements,
        );
    }

    /// Asks a peer about channels we lack, typically one whose `channel_update` it sent
    /// without our knowing the channel. Queued behind our sync with that peer (one id query at
    /// a time); at most `max_requested` wait, the rest are ignored. Nothing for a peer without
    /// `gossip_queries`.
    pub fn request_channels(&mut self, peer: PublicKey, scids: &[ShortChannelId]) -> Vec<Action> {
        let mut actions = Vec::new();
        let cap = self.config.max_requested;
        let Some(p) = self.peers.get_mut(&peer) else {
            return actions;
        };
        if !p.gossip_queries {
            return actions;
        }
        for s in scids {
            if p.requested.len() < cap && !p.requested.contains(s) {
                p.requested.push_back(*s);
            }
        }
        self.send_requested(peer, &mut actions);
        actions
    }

    /// Sends the next chunk of requested channels when no id query to that peer is running.
    fn send_requested(&mut self, peer: PublicKey, actions: &mut Vec<Action>) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.request_outstanding || matches!(p.role, SyncRole::Syncing(_)) || p.requested.is_empty()
        {
            return;
        }
        let n = p.requested.len().min(self.config.query_chunk.max(1));
        let ids: Vec<_> = p.requested.drain(..n).collect();
        p.request_outstanding = true;
        actions.push(Action::Send(
            peer,
            Message::QueryShortChannelIds(QueryShortChannelIds {
                chain_hash: self.chain_hash,
                query_flags: Some(vec![ALL_FLAGS; ids.len()]),
                short_channel_ids: ids,
                extra_tlvs: TlvStream::default(),
            }),
        ));
    }

    /// A message from a peer. Gossip queries and replies are handled here; announcements and
    /// updates go to the validator (only their arrival counts, as sync progress).
    pub fn on_message(
        &mut self,
        peer: PublicKey,
        msg: &Message,
        graph: &impl GraphQuery,
        now: u64,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let chain_hash = self.chain_hash;
        let Some(p) = self.peers.get_mut(&peer) else {
            return actions;
        };
        match msg {
            Message::QueryChannelRange(q) => {
                if p.range_answer.is_some() {
                    actions.push(Action::Disconnect(peer, SyncFault::RangeQueryOverlap));
                    return actions;
                }
                p.range_answer = Some(RangeAnswer::new(q, chain_hash));
            }
            Message::QueryShortChannelIds(q) => {
                if p.scid_answer.is_some() {
                    actions.push(Action::Disconnect(peer, SyncFault::ScidQueryOverlap));
                    return actions;
                }
                p.scid_answer = Some(ScidAnswer::new(q, chain_hash));
            }
            Message::GossipTimestampFilter(f) => {
                if f.chain_hash == chain_hash {
                    p.filter = Some((f.first_timestamp, f.timestamp_range));
                    // A new filter replaces the old one and its dump.
                    let past = u64::from(f.first_timestamp) <= now && f.timestamp_range > 0;
                    p.dump = past.then(|| Dump::new(f.first_timestamp, f.timestamp_range));
                } else {
                    p.filter = None;
                    p.dump = None;
                }
            }
            Message::ReplyChannelRange(r) => {
                let result = match &mut p.role {
                    SyncRole::Syncing(c) => c.on_range(r, graph, &self.config, now),
                    SyncRole::TimedOut => Ok(None),
                    _ => Err(SyncFault::Unsolicited),
                };
                self.after_reply(peer, result, &mut actions);
                self.fill_sync_slots(now, &mut actions);
            }
            Message::ReplyShortChannelIdsEnd(e) => {
                let result = match &mut p.role {
                    SyncRole::Syncing(c) => c.on_end(e, &self.config, now),
                    SyncRole::TimedOut => Ok(None),
                    _ if p.request_outstanding && e.chain_hash == chain_hash => {
                        p.request_outstanding = false;
                        Ok(None)
                    }
                    _ if p.request_outstanding => Err(SyncFault::WrongChain),
                    _ => Err(SyncFault::Unsolicited),
                };
                self.after_reply(peer, result, &mut actions);
                self.fill_sync_slots(now, &mut actions);
            }
            Message::ChannelAnnouncement(_)
            | Message::ChannelUpdate(_)
            | Message::NodeAnnouncement(_) => {
                if let SyncRole::Syncing(c) = &mut p.role {
                    c.last_progress = now;
                }
            }
            _ => {}
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            pump(peer, p, graph, &self.config, &mut actions);
        }
        actions
    }

    /// The clock: gives up silent sync peers, starts syncs with free slots, flushes the relay
    /// batch when due, and sends each peer its share of this tick's budget.
    pub fn tick(&mut self, now: u64, graph: &impl GraphQuery) -> Vec<Action> {
        let mut actions = Vec::new();
        for p in self.peers.values_mut() {
            if let SyncRole::Syncing(c) = &p.role {
                if now.saturating_sub(c.last_progress) >= self.config.sync_timeout_secs {
                    p.role = SyncRole::TimedOut;
                    self.stats.syncs_abandoned += 1;
                }
            }
        }
        self.fill_sync_slots(now, &mut actions);
        if now >= self.next_flush {
            self.flush();
            self.next_flush = now + self.config.flush_interval_secs;
        }
        let mut peers: Vec<_> = self.peers.keys().copied().collect();
        peers.sort();
        for peer in peers {
            if let Some(p) = self.peers.get_mut(&peer) {
                p.sent_this_tick = 0;
                p.lookups_this_tick = 0;
                pump(peer, p, graph, &self.config, &mut actions);
            }
        }
        actions
    }

    fn after_reply(
        &mut self,
        peer: PublicKey,
        result: Result<Option<Message>, SyncFault>,
        actions: &mut Vec<Action>,
    ) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        match result {
            Ok(next) => {
                if let Some(m) = next {
                    actions.push(Action::Send(peer, m));
                }
                if matches!(&p.role, SyncRole::Syncing(c) if c.is_done()) {
                    p.role = SyncRole::Finished;
                    self.stats.syncs_completed += 1;
                }
            }
            Err(fault) => {
                if matches!(p.role, SyncRole::Syncing(_)) {
                    p.role = SyncRole::Finished;
                    self.stats.syncs_abandoned += 1;
                }
                p.request_outstanding = false;
                actions.push(Action::Penalise(peer, fault));
            }
        }
        self.send_requested(peer, actions);
    }

    /// Starts syncs with connected `gossip_queries` peers not yet asked, while fewer than
    /// `max_sync_peers` syncs run or ran to the end.
    fn fill_sync_slots(&mut self, now: u64, actions: &mut Vec<Action>) {
        let busy = self
            .peers
            .values()
            .filter(|p| matches!(p.role, SyncRole::Syncing(_)))
            .count() as u64;
        let mut free =
            (self.config.max_sync_peers as u64).saturating_sub(busy + self.stats.syncs_completed);
        if free == 0 {
            return;
        }
        let mut candidates: Vec<_> = self
            .peers
            .iter()
            .filter(|(_, p)| p.gossip_queries && matches!(p.role, SyncRole::Idle))
            .map(|(k, _)| *k)
            .collect();
        candidates.sort();
        for peer in candidates {
            if free == 0 {
                break;
            }
            let (client, query) = SyncClient::start(self.chain_hash, now);
            if let Some(p) = self.peers.get_mut(&peer) {
                p.role = SyncRole::Syncing(Box::new(client));
                actions.push(Action::Send(peer, query));
                free -= 1;
            }
        }
    }

    /// Hands the batch to every peer it is for.
    fn flush(&mut self) {
        let batch = self.batch.take();
        let cap = self.config.relay_queue_cap;
        for (id, p) in self.peers.iter_mut() {
            for b in &batch {
                match b.origin {
                    None => {
                        if p.own.len() < cap {
                            p.own.push_back(b.msg.clone());
                        }
                    }
                    Some(origin) if origin == *id => {}
                    Some(_) => {
                        if admits(p.filter, b.timestamp) && p.relay.push(b.msg.clone(), cap) {
                            self.stats.relay_dropped += 1;
                        }
                    }
                }
            }
        }
    }
}

/// Sends what the peer's budget allows this tick: query answers first, then our own gossip,
/// relayed gossip, and the filter's dump last.
fn pump(
    peer: PublicKey,
    p: &mut Peer,
    graph: &impl GraphQuery,
    cfg: &SyncConfig,
    actions: &mut Vec<Action>,
) {
    while p.sent_this_tick < cfg.max_messages_per_tick {
        if let Some(m) = p.replies.pop_front() {
            actions.push(Action::Send(peer, m));
            p.sent_this_tick += 1;
            continue;
        }
        if p.lookups_this_tick < cfg.max_lookups_per_tick {
            if let Some(a) = &mut p.scid_answer {
                p.lookups_this_tick += 1;
                if a.step(graph, &mut p.replies) {
                    p.scid_answer = None;
                }
                continue;
            }
            if let Some(a) = &mut p.range_answer {
                p.lookups_this_tick += 1;
                match a.next_part(graph, cfg.max_ids_per_reply) {
                    Some(part) => p.replies.push_back(Message::ReplyChannelRange(part)),
                    None => p.range_answer = None,
                }
                continue;
            }
        }
        if let Some(m) = p.own.pop_front().or_else(|| p.relay.pop()) {
            actions.push(Action::Send(peer, m));
            p.sent_this_tick += 1;
            continue;
        }
        if p.lookups_this_tick < cfg.max_lookups_per_tick {
            if let Some(d) = &mut p.dump {
                p.lookups_this_tick += 1;
                if d.step(graph, &mut p.replies) {
                    p.dump = None;
                }
                continue;
            }
        }
        break;
    }
}

#[cfg(test)]
mod tests;
