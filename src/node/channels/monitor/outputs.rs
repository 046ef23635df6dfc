//! Where an output stands on the chain, and which confirmed transaction spent it.
//!
//! The chain answers "is it unspent?" (mempool included) cheaply; finding the spender means
//! reading blocks, so found spenders are cached and checked again (a reorg may undo them).

use std::collections::HashMap;

use bitcoin::{OutPoint, Transaction, Txid};

use super::super::actor::Actor;
use crate::chain::ChainError;

/// Spenders found so far: outpoint -> (spending txid, its height).
#[derive(Default)]
pub(in crate::node::channels) struct Spenders(HashMap<OutPoint, (Txid, u32)>);

impl Spenders {
    /// Drops what a resolved channel needed.
    pub(super) fn forget(&mut self, outpoints: &[OutPoint]) {
        for o in outpoints {
            self.0.remove(o);
        }
    }
}

pub(super) enum OutputState {
    Unspent,
    /// Spent by a transaction that is not confirmed (or whose parent left the chain).
    SpentInMempool,
    Spent {
        tx: Transaction,
        height: u32,
    },
}

impl Actor {
    /// `outpoint`'s state; its spender is searched from `from_height` (the height of the
    /// funding spend: nothing of the channel's can be spent before).
    pub(super) async fn output_state(
        &mut self,
        outpoint: &OutPoint,
        from_height: u32,
    ) -> Result<OutputState, ChainError> {
        let chain = self.cfg.chain.clone();
        if chain.utxo(outpoint).await?.is_some() {
            return Ok(OutputState::Unspent);
        }
        if let Some((txid, height)) = self.spenders.0.get(outpoint).copied() {
            if let Some(info) = chain.transaction(&txid).await? {
                if info.block.map(|b| b.height) == Some(height) {
                    return Ok(OutputState::Spent {
                        tx: info.tx,
                        height,
                    });
                }
            }
            self.spenders.0.remove(outpoint);
        }
        let tip = chain.tip().await?.height;
        let found =
            super::super::chain::spender_in(chain.as_ref(), outpoint, from_height..=tip).await?;
        if let Some((tx, height)) = found {
            self.spenders
                .0
                .insert(*outpoint, (tx.compute_txid(), height));
            return Ok(OutputState::Spent { tx, height });
        }
        Ok(OutputState::SpentInMempool)
    }
}
