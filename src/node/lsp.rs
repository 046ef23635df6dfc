//! The LSP task: the runtime around `crate::lsps`. It reads the LSPS messages (BOLT 8 type
//! 37913) peers send, answers each with the pure rules, and sends the answer back. With
//! `[lsps2]` configured it sells JIT channels: `lsps2.buy` is answered only once its record is
//! stored (`store::lsps`). With `[lsps1]` it sells channels paid in advance
//! ([`super::lsp_orders`]).
//!
//! A peer cannot make us queue more than its connection's inbound credits: each message keeps
//! its credit until answered, so a flooding peer's socket stops being read (see
//! [`crate::net::Credit`]). Answers are queued to the peer manager, never awaited on the
//! peer's socket, so a slow reader stalls nobody.

use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::lsps::lsps0::{self, Request, RpcError};
use crate::lsps::lsps2::PromiseKey;
use crate::lsps::service::{self, JitBook, Lsps2Config, NewJit, Service};
use crate::net::{Credit, PeerManager};
use crate::store::lsps::StoreBook;
use crate::store::Store;
use crate::wallet::Wallet;
use crate::wire::{Message, RawMessage};

use super::lsp_orders::Lsps1Runtime;

/// What LSPS2 needs at run time (`None` in [`spawn`]: not served).
pub struct Lsps2Runtime {
    pub config: Lsps2Config,
    pub key: PromiseKey,
    pub store: Store,
    /// Read for its confirmed balance before a sale.
    pub wallet: Arc<Wallet>,
}

/// A book for the methods that keep nothing (`get_info`): reaching it is a bug, answered as
/// an internal error rather than a panic.
struct NoBook;

impl JitBook for NoBook {
    fn waiting(&mut self, _: &PublicKey, _: u64) -> Result<(usize, usize), String> {
        Err("this method keeps nothing".into())
    }
    fn insert(&mut self, _: &NewJit) -> Result<bool, String> {
        Err("this method keeps nothing".into())
    }
}

fn now_secs() -> u64 {
    crate::events::now_secs()
}

impl Lsps2Runtime {
    /// The answer to one request from `client`. A sale is kept in the same write transaction
    /// that counts the client's waiting channels, and answered only once stored.
    async fn answer(
        self: &Arc<Self>,
        client: PublicKey,
        served: Arc<[u16]>,
        request: Request,
    ) -> Vec<u8> {
        if request.method != "lsps2.buy" {
            let svc = Service {
                config: &self.config,
                key: &self.key,
                confirmed_sat: None,
            };
            return lsps0::respond_to(&request, &served, |r| {
                svc.route(
                    &r.method,
                    &r.params,
                    &client,
                    now_secs(),
                    &mut NoBook,
                    &mut || crate::channel::random_alias(),
                )
            });
        }
        let confirmed_sat = match self.wallet.balance().await {
            Ok(b) => Some(b.confirmed),
            Err(e) => {
                tracing::warn!(error = %e, "LSPS2: wallet balance unknown; selling without the check");
                None
            }
        };
        let me = self.clone();
        let id = request.id.clone();
        let stored = self
            .store
            .write(move |c| {
                let svc = Service {
                    config: &me.config,
                    key: &me.key,
                    confirmed_sat,
                };
                Ok(lsps0::respond_to(&request, &served, |r| {
                    svc.route(
                        &r.method,
                        &r.params,
                        &client,
                        now_secs(),
                        &mut StoreBook(c),
                        &mut crate::channel::random_alias,
                    )
                }))
            })
            .await;
        stored.unwrap_or_else(|e| {
            tracing::error!(error = %e, "LSPS2: a sale was not stored");
            lsps0::error_response(&id, &RpcError::new(lsps0::INTERNAL_ERROR, "Internal error"))
        })
    }
}

/// The LSPS numbers served, ascending: LSPS1 and LSPS2 when configured.
pub fn served(lsps1: bool, lsps2: bool) -> Vec<u16> {
    let mut out = Vec::new();
    if lsps1 {
        out.push(crate::lsps::lsps1::PROTOCOL);
    }
    if lsps2 {
        out.push(service::PROTOCOL);
    }
    out
}

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
    lsps1: Option<Arc<Lsps1Runtime>>,
    lsps2: Option<Arc<Lsps2Runtime>>,
}

/// The inbox for the dispatcher and the task to start once the peer manager exists.
pub fn spawn(lsps1: Option<Lsps1Runtime>, lsps2: Option<Lsps2Runtime>) -> (LspInbox, LspStarter) {
    let (tx, rx) = mpsc::unbounded_channel();
    let starter = LspStarter {
        rx,
        served: served(lsps1.is_some(), lsps2.is_some()),
        lsps1: lsps1.map(Arc::new),
        lsps2: lsps2.map(Arc::new),
    };
    (LspInbox { tx }, starter)
}

impl LspStarter {
    pub fn start(self, peers: PeerManager, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let LspStarter {
            mut rx,
            served,
            lsps1,
            lsps2,
        } = self;
        let served: Arc<[u16]> = served.into();
        // The orders' own task: opening a channel takes seconds, and requests keep being
        // answered meanwhile.
        let orders = lsps1
            .clone()
            .map(|l| tokio::spawn(l.run(peers.clone(), shutdown.clone())));
        tokio::spawn(async move {
            loop {
                let inbound = tokio::select! {
                    m = rx.recv() => match m {
                        Some(m) => m,
                        None => return,
                    },
                    _ = shutdown.changed() => break,
                };
                // One request at a time: a sale's store write is short, and a peer's requests
                // are answered in order.
                let answer = match lsps0::parse_request(&inbound.payload) {
                    Err(response) => response,
                    Ok(request) => match (&lsps1, &lsps2) {
                        (Some(l), _) if request.method.starts_with("lsps1.") => {
                            let result = l
                                .answer(inbound.peer, &request.method, &request.params)
                                .await;
                            lsps0::respond_to(&request, &served, |_| result)
                        }
                        (_, Some(l)) => l.answer(inbound.peer, served.clone(), request).await,
                        _ => lsps0::respond_to(&request, &served, |_| None),
                    },
                };
                let message = Message::Unknown(RawMessage {
                    msg_type: lsps0::MESSAGE_TYPE,
                    payload: answer,
                });
                if let Err(e) = peers.send(inbound.peer, message).await {
                    tracing::debug!(peer = %inbound.peer, error = %e, "LSPS answer not sent");
                }
            }
            if let Some(orders) = orders {
                let _ = orders.await;
            }
        })
    }
}
