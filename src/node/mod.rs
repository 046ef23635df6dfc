//! The `chanhub node` daemon: wires keys, store, chain, wallet, peer port and API together.
//!
//! [`Node::start`] brings everything up and writes `DIR/node.json`; [`RunningNode::shutdown`]
//! stops every task (a `watch` channel flips, each task finishes its current step), waits for
//! them, and removes `node.json`. The store's single connection closes last, so every write
//! that was acknowledged is on disk.

pub mod chain_backend;
pub mod channels;
pub mod datadir;
pub mod gossip;
mod identity;
pub mod invoices;
pub mod lsp;
pub mod lsp_orders;
pub mod payer;
mod peer;
pub mod supervise;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::api::{self, ApiState};
use crate::chain::rpc_server::RunningRpcServer;
use crate::config::NodeConfig;
use crate::events::EventLog;
use crate::keys::{KeysError, KeysManager, Seed};
use crate::payments::types::MIN_CLTV_DELTA;
use crate::payments::{FeePolicy, SharedPolicy};
use crate::store::{Store, StoreError, DB_FILE};
use crate::wallet::{Wallet, WalletError};
use chain_backend::ChainBackend;
use datadir::NodeJson;

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Wallet(#[from] WalletError),
    #[error("chain: {0}")]
    Chain(String),
    #[error("{0}")]
    Identity(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NodeError {
    let what = what.into();
    move |source| NodeError::Io { what, source }
}

/// A started node. Dropping it without [`RunningNode::shutdown`] aborts its tasks.
pub struct RunningNode {
    pub node_json: NodeJson,
    pub wallet: Arc<Wallet>,
    channels: channels::Channels,
    /// The live fee policy, shared by the API and the HTLC router.
    policy: SharedPolicy,
    /// The database, for the few questions asked of it directly (the tower backlog).
    store: Store,
    datadir: PathBuf,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Deaths of the critical tasks (see `supervise`).
    died: mpsc::UnboundedReceiver<supervise::TaskDied>,
    /// The embedded chain's RPC server, stopped last: other nodes may depend on it.
    chain_rpc: Option<RunningRpcServer>,
}

pub struct Node;

impl Node {
    /// Starts a node with `config`: see the module docs.
    pub async fn start(config: NodeConfig) -> Result<RunningNode, NodeError> {
        let dir = config.datadir.clone();
        datadir::create(&dir).map_err(io(format!("creating {}", dir.display())))?;

        let (seed, fresh_seed) = Seed::load_or_create(&dir)?;
        let keys = Arc::new(KeysManager::new(&seed, config.network));
        let db_path = dir.join(DB_FILE);
        let store = tokio::task::spawn_blocking(move || Store::open(&db_path))
            .await
            .map_err(|e| NodeError::Store(StoreError::Task(e.to_string())))??;
        identity::check(&store, &keys).await?;
        let token = api::auth::load_or_create_token(&dir).map_err(io("API token"))?;
        let invoice_token =
            api::auth::load_or_create_invoice_token(&dir).map_err(io("API invoice token"))?;

        let mut chain = match &config.bitcoind {
            None => ChainBackend::embedded(&dir).await?,
            Some(b) => ChainBackend::bitcoind(b, config.network).await?,
        };
        let wallet = Arc::new(
            Wallet::open(
                keys.clone(),
                store.clone(),
                chain.source.clone(),
                chain.mempool.clone(),
                fresh_seed,
            )
            .await?,
        );
        match wallet.sync().await {
            Ok(r) => tracing::info!(height = r.height, "wallet synced"),
            // A chain that is down now may be up later: the sync loop keeps trying.
            Err(e) => tracing::warn!(error = %e, "initial wallet sync failed"),
        }

        let peer_listener = TcpListener::bind(config.listen)
            .await
            .map_err(io(format!("binding the peer port {}", config.listen)))?;
        let peer_addr = peer_listener.local_addr().map_err(io("peer port"))?;
        let api_listener = TcpListener::bind(config.api)
            .await
            .map_err(io(format!("binding the API {}", config.api)))?;
        let api_addr = api_listener.local_addr().map_err(io("API port"))?;
        let compat_listener = match config.compat_phoenixd {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(io(format!("binding the phoenixd-compatible API {addr}")))?,
            ),
            None => None,
        };
        let compat_addr = compat_listener
            .as_ref()
            .map(|l| l.local_addr())
            .transpose()
            .map_err(io("phoenixd-compatible API port"))?;

        let policy = load_policy(&store, config.policy).await?;
        let events = EventLog::open(store.clone()).await?;

        let (shutdown, signal) = watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(events.clone().run_publisher(signal.clone())),
            tokio::spawn(crate::events::run_retention(store.clone(), signal.clone())),
            tokio::spawn(crate::events::delivery::run(
                events.clone(),
                config.webhooks,
                signal.clone(),
            )),
        ];
        let chain_hash = bitcoin::constants::ChainHash::using_genesis_block_const(config.network);
        let tower_wake = config.watchtower.as_ref().map(|t| {
            let wake = channels::TowerWake::default();
            let cfg =
                crate::tower::client::ClientConfig::new(*keys.node_secret(), t.clone(), chain_hash);
            tracing::info!(tower = %t, "revoked states go to the watchtower");
            tasks.push(tokio::spawn(crate::tower::client::run(
                cfg,
                store.clone(),
                wake.clone(),
                signal.clone(),
            )));
            wake
        });
        let node_id = keys.node_id();
        let (gossip_inbox, gossip_shared, start_gossip) = gossip::spawn(
            gossip::GossipConfig {
                chain_hash,
                identity: crate::gossip::announce::NodeIdentity {
                    alias: config.alias_for(&node_id),
                    color: config.color,
                    addresses: config.announce_addrs.clone(),
                    features: crate::wire::Features::ours_lsp(
                        config.lsps2.is_some() || config.lsps1.is_some(),
                    ),
                },
                sync: crate::gossip::SyncConfig {
                    flush_interval_secs: config.gossip_stagger_secs,
                    ..Default::default()
                },
                tick: std::time::Duration::from_secs(1),
            },
            keys.clone(),
            store.clone(),
            chain.source.clone(),
            policy.clone(),
        )
        .await?;
        let (part_sink, part_source) = payer::outcome_queue();
        let (handler, channels, start_channels) = channels::spawn(channels::ManagerConfig {
            channel: crate::channel::ChannelConfig {
                max_dust_htlc_exposure_msat: config.max_dust_htlc_exposure_msat,
                ..Default::default()
            },
            chain_hash,
            network: config.network,
            policy: policy.clone(),
            manual_htlcs: config.dev_manual_htlcs,
            resolution_depth: config.resolution_depth,
            max_closing_fee_multiple: config.max_closing_fee_multiple,
            jamming: config.jamming,
            accept_keysend: config.accept_keysend,
            mpp_timeout: config.mpp_timeout,
            zeroconf_peers: config.zeroconf_peers.iter().copied().collect(),
            keys: keys.clone(),
            store: store.clone(),
            wallet: wallet.clone(),
            chain: chain.source.clone(),
            tower: tower_wake,
            events: events.clone(),
            gossip: Some(gossip_inbox.clone()),
            payer: Some(part_sink),
            lsps2: config.lsps2.clone(),
        });
        let (network, announces) = (config.network, !config.announce_addrs.is_empty());
        // LSPS0 always; LSPS1 and LSPS2 when `[lsps1]` and `[lsps2]` are configured.
        let lsps1 = config.lsps1.clone().map(|config| lsp_orders::Lsps1Runtime {
            config,
            store: store.clone(),
            wallet: wallet.clone(),
            channels: channels.clone(),
            events: events.clone(),
            node_key: *keys.node_secret(),
            network,
            announces,
        });
        let (lsp_inbox, start_lsp) = lsp::spawn(
            lsps1,
            config.lsps2.clone().map(|config| lsp::Lsps2Runtime {
                config,
                key: crate::lsps::lsps2::PromiseKey(keys.lsps2_promise_secret()),
                store: store.clone(),
                wallet: wallet.clone(),
            }),
        );
        let handler = std::sync::Arc::new(gossip::Dispatch {
            channels: handler,
            gossip: gossip_inbox,
            lsp: lsp_inbox,
        });
        let peers = peer::manager(&config, &keys, store.clone(), handler, signal.clone());
        // Channels load before the peer port opens, so a reconnecting peer finds them.
        let critical = start_channels.start(peers.clone(), signal.clone());
        let (payer, payer_task) = payer::spawn(
            payer::PayerConfig {
                node_key: *keys.node_secret(),
                network: config.network,
                store: store.clone(),
                events: events.clone(),
                graph: gossip_shared.graph.clone(),
                channels: channels.clone(),
                save_every: std::time::Duration::from_secs(60),
            },
            part_source,
            signal.clone(),
        )
        .await?;
        tasks.push(payer_task);
        tasks.push(start_gossip.start(peers.clone(), signal.clone()));
        tasks.push(start_lsp.start(peers.clone(), signal.clone()));
        let (watchers, died) = supervise::supervise(critical, &signal);
        tasks.extend(watchers);
        tasks.push(tokio::spawn(peer::run(peers.clone(), peer_listener)));
        tasks.push(tokio::spawn(sync_loop(
            wallet.clone(),
            config.sync_interval,
            signal.clone(),
        )));
        if let Some(listener) = compat_listener {
            let secrets = crate::compat::phoenixd::Secrets::load_or_create(&dir)
                .map_err(io("phoenixd-compatible API passwords"))?;
            let compat = crate::compat::phoenixd::CompatState {
                node_id: keys.node_id(),
                network: config.network,
                store: store.clone(),
                node_key: *keys.node_secret(),
                channels: channels.clone(),
                payer: payer.clone(),
                events: events.clone(),
                secrets: Arc::new(secrets),
                shutdown: signal.clone(),
            };
            tasks.push(tokio::spawn(crate::compat::phoenixd::run_webhooks(
                compat.clone(),
            )));
            let mut stop = signal.clone();
            tasks.push(tokio::spawn(async move {
                let stop = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                if let Err(e) = crate::compat::phoenixd::serve(listener, compat, stop).await {
                    tracing::error!(error = %e, "phoenixd-compatible API failed");
                }
            }));
        }
        let state = ApiState {
            node_id: keys.node_id(),
            network: config.network,
            peer_addr,
            wallet: wallet.clone(),
            chain: chain.source.clone(),
            control: chain.control.clone(),
            token: token.into(),
            invoice_token: invoice_token.into(),
            peers,
            channels: channels.clone(),
            dev_api: config.dev_api,
            announce_addrs: config.announce_addrs.clone(),
            store: store.clone(),
            node_key: *keys.node_secret(),
            policy: policy.clone(),
            events,
            gossip: gossip_shared,
            payer,
            shutdown: signal.clone(),
        };
        let mut api_signal = signal.clone();
        tasks.push(tokio::spawn(async move {
            let stop = async move {
                let _ = api_signal.wait_for(|s| *s).await;
            };
            if let Err(e) = api::serve(api_listener, state, stop).await {
                tracing::error!(error = %e, "API server failed");
            }
        }));

        let node_json = NodeJson {
            node_id: keys.node_id().to_string(),
            network: config.network.to_string(),
            peer_addr,
            api_addr,
            api_token_file: dir.join(api::auth::TOKEN_FILE),
            chain_rpc_addr: chain.served_rpc().map(|(a, _)| a),
            chain_rpc_cookie: chain.served_rpc().map(|(_, c)| c),
            compat_phoenixd_addr: compat_addr,
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        node_json.write(&dir).map_err(io("writing node.json"))?;
        tracing::info!(
            node_id = %node_json.node_id,
            %peer_addr,
            %api_addr,
            chain_rpc = ?node_json.chain_rpc_addr,
            compat_phoenixd = ?compat_addr,
            "node started"
        );
        Ok(RunningNode {
            node_json,
            wallet,
            channels,
            policy,
            store,
            datadir: dir,
            shutdown,
            tasks,
            died,
            chain_rpc: chain.rpc_server.take(),
        })
    }
}

impl RunningNode {
    pub fn api_addr(&self) -> SocketAddr {
        self.node_json.api_addr
    }

    /// The channel manager: open, inspect, update and close channels in-process.
    pub fn channels(&self) -> &channels::Channels {
        &self.channels
    }

    /// Revoked states queued for the watchtower and not yet stored by it (0 without a tower).
    pub async fn tower_backlog(&self) -> Result<u64, StoreError> {
        self.store.call(crate::store::tower::backlog).await
    }

    /// The live fee policy (the one `PUT /v1/policy` changes), for the HTLC router.
    pub fn policy(&self) -> &SharedPolicy {
        &self.policy
    }

    /// Resolves when a critical task died (see `supervise`); never if none does.
    pub async fn died(&mut self) -> supervise::TaskDied {
        match self.died.recv().await {
            Some(d) => d,
            None => std::future::pending().await,
        }
    }

    /// Runs until `signal` resolves, then shuts down; or until a critical task dies, then
    /// shuts down what is left and returns the death.
    pub async fn run_until(
        mut self,
        signal: impl std::future::Future<Output = ()>,
    ) -> Result<(), supervise::TaskDied> {
        let died = tokio::select! {
            _ = signal => None,
            d = self.died() => Some(d),
        };
        tracing::info!("shutting down");
        self.shutdown().await;
        died.map_or(Ok(()), Err)
    }

    /// Stops every task, waits for them, and removes `node.json`.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        if let Some(rpc) = self.chain_rpc.take() {
            rpc.shutdown().await;
        }
        NodeJson::remove(&self.datadir);
        tracing::info!("node stopped");
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// The live fee policy at start: the one set through the API (stored) wins over `configured`
/// (the config file's, or the defaults).
/// A stored `cltv_delta` below today's minimum (an older release accepted 18) is raised to it.
async fn load_policy(store: &Store, configured: FeePolicy) -> Result<SharedPolicy, StoreError> {
    let stored = store.call(crate::store::payments::get_policy).await?;
    let mut policy = stored.unwrap_or(configured);
    if policy.cltv_delta < MIN_CLTV_DELTA {
        tracing::warn!(
            stored = policy.cltv_delta,
            now = MIN_CLTV_DELTA,
            "the stored policy's cltv_delta is below the minimum; raised"
        );
        policy.cltv_delta = MIN_CLTV_DELTA;
    }
    Ok(Arc::new(RwLock::new(policy)))
}

/// Keeps the wallet at the chain's tip.
async fn sync_loop(
    wallet: Arc<Wallet>,
    every: std::time::Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut failing = false;
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            _ = tokio::time::sleep(every) => {}
        }
        match wallet.sync().await {
            Ok(_) if failing => {
                tracing::info!("chain reachable again");
                failing = false;
            }
            Ok(_) => {}
            // Log a failure once, not every second while the chain is down.
            Err(e) if !failing => {
                tracing::warn!(error = %e, "wallet sync failed; retrying");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stored_policy_wins_over_the_configured_one() {
        let store = Store::open_in_memory().unwrap();
        let configured = FeePolicy {
            base_msat: 5,
            ppm: 6,
            cltv_delta: 70,
        };
        let p = load_policy(&store, configured).await.unwrap();
        assert_eq!(*p.read().unwrap(), configured);
        let stored = FeePolicy {
            base_msat: 0,
            ppm: 1,
            cltv_delta: 144,
        };
        store
            .write(move |tx| crate::store::payments::set_policy(tx, &stored))
            .await
            .unwrap();
        let p = load_policy(&store, configured).await.unwrap();
        assert_eq!(*p.read().unwrap(), stored);
        let old = FeePolicy {
            cltv_delta: 18,
            ..stored
        };
        store
            .write(move |tx| crate::store::payments::set_policy(tx, &old))
            .await
            .unwrap();
        let p = load_policy(&store, configured).await.unwrap();
        assert_eq!(p.read().unwrap().cltv_delta, MIN_CLTV_DELTA, "raised");
    }
}
