//! Route handlers: parse, call the wallet or chain, shape the JSON.

use axum::extract::State;
use axum::Json;
use bitcoin::Amount;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::extract::JsonBody;
use super::ApiState;
use crate::error::Error;

/// The most blocks one `chain/mine` call may ask for.
pub const MAX_MINE_BLOCKS: u32 = 1000;

type ApiResult = Result<Json<Value>, Error>;

pub(super) async fn info(State(s): State<ApiState>) -> ApiResult {
    // The chain's tip when reachable; else what the wallet last saw, so `info` still answers.
    let (height, hash) = match s.chain.tip().await {
        Ok(t) => (t.height, t.hash.to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "chain unreachable; reporting the wallet's tip");
            (s.wallet.synced_height().await?, String::new())
        }
    };
    Ok(Json(json!({
        "node_id": s.node_id.to_string(),
        "network": s.network.to_string(),
        "block_height": height,
        "block_hash": hash,
        "peer_addr": s.peer_addr.to_string(),
        "version": env!("CARGO_PKG_VERSION"),
    })))
}

/// Catches the wallet up with the chain before answering, so a balance read right after a
/// block or a payment reflects it. Best effort: with the chain down, the stored view answers.
async fn catch_up(s: &ApiState) {
    if let Err(e) = s.wallet.sync().await {
        tracing::debug!(error = %e, "wallet sync before read failed");
    }
}

pub(super) async fn balance(State(s): State<ApiState>) -> ApiResult {
    catch_up(&s).await;
    let b = s.wallet.balance().await?;
    let channels_local_msat: u64 = s
        .channels
        .list()
        .await?
        .iter()
        .filter(|c| c.status != crate::node::channels::ChannelStatus::Closed)
        .map(|c| c.local_msat)
        .sum();
    Ok(Json(json!({
        "onchain_confirmed_sat": b.confirmed,
        "onchain_unconfirmed_sat": b.unconfirmed,
        "onchain_immature_sat": b.immature,
        "channels_local_msat": channels_local_msat,
    })))
}

pub(super) async fn new_address(State(s): State<ApiState>) -> ApiResult {
    let address = s.wallet.new_address().await?;
    Ok(Json(json!({ "address": address.to_string() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SendRequest {
    address: String,
    amount_sat: u64,
    feerate_sat_per_vb: Option<f64>,
}

pub(super) async fn send(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<SendRequest>,
) -> ApiResult {
    let address = s.wallet.parse_address(&req.address)?;
    let rate = s.wallet.fee_rate(req.feerate_sat_per_vb).await?;
    let txid = s
        .wallet
        .send(&address, Amount::from_sat(req.amount_sat), rate)
        .await?;
    Ok(Json(json!({ "txid": txid.to_string() })))
}

#[derive(Serialize)]
struct TxJson {
    txid: String,
    /// Net effect on the wallet: received minus sent (negative for a payment, fee included).
    amount_sat: i64,
    received_sat: u64,
    sent_sat: u64,
    fee_sat: Option<u64>,
    confirmations: u32,
    block_height: Option<u32>,
    block_hash: Option<String>,
    coinbase: bool,
}

pub(super) async fn transactions(State(s): State<ApiState>) -> ApiResult {
    catch_up(&s).await;
    let txs: Vec<TxJson> = s
        .wallet
        .transactions()
        .await?
        .into_iter()
        .map(|t| TxJson {
            txid: t.txid.to_string(),
            amount_sat: t.received_sat as i64 - t.sent_sat as i64,
            received_sat: t.received_sat,
            sent_sat: t.sent_sat,
            fee_sat: t.fee_sat,
            confirmations: t.confirmations,
            block_height: t.block.map(|(h, _)| h),
            block_hash: t.block.map(|(_, h)| h.to_string()),
            coinbase: t.coinbase,
        })
        .collect();
    Ok(Json(json!({ "transactions": txs })))
}

fn no_mining() -> Error {
    Error::NotFound("this node's chain is not a regtest chain it can mine".into())
}

pub(super) async fn chain_info(State(s): State<ApiState>) -> ApiResult {
    let control = s.control.as_ref().ok_or_else(no_mining)?;
    let tip = s.chain.tip().await?;
    Ok(Json(json!({
        "network": s.network.to_string(),
        "source": control.kind(),
        "block_height": tip.height,
        "block_hash": tip.hash.to_string(),
        "mempool_txs": control.mempool_size().await?,
        "rpc_addr": control.rpc_addr().map(|a| a.to_string()),
        "wallet_synced_height": s.wallet.synced_height().await?,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MineRequest {
    blocks: u32,
    address: Option<String>,
}

pub(super) async fn chain_mine(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<MineRequest>,
) -> ApiResult {
    let control = s.control.as_ref().ok_or_else(no_mining)?;
    if req.blocks == 0 || req.blocks > MAX_MINE_BLOCKS {
        return Err(Error::InvalidRequest(format!(
            "blocks must be between 1 and {MAX_MINE_BLOCKS}"
        )));
    }
    let address = match &req.address {
        Some(a) => s.wallet.parse_address(a)?,
        None => s.wallet.new_address().await?,
    };
    let hashes = control.mine(req.blocks, &address).await?;
    // Answer once the wallet has seen the new blocks, so a balance asked right after is current.
    s.wallet.sync().await?;
    let tip = s.chain.tip().await?;
    Ok(Json(json!({
        "blocks": hashes.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        "address": address.to_string(),
        "block_height": tip.height,
        "block_hash": tip.hash.to_string(),
    })))
}
