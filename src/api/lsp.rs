//! The LSP routes: `GET /v1/lsp/jit`, the JIT channels sold over LSPS2, and
//! `GET /v1/lsp/orders`, the channels bought over LSPS1.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::list_limit::ListLimit;
use super::ApiState;
use crate::error::Error;
use crate::lsps::lsps1::Order;
use crate::store::lsps::{self as db, JitRecord};
use crate::store::lsps1 as orders_db;

fn jit_json(r: &JitRecord) -> Value {
    let txid = r.funding_txid.map(|t| {
        use bitcoin::hashes::Hash;
        bitcoin::Txid::from_byte_array(t).to_string()
    });
    json!({
        "jit_channel_scid": r.scid.to_string(),
        "client_node_id": r.client.to_string(),
        // Stored as the client sent it back; a row we cannot read shows as null.
        "opening_fee_params": serde_json::from_str::<Value>(&r.opening_fee_params).ok(),
        "payment_size_msat": r.payment_size_msat,
        "opening_fee_msat": r.opening_fee_msat,
        "valid_until": r.valid_until,
        "client_trusts_lsp": r.client_trusts_lsp,
        "state": r.state.as_str(),
        "created_at": r.created_at,
        "channel_id": r.channel_id.map(hex::encode),
        "funding_txid": txid,
        "fee_earned_msat": r.fee_earned_msat,
    })
}

/// The newest `limit` JIT channels, newest first; waiting ones whose offer ended are marked
/// `expired` first.
pub(super) async fn list_jit(
    State(s): State<ApiState>,
    ListLimit(limit): ListLimit,
) -> Result<Json<Value>, Error> {
    let now = crate::events::now_secs();
    let rows = s
        .store
        .write(move |c| {
            db::expire_jit(c, now)?;
            db::list_jit(c, limit)
        })
        .await?;
    let jit: Vec<Value> = rows.iter().map(jit_json).collect();
    Ok(Json(json!({ "jit": jit })))
}

fn order_json(o: &Order, now: u64) -> Value {
    // As the client is told: an unpaid order whose invoice expired has failed.
    let (order_state, payment_state) = o.states_at(now);
    let ch = o.channel.as_ref();
    json!({
        "order_id": o.order_id,
        "client_node_id": o.client.to_string(),
        "lsp_balance_sat": o.params.lsp_balance_sat,
        "client_balance_sat": o.params.client_balance_sat,
        "channel_expiry_blocks": o.params.channel_expiry_blocks,
        "announce_channel": o.params.announce_channel,
        "fee_total_sat": o.fee_total_sat,
        "order_total_sat": o.order_total_sat,
        "payment_hash": hex::encode(o.payment_hash),
        "bolt11": o.invoice,
        "order_state": order_state.as_str(),
        "payment_state": payment_state.as_str(),
        "created_at": o.created_at,
        "expires_at": o.expires_at,
        "channel_id": ch.map(|c| hex::encode(c.channel_id)),
        "funding_outpoint": ch.map(|c| format!("{}:{}", c.funding_txid, c.funding_vout)),
        "funded_at": ch.map(|c| c.funded_at),
        "failure": o.failure,
    })
}

/// The newest `limit` LSPS1 orders, newest first.
pub(super) async fn list_orders(
    State(s): State<ApiState>,
    ListLimit(limit): ListLimit,
) -> Result<Json<Value>, Error> {
    let rows = s
        .store
        .call(move |c| orders_db::list_orders(c, limit))
        .await?;
    let now = crate::events::now_secs();
    let orders: Vec<Value> = rows.iter().map(|o| order_json(o, now)).collect();
    Ok(Json(json!({ "orders": orders })))
}
