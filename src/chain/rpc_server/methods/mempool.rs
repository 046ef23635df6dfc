//! Mempool queries: `getrawmempool`, `getmempoolentry`, `getmempoolinfo`,
//! `gettxspendingprevout`.

use std::collections::HashSet;

use bitcoin::{OutPoint, Sequence, Txid};
use serde_json::Value;

use super::super::error::{codes, RpcError};
use super::super::params::{parse_hash, type_name, Params};
use super::super::value::Json;
use super::super::Shared;
use crate::chain::regtest::RegtestNode;

/// Core's default `-maxmempool` (300 MB).
const MAX_MEMPOOL_BYTES: u64 = 300_000_000;
/// The node's minimum relay and incremental relay fee rate (sat/kvB).
const MIN_RELAY_SAT_PER_KVB: i64 = 1_000;
/// The node's OP_RETURN size limit (Core's pre-30 `-datacarriersize` default).
const MAX_DATACARRIER_BYTES: u64 = 83;

/// `txid` and everything reachable from it through `next` (parents or children).
fn closure(node: &RegtestNode, txid: &Txid, parents: bool) -> Vec<Txid> {
    let mut seen = HashSet::new();
    let mut stack = vec![*txid];
    let mut out = Vec::new();
    while let Some(t) = stack.pop() {
        if !seen.insert(t) {
            continue;
        }
        if let Some((_, ps, cs)) = node.mempool_entry(&t) {
            out.push(t);
            stack.extend(if parents { ps } else { cs });
        }
    }
    out
}

/// Core's `entryToJSON`, without the cluster-mempool fields (`chunkweight`, `fees.chunk`)
/// and with `bip125-replaceable`, since this mempool follows BIP125 opt-in replacement.
fn entry_json(node: &RegtestNode, txid: &Txid) -> Option<Json> {
    let (e, parents, children) = node.mempool_entry(txid)?;
    let sum = |set: &[Txid]| {
        set.iter()
            .filter_map(|t| node.mempool_entry(t))
            .fold((0u64, 0i64), |(size, fee), (e, _, _)| {
                (size + e.vsize, fee + e.fee.to_sat() as i64)
            })
    };
    let ancestors = closure(node, txid, true);
    let descendants = closure(node, txid, false);
    let (ancestor_size, ancestor_fees) = sum(&ancestors);
    let (descendant_size, descendant_fees) = sum(&descendants);
    let signals = |t: &Txid| {
        node.mempool_entry(t).is_some_and(|(e, _, _)| {
            e.tx.input
                .iter()
                .any(|i| i.sequence < Sequence::ENABLE_LOCKTIME_NO_RBF)
        })
    };
    let replaceable = ancestors.iter().any(signals);
    let fee = e.fee.to_sat() as i64;
    Some(
        Json::obj()
            .kv("vsize", e.vsize)
            .kv("weight", e.weight.to_wu())
            .kv("time", e.time)
            .kv("height", e.height)
            .kv("descendantcount", descendants.len())
            .kv("descendantsize", descendant_size)
            .kv("ancestorcount", ancestors.len())
            .kv("ancestorsize", ancestor_size)
            .kv("wtxid", e.tx.compute_wtxid().to_string())
            .kv(
                "fees",
                Json::obj()
                    .kv("base", Json::Amount(fee))
                    .kv("modified", Json::Amount(fee))
                    .kv("ancestor", Json::Amount(ancestor_fees))
                    .kv("descendant", Json::Amount(descendant_fees)),
            )
            .kv("depends", sorted_strings(&parents))
            .kv("spentby", sorted_strings(&children))
            .kv("bip125-replaceable", replaceable)
            .kv("unbroadcast", false),
    )
}

fn sorted_strings(txids: &[Txid]) -> Json {
    let mut v: Vec<String> = txids.iter().map(|t| t.to_string()).collect();
    v.sort();
    v.into()
}

pub fn getrawmempool(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let verbose = p.bool_or(0, false)?;
    let sequence = p.bool_or(1, false)?;
    if verbose && sequence {
        return Err(RpcError::invalid_parameter(
            "Verbose results cannot contain mempool sequence values.",
        ));
    }
    if sequence {
        return Err(RpcError::invalid_parameter(
            "mempool_sequence is not supported by this node",
        ));
    }
    let txids = s.node.mempool_txids();
    if !verbose {
        return Ok(txids
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .into());
    }
    let mut o = Json::obj();
    for t in &txids {
        if let Some(e) = entry_json(&s.node, t) {
            o.push(&t.to_string(), e);
        }
    }
    Ok(o)
}

pub fn getmempoolentry(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let txid: Txid = p.hash(0, "txid")?;
    entry_json(&s.node, &txid).ok_or_else(|| RpcError::not_found("Transaction not in mempool"))
}

pub fn getmempoolinfo(s: &Shared, _: &Params) -> Result<Json, RpcError> {
    let info = s.node.mempool_info();
    // Memory use is not tracked; the transactions' serialized size stands in for it.
    let usage: usize = s
        .node
        .mempool_txids()
        .iter()
        .filter_map(|t| s.node.mempool_entry(t))
        .map(|(e, _, _)| e.tx.total_size())
        .sum();
    Ok(Json::obj()
        .kv("loaded", true)
        .kv("size", info.size)
        .kv("bytes", info.vsize)
        .kv("usage", usage)
        .kv("total_fee", info.total_fee)
        .kv("maxmempool", MAX_MEMPOOL_BYTES)
        .kv("mempoolminfee", Json::Amount(MIN_RELAY_SAT_PER_KVB))
        .kv("minrelaytxfee", Json::Amount(MIN_RELAY_SAT_PER_KVB))
        .kv("incrementalrelayfee", Json::Amount(MIN_RELAY_SAT_PER_KVB))
        .kv("unbroadcastcount", 0u32)
        .kv("permitbaremultisig", true)
        .kv("maxdatacarriersize", MAX_DATACARRIER_BYTES)
        .kv("fullrbf", false))
}

/// Core's `gettxspendingprevout`: for each `{"txid", "vout"}`, the mempool transaction
/// spending it as `spendingtxid`, absent when none does.
pub fn gettxspendingprevout(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let outputs = p.array(0)?;
    if outputs.is_empty() {
        return Err(RpcError::invalid_parameter(
            "Invalid parameter, outputs are missing",
        ));
    }
    let mut prevouts = Vec::with_capacity(outputs.len());
    for o in outputs {
        prevouts.push(prevout_of(o)?);
    }
    Ok(Json::Arr(
        prevouts
            .into_iter()
            .map(|op| {
                let mut o = Json::obj()
                    .kv("txid", op.txid.to_string())
                    .kv("vout", op.vout);
                if let Some(spender) = s.node.mempool_spender(&op) {
                    o.push("spendingtxid", spender.to_string());
                }
                o
            })
            .collect(),
    ))
}

/// One `{"txid": hex, "vout": n}`, checked as Core's `RPCTypeCheckObj` (strict) does.
fn prevout_of(o: &Value) -> Result<OutPoint, RpcError> {
    let Value::Object(fields) = o else {
        return Err(RpcError::misc(format!(
            "JSON value of type {} is not of expected type object",
            type_name(o)
        )));
    };
    for (key, expected) in [("txid", "string"), ("vout", "number")] {
        let v = fields.get(key).unwrap_or(&Value::Null);
        if v.is_null() {
            return Err(RpcError::new(codes::TYPE_ERROR, format!("Missing {key}")));
        }
        if type_name(v) != expected {
            return Err(RpcError::new(
                codes::TYPE_ERROR,
                format!(
                    "JSON value of type {} for field {key} is not of expected type {expected}",
                    type_name(v)
                ),
            ));
        }
    }
    if let Some(k) = fields.keys().find(|k| *k != "txid" && *k != "vout") {
        return Err(RpcError::new(
            codes::TYPE_ERROR,
            format!("Unexpected key {k}"),
        ));
    }
    let txid: Txid = parse_hash(fields["txid"].as_str().unwrap_or_default(), "txid")?;
    let vout = fields["vout"]
        .as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| RpcError::misc("JSON integer out of range"))?;
    let vout = u32::try_from(vout)
        .map_err(|_| RpcError::invalid_parameter("Invalid parameter, vout cannot be negative"))?;
    Ok(OutPoint::new(txid, vout))
}
