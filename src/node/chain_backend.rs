//! The node's chain: the embedded regtest node in-process, or a bitcoind over JSON-RPC.
//!
//! Whichever it is, the wallet sees only `dyn ChainSource` (+ an optional mempool source);
//! regtest extras (mining, chain info) go through [`ChainControl`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bitcoin::{Address, BlockHash, Txid};

use super::NodeError;
use crate::chain::regtest::{EmbeddedChainSource, RegtestError, RegtestNode};
use crate::chain::{ChainError, ChainSource};
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

fn regtest_error(e: RegtestError) -> ChainError {
    match e {
        RegtestError::Io(e) => ChainError::Transient(e.to_string()),
        other => ChainError::Permanent(other.to_string()),
    }
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
            .map_err(regtest_error)
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

/// The chain as the rest of the node uses it.
pub struct ChainBackend {
    pub source: Arc<dyn ChainSource>,
    pub mempool: Option<Arc<dyn MempoolSource>>,
    pub control: Option<Arc<dyn ChainControl>>,
    /// The chain RPC this node serves (embedded chain only): address and cookie file.
    pub served_rpc: Option<(SocketAddr, PathBuf)>,
}

impl ChainBackend {
    /// Opens (or creates) the embedded regtest chain under `datadir/chain`.
    pub async fn embedded(datadir: &Path) -> Result<Self, NodeError> {
        let dir = datadir.join(CHAIN_DIR);
        let node = tokio::task::spawn_blocking(move || RegtestNode::open(&dir))
            .await
            .map_err(|e| NodeError::Chain(e.to_string()))?
            .map_err(|e| NodeError::Chain(format!("cannot open the embedded chain: {e}")))?;
        let control = EmbeddedChain {
            node: node.clone(),
            rpc_addr: None,
        };
        Ok(ChainBackend {
            source: Arc::new(EmbeddedChainSource::new(node.clone())),
            mempool: Some(Arc::new(EmbeddedMempool(node))),
            control: Some(Arc::new(control)),
            served_rpc: None,
        })
    }
}

impl ChainBackend {
    /// Connects to a bitcoind-compatible JSON-RPC server.
    pub async fn bitcoind(
        config: &crate::config::BitcoindConfig,
        _network: bitcoin::Network,
    ) -> Result<Self, NodeError> {
        Err(NodeError::Chain(format!(
            "connecting to {} needs the JSON-RPC client (not in this build yet)",
            config.url
        )))
    }
}
