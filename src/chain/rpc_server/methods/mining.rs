//! Mining and fees: `generatetoaddress`, `generateblock`, `estimatesmartfee`.

use bitcoin::address::NetworkUnchecked;
use bitcoin::{Address, Network, ScriptBuf, Txid};

use super::super::error::{codes, RpcError};
use super::super::params::Params;
use super::super::value::Json;
use super::super::Shared;
use super::lookup::decode_tx;

/// Core's fee estimator horizon (`HighestTargetTracked`).
const MAX_CONF_TARGET: i64 = 1008;
/// The node's minimum relay fee rate (sat/kvB), the floor of every estimate.
const MIN_RELAY_SAT_PER_KVB: i64 = 1_000;

fn regtest_script(address: &str) -> Option<ScriptBuf> {
    address
        .parse::<Address<NetworkUnchecked>>()
        .ok()?
        .require_network(Network::Regtest)
        .ok()
        .map(|a| a.script_pubkey())
}

pub fn generatetoaddress(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let n: i32 = p.int_as(0)?;
    let script =
        regtest_script(p.str(1)?).ok_or_else(|| RpcError::not_found("Error: Invalid address"))?;
    if p.get(2).is_some() {
        // Regtest blocks are found on the first tries; the limit is accepted and unused.
        p.int(2)?;
    }
    // Core's loop mines nothing for a negative count.
    let hashes = s.node.generate_to_script(n.max(0) as u32, &script)?;
    Ok(hashes
        .iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .into())
}

pub fn generateblock(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let script = regtest_script(p.str(0)?)
        .ok_or_else(|| RpcError::not_found("Error: Invalid address or descriptor"))?;
    let mut txs = Vec::new();
    for item in p.array(1)? {
        let text = item.as_str().ok_or_else(|| {
            RpcError::new(codes::TYPE_ERROR, "JSON value is not a string as expected")
        })?;
        if text.len() == 64 {
            if let Ok(txid) = text.parse::<Txid>() {
                let tx = s
                    .node
                    .mempool_entry(&txid)
                    .map(|(e, _, _)| e.tx)
                    .ok_or_else(|| {
                        RpcError::not_found(format!("Transaction {text} not in mempool."))
                    })?;
                txs.push(tx);
                continue;
            }
        }
        let tx = decode_tx(text).ok_or_else(|| {
            RpcError::new(
                codes::DESERIALIZATION_ERROR,
                format!(
                    "Transaction decode failed for {text}. Make sure the tx has at least one input."
                ),
            )
        })?;
        txs.push(tx);
    }
    if !p.bool_or(2, true)? {
        return Err(RpcError::invalid_parameter(
            "submit=false is not supported by this node",
        ));
    }
    let hash = s.node.generate_block(&script, txs, None)?;
    Ok(Json::obj().kv("hash", hash.to_string()))
}

pub fn estimatesmartfee(s: &Shared, p: &Params) -> Result<Json, RpcError> {
    let target = p.int_as::<i32>(0)? as i64;
    if !(1..=MAX_CONF_TARGET).contains(&target) {
        return Err(RpcError::invalid_parameter(format!(
            "Invalid conf_target, must be between 1 and {MAX_CONF_TARGET}"
        )));
    }
    if p.get(1).is_some() {
        let mode = p.str(1)?.to_ascii_lowercase();
        if !["unset", "economical", "conservative"].contains(&mode.as_str()) {
            return Err(RpcError::invalid_parameter(
                "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\"",
            ));
        }
    }
    let rate = s.node.estimate_fee_rate(target as u16);
    let sat_per_kvb = (rate.to_sat_per_kwu() * 4) as i64;
    Ok(Json::obj()
        .kv(
            "feerate",
            Json::Amount(sat_per_kvb.max(MIN_RELAY_SAT_PER_KVB)),
        )
        .kv("blocks", target))
}
