//! `chanhub tower --datadir DIR --listen ADDR --authorized-client NODE_ID`: the tower as a
//! service.
//!
//! The data directory holds the tower's `seed` (its node key derives from it as a node's does,
//! so its id is stable), `tower.sqlite`, and `tower.json` (written once the tower listens,
//! removed at a clean stop). The tower does not run a chain of its own: it follows an existing
//! one over bitcoind-compatible JSON-RPC (a bitcoind, or a node's embedded chain).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use bitcoin::Network;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::clients::{parse_clients_file, Access};
use super::server::{self, ServerConfig};
use super::store::{Quota, MIGRATIONS, TOWER_DB_FILE};
use super::watch::MAX_REBROADCASTS_PER_BLOCK;
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
    /// Serve the client with this node id (repeatable). Without it, --authorized-clients-file
    /// or --public the tower serves nobody.
    #[arg(long = "authorized-client", value_name = "NODE_ID")]
    pub authorized_clients: Vec<String>,
    /// Serve the clients listed in this file: one node id per line, `#` starts a comment
    /// (read at start).
    #[arg(long, value_name = "PATH")]
    pub authorized_clients_file: Option<PathBuf>,
    /// Serve any client (not with an authorized-client list).
    #[arg(long)]
    pub public: bool,
    /// Blobs one client may store; past it uploads are refused (default 100000).
    #[arg(long)]
    pub max_blobs_per_client: Option<u64>,
    /// Bytes of blobs one client may store; past it uploads are refused (default 268435456,
    /// 256 MiB).
    #[arg(long)]
    pub max_bytes_per_client: Option<u64>,
    /// Clients the tower serves; a new client past it is refused (default 1000).
    #[arg(long)]
    pub max_clients: Option<u64>,
    /// A client that has held no blob for this long is forgotten, counters and all (e.g.
    /// 30d, 12h, 90s; default 30d).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub forget_idle_clients_after: Option<Duration>,
    /// Blobs that matched a transaction but do not spend it after which a client is refused
    /// (default 10).
    #[arg(long)]
    pub max_bad_blobs_per_client: Option<u64>,
    /// Justice transactions (re)broadcast per new block; the rest wait for the next
    /// (default 100).
    #[arg(long)]
    pub max_rebroadcasts_per_block: Option<u64>,
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
    pub access: Access,
    pub quota: Quota,
    pub forget_idle_after: Duration,
    pub max_rebroadcasts_per_block: usize,
    pub log_format: LogFormat,
    pub poll_interval: Duration,
}

/// A client that has held no blob for this long is forgotten by default.
pub const DEFAULT_FORGET_IDLE: Duration = Duration::from_secs(30 * 86_400);

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
        let access = resolve_access(a.authorized_clients, a.authorized_clients_file, a.public)?;
        let d = Quota::default();
        let quota = Quota {
            max_blobs_per_client: a.max_blobs_per_client.unwrap_or(d.max_blobs_per_client),
            max_bytes_per_client: a.max_bytes_per_client.unwrap_or(d.max_bytes_per_client),
            max_clients: a.max_clients.unwrap_or(d.max_clients),
            max_bad_blobs_per_client: a
                .max_bad_blobs_per_client
                .unwrap_or(d.max_bad_blobs_per_client),
        };
        let rebroadcasts = a
            .max_rebroadcasts_per_block
            .map_or(Ok(MAX_REBROADCASTS_PER_BLOCK), usize::try_from)
            .map_err(|_| {
                ConfigError::Watchtower("--max-rebroadcasts-per-block is too big".into())
            })?;
        if quota.max_blobs_per_client == 0
            || quota.max_bytes_per_client == 0
            || quota.max_clients == 0
            || quota.max_bad_blobs_per_client == 0
            || rebroadcasts == 0
        {
            return Err(ConfigError::Watchtower("limits must be at least 1".into()));
        }
        let forget_idle_after = a.forget_idle_clients_after.unwrap_or(DEFAULT_FORGET_IDLE);
        if forget_idle_after < Duration::from_secs(1) {
            return Err(ConfigError::Watchtower(
                "--forget-idle-clients-after must be at least 1s".into(),
            ));
        }
        Ok(TowerConfig {
            datadir: a.datadir,
            listen: a
                .listen
                .unwrap_or_else(|| DEFAULT_TOWER_LISTEN.parse().expect("valid default")),
            network,
            bitcoind,
            access,
            quota,
            forget_idle_after,
            max_rebroadcasts_per_block: rebroadcasts,
            log_format: match a.log_format {
                Some(f) => f.parse()?,
                None => LogFormat::Text,
            },
            poll_interval: POLL_INTERVAL,
        })
    }
}

/// The allow-list from `--authorized-client` and `--authorized-clients-file`, or `--public`.
fn resolve_access(
    ids: Vec<String>,
    file: Option<PathBuf>,
    public: bool,
) -> Result<Access, ConfigError> {
    let bad = |e: String| ConfigError::Watchtower(e);
    if public {
        if !ids.is_empty() || file.is_some() {
            return Err(bad("--public serves every client: \
                 give it without --authorized-client or --authorized-clients-file"
                .into()));
        }
        return Ok(Access::Public);
    }
    let mut listed = BTreeSet::new();
    for id in ids {
        let key = id.parse::<PublicKey>().map_err(|_| {
            bad(format!(
                "--authorized-client {id:?} is not a node id (33-byte public key, hex)"
            ))
        })?;
        listed.insert(key);
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| bad(format!("reading {}: {e}", path.display())))?;
        let keys =
            parse_clients_file(&text).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        listed.extend(keys);
    }
    Ok(Access::Listed(listed))
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
        let server_cfg = ServerConfig::new(
            *keys.node_secret(),
            chain_hash,
            config.access.clone(),
            config.quota,
        );
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
                config.max_rebroadcasts_per_block,
                signal.clone(),
            )),
            tokio::spawn(super::clients::forget_idle(
                store.clone(),
                config.forget_idle_after,
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
        if config.access == Access::Listed(Default::default()) {
            // Said before tower.json appears, so whoever waits for it sees this first.
            tracing::warn!(
                "tower: no --authorized-client, --authorized-clients-file or --public: \
                 every client will be refused"
            );
        }
        json.write(&dir).map_err(io("writing tower.json".into()))?;
        let q = config.quota;
        tracing::info!(
            node_id = %json.node_id,
            %listen_addr,
            serves = %config.access.describe(),
            max_blobs_per_client = q.max_blobs_per_client,
            max_bytes_per_client = q.max_bytes_per_client,
            max_clients = q.max_clients,
            max_bad_blobs_per_client = q.max_bad_blobs_per_client,
            forget_idle_clients_after_secs = config.forget_idle_after.as_secs(),
            max_rebroadcasts_per_block = config.max_rebroadcasts_per_block,
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

    const ID1: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    const ID2: &str = "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5";

    #[test]
    fn the_tower_serves_its_list_or_everyone_with_public_and_nobody_by_default() {
        let c = TowerConfig::resolve(args()).unwrap();
        assert_eq!(c.access, Access::Listed(BTreeSet::new()));
        assert_eq!(c.forget_idle_after, DEFAULT_FORGET_IDLE);
        assert_eq!(c.max_rebroadcasts_per_block, MAX_REBROADCASTS_PER_BLOCK);
        assert_eq!(c.quota.max_bytes_per_client, 256 << 20);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clients");
        std::fs::write(&file, format!("# hub\n{ID2}  # the hub\n\n")).unwrap();
        let mut a = args();
        a.authorized_clients = vec![ID1.into()];
        a.authorized_clients_file = Some(file.clone());
        let Access::Listed(ids) = TowerConfig::resolve(a).unwrap().access else {
            panic!("a list")
        };
        let ids: Vec<String> = ids.iter().map(|k| k.to_string()).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&ID1.to_string()) && ids.contains(&ID2.to_string()));

        let mut a = args();
        a.public = true;
        assert_eq!(TowerConfig::resolve(a).unwrap().access, Access::Public);
        let mut a = args();
        a.public = true;
        a.authorized_clients = vec![ID1.into()];
        let e = TowerConfig::resolve(a).unwrap_err().to_string();
        assert!(e.contains("--public"), "{e}");

        let mut a = args();
        a.authorized_clients = vec!["02ab".into()];
        let e = TowerConfig::resolve(a).unwrap_err().to_string();
        assert!(e.contains("\"02ab\" is not a node id"), "{e}");
        std::fs::write(&file, "nope\n").unwrap();
        let mut a = args();
        a.authorized_clients_file = Some(file);
        let e = TowerConfig::resolve(a).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let mut a = args();
        a.authorized_clients_file = Some(dir.path().join("missing"));
        assert!(TowerConfig::resolve(a).is_err());
    }

    #[test]
    fn the_new_limits_are_read_and_must_be_positive() {
        let mut a = args();
        a.max_bytes_per_client = Some(4096);
        a.max_bad_blobs_per_client = Some(3);
        a.max_rebroadcasts_per_block = Some(5);
        a.forget_idle_clients_after = Some(Duration::from_secs(90));
        let c = TowerConfig::resolve(a).unwrap();
        assert_eq!(c.quota.max_bytes_per_client, 4096);
        assert_eq!(c.quota.max_bad_blobs_per_client, 3);
        assert_eq!(c.max_rebroadcasts_per_block, 5);
        assert_eq!(c.forget_idle_after, Duration::from_secs(90));
        for f in [
            |a: &mut TowerArgs| a.max_bytes_per_client = Some(0),
            |a: &mut TowerArgs| a.max_bad_blobs_per_client = Some(0),
            |a: &mut TowerArgs| a.max_rebroadcasts_per_block = Some(0),
            |a: &mut TowerArgs| a.forget_idle_clients_after = Some(Duration::ZERO),
        ] {
            let mut a = args();
            f(&mut a);
            assert!(TowerConfig::resolve(a).is_err());
        }
    }
}
