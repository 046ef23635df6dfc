//! The network graph in memory: every public channel and node we accepted, with the exact
//! bytes of their gossip so a relay or a query answer re-sends what was signed.
//!
//! Laid out for a path search: nodes in a dense `Vec` (a channel names its ends by index,
//! each node lists its channels), channels in a map ordered by scid (so a block range is one
//! range scan), and per direction the policy fields already parsed. The messages are kept
//! only as bytes and decoded on demand: parsed, they would cost about twice the memory.
//!
//! Nothing here checks a signature or the chain: [`super::validate`] does, then writes here.

use std::collections::{BTreeMap, HashMap, HashSet};

use bitcoin::secp256k1::PublicKey;

use super::{GraphQuery, RangeEntry};
use crate::wire::gossip_queries::{
    QUERY_FLAG_ANNOUNCEMENT, QUERY_FLAG_NODE_1, QUERY_FLAG_NODE_2, QUERY_FLAG_UPDATE_1,
    QUERY_FLAG_UPDATE_2,
};
use crate::wire::{Message, ShortChannelId};

/// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as RFC 3720 specifies it.
pub fn crc32c(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for b in bytes {
        crc = TABLE[((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

// Offsets in an encoded `channel_update`, type included: type (2), signature (64),
// chain_hash (32), scid (8), timestamp (4), message_flags, channel_flags, cltv_expiry_delta
// (2), htlc_minimum_msat (8), fee_base_msat (4), fee_proportional_millionths (4),
// htlc_maximum_msat (8), then excess bytes.
const UPD_CHAIN: usize = 66;
const UPD_TIMESTAMP: usize = 106;
const UPD_AFTER_TIMESTAMP: usize = 110;
const UPD_MIN_LEN: usize = 138;

// Offsets in an encoded `channel_announcement`: type (2), four signatures (256), then
// features (u16-prefixed), chain_hash (32), scid (8), node_id_1, node_id_2, bitcoin_key_1,
// bitcoin_key_2 (33 each).
const ANN_FEATURES: usize = 258;

fn be_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// The fields of an encoded `channel_announcement` the graph needs, read at their offsets
/// without parsing signatures or keys: (scid, node_id_1, node_id_2). `None` if too short or
/// not of type 256.
pub fn announcement_ids(bytes: &[u8]) -> Option<(ShortChannelId, [u8; 33], [u8; 33])> {
    if bytes.len() < ANN_FEATURES + 2 || be_u16(bytes, 0) != 256 {
        return None;
    }
    let flen = usize::from(be_u16(bytes, ANN_FEATURES));
    let chain = ANN_FEATURES + 2 + flen;
    let scid = chain + 32;
    let n1 = scid + 8;
    if bytes.len() < n1 + 4 * 33 {
        return None;
    }
    let mut a = [0u8; 33];
    let mut b = [0u8; 33];
    a.copy_from_slice(&bytes[n1..n1 + 33]);
    b.copy_from_slice(&bytes[n1 + 33..n1 + 66]);
    Some((ShortChannelId(be_u64(bytes, scid)), a, b))
}

/// One direction's forwarding policy, from its newest `channel_update`, with that update's
/// bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub timestamp: u32,
    pub fee_base_msat: u32,
    pub fee_proportional_millionths: u32,
    pub cltv_expiry_delta: u16,
    pub htlc_minimum_msat: u64,
    pub htlc_maximum_msat: u64,
    pub disabled: bool,
    /// BOLT 7's checksum of the update (see [`Policy::from_update_bytes`]).
    pub checksum: u32,
    /// The whole encoded message, type included, exactly as signed.
    pub bytes: Box<[u8]>,
}

impl Policy {
    /// Reads an encoded `channel_update` (type included) at its fixed offsets. `None` if it
    /// is too short or not of type 258. The signature is not checked.
    pub fn from_update_bytes(bytes: Vec<u8>) -> Option<Policy> {
        if bytes.len() < UPD_MIN_LEN || be_u16(&bytes, 0) != 258 {
            return None;
        }
        let a = UPD_AFTER_TIMESTAMP;
        // BOLT 7: CRC32C of the update without its signature and timestamp.
        let mut signed = Vec::with_capacity(bytes.len() - UPD_CHAIN - 4);
        signed.extend_from_slice(&bytes[UPD_CHAIN..UPD_TIMESTAMP]);
        signed.extend_from_slice(&bytes[a..]);
        Some(Policy {
            timestamp: be_u32(&bytes, UPD_TIMESTAMP),
            disabled: bytes[a + 1] & crate::wire::channel_update::CHANNEL_FLAG_DISABLE != 0,
            cltv_expiry_delta: be_u16(&bytes, a + 2),
            htlc_minimum_msat: be_u64(&bytes, a + 4),
            fee_base_msat: be_u32(&bytes, a + 12),
            fee_proportional_millionths: be_u32(&bytes, a + 16),
            htlc_maximum_msat: be_u64(&bytes, a + 20),
            checksum: crc32c(&signed),
            bytes: bytes.into_boxed_slice(),
        })
    }

    /// The `direction` bit of the update.
    pub fn direction(&self) -> u8 {
        let flags = self
            .bytes
            .get(UPD_AFTER_TIMESTAMP + 1)
            .copied()
            .unwrap_or(0);
        flags & crate::wire::channel_update::CHANNEL_FLAG_DIRECTION
    }
}

/// Spam control state of one direction or one node (see [`super::validate`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateState {
    /// Tokens left (at most the burst).
    pub tokens: u8,
    /// When tokens were last added (unix seconds, our clock).
    pub refilled_at: u32,
    /// Start of the current day's count (unix seconds, our clock).
    pub day_start: u32,
    /// Messages accepted since `day_start`.
    pub today: u16,
}

/// One direction of a channel: the policy of the node whose updates set it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Direction {
    pub policy: Option<Policy>,
    pub rate: RateState,
}

/// A public channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub scid: ShortChannelId,
    /// Index of `node_id_1` (the lesser id) in the node table.
    pub node1: u32,
    pub node2: u32,
    /// The funding output's amount, as found on chain.
    pub capacity_sat: u64,
    /// Height at which its funding output was seen spent; it is forgotten
    /// [`SPENT_FORGET_BLOCKS`] later.
    pub spent_at: Option<u32>,
    /// When we accepted it (unix seconds, our clock): prunes a channel that never got an update.
    pub added_at: u32,
    /// The `channel_announcement`, type included, exactly as signed.
    pub announcement: Box<[u8]>,
    /// `[0]` is set by `node_id_1`'s updates (direction bit 0), `[1]` by `node_id_2`'s.
    pub directions: [Direction; 2],
}

impl Channel {
    /// The newest update's timestamp of both directions (0 for none).
    pub fn newest_update(&self) -> u32 {
        self.directions
            .iter()
            .filter_map(|d| d.policy.as_ref().map(|p| p.timestamp))
            .max()
            .unwrap_or(0)
    }

    fn timestamps(&self) -> (u32, u32) {
        let t = |d: &Direction| d.policy.as_ref().map_or(0, |p| p.timestamp);
        (t(&self.directions[0]), t(&self.directions[1]))
    }

    fn checksums(&self) -> (u32, u32) {
        let c = |d: &Direction| d.policy.as_ref().map_or(0, |p| p.checksum);
        (c(&self.directions[0]), c(&self.directions[1]))
    }
}

/// A node's `node_announcement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub timestamp: u32,
    /// The message, type included, exactly as signed.
    pub bytes: Box<[u8]>,
}

/// A node with at least one public channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub node_id: PublicKey,
    /// Its channels (adjacency), in no particular order.
    pub channels: Vec<ShortChannelId>,
    pub announcement: Option<NodeInfo>,
    pub rate: RateState,
}

/// A spent channel is kept this many blocks after the spend so a splice can carry it on
/// (BOLT 7), though never relayed meanwhile.
pub const SPENT_FORGET_BLOCKS: u32 = 72;
/// A channel with no update newer than this (seconds; two weeks) is pruned (BOLT 7).
pub const STALE_AFTER_SECS: u32 = 14 * 24 * 3600;

/// What [`NetworkGraph::prune`] removed: the store deletes the same rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub channels: Vec<ShortChannelId>,
    pub nodes: Vec<PublicKey>,
}

/// The network graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkGraph {
    nodes: Vec<Node>,
    index: HashMap<PublicKey, u32>,
    /// Dense, in no particular order (a removal moves the last one into the gap): a B-tree
    /// of whole channels would cost a third more memory.
    channels: Vec<Channel>,
    /// scid → index in `channels`, ordered for range queries.
    by_scid: BTreeMap<u64, u32>,
}

impl NetworkGraph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Every node, by index.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn node_index(&self, node_id: &PublicKey) -> Option<u32> {
        self.index.get(node_id).copied()
    }

    pub fn node(&self, node_id: &PublicKey) -> Option<&Node> {
        self.node_index(node_id).map(|i| &self.nodes[i as usize])
    }

    pub fn node_at(&self, index: u32) -> Option<&Node> {
        self.nodes.get(index as usize)
    }

    pub fn channel(&self, scid: ShortChannelId) -> Option<&Channel> {
        let i = *self.by_scid.get(&scid.0)?;
        self.channels.get(i as usize)
    }

    /// A channel's index in [`NetworkGraph::channels_by_index`] (valid until the next removal).
    pub fn channel_index(&self, scid: ShortChannelId) -> Option<u32> {
        self.by_scid.get(&scid.0).copied()
    }

    pub(crate) fn channel_mut(&mut self, scid: ShortChannelId) -> Option<&mut Channel> {
        let i = *self.by_scid.get(&scid.0)?;
        self.channels.get_mut(i as usize)
    }

    /// Every channel by index (the order a path search may use; not scid order).
    pub fn channels_by_index(&self) -> &[Channel] {
        &self.channels
    }

    /// Gives back spare capacity (after a bulk load).
    pub fn shrink_to_fit(&mut self) {
        self.channels.shrink_to_fit();
        self.nodes.shrink_to_fit();
        self.index.shrink_to_fit();
        for n in &mut self.nodes {
            n.channels.shrink_to_fit();
        }
    }

    pub(crate) fn node_mut(&mut self, node_id: &PublicKey) -> Option<&mut Node> {
        let i = self.node_index(node_id)?;
        self.nodes.get_mut(i as usize)
    }

    /// Every channel in ascending scid order.
    pub fn channels(&self) -> impl Iterator<Item = (ShortChannelId, &Channel)> {
        self.by_scid
            .iter()
            .map(|(k, i)| (ShortChannelId(*k), &self.channels[*i as usize]))
    }

    /// The two ends of a channel.
    pub fn ends(&self, c: &Channel) -> (&PublicKey, &PublicKey) {
        (
            &self.nodes[c.node1 as usize].node_id,
            &self.nodes[c.node2 as usize].node_id,
        )
    }

    fn intern(&mut self, node_id: PublicKey) -> u32 {
        if let Some(i) = self.index.get(&node_id) {
            return *i;
        }
        let i = self.nodes.len() as u32;
        self.nodes.push(Node {
            node_id,
            channels: Vec::new(),
            announcement: None,
            rate: RateState::default(),
        });
        self.index.insert(node_id, i);
        i
    }

    /// Adds a channel (its announcement checked by the caller). Returns false, changing
    /// nothing, if the scid is known.
    pub fn add_channel(
        &mut self,
        scid: ShortChannelId,
        node_id_1: PublicKey,
        node_id_2: PublicKey,
        capacity_sat: u64,
        added_at: u32,
        announcement: Vec<u8>,
    ) -> bool {
        if self.by_scid.contains_key(&scid.0) || node_id_1 == node_id_2 {
            return false;
        }
        let node1 = self.intern(node_id_1);
        let node2 = self.intern(node_id_2);
        self.nodes[node1 as usize].channels.push(scid);
        self.nodes[node2 as usize].channels.push(scid);
        self.by_scid.insert(scid.0, self.channels.len() as u32);
        self.channels.push(Channel {
            scid,
            node1,
            node2,
            capacity_sat,
            spent_at: None,
            added_at,
            announcement: announcement.into_boxed_slice(),
            directions: Default::default(),
        });
        true
    }

    /// Sets a direction's policy (the update checked by the caller). False if the channel
    /// is unknown.
    pub fn set_policy(&mut self, scid: ShortChannelId, policy: Policy) -> bool {
        let Some(c) = self.channel_mut(scid) else {
            return false;
        };
        let d = usize::from(policy.direction());
        c.directions[d].policy = Some(policy);
        true
    }

    /// Sets a node's announcement. False if the node has no channel.
    pub fn set_node_announcement(&mut self, node_id: &PublicKey, info: NodeInfo) -> bool {
        match self.node_mut(node_id) {
            Some(n) => {
                n.announcement = Some(info);
                true
            }
            None => false,
        }
    }

    /// Records that a channel's funding was spent at `height`: it stops being relayed now.
    /// False if unknown or already spent.
    pub fn mark_spent(&mut self, scid: ShortChannelId, height: u32) -> bool {
        match self.channel_mut(scid) {
            Some(c) if c.spent_at.is_none() => {
                c.spent_at = Some(height);
                true
            }
            _ => false,
        }
    }

    /// Removes a channel, and its ends when it was their last channel (those are returned).
    pub fn remove_channel(&mut self, scid: ShortChannelId) -> Vec<PublicKey> {
        let Some(at) = self.by_scid.remove(&scid.0) else {
            return Vec::new();
        };
        let c = self.channels.swap_remove(at as usize);
        if let Some(moved) = self.channels.get(at as usize) {
            self.by_scid.insert(moved.scid.0, at);
        }
        let mut gone = Vec::new();
        // Remove the higher index first: removing one moves the last node into its slot.
        let (hi, lo) = (c.node1.max(c.node2), c.node1.min(c.node2));
        for i in [hi, lo] {
            let n = &mut self.nodes[i as usize];
            n.channels.retain(|s| *s != scid);
            if n.channels.is_empty() {
                gone.push(self.remove_node_at(i));
            }
        }
        gone
    }

    /// Removes the node at `i` (which has no channel) by moving the last node into its slot.
    fn remove_node_at(&mut self, i: u32) -> PublicKey {
        let last = (self.nodes.len() - 1) as u32;
        let removed = self.nodes.swap_remove(i as usize);
        self.index.remove(&removed.node_id);
        if i != last {
            let moved = &self.nodes[i as usize];
            self.index.insert(moved.node_id, i);
            for scid in moved.channels.clone() {
                if let Some(c) = self.channel_mut(scid) {
                    if c.node1 == last {
                        c.node1 = i;
                    }
                    if c.node2 == last {
                        c.node2 = i;
                    }
                }
            }
        }
        removed.node_id
    }

    /// Forgets channels spent [`SPENT_FORGET_BLOCKS`] or more blocks before `height`, and
    /// channels whose newest update (or, with none, whose acceptance) is older than
    /// [`STALE_AFTER_SECS`] at `now`; then nodes left without a channel.
    pub fn prune(&mut self, now: u32, height: u32) -> Pruned {
        let cutoff = now.saturating_sub(STALE_AFTER_SECS);
        let mut doomed: Vec<ShortChannelId> = self
            .channels
            .iter()
            .filter(|c| {
                let forgotten = c
                    .spent_at
                    .is_some_and(|h| height >= h.saturating_add(SPENT_FORGET_BLOCKS));
                let newest = match c.newest_update() {
                    0 => c.added_at,
                    t => t,
                };
                forgotten || newest < cutoff
            })
            .map(|c| c.scid)
            .collect();
        doomed.sort_unstable();
        let mut pruned = Pruned::default();
        for scid in doomed {
            pruned.nodes.extend(self.remove_channel(scid));
            pruned.channels.push(scid);
        }
        pruned
    }

    /// Public capacity: the sum over unspent channels.
    pub fn capacity_sat(&self) -> u64 {
        self.channels
            .iter()
            .filter(|c| c.spent_at.is_none())
            .map(|c| c.capacity_sat)
            .sum()
    }

    /// An estimate of the heap this graph holds, in bytes (for benches and /metrics).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let policies: usize = self
            .channels
            .iter()
            .flat_map(|c| c.directions.iter())
            .filter_map(|d| d.policy.as_ref().map(|p| p.bytes.len()))
            .sum();
        let anns: usize = self.channels.iter().map(|c| c.announcement.len()).sum();
        let adjacency: usize = self
            .nodes
            .iter()
            .map(|n| {
                n.channels.capacity() * size_of::<ShortChannelId>()
                    + n.announcement.as_ref().map_or(0, |a| a.bytes.len())
            })
            .sum();
        // A B-tree entry: key, value and about as much again of node overhead.
        let map = self.by_scid.len() * (size_of::<u64>() + size_of::<u32>()) * 2
            + self.channels.capacity() * size_of::<Channel>();
        let index = self.index.capacity() * (size_of::<PublicKey>() + size_of::<u32>() + 8);
        map + index + self.nodes.capacity() * size_of::<Node>() + policies + anns + adjacency
    }

    fn decode(bytes: &[u8]) -> Option<Message> {
        Message::decode(bytes).ok()
    }

    /// A live (unspent) channel.
    fn live(&self, scid: ShortChannelId) -> Option<&Channel> {
        self.channel(scid).filter(|c| c.spent_at.is_none())
    }

    fn node_announcement_at(&self, i: u32) -> Option<&NodeInfo> {
        self.nodes.get(i as usize)?.announcement.as_ref()
    }
}

/// The scid of the first channel of block `block`; `None` past the 24-bit block range.
fn block_start(block: u32) -> Option<u64> {
    (block < 1 << 24).then(|| u64::from(block) << 40)
}

impl GraphQuery for NetworkGraph {
    fn channel_range(&self, first_block: u32, end_block: u32) -> Vec<RangeEntry> {
        use std::ops::Bound;
        let Some(lo) = block_start(first_block) else {
            return Vec::new();
        };
        let hi = match block_start(end_block) {
            Some(hi) if hi <= lo => return Vec::new(),
            Some(hi) => Bound::Excluded(hi),
            None => Bound::Unbounded,
        };
        self.by_scid
            .range((Bound::Included(lo), hi))
            .map(|(_, i)| &self.channels[*i as usize])
            .filter(|c| c.spent_at.is_none())
            .map(|c| RangeEntry {
                scid: c.scid,
                timestamps: c.timestamps(),
                checksums: c.checksums(),
            })
            .collect()
    }

    fn messages_for(&self, scid: ShortChannelId, flags: u64) -> Vec<Message> {
        let Some(c) = self.live(scid) else {
            return Vec::new();
        };
        let mut raw: Vec<&[u8]> = Vec::new();
        if flags & QUERY_FLAG_ANNOUNCEMENT != 0 {
            raw.push(&c.announcement);
        }
        for (bit, d) in [(QUERY_FLAG_UPDATE_1, 0), (QUERY_FLAG_UPDATE_2, 1)] {
            if flags & bit != 0 {
                if let Some(p) = &c.directions[d].policy {
                    raw.push(&p.bytes);
                }
            }
        }
        for (bit, n) in [(QUERY_FLAG_NODE_1, c.node1), (QUERY_FLAG_NODE_2, c.node2)] {
            if flags & bit != 0 {
                if let Some(a) = self.node_announcement_at(n) {
                    raw.push(&a.bytes);
                }
            }
        }
        raw.into_iter().filter_map(Self::decode).collect()
    }

    fn messages_in_window(&self, first: u32, range: u32) -> Vec<Message> {
        let end = u64::from(first) + u64::from(range);
        let admits = |t: u32| t >= first && u64::from(t) < end;
        let mut sent_nodes: HashSet<u32> = HashSet::new();
        let mut out = Vec::new();
        let live = self.channels().map(|(_, c)| c);
        for c in live.filter(|c| c.spent_at.is_none()) {
            if admits(c.newest_update()) {
                out.extend(Self::decode(&c.announcement));
            }
            for d in &c.directions {
                if let Some(p) = d.policy.as_ref().filter(|p| admits(p.timestamp)) {
                    out.extend(Self::decode(&p.bytes));
                }
            }
            for n in [c.node1, c.node2] {
                if let Some(a) = self.node_announcement_at(n) {
                    if admits(a.timestamp) && sent_nodes.insert(n) {
                        out.extend(Self::decode(&a.bytes));
                    }
                }
            }
        }
        out
    }

    fn knows_channel(&self, scid: ShortChannelId) -> bool {
        self.by_scid.contains_key(&scid.0)
    }

    fn update_timestamps(&self, scid: ShortChannelId) -> Option<(u32, u32)> {
        self.channel(scid).map(Channel::timestamps)
    }

    fn knows_node(&self, node_id: &PublicKey) -> bool {
        self.index.contains_key(node_id)
    }
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
