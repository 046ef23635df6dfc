//! The gossip task's queue and the one handler that splits peer traffic between the channel
//! manager and the gossip task.

use bitcoin::secp256k1::PublicKey;
use tokio::sync::mpsc;

use crate::gossip::announce::OurChannel;
use crate::net::{ConnId, Credit, PeerEventHandler};
use crate::node::channels::ChannelPeerHandler;
use crate::wire::{AnnouncementSignatures, Features, Init, Message};

/// One of our public channels, deep enough to be announced: what the channel manager tells
/// the gossip task (once per run of the node, and again if the facts change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurChannelFacts {
    pub channel: OurChannel,
    /// The channel's key index: its funding key signs the announcement.
    pub key_index: u32,
    /// What the peer accepts from us bounds what we forward to it (our update says so).
    pub htlc_minimum_msat: u64,
    pub htlc_maximum_msat: u64,
}

// A message is moved through the queue once; boxing it would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Request {
    PeerConnected {
        peer: PublicKey,
        features: Features,
    },
    PeerDisconnected {
        peer: PublicKey,
        conn: ConnId,
    },
    /// A gossip message, with its connection's credit (held until handled, so one peer
    /// cannot queue more than its share).
    Message {
        peer: PublicKey,
        message: Message,
        credit: Credit,
    },
    AnnouncementSignatures {
        peer: PublicKey,
        message: AnnouncementSignatures,
        credit: Credit,
    },
    OurChannel(Box<OurChannelFacts>),
    /// A channel of ours closed: no more updates for it.
    OurChannelClosed(crate::wire::ChannelId),
}

/// Where the channel manager and the API reach the gossip task. Cheap to clone; every call
/// only queues.
#[derive(Clone)]
pub struct GossipInbox {
    pub(crate) tx: mpsc::UnboundedSender<Request>,
}

impl GossipInbox {
    pub fn our_channel(&self, facts: OurChannelFacts) {
        let _ = self.tx.send(Request::OurChannel(Box::new(facts)));
    }

    pub fn our_channel_closed(&self, channel_id: crate::wire::ChannelId) {
        let _ = self.tx.send(Request::OurChannelClosed(channel_id));
    }
}

/// The peer manager's one handler: gossip to the gossip task, the rest to the channel
/// manager. A `channel_update` marked `dont_forward` is a peer's policy for a private channel
/// with us (named by our alias): the channel manager's. `announcement_signatures` belongs to
/// a channel but changes no channel state: the gossip task assembles announcements.
pub struct Dispatch {
    pub channels: std::sync::Arc<ChannelPeerHandler>,
    pub gossip: GossipInbox,
    /// LSPS messages (custom type 37913).
    pub lsp: crate::node::lsp::LspInbox,
}

impl PeerEventHandler for Dispatch {
    fn peer_connected(&self, node_id: PublicKey, conn: ConnId, init: &Init) {
        self.channels.peer_connected(node_id, conn, init);
        let _ = self.gossip.tx.send(Request::PeerConnected {
            peer: node_id,
            features: init.features.clone(),
        });
    }

    fn message(&self, node_id: PublicKey, conn: ConnId, message: Message, credit: Credit) {
        match message {
            Message::Unknown(raw) => {
                if raw.msg_type == crate::lsps::lsps0::MESSAGE_TYPE {
                    self.lsp.deliver(node_id, raw.payload, credit);
                }
            }
            Message::AnnouncementSignatures(m) => {
                let _ = self.gossip.tx.send(Request::AnnouncementSignatures {
                    peer: node_id,
                    message: m,
                    credit,
                });
            }
            Message::ChannelUpdate(ref u) if u.dont_forward() => {
                self.channels.message(node_id, conn, message, credit)
            }
            m if m.is_gossip() => {
                let _ = self.gossip.tx.send(Request::Message {
                    peer: node_id,
                    message: m,
                    credit,
                });
            }
            m => self.channels.message(node_id, conn, m, credit),
        }
    }

    fn peer_disconnected(&self, node_id: PublicKey, conn: ConnId) {
        self.channels.peer_disconnected(node_id, conn);
        let _ = self.gossip.tx.send(Request::PeerDisconnected {
            peer: node_id,
            conn,
        });
    }
}
