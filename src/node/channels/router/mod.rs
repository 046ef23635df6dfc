//! The HTLC router: what the hub does with the HTLCs its channels carry.
//!
//! ```text
//! alice --add(A:5)--> hub                          HtlcReceived on A
//!        peel the onion, replay check (stored), forward policy
//!        insert forwards(A:5 -> B:9) in the same write as B's state with the add
//!                      hub --add(B:9)--> bob
//!                      hub <-fulfill(B:9)-- bob    HtlcFulfilled on B
//!        forwards(A:5) settled, in the same write as A's state with the fulfill
//! alice <-fulfill(A:5)-- hub
//! ```
//!
//! The link between an incoming HTLC and what became of it is always written in the same
//! SQLite transaction as the channel state that acts on it (see [`StoreOp`]), so after any
//! crash the store says exactly which incoming HTLCs were forwarded (never twice), which
//! invoices were paid, and which payments are in flight. [`Actor::reconcile`] runs after a
//! restart and on every block: it re-examines every incoming HTLC not yet settled and every
//! pending forward and payment against the channels' states, so nothing stays stuck.
//!
//! Channel events only queue [`Work`]; the queue is drained after the transition that raised
//! it has run all its outputs, so the router never interleaves with a channel's own messages.

use std::collections::{HashMap, VecDeque};

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{PublicKey, SecretKey};

use super::actor::Actor;
use crate::channel::{AddHtlc, Command, Format, Input, MalformedFailure};
use crate::error::Error;
use crate::events::EventData;
use crate::lsps::jit::{Added, HeldPart, JitFailure, JitHolds, Settled};
use crate::lsps::lsps2::Bought;
use crate::node::channels::OpenParams;
use crate::onion::FailureMessage;
use crate::payments::forward::{check_forward, Incoming, NextChannel, Outgoing};
use crate::payments::HtlcRef;
use crate::payments::{FeePolicy, SharedPolicy};
use crate::store::lsps::{JitRecord, JitState};
use crate::store::StoreError;
use crate::wire::types::ONION_PACKET_LEN;
use crate::wire::{OnionPacket, ShortChannelId};

pub(super) use crate::node::invoices::now_secs;

/// A write that must commit in the same transaction as a channel's next state.
pub(super) type StoreOp =
    Box<dyn FnOnce(&rusqlite::Connection) -> Result<(), StoreError> + Send + Sync>;

/// Route hints an invoice carries at most: the channels with the most inbound liquidity.
pub const MAX_ROUTE_HINTS: usize = 3;

/// Something a channel event asks of the router.
#[derive(Debug)]
pub(super) enum Work {
    Received {
        idx: u32,
        htlc: AddHtlc,
    },
    /// Manual-HTLC mode (tests): an HTLC received is left alone, but one for an invoice of
    /// ours is recorded as paying it, so the on-chain resolution may claim it.
    ManualReceived {
        idx: u32,
        htlc: AddHtlc,
    },
    MustFail {
        idx: u32,
        htlc: AddHtlc,
    },
    Fulfilled {
        idx: u32,
        id: u64,
        preimage: [u8; 32],
    },
    Failed {
        idx: u32,
        id: u64,
        reason: Vec<u8>,
        malformed: Option<MalformedFailure>,
    },
    Dropped {
        idx: u32,
        id: u64,
    },
    /// A channel opened for a JIT sale became ready: forward its payment.
    JitReady {
        idx: u32,
    },
    /// A channel opened for a JIT sale failed before it was ready; `refused`: the client
    /// sent an `error` (the sale fails), else it left (the sale waits for a retry).
    JitOpenFailed {
        idx: u32,
        refused: bool,
    },
}

/// The router's part of the actor.
pub(super) struct Router {
    pub node_key: SecretKey,
    pub node_id: PublicKey,
    pub policy: SharedPolicy,
    /// Tests drive HTLCs by hand: incoming HTLCs are left alone.
    pub manual: bool,
    pub queue: VecDeque<Work>,
    /// What each channel's peer charges to forward to us (its `channel_update`).
    pub peer_policies: HashMap<u32, FeePolicy>,
    /// The chain height, from the last block.
    pub height: u32,
    /// Per incoming peer caps on outgoing channels, and what each peer holds.
    pub jamming: crate::payments::jamming::JammingLimits,
    pub shares: crate::payments::jamming::PeerShares,
    /// Parts of payments to us waiting for the rest of their set, each with its onion's
    /// shared secret (to fail it back).
    pub parts: crate::payments::mpp::PartSets<crate::onion::SharedSecret>,
    /// Take keysend payments (`accept_keysend`).
    pub accept_keysend: bool,
    /// LSPS2's JIT channels, when `[lsps2]` is configured.
    pub jit: Option<JitRouter>,
}

/// The HTLCs held for JIT sales, and what a JIT channel holds beyond the payment.
pub(super) struct JitRouter {
    pub holds: JitHolds<JitHtlc>,
    pub inbound_liquidity_sat: u64,
    /// JIT channels whose funding is withheld, by key index (in memory: after a restart the
    /// funding goes out like any other, which costs the hub only its protection).
    pub withheld: HashMap<u32, Withheld>,
    pub claim_timeout: std::time::Duration,
}

/// A JIT channel whose funding is withheld until the client claims its payment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Withheld {
    pub scid: ShortChannelId,
    /// Once the payment is forwarded: the client claims by then, or the channel is forgotten.
    pub claim_by: Option<std::time::Instant>,
}

impl JitRouter {
    pub fn new(c: &crate::lsps::service::Lsps2Config, mpp_timeout: std::time::Duration) -> Self {
        JitRouter {
            // bLIP 52: BOLT 4's wait for the rest of a payment, plus 30 s for the LSP.
            holds: JitHolds::new(mpp_timeout + std::time::Duration::from_secs(30)),
            inbound_liquidity_sat: c.inbound_liquidity_sat,
            withheld: HashMap::new(),
            claim_timeout: std::time::Duration::from_secs(c.claim_timeout_secs),
        }
    }
}

/// What forwarding a held JIT part takes later.
pub(super) struct JitHtlc {
    pub in_idx: u32,
    pub htlc: AddHtlc,
    pub secret: crate::onion::SharedSecret,
    pub next_packet: OnionPacket,
    pub out_cltv: u32,
}

/// How an HTLC is forwarded: on a JIT channel (the hop's route hint asks no fee), and with
/// which `extra_fee`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Via {
    pub jit: bool,
    pub extra_fee_msat: Option<u64>,
}

/// What a scid no channel of ours answers to means.
pub(super) enum JitRoute {
    Unknown,
    /// A sale waiting for its payment: hold the HTLC.
    Hold(Box<(JitRecord, Bought)>),
    /// A sale whose channel is open: forward on it.
    Channel(u32),
}

fn hex32(b: &[u8; 32]) -> String {
    hex::encode(b)
}

fn packet_of(onion: &[u8]) -> Option<OnionPacket> {
    let bytes: [u8; ONION_PACKET_LEN] = onion.try_into().ok()?;
    Some(OnionPacket(Box::new(bytes)))
}

fn temporary_channel_failure() -> FailureMessage {
    FailureMessage::TemporaryChannelFailure {
        channel_update: None,
    }
}
impl Actor {
    fn channel_id_of(&self, idx: u32) -> Option<[u8; 32]> {
        self.entries.get(&idx).map(|e| e.channel.channel_id().0)
    }

    /// Runs the router's queue until empty.
    pub(super) async fn drain_router(&mut self) {
        while let Some(w) = self.router.queue.pop_front() {
            // Boxed: routing runs channel inputs in turn, whose futures are large.
            Box::pin(self.route(w)).await;
        }
    }

    async fn route(&mut self, w: Work) {
        let r = match w {
            Work::Received { idx, htlc } => self.on_received(idx, htlc).await,
            Work::ManualReceived { idx, htlc } => self.record_manual(idx, &htlc).await,
            Work::MustFail { idx, htlc } => {
                self.fail_received(idx, &htlc, temporary_channel_failure())
                    .await;
                Ok(())
            }
            Work::Fulfilled { idx, id, preimage } => {
                // A withheld JIT channel's client claimed: its funding goes out first.
                Box::pin(self.release_withheld(idx)).await;
                self.on_fulfilled(idx, id, preimage).await
            }
            Work::Failed {
                idx,
                id,
                reason,
                malformed,
            } => self.on_failed(idx, id, reason, malformed).await,
            Work::Dropped { idx, id } => {
                let failure = "the first hop disconnected before the HTLC was committed";
                self.on_out_gone(idx, id, failure).await
            }
            // Boxed: these forward and fail HTLCs; inline they would grow every route's frame.
            Work::JitReady { idx } => Box::pin(self.jit_ready(idx)).await,
            Work::JitOpenFailed { idx, refused } => {
                Box::pin(self.jit_open_failed(idx, refused)).await
            }
        };
        if let Err(e) = r {
            // A store failure: the reconcile on the next block tries again.
            tracing::error!(error = %e, "HTLC routing step failed; retrying next block");
        }
    }

    /// Runs a command whose bookkeeping (`ops`) must commit with the channel state it
    /// produces. A refused command writes nothing.
    pub(super) async fn command_with(
        &mut self,
        idx: u32,
        command: Command,
        ops: Vec<StoreOp>,
    ) -> Result<(), Error> {
        self.attach = Some((idx, ops));
        let refused = self.input_plain(idx, Input::Command(command)).await;
        let leftover = self.attach.take();
        if let Some(e) = refused {
            return Err(e);
        }
        // Every accepted HTLC command changes the state; should one not, the bookkeeping
        // still has to land.
        if let Some((_, ops)) = leftover {
            self.write_ops(ops).await?;
        }
        Ok(())
    }

    async fn write_ops(&self, ops: Vec<StoreOp>) -> Result<(), Error> {
        if ops.is_empty() {
            return Ok(());
        }
        self.cfg
            .store
            .write(move |tx| {
                for op in ops {
                    op(tx)?;
                }
                Ok(())
            })
            .await
            .map_err(Error::from)
    }
}

/// The JIT runtime: executes what `lsps::jit` decides. Only the router calls it.
impl Actor {
    /// The forwarding policy: ours, or for a JIT channel no fee (its route hint asks none;
    /// the opening fee is taken as `extra_fee`) with our CLTV delta.
    pub(super) fn forward_policy(&self, jit: bool) -> FeePolicy {
        let policy = *self.router.policy.read().unwrap_or_else(|p| p.into_inner());
        if jit {
            FeePolicy {
                base_msat: 0,
                ppm: 0,
                ..policy
            }
        } else {
            policy
        }
    }

    async fn jit_route(&self, scid: ShortChannelId) -> Result<JitRoute, Error> {
        let sale = self
            .cfg
            .store
            .call(move |c| crate::store::lsps::jit_by_scid(c, scid))
            .await?;
        let Some(sale) = sale else {
            return Ok(JitRoute::Unknown);
        };
        Ok(match sale.state {
            // `opening` after a restart: the parts come again and are collected again.
            JitState::Waiting | JitState::Opening => {
                let Ok(params) = serde_json::from_str(&sale.opening_fee_params) else {
                    tracing::error!(%scid, "a stored JIT sale's offer does not parse");
                    return Ok(JitRoute::Unknown);
                };
                let bought = Bought {
                    params,
                    valid_until_secs: sale.valid_until,
                    payment_size_msat: sale.payment_size_msat,
                    opening_fee_msat: sale.opening_fee_msat,
                };
                JitRoute::Hold(Box::new((sale, bought)))
            }
            JitState::Opened => match sale.channel_id.and_then(|id| self.by_channel_id(&id)) {
                Some(idx) => JitRoute::Channel(idx),
                None => JitRoute::Unknown,
            },
            JitState::Failed | JitState::Expired => JitRoute::Unknown,
        })
    }

    /// Holds an HTLC for a JIT sale after the checks a forward gets (no fee on this hop).
    async fn jit_hold(
        &mut self,
        incoming: HtlcRef,
        scid: ShortChannelId,
        out: Outgoing,
        held: JitHtlc,
        sale: (JitRecord, Bought),
    ) -> Result<(), Error> {
        let (record, bought) = sale;
        let (idx, id, secret) = (held.in_idx, held.htlc.id, held.secret);
        let inc = Incoming {
            amount_msat: held.htlc.amount_msat,
            cltv_expiry: held.htlc.cltv_expiry,
        };
        let next = NextChannel {
            closing: false,
            usable: true,
            htlc_minimum_msat: 1,
        };
        let policy = self.forward_policy(true);
        if let Err(f) = check_forward(&policy, inc, out, Some(next), self.router.height) {
            tracing::info!(channel = idx, htlc = id, failure = f.name(), %scid, "JIT forward refused");
            self.fail_with(idx, id, &secret, f).await;
            return Ok(());
        }
        if !self
            .record_onion(idx, &held.htlc, incoming, &secret)
            .await?
        {
            return Ok(());
        }
        let part = HeldPart {
            htlc: incoming,
            out_msat: out.amount_msat,
            data: held,
        };
        let Some(jit) = self.router.jit.as_mut() else {
            return Ok(());
        };
        let added = jit.holds.add(
            scid,
            record.client,
            &bought,
            part,
            std::time::Instant::now(),
            now_secs(),
        );
        match added {
            Added::Hold => {
                tracing::debug!(channel = idx, htlc = id, %scid, "holding a part for a JIT channel")
            }
            Added::Refuse(part, f) => self.jit_fail(vec![part], f).await,
            Added::Open {
                scid,
                client,
                payment_msat,
            } => {
                let trusts = record.client_trusts_lsp;
                Box::pin(self.jit_open(scid, client, payment_msat, trusts)).await
            }
        }
        Ok(())
    }

    /// The payment for `scid` is whole: open a zero-conf channel to the client that carries
    /// it and the configured inbound liquidity.
    /// `trusts`: the client trusts us (`client_trusts_lsp`), so the funding waits for its
    /// claim.
    async fn jit_open(
        &mut self,
        scid: ShortChannelId,
        client: PublicKey,
        payment_msat: u64,
        trusts: bool,
    ) {
        let Some(jit) = self.router.jit.as_ref() else {
            return;
        };
        let capacity_sat = payment_msat
            .div_ceil(1000)
            .saturating_add(jit.inbound_liquidity_sat);
        let terms = self.peer_terms.get(&client).copied().unwrap_or_default();
        let params = OpenParams {
            peer: client,
            capacity_sat,
            push_msat: 0,
            // The client may have no coins for an anchors reserve; it says what it takes.
            format: if terms.anchors {
                Format::Anchors
            } else {
                Format::StaticRemoteKey
            },
            announce: false,
            zero_conf: true,
        };
        // Nobody waits on the reply: the channel's events drive the rest.
        let (reply, _) = tokio::sync::oneshot::channel();
        match self.open_for(params, reply).await {
            Ok(idx) => {
                tracing::info!(%scid, %client, channel = idx, capacity_sat, payment_msat,
                    "opening a JIT channel");
                if let Some(jit) = self.router.jit.as_mut() {
                    jit.holds.opening(scid, idx);
                    if trusts {
                        let w = Withheld {
                            scid,
                            claim_by: None,
                        };
                        jit.withheld.insert(idx, w);
                    }
                }
                let r = self
                    .cfg
                    .store
                    .write(move |tx| crate::store::lsps::set_jit_state(tx, scid, JitState::Opening))
                    .await;
                if let Err(e) = r {
                    tracing::error!(error = %e, %scid, "JIT sale state not stored");
                }
            }
            Err(e) => {
                // The client is away or our wallet is short: the payer may retry.
                tracing::info!(%scid, %client, error = %e, "a JIT channel could not be opened");
                let parts = self
                    .router
                    .jit
                    .as_mut()
                    .map(|j| j.holds.open_failed(scid))
                    .unwrap_or_default();
                self.jit_fail(parts, JitFailure::TemporaryChannelFailure)
                    .await;
            }
        }
    }

    /// A JIT channel is ready: forward its payment, less the opening fee.
    async fn jit_ready(&mut self, idx: u32) -> Result<(), Error> {
        let Some(scid) = self.router.jit.as_ref().and_then(|j| j.holds.scid_of(idx)) else {
            return Ok(());
        };
        let Some(e) = self.entries.get(&idx) else {
            return Ok(());
        };
        let state = e.channel.state();
        let htlc_minimum_msat = state
            .setup
            .remote
            .as_ref()
            .map_or(1, |p| p.htlc_minimum_msat);
        let channel_id = e.channel.channel_id().0;
        let funding_txid = state
            .setup
            .funding_outpoint
            .map(|o| o.txid.to_byte_array())
            .unwrap_or_default();
        let capacity_sat = state.setup.funding_sat;
        let client = e.peer;
        let Some(settled) = self
            .router
            .jit
            .as_mut()
            .and_then(|j| j.holds.ready(scid, htlc_minimum_msat))
        else {
            return Ok(());
        };
        let (fee_msat, parts) = match settled {
            Settled::Forward {
                fee_msat, parts, ..
            } => (fee_msat, parts),
            Settled::Fail(parts, f) => {
                tracing::info!(%scid, "the JIT payment's parts cannot carry the opening fee");
                self.jit_fail(parts, f).await;
                return Ok(());
            }
        };
        let payment_msat: u64 = parts.iter().map(|p| p.part.out_msat).sum();
        let log = self.cfg.events.clone();
        let event = EventData::JitChannelOpened {
            jit_channel_scid: scid.to_string(),
            client_node_id: client.to_string(),
            channel_id: hex32(&channel_id),
            funding_txid: bitcoin::Txid::from_byte_array(funding_txid).to_string(),
            capacity_sat,
            payment_msat,
            opening_fee_msat: fee_msat,
        };
        let recorded = self
            .cfg
            .store
            .write(move |tx| {
                if crate::store::lsps::jit_opened(tx, scid, &channel_id, &funding_txid, fee_msat)? {
                    log.record(tx, &event)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = recorded {
            // Held no longer: back to the payer rather than stuck until their expiry.
            let parts = parts.into_iter().map(|f| f.part).collect();
            self.jit_fail(parts, JitFailure::TemporaryChannelFailure)
                .await;
            return Err(e.into());
        }
        tracing::info!(%scid, channel = idx, parts = parts.len(), fee_msat,
            "JIT channel ready: forwarding its payment");
        if let Some(w) = self
            .router
            .jit
            .as_mut()
            .and_then(|j| j.withheld.get_mut(&idx).map(|w| (w, j.claim_timeout)))
            .map(|(w, t)| {
                w.claim_by = Some(std::time::Instant::now() + t);
                *w
            })
        {
            tracing::info!(scid = %w.scid, channel = idx,
                "the funding waits for the client's claim (client_trusts_lsp)");
        }
        for f in parts {
            let d = f.part.data;
            let out = Outgoing {
                amount_msat: f.amount_msat,
                cltv_expiry: d.out_cltv,
            };
            let via = Via {
                jit: true,
                // bLIP 52: only a part with something taken carries the record.
                extra_fee_msat: (f.extra_fee_msat > 0).then_some(f.extra_fee_msat),
            };
            let r = self
                .forward_on(
                    d.in_idx,
                    &d.htlc,
                    f.part.htlc,
                    d.secret,
                    Some(idx),
                    out,
                    d.next_packet,
                    via,
                )
                .await;
            if let Err(e) = r {
                // The reconcile on the next block finds the HTLC again.
                tracing::error!(error = %e, %scid, "a JIT part was not forwarded");
            }
        }
        Ok(())
    }

    async fn jit_open_failed(&mut self, idx: u32, refused: bool) -> Result<(), Error> {
        let Some(scid) = self.router.jit.as_ref().and_then(|j| j.holds.scid_of(idx)) else {
            return Ok(());
        };
        let parts = self
            .router
            .jit
            .as_mut()
            .map(|j| {
                j.withheld.remove(&idx);
                j.holds.open_failed(scid)
            })
            .unwrap_or_default();
        // bLIP 52: a client that refuses the channel gets unknown_next_peer; one that left
        // before signing, temporary_channel_failure and the sale waits for a retry.
        let (failure, state) = if refused {
            (JitFailure::UnknownNextPeer, JitState::Failed)
        } else {
            (JitFailure::TemporaryChannelFailure, JitState::Waiting)
        };
        tracing::info!(%scid, channel = idx, refused, "the JIT channel did not open");
        self.cfg
            .store
            .write(move |tx| crate::store::lsps::set_jit_state(tx, scid, state))
            .await?;
        self.jit_fail(parts, failure).await;
        Ok(())
    }

    /// Fails held JIT parts back with what `lsps::jit` decided.
    async fn jit_fail(&mut self, parts: Vec<HeldPart<JitHtlc>>, failure: JitFailure) {
        for p in parts {
            let f = match failure {
                JitFailure::UnknownNextPeer => FailureMessage::UnknownNextPeer,
                JitFailure::TemporaryChannelFailure => temporary_channel_failure(),
            };
            tracing::info!(
                channel = p.data.in_idx,
                htlc = p.data.htlc.id,
                failure = f.name(),
                "a JIT part failed back"
            );
            self.fail_with(p.data.in_idx, p.data.htlc.id, &p.data.secret, f)
                .await;
        }
    }

    /// Fails back the JIT sets whose time is up, and forgets the withheld channels whose
    /// client did not claim in time; on the actor's timer and on every block.
    pub(in crate::node::channels) async fn expire_jit(&mut self) {
        let Some(jit) = self.router.jit.as_mut() else {
            return;
        };
        let now = std::time::Instant::now();
        let due = jit.holds.expire(now, now_secs());
        let unclaimed: Vec<(u32, ShortChannelId)> = jit
            .withheld
            .iter()
            .filter(|(_, w)| w.claim_by.is_some_and(|t| t <= now))
            .map(|(idx, w)| (*idx, w.scid))
            .collect();
        for (scid, settled) in due {
            if let Settled::Fail(parts, f) = settled {
                tracing::info!(%scid, parts = parts.len(), ?f, "a JIT payment timed out");
                self.jit_fail(parts, f).await;
            }
        }
        for (idx, scid) in unclaimed {
            if let Err(e) = Box::pin(self.jit_unclaimed(idx, scid)).await {
                tracing::error!(error = %e, %scid, "an unclaimed JIT channel was not forgotten");
            }
        }
    }

    /// When [`Self::expire_jit`] next has work.
    pub(in crate::node::channels) fn jit_deadline(&self) -> Option<std::time::Instant> {
        let jit = self.router.jit.as_ref()?;
        let claims = jit.withheld.values().filter_map(|w| w.claim_by);
        jit.holds.next_deadline().into_iter().chain(claims).min()
    }

    /// Whether `tx` is the funding of a JIT channel we withhold: not to be broadcast yet.
    pub(in crate::node::channels) fn withholds(&self, idx: u32, tx: &bitcoin::Transaction) -> bool {
        let withheld = self
            .router
            .jit
            .as_ref()
            .is_some_and(|j| j.withheld.contains_key(&idx));
        withheld
            && self.entries.get(&idx).is_some_and(|e| {
                let funding = e.channel.state().setup.funding_outpoint;
                funding.is_some_and(|o| o.txid == tx.compute_txid())
            })
    }

    /// The client of a withheld JIT channel claimed a payment (its preimage is ours now):
    /// the funding goes out.
    pub(super) async fn release_withheld(&mut self, idx: u32) {
        let Some(w) = self
            .router
            .jit
            .as_mut()
            .and_then(|j| j.withheld.remove(&idx))
        else {
            return;
        };
        let tx = self
            .entries
            .get(&idx)
            .and_then(|e| e.channel.state().setup.funding_tx.clone());
        if let Some(tx) = tx {
            tracing::info!(scid = %w.scid, channel = idx, txid = %tx.compute_txid(),
                "the JIT client claimed: its funding is broadcast");
            self.broadcast_tx(idx, tx).await;
        }
    }

    /// The client of a withheld JIT channel did not claim in time: its funding was never
    /// broadcast, so the channel is forgotten (its coins back in our wallet), the payment
    /// failed back, and the sale failed. The client has nothing on chain to claim with: it
    /// never saw the funding transaction.
    async fn jit_unclaimed(&mut self, idx: u32, scid: ShortChannelId) -> Result<(), Error> {
        if let Some(j) = self.router.jit.as_mut() {
            j.withheld.remove(&idx);
        }
        let Some(channel_id) = self.channel_id_of(idx) else {
            return Ok(());
        };
        tracing::warn!(%scid, channel = idx,
            "the JIT client did not claim in time: its never-funded channel is forgotten");
        let forwards = self
            .cfg
            .store
            .call(crate::store::payments::list_pending_forwards)
            .await?;
        let why = "the JIT client did not claim; its channel was never funded";
        for fwd in forwards
            .into_iter()
            .filter(|f| f.outgoing.channel_id == channel_id)
        {
            self.on_out_gone(idx, fwd.outgoing.htlc_id, why).await?;
        }
        self.cfg
            .store
            .write(move |tx| crate::store::lsps::jit_unclaimed(tx, scid))
            .await?;
        self.forget_unfunded(idx, why).await;
        Ok(())
    }

    /// Whether the channel `idx` was opened for a JIT sale still waiting on it.
    pub(in crate::node::channels) fn is_jit_opening(&self, idx: u32) -> bool {
        self.router
            .jit
            .as_ref()
            .is_some_and(|j| j.holds.scid_of(idx).is_some())
    }
}

mod incoming;
mod outgoing;
mod pay;
