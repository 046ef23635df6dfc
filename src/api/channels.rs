//! Channel routes: open, list, show, close.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{JsonBody, OptionalJsonBody, PathParam};
use super::peers::{check_addr, parse_node_id};
use super::ApiState;
use crate::channel::Format;
use crate::error::Error;
use crate::node::channels::{ChannelInfo, OpenParams};

type ApiResult = Result<Json<Value>, Error>;

pub(super) fn channel_json(c: &ChannelInfo) -> Value {
    json!({
        "channel_id": hex::encode(c.channel_id),
        "peer_node_id": c.peer.to_string(),
        "state": c.status,
        "phase": c.phase,
        "channel_type": format_name(c.format),
        "announce": c.announce,
        "scid_alias": c.scid_alias,
        "zero_conf": c.zero_conf,
        "capacity_sat": c.capacity_sat,
        "local_msat": c.local_msat,
        "remote_msat": c.remote_msat,
        "funding_txid": c.funding.map(|o| o.txid.to_string()),
        "funding_vout": c.funding.map(|o| o.vout),
        "local_commitment_number": c.local_commitment_number,
        "remote_commitment_number": c.remote_commitment_number,
        "feerate_per_kw": c.feerate_per_kw,
        "pending_htlcs": c.pending_htlcs,
        "dust_exposure_msat": c.dust_exposure_msat,
        "max_dust_htlc_exposure_msat": c.max_dust_htlc_exposure_msat,
        "peer_connected": c.connected,
        "closing_txid": c.closing_txid.map(|t| t.to_string()),
        "resolution": c.resolution,
        "funding_lost": c.funding_lost,
    })
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Anchors => "anchors",
        Format::StaticRemoteKey => "static_remotekey",
    }
}

pub(super) fn parse_channel_id(s: &str) -> Result<[u8; 32], Error> {
    hex::decode(s.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            Error::InvalidRequest(format!("{s:?} is not a channel id (64 hex characters)"))
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OpenRequest {
    node_id: String,
    addr: Option<String>,
    capacity_sat: u64,
    push_msat: Option<u64>,
    /// `anchors` (default) or `static_remotekey`.
    channel_type: Option<String>,
    /// Announce the channel to the network (default false: a private channel).
    #[serde(default)]
    announce: bool,
    /// `option_zeroconf`: usable before the funding confirms (the peer must trust us).
    #[serde(default)]
    zero_conf: bool,
}

pub(super) async fn open(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<OpenRequest>,
) -> ApiResult {
    let peer = parse_node_id(&req.node_id)?;
    if peer == s.node_id {
        return Err(Error::InvalidNodeId("that is this node".into()));
    }
    let format = match req.channel_type.as_deref() {
        None | Some("anchors") => Format::Anchors,
        Some("static_remotekey") => Format::StaticRemoteKey,
        Some(other) => {
            return Err(Error::InvalidChannelParameters(format!(
                "channel_type {other:?} (expected anchors or static_remotekey)"
            )))
        }
    };
    let limits = crate::channel::ChannelConfig::default();
    if req.capacity_sat < limits.min_funding_sat || req.capacity_sat > limits.max_funding_sat {
        return Err(Error::InvalidChannelParameters(format!(
            "capacity {} sat is outside {}..={} sat",
            req.capacity_sat, limits.min_funding_sat, limits.max_funding_sat
        )));
    }
    if req.announce && s.announce_addrs.is_empty() {
        return Err(Error::InvalidRequest(
            "an announced channel needs an address to announce the node at: start the node \
             with --announce-addr HOST:PORT (or announce_addr in chanhub.toml)"
                .into(),
        ));
    }
    let push_msat = req.push_msat.unwrap_or(0);
    if push_msat > req.capacity_sat * 1000 {
        return Err(Error::InvalidChannelParameters(format!(
            "push_msat {push_msat} is more than the capacity"
        )));
    }
    if let Some(addr) = &req.addr {
        let addr = check_addr(addr)?;
        if s.peers.summary(&peer).is_none() {
            s.peers.connect(peer, addr).await?;
        }
    }
    let opened = s
        .channels
        .open(OpenParams {
            peer,
            capacity_sat: req.capacity_sat,
            push_msat,
            format,
            announce: req.announce,
            zero_conf: req.zero_conf,
        })
        .await?;
    Ok(Json(json!({
        "channel_id": hex::encode(opened.channel_id),
        "funding_txid": opened.funding_txid.to_string(),
    })))
}

pub(super) async fn list(State(s): State<ApiState>) -> ApiResult {
    let all: Vec<Value> = s.channels.list().await?.iter().map(channel_json).collect();
    Ok(Json(json!({ "channels": all })))
}

pub(super) async fn show(State(s): State<ApiState>, PathParam(id): PathParam) -> ApiResult {
    let id = parse_channel_id(&id)?;
    Ok(Json(channel_json(&s.channels.get(id).await?)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct CloseRequest {
    #[serde(default)]
    force: bool,
}

pub(super) async fn close(
    State(s): State<ApiState>,
    PathParam(id): PathParam,
    // No body is a plain cooperative close.
    OptionalJsonBody(req): OptionalJsonBody<CloseRequest>,
) -> ApiResult {
    let id = parse_channel_id(&id)?;
    let req = req.unwrap_or_default();
    if req.force {
        let reason = "closed unilaterally by the node's operator".to_string();
        s.channels
            .command(id, crate::channel::Command::ForceClose { reason })
            .await?;
        let c = s.channels.get(id).await?;
        let mut v = channel_json(&c);
        v["closing"] = json!(true);
        v["force"] = json!(true);
        return Ok(Json(v));
    }
    s.channels.close(id).await?;
    Ok(Json(
        json!({ "channel_id": hex::encode(id), "closing": true }),
    ))
}
