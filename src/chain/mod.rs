//! The chain seam: everything chanhub needs from a Bitcoin chain, behind one trait.
//!
//! Two implementations pass the same conformance suite (`integration/chain_conformance.rs`):
//! - [`rpc_client::RpcChainSource`]: a bitcoind-compatible JSON-RPC client (a real `bitcoind
//!   -regtest`, or the embedded node's RPC server);
//! - [`regtest::RegtestNode`] used in-process, through [`regtest::EmbeddedChainSource`].
//!
//! Block connected/disconnected events come from [`watcher::ChainWatcher`], which polls any
//! source and detects reorgs by walking back to the fork point, so every source gets the same
//! reorg semantics.

pub mod regtest;
pub mod rpc_client;
pub mod rpc_server;
pub mod watcher;

use async_trait::async_trait;
use bitcoin::block::Header;
use bitcoin::{Block, BlockHash, FeeRate, OutPoint, Transaction, TxOut, Txid};

/// The best block of the active chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    pub height: u32,
    pub hash: BlockHash,
}

/// A header with where it sits in the block tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderInfo {
    pub header: Header,
    pub height: u32,
    /// Whether the block is on the active chain (a header of a stale branch is still served).
    pub in_active_chain: bool,
}

/// A transaction and where it is: confirmed in a block of the active chain, or in the mempool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxInfo {
    pub tx: Transaction,
    /// `None` while unconfirmed (mempool).
    pub block: Option<BlockRef>,
    /// 0 in the mempool, 1 in the tip block, and so on.
    pub confirmations: u32,
}

/// An unspent output as `gettxout` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtxoInfo {
    pub txout: TxOut,
    /// 0 for an output of a mempool transaction.
    pub confirmations: u32,
    pub coinbase: bool,
}

/// The answer of `testmempoolaccept` for one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestAccept {
    Allowed {
        txid: Txid,
        vsize: u64,
        fee_sat: u64,
    },
    Rejected {
        txid: Txid,
        reason: String,
    },
}

/// Why a chain call failed: retry the transient ones, surface the permanent ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The source is unreachable or busy (connection refused, timeout, warming up). Retry later.
    #[error("chain source unavailable: {0}")]
    Transient(String),
    /// The transaction was refused by the mempool/consensus rules, with Bitcoin Core's reason
    /// string (e.g. `non-BIP68-final`) and RPC error code (-25, -26, -27).
    #[error("transaction rejected: {reason}")]
    Rejected { code: i64, reason: String },
    /// The request itself was wrong or the source answered something we cannot use. Retrying
    /// the same call will not help.
    #[error("chain source error: {0}")]
    Permanent(String),
}

impl ChainError {
    /// True when the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, ChainError::Transient(_))
    }
}

/// What chanhub needs from a chain. Lookups of unknown things answer `Ok(None)`, not an error.
#[async_trait]
pub trait ChainSource: Send + Sync {
    /// The tip of the active chain.
    async fn tip(&self) -> Result<BlockRef, ChainError>;
    /// The hash of the active chain's block at `height`.
    async fn block_hash(&self, height: u32) -> Result<Option<BlockHash>, ChainError>;
    async fn header(&self, hash: &BlockHash) -> Result<Option<HeaderInfo>, ChainError>;
    async fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainError>;
    /// A transaction in the mempool or the active chain (a real bitcoind needs `-txindex=1`
    /// for confirmed transactions that are not ours).
    async fn transaction(&self, txid: &Txid) -> Result<Option<TxInfo>, ChainError>;
    /// An unspent output, mempool included (`gettxout … true`).
    async fn utxo(&self, outpoint: &OutPoint) -> Result<Option<UtxoInfo>, ChainError>;
    /// Submit to the mempool. A rejection is [`ChainError::Rejected`] with Core's reason.
    async fn broadcast(&self, tx: &Transaction) -> Result<Txid, ChainError>;
    /// Would the mempool accept this transaction now? Nothing is submitted.
    async fn test_accept(&self, tx: &Transaction) -> Result<TestAccept, ChainError>;
    /// Fee rate for confirmation within `target_blocks`; `None` when the source has no
    /// estimate (callers apply their own floor).
    async fn estimate_fee_rate(&self, target_blocks: u16) -> Result<Option<FeeRate>, ChainError>;
    /// The mempool transaction spending `outpoint` (`gettxspendingprevout`, Bitcoin Core 24
    /// and later); `None` when nothing in the mempool spends it (a confirmed spend is not
    /// reported). How a preimage shown only in the mempool is learnt (replacement cycling).
    async fn mempool_spender(&self, outpoint: &OutPoint) -> Result<Option<Txid>, ChainError>;
}
