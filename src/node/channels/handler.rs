//! The peer manager's seam into the channel manager: every call only queues work.

use bitcoin::secp256k1::PublicKey;
use tokio::sync::mpsc;

use super::Request;
use crate::net::{ConnId, PeerEventHandler};
use crate::wire::{Feature, Init, Message};

/// Queues peer events for the channel actor. The queue is unbounded so a peer's reader never
/// waits on a store write; the peer manager's per-peer limits bound what one peer can send.
pub struct ChannelPeerHandler {
    pub(super) tx: mpsc::UnboundedSender<Request>,
}

impl PeerEventHandler for ChannelPeerHandler {
    fn peer_connected(&self, node_id: PublicKey, conn: ConnId, init: &Init) {
        // Ours is always set: negotiated when the peer sets it too.
        let anysegwit = init.features.supports(Feature::ShutdownAnySegwit);
        let _ = self
            .tx
            .send(Request::PeerConnected(node_id, conn, anysegwit));
    }

    fn message(&self, node_id: PublicKey, conn: ConnId, message: Message) {
        let _ = self.tx.send(Request::PeerMessage(node_id, conn, message));
    }

    fn peer_disconnected(&self, node_id: PublicKey, conn: ConnId) {
        let _ = self.tx.send(Request::PeerDisconnected(node_id, conn));
    }
}
