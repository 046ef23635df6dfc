//! Incoming HTLCs: peel, check, then forward, claim for an invoice of ours, or fail.

use bitcoin::hashes::{sha256, Hash};

use super::super::actor::Actor;
use super::*;
use crate::channel::{AddHtlc, Command, Input, OfferedHtlc, Phase};
use crate::error::Error;
use crate::events::EventData;
use crate::onion::{
    create_error_packet, peel, process_onion, FailureMessage, ProcessError, Processed, ReplayKey,
    SharedSecret,
};
use crate::payments::forward::{check_forward, Incoming, NextChannel, Outgoing};
use crate::payments::jamming::OutLimits;
use crate::payments::receive::{check_final, Arrived};
use crate::payments::{ForwardRecord, ForwardStatus, HtlcRef, InvoiceRecord};
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
                let arrived = Arrived {
                    htlc: incoming,
                    amount_msat: htlc.amount_msat,
                    cltv_expiry: htlc.cltv_expiry,
                };
                let now = now_secs();
                match check_final(invoice.as_ref(), arrived, &payload, height, now) {
                    Err(f) => {
                        tracing::info!(channel = idx, htlc = htlc.id, failure = f.name(),
                            payment_hash = %hex32(&hash), "refused a payment to us");
                        self.fail_with(idx, htlc.id, &shared_secret, f).await;
                        Ok(())
                    }
                    Ok(()) => {
                        if !self
                            .record_onion(idx, &htlc, incoming, &shared_secret)
                            .await?
                        {
                            return Ok(());
                        }
                        let inv = invoice.expect("check_final passes only with an invoice");
                        self.claim(idx, &htlc, incoming, inv, now).await
                    }
                }
            }
        }
    }

    /// Records an accepted HTLC's onion against replays. `Ok(false)`: it is a replay, and
    /// the HTLC was failed.
    async fn record_onion(
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

    /// Settles an HTLC that pays our invoice: the invoice is marked paid in the same write
    /// as the channel state that reveals the preimage.
    pub(super) async fn claim(
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
        let log = self.cfg.events.clone();
        let ops: Vec<StoreOp> = if first_time {
            vec![Box::new(move |tx| {
                // Reported once: only the write that marks it paid logs the event.
                if pq::mark_invoice_paid(tx, &hash, amount, now, incoming)? {
                    let paid = EventData::InvoicePaid {
                        payment_hash: hex32(&hash),
                        amount_msat: amount,
                    };
                    log.record(tx, &paid)?;
                }
                Ok(())
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
            }
            Ok(()) => {}
            Err(e) => tracing::warn!(channel = idx, error = %e, "cannot settle a paid HTLC"),
        }
        Ok(())
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
        let out_idx = self
            .entries
            .values()
            .find(|e| {
                e.live() && (e.channel.local_alias() == Some(scid) || e.public_scid == Some(scid))
            })
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
