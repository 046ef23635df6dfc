//! The handlers: phoenixd's paths, form parameters and answers over chanhub's node.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::form::{hex32, ParamError, Params};
use super::json;
use super::store::{self as q, InvoiceMeta, Page};
use super::{CompatError, CompatState};
use crate::events::now_ms;
use crate::invoice::Invoice;
use crate::node::channels::ChannelStatus;
use crate::node::invoices;
use crate::node::payer::{PayRequest, PayTo};
use crate::payments::PaymentStatus;
use crate::store::payments as db;

type Reply = Result<Response, CompatError>;

/// phoenixd's limit on an invoice description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 128;
/// phoenixd's default page size of the lists.
pub const DEFAULT_LIST_LIMIT: i64 = 20;
/// The largest page served (phoenixd has no cap; a page is read whole into memory).
pub const MAX_LIST_LIMIT: i64 = 10_000;
/// How long `payinvoice` lets the payer retry: under LNbits' 40 s request timeout, so it
/// hears the outcome rather than a timeout.
pub const PAY_TIMEOUT_SECS: u32 = 30;

/// phoenixd answers pretty-printed JSON.
pub(super) fn reply(v: Value) -> Response {
    let body = serde_json::to_string_pretty(&v).expect("JSON values serialize");
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn form(body: &Bytes) -> Params {
    Params::parse(&String::from_utf8_lossy(body))
}

/// Our channels that are not closed, the ones that can send first and the fullest of them
/// first: LNbits shows `channels[0].balanceSat` as the node's balance.
async fn channels_json(s: &CompatState) -> Result<(Vec<Value>, u64, u32), CompatError> {
    let all = s.channels.list().await?;
    let (local, height) = s.channels.local_channels().await?;
    let sendable: HashMap<[u8; 32], u64> = local
        .iter()
        .map(|c| (c.channel_id, c.outbound_msat))
        .collect();
    let mut open: Vec<_> = all
        .iter()
        .filter(|c| c.status != ChannelStatus::Closed)
        .map(|c| {
            let send = match c.status {
                ChannelStatus::Active => sendable.get(&c.channel_id).copied().unwrap_or(0),
                _ => 0,
            };
            (c, send)
        })
        .collect();
    open.sort_by_key(|(c, send)| (c.status != ChannelStatus::Active, std::cmp::Reverse(*send)));
    let total = open.iter().map(|(_, send)| send).sum();
    let list = open
        .iter()
        .map(|(c, send)| json::channel(c, Some(*send)))
        .collect();
    Ok((list, total, height))
}

pub(super) async fn getinfo(State(s): State<CompatState>) -> Reply {
    let (channels, _, height) = channels_json(&s).await?;
    Ok(reply(json!({
        "nodeId": s.node_id.to_string(),
        "channels": channels,
        "chain": json::chain_name(s.network),
        "blockHeight": height,
        "version": concat!("chanhub-", env!("CARGO_PKG_VERSION")),
    })))
}

pub(super) async fn getbalance(State(s): State<CompatState>) -> Reply {
    let (_, total_msat, _) = channels_json(&s).await?;
    Ok(reply(json!({
        "balanceSat": total_msat / 1000,
        // phoenixd's fee credit is owed by its LSP; chanhub has none.
        "feeCreditSat": 0,
    })))
}

// `..NewInvoice::default()` even when every field is given: fields are added to it, and
// those keep their defaults here.
#[allow(clippy::needless_update)]
pub(super) async fn createinvoice(State(s): State<CompatState>, body: Bytes) -> Reply {
    let p = form(&body);
    let amount_sat = p.optional_i64("amountSat")?;
    let description = p.get("description");
    if let Some(d) = description {
        if d.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(CompatError::BadRequest(format!(
                "Request parameter description is too long (max {MAX_DESCRIPTION_CHARS} characters)"
            )));
        }
    }
    let description_hash = p.optional_hex32("descriptionHash")?;
    let description = match (description, description_hash) {
        (Some(d), None) => crate::invoice::InvoiceDescription::Direct(d.to_string()),
        (None, Some(h)) => crate::invoice::InvoiceDescription::Hash(h),
        _ => {
            return Err(CompatError::BadRequest(
                "Must provide either a description or descriptionHash".into(),
            ))
        }
    };
    let expiry = p.optional_i64("expirySeconds")?;
    let webhook_url = p.get("webhookUrl").map(check_url).transpose()?;
    let meta = InvoiceMeta {
        external_id: p.get("externalId").map(str::to_string),
        webhook_url,
    };
    let amount_msat = amount_sat
        .map(|a| {
            u64::try_from(a)
                .ok()
                .and_then(|a| a.checked_mul(1000))
                .ok_or_else(|| CompatError::BadRequest(format!("invalid amountSat {a}")))
        })
        .transpose()?;
    let expiry_secs = expiry
        .map(|e| {
            u64::try_from(e)
                .map_err(|_| CompatError::BadRequest(format!("invalid expirySeconds {e}")))
        })
        .transpose()?;
    let hints = s.channels.route_hints().await?;
    let inv = invoices::create_invoice(
        &s.store,
        &s.node_key,
        s.network,
        hints,
        invoices::NewInvoice {
            amount_msat,
            description,
            expiry_secs,
            ..invoices::NewInvoice::default()
        },
    )
    .await?;
    if meta.external_id.is_some() || meta.webhook_url.is_some() {
        let hash = inv.payment_hash;
        s.store
            .write(move |tx| q::insert_meta(tx, &hash, &meta))
            .await?;
    }
    Ok(reply(json::generated_invoice(&inv)))
}

/// A webhook URL phoenixd would take: an absolute `http` or `https` URL.
fn check_url(u: &str) -> Result<String, CompatError> {
    let ok = u.parse::<axum::http::Uri>().ok().is_some_and(|uri| {
        matches!(uri.scheme_str(), Some("http") | Some("https")) && uri.host().is_some()
    });
    if ok {
        Ok(u.to_string())
    } else {
        Err(ParamError::invalid("webhookUrl", "url").into())
    }
}

pub(super) async fn payinvoice(State(s): State<CompatState>, body: Bytes) -> Reply {
    let p = form(&body);
    if p.contains("sendAll") {
        return Err(CompatError::BadRequest(
            "sendAll is not supported: give amountSat".into(),
        ));
    }
    let amount_sat = p.optional_i64("amountSat")?;
    let bolt11 = p.string("invoice")?.trim().to_string();
    let invoice = Invoice::parse(&bolt11, s.network)
        .map_err(|_| ParamError::invalid("invoice", "bolt11invoice"))?;
    let amount_msat = match amount_sat {
        Some(a) => Some(
            u64::try_from(a)
                .ok()
                .filter(|a| *a > 0)
                .and_then(|a| a.checked_mul(1000))
                .ok_or_else(|| CompatError::BadRequest(format!("invalid amountSat {a}")))?,
        ),
        None => None,
    };
    if amount_msat.is_none() && invoice.amount_msat().is_none() {
        return Err(ParamError::Missing("amountSat".into()).into());
    }
    let hash = invoice.payment_hash().0;
    let paid = s
        .payer
        .pay(PayRequest {
            to: PayTo::Invoice {
                bolt11,
                amount_msat,
            },
            wait: true,
            max_fee_msat: None,
            max_total_cltv_expiry_delta: None,
            timeout_secs: Some(PAY_TIMEOUT_SECS),
        })
        .await;
    match paid {
        Ok(p) => match p.status {
            PaymentStatus::Succeeded => Ok(reply(json::payment_sent(&p))),
            PaymentStatus::Failed => {
                let ours = p.failure.as_deref().unwrap_or("failed");
                Ok(reply(json::payment_failed(
                    Some(&hash),
                    &json::failure_reason(ours),
                )))
            }
            // Not an answer a client may read as failed: a non-2xx keeps it pending.
            PaymentStatus::Pending => Err(CompatError::Internal(format!(
                "payment {} is still pending",
                json::payment_id(&hash)
            ))),
        },
        // Refused before any HTLC left: a failure, in phoenixd's words.
        Err(e) if e.http_status() < 500 => Ok(reply(json::payment_failed(
            Some(&hash),
            &json::failure_reason(&e.to_string()),
        ))),
        Err(e) => Err(e.into()),
    }
}

fn path_hash(raw: &str) -> Result<[u8; 32], CompatError> {
    Ok(hex32("paymentHash", raw)?)
}

pub(super) async fn incoming(State(s): State<CompatState>, Path(hash): Path<String>) -> Reply {
    let hash = path_hash(&hash)?;
    let found = s
        .store
        .call(move |c| Ok((db::get_invoice(c, &hash)?, q::get_meta(c, &hash)?)))
        .await?;
    match found {
        (Some(inv), meta) => {
            let ext = meta.and_then(|m| m.external_id);
            Ok(reply(json::incoming(&inv, ext.as_deref(), now_ms())))
        }
        (None, _) => Err(CompatError::NotFound),
    }
}

pub(super) async fn outgoing_by_hash(
    State(s): State<CompatState>,
    Path(hash): Path<String>,
) -> Reply {
    let hash = path_hash(&hash)?;
    match s.store.call(move |c| db::get_payment(c, &hash)).await? {
        Some(p) => Ok(reply(json::outgoing(&p))),
        None => Err(CompatError::NotFound),
    }
}

pub(super) async fn outgoing_by_id(State(s): State<CompatState>, Path(id): Path<String>) -> Reply {
    let bytes = json::parse_uuid(&id).ok_or_else(|| ParamError::invalid("uuid", "uuid"))?;
    let wanted = json::payment_id(&{
        let mut h = [0u8; 32];
        h[..16].copy_from_slice(&bytes);
        h
    });
    let prefix: [u8; 6] = bytes[..6].try_into().expect("6 of 16 bytes");
    let found = s
        .store
        .call(move |c| {
            for hash in q::payments_with_prefix(c, &prefix)? {
                if json::payment_id(&hash) == wanted {
                    return db::get_payment(c, &hash);
                }
            }
            Ok(None)
        })
        .await?;
    // An id whose version and variant bits are not ours names no payment of ours.
    match found {
        Some(p) if json::payment_id(&p.payment_hash) == id.to_ascii_lowercase() => {
            Ok(reply(json::outgoing(&p)))
        }
        _ => Err(CompatError::NotFound),
    }
}

/// `from`, `to`, `limit`, `offset` as phoenixd reads them.
fn page(p: &Params) -> Result<Page, ParamError> {
    Ok(Page {
        from_ms: p.optional_i64("from")?.unwrap_or(0),
        to_ms: p
            .optional_i64("to")?
            .unwrap_or_else(|| i64::try_from(now_ms()).unwrap_or(i64::MAX)),
        limit: p
            .optional_i64("limit")?
            .unwrap_or(DEFAULT_LIST_LIMIT)
            .clamp(0, MAX_LIST_LIMIT),
        offset: p.optional_i64("offset")?.unwrap_or(0),
    })
}

pub(super) async fn list_incoming(
    State(s): State<CompatState>,
    RawQuery(query): RawQuery,
) -> Reply {
    let p = Params::parse(query.as_deref().unwrap_or(""));
    let page = page(&p)?;
    let all = p.flag("all");
    let ext = p
        .get("externalId")
        .filter(|e| !e.trim().is_empty())
        .map(str::to_string);
    let rows = s
        .store
        .call(move |c| {
            let mut out = Vec::new();
            for hash in q::list_incoming(c, page, all, ext.as_deref())? {
                if let Some(inv) = db::get_invoice(c, &hash)? {
                    out.push((inv, q::get_meta(c, &hash)?.and_then(|m| m.external_id)));
                }
            }
            Ok(out)
        })
        .await?;
    let now = now_ms();
    Ok(reply(Value::Array(
        rows.iter()
            .map(|(inv, ext)| json::incoming(inv, ext.as_deref(), now))
            .collect(),
    )))
}

pub(super) async fn list_outgoing(
    State(s): State<CompatState>,
    RawQuery(query): RawQuery,
) -> Reply {
    let p = Params::parse(query.as_deref().unwrap_or(""));
    let page = page(&p)?;
    let all = p.flag("all");
    let rows = s
        .store
        .call(move |c| {
            let mut out = Vec::new();
            for hash in q::list_outgoing(c, page, all)? {
                out.extend(db::get_payment(c, &hash)?);
            }
            Ok(out)
        })
        .await?;
    Ok(reply(Value::Array(
        rows.iter().map(json::outgoing).collect(),
    )))
}
