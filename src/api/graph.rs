//! Graph routes: what the node knows of the public network, from gossip.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::extract::PathParam;
use super::peers::parse_node_id;
use super::ApiState;
use crate::error::Error;
use crate::gossip::view::{parse_scid, ChannelView, GraphSummary, NodeView};

type ApiResult = Result<Json<Value>, Error>;

/// `GET /v1/graph`: the graph's size, and our own node and public channels as the network
/// sees them.
pub(super) async fn summary(State(s): State<ApiState>) -> ApiResult {
    let graph = s.gossip.graph.read().unwrap_or_else(|p| p.into_inner());
    let mut body = serde_json::to_value(GraphSummary::of(&graph))
        .map_err(|e| Error::Internal(e.to_string()))?;
    let node = NodeView::find(&graph, &s.node_id);
    let channels: Vec<ChannelView> = node
        .iter()
        .flat_map(|n| n.channels.iter())
        .filter_map(|scid| ChannelView::find(&graph, crate::wire::ShortChannelId(*scid)))
        .collect();
    body["node"] = json!(node);
    body["channels"] = json!(channels);
    Ok(Json(body))
}

/// `GET /v1/graph/nodes/{id}`.
pub(super) async fn node(State(s): State<ApiState>, PathParam(id): PathParam) -> ApiResult {
    let node_id = parse_node_id(&id)?;
    let graph = s.gossip.graph.read().unwrap_or_else(|p| p.into_inner());
    let view = NodeView::find(&graph, &node_id)
        .ok_or_else(|| Error::NotFound(format!("node {node_id} is not in the graph")))?;
    Ok(Json(json!(view)))
}

/// `GET /v1/graph/channels/{scid}`: `{scid}` as a u64 or `BLOCKxTXxOUT`.
pub(super) async fn channel(State(s): State<ApiState>, PathParam(scid): PathParam) -> ApiResult {
    let parsed = parse_scid(&scid).ok_or_else(|| {
        Error::InvalidRequest(format!(
            "{scid:?} is not a short channel id (a u64 or BLOCKxTXxOUT)"
        ))
    })?;
    let graph = s.gossip.graph.read().unwrap_or_else(|p| p.into_inner());
    let view = ChannelView::find(&graph, parsed)
        .ok_or_else(|| Error::NotFound(format!("channel {parsed} is not in the graph")))?;
    Ok(Json(json!(view)))
}
