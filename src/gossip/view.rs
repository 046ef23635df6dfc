//! What the API shows of the graph: plain serde views built from [`NetworkGraph`], and the
//! parser for a `{scid}` path segment.

use bitcoin::secp256k1::PublicKey;
use serde::Serialize;

use super::graph::{Channel, NetworkGraph, Node, Policy};
use crate::wire::gossip::decode_addresses;
use crate::wire::{NodeAnnouncement, ShortChannelId, WireMessage};

/// `GET /v1/graph`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphSummary {
    pub node_count: usize,
    pub channel_count: usize,
    /// Channels whose funding is spent, kept a while for a splice, not relayed.
    pub spent_channel_count: usize,
    /// Nodes that sent a `node_announcement`.
    pub announced_node_count: usize,
    /// Sum of the unspent channels' capacities.
    pub public_capacity_sat: u64,
}

impl GraphSummary {
    pub fn of(graph: &NetworkGraph) -> Self {
        let spent = graph
            .channels()
            .filter(|(_, c)| c.spent_at.is_some())
            .count();
        Self {
            node_count: graph.node_count(),
            channel_count: graph.channel_count(),
            spent_channel_count: spent,
            announced_node_count: graph
                .nodes()
                .iter()
                .filter(|n| n.announcement.is_some())
                .count(),
            public_capacity_sat: graph.capacity_sat(),
        }
    }
}

/// `GET /v1/graph/nodes/{id}`. Alias, color, addresses and features are empty until the
/// node's `node_announcement` arrives (`timestamp` null).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeView {
    pub node_id: String,
    pub alias: String,
    /// `#rrggbb`.
    pub color: String,
    /// `host:port` each.
    pub addresses: Vec<String>,
    /// The feature bits, hex.
    pub features: String,
    pub timestamp: Option<u32>,
    /// Its channels' scids, ascending.
    pub channels: Vec<u64>,
}

impl NodeView {
    pub fn of(node: &Node) -> Self {
        let ann = node
            .announcement
            .as_ref()
            .and_then(|a| NodeAnnouncement::decode(&a.bytes).ok());
        let mut channels: Vec<u64> = node.channels.iter().map(|s| s.0).collect();
        channels.sort_unstable();
        let (alias, color, addresses, features, timestamp) = match ann {
            Some(a) => {
                let c = a.contents;
                (
                    c.alias_text(),
                    format!(
                        "#{:02x}{:02x}{:02x}",
                        c.rgb_color[0], c.rgb_color[1], c.rgb_color[2]
                    ),
                    decode_addresses(&c.addresses)
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                    hex::encode(c.features.to_wire_bytes()),
                    Some(c.timestamp),
                )
            }
            None => (
                String::new(),
                String::new(),
                Vec::new(),
                String::new(),
                None,
            ),
        };
        Self {
            node_id: hex::encode(node.node_id.serialize()),
            alias,
            color,
            addresses,
            features,
            timestamp,
            channels,
        }
    }

    pub fn find(graph: &NetworkGraph, node_id: &PublicKey) -> Option<Self> {
        graph.node(node_id).map(Self::of)
    }
}

/// One direction's policy in a [`ChannelView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyView {
    pub fee_base_msat: u32,
    pub fee_proportional_millionths: u32,
    pub cltv_expiry_delta: u16,
    pub htlc_minimum_msat: u64,
    pub htlc_maximum_msat: u64,
    pub disabled: bool,
    pub timestamp: u32,
}

impl From<&Policy> for PolicyView {
    fn from(p: &Policy) -> Self {
        Self {
            fee_base_msat: p.fee_base_msat,
            fee_proportional_millionths: p.fee_proportional_millionths,
            cltv_expiry_delta: p.cltv_expiry_delta,
            htlc_minimum_msat: p.htlc_minimum_msat,
            htlc_maximum_msat: p.htlc_maximum_msat,
            disabled: p.disabled,
            timestamp: p.timestamp,
        }
    }
}

/// `GET /v1/graph/channels/{scid}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelView {
    pub short_channel_id: u64,
    /// `BLOCKxTXxOUT`.
    pub short_channel_id_str: String,
    /// The lesser node id (hex).
    pub node1: String,
    pub node2: String,
    pub capacity_sat: u64,
    pub spent: bool,
    /// Height at which the funding was seen spent.
    pub spent_height: Option<u32>,
    /// The policy `node1` set (its direction), null before its first update.
    pub node1_policy: Option<PolicyView>,
    pub node2_policy: Option<PolicyView>,
}

impl ChannelView {
    pub fn of(graph: &NetworkGraph, scid: ShortChannelId, c: &Channel) -> Self {
        let (n1, n2) = graph.ends(c);
        let policy = |d: usize| c.directions[d].policy.as_ref().map(PolicyView::from);
        Self {
            short_channel_id: scid.0,
            short_channel_id_str: scid.to_string(),
            node1: hex::encode(n1.serialize()),
            node2: hex::encode(n2.serialize()),
            capacity_sat: c.capacity_sat,
            spent: c.spent_at.is_some(),
            spent_height: c.spent_at,
            node1_policy: policy(0),
            node2_policy: policy(1),
        }
    }

    pub fn find(graph: &NetworkGraph, scid: ShortChannelId) -> Option<Self> {
        graph.channel(scid).map(|c| Self::of(graph, scid, c))
    }
}

/// Parses a `{scid}` given as the u64 or as `BLOCKxTXxOUT`. `None` if neither.
pub fn parse_scid(s: &str) -> Option<ShortChannelId> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Some(ShortChannelId(n));
    }
    let mut parts = s.split('x');
    let block = parts.next()?.parse::<u32>().ok()?;
    let tx = parts.next()?.parse::<u32>().ok()?;
    let out = parts.next()?.parse::<u16>().ok()?;
    if parts.next().is_some() {
        return None;
    }
    ShortChannelId::new(block, tx, out)
}

/// Parses a node id given as 66 hex characters.
pub fn parse_node_id(s: &str) -> Option<PublicKey> {
    let bytes = hex::decode(s.trim()).ok()?;
    (bytes.len() == 33)
        .then(|| PublicKey::from_slice(&bytes).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gossip::graph::{NodeInfo, Policy};
    use crate::gossip::testkit::{node_announcement, TestChannel, NOW};

    #[test]
    fn scid_as_u64_or_block_tx_out() {
        let scid = ShortChannelId::new(700_000, 1234, 1).unwrap();
        assert_eq!(parse_scid(&scid.0.to_string()), Some(scid));
        assert_eq!(parse_scid("700000x1234x1"), Some(scid));
        for bad in [
            "",
            "x",
            "1x2",
            "1x2x3x4",
            "16777216x0x0",
            "1x2x65536",
            "-1",
            "axbxc",
        ] {
            assert_eq!(parse_scid(bad), None, "{bad}");
        }
    }

    #[test]
    fn views_show_the_graph() {
        let mut g = NetworkGraph::new();
        let ch = TestChannel::new(1, 2, 500);
        g.add_channel(
            ch.scid,
            ch.node_id(0),
            ch.node_id(1),
            1_000_000,
            NOW,
            ch.announcement().1,
        );
        let (_, b) = ch.update(1, NOW);
        g.set_policy(ch.scid, Policy::from_update_bytes(b).unwrap());
        let (_, na) = node_announcement(&ch.node_keys[0], NOW, "alpha");
        g.set_node_announcement(
            &ch.node_id(0),
            NodeInfo {
                timestamp: NOW,
                bytes: na.into(),
            },
        );

        let s = serde_json::to_value(GraphSummary::of(&g)).unwrap();
        assert_eq!(s["node_count"], 2);
        assert_eq!(s["channel_count"], 1);
        assert_eq!(s["public_capacity_sat"], 1_000_000);

        let c = serde_json::to_value(ChannelView::find(&g, ch.scid).unwrap()).unwrap();
        assert_eq!(c["short_channel_id"], ch.scid.0);
        assert_eq!(c["short_channel_id_str"], "500x9x0");
        assert_eq!(c["node1"], hex::encode(ch.node_id(0).serialize()));
        assert_eq!(c["spent"], false);
        assert!(c["node1_policy"].is_null());
        assert_eq!(c["node2_policy"]["fee_base_msat"], 1001);

        let n = serde_json::to_value(NodeView::find(&g, &ch.node_id(0)).unwrap()).unwrap();
        assert_eq!(n["alias"], "alpha");
        assert_eq!(n["color"], "#12abff");
        assert_eq!(n["addresses"], serde_json::json!(["10.0.0.1:9735"]));
        assert_eq!(n["timestamp"], NOW);
        assert_eq!(n["channels"], serde_json::json!([ch.scid.0]));
        let bare = serde_json::to_value(NodeView::find(&g, &ch.node_id(1)).unwrap()).unwrap();
        assert!(bare["timestamp"].is_null());
        assert_eq!(
            parse_node_id(n["node_id"].as_str().unwrap()),
            Some(ch.node_id(0))
        );
        assert_eq!(parse_node_id("02"), None);
    }
}
