//! Looking an announced channel's funding output up on the chain: the block at the scid's
//! height, the transaction at its index, the output, and whether it is still unspent.

use bitcoin::OutPoint;

use crate::chain::{ChainError, ChainSource};
use crate::gossip::validate::{FundingCheck, FundingLookup};

/// The answer for `lookup`, and the funding outpoint when it exists (to notice its spend).
pub(super) async fn look_up(
    chain: &dyn ChainSource,
    lookup: FundingLookup,
) -> (FundingCheck, Option<OutPoint>) {
    match try_look_up(chain, lookup).await {
        Ok(found) => found,
        Err(e) => {
            tracing::debug!(scid = %lookup.scid, error = %e, "funding lookup failed");
            (FundingCheck::Unavailable, None)
        }
    }
}

async fn try_look_up(
    chain: &dyn ChainSource,
    l: FundingLookup,
) -> Result<(FundingCheck, Option<OutPoint>), ChainError> {
    let Some(hash) = chain.block_hash(l.block_height).await? else {
        // Beyond our tip: we may simply be behind.
        let tip = chain.tip().await?.height;
        let check = if l.block_height > tip {
            FundingCheck::Unavailable
        } else {
            FundingCheck::Missing
        };
        return Ok((check, None));
    };
    let Some(block) = chain.block(&hash).await? else {
        return Ok((FundingCheck::Unavailable, None));
    };
    let Some(tx) = usize::try_from(l.tx_index)
        .ok()
        .and_then(|i| block.txdata.get(i))
    else {
        return Ok((FundingCheck::Missing, None));
    };
    let Some(out) = tx.output.get(usize::from(l.output_index)) else {
        return Ok((FundingCheck::Missing, None));
    };
    let outpoint = OutPoint::new(tx.compute_txid(), u32::from(l.output_index));
    let check = match chain.utxo(&outpoint).await? {
        Some(_) => FundingCheck::Unspent {
            txid: outpoint.txid,
            script_pubkey: out.script_pubkey.clone(),
            amount_sat: out.value.to_sat(),
        },
        None => FundingCheck::Spent,
    };
    Ok((check, Some(outpoint)))
}
