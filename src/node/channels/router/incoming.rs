//! Incoming HTLCs: peel, check, then forward, claim for an invoice of ours, or fail.

use bitcoin::hashes::{sha256, Hash};

use super::super::actor::Actor;
use super::*;
use crate::channel::{AddHtlc, Command, Input, OfferedHtlc, Phase};
use crate::error::Error;
use crate::events::EventData;
use crate::onion::{
    create_error_packet, peel, process_onion, FailureMessage, FinalPayload, ProcessError,
    Processed, ReplayKey, SharedSecret,
};
use crate::payments::forward::{check_forward, Incoming, NextChannel, Outgoing};
use crate::payments::hold;
use crate::payments::jamming::OutLimits;
use crate::payments::keysend::{check_keysend, KEYSEND_DESCRIPTION};
use crate::payments::mpp::{Added, Part};
use crate::payments::receive::{check_final, Arrived};
use crate::payments::{ForwardRecord, ForwardStatus, HtlcRef, InvoiceRecord, InvoiceStatus};
use crate::store::payments as pq;
use crate::wire::OnionPacket;

impl Actor {
    pub(super) async fn on_received(&mut self, idx: u32, htlc: AddHtlc) -> Result<(), Error> {
        let Some(channel_id) = self.channel_id_of(idx) else {
            return Ok(());
        };
        let incoming = HtlcRef {
            channel_id,
            htlc_id: htlc.id,
        };
        // A part of an incomplete set, delivered again by the reconcile: it waits.
        if self.router.parts.holds(&incoming) {
            return Ok(());
        }
        let hash = htlc.payment_hash;
        let (forward, invoice, paid_by, held) = self
            .cfg
            .store
            .call(move |c| {
                Ok((
                    pq::get_forward_by_in(c, incoming)?,
                    pq::get_invoice(c, &hash)?,
                    pq::is_invoice_htlc(c, &hash, incoming)?,
                    pq::is_held_htlc(c, &hash, incoming)?,
                ))
            })
            .await?;
        if let Some(fwd) = forward {
            return self.resume_forward(idx, &htlc, fwd).await;
        }
        if held {
            // A held part of a hold invoice (delivered again by the reconcile, after a
            // restart too): it waits for the settle, the cancel or the expiry margin.
            return Ok(());
        }
        if let (Some(Some(preimage)), true) = (invoice.as_ref().map(|i| i.preimage), paid_by) {
            // One of the HTLCs that paid the invoice, not yet settled (a restart, or the next
            // block before its fulfill is signed): the preimage is out, fulfill it again.
            let command = Command::Fulfill {
                id: htlc.id,
                preimage,
            };
            self.settle_command(idx, command).await;
            return Ok(());
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
        // Before the first block arrives, ask the chain: expiry checks need the real height.
        // The onion is recorded against replays only once the HTLC passed every check (in
        // `forward`, or below for a payment to us): a refused HTLC leaves no row.
        let height = self.current_height().await?;
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
                let part = Part {
                    htlc: incoming,
                    amount_msat: htlc.amount_msat,
                    cltv_expiry: htlc.cltv_expiry,
                    data: shared_secret,
                };
                // Boxed: settling a set runs channel inputs on several channels.
                Box::pin(self.on_final(idx, &htlc, part, &payload, invoice, height)).await
            }
        }
    }

    /// Manual-HTLC mode: the test driving the HTLCs means an HTLC for one of our invoices
    /// (with its preimage, not cancelled) to pay it, so it is recorded in `invoice_htlcs` —
    /// the one record that lets the on-chain resolution claim it. Nothing is settled.
    pub(super) async fn record_manual(&mut self, idx: u32, htlc: &AddHtlc) -> Result<(), Error> {
        let Some(channel_id) = self.channel_id_of(idx) else {
            return Ok(());
        };
        let (hash, recorded) = (
            htlc.payment_hash,
            [(
                HtlcRef {
                    channel_id,
                    htlc_id: htlc.id,
                },
                htlc.amount_msat,
            )],
        );
        self.cfg
            .store
            .write(move |tx| {
                let claimable = pq::get_invoice(tx, &hash)?
                    .is_some_and(|i| i.preimage.is_some() && i.status != InvoiceStatus::Cancelled);
                if claimable {
                    pq::record_invoice_htlcs(tx, &hash, &recorded)?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// An HTLC that ends here: a part of an invoice's payment or of a keysend, held until its
    /// set is complete (see `payments::mpp`).
    async fn on_final(
        &mut self,
        idx: u32,
        htlc: &AddHtlc,
        part: Part<SharedSecret>,
        payload: &FinalPayload,
        invoice: Option<InvoiceRecord>,
        height: u32,
    ) -> Result<(), Error> {
        let hash = htlc.payment_hash;
        let secret = part.data;
        let arrived = Arrived {
            htlc: part.htlc,
            amount_msat: htlc.amount_msat,
            cltv_expiry: htlc.cltv_expiry,
        };
        let now = now_secs();
        let checked = match &invoice {
            Some(inv) => check_final(Some(inv), arrived, payload, height, now)
                .map(|terms| (terms, None, inv.amount_msat)),
            None => check_keysend(self.router.accept_keysend, &hash, arrived, payload, height)
                .map(|k| (k.terms, Some(k.preimage), None)),
        };
        let (terms, keysend, asked) = match checked {
            Ok(c) => c,
            Err(f) => {
                tracing::info!(channel = idx, htlc = htlc.id, failure = f.name(),
                    payment_hash = %hex32(&hash), "refused a payment to us");
                self.fail_with(idx, htlc.id, &secret, f).await;
                return Ok(());
            }
        };
        // A part the set refuses leaves no replay record, like any refused HTLC.
        let admitted = self.router.parts.admit(&hash, terms, &part, asked, height);
        if let Err(f) = admitted {
            tracing::info!(channel = idx, htlc = htlc.id, failure = f.name(),
                payment_hash = %hex32(&hash), "refused a part of a payment to us");
            self.fail_with(idx, htlc.id, &secret, f).await;
            return Ok(());
        }
        if !self.record_onion(idx, htlc, part.htlc, &secret).await? {
            return Ok(());
        }
        let added =
            self.router
                .parts
                .add(hash, terms, part, asked, height, std::time::Instant::now());
        match added {
            Added::Hold => {
                tracing::debug!(channel = idx, htlc = htlc.id, payment_hash = %hex32(&hash),
                    "holding a part until its set is complete");
            }
            Added::Fail(f) => {
                tracing::info!(channel = idx, htlc = htlc.id, failure = f.name(),
                    payment_hash = %hex32(&hash), "refused a part of a payment to us");
                self.fail_with(idx, htlc.id, &secret, f).await;
            }
            Added::Complete(parts) => {
                if let Some(inv) = invoice.as_ref().filter(|i| hold::is_hold(i)) {
                    let asked = inv.amount_msat;
                    Box::pin(self.hold_set(hash, asked, parts)).await;
                    return Ok(());
                }
                let payee = match (invoice, keysend) {
                    (Some(inv), _) => Payee::Invoice(Box::new(inv)),
                    (None, Some(preimage)) => Payee::Keysend {
                        preimage,
                        payment_secret: terms.payment_secret.unwrap_or_default(),
                    },
                    (None, None) => return Ok(()),
                };
                Box::pin(self.claim_set(hash, payee, parts, now)).await;
            }
        }
        Ok(())
    }

    /// Records an accepted HTLC's onion against replays. `Ok(false)`: it is a replay, and
    /// the HTLC was failed.
    pub(super) async fn record_onion(
        &mut self,
        idx: u32,
        htlc: &AddHtlc,
        incoming: HtlcRef,
        secret: &SharedSecret,
    ) -> Result<bool, Error> {
        let key = ReplayKey::of(secret).0;
        let cltv = crate::onion::replay::stored_expiry(htlc.cltv_expiry, self.router.height);
        let fresh = self
            .cfg
            .store
            .write(move |tx| pq::replay_check_and_record(tx, &key, cltv, incoming))
            .await?;
        if !fresh {
            tracing::warn!(channel = idx, htlc = htlc.id, "replayed onion refused");
            self.fail_with(idx, htlc.id, secret, FailureMessage::TemporaryNodeFailure)
                .await;
        }
        Ok(fresh)
    }

    /// Settles a complete set: the invoice is marked paid (a keysend's paid record is
    /// created; a held invoice gets its preimage), with every HTLC of the set recorded, in
    /// the same write as the first channel state that reveals the preimage; then every part
    /// is fulfilled. Returns whether that write happened.
    async fn claim_set(
        &mut self,
        hash: [u8; 32],
        payee: Payee,
        parts: Vec<Part<SharedSecret>>,
        now: u64,
    ) -> bool {
        let sum: u64 = parts.iter().map(|p| p.amount_msat).sum();
        let recorded: Vec<(HtlcRef, u64)> = parts.iter().map(|p| (p.htlc, p.amount_msat)).collect();
        let Some(first) = parts.first().map(|p| p.htlc) else {
            return false;
        };
        let (preimage, keysend, held) = match payee {
            // Never a hold invoice's before its settle: `on_final` holds those.
            Payee::Invoice(inv) => match inv.preimage {
                Some(p) => (p, None, false),
                None => return false,
            },
            Payee::Held { preimage } => (preimage, None, true),
            Payee::Keysend {
                preimage,
                payment_secret,
            } => (
                preimage,
                Some(keysend_record(
                    hash,
                    preimage,
                    payment_secret,
                    sum,
                    now,
                    first,
                )),
                false,
            ),
        };
        let is_keysend = keysend.is_some();
        let log = self.cfg.events.clone();
        let op = move || -> StoreOp {
            let (log, recorded, keysend) = (log.clone(), recorded.clone(), keysend.clone());
            Box::new(move |tx| {
                // Reported once: only the write that marks it paid logs the event.
                let newly = match &keysend {
                    Some(rec) => {
                        pq::insert_invoice(tx, rec)?;
                        true
                    }
                    None if held => pq::settle_held_invoice(tx, &hash, &preimage, now, first)?,
                    None => pq::mark_invoice_paid(tx, &hash, sum, now, first)?,
                };
                pq::record_invoice_htlcs(tx, &hash, &recorded)?;
                if newly {
                    let paid = EventData::InvoicePaid {
                        payment_hash: hex32(&hash),
                        amount_msat: sum,
                    };
                    log.record(tx, &paid)?;
                }
                Ok(())
            })
        };
        let mut recorded_with = None;
        for p in &parts {
            let Some(idx) = self.by_channel_id(&p.htlc.channel_id) else {
                continue;
            };
            let command = Command::Fulfill {
                id: p.htlc.htlc_id,
                preimage,
            };
            if recorded_with.is_some() {
                self.settle_command(idx, command).await;
                continue;
            }
            match self.command_with(idx, command, vec![op()]).await {
                Ok(()) => recorded_with = Some(idx),
                Err(e) => tracing::warn!(channel = idx, error = %e, "cannot settle a paid HTLC"),
            }
        }
        match recorded_with {
            Some(_) => tracing::info!(payment_hash = %hex32(&hash), amount_msat = sum,
                parts = parts.len(), keysend = is_keysend, "invoice paid"),
            // Nothing revealed the preimage and nothing was written: the reconcile delivers
            // the parts again on the next block.
            None => {
                tracing::warn!(payment_hash = %hex32(&hash), "no part of a complete set could be settled")
            }
        }
        recorded_with.is_some()
    }

    /// Fails back the held sets whose time is up (`mpp_timeout`) or whose parts come too near
    /// their expiry; on the actor's parts timer and on every block.
    pub(in crate::node::channels) async fn expire_parts(&mut self) {
        let expired = self
            .router
            .parts
            .expire(std::time::Instant::now(), self.router.height);
        for set in expired {
            tracing::info!(payment_hash = %hex32(&set.payment_hash), parts = set.parts.len(),
                failure = set.failure.name(), "an incomplete payment to us failed back");
            for p in &set.parts {
                let f = set.failure_for(p);
                self.fail_part(p, f).await;
            }
        }
    }

    /// Fails back the held parts of a cancelled invoice.
    pub(in crate::node::channels) async fn cancel_parts(&mut self, hash: &[u8; 32]) {
        let height = self.router.height;
        for p in self.router.parts.remove(hash) {
            let f = FailureMessage::IncorrectOrUnknownPaymentDetails {
                htlc_msat: p.amount_msat,
                height,
            };
            self.fail_part(&p, f).await;
        }
    }

    /// Holds the complete set of a hold invoice: status `held`, its HTLCs and the
    /// `invoice_held` event in one write. Nothing is fulfilled or failed until the settle,
    /// the cancel or the expiry margin (`payments::hold`).
    async fn hold_set(
        &mut self,
        hash: [u8; 32],
        asked: Option<u64>,
        parts: Vec<Part<SharedSecret>>,
    ) {
        let held: Vec<hold::HeldHtlc> = parts
            .iter()
            .map(|p| hold::HeldHtlc {
                htlc: p.htlc,
                amount_msat: p.amount_msat,
                cltv_expiry: p.cltv_expiry,
                shared_secret: p.data.0,
            })
            .collect();
        let received: u64 = held.iter().map(|h| h.amount_msat).sum();
        let earliest = hold::earliest_expiry(&held).unwrap_or(0);
        let log = self.cfg.events.clone();
        let r = self
            .cfg
            .store
            .write(move |tx| {
                let newly = pq::hold_invoice(tx, &hash, &held)?;
                if newly {
                    let event = EventData::InvoiceHeld {
                        payment_hash: hex32(&hash),
                        amount_msat: asked,
                        received_msat: received,
                        cltv_expiry: earliest,
                    };
                    log.record(tx, &event)?;
                }
                Ok(newly)
            })
            .await;
        match r {
            Ok(true) => tracing::info!(payment_hash = %hex32(&hash), received_msat = received,
                parts = parts.len(), cltv_expiry = earliest, "hold invoice payment held"),
            Ok(false) => {
                // Not an open hold invoice any more: refused like any late part.
                let height = self.router.height;
                for p in &parts {
                    let f = FailureMessage::IncorrectOrUnknownPaymentDetails {
                        htlc_msat: p.amount_msat,
                        height,
                    };
                    Box::pin(self.fail_part(p, f)).await;
                }
            }
            // The reconcile delivers the parts again on the next block.
            Err(e) => tracing::warn!(payment_hash = %hex32(&hash), error = %e,
                "cannot record a held payment"),
        }
    }

    /// Settles a held hold invoice with the caller's preimage: the preimage, the paid status
    /// and every held HTLC (as paying it) are written with the first channel state that
    /// fulfills one, before any fulfill leaves; then all are fulfilled.
    pub(in crate::node::channels) async fn settle_held(
        &mut self,
        hash: [u8; 32],
        preimage: [u8; 32],
    ) -> Result<InvoiceRecord, Error> {
        // A set already within the margin is failed back first, never settled.
        Box::pin(self.fail_due_holds()).await;
        let (invoice, held) = self
            .cfg
            .store
            .call(move |c| Ok((pq::get_invoice(c, &hash)?, pq::held_htlcs(c, &hash)?)))
            .await?;
        let Some(invoice) = invoice else {
            return Err(Error::InvoiceNotFound(format!(
                "no invoice with payment hash {}",
                hex32(&hash)
            )));
        };
        let now = now_secs();
        hold::check_settle(&invoice, &preimage, now)
            .map_err(|e| Error::InvalidRequest(e.to_string()))?;
        let parts: Vec<Part<SharedSecret>> = held
            .iter()
            .map(|h| Part {
                htlc: h.htlc,
                amount_msat: h.amount_msat,
                cltv_expiry: h.cltv_expiry,
                data: SharedSecret(h.shared_secret),
            })
            .collect();
        let payee = Payee::Held { preimage };
        if !Box::pin(self.claim_set(hash, payee, parts, now)).await {
            return Err(Error::Internal(
                "no held HTLC could be fulfilled now (its channel is closing?)".into(),
            ));
        }
        let settled = self
            .cfg
            .store
            .call(move |c| pq::get_invoice(c, &hash))
            .await?;
        settled.ok_or_else(|| Error::Internal("the settled invoice vanished".into()))
    }

    /// Cancels an open or held invoice, in one write with its `invoice_cancelled` event
    /// (`reason`), then fails back what was held for it: a held payment's HTLCs and the parts
    /// of an incomplete set. `false`: it was neither open nor held.
    pub(in crate::node::channels) async fn cancel_invoice_now(
        &mut self,
        hash: [u8; 32],
        reason: &'static str,
    ) -> Result<bool, Error> {
        let log = self.cfg.events.clone();
        let (changed, held) = self
            .cfg
            .store
            .write(move |tx| {
                let held = pq::held_htlcs(tx, &hash)?;
                let changed = pq::cancel_invoice(tx, &hash)?;
                if changed {
                    let event = EventData::InvoiceCancelled {
                        payment_hash: hex32(&hash),
                        reason: reason.to_string(),
                    };
                    log.record(tx, &event)?;
                }
                Ok((changed, held))
            })
            .await?;
        if !changed {
            return Ok(false);
        }
        if !held.is_empty() {
            tracing::info!(payment_hash = %hex32(&hash), parts = held.len(), reason,
                "failing back a held payment");
        }
        let height = self.router.height;
        for h in held {
            // BOLT 4: a payee refusing the payment says `incorrect_or_unknown_payment_details`.
            let part = Part {
                htlc: h.htlc,
                amount_msat: h.amount_msat,
                cltv_expiry: h.cltv_expiry,
                data: SharedSecret(h.shared_secret),
            };
            let f = FailureMessage::IncorrectOrUnknownPaymentDetails {
                htlc_msat: h.amount_msat,
                height,
            };
            // Boxed: failing runs a channel input, whose future is large.
            Box::pin(self.fail_part(&part, f)).await;
        }
        // Parts held for it are failed back now rather than at their timeout.
        Box::pin(self.cancel_parts(&hash)).await;
        Ok(true)
    }

    /// Fails back every held payment with an HTLC within `hold::HOLD_INVOICE_MARGIN_BLOCKS`
    /// of its expiry; on every block and at start.
    pub(in crate::node::channels) async fn fail_due_holds(&mut self) {
        let height = match self.current_height().await {
            Ok(h) => h,
            Err(e) => {
                tracing::debug!(error = %e, "no chain height for the hold invoices' margin");
                return;
            }
        };
        let all = match self.cfg.store.call(pq::list_held_htlcs).await {
            Ok(all) => all,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the held HTLCs");
                return;
            }
        };
        for hash in hold::due(&all, height) {
            match Box::pin(self.cancel_invoice_now(hash, "cltv_expiry")).await {
                Ok(_) => tracing::info!(payment_hash = %hex32(&hash), height,
                    "a held payment came near its expiry and was failed back"),
                Err(e) => tracing::warn!(payment_hash = %hex32(&hash), error = %e,
                    "cannot fail back a held payment"),
            }
        }
    }

    async fn fail_part(&mut self, p: &Part<SharedSecret>, f: FailureMessage) {
        if let Some(idx) = self.by_channel_id(&p.htlc.channel_id) {
            self.fail_with(idx, p.htlc.htlc_id, &p.data, f).await;
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn forward(
        &mut self,
        idx: u32,
        htlc: &AddHtlc,
        incoming: HtlcRef,
        secret: SharedSecret,
        scid: crate::wire::ShortChannelId,
        out: Outgoing,
        next_packet: OnionPacket,
    ) -> Result<(), Error> {
        let mut out_idx = self
            .entries
            .values()
            .find(|e| {
                e.live() && (e.channel.local_alias() == Some(scid) || e.public_scid == Some(scid))
            })
            .map(|e| e.key_index);
        let mut via = Via::default();
        if out_idx.is_none() && self.router.jit.is_some() {
            // Not a channel of ours: perhaps a JIT channel sold over LSPS2.
            match Box::pin(self.jit_route(scid)).await? {
                JitRoute::Unknown => {}
                JitRoute::Hold(sale) => {
                    let held = JitHtlc {
                        in_idx: idx,
                        htlc: htlc.clone(),
                        secret,
                        next_packet,
                        out_cltv: out.cltv_expiry,
                    };
                    return Box::pin(self.jit_hold(incoming, scid, out, held, *sale)).await;
                }
                JitRoute::Channel(i) => {
                    out_idx = Some(i);
                    via.jit = true;
                }
            }
        }
        // Boxed: the forward runs the next channel's inputs, whose futures are large.
        Box::pin(self.forward_on(idx, htlc, incoming, secret, out_idx, out, next_packet, via)).await
    }

    /// Forwards an incoming HTLC on the channel `out_idx` (`None`: there is none, so it fails
    /// with `unknown_next_peer`), after the forwarding checks.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn forward_on(
        &mut self,
        idx: u32,
        htlc: &AddHtlc,
        incoming: HtlcRef,
        secret: SharedSecret,
        out_idx: Option<u32>,
        out: Outgoing,
        next_packet: OnionPacket,
        via: Via,
    ) -> Result<(), Error> {
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
                                | Phase::ForceClosing { .. }
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
        let policy = self.forward_policy(via.jit);
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
        let (out_channel, out_id, out_limits) = {
            let e = &self.entries[&out_idx];
            let next_id = e
                .channel
                .state()
                .commitments
                .as_ref()
                .map_or(0, |c| c.local_next_htlc_id);
            let limits = e.channel.state().setup.remote.as_ref().map(|p| OutLimits {
                max_htlcs: p.max_accepted_htlcs,
                max_in_flight_msat: p.max_htlc_value_in_flight_msat,
            });
            (e.channel.channel_id().0, next_id, limits)
        };
        let in_peer = self.entries.get(&idx).map(|e| e.peer);
        if let (Some(peer), Some(limits)) = (in_peer, out_limits) {
            let r = &self.router;
            let share = r
                .shares
                .admits(&r.jamming, peer, out_channel, limits, out.amount_msat);
            if let Err(e) = share {
                tracing::info!(from = idx, to = out_idx, htlc = htlc.id, %peer, reason = %e,
                    "forward refused: the peer's share of the outgoing channel is full");
                self.fail_with(idx, htlc.id, &secret, temporary_channel_failure())
                    .await;
                return Ok(());
            }
        }
        if !self.record_onion(idx, htlc, incoming, &secret).await? {
            return Ok(());
        }
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
            extra_fee_msat: via.extra_fee_msat,
        };
        match self.command_with(out_idx, command, ops).await {
            Ok(()) => {
                if let Some(peer) = in_peer {
                    let out_ref = HtlcRef {
                        channel_id: out_channel,
                        htlc_id: out_id,
                    };
                    self.router.shares.add(peer, out_ref, out.amount_msat);
                }
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
    pub(super) async fn resume_forward(
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

    pub(super) fn offered_state(&self, out: &HtlcRef) -> Option<OfferedHtlc> {
        let idx = self.by_channel_id(&out.channel_id)?;
        self.entries[&idx].channel.offered_htlc(out.htlc_id)
    }

    /// Fails an incoming HTLC whose shared secret we must first find again.
    pub(super) async fn fail_received(
        &mut self,
        idx: u32,
        htlc: &AddHtlc,
        failure: FailureMessage,
    ) {
        let Some(packet) = packet_of(&htlc.onion) else {
            // No readable packet at all (the channel layer keeps 1366 bytes, so only a damaged
            // state gets here): fail it as an unreadable onion rather than leave it stuck.
            let command = Command::FailMalformed {
                id: htlc.id,
                sha256_of_onion: sha256::Hash::hash(&htlc.onion).to_byte_array(),
                failure_code: FailureMessage::InvalidOnionVersion {
                    sha256_of_onion: [0; 32],
                }
                .code(),
            };
            self.settle_command(idx, command).await;
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
    pub(super) async fn fail_with(
        &mut self,
        idx: u32,
        id: u64,
        secret: &SharedSecret,
        f: FailureMessage,
    ) {
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
    pub(super) async fn settle_command(&mut self, idx: u32, command: Command) {
        if let Some(e) = self.input_plain(idx, Input::Command(command)).await {
            tracing::debug!(channel = idx, error = %e, "settle not applied");
        }
    }
}

/// Who a complete set pays.
enum Payee {
    // Boxed: the record is large and a set is settled once.
    Invoice(Box<InvoiceRecord>),
    /// A held hold invoice, settled with the caller's preimage.
    Held {
        preimage: [u8; 32],
    },
    Keysend {
        preimage: [u8; 32],
        payment_secret: [u8; 32],
    },
}

/// The paid record of a keysend payment: it has no BOLT 11 string (empty), the description
/// "keysend", and the payer's secret (zeroes without `payment_data`).
fn keysend_record(
    hash: [u8; 32],
    preimage: [u8; 32],
    payment_secret: [u8; 32],
    received_msat: u64,
    now: u64,
    first: HtlcRef,
) -> InvoiceRecord {
    InvoiceRecord {
        payment_hash: hash,
        bolt11: String::new(),
        preimage: Some(preimage),
        payment_secret,
        amount_msat: None,
        description: KEYSEND_DESCRIPTION.to_string(),
        description_hash: None,
        min_final_cltv_expiry_delta: 0,
        created_at: now,
        expires_at: now,
        status: InvoiceStatus::Paid,
        received_msat: Some(received_msat),
        paid_at: Some(now),
        paid_by: Some(first),
    }
}
