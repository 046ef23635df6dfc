//! Peer routes: connect, list, disconnect, ping.

use std::time::UNIX_EPOCH;

use axum::extract::State;
use axum::Json;
use bitcoin::secp256k1::PublicKey;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{JsonBody, PathParam};
use super::ApiState;
use crate::error::Error;
use crate::net::PeerSummary;

type ApiResult = Result<Json<Value>, Error>;

pub(super) fn parse_node_id(s: &str) -> Result<PublicKey, Error> {
    let bytes =
        hex::decode(s.trim()).map_err(|_| Error::InvalidNodeId(format!("{s:?} is not hex")))?;
    if bytes.len() != 33 {
        return Err(Error::InvalidNodeId(format!(
            "{} bytes; a node id is a 33-byte compressed public key",
            bytes.len()
        )));
    }
    PublicKey::from_slice(&bytes)
        .map_err(|_| Error::InvalidNodeId(format!("{s} is not a point on the curve")))
}

fn peer_json(p: &PeerSummary) -> Value {
    let since = p
        .connected_since
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    json!({
        "node_id": p.node_id.to_string(),
        "addr": p.addr.to_string(),
        "direction": p.direction.as_str(),
        "connected_since": since,
        "features": hex::encode(p.features.to_wire_bytes()),
        "persistent": p.persistent,
        "messages_received": p.messages_received,
        "messages_sent": p.messages_sent,
        "pings_received": p.pings_received,
        "pongs_received": p.pongs_received,
    })
}

/// `host:port`, with a port; resolution happens at each dial.
pub(super) fn check_addr(addr: &str) -> Result<&str, Error> {
    let addr = addr.trim();
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(addr),
        _ => Err(Error::InvalidRequest(format!(
            "addr {addr:?} is not host:port"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConnectRequest {
    node_id: String,
    addr: String,
}

pub(super) async fn connect(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<ConnectRequest>,
) -> ApiResult {
    let node_id = parse_node_id(&req.node_id)?;
    let addr = check_addr(&req.addr)?;
    let peer = s.peers.connect(node_id, addr).await?;
    Ok(Json(peer_json(&peer)))
}

pub(super) async fn list(State(s): State<ApiState>) -> ApiResult {
    let peers: Vec<Value> = s.peers.list().iter().map(peer_json).collect();
    Ok(Json(json!({ "peers": peers })))
}

pub(super) async fn disconnect(
    State(s): State<ApiState>,
    PathParam(node_id): PathParam,
) -> ApiResult {
    let node_id = parse_node_id(&node_id)?;
    s.peers.disconnect(node_id).await?;
    Ok(Json(
        json!({ "node_id": node_id.to_string(), "disconnected": true }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct PingRequest {
    num_pong_bytes: Option<u16>,
}

pub(super) async fn ping(
    State(s): State<ApiState>,
    PathParam(node_id): PathParam,
    JsonBody(req): JsonBody<PingRequest>,
) -> ApiResult {
    let node_id = parse_node_id(&node_id)?;
    let num_pong_bytes = req.num_pong_bytes.unwrap_or(0);
    // A ping asking for no pong would never complete.
    if num_pong_bytes >= 65532 {
        return Err(Error::InvalidRequest(
            "num_pong_bytes must be below 65532 (larger asks the peer not to answer)".into(),
        ));
    }
    let rtt = s.peers.ping(node_id, num_pong_bytes).await?;
    Ok(Json(json!({
        "node_id": node_id.to_string(),
        "rtt_ms": rtt.as_secs_f64() * 1000.0,
        "num_pong_bytes": num_pong_bytes,
    })))
}
