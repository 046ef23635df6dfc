//! The LSP task: the runtime around `crate::lsps`. It reads the LSPS messages (BOLT 8 type
//! 37913) peers send, answers each with the pure rules, and sends the answer back.
//!
//! A peer cannot make us queue more than its connection's inbound credits: each message keeps
//! its credit until answered, so a flooding peer's socket stops being read (see
//! [`crate::net::Credit`]). Answers are queued to the peer manager, never awaited on the
//! peer's socket, so a slow reader stalls nobody.

use bitcoin::secp256k1::PublicKey;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::lsps::lsps0;
use crate::net::{Credit, PeerManager};
use crate::wire::{Message, RawMessage};

struct Inbound {
    peer: PublicKey,
    payload: Vec<u8>,
    /// Held until the answer is queued.
    _credit: Credit,
}

/// Where the peer dispatcher hands LSPS messages. Cheap to clone; only queues.
#[derive(Clone)]
pub struct LspInbox {
    tx: mpsc::UnboundedSender<Inbound>,
}

impl LspInbox {
    pub fn deliver(&self, peer: PublicKey, payload: Vec<u8>, credit: Credit) {
        let _ = self.tx.send(Inbound {
            peer,
            payload,
            _credit: credit,
        });
    }
}

/// The task, waiting for the peer manager (built after the dispatcher that needs the inbox).
pub struct LspStarter {
    rx: mpsc::UnboundedReceiver<Inbound>,
    /// The LSPS numbers served (`lsps0.list_protocols`).
    served: Vec<u16>,
}

/// The inbox for the dispatcher and the task to start once the peer manager exists.
pub fn spawn(served: Vec<u16>) -> (LspInbox, LspStarter) {
    let (tx, rx) = mpsc::unbounded_channel();
    (LspInbox { tx }, LspStarter { rx, served })
}

impl LspStarter {
    pub fn start(self, peers: PeerManager, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let LspStarter { mut rx, served } = self;
        tokio::spawn(async move {
            loop {
                let inbound = tokio::select! {
                    m = rx.recv() => match m {
                        Some(m) => m,
                        None => return,
                    },
                    _ = shutdown.changed() => return,
                };
                // No LSPS2 routes yet: every other method is "not found".
                let answer = lsps0::respond(&inbound.payload, &served, |_| None);
                let message = Message::Unknown(RawMessage {
                    msg_type: lsps0::MESSAGE_TYPE,
                    payload: answer,
                });
                if let Err(e) = peers.send(inbound.peer, message).await {
                    tracing::debug!(peer = %inbound.peer, error = %e, "LSPS answer not sent");
                }
            }
        })
    }
}
