//! Raw transactions: `getrawtransaction`, `decoderawtransaction`, `sendrawtransaction`,
//! `testmempoolaccept`.

use std::collections::HashMap;

use bitcoin::blockdata::constants::genesis_block;
use bitcoin::consensus::serialize;
use bitcoin::{BlockHash, Network, OutPoint, Transaction, Txid};

use super::super::error::{codes, RpcError};
use super::super::json::{tx_json, Prevout, TxDetail};
use super::super::params::Params;
use super::super::script::has_valid_ops;
use super::super::value::Json;
use super::super::Shared;
use super::lookup::{decode_tx, prevouts_of};
use crate::chain::TestAccept;

/// Core's `DEFAULT_MAX_RAW_TX_FEE_RATE`: 0.10 BTC/kvB.
const DEFAULT_MAX_FEE_RATE_SAT_PER_KVB: i64 = 10_000_000;
/// Core's `MAX_PACKAGE_COUNT`.
const MAX_PACKAGE_COUNT: usize = 25;

/// Where a transaction was found, for the fields after `hex`.
struct Found {
    tx: Transaction,
    block: Option<BlockHash>,
}

pub fn getrawtransaction(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let txid: Txid = p.hash(0, "parameter 1")?;
    if txid.to_raw_hash()
        == genesis_block(Network::Regtest)
            .header
            .merkle_root
            .to_raw_hash()
    {
        return Err(RpcError::not_found(
            "The genesis block coinbase is not considered an ordinary transaction and cannot be retrieved",
        ));
    }
    let verbosity = p.verbosity(1, 0, true)?;
    let in_block: Option<BlockHash> = match p.get(2) {
        Some(_) => Some(p.hash(2, "parameter 3")?),
        None => None,
    };
    let found = match in_block {
        Some(hash) => {
            if s.node.header(&hash).is_none() {
                return Err(RpcError::not_found("Block hash not found"));
            }
            let block = s
                .node
                .block(&hash)?
                .ok_or_else(|| RpcError::misc("Block not available"))?;
            let tx = block
                .txdata
                .into_iter()
                .find(|t| t.compute_txid() == txid)
                .ok_or_else(|| {
                    RpcError::not_found(
                        "No such transaction found in the provided block. Use gettransaction for wallet transactions.",
                    )
                })?;
            Found {
                tx,
                block: Some(hash),
            }
        }
        None => {
            let info = s.node.transaction(&txid)?.ok_or_else(|| {
                RpcError::not_found(
                    "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.",
                )
            })?;
            Found {
                tx: info.tx,
                block: info.block.map(|b| b.hash),
            }
        }
    };
    if verbosity <= 0 {
        return Ok(hex::encode(serialize(&found.tx)).into());
    }
    let mut result = Json::obj();
    let header = found.block.and_then(|h| s.node.header(&h));
    if in_block.is_some() {
        result.push(
            "in_active_chain",
            header.as_ref().is_some_and(|h| h.in_active_chain),
        );
    }
    let prevouts: Option<Vec<Prevout>> = match (&header, verbosity >= 2) {
        (Some(h), true) => prevouts_in_block(s, &found, h.height),
        _ => None,
    };
    let detail = if prevouts.is_some() {
        TxDetail::DetailsAndPrevout
    } else {
        TxDetail::Details
    };
    let Json::Obj(fields) = tx_json(&found.tx, prevouts.as_deref(), detail, true) else {
        return Err(RpcError::misc("transaction is not an object"));
    };
    for (k, v) in fields {
        result.push(&k, v);
    }
    if let (Some(hash), Some(h)) = (found.block, header) {
        result.push("blockhash", hash.to_string());
        if h.in_active_chain {
            let tip = s.node.tip().height;
            result.push("confirmations", tip.saturating_sub(h.height) + 1);
            result.push("time", h.header.time);
            result.push("blocktime", h.header.time);
        } else {
            result.push("confirmations", 0u32);
        }
    }
    Ok(result)
}

/// The spent outputs of a confirmed transaction, with the block's earlier transactions.
fn prevouts_in_block(s: &Shared, found: &Found, height: u32) -> Option<Vec<Prevout>> {
    let block = s.node.block(&found.block?).ok()??;
    let txid = found.tx.compute_txid();
    let mut earlier = HashMap::new();
    for (i, t) in block.txdata.iter().enumerate() {
        if t.compute_txid() == txid {
            break;
        }
        earlier.insert(t.compute_txid(), (i, t));
    }
    prevouts_of(&s.node, &found.tx, &earlier, height)
}

pub fn decoderawtransaction(_: &Shared, p: &Params) -> Result<Json, RpcError> {
    let hex = p.str(0)?;
    let witness = p.get(1).map(|_| p.bool_or(1, true)).transpose()?;
    let tx = decode_tx(hex)
        .filter(|tx| match witness {
            // Told the serialization has no witness: a witness-bearing decoding is wrong.
            Some(false) => tx.input.iter().all(|i| i.witness.is_empty()),
            _ => true,
        })
        .ok_or_else(|| RpcError::new(codes::DESERIALIZATION_ERROR, "TX decode failed"))?;
    Ok(tx_json(&tx, None, TxDetail::Details, false))
}

/// Core's `CFeeRate::GetFee`, rounded up.
fn fee_at(rate_sat_per_kvb: i64, vsize: u64) -> i64 {
    ((rate_sat_per_kvb as i128 * vsize as i128 + 999) / 1000) as i64
}

fn max_fee_rate(p: &Params, i: usize) -> Result<i64, RpcError> {
    let rate = p.amount_or(i, DEFAULT_MAX_FEE_RATE_SAT_PER_KVB)?;
    if rate >= 100_000_000 {
        return Err(RpcError::invalid_parameter(
            "Fee rates larger than or equal to 1BTC/kvB are not accepted",
        ));
    }
    Ok(rate)
}

pub fn sendrawtransaction(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let max_burn = p.amount_or(2, 0)?;
    let tx = decode_tx(p.str(0)?).ok_or_else(|| {
        RpcError::new(
            codes::DESERIALIZATION_ERROR,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    })?;
    for out in &tx.output {
        let bytes = out.script_pubkey.as_bytes();
        let unspendable = bytes.first() == Some(&0x6a) || bytes.len() > 10_000;
        if (unspendable || !has_valid_ops(bytes)) && out.value.to_sat() as i64 > max_burn {
            return Err(RpcError::new(
                codes::TRANSACTION_ERROR,
                "Unspendable output exceeds maximum configured by user (maxburnamount)",
            ));
        }
    }
    let max_rate = max_fee_rate(p, 1)?;
    let txid = tx.compute_txid();
    // Core refuses a transaction whose outputs are already in the UTXO set before anything.
    let confirmed =
        (0..tx.output.len() as u32).any(|v| s.node.utxo(&OutPoint::new(txid, v), false).is_some());
    if confirmed {
        return Err(RpcError::new(
            codes::TRANSACTION_ALREADY_IN_CHAIN,
            "Transaction outputs already in utxo set",
        ));
    }
    if s.node.mempool_entry(&txid).is_some() {
        return Ok(txid.to_string().into());
    }
    if max_rate > 0 {
        if let TestAccept::Allowed { vsize, fee_sat, .. } = s.node.test_accept(&tx) {
            if fee_sat as i64 > fee_at(max_rate, vsize) {
                return Err(RpcError::new(
                    codes::TRANSACTION_ERROR,
                    "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
                ));
            }
        }
    }
    match s.node.submit(tx) {
        Ok(txid) => Ok(txid.to_string().into()),
        Err(r) => Err(RpcError::new(r.code, r.message)),
    }
}

pub fn testmempoolaccept(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let raw = p.array(0)?;
    if raw.is_empty() || raw.len() > MAX_PACKAGE_COUNT {
        return Err(RpcError::invalid_parameter(format!(
            "Array must contain between 1 and {MAX_PACKAGE_COUNT} transactions."
        )));
    }
    let max_rate = max_fee_rate(p, 1)?;
    let mut txs = Vec::with_capacity(raw.len());
    for r in raw {
        let hex = r.as_str().ok_or_else(|| {
            RpcError::new(codes::TYPE_ERROR, "JSON value is not a string as expected")
        })?;
        let tx = decode_tx(hex).ok_or_else(|| {
            RpcError::new(
                codes::DESERIALIZATION_ERROR,
                format!("TX decode failed: {hex} Make sure the tx has at least one input."),
            )
        })?;
        txs.push(tx);
    }
    let mut results = Vec::with_capacity(txs.len());
    let mut exit_early = false;
    for tx in &txs {
        let mut o = Json::obj()
            .kv("txid", tx.compute_txid().to_string())
            .kv("wtxid", tx.compute_wtxid().to_string());
        if exit_early {
            results.push(o);
            continue;
        }
        match s.node.test_accept(tx) {
            TestAccept::Allowed { vsize, fee_sat, .. } => {
                if max_rate > 0 && fee_sat as i64 > fee_at(max_rate, vsize) {
                    o.push("allowed", false);
                    o.push("reject-reason", "max-fee-exceeded");
                    exit_early = true;
                } else {
                    let rate = fee_sat.saturating_mul(1000) / vsize.max(1);
                    o.push("allowed", true);
                    o.push("vsize", vsize);
                    o.push(
                        "fees",
                        Json::obj()
                            .kv("base", Json::Amount(fee_sat as i64))
                            .kv("effective-feerate", Json::Amount(rate as i64))
                            .kv("effective-includes", vec![tx.compute_wtxid().to_string()]),
                    );
                }
            }
            TestAccept::Rejected { reason, .. } => {
                o.push("allowed", false);
                o.push("reject-reason", reason);
            }
        }
        results.push(o);
    }
    Ok(Json::Arr(results))
}
