//! What a peer asked us for, produced a channel at a time: the answer to a
//! `query_short_channel_ids`, and the dump of past gossip a `gossip_timestamp_filter` asks for.
//! Neither holds more than one step's messages, however large the graph or the query.

use std::collections::{HashSet, VecDeque};

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::PublicKey;

use super::{GraphQuery, RangeEntry};
use crate::wire::gossip_queries::{
    QUERY_FLAG_ANNOUNCEMENT, QUERY_FLAG_NODE_1, QUERY_FLAG_NODE_2, QUERY_FLAG_UPDATE_1,
    QUERY_FLAG_UPDATE_2,
};
use crate::wire::{Message, QueryShortChannelIds, ReplyShortChannelIdsEnd, ShortChannelId};

/// Every query flag: what an entry without flags asks for.
pub const ALL_FLAGS: u64 = QUERY_FLAG_ANNOUNCEMENT
    | QUERY_FLAG_UPDATE_1
    | QUERY_FLAG_UPDATE_2
    | QUERY_FLAG_NODE_1
    | QUERY_FLAG_NODE_2;

/// Channels read from the graph at once while dumping.
const DUMP_CHUNK: usize = 1000;

/// Our answer to one `query_short_channel_ids`.
#[derive(Debug)]
pub(crate) struct ScidAnswer {
    chain_hash: ChainHash,
    ours: bool,
    queue: VecDeque<(ShortChannelId, u64)>,
    /// A node's announcement goes out once per query, however many of its channels are asked.
    nodes_sent: HashSet<PublicKey>,
}

impl ScidAnswer {
    pub fn new(q: &QueryShortChannelIds, our_chain: ChainHash) -> Self {
        let ours = q.chain_hash == our_chain;
        let queue = if ours {
            let flags = q.query_flags.as_deref();
            q.short_channel_ids
                .iter()
                .enumerate()
                .map(|(i, s)| (*s, flags.map_or(ALL_FLAGS, |f| f[i])))
                .collect()
        } else {
            VecDeque::new()
        };
        Self {
            chain_hash: q.chain_hash,
            ours,
            queue,
            nodes_sent: HashSet::new(),
        }
    }

    /// Appends the messages of the next channel to `out`, or, once every channel was answered,
    /// `reply_short_channel_ids_end` and returns true.
    pub fn step(&mut self, graph: &impl GraphQuery, out: &mut VecDeque<Message>) -> bool {
        let Some((scid, flags)) = self.queue.pop_front() else {
            out.push_back(Message::ReplyShortChannelIdsEnd(ReplyShortChannelIdsEnd {
                chain_hash: self.chain_hash,
                full_information: u8::from(self.ours),
                excess_data: Vec::new(),
            }));
            return true;
        };
        for m in graph.messages_for(scid, flags) {
            if let Message::NodeAnnouncement(n) = &m {
                if !self.nodes_sent.insert(n.contents.node_id) {
                    continue;
                }
            }
            out.push_back(m);
        }
        false
    }
}

/// The gossip whose timestamp is in a peer's new filter window, walked channel by channel in
/// scid order (announcement, its updates in the window, then its nodes' announcements not yet
/// sent in this dump).
#[derive(Debug)]
pub(crate) struct Dump {
    first: u32,
    end: u64,
    after: Option<ShortChannelId>,
    buffer: VecDeque<RangeEntry>,
    exhausted: bool,
    nodes_sent: HashSet<PublicKey>,
}

impl Dump {
    pub fn new(first: u32, range: u32) -> Self {
        Self {
            first,
            end: u64::from(first) + u64::from(range),
            after: None,
            buffer: VecDeque::new(),
            exhausted: false,
            nodes_sent: HashSet::new(),
        }
    }

    fn admits(&self, ts: u32) -> bool {
        ts >= self.first && u64::from(ts) < self.end
    }

    /// Appends the messages of the next channel to `out`; true when the dump is over.
    pub fn step(&mut self, graph: &impl GraphQuery, out: &mut VecDeque<Message>) -> bool {
        if self.buffer.is_empty() {
            if self.exhausted {
                return true;
            }
            let from = self.after.map_or(0, |a| a.block());
            let after = self.after;
            let mut entries = graph.channel_range(from, u32::MAX);
            entries.retain(|e| !matches!(after, Some(a) if e.scid <= a));
            self.exhausted = entries.len() <= DUMP_CHUNK;
            entries.truncate(DUMP_CHUNK);
            self.after = entries.last().map(|e| e.scid).or(self.after);
            self.buffer.extend(entries);
            if self.buffer.is_empty() {
                return true;
            }
        }
        let Some(entry) = self.buffer.pop_front() else {
            return true;
        };
        let (t1, t2) = entry.timestamps;
        let (in1, in2) = (t1 != 0 && self.admits(t1), t2 != 0 && self.admits(t2));
        let mut flags = QUERY_FLAG_NODE_1 | QUERY_FLAG_NODE_2;
        if in1 || in2 {
            // An announcement takes the timestamp of its updates; none in the window, none sent.
            flags |= QUERY_FLAG_ANNOUNCEMENT;
        }
        if in1 {
            flags |= QUERY_FLAG_UPDATE_1;
        }
        if in2 {
            flags |= QUERY_FLAG_UPDATE_2;
        }
        for m in graph.messages_for(entry.scid, flags) {
            if let Message::NodeAnnouncement(n) = &m {
                if !self.admits(n.contents.timestamp) || !self.nodes_sent.insert(n.contents.node_id)
                {
                    continue;
                }
            }
            out.push_back(m);
        }
        false
    }
}
