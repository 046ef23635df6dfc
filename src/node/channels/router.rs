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
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, SecretKey};
use bitcoin::Network;
use rand::RngCore;
use tokio::sync::{broadcast, oneshot};

use super::actor::Actor;
use super::PayRequest;
use crate::channel::{AddHtlc, Command, Input, MalformedFailure, OfferedHtlc, Phase};
use crate::error::Error;
use crate::invoice::{Invoice, RouteHint, RouteHintHop};
use crate::onion::{
    build_payment_onion, create_error_packet, decrypt_failure, failure_from_malformed,
    forward_error_packet, hop_keys, peel, process_onion, ErrorPacket, FailureMessage, ProcessError,
    Processed, Recipient, ReplayKey, SharedSecret,
};
use crate::payments::forward::{check_forward, Incoming, NextChannel, Outgoing};
use crate::payments::receive::{check_final, Arrived};
use crate::payments::route::{find_route, OurChannel};
use crate::payments::{
    FeePolicy, ForwardRecord, ForwardStatus, HtlcRef, InvoiceRecord, PaymentEvent, PaymentRecord,
    PaymentStatus, SharedPolicy,
};
use crate::store::{payments as pq, StoreError};
use crate::wire::types::ONION_PACKET_LEN;
use crate::wire::OnionPacket;

/// A write that must commit in the same transaction as a channel's next state.
pub(super) type StoreOp =
    Box<dyn FnOnce(&rusqlite::Transaction<'_>) -> Result<(), StoreError> + Send + Sync>;

/// Blocks a payer adds to the invoice's final CLTV delta, so a payee a block behind (or a
/// block found while the HTLC travels) still accepts it.
pub const FINAL_CLTV_MARGIN: u32 = 3;
/// Route hints an invoice carries at most: the channels with the most inbound liquidity.
pub const MAX_ROUTE_HINTS: usize = 3;

/// Something a channel event asks of the router.
#[derive(Debug)]
pub(super) enum Work {
    Received {
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
}

/// The router's part of the actor.
pub(super) struct Router {
    pub node_key: SecretKey,
    pub node_id: PublicKey,
    pub network: Network,
    pub policy: SharedPolicy,
    /// Tests drive HTLCs by hand: incoming HTLCs are left alone.
    pub manual: bool,
    pub queue: VecDeque<Work>,
    /// `pay` calls waiting for the outcome of a payment hash.
    pub waiters: HashMap<[u8; 32], Vec<oneshot::Sender<PaymentRecord>>>,
    pub events: broadcast::Sender<PaymentEvent>,
    /// What each channel's peer charges to forward to us (its `channel_update`).
    pub peer_policies: HashMap<u32, FeePolicy>,
    /// The chain height, from the last block.
    pub height: u32,
}

/// What `pay` answers at once: the record, and the outcome to wait for if asked.
pub(super) type PayStarted = (PaymentRecord, Option<oneshot::Receiver<PaymentRecord>>);

pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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
            self.route(w).await;
        }
    }

    async fn route(&mut self, w: Work) {
        let r = match w {
            Work::Received { idx, htlc } => self.on_received(idx, htlc).await,
            Work::MustFail { idx, htlc } => {
                self.fail_received(idx, &htlc, temporary_channel_failure())
                    .await;
                Ok(())
            }
            Work::Fulfilled { idx, id, preimage } => self.on_fulfilled(idx, id, preimage).await,
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

    // ---- incoming HTLCs ----

    async fn on_received(&mut self, idx: u32, htlc: AddHtlc) -> Result<(), Error> {
        let Some(channel_id) = self.channel_id_of(idx) else {
            return Ok(());
        };
        let incoming = HtlcRef {
            channel_id,
            htlc_id: htlc.id,
        };
        let hash = htlc.payment_hash;
        let (forward, invoice) = self
            .cfg
            .store
            .call(move |c| {
                Ok((
                    pq::get_forward_by_in(c, incoming)?,
                    pq::get_invoice(c, &hash)?,
                ))
            })
            .await?;
        if let Some(fwd) = forward {
            return self.resume_forward(idx, &htlc, fwd).await;
        }
        let Some(packet) = packet_of(&htlc.onion) else {
            self.fail_received(idx, &htlc, FailureMessage::InvalidRealm)
                .await;
            return Ok(());
        };
        let processed = match process_onion(&self.router.node_key, &packet, &hash) {
            Ok(p) => p,
            Err(ProcessError::Malformed(m)) => {
                let command = Command::FailMalformed {
                    id: htlc.id,
                    sha256_of_onion: m.sha256_of_onion,
                    failure_code: m.failure_code(),
                };
                self.settle_command(idx, command).await;
                return Ok(());
            }
            Err(ProcessError::Rejected {
                shared_secret,
                failure,
            }) => {
                self.fail_with(idx, htlc.id, &shared_secret, failure).await;
                return Ok(());
            }
        };
        let secret = *processed.shared_secret();
        let key = ReplayKey::of(&secret).0;
        let cltv = htlc.cltv_expiry;
        let fresh = self
            .cfg
            .store
            .write(move |tx| pq::replay_check_and_record(tx, &key, cltv, incoming))
            .await?;
        if !fresh {
            tracing::warn!(channel = idx, htlc = htlc.id, "replayed onion refused");
            self.fail_with(idx, htlc.id, &secret, FailureMessage::TemporaryNodeFailure)
                .await;
            return Ok(());
        }
        match processed {
            Processed::Forward {
                shared_secret,
                payload,
                next_packet,
            } => {
                let out = Outgoing {
                    amount_msat: payload.amt_to_forward,
                    cltv_expiry: payload.outgoing_cltv_value,
                };
                self.forward(
                    idx,
                    &htlc,
                    incoming,
                    shared_secret,
                    payload.short_channel_id,
                    out,
                    next_packet,
                )
                .await
            }
            Processed::Final {
                shared_secret,
                payload,
            } => {
                let arrived = Arrived {
                    htlc: incoming,
                    amount_msat: htlc.amount_msat,
                    cltv_expiry: htlc.cltv_expiry,
                };
                let now = now_secs();
                match check_final(invoice.as_ref(), arrived, &payload, self.router.height, now) {
                    Err(f) => {
                        tracing::info!(channel = idx, htlc = htlc.id, failure = f.name(),
                            payment_hash = %hex32(&hash), "refused a payment to us");
                        self.fail_with(idx, htlc.id, &shared_secret, f).await;
                        Ok(())
                    }
                    Ok(()) => {
                        let inv = invoice.expect("check_final passes only with an invoice");
                        self.claim(idx, &htlc, incoming, inv, now).await
                    }
                }
            }
        }
    }

    /// Settles an HTLC that pays our invoice: the invoice is marked paid in the same write
    /// as the channel state that reveals the preimage.
    async fn claim(
        &mut self,
        idx: u32,
        htlc: &AddHtlc,
        incoming: HtlcRef,
        inv: InvoiceRecord,
        now: u64,
    ) -> Result<(), Error> {
        let first_time = inv.paid_by != Some(incoming);
        let hash = inv.payment_hash;
        let amount = htlc.amount_msat;
        let ops: Vec<StoreOp> = if first_time {
            vec![Box::new(move |tx| {
                pq::mark_invoice_paid(tx, &hash, amount, now, incoming).map(|_| ())
            })]
        } else {
            Vec::new()
        };
        let command = Command::Fulfill {
            id: htlc.id,
            preimage: inv.preimage,
        };
        match self.command_with(idx, command, ops).await {
            Ok(()) if first_time => {
                tracing::info!(channel = idx, payment_hash = %hex32(&hash), amount_msat = amount,
                    "invoice paid");
                let _ = self.router.events.send(PaymentEvent::InvoicePaid {
                    payment_hash: hex32(&hash),
                    amount_msat: amount,
                });
            }
            Ok(()) => {}
            Err(e) => tracing::warn!(channel = idx, error = %e, "cannot settle a paid HTLC"),
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &mut self,
        idx: u32,
        htlc: &AddHtlc,
        incoming: HtlcRef,
        secret: SharedSecret,
        scid: crate::wire::ShortChannelId,
        out: Outgoing,
        next_packet: OnionPacket,
    ) -> Result<(), Error> {
        let out_idx = self
            .entries
            .values()
            .find(|e| e.live() && e.channel.local_alias() == Some(scid))
            .map(|e| e.key_index);
        let next = out_idx
            .and_then(|i| self.entries.get(&i))
            .map(|e| NextChannel {
                closing: {
                    let s = e.channel.state();
                    s.close.local_script.is_some()
                        || s.close.remote_script.is_some()
                        || matches!(
                            s.phase,
                            Phase::ShuttingDown
                                | Phase::Negotiating
                                | Phase::Closing { .. }
                                | Phase::Closed
                                | Phase::Aborted
                        )
                },
                usable: e.channel.is_usable(),
                htlc_minimum_msat: e
                    .channel
                    .state()
                    .setup
                    .remote
                    .as_ref()
                    .map_or(1, |p| p.htlc_minimum_msat),
            });
        let policy = *self.router.policy.read().unwrap_or_else(|p| p.into_inner());
        let inc = Incoming {
            amount_msat: htlc.amount_msat,
            cltv_expiry: htlc.cltv_expiry,
        };
        if let Err(f) = check_forward(&policy, inc, out, next, self.router.height) {
            tracing::info!(
                channel = idx,
                htlc = htlc.id,
                failure = f.name(),
                "forward refused"
            );
            self.fail_with(idx, htlc.id, &secret, f).await;
            return Ok(());
        }
        let out_idx = out_idx.expect("check_forward passes only with a next channel");
        let (out_channel, out_id) = {
            let e = &self.entries[&out_idx];
            let next_id = e
                .channel
                .state()
                .commitments
                .as_ref()
                .map_or(0, |c| c.local_next_htlc_id);
            (e.channel.channel_id().0, next_id)
        };
        let record = ForwardRecord {
            incoming,
            outgoing: HtlcRef {
                channel_id: out_channel,
                htlc_id: out_id,
            },
            payment_hash: htlc.payment_hash,
            in_msat: htlc.amount_msat,
            out_msat: out.amount_msat,
            in_cltv_expiry: htlc.cltv_expiry,
            out_cltv_expiry: out.cltv_expiry,
            status: ForwardStatus::Pending,
            shared_secret: secret.0,
            preimage: None,
            failure: None,
            created_at: now_secs(),
            resolved_at: None,
        };
        let ops: Vec<StoreOp> = vec![Box::new(move |tx| {
            pq::insert_forward(tx, &record).map(|_| ())
        })];
        let command = Command::AddHtlc {
            amount_msat: out.amount_msat,
            payment_hash: htlc.payment_hash,
            cltv_expiry: out.cltv_expiry,
            onion: next_packet.0.to_vec(),
        };
        match self.command_with(out_idx, command, ops).await {
            Ok(()) => {
                tracing::debug!(
                    from = idx,
                    to = out_idx,
                    htlc = htlc.id,
                    out_id,
                    "forwarded"
                );
            }
            Err(e) => {
                tracing::info!(from = idx, to = out_idx, error = %e, "next channel refused the HTLC");
                self.fail_with(idx, htlc.id, &secret, temporary_channel_failure())
                    .await;
            }
        }
        Ok(())
    }

    /// An incoming HTLC we already decided about (seen again after a restart).
    async fn resume_forward(
        &mut self,
        idx: u32,
        htlc: &AddHtlc,
        fwd: ForwardRecord,
    ) -> Result<(), Error> {
        match fwd.status {
            ForwardStatus::Pending => {
                match self.offered_state(&fwd.outgoing) {
                    Some(OfferedHtlc::Pending) => {}
                    Some(OfferedHtlc::Fulfilled { preimage }) => {
                        self.settle_forward(fwd, preimage).await?
                    }
                    None => {
                        self.fail_forward(
                            fwd,
                            Err(temporary_channel_failure()),
                            "the next hop's HTLC is gone",
                        )
                        .await?
                    }
                }
                Ok(())
            }
            ForwardStatus::Settled => {
                if let Some(preimage) = fwd.preimage {
                    self.settle_command(
                        idx,
                        Command::Fulfill {
                            id: htlc.id,
                            preimage,
                        },
                    )
                    .await;
                }
                Ok(())
            }
            ForwardStatus::Failed => {
                let secret = SharedSecret(fwd.shared_secret);
                self.fail_with(idx, htlc.id, &secret, temporary_channel_failure())
                    .await;
                Ok(())
            }
        }
    }

    fn offered_state(&self, out: &HtlcRef) -> Option<OfferedHtlc> {
        let idx = self.by_channel_id(&out.channel_id)?;
        self.entries[&idx].channel.offered_htlc(out.htlc_id)
    }

    /// Fails an incoming HTLC whose shared secret we must first find again.
    async fn fail_received(&mut self, idx: u32, htlc: &AddHtlc, failure: FailureMessage) {
        let Some(packet) = packet_of(&htlc.onion) else {
            return;
        };
        match peel(&self.router.node_key, &packet, &htlc.payment_hash) {
            Ok(p) => {
                self.fail_with(idx, htlc.id, &p.shared_secret, failure)
                    .await
            }
            Err(ProcessError::Rejected { shared_secret, .. }) => {
                self.fail_with(idx, htlc.id, &shared_secret, failure).await
            }
            Err(ProcessError::Malformed(m)) => {
                let command = Command::FailMalformed {
                    id: htlc.id,
                    sha256_of_onion: m.sha256_of_onion,
                    failure_code: m.failure_code(),
                };
                self.settle_command(idx, command).await;
            }
        }
    }

    /// Fails incoming HTLC `id` with an error onion of ours.
    async fn fail_with(&mut self, idx: u32, id: u64, secret: &SharedSecret, f: FailureMessage) {
        match create_error_packet(secret, &f.into()) {
            Ok(packet) => {
                let command = Command::Fail {
                    id,
                    reason: packet.0,
                };
                self.settle_command(idx, command).await;
            }
            Err(e) => tracing::error!(channel = idx, error = %e, "cannot build an error onion"),
        }
    }

    /// A fulfill or fail of an incoming HTLC with no bookkeeping of its own. Refused only
    /// when the HTLC is already being removed (a repeat after a restart), which is fine.
    async fn settle_command(&mut self, idx: u32, command: Command) {
        if let Some(e) = self.input_plain(idx, Input::Command(command)).await {
            tracing::debug!(channel = idx, error = %e, "settle not applied");
        }
    }

    // ---- outgoing HTLCs ----

    async fn on_fulfilled(&mut self, idx: u32, id: u64, preimage: [u8; 32]) -> Result<(), Error> {
        let Some(channel_id) = self.channel_id_of(idx) else {
            return Ok(());
        };
        let out = HtlcRef {
            channel_id,
            htlc_id: id,
        };
        let hash = sha256::Hash::hash(&preimage).to_byte_array();
        let (fwd, payment) = self
            .cfg
            .store
            .call(move |c| {
                Ok((
                    pq::pending_forward_by_out(c, out)?,
                    pq::get_payment(c, &hash)?,
                ))
            })
            .await?;
        if let Some(fwd) = fwd {
            return self.settle_forward(fwd, preimage).await;
        }
        if let Some(p) =
            payment.filter(|p| p.htlc == Some(out) && p.status == PaymentStatus::Pending)
        {
            let now = now_secs();
            let fee = p.fee_msat;
            self.cfg
                .store
                .write(move |tx| {
                    pq::resolve_payment(
                        tx,
                        &hash,
                        PaymentStatus::Succeeded,
                        Some(preimage),
                        Some(fee),
                        None,
                        now,
                    )
                    .map(|_| ())
                })
                .await?;
            tracing::info!(payment_hash = %hex32(&hash), fee_msat = fee, "payment succeeded");
            let _ = self.router.events.send(PaymentEvent::PaymentSucceeded {
                payment_hash: hex32(&hash),
                preimage: hex32(&preimage),
                fee_msat: fee,
            });
            self.notify(hash).await;
        }
        Ok(())
    }

    async fn settle_forward(
        &mut self,
        fwd: ForwardRecord,
        preimage: [u8; 32],
    ) -> Result<(), Error> {
        let now = now_secs();
        let incoming = fwd.incoming;
        let ops: Vec<StoreOp> = vec![Box::new(move |tx| {
            pq::resolve_forward(
                tx,
                incoming,
                ForwardStatus::Settled,
                Some(preimage),
                None,
                now,
            )
            .map(|_| ())
        })];
        let command = Command::Fulfill {
            id: incoming.htlc_id,
            preimage,
        };
        match self.by_channel_id(&incoming.channel_id) {
            Some(in_idx) => {
                if let Err(e) = self.command_with(in_idx, command, ops).await {
                    // Already settled upstream (a repeat): record the outcome anyway.
                    tracing::debug!(error = %e, "upstream fulfill not applied");
                    let ops: Vec<StoreOp> = vec![Box::new(move |tx| {
                        pq::resolve_forward(
                            tx,
                            incoming,
                            ForwardStatus::Settled,
                            Some(preimage),
                            None,
                            now,
                        )
                        .map(|_| ())
                    })];
                    self.write_ops(ops).await?;
                }
            }
            None => self.write_ops(ops).await?,
        }
        self.forward_event(&fwd, ForwardStatus::Settled);
        Ok(())
    }

    /// Fails the incoming side of a forward: with the downstream error onion wrapped in our
    /// layer (`Ok`), or with an error onion of our own (`Err`).
    async fn fail_forward(
        &mut self,
        fwd: ForwardRecord,
        downstream: Result<Vec<u8>, FailureMessage>,
        why: &str,
    ) -> Result<(), Error> {
        let secret = SharedSecret(fwd.shared_secret);
        let reason = match downstream {
            Ok(bytes) => {
                let mut packet = ErrorPacket(bytes);
                forward_error_packet(&secret, &mut packet);
                packet.0
            }
            Err(f) => match create_error_packet(&secret, &f.into()) {
                Ok(p) => p.0,
                Err(e) => return Err(Error::Internal(format!("error onion: {e}"))),
            },
        };
        let now = now_secs();
        let incoming = fwd.incoming;
        let failure = why.to_string();
        let record = move |tx: &rusqlite::Transaction<'_>| {
            pq::resolve_forward(
                tx,
                incoming,
                ForwardStatus::Failed,
                None,
                Some(&failure),
                now,
            )
            .map(|_| ())
        };
        let command = Command::Fail {
            id: incoming.htlc_id,
            reason,
        };
        match self.by_channel_id(&incoming.channel_id) {
            Some(in_idx) => {
                let op: StoreOp = Box::new(record.clone());
                if let Err(e) = self.command_with(in_idx, command, vec![op]).await {
                    tracing::debug!(error = %e, "upstream fail not applied");
                    self.write_ops(vec![Box::new(record)]).await?;
                }
            }
            None => self.write_ops(vec![Box::new(record)]).await?,
        }
        self.forward_event(&fwd, ForwardStatus::Failed);
        Ok(())
    }

    fn forward_event(&self, fwd: &ForwardRecord, status: ForwardStatus) {
        let _ = self.router.events.send(PaymentEvent::HtlcForwarded {
            payment_hash: hex32(&fwd.payment_hash),
            in_channel_id: hex32(&fwd.incoming.channel_id),
            out_channel_id: hex32(&fwd.outgoing.channel_id),
            in_msat: fwd.in_msat,
            out_msat: fwd.out_msat,
            fee_msat: fwd.fee_msat(),
            status: status.as_str().to_string(),
        });
    }

    async fn on_failed(
        &mut self,
        idx: u32,
        id: u64,
        reason: Vec<u8>,
        malformed: Option<MalformedFailure>,
    ) -> Result<(), Error> {
        let Some(channel_id) = self.channel_id_of(idx) else {
            return Ok(());
        };
        let out = HtlcRef {
            channel_id,
            htlc_id: id,
        };
        let (fwd, payment) = self
            .cfg
            .store
            .call(move |c| {
                Ok((
                    pq::pending_forward_by_out(c, out)?,
                    pq::pending_payment_by_htlc(c, out)?,
                ))
            })
            .await?;
        if let Some(fwd) = fwd {
            // A malformed failure: the next hop could not read its onion, so we make the
            // error onion ourselves (BOLT 2).
            let downstream = match malformed {
                None => Ok(reason),
                Some(m) => Err(failure_from_malformed(m.failure_code, m.sha256_of_onion)
                    .unwrap_or_else(temporary_channel_failure)),
            };
            return self
                .fail_forward(fwd, downstream, "failed downstream")
                .await;
        }
        if let Some(p) = payment {
            let failure = describe_failure(&p, &reason, malformed);
            self.fail_payment(p, failure).await?;
        }
        Ok(())
    }

    /// Our HTLC `id` on `idx` no longer exists without a fulfill: fail what depended on it.
    async fn on_out_gone(&mut self, idx: u32, id: u64, why: &str) -> Result<(), Error> {
        let Some(channel_id) = self.channel_id_of(idx) else {
            return Ok(());
        };
        let out = HtlcRef {
            channel_id,
            htlc_id: id,
        };
        let (fwd, payment) = self
            .cfg
            .store
            .call(move |c| {
                Ok((
                    pq::pending_forward_by_out(c, out)?,
                    pq::pending_payment_by_htlc(c, out)?,
                ))
            })
            .await?;
        if let Some(fwd) = fwd {
            self.fail_forward(fwd, Err(temporary_channel_failure()), why)
                .await?;
        }
        if let Some(p) = payment {
            self.fail_payment(p, why.to_string()).await?;
        }
        Ok(())
    }

    async fn fail_payment(&mut self, p: PaymentRecord, failure: String) -> Result<(), Error> {
        let hash = p.payment_hash;
        let now = now_secs();
        let text = failure.clone();
        let fee = p.fee_msat;
        self.cfg
            .store
            .write(move |tx| {
                pq::resolve_payment(
                    tx,
                    &hash,
                    PaymentStatus::Failed,
                    None,
                    Some(fee),
                    Some(&text),
                    now,
                )
                .map(|_| ())
            })
            .await?;
        tracing::info!(payment_hash = %hex32(&hash), %failure, "payment failed");
        let _ = self.router.events.send(PaymentEvent::PaymentFailed {
            payment_hash: hex32(&hash),
            failure,
        });
        self.notify(hash).await;
        Ok(())
    }

    async fn notify(&mut self, hash: [u8; 32]) {
        let Some(waiters) = self.router.waiters.remove(&hash) else {
            return;
        };
        if let Ok(Some(rec)) = self
            .cfg
            .store
            .call(move |c| pq::get_payment(c, &hash))
            .await
        {
            for w in waiters {
                let _ = w.send(rec.clone());
            }
        }
    }

    // ---- after a restart, and on every block ----

    /// Re-examines everything in flight against the channels' states: incoming HTLCs not yet
    /// settled, forwards and payments whose outgoing HTLC vanished or was fulfilled unseen.
    pub(super) async fn reconcile(&mut self) {
        if let Err(e) = self.try_reconcile().await {
            tracing::warn!(error = %e, "reconcile failed; retrying next block");
        }
        self.drain_router().await;
    }

    async fn try_reconcile(&mut self) -> Result<(), Error> {
        let (forwards, payments) = self
            .cfg
            .store
            .call(|c| Ok((pq::list_pending_forwards(c)?, pq::list_pending_payments(c)?)))
            .await?;
        for fwd in forwards {
            match self.offered_state(&fwd.outgoing) {
                Some(OfferedHtlc::Pending) => {}
                Some(OfferedHtlc::Fulfilled { preimage }) => {
                    self.settle_forward(fwd, preimage).await?
                }
                None => {
                    self.fail_forward(
                        fwd,
                        Err(temporary_channel_failure()),
                        "the next hop's HTLC is gone",
                    )
                    .await?
                }
            }
        }
        for p in payments {
            let Some(out) = p.htlc else { continue };
            match self.offered_state(&out) {
                Some(OfferedHtlc::Pending) => {}
                Some(OfferedHtlc::Fulfilled { preimage }) => {
                    let idx = self.by_channel_id(&out.channel_id).unwrap_or_default();
                    self.on_fulfilled(idx, out.htlc_id, preimage).await?
                }
                None => self.fail_payment(p, "the HTLC is gone".into()).await?,
            }
        }
        if !self.router.manual {
            for e in self.entries.values().filter(|e| e.live()) {
                for htlc in e.channel.received_htlcs_to_settle() {
                    self.router.queue.push_back(Work::Received {
                        idx: e.key_index,
                        htlc,
                    });
                }
            }
        }
        let height = self.router.height;
        if height > 0 {
            self.cfg
                .store
                .write(move |tx| pq::replay_forget_expired(tx, height).map(|_| ()))
                .await?;
        }
        Ok(())
    }

    // ---- paying ----

    pub(super) async fn pay(&mut self, req: PayRequest) -> Result<PayStarted, Error> {
        let inv = Invoice::parse(req.bolt11.trim(), self.router.network)
            .map_err(|e| Error::InvalidInvoice(e.to_string()))?;
        let hash = inv.payment_hash().0;
        let existing = self
            .cfg
            .store
            .call(move |c| pq::get_payment(c, &hash))
            .await?;
        if let Some(p) = existing {
            match p.status {
                PaymentStatus::Succeeded => return Ok((p, None)),
                PaymentStatus::Pending => {
                    let waiter = req.wait.then(|| self.wait_for(hash));
                    return Ok((p, waiter));
                }
                PaymentStatus::Failed => {}
            }
        }
        let now = now_secs();
        if inv.is_expired(now) {
            return Err(Error::InvoiceExpired(format!(
                "the invoice expired at {} (unix time)",
                inv.expires_at()
            )));
        }
        let amount_msat = match (inv.amount_msat(), req.amount_msat) {
            (Some(a), None) => a,
            (Some(a), Some(b)) if b >= a => b,
            (Some(a), Some(b)) => {
                return Err(Error::InvalidRequest(format!(
                    "amount_msat {b} is below the invoice's {a}"
                )))
            }
            (None, Some(b)) if b > 0 => b,
            (None, _) => {
                return Err(Error::InvalidRequest(
                    "the invoice has no amount: give amount_msat".into(),
                ))
            }
        };
        let ours: Vec<OurChannel> = self
            .entries
            .values()
            .filter(|e| e.live())
            .map(|e| {
                let (local, _) = e.channel.balances_msat();
                let reserve = e
                    .channel
                    .state()
                    .setup
                    .remote
                    .as_ref()
                    .map_or(0, |p| p.channel_reserve_sat * 1000);
                OurChannel {
                    channel_id: e.channel.channel_id().0,
                    peer: e.peer,
                    usable: e.channel.is_usable(),
                    outbound_msat: local.saturating_sub(reserve),
                }
            })
            .collect();
        let payee = inv.payee();
        let route = find_route(&self.router.node_id, &payee, &inv.route_hints(), &ours)
            .map_err(|e| Error::NoRoute(e.to_string()))?;
        let height = self.current_height().await?;
        let delta = u32::try_from(inv.min_final_cltv_expiry_delta()).unwrap_or(u32::MAX);
        let recipient = Recipient {
            node_id: payee,
            amount_msat,
            final_cltv_expiry: height
                .saturating_add(delta)
                .saturating_add(FINAL_CLTV_MARGIN),
            payment_secret: Some(inv.payment_secret()),
            total_msat: amount_msat,
            payment_metadata: inv.payment_metadata().map(<[u8]>::to_vec),
        };
        let mut session = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut session);
        let session_key = SecretKey::from_slice(&session)
            .map_err(|e| Error::Internal(format!("session key: {e}")))?;
        let onion = build_payment_onion(
            &session_key,
            &route.forwarders,
            &recipient,
            &inv.payment_hash(),
        )
        .map_err(|e| Error::NoRoute(format!("cannot build the onion: {e}")))?;
        let out_idx = self
            .by_channel_id(&route.channel_id)
            .ok_or_else(|| Error::Internal("route over an unknown channel".into()))?;
        let out_id = self.entries[&out_idx]
            .channel
            .state()
            .commitments
            .as_ref()
            .map_or(0, |c| c.local_next_htlc_id);
        let mut path: Vec<PublicKey> = route.forwarders.iter().map(|h| h.node_id).collect();
        path.push(payee);
        let record = PaymentRecord {
            payment_hash: hash,
            bolt11: Some(req.bolt11.trim().to_string()),
            payee,
            amount_msat,
            fee_msat: onion.fee_msat,
            status: PaymentStatus::Pending,
            preimage: None,
            failure: None,
            created_at: now,
            resolved_at: None,
            htlc: Some(HtlcRef {
                channel_id: route.channel_id,
                htlc_id: out_id,
            }),
            session_key: session,
            route: path,
        };
        let stored = record.clone();
        let ops: Vec<StoreOp> = vec![Box::new(move |tx| {
            pq::upsert_payment(tx, &stored).map(|_| ())
        })];
        let command = Command::AddHtlc {
            amount_msat: onion.first_hop_amount_msat,
            payment_hash: hash,
            cltv_expiry: onion.first_hop_cltv_expiry,
            onion: onion.onion.packet.0.to_vec(),
        };
        self.command_with(out_idx, command, ops)
            .await
            .map_err(|e| Error::InsufficientLiquidity(e.to_string()))?;
        tracing::info!(payment_hash = %hex32(&hash), amount_msat, fee_msat = onion.fee_msat,
            hops = record.route.len(), "payment sent");
        let waiter = req.wait.then(|| self.wait_for(hash));
        Ok((record, waiter))
    }

    fn wait_for(&mut self, hash: [u8; 32]) -> oneshot::Receiver<PaymentRecord> {
        let (tx, rx) = oneshot::channel();
        self.router.waiters.entry(hash).or_default().push(tx);
        rx
    }

    async fn current_height(&mut self) -> Result<u32, Error> {
        if self.router.height == 0 {
            self.router.height = self.cfg.chain.tip().await.map_err(Error::from)?.height;
        }
        Ok(self.router.height)
    }

    // ---- invoices ----

    /// Route hints through the peers with the most inbound liquidity for us.
    pub(super) fn route_hints(&self) -> Vec<RouteHint> {
        let mut candidates: Vec<(u64, RouteHint)> = self
            .entries
            .values()
            .filter(|e| *e.channel.phase() == Phase::Normal)
            .filter_map(|e| {
                let scid = e.channel.remote_alias()?;
                let policy = self
                    .router
                    .peer_policies
                    .get(&e.key_index)
                    .copied()
                    .unwrap_or_default();
                let (_, inbound) = e.channel.balances_msat();
                let hop = RouteHintHop {
                    src_node_id: e.peer,
                    short_channel_id: scid,
                    fee_base_msat: policy.base_msat,
                    fee_proportional_millionths: policy.ppm,
                    cltv_expiry_delta: policy.cltv_delta,
                };
                Some((inbound, RouteHint(vec![hop])))
            })
            .collect();
        candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
        candidates
            .into_iter()
            .take(MAX_ROUTE_HINTS)
            .map(|(_, h)| h)
            .collect()
    }
}

/// What a payer tells its user about a failed attempt: the failure's name and who said it.
fn describe_failure(
    p: &PaymentRecord,
    reason: &[u8],
    malformed: Option<MalformedFailure>,
) -> String {
    let first = p.route.first().map(|k| k.to_string()).unwrap_or_default();
    if let Some(m) = malformed {
        let name = failure_from_malformed(m.failure_code, m.sha256_of_onion)
            .map_or("malformed onion", |f| f.name());
        return format!("{name} (the first hop {first} could not read the onion)");
    }
    let Ok(secret) = SecretKey::from_slice(&p.session_key) else {
        return "failed (unreadable session key)".into();
    };
    let secrets: Vec<SharedSecret> = match hop_keys(&secret, &p.route) {
        Ok(keys) => keys.into_iter().map(|k| k.shared_secret).collect(),
        Err(_) => return "failed (cannot derive the route's keys)".into(),
    };
    match decrypt_failure(&secrets, &ErrorPacket(reason.to_vec())) {
        Ok(af) => {
            let who = if af.hop_index + 1 == p.route.len() {
                "the payee".to_string()
            } else {
                format!("hop {} ({})", af.hop_index + 1, p.route[af.hop_index])
            };
            let name = match &af.failure {
                Ok(f) => f.message.name().to_string(),
                Err(_) => af.failure_code.map_or("unreadable failure".into(), |c| {
                    format!("failure code {c:#06x}")
                }),
            };
            format!("{name} from {who}")
        }
        Err(_) => "failed with an error no hop of the route signed".into(),
    }
}
