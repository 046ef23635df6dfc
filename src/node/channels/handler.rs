//! The peer manager's seam into the channel manager: every call only queues work.

use bitcoin::secp256k1::PublicKey;
use tokio::sync::mpsc;

use super::{PeerTerms, Request};
use crate::net::{ConnId, Credit, PeerEventHandler};
use crate::wire::{Feature, Init, Message};

/// Queues peer events for the channel actor. Each message carries its connection's credit
/// until the actor has handled it, so one peer has at most `inbound_queue` messages queued
/// (then its socket is no longer read), and the actor's own requests never wait behind a
/// peer for room: they wait behind at most that many messages of each peer.
pub struct ChannelPeerHandler {
    pub(super) tx: mpsc::UnboundedSender<Request>,
}

impl PeerEventHandler for ChannelPeerHandler {
    fn peer_connected(&self, node_id: PublicKey, conn: ConnId, init: &Init) {
        // Ours are always set: negotiated when the peer sets them too.
        let f = &init.features;
        let terms = PeerTerms {
            anysegwit: f.supports(Feature::ShutdownAnySegwit),
            scid_alias: f.supports(Feature::ScidAlias),
            zero_conf: f.supports(Feature::ZeroConf),
            anchors: f.supports(Feature::AnchorsZeroFeeHtlcTx),
        };
        let _ = self.tx.send(Request::PeerConnected(node_id, conn, terms));
    }

    fn message(&self, node_id: PublicKey, conn: ConnId, message: Message, credit: Credit) {
        let _ = self
            .tx
            .send(Request::PeerMessage(node_id, conn, message, credit));
    }

    fn peer_disconnected(&self, node_id: PublicKey, conn: ConnId) {
        let _ = self.tx.send(Request::PeerDisconnected(node_id, conn));
    }
}
