//! The gossip task's loop: one queue (peer traffic, our channels, funding lookups' answers)
//! and a tick. The pure cores decide; this file sends, looks up, stores.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::PublicKey;
use bitcoin::OutPoint;
use tokio::sync::{mpsc, watch};

use super::funding;
use super::inbox::{OurChannelFacts, Request};
use crate::chain::ChainSource;
use crate::gossip::graph::NetworkGraph;
use crate::gossip::ours::{OwnAction, OwnAnnouncements};
use crate::gossip::sync::{Action, GossipSync};
use crate::gossip::validate::{
    FundingCheck, FundingLookup, GossipCounters, GraphChange, Harmless, Validator, Verdict,
};
use crate::keys::KeysManager;
use crate::net::{Credit, PeerManager};
use crate::payments::SharedPolicy;
use crate::store::Store;
use crate::wire::{ChannelAnnouncement, Diagnostic, Message, ShortChannelId, Warning, WireMessage};

/// The graph, shared with its readers (the API; the pathfinder next). Held only for short
/// synchronous sections, never across an await.
pub type SharedGraph = Arc<RwLock<NetworkGraph>>;

/// What the gossip task shows the API: the graph and its counters (copied after each
/// message and each tick).
#[derive(Clone, Default)]
pub struct GossipShared {
    pub graph: SharedGraph,
    pub counters: Arc<Mutex<GossipStats>>,
}

/// Gossip counters since start, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GossipStats {
    pub validation: GossipCounters,
    pub sync: crate::gossip::SyncStats,
}

/// Faults a peer may commit (bad signatures, invalid funding, broken queries) before we hang
/// up on it; the count resets when it reconnects.
pub const MAX_PEER_FAULTS: u32 = 10;

/// Messages of one peer parked while its funding lookups are at their bound: their credits
/// stay held, so the peer's socket is no longer read until lookups finish.
const MAX_PARKED_PER_PEER: usize = 64;

/// `node_announcement`s that came before any channel of their node was accepted (typically
/// while that channel's funding lookup ran): tried again when one is. Bounded; past it they
/// are dropped, and the node's next announcement (or a sync) brings it back.
const MAX_EARLY_NODES: usize = 256;

pub(super) struct Task {
    pub node_id: PublicKey,
    pub keys: Arc<KeysManager>,
    pub store: Store,
    pub chain: Arc<dyn ChainSource>,
    pub peers: PeerManager,
    pub policy: SharedPolicy,
    pub graph: SharedGraph,
    pub counters: Arc<Mutex<GossipStats>>,
    pub validator: Validator,
    pub sync: GossipSync,
    pub own: OwnAnnouncements,
    pub tick: Duration,
    /// Funding outpoints of the graph's channels, to notice their spends in new blocks.
    pub outpoints: HashMap<OutPoint, ShortChannelId>,
    /// Changes not yet written (one transaction per tick).
    pub unwritten: Vec<GraphChange>,
    pub height: Option<u32>,
    pub faults: HashMap<PublicKey, u32>,
    pub parked: HashMap<PublicKey, VecDeque<(Message, Credit)>>,
    /// Peers we hung up on: what they had queued is dropped unread, until they reconnect.
    pub hung_up: HashSet<PublicKey>,
    /// See [`MAX_EARLY_NODES`]: by node, with who sent it (`None`: ours).
    pub early_nodes: HashMap<PublicKey, (Option<PublicKey>, Message)>,
    pub lookups: (
        mpsc::UnboundedSender<LookupAnswer>,
        mpsc::UnboundedReceiver<LookupAnswer>,
    ),
}

/// A funding lookup's answer, and the outpoint it found.
pub(super) type LookupAnswer = (FundingLookup, FundingCheck, Option<OutPoint>);

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn now_u32() -> u32 {
    u32::try_from(now_secs()).unwrap_or(u32::MAX)
}

impl Task {
    pub(super) async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Request>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = crate::net::stopped(&mut shutdown) => break,
                req = rx.recv() => match req {
                    Some(r) => self.request(r).await,
                    None => break,
                },
                Some((lookup, check, outpoint)) = self.lookups.1.recv() => {
                    self.funding_answer(lookup, check, outpoint).await;
                }
                _ = tick.tick() => self.on_tick().await,
            }
        }
        self.write().await;
    }

    async fn request(&mut self, r: Request) {
        match r {
            Request::PeerConnected { peer, features, .. } => {
                self.faults.remove(&peer);
                self.hung_up.remove(&peer);
                self.parked.remove(&peer);
                let actions = self.sync.peer_connected(peer, &features, now_secs());
                self.act(actions).await;
                let own = self.own.peer_connected(peer);
                self.own_actions(own).await;
            }
            Request::PeerDisconnected { peer, conn } => {
                // A newer connection of the same peer may already be up.
                if self.peers.connection_of(&peer).is_some_and(|c| c > conn) {
                    return;
                }
                self.sync.peer_disconnected(&peer);
                self.own.peer_disconnected(&peer, now_secs());
                self.parked.remove(&peer);
                // Its queued messages came before this: nothing of it is left to drop. Its
                // faults start again on its next connection anyway: forget them now, so
                // strangers that come and go leave nothing behind.
                self.hung_up.remove(&peer);
                self.faults.remove(&peer);
            }
            Request::Message {
                peer,
                message,
                credit,
            } => self.message(peer, message, credit).await,
            Request::AnnouncementSignatures {
                peer,
                message,
                credit,
            } => {
                let policy = self.fee_policy();
                let out = self.own.on_signatures(peer, message, policy, now_secs());
                self.own_actions(out).await;
                drop(credit);
            }
            Request::OurChannel(facts) => self.our_channel(*facts).await,
            Request::OurChannelClosed(id) => self.own.remove_channel(&id),
        }
    }

    fn fee_policy(&self) -> crate::payments::FeePolicy {
        *self.policy.read().unwrap_or_else(|p| p.into_inner())
    }

    async fn our_channel(&mut self, facts: OurChannelFacts) {
        let funding_key = match self.keys.channel_keys(facts.key_index) {
            Ok(k) => k.funding_key,
            Err(e) => {
                tracing::warn!(channel = facts.key_index, error = %e, "no funding key");
                return;
            }
        };
        let existing = {
            let graph = self.graph.read().unwrap_or_else(|p| p.into_inner());
            graph.channel(facts.channel.scid).and_then(|c| {
                let a = ChannelAnnouncement::decode(&c.announcement).ok()?;
                let ours = usize::from(!facts.channel.we_are_first());
                let ts = c.directions[ours].policy.as_ref().map(|p| p.timestamp);
                Some((a, ts))
            })
        };
        let out = self.own.add_channel(
            facts.channel,
            funding_key,
            facts.htlc_minimum_msat,
            facts.htlc_maximum_msat,
            existing,
            self.fee_policy(),
            now_secs(),
        );
        self.own_actions(out).await;
    }

    async fn message(&mut self, peer: PublicKey, message: Message, credit: Credit) {
        if self.hung_up.contains(&peer) {
            return;
        }
        let needs_lookup = matches!(message, Message::ChannelAnnouncement(_));
        if needs_lookup && !self.validator.can_look_up(&peer) {
            let parked = self.parked.entry(peer).or_default();
            if parked.len() < MAX_PARKED_PER_PEER {
                parked.push_back((message, credit));
            }
            return;
        }
        self.handle(peer, message).await;
        drop(credit);
    }

    async fn handle(&mut self, peer: PublicKey, message: Message) {
        let now = now_secs();
        let sync_actions = {
            let graph = self.graph.read().unwrap_or_else(|p| p.into_inner());
            self.sync.on_message(peer, &message, &*graph, now)
        };
        self.act(sync_actions).await;
        self.validate(Some(peer), message).await;
    }

    /// Runs one announcement or update through validation; `origin` `None` for our own.
    async fn validate(&mut self, origin: Option<PublicKey>, message: Message) {
        let bytes = match message.encode() {
            Ok(b) => b,
            Err(_) => return,
        };
        let early_node = match &message {
            Message::NodeAnnouncement(n) => Some((n.contents.node_id, message.clone())),
            _ => None,
        };
        let update_scid = match &message {
            Message::ChannelUpdate(u) => Some(u.short_channel_id),
            _ => None,
        };
        let now = now_u32();
        let from = origin.unwrap_or(self.node_id);
        let verdict = {
            let mut graph = self.graph.write().unwrap_or_else(|p| p.into_inner());
            match message {
                Message::ChannelAnnouncement(m) => {
                    self.validator.channel_announcement(&graph, &from, m, bytes)
                }
                Message::ChannelUpdate(m) => {
                    self.validator.channel_update(&mut graph, m, bytes, now)
                }
                Message::NodeAnnouncement(m) => {
                    self.validator.node_announcement(&mut graph, m, bytes, now)
                }
                _ => return,
            }
        };
        match (&verdict, early_node, update_scid, origin) {
            (Verdict::Ignored(Harmless::UnknownNode), Some((node, m)), _, _)
                if self.early_nodes.len() < MAX_EARLY_NODES
                    || self.early_nodes.contains_key(&node) =>
            {
                self.early_nodes.insert(node, (origin, m));
            }
            (Verdict::Ignored(Harmless::RateLimited), _, Some(scid), None) => {
                tracing::info!(%scid, "our channel_update is rate-limited: signed again later");
                self.own.update_refused(scid, now_secs());
            }
            (Verdict::Ignored(Harmless::UnknownChannel), _, Some(scid), Some(peer)) => {
                // An update for a channel we lack: ask its sender for the announcement.
                let actions = self.sync.request_channels(peer, &[scid]);
                self.act(actions).await;
            }
            _ => {}
        }
        self.verdict(origin, verdict).await;
    }

    async fn verdict(&mut self, origin: Option<PublicKey>, verdict: Verdict) {
        self.publish_counters();
        match verdict {
            Verdict::Accepted(changes) => {
                let mut nodes = Vec::new();
                for c in &changes {
                    if let Some(m) = c.relay_bytes().and_then(|b| Message::decode(b).ok()) {
                        if let Message::ChannelAnnouncement(a) = &m {
                            nodes.extend([a.contents.node_id_1, a.contents.node_id_2]);
                        }
                        self.sync.on_accepted(origin, m);
                    }
                }
                self.unwritten.extend(changes);
                for node in nodes {
                    if let Some((from, m)) = self.early_nodes.remove(&node) {
                        Box::pin(self.validate(from, m)).await;
                    }
                }
            }
            Verdict::CheckFunding(lookup) => {
                let chain = self.chain.clone();
                let tx = self.lookups.0.clone();
                tokio::spawn(async move {
                    let (check, outpoint) = funding::look_up(chain.as_ref(), lookup).await;
                    let _ = tx.send((lookup, check, outpoint));
                });
            }
            Verdict::Rejected(fault) => {
                if let Some(peer) = origin {
                    tracing::info!(%peer, %fault, "bad gossip");
                    self.fault(peer, &fault.to_string()).await;
                } else {
                    tracing::warn!(%fault, "our own gossip was refused");
                }
            }
            Verdict::Ignored(why) => tracing::trace!(?origin, %why, "gossip ignored"),
        }
    }

    fn publish_counters(&self) {
        *self.counters.lock().unwrap_or_else(|p| p.into_inner()) = GossipStats {
            validation: self.validator.counters(),
            sync: self.sync.stats(),
        };
    }

    async fn funding_answer(
        &mut self,
        lookup: FundingLookup,
        check: FundingCheck,
        outpoint: Option<OutPoint>,
    ) {
        let answer = {
            let mut graph = self.graph.write().unwrap_or_else(|p| p.into_inner());
            self.validator
                .funding_checked(&mut graph, lookup.scid, check, now_u32())
        };
        let Some((peer, verdict)) = answer else {
            return;
        };
        if let (Verdict::Accepted(_), Some(o)) = (&verdict, outpoint) {
            self.outpoints.insert(o, lookup.scid);
        }
        let origin = (peer != self.node_id).then_some(peer);
        self.verdict(origin, verdict).await;
        self.unpark(peer).await;
    }

    /// Parked messages of `peer` whose lookups may now start.
    async fn unpark(&mut self, peer: PublicKey) {
        while self.validator.can_look_up(&peer) {
            let Some((m, credit)) = self.parked.get_mut(&peer).and_then(|q| q.pop_front()) else {
                break;
            };
            self.handle(peer, m).await;
            drop(credit);
        }
    }

    async fn fault(&mut self, peer: PublicKey, reason: &str) {
        if self.hung_up.contains(&peer) {
            return;
        }
        let n = self.faults.entry(peer).or_insert(0);
        *n += 1;
        if *n >= MAX_PEER_FAULTS {
            tracing::warn!(%peer, faults = *n, "too much bad gossip: disconnecting");
            self.hang_up(peer, &format!("too much bad gossip (last: {reason})"))
                .await;
        }
    }

    async fn hang_up(&mut self, peer: PublicKey, reason: &str) {
        self.hung_up.insert(peer);
        let w = Warning(Diagnostic::new(crate::wire::ChannelId::ALL, reason));
        let _ = self.peers.send(peer, Message::Warning(w)).await;
        let _ = self.peers.disconnect(peer).await;
        self.sync.peer_disconnected(&peer);
        self.own.peer_disconnected(&peer, now_secs());
        self.parked.remove(&peer);
    }

    async fn act(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send(peer, m) => {
                    let _ = self.peers.send(peer, m).await;
                }
                Action::Disconnect(peer, fault) => self.hang_up(peer, &fault.to_string()).await,
                Action::Penalise(peer, fault) => self.fault(peer, &fault.to_string()).await,
            }
        }
    }

    async fn own_actions(&mut self, actions: Vec<OwnAction>) {
        for a in actions {
            match a {
                OwnAction::Send(peer, m) => {
                    let _ = self.peers.send(peer, m).await;
                }
                OwnAction::Announced { announcement, .. } => {
                    self.validate(None, Message::ChannelAnnouncement(announcement))
                        .await;
                }
                OwnAction::Update(u) => self.validate(None, Message::ChannelUpdate(u)).await,
                OwnAction::Node(n) => self.validate(None, Message::NodeAnnouncement(n)).await,
            }
        }
    }

    async fn on_tick(&mut self) {
        let now = now_secs();
        let own = self.own.tick(self.fee_policy(), now);
        self.own_actions(own).await;
        self.follow_chain().await;
        let actions = {
            let graph = self.graph.read().unwrap_or_else(|p| p.into_inner());
            self.sync.tick(now, &*graph)
        };
        self.act(actions).await;
        self.publish_counters();
        self.write().await;
    }

    /// New blocks: funding outputs spent in them, then what is old enough to forget.
    async fn follow_chain(&mut self) {
        let Ok(tip) = self.chain.tip().await else {
            return;
        };
        let Some(from) = self.height else {
            self.height = Some(tip.height);
            return;
        };
        if tip.height <= from {
            return;
        }
        // A long absence is not scanned block by block: a spent channel then only goes when
        // its updates stop (the two-week rule).
        let start = from.max(tip.height.saturating_sub(144)) + 1;
        for h in start..=tip.height {
            let Ok(Some(hash)) = self.chain.block_hash(h).await else {
                return;
            };
            let Ok(Some(block)) = self.chain.block(&hash).await else {
                return;
            };
            let spent: Vec<ShortChannelId> = block
                .txdata
                .iter()
                .flat_map(|tx| tx.input.iter())
                .filter_map(|i| self.outpoints.get(&i.previous_output).copied())
                .collect();
            let mut graph = self.graph.write().unwrap_or_else(|p| p.into_inner());
            for scid in spent {
                if let Some(c) = self.validator.funding_spent(&mut graph, scid, h) {
                    self.unwritten.push(c);
                }
            }
            self.height = Some(h);
        }
        let forgotten = {
            let mut graph = self.graph.write().unwrap_or_else(|p| p.into_inner());
            self.validator.prune(&mut graph, now_u32(), tip.height)
        };
        for c in &forgotten {
            if let GraphChange::ForgetChannel(scid) = c {
                self.outpoints.retain(|_, s| s != scid);
            }
        }
        self.unwritten.extend(forgotten);
    }

    /// One transaction for everything the graph gained or lost since the last tick. Gossip
    /// is not what keeps money safe: a crash loses at most a tick of it, which peers resend.
    async fn write(&mut self) {
        if self.unwritten.is_empty() {
            return;
        }
        let changes = std::mem::take(&mut self.unwritten);
        let r = self
            .store
            .write(move |tx| crate::store::graph::apply(tx, &changes))
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "graph not written");
        }
    }
}
