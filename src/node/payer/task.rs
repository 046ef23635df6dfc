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

pub(super) struct Task {
    cfg: PayerConfig,
    us: PublicKey,
    sessions: HashMap<[u8; 32], Session>,
    /// Each pending attempt's route, to read its failure.
    routes: HashMap<([u8; 32], u32), Sent>,
    waiters: HashMap<[u8; 32], Vec<oneshot::Sender<PaymentRecord>>>,
    /// A new payment's row until a part takes it (see `pay`).
    unwritten: HashMap<[u8; 32], PaymentRecord>,
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
        let mut save = tokio::time::interval(self.cfg.save_every);
        let stop = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                Some(req) = rx.recv() => match req {
                    Request::Pay { req, reply } => {
                        let r = self.pay(req).await;
                        let _ = reply.send(r);
                    }
                },
                Some(outcome) = outcomes.recv() => self.on_outcome(outcome).await,
                _ = save.tick() => self.save_scorer().await,
            }
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

    async fn pay(&mut self, req: PayRequest) -> Result<Started, Error> {
        let now = now_secs();
        let timeout_secs = req.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if timeout_secs == 0 || timeout_secs > MAX_TIMEOUT_SECS {
            return Err(Error::InvalidRequest(format!(
                "timeout_secs must be 1 to {MAX_TIMEOUT_SECS}"
            )));
        }
        // The invoice is parsed (its signature checked) once, here: the API leaves it to us.
        let (record, invoice) = self.record_for(&req, now, timeout_secs)?;
        let hash = record.payment_hash;
        let (existing, next_id) = self
            .cfg
            .store
            .call(move |c| Ok((pq::get_payment(c, &hash)?, aq::next_attempt_id(c, &hash)?)))
            .await?;
        let paid_before = existing.is_some();
        if let Some(p) = existing.filter(|p| p.status != PaymentStatus::Failed) {
            // Paid or being paid already: never twice.
            let waiter =
                (req.wait && p.status == PaymentStatus::Pending).then(|| self.waiter(hash));
            return Ok((p, waiter));
        }
        let target = match &invoice {
            Some(inv) => Self::invoice_target(&record, inv),
            None => self.target_of(&record)?,
        };
        let mut session = Session::new(target);
        // The first routes are found before anything is stored: a payment that cannot start
        // is refused, not recorded.
        let (paths, local, height) = match self.plan(&session, record.amount_msat).await {
            Ok(found) => found,
            Err(NoPlan::Refused(e)) => return Err(e),
            Err(NoPlan::Route(why)) => return Err(Error::NoRoute(why)),
        };
        // A new payment's row is written with its first part's HTLC and attempt, in the
        // channel manager's transaction (one commit for all three); `unwritten` keeps it
        // until then. This task is the only writer of payments and runs one request at a
        // time, so the absence read above still holds.
        if !paid_before {
            self.unwritten.insert(hash, record.clone());
        } else {
            // A failed payment paid again: its row is replaced (and its failed attempts
            // forgotten) first, as its own write.
            let stored = record.clone();
            let replaced = self
                .cfg
                .store
                .write(move |tx| pq::upsert_payment(tx, &stored))
                .await?;
            if !replaced {
                return Err(Error::Internal(
                    "the payment appeared while it was planned".into(),
                ));
            }
        }
        session.skip_ids(next_id);
        self.sessions.insert(hash, session);
        let waiter = req.wait.then(|| self.waiter(hash));
        self.send_paths(hash, paths, &local, height).await;
        self.write_unwritten(hash).await?;
        self.advance(hash).await;
        // A caller that waits is answered by the waiter: reading the row again now would
        // only commit the channel manager's open batch early.
        let now_record = match waiter {
            Some(_) => record,
            None => self
                .cfg
                .store
                .call(move |c| pq::get_payment(c, &hash))
                .await?
                .unwrap_or(record),
        };
        tracing::info!(payment_hash = %hex::encode(hash), amount_msat = now_record.amount_msat,
            status = now_record.status.as_str(), "payment started");
        Ok((now_record, waiter))
    }

    /// The payment row a request makes, checked.
    fn record_for(
        &self,
        req: &PayRequest,
        now: u64,
        timeout_secs: u32,
    ) -> Result<(PaymentRecord, Option<Invoice>), Error> {
        let mut parsed = None;
        let (payment_hash, bolt11, payee, amount_msat, preimage) = match &req.to {
            PayTo::Invoice {
                bolt11,
                amount_msat,
            } => {
                let inv = Invoice::parse(bolt11.trim(), self.cfg.network)
                    .map_err(|e| Error::InvalidInvoice(e.to_string()))?;
                if inv.is_expired(now) {
                    return Err(Error::InvoiceExpired(format!(
                        "the invoice expired at {} (unix time)",
                        inv.expires_at()
                    )));
                }
                let amount = match (inv.amount_msat(), *amount_msat) {
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
                let hash = inv.payment_hash().0;
                let payee = inv.payee();
                parsed = Some(inv);
                (hash, Some(bolt11.trim().to_string()), payee, amount, None)
            }
            PayTo::Keysend {
                node_id,
                amount_msat,
            } => {
                if *amount_msat == 0 {
                    return Err(Error::InvalidRequest("amount_msat must be above 0".into()));
                }
                let mut preimage = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut preimage);
                let hash = sha256::Hash::hash(&preimage).to_byte_array();
                (hash, None, *node_id, *amount_msat, Some(preimage))
            }
        };
        if payee == self.us {
            return Err(Error::NoRoute("the payee is this node".into()));
        }
        Ok((
            PaymentRecord {
                payment_hash,
                bolt11,
                payee,
                amount_msat,
                fee_msat: 0,
                status: PaymentStatus::Pending,
                preimage,
                failure: None,
                created_at: now,
                resolved_at: None,
                max_fee_msat: req
                    .max_fee_msat
                    .unwrap_or_else(|| default_max_fee_msat(amount_msat)),
                max_total_cltv_expiry_delta: req
                    .max_total_cltv_expiry_delta
                    .unwrap_or(DEFAULT_MAX_TOTAL_CLTV_EXPIRY_DELTA),
                timeout_secs,
            },
            parsed,
        ))
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

    /// Routes for `amount_msat` of `session`'s payment, over our channels as they are now.
    async fn plan(
        &self,
        session: &Session,
        amount_msat: u64,
    ) -> Result<(Vec<Path>, Vec<LocalChannel>, u32), NoPlan> {
        let (local, height) = self
            .cfg
            .channels
            .local_channels_for_planning()
            .await
            .map_err(NoPlan::Refused)?;
        let local: Vec<LocalChannel> = local
            .into_iter()
            .map(|mut c| {
                if let Some(cap) = session.refused_channels.get(&c.channel_id) {
                    c.outbound_msat = c.outbound_msat.min(*cap);
                }
                c
            })
            .collect();
        let t = &session.target;
        let params = RouteParams {
            payee: t.payee,
            amount_msat,
            final_cltv_delta: final_delta(t),
            max_fee_msat: session.fee_budget_msat(),
            max_total_cltv_delta: t.max_total_cltv_expiry_delta,
            hints: t.hints.clone(),
            max_hops: MAX_HOPS,
            mpp: t.mpp,
            max_parts: MAX_PARTS.saturating_sub(session.pending()).max(1),
        };
        let found = {
            let graph = self.cfg.graph.read().unwrap_or_else(|e| e.into_inner());
            let search = |params: &RouteParams| {
                find_route(
                    &self.us,
                    &graph,
                    &local,
                    params,
                    &self.scorer,
                    &session.constraints,
                    now_secs(),
                )
            };
            match search(&params) {
                // A split can fail for lack of room for its last msat when the true reason
                // is a limit: one path searched alone names the limit, if one stopped it.
                Err(RouteError::NoRoute(why)) if params.mpp => match search(&RouteParams {
                    mpp: false,
                    ..params.clone()
                }) {
                    Err(e @ (RouteError::TooExpensive { .. } | RouteError::TooLong { .. })) => {
                        Err(e)
                    }
                    _ => Err(RouteError::NoRoute(why)),
                },
                other => other,
            }
        };
        match found {
            Ok(paths) => Ok((paths, local, height)),
            Err(e) => {
                let sendable: u64 = local
                    .iter()
                    .filter(|c| c.usable)
                    .map(|c| c.outbound_msat)
                    .sum();
                if sendable < amount_msat && session.pending() == 0 {
                    return Err(NoPlan::Refused(Error::InsufficientLiquidity(format!(
                        "our channels can send {sendable} msat now; the payment needs \
                         {amount_msat} msat"
                    ))));
                }
                Err(NoPlan::Route(route_error_text(&e, t)))
            }
        }
    }

    async fn send_paths(
        &mut self,
        hash: [u8; 32],
        paths: Vec<Path>,
        local: &[LocalChannel],
        height: u32,
    ) {
        let Some(t) = self.sessions.get(&hash).map(|s| s.target.clone()) else {
            return;
        };
        for path in paths {
            let first_scid = local
                .iter()
                .find(|c| c.channel_id == path.first_channel)
                .and_then(|c| c.scid);
            self.send_part(hash, &path, first_scid, height, final_delta(&t))
                .await;
        }
    }

    /// Builds the part's onion and hands it to the channel manager with its attempt row.
    async fn send_part(
        &mut self,
        hash: [u8; 32],
        path: &Path,
        first_scid: Option<ShortChannelId>,
        height: u32,
        final_delta: u32,
    ) {
        let Some(session) = self.sessions.get_mut(&hash) else {
            return;
        };
        let t = session.target.clone();
        let id = session.take_id();
        session.part_sent(id, path);
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        let recipient = Recipient {
            node_id: t.payee,
            amount_msat: path.amount_msat,
            final_cltv_expiry: height.saturating_add(final_delta),
            payment_secret: t.payment_secret.map(PaymentSecret),
            total_msat: t.amount_msat,
            payment_metadata: t.payment_metadata.clone(),
            keysend_preimage: t.keysend_preimage,
        };
        let built = SecretKey::from_slice(&key)
            .map_err(|e| e.to_string())
            .and_then(|sk| {
                build_payment_onion(
                    &sk,
                    &path.forwarders,
                    &recipient,
                    &crate::bolt3::PaymentHash(hash),
                )
                .map_err(|e| e.to_string())
            });
        let onion = match built {
            Ok(o) => o,
            Err(e) => {
                let why = format!("cannot build the onion: {e}");
                self.part_failed(hash, id, &[], &Failure::Gone, &why).await;
                return;
            }
        };
        let route = path.nodes();
        let attempt = AttemptRecord {
            payment_hash: hash,
            id,
            htlc: crate::payments::HtlcRef {
                channel_id: path.first_channel,
                htlc_id: 0,
            },
            amount_msat: path.amount_msat,
            fee_msat: onion.fee_msat,
            session_key: key,
            route: route.clone(),
            hops: attempt_hops(path, first_scid, &recipient),
            status: PaymentStatus::Pending,
            failure: None,
            created_at: now_secs(),
            resolved_at: None,
        };
        self.routes.insert(
            (hash, id),
            Sent {
                session_key: key,
                route,
                path: Some(path.clone()),
            },
        );
        let part = SendPart {
            amount_msat: onion.first_hop_amount_msat,
            cltv_expiry: onion.first_hop_cltv_expiry,
            onion: onion.onion.packet.0.to_vec(),
            attempt,
            payment: self.unwritten.remove(&hash),
        };
        let payment = part.payment.clone();
        if let Err(e) = self.cfg.channels.send_part(part).await {
            // Nothing was written: the row goes with the next part, or on its own.
            if let Some(p) = payment {
                self.unwritten.insert(hash, p);
            }
            if let Some(s) = self.sessions.get_mut(&hash) {
                let cap = onion.first_hop_amount_msat.saturating_sub(1);
                let known = s.refused_channels.entry(path.first_channel).or_insert(cap);
                *known = (*known).min(cap);
            }
            let why = format!("our channel refused the HTLC: {e}");
            self.part_failed(hash, id, &[], &Failure::Gone, &why).await;
        } else {
            tracing::info!(payment_hash = %hex::encode(hash), attempt = id,
                amount_msat = path.amount_msat, fee_msat = onion.fee_msat,
                hops = path.forwarders.len() + 1, "payment part sent");
        }
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

    /// Writes the payment's row if no part took it (none could be sent): before anything
    /// records how the payment goes on.
    async fn write_unwritten(&mut self, hash: [u8; 32]) -> Result<(), Error> {
        let Some(p) = self.unwritten.remove(&hash) else {
            return Ok(());
        };
        let written = self
            .cfg
            .store
            .write(move |tx| pq::upsert_payment(tx, &p))
            .await;
        if let Err(e) = written {
            // Not started after all: forget it, as if it had been refused.
            self.sessions.remove(&hash);
            self.waiters.remove(&hash);
            self.routes.retain(|(h, _), _| *h != hash);
            return Err(e.into());
        }
        Ok(())
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
        let Some(waiters) = self.waiters.remove(&hash) else {
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
}

/// Why no part could be planned.
enum NoPlan {
    /// Refused outright (our channels cannot send the amount at all, or the manager is gone).
    Refused(Error),
    /// No route within the payment's limits: why, for people.
    Route(String),
}

/// The payee's final CLTV delta plus our margin.
fn final_delta(t: &Target) -> u32 {
    t.min_final_cltv_expiry_delta
        .saturating_add(FINAL_CLTV_MARGIN)
}

/// A route search's failure in the payer's words, naming the limit that stopped it.
fn route_error_text(e: &RouteError, t: &Target) -> String {
    match e {
        RouteError::TooExpensive {
            fee_msat,
            max_fee_msat,
        } => format!(
            "the cheapest route costs {fee_msat} msat in fees, above max_fee_msat {max_fee_msat}"
        ),
        RouteError::TooLong { cltv, max } => format!(
            "the route locks the payment for {cltv} blocks, above max_total_cltv_expiry_delta {max}"
        ),
        other => format!("{other} (to {} for {} msat)", t.payee, t.amount_msat),
    }
}

/// A keysend payment has no invoice to name the payee's final delta: this is what the
/// implementations use.
pub const KEYSEND_FINAL_CLTV_DELTA: u32 = 40;

/// The hops of an attempt as people read them: each node reached, the channel into it and
/// the HTLC it receives (walked back from the payee, as the onion was built).
fn attempt_hops(
    path: &Path,
    first_scid: Option<ShortChannelId>,
    recipient: &Recipient,
) -> Vec<AttemptHop> {
    let n = path.forwarders.len();
    let mut hops = Vec::with_capacity(n + 1);
    let mut amount = recipient.amount_msat;
    let mut cltv = recipient.final_cltv_expiry;
    let into = |i: usize| -> Option<String> {
        if i == 0 {
            first_scid.map(|s| s.to_string())
        } else {
            Some(path.forwarders[i - 1].next_channel.to_string())
        }
    };
    hops.push(AttemptHop {
        node_id: recipient.node_id,
        short_channel_id: into(n),
        amount_msat: amount,
        cltv_expiry: cltv,
    });
    for (i, f) in path.forwarders.iter().enumerate().rev() {
        amount = amount.saturating_add(f.fee_msat(amount).unwrap_or(0));
        cltv = cltv.saturating_add(u32::from(f.cltv_expiry_delta));
        hops.push(AttemptHop {
            node_id: f.node_id,
            short_channel_id: into(i),
            amount_msat: amount,
            cltv_expiry: cltv,
        });
    }
    hops.reverse();
    hops
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
