//! `query_channel_range` both ways: the reply parts we page out to a peer, and the parts a
//! peer sends back to us, checked against BOLT 7's covering rules.

use bitcoin::constants::ChainHash;

use super::sync::SyncFault;
use super::GraphQuery;
use crate::wire::gossip_queries::{QUERY_OPTION_CHECKSUMS, QUERY_OPTION_TIMESTAMPS};
use crate::wire::{
    QueryChannelRange, ReplyChannelRange, ShortChannelId, TlvStream, MAX_MESSAGE_LEN,
};

/// Room kept in a reply for everything but the id, timestamp and checksum arrays.
const REPLY_OVERHEAD: usize = 128;

/// How many ids fit in one reply carrying what `options` asks for, at most `configured`.
/// (With both timestamps and checksums an id costs 24 bytes, so fewer than
/// `ReplyChannelRange::MAX_IDS_PER_REPLY` fit in a 65,535-byte message.)
pub fn ids_per_reply(options: u64, configured: usize) -> usize {
    let mut per_id = 8;
    if options & QUERY_OPTION_TIMESTAMPS != 0 {
        per_id += 8;
    }
    if options & QUERY_OPTION_CHECKSUMS != 0 {
        per_id += 8;
    }
    configured
        .min((MAX_MESSAGE_LEN - REPLY_OVERHEAD) / per_id)
        .max(1)
}

/// Our answer to one `query_channel_range`, built a part at a time so a query over the whole
/// chain holds at most one part in memory.
#[derive(Debug)]
pub(crate) struct RangeAnswer {
    chain_hash: ChainHash,
    /// The end of the queried blocks (exclusive).
    end: u32,
    /// First block of the next part (the queried first block at the start).
    cursor: u32,
    /// Ids up to this one were sent (a block's channels may span two parts).
    after: Option<ShortChannelId>,
    options: u64,
    /// `None` for a chain we do not follow: one empty part with `sync_complete` 0.
    ours: bool,
    done: bool,
}

impl RangeAnswer {
    pub fn new(q: &QueryChannelRange, our_chain: ChainHash) -> Self {
        Self {
            chain_hash: q.chain_hash,
            end: q.end_blocknum(),
            cursor: q.first_blocknum,
            after: None,
            options: q.query_option.unwrap_or(0),
            ours: q.chain_hash == our_chain,
            done: false,
        }
    }

    /// The next part, or `None` once the final one (`sync_complete` 1) was returned.
    ///
    /// Parts follow BOLT 7: the first starts at the queried first block, each starts at or
    /// after the previous one's start, ids are ascending and inside their part's blocks, and
    /// the last one reaches the end of the queried range.
    pub fn next_part(
        &mut self,
        graph: &impl GraphQuery,
        max_ids: usize,
    ) -> Option<ReplyChannelRange> {
        if self.done {
            return None;
        }
        let limit = ids_per_reply(self.options, max_ids);
        let mut entries = if self.ours {
            graph.channel_range(self.cursor, self.end)
        } else {
            Vec::new()
        };
        // The graph promises ascending ids inside the range; keep only what a part may carry.
        let (cursor, end, after) = (self.cursor, self.end, self.after);
        entries.retain(|e| {
            e.scid.block() >= cursor
                && e.scid.block() < end
                && !matches!(after, Some(a) if e.scid <= a)
        });
        let mut last = entries.len() <= limit;
        entries.truncate(limit);
        if !last {
            // A part reaching the queried end is the final one for the peer, so only the final
            // part may hold channels of the range's last block.
            let last_block = self.end.saturating_sub(1);
            let before_last = entries
                .iter()
                .filter(|e| e.scid.block() < last_block)
                .count();
            if before_last == 0 {
                // More channels in that one block than a part holds: the surplus is left out
                // (a block cannot fund that many channels in practice).
                last = true;
            } else {
                entries.truncate(before_last);
            }
        }
        let start = self.cursor;
        let stop = match (last, entries.last()) {
            (false, Some(e)) => {
                let block = e.scid.block();
                // The next part restarts at this block: its other channels may follow.
                self.cursor = block;
                self.after = Some(e.scid);
                block + 1
            }
            _ => {
                self.done = true;
                self.end
            }
        };
        let timestamps = (self.options & QUERY_OPTION_TIMESTAMPS != 0)
            .then(|| entries.iter().map(|e| e.timestamps).collect());
        let checksums = (self.options & QUERY_OPTION_CHECKSUMS != 0)
            .then(|| entries.iter().map(|e| e.checksums).collect());
        Some(ReplyChannelRange {
            chain_hash: self.chain_hash,
            first_blocknum: start,
            number_of_blocks: stop - start,
            sync_complete: u8::from(self.done && self.ours),
            short_channel_ids: entries.iter().map(|e| e.scid).collect(),
            timestamps: if self.ours { timestamps } else { None },
            checksums: if self.ours { checksums } else { None },
            extra_tlvs: TlvStream::default(),
        })
    }
}

/// One channel a peer listed: its id and, when sent, its two update timestamps.
pub(crate) type Listed = (ShortChannelId, Option<(u32, u32)>);

/// The parts of a peer's answer to our `query_channel_range`, checked as they arrive.
#[derive(Debug)]
pub(crate) struct RangeCollector {
    chain_hash: ChainHash,
    first: u32,
    end: u32,
    parts: usize,
    last_first: Option<u32>,
    last_scid: Option<ShortChannelId>,
    pub listed: Vec<Listed>,
}

impl RangeCollector {
    pub fn new(q: &QueryChannelRange) -> Self {
        Self {
            chain_hash: q.chain_hash,
            first: q.first_blocknum,
            end: q.end_blocknum(),
            parts: 0,
            last_first: None,
            last_scid: None,
            listed: Vec::new(),
        }
    }

    /// Takes one part; `Ok(true)` when it is the final one. An error is the peer's fault: the
    /// collected list is then to be thrown away.
    pub fn on_reply(
        &mut self,
        r: &ReplyChannelRange,
        max_parts: usize,
        max_ids: usize,
    ) -> Result<bool, SyncFault> {
        if r.chain_hash != self.chain_hash {
            return Err(SyncFault::WrongChain);
        }
        self.parts += 1;
        if self.parts > max_parts {
            return Err(SyncFault::TooManyParts);
        }
        let start = u64::from(r.first_blocknum);
        let stop = start + u64::from(r.number_of_blocks);
        match self.last_first {
            None if r.first_blocknum > self.first || stop <= u64::from(self.first) => {
                return Err(SyncFault::RangeNotCovered)
            }
            Some(prev) if r.first_blocknum < prev => return Err(SyncFault::RangeNotCovered),
            _ => {}
        }
        self.last_first = Some(r.first_blocknum);
        if self.listed.len() + r.short_channel_ids.len() > max_ids {
            return Err(SyncFault::TooManyIds);
        }
        for (i, scid) in r.short_channel_ids.iter().enumerate() {
            let block = u64::from(scid.block());
            if block < start || block >= stop {
                return Err(SyncFault::IdOutsideRange);
            }
            if self.last_scid.is_some_and(|last| *scid <= last) {
                return Err(SyncFault::IdsNotAscending);
            }
            self.last_scid = Some(*scid);
            let ts = r.timestamps.as_ref().and_then(|t| t.get(i).copied());
            self.listed.push((*scid, ts));
        }
        Ok(stop >= u64::from(self.end))
    }
}
