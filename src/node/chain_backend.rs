//! The node's chain: the embedded regtest node in-process, or a bitcoind over JSON-RPC.
//!
//! Whichever it is, the wallet sees only `dyn ChainSource` (+ an optional mempool source);
//! regtest extras (mining, chain info) go through [`ChainControl`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bitcoin::{Address, BlockHash, Txid};

use bitcoin::Network;
use serde_json::json;

use super::NodeError;
use crate::chain::regtest::{EmbeddedChainSource, RegtestNode};
use crate::chain::rpc_client::{RpcAuth, RpcChainSource};
use crate::chain::rpc_server::{RpcAuthConfig, RpcServer, RunningRpcServer};
use crate::chain::{ChainError, ChainSource};
use crate::config::{BitcoindAuth, BitcoindConfig};
use crate::wallet::MempoolSource;

/// Where the embedded chain lives inside the data directory.
pub const CHAIN_DIR: &str = "chain";

/// Regtest-only operations behind `/v1/chain/*`.
#[async_trait]
pub trait ChainControl: Send + Sync {
    /// `embedded` or `bitcoind`.
    fn kind(&self) -> &'static str;
    /// The bitcoind-compatible RPC address other nodes can share the chain through.
    fn rpc_addr(&self) -> Option<SocketAddr>;
    async fn mine(&self, blocks: u32, to: &Address) -> Result<Vec<BlockHash>, ChainError>;
    async fn mempool_size(&self) -> Result<usize, ChainError>;
}

/// The embedded regtest node, run by this process.
pub struct EmbeddedChain {
    node: Arc<RegtestNode>,
    rpc_addr: Option<SocketAddr>,
}

#[async_trait]
impl ChainControl for EmbeddedChain {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn rpc_addr(&self) -> Option<SocketAddr> {
        self.rpc_addr
    }

    async fn mine(&self, blocks: u32, to: &Address) -> Result<Vec<BlockHash>, ChainError> {
        let node = self.node.clone();
        let to = to.clone();
        // Mining validates every block with the kernel: too slow for a runtime worker.
        tokio::task::spawn_blocking(move || node.generate_to_address(blocks, &to))
            .await
            .map_err(|e| ChainError::Permanent(e.to_string()))?
            .map_err(ChainError::from)
    }

    async fn mempool_size(&self) -> Result<usize, ChainError> {
        Ok(self.node.mempool_txids().len())
    }
}

struct EmbeddedMempool(Arc<RegtestNode>);

#[async_trait]
impl MempoolSource for EmbeddedMempool {
    async fn mempool_txids(&self) -> Result<Vec<Txid>, ChainError> {
        Ok(self.0.mempool_txids())
    }
}

/// A bitcoind (or another node's embedded chain) over JSON-RPC. Mining only works on regtest.
pub struct BitcoindChain {
    client: Arc<RpcChainSource>,
}

#[async_trait]
impl ChainControl for BitcoindChain {
    fn kind(&self) -> &'static str {
        "bitcoind"
    }

    fn rpc_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn mine(&self, blocks: u32, to: &Address) -> Result<Vec<BlockHash>, ChainError> {
        self.client.generate_to_address(blocks, to).await
    }

    async fn mempool_size(&self) -> Result<usize, ChainError> {
        let info = self.client.call("getmempoolinfo", json!([])).await?;
        info["size"]
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| ChainError::Permanent("getmempoolinfo without size".into()))
    }
}

#[async_trait]
impl MempoolSource for BitcoindChain {
    async fn mempool_txids(&self) -> Result<Vec<Txid>, ChainError> {
        let list = self.client.call("getrawmempool", json!([false])).await?;
        serde_json::from_value(list)
            .map_err(|e| ChainError::Permanent(format!("getrawmempool: {e}")))
    }
}

/// The chain as the rest of the node uses it.
pub struct ChainBackend {
    pub source: Arc<dyn ChainSource>,
    pub mempool: Option<Arc<dyn MempoolSource>>,
    pub control: Option<Arc<dyn ChainControl>>,
    /// The chain RPC this node serves (embedded chain only), so other nodes share the chain.
    pub rpc_server: Option<RunningRpcServer>,
}

impl ChainBackend {
    /// Opens (or creates) the embedded regtest chain under `datadir/chain` and serves its
    /// bitcoind-compatible RPC on 127.0.0.1 (port chosen by the OS, cookie in the chain dir).
    pub async fn embedded(datadir: &Path) -> Result<Self, NodeError> {
        let dir = datadir.join(CHAIN_DIR);
        let chain_dir = dir.clone();
        let node = tokio::task::spawn_blocking(move || RegtestNode::open(&chain_dir))
            .await
            .map_err(|e| NodeError::Chain(e.to_string()))?
            .map_err(|e| NodeError::Chain(format!("cannot open the embedded chain: {e}")))?;
        let auth = RpcAuthConfig {
            user_password: None,
            cookie_dir: Some(dir),
        };
        let bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = RpcServer::start(node.clone(), bind, auth)
            .await
            .map_err(|e| NodeError::Chain(format!("cannot serve the chain RPC: {e}")))?;
        let control = EmbeddedChain {
            node: node.clone(),
            rpc_addr: Some(server.addr()),
        };
        Ok(ChainBackend {
            source: Arc::new(EmbeddedChainSource::new(node.clone())),
            mempool: Some(Arc::new(EmbeddedMempool(node))),
            control: Some(Arc::new(control)),
            rpc_server: Some(server),
        })
    }

    /// Connects to a bitcoind-compatible JSON-RPC server, and checks it is on our network.
    pub async fn bitcoind(config: &BitcoindConfig, network: Network) -> Result<Self, NodeError> {
        let auth = match &config.auth {
            BitcoindAuth::UserPass { user, password } => RpcAuth::UserPass {
                user: user.clone(),
                password: password.clone(),
            },
            BitcoindAuth::Cookie(path) => RpcAuth::CookieFile(path.clone()),
        };
        let client = Arc::new(
            RpcChainSource::new(&config.url, auth)
                .map_err(|e| NodeError::Chain(format!("{}: {e}", config.url)))?,
        );
        // A chain that is down now may come up later (the sync loop retries); a chain of
        // another network never becomes right.
        match client.call("getblockchaininfo", json!([])).await {
            Ok(info) => {
                let chain = info["chain"].as_str().unwrap_or_default();
                let expected = bitcoind_chain_name(network);
                if chain != expected {
                    return Err(NodeError::Chain(format!(
                        "{} is on chain {chain:?}, this node is on {expected:?}",
                        config.url
                    )));
                }
            }
            Err(e) if e.is_transient() => {
                tracing::warn!(url = %config.url, error = %e, "bitcoind not reachable yet")
            }
            Err(e) => return Err(NodeError::Chain(format!("{}: {e}", config.url))),
        }
        let control = Arc::new(BitcoindChain {
            client: client.clone(),
        });
        Ok(ChainBackend {
            source: client,
            mempool: Some(control.clone()),
            control: (network == Network::Regtest).then_some(control as Arc<dyn ChainControl>),
            rpc_server: None,
        })
    }

    /// The served chain RPC: address and cookie file.
    pub fn served_rpc(&self) -> Option<(SocketAddr, PathBuf)> {
        let server = self.rpc_server.as_ref()?;
        Some((server.addr(), server.cookie_path()?))
    }
}

/// bitcoind's name for a network in `getblockchaininfo`.
fn bitcoind_chain_name(network: Network) -> &'static str {
    match network {
        Network::Bitcoin => "main",
        Network::Testnet => "test",
        Network::Signet => "signet",
        _ => "regtest",
    }
}
