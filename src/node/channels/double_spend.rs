//! Telling a double-spent funding: the funding is neither in the mempool nor in the chain, and
//! one of its inputs was spent by a confirmed transaction. Asked only while a funding we
//! depend on (zero-conf, or not yet deep enough) is unconfirmed and has left the mempool, so
//! the usual block costs one lookup more per input, and the block scan runs once.

use bitcoin::{OutPoint, Txid};

use super::chain::spender_in;
use crate::chain::{ChainError, ChainSource};

/// How far back the spend of a funding input is searched: as for a funding output's spend.
pub(super) const MAX_SCAN: u32 = 2016;

/// The confirmed transaction, other than `funding`, that spent one of `inputs`.
///
/// `None` while every input is unspent, spent only in the mempool (not final: the funding or
/// a conflict may still confirm), or spent where we cannot see (an input whose parent the chain
/// does not know, or a spend deeper than [`MAX_SCAN`]).
pub(super) async fn confirmed_conflict(
    chain: &dyn ChainSource,
    funding: &Txid,
    inputs: &[OutPoint],
) -> Result<Option<Txid>, ChainError> {
    for input in inputs {
        if chain.utxo(input).await?.is_some() || chain.mempool_spender(input).await?.is_some() {
            continue;
        }
        // Spent in a block: search down from the tip to the block of the spent output.
        let Some(parent) = chain.transaction(&input.txid).await? else {
            continue;
        };
        let Some(parent_block) = parent.block else {
            continue;
        };
        let tip = chain.tip().await?.height;
        let floor = parent_block.height.max(tip.saturating_sub(MAX_SCAN));
        if let Some((tx, _)) = spender_in(chain, input, (floor..=tip).rev()).await? {
            let txid = tx.compute_txid();
            if txid != *funding {
                return Ok(Some(txid));
            }
        }
    }
    Ok(None)
}
