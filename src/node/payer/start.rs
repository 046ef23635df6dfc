//! Starting payments. The pay requests queued together are started as one group: one read of
//! their rows, one look at our channels, all their first parts handed to the channel manager
//! at once, one write of the rows no part took.
//!
//! A request handled alone cost the payer a commit and, with its part added alone, a
//! `commitment_signed` (and a whole commitment round with the next node) per payment. In a
//! group, the parts on one channel share one commitment and everything one commit. Nothing
//! changes for a caller: it is answered once what it is told is durable.

use std::collections::HashSet;

use super::*;

/// Pay requests one group takes at most.
pub(super) const MAX_GROUP: usize = 64;

/// Where a pay request is answered.
pub(super) type PayReply = oneshot::Sender<Result<Started, Error>>;

/// A part built and ready for the channel manager.
pub(super) struct Built {
    hash: [u8; 32],
    id: u32,
    first_channel: [u8; 32],
    part: SendPart,
}

/// Each payment's stored row and next attempt id; our channels and the tip.
type GroupRead = (Vec<(Option<PaymentRecord>, u32)>, (Vec<LocalChannel>, u32));

/// A pay request checked: the row it would make.
struct Asked {
    req: PayRequest,
    record: PaymentRecord,
    invoice: Option<Invoice>,
    reply: PayReply,
}

/// A payment of the group that started: answered at the group's end.
struct Begun {
    hash: [u8; 32],
    record: PaymentRecord,
    waiter: Option<oneshot::Receiver<PaymentRecord>>,
    reply: PayReply,
}

impl Task {
    /// Starts the payments `reqs` asks for, answering each.
    pub(super) async fn pay_group(&mut self, reqs: Vec<(PayRequest, PayReply)>) {
        let now = now_secs();
        let mut checked = Vec::with_capacity(reqs.len());
        for (req, reply) in reqs {
            match self.record_for(&req, now) {
                Ok((record, invoice)) => checked.push(Asked {
                    req,
                    record,
                    invoice,
                    reply,
                }),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            }
        }
        if checked.is_empty() {
            return;
        }
        let (stored, (mut local, height)) = match self.read_group(&checked).await {
            Ok(found) => found,
            Err(e) => {
                for a in checked {
                    let _ = a.reply.send(Err(e.clone()));
                }
                return;
            }
        };
        let mut begun = Vec::new();
        let mut parts = Vec::new();
        let mut in_group = HashSet::new();
        let mut again = Vec::new();
        for (asked, (existing, next_id)) in checked.into_iter().zip(stored) {
            if !in_group.insert(asked.record.payment_hash) {
                // Asked twice in one group: looked at again once the first is started (or
                // refused), as a request of its own.
                again.push((asked.req, asked.reply));
                continue;
            }
            let started = self
                .begin(asked, existing, next_id, &mut local, height)
                .await;
            if let Some((b, built)) = started {
                begun.push(b);
                parts.extend(built);
            }
        }
        self.send_built(parts).await;
        self.answer_begun(begun).await;
        if !again.is_empty() {
            Box::pin(self.pay_group(again)).await;
        }
    }

    /// The group's stored rows (each payment's, and its next attempt id), then one look at
    /// our channels and the tip.
    async fn read_group(&self, asked: &[Asked]) -> Result<GroupRead, Error> {
        let hashes: Vec<[u8; 32]> = asked.iter().map(|a| a.record.payment_hash).collect();
        let stored = self
            .cfg
            .store
            .call(move |c| {
                hashes
                    .iter()
                    .map(|h| Ok((pq::get_payment(c, h)?, aq::next_attempt_id(c, h)?)))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await?;
        let look = self.cfg.channels.local_channels_for_planning().await?;
        Ok((stored, look))
    }

    /// Starts one payment of the group, or answers why not: its session, and its first parts
    /// built on `local` (which they are then taken off).
    async fn begin(
        &mut self,
        asked: Asked,
        existing: Option<PaymentRecord>,
        next_id: u32,
        local: &mut [LocalChannel],
        height: u32,
    ) -> Option<(Begun, Vec<Built>)> {
        let Asked {
            req,
            record,
            invoice,
            reply,
        } = asked;
        let hash = record.payment_hash;
        let paid_before = existing.is_some();
        if let Some(p) = existing.filter(|p| p.status != PaymentStatus::Failed) {
            // Paid or being paid already: never twice.
            let waiter =
                (req.wait && p.status == PaymentStatus::Pending).then(|| self.waiter(hash));
            let _ = reply.send(Ok((p, waiter)));
            return None;
        }
        let target = match &invoice {
            Some(inv) => Self::invoice_target(&record, inv),
            None => match self.target_of(&record) {
                Ok(t) => t,
                Err(e) => {
                    let _ = reply.send(Err(e));
                    return None;
                }
            },
        };
        let mut session = Session::new(target);
        // The first routes are found before anything is stored: a payment that cannot start
        // is refused, not recorded.
        let paths = match self.plan_on(&session, record.amount_msat, local) {
            Ok(paths) => paths,
            Err(NoPlan::Refused(e)) => {
                let _ = reply.send(Err(e));
                return None;
            }
            Err(NoPlan::Route(why)) => {
                let _ = reply.send(Err(Error::NoRoute(why)));
                return None;
            }
        };
        // A new payment's row is written with its first part's HTLC and attempt, in the
        // channel manager's transaction; `unwritten` keeps it until then. This task is the
        // only writer of payments, so the absence read above still holds.
        if paid_before {
            // A failed payment paid again: its row is replaced (and its failed attempts
            // forgotten) first, as its own write.
            if let Err(e) = self.replace_failed(&record).await {
                let _ = reply.send(Err(e));
                return None;
            }
        } else {
            self.unwritten.insert(hash, record.clone());
        }
        for path in &paths {
            if let Some(c) = local
                .iter_mut()
                .find(|c| c.channel_id == path.first_channel)
            {
                let sent = path.amount_msat.saturating_add(path.fee_msat);
                c.outbound_msat = c.outbound_msat.saturating_sub(sent);
            }
        }
        session.skip_ids(next_id);
        self.sessions.insert(hash, session);
        let waiter = req.wait.then(|| self.waiter(hash));
        let built = self.build_parts(hash, paths, local, height).await;
        Some((
            Begun {
                hash,
                record,
                waiter,
                reply,
            },
            built,
        ))
    }

    /// Once the group's parts are with the channel manager: writes the rows no part took,
    /// lets each payment go on, and answers its caller.
    async fn answer_begun(&mut self, begun: Vec<Begun>) {
        let lost = self
            .write_unwritten(&begun.iter().map(|b| b.hash).collect::<Vec<_>>())
            .await;
        let mut answers = Vec::with_capacity(begun.len());
        for b in begun {
            match &lost {
                Err(e) if !self.sessions.contains_key(&b.hash) => {
                    let _ = b.reply.send(Err(e.clone()));
                }
                _ => {
                    self.advance(b.hash).await;
                    answers.push(b);
                }
            }
        }
        // A caller that waits is answered by its waiter; one that does not sees its row as
        // it is now (a payment can end at once), read once for the group.
        let unread: Vec<[u8; 32]> = answers
            .iter()
            .filter(|b| b.waiter.is_none())
            .map(|b| b.hash)
            .collect();
        let now_rows = if unread.is_empty() {
            Vec::new()
        } else {
            self.rows_of(unread).await.unwrap_or_default()
        };
        let mut now_rows: HashMap<[u8; 32], PaymentRecord> = now_rows
            .into_iter()
            .flatten()
            .map(|r| (r.payment_hash, r))
            .collect();
        for b in answers {
            let record = match &b.waiter {
                Some(_) => b.record,
                None => now_rows.remove(&b.hash).unwrap_or(b.record),
            };
            tracing::info!(payment_hash = %hex::encode(b.hash), amount_msat = record.amount_msat,
                status = record.status.as_str(), "payment started");
            let _ = b.reply.send(Ok((record, b.waiter)));
        }
    }

    /// Replaces a failed payment's row (and forgets its failed attempts) before it is paid
    /// again.
    async fn replace_failed(&self, record: &PaymentRecord) -> Result<(), Error> {
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
        Ok(())
    }

    /// The payment row a request makes, checked.
    pub(super) fn record_for(
        &self,
        req: &PayRequest,
        now: u64,
    ) -> Result<(PaymentRecord, Option<Invoice>), Error> {
        let timeout_secs = req.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if timeout_secs == 0 || timeout_secs > MAX_TIMEOUT_SECS {
            return Err(Error::InvalidRequest(format!(
                "timeout_secs must be 1 to {MAX_TIMEOUT_SECS}"
            )));
        }
        // The invoice is parsed (its signature checked) once, here: the API leaves it to us.
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

    /// Routes for `amount_msat` of `session`'s payment, over our channels as they are now.
    pub(super) async fn plan(
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
        let paths = self.plan_on(session, amount_msat, &local)?;
        Ok((paths, local, height))
    }

    /// Routes for `amount_msat` of `session`'s payment over `local`, our channels.
    fn plan_on(
        &self,
        session: &Session,
        amount_msat: u64,
        local: &[LocalChannel],
    ) -> Result<Vec<Path>, NoPlan> {
        let local: Vec<LocalChannel> = local
            .iter()
            .cloned()
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
            Ok(paths) => Ok(paths),
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

    /// Sends a part of `hash`'s payment on each of `paths`.
    pub(super) async fn send_paths(
        &mut self,
        hash: [u8; 32],
        paths: Vec<Path>,
        local: &[LocalChannel],
        height: u32,
    ) {
        let parts = self.build_parts(hash, paths, local, height).await;
        self.send_built(parts).await;
    }

    /// A part for each of `paths`: its onion and attempt row. A part whose onion cannot be
    /// built fails at once.
    async fn build_parts(
        &mut self,
        hash: [u8; 32],
        paths: Vec<Path>,
        local: &[LocalChannel],
        height: u32,
    ) -> Vec<Built> {
        let mut built = Vec::with_capacity(paths.len());
        for path in paths {
            let first_scid = local
                .iter()
                .find(|c| c.channel_id == path.first_channel)
                .and_then(|c| c.scid);
            match self.build_part(hash, &path, first_scid, height) {
                Some(Ok(b)) => built.push(b),
                Some(Err((id, why))) => {
                    self.part_failed(hash, id, &[], &Failure::Gone, &why).await;
                }
                None => {}
            }
        }
        built
    }

    /// Builds a part's onion and attempt row; `Err`: the attempt and why it failed.
    fn build_part(
        &mut self,
        hash: [u8; 32],
        path: &Path,
        first_scid: Option<ShortChannelId>,
        height: u32,
    ) -> Option<Result<Built, (u32, String)>> {
        let session = self.sessions.get_mut(&hash)?;
        let t = session.target.clone();
        let id = session.take_id();
        session.part_sent(id, path);
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        let recipient = Recipient {
            node_id: t.payee,
            amount_msat: path.amount_msat,
            final_cltv_expiry: height.saturating_add(final_delta(&t)),
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
            Err(e) => return Some(Err((id, format!("cannot build the onion: {e}")))),
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
        Some(Ok(Built {
            hash,
            id,
            first_channel: path.first_channel,
            part: SendPart {
                amount_msat: onion.first_hop_amount_msat,
                cltv_expiry: onion.first_hop_cltv_expiry,
                onion: onion.onion.packet.0.to_vec(),
                attempt,
                // A new payment's row goes with its first part.
                payment: self.unwritten.remove(&hash),
            },
        }))
    }

    /// Hands `built` to the channel manager in one request (one batch there) and learns from
    /// the parts it refused.
    async fn send_built(&mut self, built: Vec<Built>) {
        if built.is_empty() {
            return;
        }
        let mut meta = Vec::with_capacity(built.len());
        let mut parts = Vec::with_capacity(built.len());
        for b in built {
            // The row is kept to be written on its own should the part be refused.
            let row = b.part.payment.clone();
            meta.push((b.hash, b.id, b.first_channel, b.part.amount_msat, row));
            parts.push(b.part);
        }
        let outcomes = match self.cfg.channels.send_parts(parts).await {
            Ok(outcomes) => outcomes,
            Err(e) => vec![Err(e); meta.len()],
        };
        for ((hash, id, first_channel, first_hop_msat, row), outcome) in
            meta.into_iter().zip(outcomes)
        {
            match outcome {
                Ok(htlc) => {
                    tracing::info!(payment_hash = %hex::encode(hash), attempt = id,
                        htlc_id = htlc.htlc_id, amount_msat = first_hop_msat, "payment part sent");
                }
                Err(e) => {
                    // Nothing was written: the row goes with the next part, or on its own.
                    if let Some(p) = row {
                        self.unwritten.insert(hash, p);
                    }
                    if let Some(s) = self.sessions.get_mut(&hash) {
                        let cap = first_hop_msat.saturating_sub(1);
                        let known = s.refused_channels.entry(first_channel).or_insert(cap);
                        *known = (*known).min(cap);
                    }
                    let why = format!("our channel refused the HTLC: {e}");
                    self.part_failed(hash, id, &[], &Failure::Gone, &why).await;
                }
            }
        }
    }

    /// Writes the rows of `hashes`' payments no part took (none could be sent), in one
    /// write: before anything records how those payments go on. On failure they are
    /// forgotten, as if refused.
    pub(super) async fn write_unwritten(&mut self, hashes: &[[u8; 32]]) -> Result<(), Error> {
        let rows: Vec<PaymentRecord> = hashes
            .iter()
            .filter_map(|h| self.unwritten.remove(h))
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let forget: Vec<[u8; 32]> = rows.iter().map(|p| p.payment_hash).collect();
        let written = self
            .cfg
            .store
            .write(move |tx| {
                rows.iter()
                    .try_for_each(|p| pq::upsert_payment(tx, p).map(|_| ()))
            })
            .await;
        if let Err(e) = written {
            for hash in forget {
                self.sessions.remove(&hash);
                self.waiters.remove(&hash);
                self.routes.retain(|(h, _), _| *h != hash);
            }
            return Err(e.into());
        }
        Ok(())
    }
}

/// Why no part could be planned.
pub(super) enum NoPlan {
    /// Refused outright (our channels cannot send the amount at all, or the manager is gone).
    Refused(Error),
    /// No route within the payment's limits: why, for people.
    Route(String),
}

/// The payee's final CLTV delta plus our margin.
pub(super) fn final_delta(t: &Target) -> u32 {
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
pub(super) fn attempt_hops(
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
