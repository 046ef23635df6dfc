//! Outgoing HTLCs resolved: settle or fail what depended on them (a forward upstream, a
//! payment of ours); and the reconcile that finds what a crash left unfinished.

use bitcoin::hashes::{sha256, Hash};

use super::super::actor::Actor;
use super::*;
use crate::channel::{Command, MalformedFailure, OfferedHtlc};
use crate::error::Error;
use crate::events::EventData;
use crate::node::payer::PartOutcome;
use crate::onion::{
    create_error_packet, failure_from_malformed, forward_error_packet, ErrorPacket, FailureMessage,
    SharedSecret,
};
use crate::payments::{AttemptRecord, ForwardRecord, ForwardStatus, HtlcRef, PaymentStatus};
use crate::store::{attempts as aq, payments as pq};

impl Actor {
    pub(in crate::node::channels) async fn on_fulfilled(
        &mut self,
        idx: u32,
        id: u64,
        preimage: [u8; 32],
    ) -> Result<(), Error> {
        let Some(channel_id) = self.channel_id_of(idx) else {
            return Ok(());
        };
        let out = HtlcRef {
            channel_id,
            htlc_id: id,
        };
        let (fwd, attempt) = self
            .cfg
            .store
            .call(move |c| {
                Ok((
                    pq::pending_forward_by_out(c, out)?,
                    aq::pending_attempt_by_htlc(c, out)?,
                ))
            })
            .await?;
        if let Some(fwd) = fwd {
            return self.settle_forward(fwd, preimage).await;
        }
        if let Some(a) = attempt {
            self.part_fulfilled(a, preimage).await?;
        }
        Ok(())
    }

    /// Our part was fulfilled: the preimage, the attempt and the payment are recorded here,
    /// in one write, before the payer hears of it.
    async fn part_fulfilled(&mut self, a: AttemptRecord, preimage: [u8; 32]) -> Result<(), Error> {
        let hash = a.payment_hash;
        if sha256::Hash::hash(&preimage).to_byte_array() != hash {
            // The channel checks this on the fulfill; a mismatch here is a bug, never money.
            return Err(Error::Internal(
                "a fulfill whose preimage is not the hash".into(),
            ));
        }
        let now = now_secs();
        let log = self.cfg.events.clone();
        let id = a.id;
        let fee = self
            .cfg
            .store
            .write(move |tx| {
                aq::resolve_attempt(tx, &hash, id, PaymentStatus::Succeeded, None, now)?;
                let fee = aq::fees_committed(tx, &hash)?;
                let resolved = pq::resolve_payment(
                    tx,
                    &hash,
                    PaymentStatus::Succeeded,
                    Some(preimage),
                    Some(fee),
                    None,
                    now,
                )?;
                if resolved {
                    let succeeded = EventData::PaymentSucceeded {
                        payment_hash: hex32(&hash),
                        preimage: hex32(&preimage),
                        fee_msat: fee,
                    };
                    log.record(tx, &succeeded)?;
                }
                Ok(fee)
            })
            .await?;
        tracing::info!(payment_hash = %hex32(&hash), attempt = id, fee_msat = fee,
            "payment part fulfilled");
        self.tell_payer(PartOutcome::Fulfilled {
            payment_hash: hash,
            attempt: id,
        });
        Ok(())
    }

    /// Hands an outcome to the payer once what was written for it is committed.
    fn tell_payer(&mut self, outcome: PartOutcome) {
        if let Some(payer) = self.cfg.payer.clone() {
            self.after_commit(move || {
                let _ = payer.send(outcome);
            });
        }
    }

    pub(super) async fn settle_forward(
        &mut self,
        fwd: ForwardRecord,
        preimage: [u8; 32],
    ) -> Result<(), Error> {
        self.router.shares.remove(&fwd.outgoing);
        let now = now_secs();
        let incoming = fwd.incoming;
        let log = self.cfg.events.clone();
        let event = forwarded(&fwd, ForwardStatus::Settled);
        let record = move |tx: &rusqlite::Connection| {
            let resolved = pq::resolve_forward(
                tx,
                incoming,
                ForwardStatus::Settled,
                Some(preimage),
                None,
                now,
            )?;
            if resolved {
                log.record(tx, &event)?;
            }
            Ok(())
        };
        let command = Command::Fulfill {
            id: incoming.htlc_id,
            preimage,
        };
        match self.by_channel_id(&incoming.channel_id) {
            Some(in_idx) => {
                let op: StoreOp = Box::new(record.clone());
                if let Err(e) = self.command_with(in_idx, command, vec![op]).await {
                    // Already settled upstream (a repeat): record the outcome anyway.
                    tracing::debug!(error = %e, "upstream fulfill not applied");
                    self.write_ops(vec![Box::new(record)]).await?;
                }
            }
            None => self.write_ops(vec![Box::new(record)]).await?,
        }
        Ok(())
    }

    /// Fails the incoming side of a forward: with the downstream error onion wrapped in our
    /// layer (`Ok`), or with an error onion of our own (`Err`).
    pub(super) async fn fail_forward(
        &mut self,
        fwd: ForwardRecord,
        downstream: Result<Vec<u8>, FailureMessage>,
        why: &str,
    ) -> Result<(), Error> {
        self.router.shares.remove(&fwd.outgoing);
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
        let log = self.cfg.events.clone();
        let event = forwarded(&fwd, ForwardStatus::Failed);
        let record = move |tx: &rusqlite::Connection| {
            let resolved = pq::resolve_forward(
                tx,
                incoming,
                ForwardStatus::Failed,
                None,
                Some(&failure),
                now,
            )?;
            if resolved {
                log.record(tx, &event)?;
            }
            Ok(())
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
        Ok(())
    }

    pub(super) async fn on_failed(
        &mut self,
        idx: u32,
        id: u64,
        reason: Vec<u8>,
        malformed: Option<MalformedFailure>,
    ) -> Result<(), Error> {
        let (fwd, payment) = self.pending_on(idx, id).await?;
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
        if let Some(a) = payment {
            self.tell_payer(PartOutcome::Failed {
                payment_hash: a.payment_hash,
                attempt: a.id,
                reason,
                malformed,
            });
        }
        Ok(())
    }

    /// What waits on our HTLC `id` on channel `idx`: a pending forward or a payment's part.
    async fn pending_on(
        &self,
        idx: u32,
        id: u64,
    ) -> Result<(Option<ForwardRecord>, Option<AttemptRecord>), Error> {
        let Some(channel_id) = self.channel_id_of(idx) else {
            return Ok((None, None));
        };
        let out = HtlcRef {
            channel_id,
            htlc_id: id,
        };
        Ok(self
            .cfg
            .store
            .call(move |c| {
                Ok((
                    pq::pending_forward_by_out(c, out)?,
                    aq::pending_attempt_by_htlc(c, out)?,
                ))
            })
            .await?)
    }

    /// Our HTLC `id` on `idx` no longer exists without a fulfill: fail what depended on it.
    pub(in crate::node::channels) async fn on_out_gone(
        &mut self,
        idx: u32,
        id: u64,
        why: &str,
    ) -> Result<(), Error> {
        let (fwd, payment) = self.pending_on(idx, id).await?;
        if let Some(fwd) = fwd {
            self.fail_forward(fwd, Err(temporary_channel_failure()), why)
                .await?;
        }
        if let Some(a) = payment {
            self.tell_payer(PartOutcome::Gone {
                payment_hash: a.payment_hash,
                attempt: a.id,
                why: why.to_string(),
            });
        }
        Ok(())
    }

    /// Re-examines everything in flight against the channels' states: incoming HTLCs not yet
    /// settled, forwards and payments whose outgoing HTLC vanished or was fulfilled unseen.
    pub(in crate::node::channels) async fn reconcile(&mut self) {
        if let Err(e) = self.try_reconcile().await {
            tracing::warn!(error = %e, "reconcile failed; retrying next block");
        }
        self.drain_router().await;
    }

    pub(super) async fn try_reconcile(&mut self) -> Result<(), Error> {
        let (forwards, attempts) = self
            .cfg
            .store
            .call(|c| Ok((pq::list_pending_forwards(c)?, aq::list_pending_attempts(c)?)))
            .await?;
        let height = self.router.height;
        // What each incoming peer holds on the outgoing channels, from the store (at start,
        // and again each block so no drift outlives a block).
        let pending: Vec<_> = forwards
            .iter()
            .filter_map(|f| {
                let peer = self.entries[&self.by_channel_id(&f.incoming.channel_id)?].peer;
                Some((peer, f.outgoing, f.out_msat))
            })
            .collect();
        self.router.shares.rebuild(pending);
        for fwd in forwards {
            match self.offered_state(&fwd.outgoing) {
                // Failing the incoming HTLC before the outgoing one is resolved could pay
                // twice: past its expiry the outgoing channel goes on chain by itself
                // (`Channel::htlc_needing_chain`), and the monitor settles this forward.
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
        for a in attempts {
            match self.offered_state(&a.htlc) {
                Some(OfferedHtlc::Pending) => {}
                Some(OfferedHtlc::Fulfilled { preimage }) => {
                    self.part_fulfilled(a, preimage).await?
                }
                None => self.tell_payer(PartOutcome::Gone {
                    payment_hash: a.payment_hash,
                    attempt: a.id,
                    why: "the HTLC is gone".into(),
                }),
            }
        }
        let manual = self.router.manual;
        for e in self.entries.values().filter(|e| e.live()) {
            for htlc in e.channel.received_htlcs_to_settle() {
                let idx = e.key_index;
                self.router.queue.push_back(if manual {
                    Work::ManualReceived { idx, htlc }
                } else {
                    Work::Received { idx, htlc }
                });
            }
        }
        if height > 0 {
            let below = crate::onion::replay::forget_below(height);
            let batch = crate::onion::replay::REPLAY_PRUNE_BATCH;
            self.cfg
                .store
                .write(move |tx| pq::replay_forget_expired(tx, below, batch).map(|_| ()))
                .await?;
        }
        Ok(())
    }
}

/// The `htlc_forwarded` event of a forward resolved as `status`.
fn forwarded(fwd: &ForwardRecord, status: ForwardStatus) -> EventData {
    EventData::HtlcForwarded {
        payment_hash: hex32(&fwd.payment_hash),
        in_channel_id: hex32(&fwd.incoming.channel_id),
        out_channel_id: hex32(&fwd.outgoing.channel_id),
        in_msat: fwd.in_msat,
        out_msat: fwd.out_msat,
        fee_msat: fwd.fee_msat(),
        status: status.as_str().to_string(),
    }
}
