//! A bitcoind-compatible JSON-RPC server for the embedded regtest node.
//!
//! Answers as Bitcoin Core does: HTTP Basic auth (user/password and/or a `.cookie` file),
//! JSON-RPC 1.0 and 2.0 requests and batches, Core's field names, error codes and HTTP
//! statuses. What differs from bitcoind is listed in `channel-spec/chain-rpc.md`.
//!
//! Method calls touch the node under its lock and may mine many blocks, so each runs on the
//! blocking pool; a panic in one is answered as an error and the server keeps serving.

mod auth;
mod error;
mod http;
mod json;
mod jsonrpc;
mod methods;
mod params;
mod script;
mod value;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

pub use self::error::{codes, RpcError};
use super::regtest::RegtestNode;

/// bitcoind's `MAX_SIZE`: the largest request body it reads (32 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 0x0200_0000;
/// bitcoind's default `-rpcworkqueue`.
pub const DEFAULT_WORK_QUEUE: usize = 64;
/// How long shutdown waits for requests in flight before dropping them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Who may call the server. Both may be active at once, as with bitcoind.
#[derive(Debug, Clone, Default)]
pub struct RpcAuthConfig {
    pub user_password: Option<(String, String)>,
    /// Where to write `.cookie` (`__cookie__:<random hex>`, mode 0600, removed on shutdown).
    pub cookie_dir: Option<PathBuf>,
}

/// Limits of the server.
#[derive(Debug, Clone)]
pub struct RpcServerOptions {
    /// Larger request bodies are refused with HTTP 413.
    pub max_body_bytes: usize,
    /// Requests handled at once; more are refused with HTTP 503, as bitcoind's work queue.
    pub work_queue: usize,
}

impl Default for RpcServerOptions {
    fn default() -> Self {
        RpcServerOptions {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            work_queue: DEFAULT_WORK_QUEUE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RpcServerError {
    #[error("cannot bind the RPC server to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot write the RPC cookie: {0}")]
    Cookie(std::io::Error),
    #[error("no RPC credentials: configure a user/password or a cookie directory")]
    NoCredentials,
}

/// The server. See [`RpcServer::start`].
pub struct RpcServer;

/// What every request handler shares.
pub(crate) struct Shared {
    pub node: Arc<RegtestNode>,
    pub credentials: auth::Credentials,
    pub options: RpcServerOptions,
    pub work: Arc<Semaphore>,
    /// Set by the `stop` method.
    pub stop: watch::Sender<bool>,
}

/// A server accepting connections. Shut it down with [`RunningRpcServer::shutdown`]; dropping
/// it also stops accepting and lets the requests in flight finish.
pub struct RunningRpcServer {
    addr: SocketAddr,
    cookie: Option<PathBuf>,
    shutdown: watch::Sender<bool>,
    stop: watch::Receiver<bool>,
    task: Option<JoinHandle<()>>,
}

impl RpcServer {
    /// Binds `bind` (port 0 lets the OS choose) and serves `node` with default limits.
    pub async fn start(
        node: Arc<RegtestNode>,
        bind: SocketAddr,
        auth: RpcAuthConfig,
    ) -> Result<RunningRpcServer, RpcServerError> {
        Self::start_with(node, bind, auth, RpcServerOptions::default()).await
    }

    pub async fn start_with(
        node: Arc<RegtestNode>,
        bind: SocketAddr,
        auth: RpcAuthConfig,
        options: RpcServerOptions,
    ) -> Result<RunningRpcServer, RpcServerError> {
        let mut accepted = Vec::new();
        if let Some((user, password)) = auth.user_password {
            accepted.push((user, password));
        }
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| RpcServerError::Bind { addr: bind, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| RpcServerError::Bind { addr: bind, source })?;
        let mut cookie = None;
        if let Some(dir) = &auth.cookie_dir {
            let (path, password) = auth::write_cookie(dir).map_err(RpcServerError::Cookie)?;
            accepted.push((auth::COOKIE_USER.to_owned(), password));
            cookie = Some(path);
        }
        if accepted.is_empty() {
            return Err(RpcServerError::NoCredentials);
        }
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            node,
            credentials: auth::Credentials::new(accepted),
            work: Arc::new(Semaphore::new(options.work_queue.max(1))),
            options,
            stop: stop_tx,
        });
        tracing::info!(%addr, "RPC server listening");
        let task = tokio::spawn(serve(listener, shared, shutdown_rx, cookie.clone()));
        Ok(RunningRpcServer {
            addr,
            cookie,
            shutdown: shutdown_tx,
            stop: stop_rx,
            task: Some(task),
        })
    }
}

impl RunningRpcServer {
    /// The address really bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The cookie file, when cookie authentication is on.
    pub fn cookie_path(&self) -> Option<PathBuf> {
        self.cookie.clone()
    }

    /// Resolves once a client called `stop`. The server then shuts itself down after
    /// answering; the owner should stop too (and may still call [`Self::shutdown`]).
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stop = self.stop.clone();
        async move { signalled(&mut stop).await }
    }

    /// Stops accepting, lets requests in flight finish, closes connections and removes the
    /// cookie.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningRpcServer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// Resolves once the flag is set, or its sender is gone (which means the same: stopping).
async fn signalled(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}

async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    cookie: Option<PathBuf>,
) {
    let mut stop = shared.stop.subscribe();
    // Connections watch this one signal: set by the owner's shutdown or by `stop`.
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    let closing = closing_rx.clone();
                    connections.spawn(serve_connection(stream, shared, closing));
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("RPC accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = signalled(&mut shutdown) => break,
            _ = signalled(&mut stop) => break,
        }
    }
    drop(listener);
    closing_tx.send_replace(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
    if let Some(path) = cookie {
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!("cannot remove {}: {e}", path.display());
        }
    }
    tracing::info!("RPC server stopped");
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    shared: Arc<Shared>,
    mut closing: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req| http::handle(shared.clone(), req));
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = signalled(&mut closing) => {
            // Finishes the request in flight (e.g. the answer to `stop`), then closes.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
