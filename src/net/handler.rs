//! The seam between the peer manager and what consumes peer messages (the channel state
//! machines of the next layer).

use bitcoin::secp256k1::PublicKey;

use crate::wire::{Init, Message};

/// One connection of a peer. Ids grow in the order connections are registered, so of two
/// connections of a node the larger id is the newer: a consumer told of them out of order
/// still knows which one is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One of a connection's [`super::PeerLimits::inbound_queue`] slots, held by a delivered
/// message until it is handled: drop it then. While all of a connection's credits are held its
/// socket is not read, so a peer that sends faster than we handle is slowed by TCP, and what
/// one peer has queued is bounded whatever the consumer's queue is.
#[derive(Debug)]
pub struct Credit {
    /// Only held: dropping it gives the slot back.
    pub(super) _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Receives what established peers send, in order per connection.
///
/// `peer_connected` and `peer_disconnected` are called under the manager's lock, in the order
/// connections are registered and removed: whoever sees a peer in [`super::PeerManager::list`]
/// and then queues work behind these events finds the connection announced first. An
/// implementation must return quickly (queue the work, never block on I/O or take locks the
/// manager's callers hold). Messages to peers go back through [`super::PeerManager::send_on`]
/// (or `send`, to whichever connection is current).
pub trait PeerEventHandler: Send + Sync + 'static {
    /// A peer finished the `init` exchange. May repeat for a node already connected, with a
    /// larger `conn`: its newer connection replaced the older one, which ends without a
    /// `peer_disconnected`, and anything tied to the old connection is void (BOLT 2: a channel
    /// reestablishes on every new connection).
    fn peer_connected(&self, node_id: PublicKey, conn: ConnId, init: &Init) {
        let _ = (node_id, conn, init);
    }

    /// A message for the channel layer: every BOLT 2 message, `error`, `warning` and gossip,
    /// and LSPS messages (custom type 37913, as [`Message::Unknown`]). Connection-level
    /// messages (`init`, `ping`, `pong`, other unknown odd types) never get here.
    /// Keep `credit` until the message is handled.
    fn message(&self, node_id: PublicKey, conn: ConnId, message: Message, credit: Credit);

    /// The peer's connection `conn` ended and no newer one replaced it.
    fn peer_disconnected(&self, node_id: PublicKey, conn: ConnId) {
        let _ = (node_id, conn);
    }
}

/// Until channels exist: log what arrives and drop it.
pub struct LogAndDrop;

impl PeerEventHandler for LogAndDrop {
    fn message(&self, node_id: PublicKey, _conn: ConnId, message: Message, _credit: Credit) {
        tracing::debug!(
            %node_id,
            msg_type = message.msg_type(),
            channel_id = ?message.channel_id(),
            "peer message dropped: no channel handler yet"
        );
    }
}
