//! BOLT 7 gossip, the pure core: the network graph, what makes gossip valid, how peers sync
//! and how we relay. Messages and facts in, decisions out; the runtime (`crate::node::gossip`)
//! does the I/O: sockets, the chain lookups, the store.

pub mod announce;
pub mod ours;

use bitcoin::secp256k1::PublicKey;

mod answer;
mod client;
mod range;
mod relay;
pub mod sync;

pub use sync::{Action, GossipSync, SyncConfig, SyncFault, SyncStats};

use crate::wire::{Message, ShortChannelId};

/// What the sync and relay logic needs to read from the graph.
pub trait GraphQuery {
    /// Public channels whose funding block is in `[first_block, end_block)`, in ascending scid
    /// order, each with the timestamps of the `channel_update` of `node_id_1` and of
    /// `node_id_2` (0 for none) and their checksums (BOLT 7's CRC32C; 0 for none). Spent
    /// channels are left out.
    fn channel_range(&self, first_block: u32, end_block: u32) -> Vec<RangeEntry>;

    /// The messages a `query_short_channel_ids` entry asks for, in relay order: the
    /// `channel_announcement`, then the `channel_update`s, then the `node_announcement`s,
    /// as `flags` selects (`wire::gossip_queries::QUERY_FLAG_*`; all bits when the query has
    /// no flags). Empty for an unknown or spent channel.
    fn messages_for(&self, scid: ShortChannelId, flags: u64) -> Vec<Message>;

    /// Every relayable message whose timestamp (a `channel_announcement` takes the timestamp
    /// of its newest update) is in `[first, first + range)`, in relay order (announcement
    /// before its updates, a node's announcement after its first channel).
    fn messages_in_window(&self, first: u32, range: u32) -> Vec<Message>;

    /// Whether a public channel with this scid is known (spent ones too).
    fn knows_channel(&self, scid: ShortChannelId) -> bool;

    /// The timestamps of the two updates of a known channel (0 for none).
    fn update_timestamps(&self, scid: ShortChannelId) -> Option<(u32, u32)>;

    /// Whether a node has an announced channel, so its `node_announcement` may be accepted.
    fn knows_node(&self, node_id: &PublicKey) -> bool;
}

/// One channel of a [`GraphQuery::channel_range`] answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeEntry {
    pub scid: ShortChannelId,
    pub timestamps: (u32, u32),
    pub checksums: (u32, u32),
}

pub mod graph;
pub mod validate;
pub mod view;

#[cfg(test)]
pub(crate) mod testkit;

pub use graph::NetworkGraph;
pub use validate::{FundingCheck, FundingLookup, GossipCounters, GraphChange, Validator, Verdict};
