//! Lookups several methods share: a block's header view, the outputs a transaction spends
//! (Core reads them from undo data; here they come from the chain index), hex decoding.

use std::collections::HashMap;

use bitcoin::{Block, BlockHash, Transaction, Txid, Work};

use super::super::error::RpcError;
use super::super::json::{HeaderView, Prevout};
use crate::chain::regtest::RegtestNode;

/// What `getblockheader` shows about `hash`, `None` if the block is unknown.
pub fn header_view(node: &RegtestNode, hash: &BlockHash) -> Result<Option<HeaderView>, RpcError> {
    let Some(d) = node.block_details(hash)? else {
        return Ok(None);
    };
    let chain_work = match d.chain_work {
        Some(w) => w,
        None => stale_chain_work(node, hash)?,
    };
    Ok(Some(HeaderView {
        hash: *hash,
        header: d.info.header,
        height: d.info.height,
        confirmations: d.confirmations,
        median_time: d.median_time,
        chain_work,
        n_tx: d.n_tx.unwrap_or(0),
        next: d.next,
    }))
}

/// Chain work of a block off the active chain: its branch's own work down to the fork
/// point, plus the active chain's work there. The node reports work for active blocks only.
fn stale_chain_work(node: &RegtestNode, hash: &BlockHash) -> Result<Work, RpcError> {
    let mut work = Work::from_be_bytes([0; 32]);
    let mut cursor = *hash;
    while let Some(info) = node.header(&cursor) {
        if info.in_active_chain {
            let base = node
                .block_details(&cursor)?
                .and_then(|d| d.chain_work)
                .unwrap_or(Work::from_be_bytes([0; 32]));
            return Ok(work + base);
        }
        work = work + info.header.work();
        if info.height == 0 {
            break;
        }
        cursor = info.header.prev_blockhash;
    }
    Ok(work)
}

/// The outputs `tx` spends, with their heights, when all are known. `earlier` are the
/// transactions before it in its block (at `height`), which it may spend.
pub fn prevouts_of(
    node: &RegtestNode,
    tx: &Transaction,
    earlier: &HashMap<Txid, (usize, &Transaction)>,
    height: u32,
) -> Option<Vec<Prevout>> {
    if tx.is_coinbase() {
        return None;
    }
    let mut out = Vec::with_capacity(tx.input.len());
    for input in &tx.input {
        let prev = input.previous_output;
        let (txout, at, coinbase) = match earlier.get(&prev.txid) {
            Some((index, parent)) => (
                parent.output.get(prev.vout as usize)?.clone(),
                height,
                *index == 0,
            ),
            None => {
                let info = node.transaction(&prev.txid).ok()??;
                let at = info.block?.height;
                let coinbase = info.tx.is_coinbase();
                (
                    info.tx.output.get(prev.vout as usize)?.clone(),
                    at,
                    coinbase,
                )
            }
        };
        out.push(Prevout {
            txout,
            height: at,
            coinbase,
        });
    }
    Some(out)
}

/// Spent outputs of every transaction of `block` (at `height`), `None` where unknown.
pub fn block_prevouts(node: &RegtestNode, block: &Block, height: u32) -> Vec<Option<Vec<Prevout>>> {
    let mut earlier: HashMap<Txid, (usize, &Transaction)> = HashMap::new();
    let mut all = Vec::with_capacity(block.txdata.len());
    for (i, tx) in block.txdata.iter().enumerate() {
        all.push(prevouts_of(node, tx, &earlier, height));
        earlier.insert(tx.compute_txid(), (i, tx));
    }
    all
}

/// Core's `IsHex`: non-empty, even length, hex digits only.
pub fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Core's `DecodeHexTx`: the whole string must be one transaction.
pub fn decode_tx(s: &str) -> Option<Transaction> {
    if !is_hex(s) {
        return None;
    }
    let bytes = hex::decode(s).ok()?;
    bitcoin::consensus::deserialize(&bytes).ok()
}
