//! Payment routes: invoices we issue, payments we make, HTLCs we forwarded, the fee policy.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{JsonBody, PathParam};
use super::list_limit::ListLimit;
use super::ApiState;
use crate::error::Error;
use crate::invoice::InvoiceDescription;
use crate::node::invoices::{self, now_secs, NewInvoice};
use crate::node::payer::{PayRequest, PayTo, MAX_TIMEOUT_SECS};
use crate::payments::{
    AttemptRecord, FeePolicy, ForwardRecord, InvoiceRecord, InvoiceStatus, PaymentRecord,
};
use crate::store::attempts as attempts_db;
use crate::store::payments as db;

type ApiResult = Result<Json<Value>, Error>;

pub(super) fn parse_payment_hash(s: &str) -> Result<[u8; 32], Error> {
    hex::decode(s.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            Error::InvalidRequest(format!("{s:?} is not a payment hash (64 hex characters)"))
        })
}

/// An invoice as the API shows it: the status at `now`, and the preimage only once paid (it
/// is the proof of payment; before that it is the secret that claims the payment). A held
/// hold invoice shows what arrived in `received_msat`.
pub(super) fn invoice_json(inv: &InvoiceRecord, now: u64) -> Value {
    let status = inv.status_at(now);
    let mut v = json!({
        "payment_hash": hex::encode(inv.payment_hash),
        "bolt11": inv.bolt11,
        "amount_msat": inv.amount_msat,
        "description": inv.description,
        "description_hash": inv.description_hash.map(hex::encode),
        "status": status.as_str(),
        "created_at": inv.created_at,
        "expires_at": inv.expires_at,
        "received_msat": inv.received_msat,
        "paid_at": inv.paid_at,
    });
    if let (InvoiceStatus::Paid, Some(preimage)) = (status, inv.preimage) {
        v["preimage"] = json!(hex::encode(preimage));
    }
    v
}

pub(super) fn payment_json(p: &PaymentRecord) -> Value {
    json!({
        "payment_hash": hex::encode(p.payment_hash),
        "status": p.status.as_str(),
        "preimage": p.preimage.map(hex::encode),
        "fee_msat": p.fee_msat,
        "failure": p.failure,
        "amount_msat": p.amount_msat,
        "payee": p.payee.to_string(),
        "bolt11": p.bolt11,
        "created_at": p.created_at,
        "resolved_at": p.resolved_at,
    })
}

/// A payment with its attempts: each HTLC it took (retries, parts), its route and outcome.
pub(super) fn payment_with_attempts(p: &PaymentRecord, attempts: &[AttemptRecord]) -> Value {
    let mut v = payment_json(p);
    v["attempts"] = attempts.iter().map(attempt_json).collect();
    v
}

fn attempt_json(a: &AttemptRecord) -> Value {
    json!({
        "id": a.id,
        "status": a.status.as_str(),
        "amount_msat": a.amount_msat,
        "fee_msat": a.fee_msat,
        "route": a.hops.iter().map(|h| json!({
            "node_id": h.node_id.to_string(),
            "short_channel_id": h.short_channel_id,
            "amount_msat": h.amount_msat,
            "cltv_expiry": h.cltv_expiry,
        })).collect::<Vec<_>>(),
        "failure": a.failure,
        "created_at": a.created_at,
        "resolved_at": a.resolved_at,
    })
}

pub(super) fn forward_json(f: &ForwardRecord) -> Value {
    json!({
        "in_channel_id": hex::encode(f.incoming.channel_id),
        "in_htlc_id": f.incoming.htlc_id,
        "out_channel_id": hex::encode(f.outgoing.channel_id),
        "out_htlc_id": f.outgoing.htlc_id,
        "payment_hash": hex::encode(f.payment_hash),
        "in_msat": f.in_msat,
        "out_msat": f.out_msat,
        "fee_msat": f.fee_msat(),
        "status": f.status.as_str(),
        "failure": f.failure,
        "created_at": f.created_at,
        "resolved_at": f.resolved_at,
    })
}

fn policy_json(p: &FeePolicy) -> Value {
    json!({ "base_msat": p.base_msat, "ppm": p.ppm, "cltv_delta": p.cltv_delta })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InvoiceRequest {
    amount_msat: Option<u64>,
    description: Option<String>,
    description_hash: Option<String>,
    expiry_secs: Option<u64>,
    /// A hold invoice for this hash: the caller keeps the preimage and settles with it.
    payment_hash: Option<String>,
}

impl InvoiceRequest {
    /// Exactly one of `description` or `description_hash` (BOLT 11: `d` or `h`).
    fn description(&self) -> Result<InvoiceDescription, Error> {
        match (&self.description, &self.description_hash) {
            (Some(text), None) => Ok(InvoiceDescription::Direct(text.clone())),
            (None, Some(hash)) => hex::decode(hash.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .map(InvoiceDescription::Hash)
                .ok_or_else(|| {
                    Error::InvalidRequest(format!(
                        "description_hash {hash:?} is not a SHA256 (64 hex characters)"
                    ))
                }),
            _ => Err(Error::InvalidRequest(
                "give exactly one of description or description_hash".into(),
            )),
        }
    }
}

pub(super) async fn create_invoice(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<InvoiceRequest>,
) -> ApiResult {
    let description = req.description()?;
    let payment_hash = req
        .payment_hash
        .as_deref()
        .map(parse_payment_hash)
        .transpose()?;
    let hints = s.channels.route_hints().await?;
    // Shown to the caller: which hub (and at what fee) payers will route through.
    let shown: Vec<Value> = hints
        .iter()
        .flat_map(|h| h.0.iter())
        .map(|hop| {
            json!({
                "node_id": hop.src_node_id.to_string(),
                "short_channel_id": hop.short_channel_id.0,
                "fee_base_msat": hop.fee_base_msat,
                "fee_proportional_millionths": hop.fee_proportional_millionths,
                "cltv_expiry_delta": hop.cltv_expiry_delta,
            })
        })
        .collect();
    let inv = invoices::create_invoice(
        &s.store,
        &s.node_key,
        s.network,
        hints,
        NewInvoice {
            amount_msat: req.amount_msat,
            description,
            expiry_secs: req.expiry_secs,
            payment_hash,
        },
    )
    .await?;
    Ok(Json(json!({
        "bolt11": inv.bolt11,
        "payment_hash": hex::encode(inv.payment_hash),
        "route_hints": shown,
    })))
}

pub(super) async fn list_invoices(
    State(s): State<ApiState>,
    ListLimit(limit): ListLimit,
) -> ApiResult {
    let all = s
        .store
        .call(move |c| db::list_invoices(c, Some(limit)))
        .await?;
    let now = now_secs();
    let all: Vec<Value> = all.iter().map(|i| invoice_json(i, now)).collect();
    Ok(Json(json!({ "invoices": all })))
}

pub(super) async fn show_invoice(
    State(s): State<ApiState>,
    PathParam(hash): PathParam,
) -> ApiResult {
    let hash = parse_payment_hash(&hash)?;
    let inv = s
        .store
        .call(move |c| db::get_invoice(c, &hash))
        .await?
        .ok_or_else(|| Error::InvoiceNotFound(format!("no invoice {}", hex::encode(hash))))?;
    Ok(Json(invoice_json(&inv, now_secs())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SettleBody {
    preimage: String,
}

/// Settles a held hold invoice with its preimage: answers the paid invoice.
pub(super) async fn settle_invoice(
    State(s): State<ApiState>,
    PathParam(hash): PathParam,
    JsonBody(req): JsonBody<SettleBody>,
) -> ApiResult {
    let hash = parse_payment_hash(&hash)?;
    let preimage = hex::decode(req.preimage.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            Error::InvalidRequest(format!(
                "preimage {:?} is not 32 bytes in hex (64 characters)",
                req.preimage
            ))
        })?;
    let inv = s.channels.settle_invoice(hash, preimage).await?;
    Ok(Json(invoice_json(&inv, now_secs())))
}

/// Cancels an open or held invoice: HTLCs paying it are refused from now on, and those held
/// are failed back.
pub(super) async fn cancel_invoice(
    State(s): State<ApiState>,
    PathParam(hash): PathParam,
) -> ApiResult {
    let hash = parse_payment_hash(&hash)?;
    let cancelled = s.channels.cancel_invoice(hash).await?;
    let inv = s
        .store
        .call(move |c| db::get_invoice(c, &hash))
        .await?
        .ok_or_else(|| Error::InvoiceNotFound(format!("no invoice {}", hex::encode(hash))))?;
    if !cancelled && inv.status != InvoiceStatus::Cancelled {
        return Err(Error::InvalidRequest(format!(
            "invoice {} is {}, not open or held",
            hex::encode(hash),
            inv.status_at(now_secs()).as_str()
        )));
    }
    Ok(Json(invoice_json(&inv, now_secs())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PayBody {
    bolt11: Option<String>,
    node_id: Option<String>,
    amount_msat: Option<u64>,
    wait: Option<bool>,
    max_fee_msat: Option<u64>,
    max_total_cltv_expiry_delta: Option<u32>,
    timeout_secs: Option<u32>,
}

/// Pays an invoice (`bolt11`) or a node id (`node_id` + `amount_msat`, keysend).
pub(super) async fn pay(State(s): State<ApiState>, JsonBody(req): JsonBody<PayBody>) -> ApiResult {
    if req.amount_msat == Some(0) {
        return Err(Error::InvalidRequest("amount_msat must be above 0".into()));
    }
    if let Some(t) = req.timeout_secs {
        if t == 0 || t > MAX_TIMEOUT_SECS {
            return Err(Error::InvalidRequest(format!(
                "timeout_secs must be 1 to {MAX_TIMEOUT_SECS}"
            )));
        }
    }
    let to = match (req.bolt11, req.node_id) {
        // The payer parses the invoice (once) and refuses it with the invoice's own reason.
        (Some(bolt11), None) => PayTo::Invoice {
            bolt11: bolt11.trim().to_string(),
            amount_msat: req.amount_msat,
        },
        (None, Some(node_id)) => {
            let node_id = node_id.trim().parse().map_err(|_| {
                Error::InvalidRequest(format!("node_id {node_id} is not a node id"))
            })?;
            let amount_msat = req.amount_msat.ok_or_else(|| {
                Error::InvalidRequest("a payment to a node id needs amount_msat".into())
            })?;
            PayTo::Keysend {
                node_id,
                amount_msat,
            }
        }
        _ => {
            return Err(Error::InvalidRequest(
                "give exactly one of bolt11, or node_id with amount_msat".into(),
            ))
        }
    };
    let record = s
        .payer
        .pay(PayRequest {
            to,
            wait: req.wait.unwrap_or(true),
            max_fee_msat: req.max_fee_msat,
            max_total_cltv_expiry_delta: req.max_total_cltv_expiry_delta,
            timeout_secs: req.timeout_secs,
        })
        .await?;
    let hash = record.payment_hash;
    let attempts = s
        .store
        .call(move |c| attempts_db::list_attempts(c, &hash))
        .await?;
    Ok(Json(payment_with_attempts(&record, &attempts)))
}

pub(super) async fn list_payments(
    State(s): State<ApiState>,
    ListLimit(limit): ListLimit,
) -> ApiResult {
    let all = s
        .store
        .call(move |c| db::list_payments(c, Some(limit)))
        .await?;
    let all: Vec<Value> = all.iter().map(payment_json).collect();
    Ok(Json(json!({ "payments": all })))
}

pub(super) async fn show_payment(
    State(s): State<ApiState>,
    PathParam(hash): PathParam,
) -> ApiResult {
    let hash = parse_payment_hash(&hash)?;
    let p = s
        .store
        .call(move |c| db::get_payment(c, &hash))
        .await?
        .ok_or_else(|| Error::PaymentNotFound(format!("no payment {}", hex::encode(hash))))?;
    let attempts = s
        .store
        .call(move |c| attempts_db::list_attempts(c, &hash))
        .await?;
    Ok(Json(payment_with_attempts(&p, &attempts)))
}

/// The newest `limit` forwards; the fees earned are summed over every settled forward.
pub(super) async fn list_forwards(
    State(s): State<ApiState>,
    ListLimit(limit): ListLimit,
) -> ApiResult {
    let (all, earned) = s
        .store
        .call(move |c| {
            Ok((
                db::list_forwards(c, Some(limit))?,
                db::forward_fees_earned(c)?,
            ))
        })
        .await?;
    let all: Vec<Value> = all.iter().map(forward_json).collect();
    Ok(Json(json!({ "forwards": all, "fee_msat_earned": earned })))
}

pub(super) async fn get_policy(State(s): State<ApiState>) -> ApiResult {
    let p = *s.policy.read().unwrap_or_else(|e| e.into_inner());
    Ok(Json(policy_json(&p)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyBody {
    base_msat: u32,
    ppm: u32,
    cltv_delta: u16,
}

/// Stores the policy (it wins over the config file from now on), makes it the one the router
/// charges, and has the channel manager announce it.
pub(super) async fn put_policy(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<PolicyBody>,
) -> ApiResult {
    let p = FeePolicy {
        base_msat: req.base_msat,
        ppm: req.ppm,
        cltv_delta: req.cltv_delta,
    };
    p.validate().map_err(Error::InvalidRequest)?;
    s.store.write(move |tx| db::set_policy(tx, &p)).await?;
    *s.policy.write().unwrap_or_else(|e| e.into_inner()) = p;
    tracing::info!(
        base_msat = p.base_msat,
        ppm = p.ppm,
        cltv_delta = p.cltv_delta,
        "fee policy set"
    );
    s.channels.policy_changed().await?;
    Ok(Json(policy_json(&p)))
}
