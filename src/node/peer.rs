//! The node's Lightning peer port: the [`PeerManager`] built from the node's key, chain and
//! store, serving the listener until shutdown.

use std::sync::Arc;

use bitcoin::constants::ChainHash;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::NodeConfig;
use crate::keys::KeysManager;
use crate::net::{PeerEventHandler, PeerManager};
use crate::store::Store;

/// The manager for this node; channel messages go to `handler` (the channel manager).
pub fn manager(
    config: &NodeConfig,
    keys: &KeysManager,
    store: Store,
    handler: Arc<dyn PeerEventHandler>,
    shutdown: watch::Receiver<bool>,
) -> PeerManager {
    PeerManager::new(
        *keys.node_secret(),
        ChainHash::using_genesis_block_const(config.network),
        config.peers.clone(),
        handler,
        Some(store),
        shutdown,
    )
    .with_features(crate::wire::Features::ours_lsp(
        config.lsps2.is_some() || config.lsps1.is_some(),
    ))
}

/// Reconnects to the remembered peers, accepts peers until shutdown, then waits for every
/// peer task to finish.
pub async fn run(peers: PeerManager, listener: TcpListener) {
    match peers.restore_persistent().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(peers = n, "reconnecting to remembered peers"),
        Err(e) => tracing::error!(error = %e, "cannot read remembered peers"),
    }
    peers.run_listener(listener).await;
    peers.wait_stopped().await;
}
