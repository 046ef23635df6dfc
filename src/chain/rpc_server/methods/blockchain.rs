//! Chain queries: `getblockchaininfo`, `getblockcount`, `getbestblockhash`, `getblockhash`,
//! `getblockheader`, `getblock`, `gettxout`, `invalidateblock`.

use std::path::Path;

use bitcoin::consensus::serialize;
use bitcoin::{BlockHash, OutPoint, Txid};

use super::super::error::RpcError;
use super::super::json::{block_json, difficulty, header_json, work_hex, BlockTxs, TxDetail};
use super::super::params::Params;
use super::super::script::script_pubkey_json;
use super::super::value::Json;
use super::super::Shared;
use super::lookup::{block_prevouts, header_view};

pub fn getblockchaininfo(s: &Shared, _: &Params) -> Result<Json, RpcError> {
    let node = &s.node;
    let tip = node.tip();
    let view = header_view(node, &tip.hash)?.ok_or_else(|| RpcError::misc("tip has no header"))?;
    let h = &view.header;
    Ok(Json::obj()
        .kv("chain", "regtest")
        .kv("blocks", tip.height)
        // No headers-first download: every header known is a block validated.
        .kv("headers", tip.height)
        .kv("bestblockhash", tip.hash.to_string())
        .kv("bits", format!("{:08x}", h.bits.to_consensus()))
        .kv("target", super::super::json::target_hex(h.bits))
        .kv("difficulty", difficulty(h.bits))
        .kv("time", h.time)
        .kv("mediantime", view.median_time)
        // Regtest has no chain statistics, which makes Core's guess exactly 1.
        .kv("verificationprogress", 1.0)
        .kv("initialblockdownload", false)
        .kv("chainwork", work_hex(view.chain_work))
        .kv(
            "size_on_disk",
            node.datadir().map(size_on_disk).unwrap_or(0),
        )
        .kv("pruned", false)
        .kv("warnings", Json::Arr(Vec::new())))
}

/// Core's `CalculateCurrentUsage`: the block and undo files.
fn size_on_disk(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            let name = e.file_name().to_string_lossy().into_owned();
            if meta.is_dir() {
                stack.push(e.path());
            } else if (name.starts_with("blk") || name.starts_with("rev")) && name.ends_with(".dat")
            {
                total += meta.len();
            }
        }
    }
    total
}

pub fn getblockcount(s: &Shared, _: &Params) -> Result<Json, RpcError> {
    Ok(s.node.tip().height.into())
}

pub fn getbestblockhash(s: &Shared, _: &Params) -> Result<Json, RpcError> {
    Ok(s.node.tip().hash.to_string().into())
}

pub fn getblockhash(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let height: i32 = p.int_as(0)?;
    u32::try_from(height)
        .ok()
        .and_then(|h| s.node.block_hash(h))
        .map(|h| h.to_string().into())
        .ok_or_else(|| RpcError::invalid_parameter("Block height out of range"))
}

pub fn getblockheader(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let hash: BlockHash = p.hash(0, "hash")?;
    let verbose = p.bool_or(1, true)?;
    let view =
        header_view(&s.node, &hash)?.ok_or_else(|| RpcError::not_found("Block not found"))?;
    if !verbose {
        return Ok(hex::encode(serialize(&view.header)).into());
    }
    Ok(header_json(&view))
}

pub fn getblock(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let hash: BlockHash = p.hash(0, "blockhash")?;
    let verbosity = p.verbosity(1, 1, true)?;
    let view =
        header_view(&s.node, &hash)?.ok_or_else(|| RpcError::not_found("Block not found"))?;
    let block = s
        .node
        .block(&hash)?
        .ok_or_else(|| RpcError::misc("Block not available"))?;
    match verbosity {
        i64::MIN..=0 => Ok(hex::encode(serialize(&block)).into()),
        1 => Ok(block_json(&view, &block, BlockTxs::Txids)),
        v => {
            let prevouts = block_prevouts(&s.node, &block, view.height);
            let detail = if v == 2 {
                TxDetail::Details
            } else {
                TxDetail::DetailsAndPrevout
            };
            Ok(block_json(
                &view,
                &block,
                BlockTxs::Details {
                    prevouts: &prevouts,
                    detail,
                },
            ))
        }
    }
}

pub fn gettxout(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let txid: Txid = p.hash(0, "txid")?;
    let vout: u32 = p.int_as(1)?;
    let include_mempool = p.bool_or(2, true)?;
    let tip = s.node.tip();
    let Some(utxo) = s.node.utxo(&OutPoint::new(txid, vout), include_mempool) else {
        return Ok(Json::Null);
    };
    Ok(Json::obj()
        .kv("bestblock", tip.hash.to_string())
        .kv("confirmations", utxo.confirmations)
        .kv("value", utxo.txout.value)
        .kv(
            "scriptPubKey",
            script_pubkey_json(&utxo.txout.script_pubkey),
        )
        .kv("coinbase", utxo.coinbase))
}

pub fn invalidateblock(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let hash: BlockHash = p.hash(0, "blockhash")?;
    s.node.invalidate_block(&hash)?;
    Ok(Json::Null)
}
