//! Development routes: drive HTLCs by hand until payments exist. Served only with
//! `dev_api = true` in `chanhub.toml`; the crash tests and the demo use them on processes.

use axum::extract::State;
use axum::routing::post;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::channels::parse_channel_id;
use super::extract::{JsonBody, PathParam};
use super::route_table::RouteTable;
use super::ApiState;
use crate::channel::Command;
use crate::error::Error;

type ApiResult = Result<Json<Value>, Error>;

/// The cheating drill, served on regtest whatever `dev_api` says (the demo and the dispute
/// tests run it on nodes that are otherwise ordinary).
pub(super) fn cheat_route() -> RouteTable {
    RouteTable::new().route("/v1/dev/channels/{id}/cheat", post(cheat))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct CheatRequest {
    /// The cheater's second step: broadcast the revoked commitment's HTLC-timeout
    /// transactions (valid once each HTLC has expired) instead of the commitment.
    #[serde(default)]
    htlc_timeouts: bool,
}

/// Broadcasts this node's previous, revoked commitment (or, with `htlc_timeouts`, its
/// HTLC-timeout transactions): what a cheater does. Regtest only.
async fn cheat(
    State(s): State<ApiState>,
    PathParam(id): PathParam,
    JsonBody(req): JsonBody<CheatRequest>,
) -> ApiResult {
    if s.network != bitcoin::Network::Regtest {
        return Err(Error::InvalidRequest(format!(
            "cheating is a regtest drill; this node runs on {}",
            s.network
        )));
    }
    let id = parse_channel_id(&id)?;
    let drill = s.channels.revoked_commitment(id).await?.ok_or_else(|| {
        Error::ChannelRefused("no revoked commitment yet: make a payment first".into())
    })?;
    if req.htlc_timeouts {
        let mut txids = Vec::new();
        for tx in &drill.htlc_timeouts {
            txids.push(s.chain.broadcast(tx).await?.to_string());
        }
        tracing::warn!(channel_id = %hex::encode(id), ?txids,
            "dev: broadcast the revoked commitment's HTLC-timeout transactions");
        return Ok(Json(
            json!({ "channel_id": hex::encode(id), "txids": txids }),
        ));
    }
    let txid = s.chain.broadcast(&drill.commitment).await?;
    tracing::warn!(channel_id = %hex::encode(id), %txid, "dev: broadcast a revoked commitment");
    Ok(Json(
        json!({ "channel_id": hex::encode(id), "txid": txid.to_string() }),
    ))
}

pub(super) fn routes() -> RouteTable {
    RouteTable::new()
        .route("/v1/dev/channels/{id}/add_htlc", post(add_htlc))
        .route("/v1/dev/channels/{id}/fulfill", post(fulfill))
        .route("/v1/dev/channels/{id}/fail", post(fail))
        .route("/v1/dev/channels/{id}/update_fee", post(update_fee))
}

fn hash32(what: &str, s: &str) -> Result<[u8; 32], Error> {
    hex::decode(s)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| Error::InvalidRequest(format!("{what} must be 64 hex characters")))
}

async fn run(s: &ApiState, id: &str, command: Command) -> ApiResult {
    let id = parse_channel_id(id)?;
    s.channels.command(id, command).await?;
    Ok(Json(json!({ "channel_id": hex::encode(id) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AddRequest {
    amount_msat: u64,
    payment_hash: String,
    cltv_expiry: u32,
}

async fn add_htlc(
    State(s): State<ApiState>,
    PathParam(id): PathParam,
    JsonBody(req): JsonBody<AddRequest>,
) -> ApiResult {
    let command = Command::AddHtlc {
        amount_msat: req.amount_msat,
        payment_hash: hash32("payment_hash", &req.payment_hash)?,
        cltv_expiry: req.cltv_expiry,
        // No payments yet: an all-zero onion the peer's hub would fail.
        onion: vec![0; crate::wire::types::ONION_PACKET_LEN],
        extra_fee_msat: None,
    };
    run(&s, &id, command).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FulfillRequest {
    htlc_id: u64,
    preimage: String,
}

async fn fulfill(
    State(s): State<ApiState>,
    PathParam(id): PathParam,
    JsonBody(req): JsonBody<FulfillRequest>,
) -> ApiResult {
    let command = Command::Fulfill {
        id: req.htlc_id,
        preimage: hash32("preimage", &req.preimage)?,
    };
    run(&s, &id, command).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FailRequest {
    htlc_id: u64,
}

async fn fail(
    State(s): State<ApiState>,
    PathParam(id): PathParam,
    JsonBody(req): JsonBody<FailRequest>,
) -> ApiResult {
    let command = Command::Fail {
        id: req.htlc_id,
        reason: vec![0; 32],
    };
    run(&s, &id, command).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FeeRequest {
    feerate_per_kw: u32,
}

async fn update_fee(
    State(s): State<ApiState>,
    PathParam(id): PathParam,
    JsonBody(req): JsonBody<FeeRequest>,
) -> ApiResult {
    run(
        &s,
        &id,
        Command::UpdateFee {
            feerate_per_kw: req.feerate_per_kw,
        },
    )
    .await
}
