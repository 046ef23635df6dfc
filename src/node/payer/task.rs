//! The payer's task: one loop over pay requests, part outcomes and a save timer.

use std::collections::HashMap;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use rand::RngCore;
use tokio::sync::{mpsc, oneshot, watch};

use super::*;
use crate::error::Error;
use crate::events::EventData;
use crate::invoice::Invoice;
use crate::node::channels::SendPart;
use crate::node::invoices::now_secs;
use crate::onion::{
    build_payment_onion, decrypt_failure, failure_from_malformed, hop_keys, ErrorPacket,
    PaymentSecret, Recipient, SharedSecret,
};
use crate::payments::session::{Failure, Next, Session, Target};
use crate::payments::{AttemptHop, AttemptRecord, PaymentRecord, PaymentStatus};
use crate::routing::{find_route, LocalChannel, Path, RouteError, RouteParams, Scorer};
use crate::store::{attempts as aq, payments as pq, routing as rq, StoreError};
use crate::wire::ShortChannelId;

#[path = "start.rs"]
mod start;
use start::*;

pub(super) struct Task {
    cfg: PayerConfig,
    us: PublicKey,
    sessions: HashMap<[u8; 32], Session>,
    /// Each pending attempt's route, to read its failure.
    routes: HashMap<([u8; 32], u32), Sent>,
    waiters: HashMap<[u8; 32], Vec<oneshot::Sender<PaymentRecord>>>,
    /// A new payment's row until a part takes it (see `start`).
    unwritten: HashMap<[u8; 32], PaymentRecord>,
    /// Payments over whose waiters are answered at the end of the step (`answer_finished`).
    finished: Vec<([u8; 32], Vec<oneshot::Sender<PaymentRecord>>)>,
    scorer: Scorer,
    scorer_dirty: bool,
}

/// What a part needs to be understood when it fails.
struct Sent {
    session_key: [u8; 32],
    route: Vec<PublicKey>,
    /// The route found for it (none for a part sent before a restart).
    path: Option<Path>,
}

impl Task {
    pub(super) async fn load(cfg: PayerConfig) -> Result<Task, StoreError> {
        let us = cfg.node_key.public_key(&Secp256k1::new());
        let (entries, payments, attempts) = cfg
            .store
            .call(|c| {
                Ok((
                    rq::load_penalties(c)?,
                    pq::list_pending_payments(c)?,
                    aq::list_pending_attempts(c)?,
                ))
            })
            .await?;
        let mut task = Task {
            us,
            sessions: HashMap::new(),
            routes: HashMap::new(),
            waiters: HashMap::new(),
            unwritten: HashMap::new(),
            finished: Vec::new(),
            scorer: Scorer::from_entries(entries),
            scorer_dirty: false,
            cfg,
        };
        for p in payments {
            let Ok(target) = task.target_of(&p) else {
                continue;
            };
            let mut session = Session::new(target);
            for a in attempts.iter().filter(|a| a.payment_hash == p.payment_hash) {
                session.part_restored(a.id, a.amount_msat, a.fee_msat, true);
                task.routes.insert(
                    (a.payment_hash, a.id),
                    Sent {
                        session_key: a.session_key,
                        route: a.route.clone(),
                        path: None,
                    },
                );
            }
            let hash = p.payment_hash;
            let next_id = task
                .cfg
                .store
                .call(move |c| aq::next_attempt_id(c, &hash))
                .await?;
            session.skip_ids(next_id);
            task.sessions.insert(p.payment_hash, session);
        }
        Ok(task)
    }

    pub(super) async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Request>,
        mut outcomes: mpsc::UnboundedReceiver<PartOutcome>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // Payments a restart left without a part in flight go on (or end) at once.
        let idle: Vec<[u8; 32]> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.pending() == 0)
            .map(|(h, _)| *h)
            .collect();
        for hash in idle {
            self.advance(hash).await;
        }
        self.answer_finished().await;
        let mut save = tokio::time::interval(self.cfg.save_every);
        let stop = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                Some(first) = rx.recv() => {
                    // Every request already queued joins the group (see `start`).
                    let mut group = Vec::new();
                    let mut next = Some(first);
                    while let Some(Request::Pay { req, reply }) = next.take() {
                        group.push((req, reply));
                        if group.len() < MAX_GROUP {
                            next = rx.try_recv().ok();
                        }
                    }
                    self.pay_group(group).await;
                }
                Some(outcome) = outcomes.recv() => {
                    self.on_outcome(outcome).await;
                    for _ in 1..MAX_GROUP {
                        let Ok(outcome) = outcomes.try_recv() else { break };
                        self.on_outcome(outcome).await;
                    }
                }
                _ = save.tick() => self.save_scorer().await,
            }
            self.answer_finished().await;
        }
        self.save_scorer().await;
    }

    async fn save_scorer(&mut self) {
        if !self.scorer_dirty {
            return;
        }
        let entries = self.scorer.entries();
        match self
            .cfg
            .store
            .write(move |tx| rq::save_penalties(tx, &entries))
            .await
        {
            Ok(()) => self.scorer_dirty = false,
            Err(e) => tracing::warn!(error = %e, "could not save route penalties"),
        }
    }

    /// The target of a stored payment: its invoice again, or its keysend preimage.
    fn target_of(&self, p: &PaymentRecord) -> Result<Target, Error> {
        let deadline_secs = p.created_at + u64::from(p.timeout_secs);
        match &p.bolt11 {
            Some(bolt11) => {
                let inv = Invoice::parse(bolt11, self.cfg.network)
                    .map_err(|e| Error::InvalidInvoice(e.to_string()))?;
                Ok(Self::invoice_target(p, &inv))
            }
            None => Ok(Target {
                payment_hash: p.payment_hash,
                payee: p.payee,
                amount_msat: p.amount_msat,
                payment_secret: None,
                payment_metadata: None,
                keysend_preimage: p.preimage,
                hints: Vec::new(),
                min_final_cltv_expiry_delta: KEYSEND_FINAL_CLTV_DELTA,
                mpp: false,
                max_fee_msat: p.max_fee_msat,
                max_total_cltv_expiry_delta: p.max_total_cltv_expiry_delta,
                deadline_secs,
            }),
        }
    }

    /// The target of a payment of invoice `inv`.
    fn invoice_target(p: &PaymentRecord, inv: &Invoice) -> Target {
        Target {
            payment_hash: p.payment_hash,
            payee: inv.payee(),
            amount_msat: p.amount_msat,
            payment_secret: Some(inv.payment_secret().0),
            payment_metadata: inv.payment_metadata().map(<[u8]>::to_vec),
            keysend_preimage: None,
            hints: inv.route_hints(),
            min_final_cltv_expiry_delta: u32::try_from(inv.min_final_cltv_expiry_delta())
                .unwrap_or(u32::MAX),
            mpp: inv.features().supports(crate::wire::Feature::BasicMpp),
            max_fee_msat: p.max_fee_msat,
            max_total_cltv_expiry_delta: p.max_total_cltv_expiry_delta,
            deadline_secs: p.created_at + u64::from(p.timeout_secs),
        }
    }

    fn waiter(&mut self, hash: [u8; 32]) -> oneshot::Receiver<PaymentRecord> {
        let (tx, rx) = oneshot::channel();
        self.waiters.entry(hash).or_default().push(tx);
        rx
    }

    /// Sends what the session asks for until it waits or ends.
    async fn advance(&mut self, hash: [u8; 32]) {
        loop {
            let Some(session) = self.sessions.get_mut(&hash) else {
                return;
            };
            let now = now_secs();
            let next = match session.next(now) {
                Next::Send { amount_msat } => match self.send(hash, amount_msat).await {
                    Ok(()) => continue,
                    Err(why) => match self.sessions.get_mut(&hash) {
                        Some(s) => s.no_route(&why),
                        None => return,
                    },
                },
                other => other,
            };
            match next {
                Next::Send { .. } => continue,
                Next::Wait => return,
                Next::Succeeded => {
                    self.finish(hash).await;
                    return;
                }
                Next::Failed(why) => {
                    if let Err(e) = self.fail(hash, &why).await {
                        tracing::error!(error = %e, "could not record a failed payment");
                    }
                    self.finish(hash).await;
                    return;
                }
            }
        }
    }

    /// Finds routes for `amount_msat` and sends a part on each. `Err`: why nothing was sent.
    async fn send(&mut self, hash: [u8; 32], amount_msat: u64) -> Result<(), String> {
        let session = self.sessions.get(&hash).ok_or("no session")?;
        let (paths, local, height) = match self.plan(session, amount_msat).await {
            Ok(found) => found,
            Err(NoPlan::Refused(e)) => return Err(e.to_string()),
            Err(NoPlan::Route(why)) => return Err(why),
        };
        self.send_paths(hash, paths, &local, height).await;
        Ok(())
    }

    async fn on_outcome(&mut self, outcome: PartOutcome) {
        let (hash, id) = match &outcome {
            PartOutcome::Fulfilled {
                payment_hash,
                attempt,
            } => {
                let (hash, id) = (*payment_hash, *attempt);
                let sent = self.routes.remove(&(hash, id));
                let succeeded = self
                    .sessions
                    .get_mut(&hash)
                    .is_some_and(|s| s.part_succeeded(id));
                if let Some(path) = sent.and_then(|s| s.path).filter(|_| succeeded) {
                    self.scorer.path_succeeded(&path, now_secs());
                    self.scorer_dirty = true;
                }
                self.advance(hash).await;
                return;
            }
            PartOutcome::Failed {
                payment_hash,
                attempt,
                ..
            }
            | PartOutcome::Gone {
                payment_hash,
                attempt,
                ..
            } => (*payment_hash, *attempt),
        };
        let Some(sent) = self.routes.remove(&(hash, id)) else {
            // Not ours to read (already handled, or a payment of before this process).
            return self.resolve_orphan(hash, id, &outcome).await;
        };
        let (failure, description) = match &outcome {
            PartOutcome::Gone { why, .. } => (Failure::Gone, why.clone()),
            PartOutcome::Failed {
                reason, malformed, ..
            } => read_failure(&sent, reason, *malformed, &self.cfg.graph),
            PartOutcome::Fulfilled { .. } => return,
        };
        self.part_failed(hash, id, &sent.route, &failure, &description)
            .await;
        self.advance(hash).await;
    }

    /// Records a failed part and lets the session learn from it.
    async fn part_failed(
        &mut self,
        hash: [u8; 32],
        id: u32,
        route: &[PublicKey],
        failure: &Failure,
        description: &str,
    ) {
        let now = now_secs();
        if let Some(s) = self.sessions.get_mut(&hash) {
            if s.part_failed(id, route, failure, description, &mut self.scorer, now) {
                self.scorer_dirty = true;
            }
        }
        tracing::info!(payment_hash = %hex::encode(hash), attempt = id, failure = description,
            "payment part failed");
        let text = description.to_string();
        if let Err(e) = self
            .cfg
            .store
            .write(move |tx| {
                aq::resolve_attempt(tx, &hash, id, PaymentStatus::Failed, Some(&text), now)
                    .map(|_| ())
            })
            .await
        {
            tracing::error!(error = %e, "could not record a failed part");
        }
    }

    /// An outcome for an attempt with no session: a payment already over. Its row is
    /// resolved so it does not stay pending.
    async fn resolve_orphan(&mut self, hash: [u8; 32], id: u32, outcome: &PartOutcome) {
        let why = match outcome {
            PartOutcome::Gone { why, .. } => why.clone(),
            _ => "failed after the payment ended".to_string(),
        };
        let now = now_secs();
        let _ = self
            .cfg
            .store
            .write(move |tx| {
                aq::resolve_attempt(tx, &hash, id, PaymentStatus::Failed, Some(&why), now)
                    .map(|_| ())
            })
            .await;
    }

    async fn fail(&mut self, hash: [u8; 32], why: &str) -> Result<(), Error> {
        let now = now_secs();
        let text = why.to_string();
        let log = self.cfg.events.clone();
        self.cfg
            .store
            .write(move |tx| {
                let fee = aq::fees_committed(tx, &hash)?;
                let resolved = pq::resolve_payment(
                    tx,
                    &hash,
                    PaymentStatus::Failed,
                    None,
                    Some(fee),
                    Some(&text),
                    now,
                )?;
                if resolved {
                    log.record(
                        tx,
                        &EventData::PaymentFailed {
                            payment_hash: hex::encode(hash),
                            failure: text,
                        },
                    )?;
                }
                Ok(())
            })
            .await?;
        tracing::info!(payment_hash = %hex::encode(hash), failure = why, "payment failed");
        Ok(())
    }

    /// The payment is over: once its last part is back, drop its session and answer whoever
    /// waits (so the answer shows every part settled, with the final fee).
    async fn finish(&mut self, hash: [u8; 32]) {
        let pending_parts = self.sessions.get(&hash).map_or(0, Session::pending);
        if pending_parts > 0 {
            return;
        }
        self.sessions.remove(&hash);
        self.routes.retain(|(h, _), _| *h != hash);
        if let Some(waiters) = self.waiters.remove(&hash) {
            self.finished.push((hash, waiters));
        }
    }

    /// The stored rows of `hashes`' payments, in one read.
    async fn rows_of(
        &self,
        hashes: Vec<[u8; 32]>,
    ) -> Result<Vec<Option<PaymentRecord>>, StoreError> {
        self.cfg
            .store
            .call(move |c| {
                hashes
                    .iter()
                    .map(|h| pq::get_payment(c, h))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await
    }

    /// Answers those waiting for the payments that ended: one read of their rows for all
    /// (each read by this task commits the channel manager's open batch early).
    async fn answer_finished(&mut self) {
        if self.finished.is_empty() {
            return;
        }
        let finished = std::mem::take(&mut self.finished);
        let hashes: Vec<[u8; 32]> = finished.iter().map(|f| f.0).collect();
        let Ok(rows) = self.rows_of(hashes).await else {
            return;
        };
        for ((_, waiters), row) in finished.into_iter().zip(rows) {
            let Some(rec) = row else { continue };
            for w in waiters {
                let _ = w.send(rec.clone());
            }
        }
    }
}

/// Reads a failed part's error onion: which hop said what, and the `channel_update` it
/// carried once checked (signed by that hop, for its channel on our path, newer than the
/// graph's).
fn read_failure(
    sent: &Sent,
    reason: &[u8],
    malformed: Option<crate::channel::MalformedFailure>,
    graph: &SharedGraph,
) -> (Failure, String) {
    let first = sent
        .route
        .first()
        .map(|k| k.to_string())
        .unwrap_or_default();
    if let Some(m) = malformed {
        let name = failure_from_malformed(m.failure_code, m.sha256_of_onion)
            .map_or("malformed onion", |f| f.name());
        return (
            Failure::Malformed,
            format!("{name} (the first hop {first} could not read the onion)"),
        );
    }
    let Ok(secret) = SecretKey::from_slice(&sent.session_key) else {
        return (
            Failure::Unreadable,
            "failed (unreadable session key)".into(),
        );
    };
    let secrets: Vec<SharedSecret> = match hop_keys(&secret, &sent.route) {
        Ok(keys) => keys.into_iter().map(|k| k.shared_secret).collect(),
        Err(_) => {
            return (
                Failure::Unreadable,
                "failed (cannot derive the route's keys)".into(),
            )
        }
    };
    match decrypt_failure(&secrets, &ErrorPacket(reason.to_vec())) {
        Ok(af) => {
            let hop = af.hop_index;
            let who = if hop + 1 == sent.route.len() {
                "the payee".to_string()
            } else {
                format!("hop {} ({})", hop + 1, sent.route[hop])
            };
            let (code, name, update) = match &af.failure {
                Ok(f) => (
                    f.message.code(),
                    f.message.name().to_string(),
                    checked_update(&f.message, &sent.route[hop], graph),
                ),
                Err(_) => match af.failure_code {
                    Some(c) => (c, format!("failure code {c:#06x}"), None),
                    None => {
                        return (
                            Failure::Unreadable,
                            format!("an unreadable failure from {who}"),
                        )
                    }
                },
            };
            (
                Failure::Onion { hop, code, update },
                format!("{name} from {who}"),
            )
        }
        Err(_) => (
            Failure::Unreadable,
            "failed with an error no hop of the route signed".into(),
        ),
    }
}

/// The `channel_update` inside a failure, if it is signed by the erring node and newer than
/// the graph's for that channel. It serves this payment only (BOLT 4): it never enters the
/// graph nor is relayed, which would tell the network who was paying.
fn checked_update(
    message: &crate::onion::FailureMessage,
    erring: &PublicKey,
    graph: &SharedGraph,
) -> Option<crate::routing::PolicyOverride> {
    let bytes = message.channel_update()?;
    let crate::wire::Message::ChannelUpdate(update) = crate::wire::Message::decode(bytes).ok()?
    else {
        return None;
    };
    if !update.verify(erring) {
        return None;
    }
    let policy = crate::gossip::graph::Policy::from_update_bytes(bytes.to_vec())?;
    let graph = graph.read().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = graph.channel(update.short_channel_id) {
        let known = c.directions[usize::from(policy.direction())]
            .policy
            .as_ref();
        if known.is_some_and(|k| k.timestamp >= policy.timestamp) {
            return None;
        }
    }
    Some(crate::routing::PolicyOverride {
        fee_base_msat: policy.fee_base_msat,
        fee_proportional_millionths: policy.fee_proportional_millionths,
        cltv_expiry_delta: policy.cltv_expiry_delta,
        htlc_minimum_msat: policy.htlc_minimum_msat,
        htlc_maximum_msat: policy.htlc_maximum_msat,
        disabled: policy.disabled,
    })
}

#[cfg(test)]
#[path = "task_tests.rs"]
mod tests;
