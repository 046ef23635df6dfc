//! Our side of an initial sync with one peer: ask for every channel over the whole chain with
//! update timestamps, then ask, a chunk at a time, for the channels we lack and the updates
//! newer than ours.

use std::collections::VecDeque;

use bitcoin::constants::ChainHash;

use super::answer::ALL_FLAGS;
use super::range::RangeCollector;
use super::sync::{SyncConfig, SyncFault};
use super::GraphQuery;
use crate::wire::gossip_queries::{
    QUERY_FLAG_NODE_1, QUERY_FLAG_NODE_2, QUERY_FLAG_UPDATE_1, QUERY_FLAG_UPDATE_2,
    QUERY_OPTION_TIMESTAMPS,
};
use crate::wire::{
    Message, QueryChannelRange, QueryShortChannelIds, ReplyChannelRange, ReplyShortChannelIdsEnd,
    ShortChannelId, TlvStream,
};

#[derive(Debug)]
enum Phase {
    /// Waiting for the parts of our `query_channel_range`.
    Range(RangeCollector),
    /// Asking for what we lack; `outstanding`: a query awaits its
    /// `reply_short_channel_ids_end` (BOLT 7 allows one at a time).
    Query {
        wanted: VecDeque<(ShortChannelId, u64)>,
        outstanding: bool,
    },
    Done,
}

#[derive(Debug)]
pub(crate) struct SyncClient {
    chain_hash: ChainHash,
    phase: Phase,
    /// When the peer last answered anything of this sync.
    pub last_progress: u64,
    /// Channels asked for, in all.
    pub requested: usize,
}

impl SyncClient {
    /// Starts a sync: the client and the `query_channel_range` to send.
    pub fn start(chain_hash: ChainHash, now: u64) -> (Self, Message) {
        let q = QueryChannelRange {
            chain_hash,
            first_blocknum: 0,
            number_of_blocks: u32::MAX,
            query_option: Some(QUERY_OPTION_TIMESTAMPS),
            extra_tlvs: TlvStream::default(),
        };
        let client = Self {
            chain_hash,
            phase: Phase::Range(RangeCollector::new(&q)),
            last_progress: now,
            requested: 0,
        };
        (client, Message::QueryChannelRange(q))
    }

    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// A part of the peer's range answer; returns the first `query_short_channel_ids` once
    /// the last part is in.
    pub fn on_range(
        &mut self,
        r: &ReplyChannelRange,
        graph: &impl GraphQuery,
        cfg: &SyncConfig,
        now: u64,
    ) -> Result<Option<Message>, SyncFault> {
        let Phase::Range(collector) = &mut self.phase else {
            return Err(SyncFault::Unsolicited);
        };
        self.last_progress = now;
        if !collector.on_reply(r, cfg.max_range_parts, cfg.max_range_ids)? {
            return Ok(None);
        }
        let listed = std::mem::take(&mut collector.listed);
        let wanted: VecDeque<_> = listed
            .into_iter()
            .filter_map(|(scid, theirs)| wanted_flags(graph, scid, theirs).map(|f| (scid, f)))
            .collect();
        self.requested = wanted.len();
        self.phase = Phase::Query {
            wanted,
            outstanding: false,
        };
        Ok(self.next_query(cfg))
    }

    /// The peer finished answering our last `query_short_channel_ids`.
    pub fn on_end(
        &mut self,
        end: &ReplyShortChannelIdsEnd,
        cfg: &SyncConfig,
        now: u64,
    ) -> Result<Option<Message>, SyncFault> {
        let Phase::Query { outstanding, .. } = &mut self.phase else {
            return Err(SyncFault::Unsolicited);
        };
        if !*outstanding {
            return Err(SyncFault::Unsolicited);
        }
        if end.chain_hash != self.chain_hash {
            return Err(SyncFault::WrongChain);
        }
        *outstanding = false;
        self.last_progress = now;
        Ok(self.next_query(cfg))
    }

    fn next_query(&mut self, cfg: &SyncConfig) -> Option<Message> {
        let Phase::Query {
            wanted,
            outstanding,
        } = &mut self.phase
        else {
            return None;
        };
        if wanted.is_empty() {
            self.phase = Phase::Done;
            return None;
        }
        let n = wanted.len().min(cfg.query_chunk.max(1));
        let (ids, flags): (Vec<_>, Vec<_>) = wanted.drain(..n).unzip();
        *outstanding = true;
        Some(Message::QueryShortChannelIds(QueryShortChannelIds {
            chain_hash: self.chain_hash,
            short_channel_ids: ids,
            query_flags: Some(flags),
            extra_tlvs: TlvStream::default(),
        }))
    }
}

/// What to ask about a channel a peer listed: everything when we do not know it, the updates
/// newer than ours (and both nodes) when it sent timestamps, nothing otherwise.
fn wanted_flags(
    graph: &impl GraphQuery,
    scid: ShortChannelId,
    theirs: Option<(u32, u32)>,
) -> Option<u64> {
    if !graph.knows_channel(scid) {
        return Some(ALL_FLAGS);
    }
    let (t1, t2) = theirs?;
    let (o1, o2) = graph.update_timestamps(scid)?;
    let mut flags = 0;
    if t1 > o1 {
        flags |= QUERY_FLAG_UPDATE_1;
    }
    if t2 > o2 {
        flags |= QUERY_FLAG_UPDATE_2;
    }
    // Nodes with newer channel updates often have newer announcements too; the peer sends
    // each node once per query and our validator drops what is not newer.
    (flags != 0).then_some(flags | QUERY_FLAG_NODE_1 | QUERY_FLAG_NODE_2)
}
