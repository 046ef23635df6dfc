//! The limits of sync and relay, with their defaults.

use crate::wire::ReplyChannelRange;

/// The limits of sync and relay. Every bound a peer could otherwise push is here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// Peers we run an initial sync with (whole-chain range query), at most.
    pub max_sync_peers: usize,
    /// The stagger: accepted gossip is sent to peers at most this often (BOLT 7: 60 s).
    pub flush_interval_secs: u64,
    /// The past our `gossip_timestamp_filter` asks every peer for (what changed while we were
    /// away; the full picture comes from the sync peers' queries).
    pub filter_backlog_secs: u32,
    /// Channels per `query_short_channel_ids` we send.
    pub query_chunk: usize,
    /// A sync peer silent this long is given up (another peer takes its place).
    pub sync_timeout_secs: u64,
    /// The parts of one `reply_channel_range` answer we take, at most.
    pub max_range_parts: usize,
    /// The channels one `reply_channel_range` answer may list, at most.
    pub max_range_ids: usize,
    /// Ids per `reply_channel_range` part we send (fewer when checksums do not fit).
    pub max_ids_per_reply: usize,
    /// Relayed messages waiting for one peer; past it the oldest are dropped and counted.
    pub relay_queue_cap: usize,
    /// Messages sent to one peer per tick, whatever their source.
    pub max_messages_per_tick: usize,
    /// Channels looked up in the graph for one peer's query or dump per tick.
    pub max_lookups_per_tick: usize,
    /// Channels waiting to be asked of one peer through [`super::GossipSync::request_channels`].
    pub max_requested: usize,
    /// Distinct messages in one relay batch.
    pub max_batch: usize,
    /// Channel announcements waiting for their first update.
    pub max_waiting_announcements: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            max_sync_peers: 3,
            flush_interval_secs: 60,
            filter_backlog_secs: 3600,
            query_chunk: 1000,
            sync_timeout_secs: 300,
            max_range_parts: 5000,
            max_range_ids: 250_000,
            max_ids_per_reply: ReplyChannelRange::MAX_IDS_PER_REPLY,
            relay_queue_cap: 10_000,
            max_messages_per_tick: 500,
            max_lookups_per_tick: 2000,
            max_requested: 1000,
            max_batch: 50_000,
            max_waiting_announcements: 10_000,
        }
    }
}
