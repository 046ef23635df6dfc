//! Paying an invoice, and the route hints of ours.

use bitcoin::secp256k1::{PublicKey, SecretKey};
use rand::RngCore;
use tokio::sync::oneshot;

use super::super::actor::Actor;
use super::super::PayRequest;
use super::*;
use crate::channel::{Command, MalformedFailure, Phase};
use crate::error::Error;
use crate::invoice::{Invoice, RouteHint, RouteHintHop};
use crate::onion::{
    build_payment_onion, decrypt_failure, failure_from_malformed, hop_keys, ErrorPacket, Recipient,
    SharedSecret,
};
use crate::payments::route::{find_route, OurChannel};
use crate::payments::{HtlcRef, PaymentRecord, PaymentStatus};
use crate::store::payments as pq;

impl Actor {
    pub(in crate::node::channels) async fn pay(
        &mut self,
        req: PayRequest,
    ) -> Result<PayStarted, Error> {
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
        check_limits(
            &req,
            amount_msat,
            onion.fee_msat,
            onion.first_hop_cltv_expiry,
            height,
        )?;
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

    pub(super) fn wait_for(&mut self, hash: [u8; 32]) -> oneshot::Receiver<PaymentRecord> {
        let (tx, rx) = oneshot::channel();
        self.router.waiters.entry(hash).or_default().push(tx);
        rx
    }

    pub(super) async fn current_height(&mut self) -> Result<u32, Error> {
        if self.router.height == 0 {
            self.router.height = self.cfg.chain.tip().await.map_err(Error::from)?.height;
        }
        Ok(self.router.height)
    }

    /// Route hints through the peers with the most inbound liquidity for us.
    pub(in crate::node::channels) fn route_hints(&self) -> Vec<RouteHint> {
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
pub(in crate::node::channels) fn describe_failure(
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

/// The payer's limits, checked on the route found before anything is stored or sent.
fn check_limits(
    req: &PayRequest,
    amount_msat: u64,
    fee_msat: u64,
    first_hop_cltv_expiry: u32,
    height: u32,
) -> Result<(), Error> {
    let max_fee = req
        .max_fee_msat
        .unwrap_or_else(|| super::super::default_max_fee_msat(amount_msat));
    if fee_msat > max_fee {
        return Err(Error::NoRoute(format!(
            "the route costs {fee_msat} msat in fees, above max_fee_msat {max_fee}"
        )));
    }
    let max_delta = req
        .max_total_cltv_expiry_delta
        .unwrap_or(super::super::DEFAULT_MAX_TOTAL_CLTV_EXPIRY_DELTA);
    let delta = first_hop_cltv_expiry.saturating_sub(height);
    if delta > max_delta {
        return Err(Error::NoRoute(format!(
            "the route locks the payment for {delta} blocks, above max_total_cltv_expiry_delta {max_delta}"
        )));
    }
    Ok(())
}
