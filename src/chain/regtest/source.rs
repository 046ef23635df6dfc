//! The embedded node behind the [`ChainSource`] seam, used in-process.

use std::sync::Arc;

use async_trait::async_trait;
use bitcoin::{Block, BlockHash, FeeRate, OutPoint, Transaction, Txid};

use super::RegtestNode;
use crate::chain::{BlockRef, ChainError, ChainSource, HeaderInfo, TestAccept, TxInfo, UtxoInfo};

/// [`RegtestNode`] as a [`ChainSource`]. Calls are short and synchronous under the node's lock,
/// so they run inline rather than on a blocking pool.
#[derive(Clone)]
pub struct EmbeddedChainSource {
    node: Arc<RegtestNode>,
}

impl EmbeddedChainSource {
    pub fn new(node: Arc<RegtestNode>) -> EmbeddedChainSource {
        EmbeddedChainSource { node }
    }

    pub fn node(&self) -> &Arc<RegtestNode> {
        &self.node
    }
}

#[async_trait]
impl ChainSource for EmbeddedChainSource {
    async fn tip(&self) -> Result<BlockRef, ChainError> {
        Ok(self.node.tip())
    }

    async fn block_hash(&self, height: u32) -> Result<Option<BlockHash>, ChainError> {
        Ok(self.node.block_hash(height))
    }

    async fn header(&self, hash: &BlockHash) -> Result<Option<HeaderInfo>, ChainError> {
        Ok(self.node.header(hash))
    }

    async fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainError> {
        self.node.block(hash).map_err(ChainError::from)
    }

    async fn transaction(&self, txid: &Txid) -> Result<Option<TxInfo>, ChainError> {
        self.node.transaction(txid).map_err(ChainError::from)
    }

    async fn utxo(&self, outpoint: &OutPoint) -> Result<Option<UtxoInfo>, ChainError> {
        Ok(self.node.utxo(outpoint, true))
    }

    async fn broadcast(&self, tx: &Transaction) -> Result<Txid, ChainError> {
        self.node
            .submit(tx.clone())
            .map_err(|r| ChainError::Rejected {
                code: r.code,
                reason: r.message,
            })
    }

    async fn test_accept(&self, tx: &Transaction) -> Result<TestAccept, ChainError> {
        Ok(self.node.test_accept(tx))
    }

    async fn estimate_fee_rate(&self, target_blocks: u16) -> Result<Option<FeeRate>, ChainError> {
        Ok(Some(self.node.estimate_fee_rate(target_blocks)))
    }

    async fn mempool_spender(&self, outpoint: &OutPoint) -> Result<Option<Txid>, ChainError> {
        Ok(self.node.mempool_spender(outpoint))
    }
}
