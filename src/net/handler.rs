//! The seam between the peer manager and what consumes peer messages (the channel state
//! machines of the next layer).

use bitcoin::secp256k1::PublicKey;

use crate::wire::{Init, Message};

/// Receives what established peers send, in order per peer.
///
/// Called from the peer's connection task: an implementation must return quickly (queue the
/// work, never block on I/O), or that peer stops being read. Messages to peers go back through
/// [`super::PeerManager::send`].
pub trait PeerEventHandler: Send + Sync + 'static {
    /// A peer finished the `init` exchange. May repeat for a node already connected: its newer
    /// connection replaced the older one, and anything tied to the old connection is void.
    fn peer_connected(&self, node_id: PublicKey, init: &Init) {
        let _ = (node_id, init);
    }

    /// A message for the channel layer: every BOLT 2 message, `error`, `warning` and gossip.
    /// Connection-level messages (`init`, `ping`, `pong`, unknown odd types) never get here.
    fn message(&self, node_id: PublicKey, message: Message);

    /// The peer's connection ended (and no newer one replaced it).
    fn peer_disconnected(&self, node_id: PublicKey) {
        let _ = node_id;
    }
}

/// Until channels exist: log what arrives and drop it.
pub struct LogAndDrop;

impl PeerEventHandler for LogAndDrop {
    fn message(&self, node_id: PublicKey, message: Message) {
        tracing::debug!(
            %node_id,
            msg_type = message.msg_type(),
            channel_id = ?message.channel_id(),
            "peer message dropped: no channel handler yet"
        );
    }
}
