//! BOLT 1 and BOLT 2 wire codecs: pure functions from bytes to typed messages and back.
//!
//! - [`bigsize`], [`tlv`]: BigSize integers and TLV streams.
//! - [`features`]: feature bit fields and our feature policy ([`Features::ours`]).
//! - [`setup`]: `init`, `error`, `warning`, `ping`, `pong`.
//! - [`channel_open`], [`htlc`], [`commitment`], [`channel_close`], [`reestablish`]: the
//!   BOLT 2 channel messages.
//! - [`channel_update`], [`gossip`], [`gossip_queries`]: BOLT 7's messages.
//! - [`message`]: the [`Message`] enum, which decodes any message and applies the odd/even
//!   rule to unknown types.
//!
//! Every decoder takes untrusted bytes and returns a [`DecodeError`] on anything malformed;
//! none panics. Every message keeps the unknown odd TLV records it was sent, so decoding then
//! re-encoding reproduces the input.

pub mod address;
pub mod bigsize;
pub mod channel_close;
pub mod channel_open;
pub mod channel_update;
pub mod codec;
pub mod commitment;
pub mod error;
pub mod features;
pub mod gossip;
pub mod gossip_queries;
pub mod htlc;
pub mod message;
pub mod reestablish;
pub mod setup;
pub mod tlv;
pub mod types;

#[cfg(test)]
mod gossip_vectors;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod strategies;
#[cfg(test)]
mod test_util;

pub use address::AddressError;
pub use channel_close::{ClosingSigned, FeeRange, Shutdown};
pub use channel_open::{
    AcceptChannel, ChannelPoints, ChannelReady, FundingCreated, FundingSigned, OpenChannel,
    OpenTlvs,
};
pub use channel_update::{direction_bit, ChannelUpdate, UnsignedChannelUpdate};
pub use codec::{Reader, Writer};
pub use commitment::{CommitmentSigned, RevokeAndAck, UpdateFee};
pub use error::{DecodeError, EncodeError};
pub use features::{Feature, FeatureError, Features};
pub use gossip::{
    AnnouncementSignatures, ChannelAnnouncement, NetAddress, NodeAnnouncement,
    UnsignedChannelAnnouncement, UnsignedNodeAnnouncement,
};
pub use gossip_queries::{
    GossipTimestampFilter, QueryChannelRange, QueryShortChannelIds, ReplyChannelRange,
    ReplyShortChannelIdsEnd,
};
pub use htlc::{UpdateAddHtlc, UpdateFailHtlc, UpdateFailMalformedHtlc, UpdateFulfillHtlc};
pub use message::{Message, RawMessage, WireMessage, MAX_MESSAGE_LEN};
pub use reestablish::ChannelReestablish;
pub use setup::{Diagnostic, ErrorMessage, Init, Ping, Pong, Warning};
pub use tlv::{TlvRecord, TlvStream};
pub use types::{ChannelId, OnionPacket, ShortChannelId};
