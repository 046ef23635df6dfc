//! The peer manager: accepts and makes connections, runs one task per peer, keeps the table of
//! established peers, and reconnects to the peers we chose to keep.
//!
//! ```text
//! accept ─┬─ setup pool full? ── close at once
//!         └─ respond ─ init ─┐
//! connect ── initiate ─ init ┴─ register (replace older, enforce max_peers) ─ Connection::run
//!                                                                              │ ends
//!                                          persistent and not on purpose? ─ reconnect loop
//! ```

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

mod reconnect;

use super::connection::{Connection, Control, Outgoing, PeerStats, Wiring};
use super::error::{CloseReason, PeerError, SetupError};
use super::handler::{ConnId, PeerEventHandler};
use super::handshake;
use super::limits::PeerLimits;
use crate::store::{peers as peer_store, Store};
use crate::transport::Transport;
use crate::wire::{Features, Init, Message};

/// Who opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// An established peer as the API shows it.
#[derive(Debug, Clone)]
pub struct PeerSummary {
    pub node_id: PublicKey,
    pub addr: SocketAddr,
    pub direction: Direction,
    pub connected_since: SystemTime,
    /// The union of the peer's `init` feature fields.
    pub features: Features,
    /// Whether we reconnect to it when the connection drops and after a restart.
    pub persistent: bool,
    pub messages_received: u64,
    pub messages_sent: u64,
    pub pings_received: u64,
    pub pongs_received: u64,
}

/// What the manager keeps per established peer.
struct Slot {
    /// Tells this connection apart from a newer one of the same node.
    conn_id: ConnId,
    addr: SocketAddr,
    direction: Direction,
    connected_since: SystemTime,
    features: Features,
    out_tx: mpsc::Sender<Outgoing>,
    ctl_tx: mpsc::Sender<Control>,
    /// Ends the connection; taken when used.
    close_tx: Option<oneshot::Sender<CloseReason>>,
    stats: Arc<PeerStats>,
}

impl Slot {
    fn close(&mut self, reason: CloseReason) {
        if let Some(tx) = self.close_tx.take() {
            let _ = tx.send(reason);
        }
    }
}

#[derive(Default)]
struct State {
    peers: HashMap<PublicKey, Slot>,
    /// Peers to keep connected (we connected out to them), with the address to dial.
    persistent: HashMap<PublicKey, String>,
    /// Nodes with a reconnect loop running, so there is at most one each.
    reconnecting: HashSet<PublicKey>,
    /// The id of the next registered connection: taken under the lock, so ids follow the
    /// registration order.
    next_conn_id: u64,
}

struct Inner {
    secret: SecretKey,
    node_id: PublicKey,
    chain: ChainHash,
    /// What our `init` offers (see [`PeerManager::with_features`]).
    features: Features,
    limits: PeerLimits,
    handler: Arc<dyn PeerEventHandler>,
    /// Where persistent peers are remembered across restarts; `None` in tests that need no disk.
    store: Option<Store>,
    state: Mutex<State>,
    /// Connections in setup (handshake and init), bounded by `limits.max_pending`.
    pending: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
    /// Cloned into every task; dropped at shutdown so `task_done_rx` ends once all tasks have.
    task_done: Mutex<Option<mpsc::Sender<()>>>,
    task_done_rx: tokio::sync::Mutex<mpsc::Receiver<()>>,
}

/// A handle to the peer manager, cheap to clone.
#[derive(Clone)]
pub struct PeerManager {
    inner: Arc<Inner>,
}

impl PeerManager {
    /// A manager for the node `secret` on `chain`. Nothing runs until [`PeerManager::run_listener`],
    /// [`PeerManager::connect`] or [`PeerManager::restore_persistent`]; everything stops when
    /// `shutdown` turns true.
    pub fn new(
        secret: SecretKey,
        chain: ChainHash,
        limits: PeerLimits,
        handler: Arc<dyn PeerEventHandler>,
        store: Option<Store>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (done_tx, done_rx) = mpsc::channel(1);
        PeerManager {
            inner: Arc::new(Inner {
                node_id: PublicKey::from_secret_key(&Secp256k1::signing_only(), &secret),
                secret,
                chain,
                features: Features::ours(),
                pending: Arc::new(Semaphore::new(limits.max_pending)),
                limits,
                handler,
                store,
                state: Mutex::new(State::default()),
                shutdown,
                task_done: Mutex::new(Some(done_tx)),
                task_done_rx: tokio::sync::Mutex::new(done_rx),
            }),
        }
    }

    /// Offers `features` in our `init` instead of [`Features::ours`] (an LSP adds
    /// `option_supports_lsps`). Only on a manager no connection used yet.
    pub fn with_features(mut self, features: Features) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.features = features,
            None => tracing::error!("init features set on a manager in use; keeping the default"),
        }
        self
    }

    pub fn node_id(&self) -> PublicKey {
        self.inner.node_id
    }

    pub fn limits(&self) -> &PeerLimits {
        &self.inner.limits
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one still holds consistent maps.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Spawns a task the shutdown waits for; `false` when shutting down.
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) -> bool {
        let guard = match self.inner.task_done.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let Some(guard) = guard else {
            return false;
        };
        tokio::spawn(async move {
            task.await;
            drop(guard);
        });
        true
    }

    /// Accepts peers until shutdown. A connection beyond the setup pool is closed at once.
    pub async fn run_listener(&self, listener: TcpListener) {
        let mut shutdown = self.inner.shutdown.clone();
        loop {
            tokio::select! {
                _ = crate::net::stopped(&mut shutdown) => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, addr)) => match self.inner.pending.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let me = self.clone();
                            self.spawn(async move { me.inbound(stream, addr, permit).await });
                        }
                        Err(_) => {
                            tracing::debug!(%addr, "too many connections in setup: closed");
                            drop(stream);
                        }
                    },
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accepting a peer connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    }

    /// Waits until every task of the manager has finished. Call after the shutdown signal.
    pub async fn wait_stopped(&self) {
        drop(
            self.inner
                .task_done
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        let mut rx = self.inner.task_done_rx.lock().await;
        let _ = rx.recv().await;
    }

    /// Runs `setup` under the handshake timeout, giving up at shutdown.
    async fn bounded_setup<T>(
        &self,
        setup: impl Future<Output = Result<T, SetupError>>,
    ) -> Result<T, SetupError> {
        let limit = self.inner.limits.handshake_timeout;
        let mut shutdown = self.inner.shutdown.clone();
        tokio::select! {
            _ = crate::net::stopped(&mut shutdown) => Err(SetupError::ShuttingDown),
            r = tokio::time::timeout(limit, setup) => r.unwrap_or(Err(SetupError::Timeout(limit))),
        }
    }

    async fn inbound(self, mut stream: TcpStream, addr: SocketAddr, permit: OwnedSemaphorePermit) {
        let _ = stream.set_nodelay(true);
        let (secret, chain) = (self.inner.secret, self.inner.chain);
        let features = self.inner.features.clone();
        let setup = async {
            let mut t = handshake::respond(&mut stream, secret).await?;
            let init = handshake::exchange_init_with(&mut stream, &mut t, chain, features).await?;
            Ok((t, init))
        };
        let (transport, init) = match self.bounded_setup(setup).await {
            Ok(r) => r,
            Err(e) => {
                log_setup_failure(&addr.to_string(), &e);
                return;
            }
        };
        drop(permit);
        self.establish(stream, transport, init, addr, Direction::Inbound, None)
            .await;
    }

    /// Connects to `node_id` at `addr` (`host:port`) and keeps it: after a disconnection or a
    /// restart we reconnect. Already connected: the address is remembered, nothing else.
    pub async fn connect(&self, node_id: PublicKey, addr: &str) -> Result<PeerSummary, PeerError> {
        if node_id == self.inner.node_id {
            return Err(SetupError::SelfConnect.into());
        }
        let summary = match self.summary(&node_id) {
            Some(s) => s,
            None => self.connect_once(node_id, addr).await?,
        };
        self.remember(node_id, addr).await?;
        Ok(PeerSummary {
            persistent: true,
            ..summary
        })
    }

    async fn connect_once(
        &self,
        node_id: PublicKey,
        addr: &str,
    ) -> Result<PeerSummary, SetupError> {
        let permit = self
            .inner
            .pending
            .clone()
            .try_acquire_owned()
            .map_err(|_| SetupError::TooManyPending(self.inner.limits.max_pending))?;
        let (secret, chain) = (self.inner.secret, self.inner.chain);
        let features = self.inner.features.clone();
        let setup = async {
            let mut stream =
                TcpStream::connect(addr)
                    .await
                    .map_err(|source| SetupError::Connect {
                        addr: addr.to_string(),
                        source,
                    })?;
            let _ = stream.set_nodelay(true);
            let peer_addr = stream.peer_addr()?;
            let mut t = handshake::initiate(&mut stream, secret, node_id).await?;
            let init = handshake::exchange_init_with(&mut stream, &mut t, chain, features).await?;
            Ok((stream, peer_addr, t, init))
        };
        let (stream, peer_addr, transport, init) = self.bounded_setup(setup).await?;
        drop(permit);
        let (ready_tx, ready_rx) = oneshot::channel();
        let me = self.clone();
        let spawned = self.spawn(async move {
            me.establish(
                stream,
                transport,
                init,
                peer_addr,
                Direction::Outbound,
                Some(ready_tx),
            )
            .await
        });
        if !spawned {
            return Err(SetupError::ShuttingDown);
        }
        ready_rx.await.unwrap_or(Err(SetupError::ShuttingDown))
    }

    /// Registers a peer that finished setup and runs its connection to the end.
    async fn establish(
        self,
        stream: TcpStream,
        transport: Transport,
        init: Init,
        addr: SocketAddr,
        direction: Direction,
        ready: Option<oneshot::Sender<Result<PeerSummary, SetupError>>>,
    ) {
        let node_id = transport.remote_static;
        let limits = self.inner.limits.clone();
        let (out_tx, out_rx) = mpsc::channel(limits.outgoing_queue);
        // Control requests are rare (API pings): a small queue is plenty.
        let (ctl_tx, ctl_rx) = mpsc::channel(4);
        let (close_tx, close_rx) = oneshot::channel();
        let stats = Arc::new(PeerStats::default());
        let mut slot = Slot {
            conn_id: ConnId(0),
            addr,
            direction,
            connected_since: SystemTime::now(),
            features: init.all_features(),
            out_tx: out_tx.clone(),
            ctl_tx,
            close_tx: Some(close_tx),
            stats: stats.clone(),
        };
        let registered = {
            let mut st = self.state();
            if !st.peers.contains_key(&node_id) && st.peers.len() >= limits.max_peers {
                Err(SetupError::TooManyPeers(limits.max_peers))
            } else {
                let persistent = st.persistent.contains_key(&node_id);
                let conn_id = ConnId(st.next_conn_id);
                st.next_conn_id += 1;
                slot.conn_id = conn_id;
                let summary = summarize(node_id, &slot, persistent);
                if let Some(mut old) = st.peers.insert(node_id, slot) {
                    tracing::info!(%node_id, "a newer connection replaces the older one");
                    old.close(CloseReason::Replaced);
                }
                // Under the lock: the handler hears of connections in registration order,
                // and before anyone who sees this peer listed can queue work behind it.
                self.inner.handler.peer_connected(node_id, conn_id, &init);
                Ok((conn_id, summary))
            }
        };
        let conn_id = match &registered {
            Ok((conn_id, _)) => Some(*conn_id),
            Err(e) => {
                tracing::info!(%node_id, %addr, error = %e, "peer refused");
                None
            }
        };
        if let Some(ready) = ready {
            let _ = ready.send(registered.map(|(_, summary)| summary));
        }
        let Some(conn_id) = conn_id else {
            return;
        };
        tracing::info!(%node_id, %addr, conn = %conn_id, direction = direction.as_str(), "peer connected");

        let reason = Connection {
            node_id,
            conn_id,
            stream,
            transport,
            limits,
            handler: self.inner.handler.clone(),
            stats,
        }
        .run(Wiring {
            out_tx,
            out_rx,
            ctl_rx,
            close_rx,
            shutdown: self.inner.shutdown.clone(),
        })
        .await;

        let still_ours = {
            let mut st = self.state();
            if st.peers.get(&node_id).map(|s| s.conn_id) == Some(conn_id) {
                st.peers.remove(&node_id);
                self.inner.handler.peer_disconnected(node_id, conn_id);
                true
            } else {
                false
            }
        };
        tracing::info!(%node_id, %addr, reason = %reason, "peer disconnected");
        if still_ours && reason.wants_reconnect() {
            self.schedule_reconnect(node_id, self.inner.limits.reconnect_min);
        }
    }

    /// Closes the peer's connection, if any (it stays remembered); whether there was one.
    fn close_if_connected(&self, node_id: PublicKey) -> bool {
        let mut st = self.state();
        match st.peers.remove(&node_id) {
            Some(mut slot) => {
                slot.close(CloseReason::Requested);
                self.inner.handler.peer_disconnected(node_id, slot.conn_id);
                true
            }
            None => false,
        }
    }

    /// Disconnects a peer and forgets it (no reconnection, removed from the store).
    ///
    /// # Errors
    /// [`PeerError::NotConnected`] when it was neither connected nor remembered.
    pub async fn disconnect(&self, node_id: PublicKey) -> Result<(), PeerError> {
        let remembered = self.state().persistent.remove(&node_id).is_some();
        let connected = self.close_if_connected(node_id);
        if let Some(store) = &self.inner.store {
            store
                .write(move |tx| peer_store::remove(tx, &node_id))
                .await
                .map_err(|e| PeerError::Store(e.to_string()))?;
        }
        if connected || remembered {
            Ok(())
        } else {
            Err(PeerError::NotConnected(node_id.to_string()))
        }
    }

    /// Every established peer, by node id.
    pub fn list(&self) -> Vec<PeerSummary> {
        let st = self.state();
        let mut out: Vec<_> = st
            .peers
            .iter()
            .map(|(id, slot)| summarize(*id, slot, st.persistent.contains_key(id)))
            .collect();
        out.sort_by_key(|p| p.node_id.serialize());
        out
    }

    pub fn summary(&self, node_id: &PublicKey) -> Option<PeerSummary> {
        let st = self.state();
        st.peers
            .get(node_id)
            .map(|slot| summarize(*node_id, slot, st.persistent.contains_key(node_id)))
    }

    /// Pings a peer and waits for its pong: the round-trip time.
    pub async fn ping(
        &self,
        node_id: PublicKey,
        num_pong_bytes: u16,
    ) -> Result<Duration, PeerError> {
        let not_connected = || PeerError::NotConnected(node_id.to_string());
        let ctl = self
            .state()
            .peers
            .get(&node_id)
            .map(|s| s.ctl_tx.clone())
            .ok_or_else(not_connected)?;
        let wait = self.inner.limits.pong_timeout;
        let exchange = async {
            let (reply, answer) = oneshot::channel();
            ctl.send(Control::Ping {
                num_pong_bytes,
                reply,
            })
            .await
            .map_err(|_| not_connected())?;
            answer.await.map_err(|_| not_connected())?
        };
        tokio::time::timeout(wait, exchange)
            .await
            .unwrap_or(Err(PeerError::PingTimeout(wait)))
    }

    /// Queues a message to a peer without ever waiting: a peer whose outgoing queue is full is
    /// not reading, and is disconnected at once ([`PeerError::SlowReader`]); its channels go
    /// through their disconnection and reestablish on the next connection. So no slow or
    /// silent peer can hold up the caller (the channel actor serves every peer).
    pub async fn send(&self, node_id: PublicKey, message: Message) -> Result<(), PeerError> {
        self.send_to_slot(node_id, None, message)
    }

    /// [`Self::send`], only on connection `conn`: a message meant for a connection that was
    /// replaced in the meantime is not sent on the newer one (which starts its own exchange,
    /// BOLT 2's `channel_reestablish` first).
    pub async fn send_on(
        &self,
        node_id: PublicKey,
        conn: ConnId,
        message: Message,
    ) -> Result<(), PeerError> {
        self.send_to_slot(node_id, Some(conn), message)
    }

    /// The peer's current connection, if any.
    pub fn connection_of(&self, node_id: &PublicKey) -> Option<ConnId> {
        self.state().peers.get(node_id).map(|s| s.conn_id)
    }

    fn send_to_slot(
        &self,
        node_id: PublicKey,
        conn: Option<ConnId>,
        message: Message,
    ) -> Result<(), PeerError> {
        let mut st = self.state();
        let slot = st
            .peers
            .get_mut(&node_id)
            .filter(|s| conn.map_or(true, |c| c == s.conn_id))
            .ok_or_else(|| PeerError::NotConnected(node_id.to_string()))?;
        match slot.out_tx.try_send(Outgoing::Message(Box::new(message))) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::info!(%node_id, queue = self.inner.limits.outgoing_queue,
                    "outgoing queue full: the peer does not read, disconnecting");
                slot.close(CloseReason::SlowReader);
                Err(PeerError::SlowReader)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Err(PeerError::NotConnected(node_id.to_string()))
            }
        }
    }
}

fn summarize(node_id: PublicKey, slot: &Slot, persistent: bool) -> PeerSummary {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    PeerSummary {
        node_id,
        addr: slot.addr,
        direction: slot.direction,
        connected_since: slot.connected_since,
        features: slot.features.clone(),
        persistent,
        messages_received: get(&slot.stats.messages_received),
        messages_sent: get(&slot.stats.messages_sent),
        pings_received: get(&slot.stats.pings_received),
        pongs_received: get(&slot.stats.pongs_received),
    }
}

/// Peers that are merely gone or slow are routine (debug); ones that refused our terms or
/// failed the handshake are worth an operator's attention.
fn log_setup_failure(addr: &str, e: &SetupError) {
    match e {
        SetupError::Io(_) | SetupError::Timeout(_) | SetupError::ShuttingDown => {
            tracing::debug!(%addr, error = %e, "inbound connection failed setup")
        }
        _ => tracing::info!(%addr, error = %e, "inbound connection refused"),
    }
}
