//! `chanhub tower --datadir DIR --listen ADDR`: the tower as a service.
//!
//! The data directory holds the tower's `seed` (its node key derives from it as a node's does,
//! so its id is stable), `tower.sqlite`, and `tower.json` (written once the tower listens,
//! removed at a clean stop). The tower does not run a chain of its own: it follows an existing
//! one over bitcoind-compatible JSON-RPC (a bitcoind, or a node's embedded chain).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::Network;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::server::{self, ServerConfig};
use super::store::{Quota, MIGRATIONS, TOWER_DB_FILE};
use crate::config::{
    parse_network, resolve_bitcoind, BitcoindConfig, BitcoindFlags, ConfigError, LogFormat,
};
use crate::keys::secret_file::sync_dir;
use crate::keys::{KeysManager, Seed};
use crate::node::chain_backend::ChainBackend;
use crate::node::NodeError;
use crate::store::{Store, StoreError};

pub const TOWER_JSON: &str = "tower.json";
pub const DEFAULT_TOWER_LISTEN: &str = "127.0.0.1:9911";
/// How often the tower asks the chain for its tip.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Flags of `chanhub tower`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TowerArgs {
    /// The tower's data directory (created if missing).
    #[arg(long)]
    pub datadir: PathBuf,
    /// Address clients connect to (port 0: the OS chooses; see tower.json).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// regtest (default), testnet, signet or bitcoin.
    #[arg(long)]
    pub network: Option<String>,
    /// URL of the bitcoind-compatible JSON-RPC server of the chain to watch (required).
    #[arg(long)]
    pub bitcoind_rpc: Option<String>,
    /// RPC user name (with --bitcoind-password).
    #[arg(long)]
    pub bitcoind_user: Option<String>,
    /// RPC password (with --bitcoind-user).
    #[arg(long)]
    pub bitcoind_password: Option<String>,
    /// Cookie file with `user:password`, as bitcoind writes it.
    #[arg(long)]
    pub bitcoind_cookie: Option<PathBuf>,
    /// Blobs one client may store; past it uploads are refused (default 100000).
    #[arg(long)]
    pub max_blobs_per_client: Option<u64>,
    /// Clients the tower serves; a new client past it is refused (default 1000).
    #[arg(long)]
    pub max_clients: Option<u64>,
    /// text (default) or json.
    #[arg(long)]
    pub log_format: Option<String>,
}

/// A resolved tower configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TowerConfig {
    pub datadir: PathBuf,
    pub listen: SocketAddr,
    pub network: Network,
    pub bitcoind: BitcoindConfig,
    pub quota: Quota,
    pub log_format: LogFormat,
    pub poll_interval: Duration,
}

impl TowerConfig {
    /// # Errors
    /// Without `--bitcoind-rpc` (the tower watches a chain, it does not run one), bad
    /// credentials, a zero limit.
    pub fn resolve(a: TowerArgs) -> Result<Self, ConfigError> {
        let network = match a.network {
            Some(n) => parse_network(&n)?,
            None => Network::Regtest,
        };
        let bitcoind = resolve_bitcoind(
            BitcoindFlags {
                url: a.bitcoind_rpc,
                user: a.bitcoind_user,
                password: a.bitcoind_password,
                cookie: a.bitcoind_cookie,
            },
            BitcoindFlags::default(),
        )?
        .ok_or_else(|| {
            ConfigError::Watchtower(
                "the tower follows an existing chain: give --bitcoind-rpc (and credentials)".into(),
            )
        })?;
        let d = Quota::default();
        let quota = Quota {
            max_blobs_per_client: a.max_blobs_per_client.unwrap_or(d.max_blobs_per_client),
            max_clients: a.max_clients.unwrap_or(d.max_clients),
        };
        if quota.max_blobs_per_client == 0 || quota.max_clients == 0 {
            return Err(ConfigError::Watchtower("limits must be at least 1".into()));
        }
        Ok(TowerConfig {
            datadir: a.datadir,
            listen: a
                .listen
                .unwrap_or_else(|| DEFAULT_TOWER_LISTEN.parse().expect("valid default")),
            network,
            bitcoind,
            quota,
            log_format: match a.log_format {
                Some(f) => f.parse()?,
                None => LogFormat::Text,
            },
            poll_interval: POLL_INTERVAL,
        })
    }
}

/// `DIR/tower.json`: how to reach the running tower.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TowerJson {
    /// The tower's node id: clients give `--watchtower NODE_ID@LISTEN_ADDR`.
    pub node_id: String,
    pub listen_addr: SocketAddr,
    pub network: String,
    pub pid: u32,
    pub version: String,
}

impl TowerJson {
    /// Writes atomically (temporary file, then rename).
    pub fn write(&self, datadir: &Path) -> std::io::Result<()> {
        let tmp = datadir.join(".tower.json.tmp");
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        std::fs::write(&tmp, text + "\n")?;
        std::fs::rename(&tmp, datadir.join(TOWER_JSON))?;
        sync_dir(datadir)
    }

    pub fn read(datadir: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(datadir.join(TOWER_JSON))?;
        serde_json::from_str(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

/// A started tower; dropping it without [`RunningTower::shutdown`] stops its tasks.
pub struct RunningTower {
    pub json: TowerJson,
    pub store: Store,
    datadir: PathBuf,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

pub struct Tower;

impl Tower {
    /// Opens the data directory, binds `listen`, starts the listener and the chain watcher,
    /// and writes `tower.json`.
    pub async fn start(config: TowerConfig) -> Result<RunningTower, NodeError> {
        let dir = config.datadir.clone();
        let io = |what: String| move |source| NodeError::Io { what, source };
        crate::node::datadir::create(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let (seed, _) = Seed::load_or_create(&dir)?;
        let keys = KeysManager::new(&seed, config.network);
        let db = dir.join(TOWER_DB_FILE);
        let store = tokio::task::spawn_blocking(move || Store::open_with_schema(&db, MIGRATIONS))
            .await
            .map_err(|e| NodeError::Store(StoreError::Task(e.to_string())))??;
        let chain = ChainBackend::bitcoind(&config.bitcoind, config.network).await?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(io(format!("binding {}", config.listen)))?;
        let listen_addr = listener.local_addr().map_err(io("listener".into()))?;

        let (shutdown, signal) = watch::channel(false);
        let chain_hash = bitcoin::constants::ChainHash::using_genesis_block_const(config.network);
        let server_cfg = ServerConfig::new(*keys.node_secret(), chain_hash, config.quota);
        let tasks = vec![
            tokio::spawn(server::serve(
                listener,
                server_cfg,
                store.clone(),
                signal.clone(),
            )),
            tokio::spawn(super::watch::run(
                Arc::clone(&chain.source),
                store.clone(),
                config.poll_interval,
                signal,
            )),
        ];
        let json = TowerJson {
            node_id: keys.node_id().to_string(),
            listen_addr,
            network: config.network.to_string(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        json.write(&dir).map_err(io("writing tower.json".into()))?;
        tracing::info!(
            node_id = %json.node_id,
            %listen_addr,
            max_blobs_per_client = config.quota.max_blobs_per_client,
            max_clients = config.quota.max_clients,
            "tower started"
        );
        Ok(RunningTower {
            json,
            store,
            datadir: dir,
            shutdown,
            tasks,
        })
    }
}

impl RunningTower {
    /// Stops listening and watching, waits for the tasks, removes `tower.json`.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
        let _ = std::fs::remove_file(self.datadir.join(TOWER_JSON));
        tracing::info!("tower stopped");
    }
}

impl Drop for RunningTower {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> TowerArgs {
        TowerArgs {
            datadir: "t".into(),
            bitcoind_rpc: Some("http://127.0.0.1:18443".into()),
            bitcoind_cookie: Some("c".into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_tower_needs_a_chain_to_follow_and_positive_limits() {
        let c = TowerConfig::resolve(args()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_TOWER_LISTEN);
        assert_eq!(c.quota, Quota::default());
        assert_eq!(c.quota.max_blobs_per_client, 100_000);
        let mut a = args();
        a.bitcoind_rpc = None;
        a.bitcoind_cookie = None;
        let e = TowerConfig::resolve(a).unwrap_err();
        assert!(e.to_string().contains("--bitcoind-rpc"), "{e}");
        let mut a = args();
        a.max_blobs_per_client = Some(0);
        assert!(TowerConfig::resolve(a).is_err());
        let mut a = args();
        a.max_blobs_per_client = Some(7);
        assert_eq!(
            TowerConfig::resolve(a).unwrap().quota.max_blobs_per_client,
            7
        );
    }
}
