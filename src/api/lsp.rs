//! The LSP routes: `GET /v1/lsp/jit`, the JIT channels sold over LSPS2.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::list_limit::ListLimit;
use super::ApiState;
use crate::error::Error;
use crate::store::lsps::{self as db, JitRecord};

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
