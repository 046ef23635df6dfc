//! An in-memory graph for the sync tests, with a validator that accepts anything new.

use std::collections::{BTreeMap, HashMap};

use bitcoin::constants::ChainHash;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{
    ecdsa::Signature, Message as SecpMessage, PublicKey, Secp256k1, SecretKey,
};
use bitcoin::Network;

use crate::gossip::{GraphQuery, RangeEntry};
use crate::wire::gossip_queries::{
    QUERY_FLAG_ANNOUNCEMENT, QUERY_FLAG_NODE_1, QUERY_FLAG_NODE_2, QUERY_FLAG_UPDATE_1,
    QUERY_FLAG_UPDATE_2,
};
use crate::wire::{
    ChannelAnnouncement, ChannelUpdate, Features, Message, NodeAnnouncement, ShortChannelId,
    UnsignedChannelAnnouncement, UnsignedNodeAnnouncement,
};

pub fn chain() -> ChainHash {
    ChainHash::using_genesis_block(Network::Regtest)
}

fn secret(n: u32) -> SecretKey {
    let mut bytes = [0u8; 32];
    bytes[0] = 1;
    bytes[28..].copy_from_slice(&(n + 1).to_be_bytes());
    SecretKey::from_slice(&bytes).expect("valid scalar")
}

pub fn pk(n: u32) -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::signing_only(), &secret(n))
}

fn sig() -> Signature {
    let msg = SecpMessage::from_digest(sha256::Hash::hash(b"x").to_byte_array());
    Secp256k1::signing_only().sign_ecdsa(&msg, &secret(0))
}

pub fn scid(block: u32, tx: u32) -> ShortChannelId {
    ShortChannelId::new(block, tx, 0).expect("small scid")
}

/// The announcement of a channel between nodes `a` and `b`.
pub fn announcement(s: ShortChannelId, a: u32, b: u32) -> ChannelAnnouncement {
    let (mut n1, mut n2) = (pk(a), pk(b));
    if n1.serialize() > n2.serialize() {
        std::mem::swap(&mut n1, &mut n2);
    }
    ChannelAnnouncement {
        node_signature_1: sig(),
        node_signature_2: sig(),
        bitcoin_signature_1: sig(),
        bitcoin_signature_2: sig(),
        contents: UnsignedChannelAnnouncement {
            features: Features::empty(),
            chain_hash: chain(),
            short_channel_id: s,
            node_id_1: n1,
            node_id_2: n2,
            bitcoin_key_1: pk(1000),
            bitcoin_key_2: pk(1001),
            excess_data: Vec::new(),
        },
    }
}

pub fn update(s: ShortChannelId, direction: u8, timestamp: u32) -> ChannelUpdate {
    ChannelUpdate {
        signature: sig(),
        chain_hash: chain(),
        short_channel_id: s,
        timestamp,
        message_flags: 1,
        channel_flags: direction,
        cltv_expiry_delta: 40,
        htlc_minimum_msat: 1,
        fee_base_msat: 1000,
        fee_proportional_millionths: 100,
        htlc_maximum_msat: 1_000_000,
        excess_data: Vec::new(),
    }
}

pub fn node(n: u32, timestamp: u32) -> NodeAnnouncement {
    NodeAnnouncement {
        signature: sig(),
        contents: UnsignedNodeAnnouncement {
            features: Features::empty(),
            timestamp,
            node_id: pk(n),
            rgb_color: [1, 2, 3],
            alias: [0; 32],
            addresses: Vec::new(),
            excess_data: Vec::new(),
        },
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeChannel {
    pub ann: ChannelAnnouncement,
    pub updates: [Option<ChannelUpdate>; 2],
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeGraph {
    pub channels: BTreeMap<ShortChannelId, FakeChannel>,
    pub nodes: HashMap<PublicKey, NodeAnnouncement>,
}

impl FakeGraph {
    /// The validator: takes a message when it is new or newer; true when taken.
    pub fn apply(&mut self, msg: &Message) -> bool {
        match msg {
            Message::ChannelAnnouncement(a) => {
                let s = a.contents.short_channel_id;
                if self.channels.contains_key(&s) {
                    return false;
                }
                self.channels.insert(
                    s,
                    FakeChannel {
                        ann: a.clone(),
                        updates: [None, None],
                    },
                );
                true
            }
            Message::ChannelUpdate(u) => {
                let Some(c) = self.channels.get_mut(&u.short_channel_id) else {
                    return false;
                };
                let slot = &mut c.updates[usize::from(u.direction())];
                if slot
                    .as_ref()
                    .is_some_and(|old| old.timestamp >= u.timestamp)
                {
                    return false;
                }
                *slot = Some(u.clone());
                true
            }
            Message::NodeAnnouncement(n) => {
                if !self.knows_node(&n.contents.node_id) {
                    return false;
                }
                let id = n.contents.node_id;
                if self
                    .nodes
                    .get(&id)
                    .is_some_and(|old| old.contents.timestamp >= n.contents.timestamp)
                {
                    return false;
                }
                self.nodes.insert(id, n.clone());
                true
            }
            _ => false,
        }
    }

    /// A channel between `a` and `b`, with updates of the given timestamps (0: none) and both
    /// nodes' announcements.
    pub fn add(&mut self, s: ShortChannelId, a: u32, b: u32, t1: u32, t2: u32) {
        self.apply(&Message::ChannelAnnouncement(announcement(s, a, b)));
        for (dir, t) in [(0, t1), (1, t2)] {
            if t != 0 {
                self.apply(&Message::ChannelUpdate(update(s, dir, t)));
            }
        }
        for n in [a, b] {
            self.apply(&Message::NodeAnnouncement(node(n, t1.max(t2).max(1))));
        }
    }

    fn ts(c: &FakeChannel) -> (u32, u32) {
        let t = |i: usize| c.updates[i].as_ref().map_or(0, |u| u.timestamp);
        (t(0), t(1))
    }
}

impl GraphQuery for FakeGraph {
    fn channel_range(&self, first_block: u32, end_block: u32) -> Vec<RangeEntry> {
        self.channels
            .iter()
            .filter(|(s, _)| s.block() >= first_block && s.block() < end_block)
            .map(|(s, c)| {
                let ts = Self::ts(c);
                RangeEntry {
                    scid: *s,
                    timestamps: ts,
                    checksums: (ts.0 ^ 0x5555, ts.1 ^ 0x5555),
                }
            })
            .collect()
    }

    fn messages_for(&self, scid: ShortChannelId, flags: u64) -> Vec<Message> {
        let Some(c) = self.channels.get(&scid) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if flags & QUERY_FLAG_ANNOUNCEMENT != 0 {
            out.push(Message::ChannelAnnouncement(c.ann.clone()));
        }
        for (i, f) in [QUERY_FLAG_UPDATE_1, QUERY_FLAG_UPDATE_2]
            .into_iter()
            .enumerate()
        {
            if flags & f != 0 {
                if let Some(u) = &c.updates[i] {
                    out.push(Message::ChannelUpdate(u.clone()));
                }
            }
        }
        let ids = [c.ann.contents.node_id_1, c.ann.contents.node_id_2];
        for (id, f) in ids.iter().zip([QUERY_FLAG_NODE_1, QUERY_FLAG_NODE_2]) {
            if flags & f != 0 {
                if let Some(n) = self.nodes.get(id) {
                    out.push(Message::NodeAnnouncement(n.clone()));
                }
            }
        }
        out
    }

    fn messages_in_window(&self, first: u32, range: u32) -> Vec<Message> {
        let end = u64::from(first) + u64::from(range);
        let inside = |t: u32| t >= first && u64::from(t) < end;
        let mut out = Vec::new();
        for s in self.channels.keys() {
            for m in self.messages_for(*s, u64::MAX) {
                let keep = match &m {
                    Message::ChannelUpdate(u) => inside(u.timestamp),
                    Message::NodeAnnouncement(n) => inside(n.contents.timestamp),
                    _ => true,
                };
                if keep && !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        out
    }

    fn knows_channel(&self, scid: ShortChannelId) -> bool {
        self.channels.contains_key(&scid)
    }

    fn update_timestamps(&self, scid: ShortChannelId) -> Option<(u32, u32)> {
        self.channels.get(&scid).map(Self::ts)
    }

    fn knows_node(&self, node_id: &PublicKey) -> bool {
        self.channels
            .values()
            .any(|c| c.ann.contents.node_id_1 == *node_id || c.ann.contents.node_id_2 == *node_id)
    }
}
