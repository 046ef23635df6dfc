//! The task that owns every channel: routes inputs, executes outputs in order.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::PublicKey;
use bitcoin::{Amount, Transaction, TxOut, Txid};
use rand::RngCore;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::view::ChannelInfo;
use super::{
    unknown_channel, ChannelEvent, Channels, OpenParams, OpenedChannel, PeerTerms, Request,
};
use crate::chain::{ChainError, ChainSource};
use crate::channel::{
    Channel, ChannelConfig, ChannelState, Command, Event, Format, Input, KeyMaterial, OpenRequest,
    Output, Phase,
};
use crate::error::Error;
use crate::keys::KeysManager;
use crate::net::{ConnId, PeerManager};
use crate::store::{channels as q, Store};
use crate::wallet::{FundedTx, Wallet};
use crate::wire::{ChannelId, Diagnostic, ErrorMessage, Message, OpenChannel};

use super::handler::ChannelPeerHandler;
use super::reported::Reported;
use super::router::{Router, StoreOp, Work};
use crate::payments::SharedPolicy;

/// What the manager needs from the node.
pub struct ManagerConfig {
    pub channel: ChannelConfig,
    pub chain_hash: ChainHash,
    pub network: bitcoin::Network,
    /// The live forwarding fee policy.
    pub policy: SharedPolicy,
    /// Tests drive HTLCs by hand: the router leaves incoming HTLCs alone.
    pub manual_htlcs: bool,
    /// Confirmations after which an on-chain outcome is final (see `monitor`).
    pub resolution_depth: u32,
    /// The most we pay to close cooperatively, as a multiple of the chain's estimate.
    pub max_closing_fee_multiple: u32,
    /// Per incoming peer caps on outgoing channels (see `payments::jamming`).
    pub jamming: crate::payments::jamming::JammingLimits,
    /// Take keysend payments (see `payments::keysend`).
    pub accept_keysend: bool,
    /// How long an incomplete multi-part payment to us is held (`payments::mpp::MPP_TIMEOUT`;
    /// tests shorten it).
    pub mpp_timeout: std::time::Duration,
    /// Peers whose zero-conf channels we accept (`zeroconf_peers`).
    pub zeroconf_peers: HashSet<PublicKey>,
    pub keys: Arc<KeysManager>,
    pub store: Store,
    pub wallet: Arc<Wallet>,
    pub chain: Arc<dyn ChainSource>,
    /// Set when a watchtower is configured: revoked states are queued for it (and this wakes
    /// its client).
    pub tower: Option<super::tower::TowerWake>,
    /// The event log: channel and payment events are written with the state they report.
    pub events: crate::events::EventLog,
    /// The gossip task, told of our public channels once they are deep enough.
    pub gossip: Option<crate::node::gossip::GossipInbox>,
    /// Where the outcomes of our payments' parts go (the payer).
    pub payer: Option<crate::node::payer::PartSink>,
    /// LSPS2's terms, when the hub sells JIT channels (the router holds their payments).
    pub lsps2: Option<crate::lsps::service::Lsps2Config>,
}

/// One channel and what the manager keeps beside it.
pub(super) struct Entry {
    pub key_index: u32,
    pub peer: PublicKey,
    pub channel: Channel,
    /// The API call waiting for `funding_signed`.
    pending_open: Option<oneshot::Sender<Result<OpenedChannel, Error>>>,
    /// Opener: the wallet's funding transaction until it is broadcast (the wallet records it
    /// and releases its inputs through this).
    funded: Option<FundedTx>,
    /// What the event log last said of the channel's state.
    reported: Reported,
    /// A public channel's real short channel id, once its funding is deep enough to be
    /// announced (`chain`): an onion may name it as well as our alias.
    pub public_scid: Option<crate::wire::ShortChannelId>,
    /// The state last written for the channel, so the next write takes only what changed
    /// ([`q::save`]). `None` when unknown (just loaded, or after a failed or lost write): the
    /// next write is whole.
    stored: Option<Arc<ChannelState>>,
}

impl Entry {
    /// Whether peer messages may still be routed to it.
    pub(super) fn live(&self) -> bool {
        !matches!(self.channel.phase(), Phase::Closed | Phase::Aborted)
    }

    /// Whether a peer message naming `id` is for this channel. The opener learns the final
    /// id from its own funding outpoint before the state takes it (at `funding_signed`).
    fn has_id(&self, id: &ChannelId) -> bool {
        let from_funding = self
            .channel
            .state()
            .setup
            .funding_outpoint
            .map(|o| crate::channel::channel_id_from_funding(&o));
        self.channel.channel_id() == *id
            || self.channel.temporary_channel_id() == *id
            || from_funding == Some(id.0)
    }
}

pub(super) struct Actor {
    pub cfg: ManagerConfig,
    pub entries: BTreeMap<u32, Entry>,
    pub peers: PeerManager,
    /// Each connected peer's connection as the actor last heard of it: what the channels send
    /// goes to it, and what another (older) connection delivers is void.
    pub connections: HashMap<PublicKey, ConnId>,
    /// Connected peers with which `option_shutdown_anysegwit` is negotiated.
    pub anysegwit: HashSet<PublicKey>,
    /// What each connected peer's `init` says of the channel types it understands.
    pub peer_terms: HashMap<PublicKey, PeerTerms>,
    events: broadcast::Sender<ChannelEvent>,
    /// Inputs produced while executing outputs (the funding answer), run next.
    followups: Vec<(u32, Input)>,
    /// Transactions whose broadcast failed, retried on each block until the chain has them.
    pub rebroadcast: HashMap<Txid, Transaction>,
    pub router: Router,
    /// Bookkeeping to commit with the next `Persist` of that channel (see `router::StoreOp`).
    pub attach: Option<(u32, Vec<StoreOp>)>,
    /// Where the monitor found closed channels' outputs spent (see `monitor`).
    pub spenders: super::monitor::Spenders,
    /// What the monitor last broadcast for each claim, to bump it (see `monitor::fees`).
    pub broadcasts: super::monitor::Broadcasts,
    /// Our offered HTLCs' outputs watched in the mempool (see `monitor::mempool`).
    pub mempool_watch: super::monitor::MempoolWatch,
    /// The group commit in progress (see `batch`).
    pub batch: super::batch::Batch,
    pub counters: Arc<super::Counters>,
    /// Inbound opens not funded yet (see `opens`).
    opens: super::opens::PendingOpens,
    /// Fundee channels whose funding has not confirmed (see `opens`).
    pub funding_waits: super::opens::FundingWaits,
}

/// The manager before the peer manager exists: [`Starter::start`] runs it.
pub struct Starter {
    cfg: ManagerConfig,
    rx: mpsc::UnboundedReceiver<Request>,
    tx: mpsc::UnboundedSender<Request>,
    events: broadcast::Sender<ChannelEvent>,
    counters: Arc<super::Counters>,
}

/// Creates the manager: the peer handler to give the [`PeerManager`], the handle, and a
/// starter that loads the stored channels and runs the actor once the peer manager exists
/// (the actor sends through it, and it delivers to the actor: the queue breaks the cycle).
pub fn spawn(mut cfg: ManagerConfig) -> (Arc<ChannelPeerHandler>, Channels, Starter) {
    // The actor group-commits its writes (see `batch`).
    cfg.store = cfg.store.batching();
    let (tx, rx) = mpsc::unbounded_channel();
    let (events, _) = broadcast::channel(4096);
    let counters = Arc::new(super::Counters::default());
    let handle = Channels {
        tx: tx.clone(),
        events: events.clone(),
        log: cfg.events.clone(),
        counters: counters.clone(),
    };
    let handler = Arc::new(ChannelPeerHandler { tx: tx.clone() });
    let starter = Starter {
        cfg,
        rx,
        tx,
        events,
        counters,
    };
    (handler, handle, starter)
}

impl Starter {
    /// Spawns the actor (which also runs the router and the monitor) and the block poller,
    /// named for the supervisor; both stop when `shutdown` flips, and nothing else ends them
    /// but a failure.
    pub fn start(
        self,
        peers: PeerManager,
        shutdown: watch::Receiver<bool>,
    ) -> Vec<(&'static str, JoinHandle<()>)> {
        let chain = self.cfg.chain.clone();
        let router = Router {
            node_key: *self.cfg.keys.node_secret(),
            node_id: self.cfg.keys.node_id(),
            policy: self.cfg.policy.clone(),
            manual: self.cfg.manual_htlcs,
            queue: Default::default(),
            peer_policies: HashMap::new(),
            height: 0,
            jamming: self.cfg.jamming,
            shares: Default::default(),
            parts: crate::payments::mpp::PartSets::new(self.cfg.mpp_timeout),
            accept_keysend: self.cfg.accept_keysend,
            jit: self
                .cfg
                .lsps2
                .as_ref()
                .map(|c| super::router::JitRouter::new(c, self.cfg.mpp_timeout)),
        };
        let opens = super::opens::PendingOpens::new(peers.limits());
        let actor = Actor {
            opens,
            funding_waits: Default::default(),
            cfg: self.cfg,
            entries: BTreeMap::new(),
            peers,
            connections: HashMap::new(),
            anysegwit: HashSet::new(),
            peer_terms: HashMap::new(),
            events: self.events,
            followups: Vec::new(),
            rebroadcast: HashMap::new(),
            router,
            attach: None,
            spenders: Default::default(),
            broadcasts: Default::default(),
            mempool_watch: Default::default(),
            batch: Default::default(),
            counters: self.counters,
        };
        let scan = actor.mempool_watch.flags();
        vec![
            (
                "channel manager",
                tokio::spawn(actor.run(self.rx, shutdown.clone())),
            ),
            (
                "block poller",
                tokio::spawn(super::chain::poll_blocks(chain, self.tx, scan, shutdown)),
            ),
        ]
    }
}

impl Actor {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Request>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        if let Err(e) = self.load().await {
            // The supervisor stops the node: serving the API with no channel manager (nothing
            // watching the chain) would look healthy and lose funds.
            tracing::error!(error = %e, "cannot load channels; the node stops");
            return;
        }
        loop {
            let req = tokio::select! {
                _ = crate::net::stopped(&mut shutdown) => break,
                r = rx.recv() => match r { Some(r) => r, None => break },
                _ = super::opens::until(self.opens.next_deadline()) => {
                    self.settle_opens().await;
                    continue;
                }
                _ = super::opens::until(self.router.parts.next_deadline().map(tokio::time::Instant::from_std)) => {
                    // Boxed: failing HTLCs runs channel inputs, whose futures are large.
                    Box::pin(self.expire_parts()).await;
                    continue;
                }
                _ = super::opens::until(self.jit_deadline().map(tokio::time::Instant::from_std)) => {
                    Box::pin(self.expire_jit()).await;
                    continue;
                }
            };
            self.run_batch(req, &mut rx).await;
        }
        tracing::debug!("channel manager stopped");
    }

    /// Restores every stored channel; the peer's reconnection starts the reestablish. A peer
    /// connected already is no exception: its connection was queued for us (the handler
    /// exists before the peer manager), and runs once we are loaded.
    async fn load(&mut self) -> Result<(), Error> {
        let stored = self.cfg.store.call(q::list).await?;
        // One commit for every channel's restored state, not one each (see `batch`).
        self.cfg.store.set_batching(true);
        for s in stored {
            let keys = self.key_material(s.key_index)?;
            let (mut channel, outputs) = Channel::restore(s.state, keys).map_err(|e| {
                Error::Internal(format!("channel {} cannot be restored: {e}", s.key_index))
            })?;
            channel.set_max_dust_htlc_exposure_msat(self.cfg.channel.max_dust_htlc_exposure_msat);
            let reported = Reported::of(channel.state());
            if *channel.phase() == Phase::AcceptSent {
                self.opens
                    .insert(s.key_index, s.peer, tokio::time::Instant::now());
            }
            self.entries.insert(
                s.key_index,
                Entry {
                    key_index: s.key_index,
                    peer: s.peer,
                    channel,
                    pending_open: None,
                    funded: None,
                    reported,
                    public_scid: None,
                    stored: None,
                },
            );
            self.execute(s.key_index, outputs).await;
        }
        self.end_batch().await;
        if !self.entries.is_empty() {
            tracing::info!(channels = self.entries.len(), "channels restored");
        }
        // Now that every channel is in memory: resume what was in flight at the stop.
        self.reconcile().await;
        // Held payments that came near their expiry while we were down are failed back.
        Box::pin(self.fail_due_holds()).await;
        Ok(())
    }

    pub(super) fn key_material(&self, key_index: u32) -> Result<KeyMaterial, Error> {
        let keys = self
            .cfg
            .keys
            .channel_keys(key_index)
            .map_err(|e| Error::Internal(format!("channel keys: {e}")))?;
        Ok(KeyMaterial::from_channel_keys(&keys))
    }

    pub(super) async fn request(&mut self, req: Request) {
        match req {
            Request::PeerConnected(peer, conn, terms) => {
                self.peer_terms.insert(peer, terms);
                self.peer_connected(peer, conn, terms.anysegwit).await
            }
            Request::PeerDisconnected(peer, conn) => {
                if self.connections.get(&peer) != Some(&conn) {
                    return;
                }
                self.connections.remove(&peer);
                for idx in self.of_peer(&peer) {
                    self.input(idx, Input::Disconnected).await;
                }
                // Its unfunded opens ended with the connection.
                self.settle_opens().await;
            }
            Request::PeerMessage(peer, conn, m, _credit) => {
                if self.connections.get(&peer) == Some(&conn) {
                    self.message(peer, m).await;
                } else {
                    tracing::debug!(%peer, %conn, msg_type = m.msg_type(),
                        "message of a replaced connection dropped");
                }
            }
            Request::Block => self.on_block().await,
            Request::MempoolScan => self.scan_mempool().await,
            Request::Open { params, reply } => {
                if let Err(e) = self.open_for(params, reply).await {
                    tracing::debug!(error = %e, "open refused");
                }
            }
            Request::Command {
                channel_id,
                command,
                reply,
            } => {
                let r = self.command(channel_id, command).await;
                let _ = reply.send(r);
            }
            Request::LocalChannels { reply, .. } => {
                let r = self.local_channels().await;
                let _ = reply.send(r);
            }
            Request::SendParts { parts, reply } => {
                let mut r = Vec::with_capacity(parts.len());
                for part in parts {
                    r.push(self.send_part(part).await);
                }
                // The attempts must be durable before the payer hears they were sent.
                self.after_commit(move || {
                    let _ = reply.send(r);
                });
                self.drain_router().await;
            }
            Request::RouteHints(reply) => {
                let _ = reply.send(self.route_hints());
            }
            Request::PolicyChanged => self.announce_policy_all().await,
            Request::RevokedCommitment { channel_id, reply } => {
                let r = match self.by_channel_id(&channel_id) {
                    Some(idx) => {
                        let ch = &self.entries[&idx].channel;
                        ch.signed_revoked_commitment()
                            .and_then(|c| {
                                let htlc_timeouts = ch.signed_revoked_htlc_timeouts()?;
                                Ok(c.map(|commitment| super::RevokedDrill {
                                    commitment,
                                    htlc_timeouts,
                                }))
                            })
                            .map_err(|e| Error::ChannelRefused(e.to_string()))
                    }
                    None => Err(unknown_channel(&channel_id)),
                };
                let _ = reply.send(r);
            }
            Request::CancelInvoice {
                payment_hash,
                reply,
            } => {
                let r = Box::pin(self.cancel_invoice_now(payment_hash, "requested")).await;
                let _ = reply.send(r);
            }
            Request::SettleInvoice {
                payment_hash,
                preimage,
                reply,
            } => {
                let r = Box::pin(self.settle_held(payment_hash, preimage)).await;
                // The caller hears of it once the paid invoice is durable.
                self.after_commit(move || {
                    let _ = reply.send(r);
                });
            }
            Request::List(reply) => {
                let list = self
                    .entries
                    .values()
                    .map(|e| ChannelInfo::of(&e.channel, e.peer))
                    .collect();
                let _ = reply.send(list);
            }
            Request::SignedNumbers { channel_id, reply } => {
                let r = match self.by_channel_id(&channel_id) {
                    Some(idx) => self
                        .cfg
                        .store
                        .call(move |c| q::signed_numbers(c, idx))
                        .await
                        .map_err(Error::from),
                    None => Err(unknown_channel(&channel_id)),
                };
                let _ = reply.send(r);
            }
        }
    }

    /// A new connection of `peer`. One that replaces an older connection ends that one for
    /// the channels first: BOLT 2 reestablishes on every connection, and what was sent on
    /// the old one may never have been read (a restored node's request to close, say).
    async fn peer_connected(&mut self, peer: PublicKey, conn: ConnId, anysegwit: bool) {
        match self.connections.get(&peer) {
            // Already replaced by a newer one we heard of.
            Some(current) if *current >= conn => return,
            Some(_) => {
                tracing::debug!(%peer, %conn, "a newer connection: channels reestablish on it");
                for idx in self.of_peer(&peer) {
                    self.input(idx, Input::Disconnected).await;
                }
            }
            None => {}
        }
        self.connections.insert(peer, conn);
        if anysegwit {
            self.anysegwit.insert(peer);
        } else {
            self.anysegwit.remove(&peer);
        }
        for idx in self.of_peer(&peer) {
            self.input(idx, Input::Reconnected { anysegwit }).await;
        }
        self.announce_policy_to(Some(peer)).await;
    }

    fn of_peer(&self, peer: &PublicKey) -> Vec<u32> {
        self.entries
            .values()
            .filter(|e| e.peer == *peer && e.live())
            .map(|e| e.key_index)
            .collect()
    }

    pub(super) fn by_channel_id(&self, id: &[u8; 32]) -> Option<u32> {
        self.entries
            .values()
            .find(|e| e.channel.channel_id().0 == *id)
            .map(|e| e.key_index)
    }

    async fn message(&mut self, peer: PublicKey, m: Message) {
        if let Message::OpenChannel(open) = &m {
            return self.accept(peer, open).await;
        }
        if let Message::ChannelUpdate(u) = &m {
            return self.on_channel_update(peer, u);
        }
        let Some(id) = m.channel_id() else {
            return;
        };
        let targets: Vec<u32> = if id.0 == [0; 32] {
            // An error (or warning) about every channel with this peer.
            self.of_peer(&peer)
        } else {
            self.entries
                .values()
                .filter(|e| e.peer == peer && e.live() && e.has_id(&id))
                .map(|e| e.key_index)
                .take(1)
                .collect()
        };
        if targets.is_empty() {
            if !matches!(m, Message::Error(_) | Message::Warning(_)) {
                tracing::debug!(%peer, channel_id = %hex::encode(id.0), msg_type = m.msg_type(),
                    "message for an unknown channel");
                let err = ErrorMessage(Diagnostic::new(id, "unknown channel"));
                self.send_to(peer, err.into()).await;
            }
            return;
        }
        self.counters.received(&m);
        for idx in targets {
            self.input(idx, Input::Message(m.clone())).await;
        }
    }

    /// Runs one input and everything it leads to. A refusal's outputs (an error to the peer)
    /// still run; the refusal itself is returned for a command's caller.
    pub(super) async fn input(&mut self, idx: u32, input: Input) -> Option<Error> {
        let refused = self.input_plain(idx, input).await;
        self.drain_router().await;
        refused
    }

    /// [`Actor::input`] without draining the router's queue (the router itself uses it).
    pub(super) async fn input_plain(&mut self, idx: u32, input: Input) -> Option<Error> {
        let mut refused = self.input_once(idx, input).await;
        while !self.followups.is_empty() {
            for (i, follow) in std::mem::take(&mut self.followups) {
                if let Some(e) = self.input_once(i, follow).await {
                    tracing::warn!(channel = i, error = %e, "follow-up input refused");
                    refused.get_or_insert(e);
                }
            }
        }
        refused
    }

    async fn input_once(&mut self, idx: u32, input: Input) -> Option<Error> {
        let entry = self.entries.get_mut(&idx)?;
        let handled = if self.batch.deferring {
            let r = entry.channel.handle_batched(input);
            if entry.channel.has_unsigned_changes() {
                self.batch.unsigned.insert(idx);
            }
            r
        } else {
            entry.channel.handle(input)
        };
        match handled {
            Ok(outputs) => {
                self.execute(idx, outputs).await;
                None
            }
            Err(r) => {
                tracing::info!(channel = idx, error = %r.error, "channel input refused");
                self.execute(idx, r.outputs).await;
                Some(Error::ChannelRefused(r.error.to_string()))
            }
        }
    }

    /// Executes outputs strictly in order. A failed persist stops the rest (nothing that
    /// depends on it may leave) and puts the channel back to its last durable state.
    pub(super) async fn execute(&mut self, idx: u32, outputs: Vec<Output>) {
        let Some(peer) = self.entries.get(&idx).map(|e| e.peer) else {
            return;
        };
        let mut tower_ops = self.tower_ops(idx, &outputs);
        for output in outputs {
            match output {
                Output::Persist(state) => {
                    let store = self.cfg.store.clone();
                    let mut ops = match self.attach.take_if(|(i, _)| *i == idx) {
                        Some((_, ops)) => ops,
                        None => Vec::new(),
                    };
                    let queued = !tower_ops.is_empty();
                    ops.append(&mut tower_ops);
                    let (reported, channel_events) = match self.entries.get(&idx) {
                        Some(e) => e.reported.next(&state, &peer),
                        None => (Reported::default(), Vec::new()),
                    };
                    let log = self.cfg.events.clone();
                    // Taken: after a failed write nobody can vouch for it.
                    let prev = self.entries.get_mut(&idx).and_then(|e| e.stored.take());
                    let r = store
                        .write(move |tx| {
                            q::save(tx, idx, &peer, prev.as_deref(), &state)?;
                            for e in &channel_events {
                                log.record(tx, e)?;
                            }
                            for op in ops {
                                op(tx)?;
                            }
                            Ok(state)
                        })
                        .await;
                    let state = match r {
                        Ok(state) => state,
                        Err(e) => {
                            tracing::error!(channel = idx, error = %e,
                                "channel state not stored; dropping its outputs and reloading");
                            self.reload(idx).await;
                            return;
                        }
                    };
                    if let Some(e) = self.entries.get_mut(&idx) {
                        e.reported = reported;
                        e.stored = Some(state);
                    }
                    self.batch.touched.insert(idx);
                    if queued {
                        self.wake_tower();
                    }
                }
                Output::Send(m) => {
                    self.counters.sent(&m);
                    self.send_to(peer, m).await
                }
                Output::Broadcast(tx) => self.broadcast(idx, tx).await,
                Output::Event(e) => self.event(idx, e).await,
            }
        }
    }

    /// Back to the last durable state after a failed write, and drop the connection so both
    /// sides reestablish from what is on disk.
    pub(super) async fn reload(&mut self, idx: u32) {
        let stored = self.cfg.store.call(move |c| q::get(c, idx)).await;
        let restored = match stored {
            Ok(Some(s)) => self
                .key_material(idx)
                .ok()
                .and_then(|k| Channel::restore(s.state, k).ok()),
            _ => None,
        };
        match restored {
            Some((mut channel, _)) => {
                channel
                    .set_max_dust_htlc_exposure_msat(self.cfg.channel.max_dust_htlc_exposure_msat);
                if let Some(e) = self.entries.get_mut(&idx) {
                    e.reported = Reported::of(channel.state());
                    e.channel = channel;
                    e.stored = None;
                    let peer = e.peer;
                    self.drop_held_for(&peer);
                    let _ = self.peers.disconnect(peer).await;
                }
            }
            None => {
                // Never stored (an open before its first write) or unreadable: forget it.
                if let Some(e) = self.entries.remove(&idx) {
                    tracing::error!(channel = idx, "channel dropped from memory");
                    if let Some(f) = e.funded {
                        self.cfg.wallet.release(&f.tx);
                    }
                }
            }
        }
    }

    /// Starts opening a channel; the reply goes out once the peer signed the funding.
    /// Returns the new channel's key index.
    pub(super) async fn open_for(
        &mut self,
        p: OpenParams,
        reply: oneshot::Sender<Result<OpenedChannel, Error>>,
    ) -> Result<u32, Error> {
        let fail = |reply: oneshot::Sender<_>, e: Error| {
            let _ = reply.send(Err(e.clone()));
            Err(e)
        };
        if !self.connections.contains_key(&p.peer) {
            return fail(
                reply,
                Error::PeerNotConnected(format!("not connected to {}", p.peer)),
            );
        }
        let feerate = match self.feerate_per_kw().await {
            Ok(f) => f,
            Err(e) => return fail(reply, e),
        };
        if p.format == Format::Anchors {
            if let Err(e) = self.check_anchor_reserve(p.capacity_sat).await {
                return fail(reply, e);
            }
        }
        let script = match self.cfg.wallet.new_internal_script().await {
            Ok(s) => s,
            Err(e) => return fail(reply, e.into()),
        };
        let idx = match self.cfg.store.write(q::next_key_index).await {
            Ok(i) => i,
            Err(e) => return fail(reply, e.into()),
        };
        let keys = match self.key_material(idx) {
            Ok(k) => k,
            Err(e) => return fail(reply, e),
        };
        let mut temporary_channel_id = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut temporary_channel_id);
        let terms = self.peer_terms.get(&p.peer).copied().unwrap_or_default();
        if p.zero_conf && !terms.zero_conf {
            return fail(
                reply,
                Error::InvalidChannelParameters(format!(
                    "{} does not support zero-conf channels (option_zeroconf)",
                    p.peer
                )),
            );
        }
        let req = OpenRequest {
            chain_hash: self.cfg.chain_hash,
            temporary_channel_id,
            funding_sat: p.capacity_sat,
            push_msat: p.push_msat,
            feerate_per_kw: feerate,
            format: p.format,
            shutdown_script: script,
            announce: p.announce,
            alias: crate::channel::random_alias(),
            peer_anysegwit: self.anysegwit.contains(&p.peer),
            // A private channel known by its aliases only, whenever the peer understands it.
            scid_alias: !p.announce && terms.scid_alias,
            zero_conf: p.zero_conf,
        };
        let (channel, outputs) = match Channel::open(self.cfg.channel.clone(), keys, req) {
            Ok(x) => x,
            Err(e) => return fail(reply, Error::InvalidChannelParameters(e.to_string())),
        };
        tracing::info!(channel = idx, peer = %p.peer, capacity_sat = p.capacity_sat, "opening channel");
        self.entries.insert(
            idx,
            Entry {
                key_index: idx,
                peer: p.peer,
                channel,
                pending_open: Some(reply),
                funded: None,
                reported: Reported::default(),
                public_scid: None,
                stored: None,
            },
        );
        self.execute(idx, outputs).await;
        Ok(idx)
    }

    /// Refuses an anchors channel that would leave the wallet without the on-chain reserve
    /// its fee bumping needs (see `feerate::check_anchor_reserve`).
    async fn check_anchor_reserve(&self, capacity_sat: u64) -> Result<(), Error> {
        // What the funding may spend: confirmed coins and our own unconfirmed change.
        let balance = self.cfg.wallet.balance().await?;
        let confirmed = balance.confirmed + balance.unconfirmed;
        let rate = self.cfg.wallet.fee_rate(None).await?;
        let open_anchors = self
            .entries
            .values()
            .filter(|e| e.live() && e.channel.state().setup.format == Format::Anchors)
            .count() as u64;
        let check =
            super::feerate::check_anchor_reserve(confirmed, capacity_sat, rate.0, open_anchors + 1);
        let funding = capacity_sat + super::feerate::funding_fee_estimate(rate.0);
        check.map_err(|(needed, left)| {
            if confirmed < funding {
                // Not even the channel itself: the plain answer, with the reserve counted in.
                return Error::InsufficientFunds {
                    needed_sat: funding + needed,
                    available_sat: confirmed,
                };
            }
            Error::InvalidChannelParameters(format!(
                "an anchors channel needs an on-chain reserve for fee bumping: {} sat per \
                 anchors channel ({needed} sat for {} channels) must stay in the wallet after \
                 funding, and {left} sat would be left; add funds, or open \
                 a smaller channel or a static_remotekey one",
                super::feerate::ANCHOR_RESERVE_PER_CHANNEL_SAT,
                open_anchors + 1
            ))
        })
    }

    /// The commitment feerate for a new channel: the wallet's estimate, within our bounds.
    async fn feerate_per_kw(&self) -> Result<u32, Error> {
        let rate = self.cfg.wallet.fee_rate(None).await?;
        let per_kw = u32::try_from(rate.0).unwrap_or(u32::MAX);
        let c = &self.cfg.channel;
        Ok(per_kw.clamp(c.min_feerate_per_kw, c.max_feerate_per_kw))
    }

    async fn accept(&mut self, peer: PublicKey, open: &OpenChannel) {
        let dup = self
            .entries
            .values()
            .any(|e| e.peer == peer && e.live() && e.has_id(&open.temporary_channel_id));
        let refuse = |text: String| ErrorMessage(Diagnostic::new(open.temporary_channel_id, &text));
        if dup {
            let err = refuse("temporary_channel_id already in use".into());
            self.send_to(peer, err.into()).await;
            return;
        }
        self.settle_opens().await;
        if let Err(limit) = self.opens.admit(&peer) {
            tracing::info!(%peer, %limit, "incoming open refused");
            self.send_to(peer, refuse(limit.to_string()).into()).await;
            return;
        }
        let prepared = async {
            let script = self.cfg.wallet.new_internal_script().await?;
            let idx = self.cfg.store.write(q::next_key_index).await?;
            Ok::<_, Error>((script, idx, self.key_material(idx)?))
        };
        let (script, idx, keys) = match prepared.await {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(error = %e, "cannot prepare a channel for an incoming open");
                let err = refuse("internal error".into());
                self.send_to(peer, err.into()).await;
                return;
            }
        };
        let mut config = self.cfg.channel.clone();
        config.accept_zero_conf = self.cfg.zeroconf_peers.contains(&peer);
        let alias = crate::channel::random_alias();
        let anysegwit = self.anysegwit.contains(&peer);
        let chain_hash = self.cfg.chain_hash;
        match Channel::accept(config, keys, chain_hash, open, script, alias, anysegwit) {
            Ok((channel, outputs)) => {
                tracing::info!(channel = idx, %peer, capacity_sat = open.funding_satoshis,
                    "accepting channel");
                self.entries.insert(
                    idx,
                    Entry {
                        key_index: idx,
                        peer,
                        channel,
                        pending_open: None,
                        funded: None,
                        reported: Reported::default(),
                        public_scid: None,
                        stored: None,
                    },
                );
                self.opens.insert(idx, peer, tokio::time::Instant::now());
                self.execute(idx, outputs).await;
            }
            Err(r) => {
                tracing::info!(%peer, error = %r.error, "refused an incoming open");
                for o in r.outputs {
                    match o {
                        Output::Send(m) => {
                            self.counters.sent(&m);
                            self.send_to(peer, m).await
                        }
                        Output::Event(event) => {
                            let events = self.events.clone();
                            let channel_id = open.temporary_channel_id.0;
                            self.after_commit(move || {
                                let _ = events.send(ChannelEvent {
                                    channel_id,
                                    peer,
                                    event,
                                });
                            });
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    async fn command(&mut self, channel_id: [u8; 32], command: Command) -> Result<(), Error> {
        let idx = self
            .by_channel_id(&channel_id)
            .ok_or_else(|| unknown_channel(&channel_id))?;
        match self.input(idx, Input::Command(command)).await {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    async fn event(&mut self, idx: u32, event: Event) {
        let Some(entry) = self.entries.get_mut(&idx) else {
            return;
        };
        let channel_id = entry.channel.channel_id().0;
        let peer = entry.peer;
        match &event {
            Event::NeedFunding {
                script_pubkey,
                amount_sat,
            } => {
                let out = TxOut {
                    value: Amount::from_sat(*amount_sat),
                    script_pubkey: script_pubkey.clone(),
                };
                let zero_conf = entry.channel.state().setup.zero_conf;
                let funded = match self.cfg.wallet.fee_rate(None).await {
                    // The peer uses a zero-conf channel at once: no unconfirmed parent.
                    Ok(rate) if zero_conf => {
                        self.cfg
                            .wallet
                            .fund_outputs_confirmed(vec![out], rate)
                            .await
                    }
                    Ok(rate) => self.cfg.wallet.fund_outputs(vec![out], rate).await,
                    Err(e) => Err(e),
                };
                match funded {
                    Ok(f) => {
                        // fund_outputs puts our outputs first: the channel's is 0.
                        let tx = f.tx.clone();
                        if let Some(e) = self.entries.get_mut(&idx) {
                            e.funded = Some(f);
                        }
                        self.followups
                            .push((idx, Input::Command(Command::FundingTxReady { tx, vout: 0 })));
                    }
                    Err(e) => self.abandon_open(idx, e.into()).await,
                }
            }
            Event::ChannelPending { funding_txid, .. } => {
                tracing::info!(channel = idx, channel_id = %hex::encode(channel_id),
                    %funding_txid, "channel pending");
                if let Some(reply) = entry.pending_open.take() {
                    let opened = OpenedChannel {
                        channel_id,
                        funding_txid: *funding_txid,
                    };
                    self.after_commit(move || {
                        let _ = reply.send(Ok(opened));
                    });
                }
            }
            Event::ChannelReady { .. } => {
                tracing::info!(channel = idx, channel_id = %hex::encode(channel_id), "channel active");
                // A peer's zero-conf funding: its inputs are watched once seen (`chain`).
                let s = entry.channel.state();
                if s.setup.zero_conf && s.setup.opener == crate::channel::Origin::Remote {
                    self.mempool_watch.flags().set_fundings(true);
                }
                self.announce_policy(idx).await;
                self.tell_gossip(idx);
                if self.is_jit_opening(idx) {
                    self.router.queue.push_back(Work::JitReady { idx });
                }
            }
            Event::ClosingAgreed { txid, fee_sat } => {
                tracing::info!(channel = idx, %txid, fee_sat, "mutual close agreed");
            }
            Event::ForceClosed { txid, reason } => {
                tracing::warn!(channel = idx, %txid, %reason, "force closed: our commitment is broadcast");
            }
            Event::ChannelClosed { txid, mutual } => {
                tracing::info!(channel = idx, %txid, mutual, "channel closed");
            }
            Event::OpenFailed { reason } | Event::PeerFailedChannel { message: reason } => {
                tracing::info!(channel = idx, %reason, "channel failed");
                if self.is_jit_opening(idx) {
                    let refused = matches!(event, Event::PeerFailedChannel { .. });
                    self.router
                        .queue
                        .push_back(Work::JitOpenFailed { idx, refused });
                }
                let Some(entry) = self.entries.get_mut(&idx) else {
                    return;
                };
                let reply = entry.pending_open.take();
                let funded = entry.funded.take();
                if let Some(reply) = reply {
                    let e = Error::ChannelOpenFailed(reason.clone());
                    self.after_commit(move || {
                        let _ = reply.send(Err(e));
                    });
                }
                if let Some(f) = funded {
                    self.cfg.wallet.release(&f.tx);
                }
            }
            Event::PeerMisbehaved { reason, fatal } => {
                tracing::warn!(channel = idx, %reason, "peer broke the channel protocol");
                let fail = *fatal && entry.channel.fails_on_peer_breach();
                if let Some(reply) = entry.pending_open.take() {
                    let e = Error::ChannelOpenFailed(reason.clone());
                    self.after_commit(move || {
                        let _ = reply.send(Err(e));
                    });
                }
                // BOLT 1: the sender of an `error` fails the channel. A peer that breaks the
                // protocol and ignores our `error` must not keep the channel (and our HTLCs
                // in it) hostage, so a funded channel goes on chain now.
                if fail {
                    let reason = format!("peer broke the channel protocol: {reason}");
                    self.followups
                        .push((idx, Input::Command(Command::ForceClose { reason })));
                }
            }
            Event::HtlcReceived { htlc } => {
                let htlc = htlc.clone();
                if self.router.manual {
                    self.router
                        .queue
                        .push_back(Work::ManualReceived { idx, htlc });
                } else {
                    self.router.queue.push_back(Work::Received { idx, htlc });
                }
            }
            Event::HtlcMustFail { htlc, reason } => {
                tracing::info!(channel = idx, htlc = htlc.id, %reason, "failing an HTLC back");
                if !self.router.manual {
                    let htlc = htlc.clone();
                    self.router.queue.push_back(Work::MustFail { idx, htlc });
                }
            }
            Event::HtlcFulfilled { id, preimage } => {
                let (id, preimage) = (*id, *preimage);
                self.router
                    .queue
                    .push_back(Work::Fulfilled { idx, id, preimage });
            }
            Event::HtlcFailed {
                id,
                reason,
                malformed,
            } => {
                self.router.queue.push_back(Work::Failed {
                    idx,
                    id: *id,
                    reason: reason.clone(),
                    malformed: *malformed,
                });
            }
            Event::HtlcDropped { id, .. } => {
                self.router.queue.push_back(Work::Dropped { idx, id: *id });
            }
            Event::WeAreBehind { .. } => {
                tracing::error!(
                    channel = idx,
                    ?event,
                    "our state is behind the peer's: waiting for it to close"
                );
            }
            Event::FundingLost { why } => {
                tracing::warn!(channel = idx, %why, "channel aborted: its funding is lost");
            }
            Event::FundingSpentUnilaterally { tx } => {
                tracing::warn!(channel = idx, txid = %tx.compute_txid(),
                    "a commitment spent the funding output: the on-chain monitor takes over");
            }
            other => tracing::debug!(channel = idx, event = ?other, "channel event"),
        }
        let events = self.events.clone();
        self.after_commit(move || {
            let _ = events.send(ChannelEvent {
                channel_id,
                peer,
                event,
            });
        });
    }

    /// The wallet could not fund our open: tell the peer, free the channel.
    async fn abandon_open(&mut self, idx: u32, e: Error) {
        let Some(mut entry) = self.entries.remove(&idx) else {
            return;
        };
        tracing::info!(channel = idx, error = %e, "open abandoned");
        let err = ErrorMessage(Diagnostic::new(
            entry.channel.temporary_channel_id(),
            "funding failed",
        ));
        self.send_to(entry.peer, err.into()).await;
        if let Some(reply) = entry.pending_open.take() {
            let _ = reply.send(Err(e));
        }
        // The machine stored nothing that needs enforcing (no commitment was signed).
        let _ = self
            .cfg
            .store
            .write(move |tx| {
                tx.execute("DELETE FROM channels WHERE key_index = ?1", [idx])?;
                Ok(())
            })
            .await;
    }

    /// Forgets the pending inbound opens that ended (disconnection, the peer's error) or ran
    /// out of time (telling the peer), and stops tracking those that got funded.
    async fn settle_opens(&mut self) {
        for (idx, expired) in self.opens.all(tokio::time::Instant::now()) {
            let (waiting, aborted) = match self.entries.get(&idx).map(|e| e.channel.phase()) {
                Some(Phase::AcceptSent) => (true, false),
                Some(Phase::Aborted) => (false, true),
                _ => (false, false),
            };
            if waiting && !expired {
                continue;
            }
            if waiting || aborted {
                self.forget_open(idx, waiting).await;
            }
            self.opens.remove(idx);
        }
    }

    /// As fundee, forgets a channel whose funding never confirmed (BOLT 2): its money was
    /// never ours to lose, and its row and keys are freed.
    pub(super) async fn forget_unconfirmed(&mut self, idx: u32) {
        self.funding_waits.done(idx);
        let Some(entry) = self.entries.remove(&idx) else {
            return;
        };
        let blocks = super::opens::FUNDING_TIMEOUT_BLOCKS;
        tracing::warn!(channel = idx, peer = %entry.peer, "funding unseen {blocks} blocks after funding_signed: channel forgotten");
        let text = format!("funding not confirmed within {blocks} blocks: channel forgotten");
        let err = ErrorMessage(Diagnostic::new(entry.channel.channel_id(), &text));
        self.send_to(entry.peer, err.into()).await;
        if let Err(e) = self.cfg.store.write(move |tx| q::forget(tx, idx)).await {
            tracing::warn!(channel = idx, error = %e, "forgotten channel not removed from the store");
        }
    }

    /// Drops an unfunded inbound open with its row; nothing was signed, nothing to enforce.
    async fn forget_open(&mut self, idx: u32, expired: bool) {
        let Some(entry) = self.entries.remove(&idx) else {
            return;
        };
        if expired {
            let secs = self.opens.timeout().as_secs_f32();
            tracing::info!(channel = idx, peer = %entry.peer, "unfunded open dropped after {secs} s");
            let text = format!("channel open not funded within {secs} s: dropped");
            let err = ErrorMessage(Diagnostic::new(entry.channel.temporary_channel_id(), &text));
            self.send_to(entry.peer, err.into()).await;
        }
        if let Err(e) = self.cfg.store.write(move |tx| q::forget(tx, idx)).await {
            tracing::warn!(channel = idx, error = %e, "unfunded open not removed from the store");
        }
    }

    /// A channel's output asks for a broadcast: a withheld JIT funding waits (see
    /// `router::JitRouter::withheld`), anything else goes out.
    async fn broadcast(&mut self, idx: u32, tx: Transaction) {
        if self.withholds(idx, &tx) {
            // Flushed like any broadcast's cause: the state is durable, the funding waits.
            self.flush().await;
            tracing::info!(channel = idx, txid = %tx.compute_txid(),
                "JIT funding withheld until the client claims");
            return;
        }
        self.broadcast_tx(idx, tx).await;
    }

    /// Forgets a channel we opened whose funding never left us: the peer is told, the
    /// funding's coins go back to the wallet, the rows go.
    pub(super) async fn forget_unfunded(&mut self, idx: u32, why: &str) {
        let Some(mut entry) = self.entries.remove(&idx) else {
            return;
        };
        let err = ErrorMessage(Diagnostic::new(entry.channel.channel_id(), why));
        self.send_to(entry.peer, err.into()).await;
        if let Some(f) = entry.funded.take() {
            self.cfg.wallet.release(&f.tx);
        }
        if let Err(e) = self.cfg.store.write(move |tx| q::forget(tx, idx)).await {
            tracing::warn!(channel = idx, error = %e, "forgotten channel not removed from the store");
        }
    }

    /// Hands a transaction to the chain; failures are retried on each block.
    pub(super) async fn broadcast_tx(&mut self, idx: u32, tx: Transaction) {
        // What led here (the state that holds the transaction) is durable first; if it is
        // lost, so is the reason to broadcast.
        if !self.flush().await {
            return;
        }
        let txid = tx.compute_txid();
        let funded = self
            .entries
            .get_mut(&idx)
            .and_then(|e| e.funded.take_if(|f| f.tx.compute_txid() == txid));
        let r = match &funded {
            Some(f) => self
                .cfg
                .wallet
                .broadcast_funded(f)
                .await
                .map_err(|e| e.to_string()),
            None => self
                .cfg
                .chain
                .broadcast(&tx)
                .await
                .map_err(|e| e.to_string()),
        };
        match r {
            Ok(_) => {
                tracing::info!(channel = idx, %txid, "broadcast");
                self.rebroadcast.remove(&txid);
                // Our commitment, just out: if it pays less than the market, its CPFP child
                // goes out with it rather than a block later.
                let forced = self.entries.get(&idx).is_some_and(|e| {
                    matches!(e.channel.phase(), Phase::ForceClosing { tx } if tx.compute_txid() == txid)
                });
                if forced {
                    let height = self.router.height;
                    if let Err(e) = self.bump_commitment(idx, height, &tx).await {
                        tracing::debug!(channel = idx, error = %e, "commitment not bumped");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(channel = idx, %txid, error = %e, "broadcast failed; retrying each block");
                self.rebroadcast.insert(txid, tx);
            }
        }
    }

    /// Whether the chain source already has `txid` (mempool or chain).
    pub(super) async fn chain_has(&self, txid: &Txid) -> Result<bool, ChainError> {
        Ok(self.cfg.chain.transaction(txid).await?.is_some())
    }
}
