//! A [`ChainSource`] over bitcoind's JSON-RPC: a real `bitcoind -regtest` (with `-txindex=1`
//! for confirmed transactions that are not ours) or the embedded node's server.
//!
//! Errors: unreachable, timed out, HTTP 503 or -28 (warming up) are
//! [`ChainError::Transient`]; -25/-26/-27 from `sendrawtransaction` are
//! [`ChainError::Rejected`] with Core's code and message; the rest is
//! [`ChainError::Permanent`]. Lookups of unknown things answer `Ok(None)`.

mod transport;

use std::time::Duration;

use async_trait::async_trait;
use bitcoin::block::{Header, Version};
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::{
    Address, Amount, Block, BlockHash, CompactTarget, FeeRate, OutPoint, ScriptBuf, Transaction,
    TxMerkleNode, TxOut, Txid,
};
use serde_json::{json, Value};

pub use self::transport::RpcAuth;
use self::transport::{CallError, Transport};
use super::{BlockRef, ChainError, ChainSource, HeaderInfo, TestAccept, TxInfo, UtxoInfo};

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Mining many blocks takes longer.
const GENERATE_TIMEOUT: Duration = Duration::from_secs(600);
/// Core's highest fee estimate target.
const MAX_CONF_TARGET: u16 = 1008;

/// Core's `RPC_INVALID_ADDRESS_OR_KEY`: "not found" for blocks and transactions.
const NOT_FOUND: i64 = -5;
/// Core's `RPC_INVALID_PARAMETER`: e.g. a height above the tip.
const INVALID_PARAMETER: i64 = -8;
/// Core's `RPC_IN_WARMUP`.
const IN_WARMUP: i64 = -28;

/// A bitcoind JSON-RPC client. Cheap to share behind an `Arc`; connections are pooled.
pub struct RpcChainSource {
    transport: Transport,
}

fn bad_answer(method: &str, what: impl std::fmt::Display) -> ChainError {
    ChainError::Permanent(format!("{method}: unexpected answer: {what}"))
}

/// Maps a server error of `method` to the seam's kinds.
fn classify(method: &str, e: CallError) -> ChainError {
    match e {
        CallError::Chain(c) => c,
        CallError::Rpc { code, message } if code == IN_WARMUP => {
            ChainError::Transient(format!("{method}: {message}"))
        }
        CallError::Rpc { code, message }
            if method == "sendrawtransaction" && matches!(code, -27..=-25) =>
        {
            ChainError::Rejected {
                code,
                reason: message,
            }
        }
        CallError::Rpc { code, message } => {
            ChainError::Permanent(format!("{method}: {message} ({code})"))
        }
    }
}

fn field<'a>(method: &str, v: &'a Value, key: &str) -> Result<&'a Value, ChainError> {
    v.get(key)
        .ok_or_else(|| bad_answer(method, format!("no `{key}`")))
}

fn parse_str<T: std::str::FromStr>(method: &str, v: &Value, key: &str) -> Result<T, ChainError>
where
    T::Err: std::fmt::Display,
{
    let s = field(method, v, key)?
        .as_str()
        .ok_or_else(|| bad_answer(method, format!("`{key}` is not a string")))?;
    s.parse()
        .map_err(|e| bad_answer(method, format!("`{key}`: {e}")))
}

fn parse_u64(method: &str, v: &Value, key: &str) -> Result<u64, ChainError> {
    field(method, v, key)?
        .as_u64()
        .ok_or_else(|| bad_answer(method, format!("`{key}` is not an unsigned integer")))
}

fn parse_i64(method: &str, v: &Value, key: &str) -> Result<i64, ChainError> {
    field(method, v, key)?
        .as_i64()
        .ok_or_else(|| bad_answer(method, format!("`{key}` is not an integer")))
}

fn parse_btc(method: &str, v: &Value, key: &str) -> Result<Amount, ChainError> {
    let btc = field(method, v, key)?
        .as_f64()
        .ok_or_else(|| bad_answer(method, format!("`{key}` is not a number")))?;
    Amount::from_btc(btc).map_err(|e| bad_answer(method, format!("`{key}`: {e}")))
}

fn decode_hex<T: bitcoin::consensus::Decodable>(method: &str, v: &Value) -> Result<T, ChainError> {
    let s = v
        .as_str()
        .ok_or_else(|| bad_answer(method, "not a hex string"))?;
    let bytes = hex::decode(s).map_err(|e| bad_answer(method, e))?;
    deserialize(&bytes).map_err(|e| bad_answer(method, e))
}

fn to_u32(method: &str, n: u64) -> Result<u32, ChainError> {
    u32::try_from(n).map_err(|_| bad_answer(method, format!("{n} out of range")))
}

impl RpcChainSource {
    /// A client of the server at `url` (`http://host:port`). Nothing is sent yet: an
    /// unreachable server shows up as [`ChainError::Transient`] on the first call.
    pub fn new(url: &str, auth: RpcAuth) -> Result<RpcChainSource, ChainError> {
        Ok(RpcChainSource {
            transport: Transport::new(url, auth)?,
        })
    }

    /// Calls any method with positional (array) or named (object) params.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ChainError> {
        self.transport
            .call(method, params, CALL_TIMEOUT)
            .await
            .map_err(|e| classify(method, e))
    }

    /// Like [`Self::call`], keeping the server's error code for the caller to interpret.
    async fn call_raw(&self, method: &str, params: Value) -> Result<Value, CallError> {
        self.transport.call(method, params, CALL_TIMEOUT).await
    }

    /// `Ok(None)` when the server answers `code` (e.g. -5, not found).
    async fn call_or_none(
        &self,
        method: &str,
        params: Value,
        none_code: i64,
    ) -> Result<Option<Value>, ChainError> {
        match self.call_raw(method, params).await {
            Ok(v) => Ok(Some(v)),
            Err(CallError::Rpc { code, .. }) if code == none_code => Ok(None),
            Err(e) => Err(classify(method, e)),
        }
    }

    /// Mines `n` blocks paying `address` (`generatetoaddress`).
    pub async fn generate_to_address(
        &self,
        n: u32,
        address: &Address,
    ) -> Result<Vec<BlockHash>, ChainError> {
        const M: &str = "generatetoaddress";
        let v = self
            .transport
            .call(M, json!([n, address.to_string()]), GENERATE_TIMEOUT)
            .await
            .map_err(|e| classify(M, e))?;
        v.as_array()
            .ok_or_else(|| bad_answer(M, "not an array"))?
            .iter()
            .map(|h| {
                h.as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| bad_answer(M, "not a block hash"))
            })
            .collect()
    }
}

/// A header from `getblockheader … true`, checked against the hash asked for.
fn header_from_json(hash: &BlockHash, v: &Value) -> Result<HeaderInfo, ChainError> {
    const M: &str = "getblockheader";
    let bits = field(M, v, "bits")?
        .as_str()
        .and_then(|b| u32::from_str_radix(b, 16).ok())
        .ok_or_else(|| bad_answer(M, "`bits` is not hex"))?;
    let version = i32::try_from(parse_i64(M, v, "version")?)
        .map_err(|_| bad_answer(M, "`version` out of range"))?;
    let prev_blockhash = match v.get("previousblockhash") {
        Some(_) => parse_str(M, v, "previousblockhash")?,
        None => BlockHash::all_zeros(),
    };
    let header = Header {
        version: Version::from_consensus(version),
        prev_blockhash,
        merkle_root: parse_str::<TxMerkleNode>(M, v, "merkleroot")?,
        time: to_u32(M, parse_u64(M, v, "time")?)?,
        bits: CompactTarget::from_consensus(bits),
        nonce: to_u32(M, parse_u64(M, v, "nonce")?)?,
    };
    if header.block_hash() != *hash {
        return Err(bad_answer(M, format!("fields do not hash to {hash}")));
    }
    Ok(HeaderInfo {
        header,
        height: to_u32(M, parse_u64(M, v, "height")?)?,
        // Core reports -1 confirmations for a block off the active chain.
        in_active_chain: parse_i64(M, v, "confirmations")? > 0,
    })
}

#[async_trait]
impl ChainSource for RpcChainSource {
    async fn tip(&self) -> Result<BlockRef, ChainError> {
        // One call, so height and hash describe the same tip.
        const M: &str = "getblockchaininfo";
        let v = self.call(M, json!([])).await?;
        Ok(BlockRef {
            height: to_u32(M, parse_u64(M, &v, "blocks")?)?,
            hash: parse_str(M, &v, "bestblockhash")?,
        })
    }

    async fn block_hash(&self, height: u32) -> Result<Option<BlockHash>, ChainError> {
        const M: &str = "getblockhash";
        let Some(v) = self
            .call_or_none(M, json!([height]), INVALID_PARAMETER)
            .await?
        else {
            return Ok(None);
        };
        v.as_str()
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| bad_answer(M, "not a block hash"))
    }

    async fn header(&self, hash: &BlockHash) -> Result<Option<HeaderInfo>, ChainError> {
        let params = json!([hash.to_string(), true]);
        match self
            .call_or_none("getblockheader", params, NOT_FOUND)
            .await?
        {
            Some(v) => header_from_json(hash, &v).map(Some),
            None => Ok(None),
        }
    }

    async fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainError> {
        const M: &str = "getblock";
        let params = json!([hash.to_string(), 0]);
        let Some(v) = self.call_or_none(M, params, NOT_FOUND).await? else {
            return Ok(None);
        };
        let block: Block = decode_hex(M, &v)?;
        if block.block_hash() != *hash {
            return Err(bad_answer(M, format!("block does not hash to {hash}")));
        }
        Ok(Some(block))
    }

    async fn transaction(&self, txid: &Txid) -> Result<Option<TxInfo>, ChainError> {
        const M: &str = "getrawtransaction";
        // -5 covers "unknown" and, on a bitcoind without -txindex, "confirmed and not ours".
        let params = json!([txid.to_string(), true]);
        let Some(v) = self.call_or_none(M, params, NOT_FOUND).await? else {
            return Ok(None);
        };
        let tx: Transaction = decode_hex(M, field(M, &v, "hex")?)?;
        if tx.compute_txid() != *txid {
            return Err(bad_answer(M, format!("transaction is not {txid}")));
        }
        let Some(_) = v.get("blockhash") else {
            return Ok(Some(TxInfo {
                tx,
                block: None,
                confirmations: 0,
            }));
        };
        let block_hash: BlockHash = parse_str(M, &v, "blockhash")?;
        let confirmations = parse_i64(M, &v, "confirmations")?;
        if confirmations <= 0 {
            // Indexed in a block that left the active chain: neither confirmed nor pending.
            return Ok(None);
        }
        let Some(header) = self.header(&block_hash).await? else {
            return Ok(None);
        };
        Ok(Some(TxInfo {
            tx,
            block: Some(BlockRef {
                height: header.height,
                hash: block_hash,
            }),
            confirmations: to_u32(M, confirmations as u64)?,
        }))
    }

    async fn utxo(&self, outpoint: &OutPoint) -> Result<Option<UtxoInfo>, ChainError> {
        const M: &str = "gettxout";
        let params = json!([outpoint.txid.to_string(), outpoint.vout, true]);
        let v = self.call(M, params).await?;
        if v.is_null() {
            return Ok(None);
        }
        let spk = field(M, &v, "scriptPubKey")?;
        let script = field(M, spk, "hex")?
            .as_str()
            .and_then(|h| ScriptBuf::from_hex(h).ok())
            .ok_or_else(|| bad_answer(M, "`scriptPubKey.hex` is not hex"))?;
        Ok(Some(UtxoInfo {
            txout: TxOut {
                value: parse_btc(M, &v, "value")?,
                script_pubkey: script,
            },
            confirmations: to_u32(M, parse_u64(M, &v, "confirmations")?)?,
            coinbase: field(M, &v, "coinbase")?
                .as_bool()
                .ok_or_else(|| bad_answer(M, "`coinbase` is not a bool"))?,
        }))
    }

    async fn broadcast(&self, tx: &Transaction) -> Result<Txid, ChainError> {
        const M: &str = "sendrawtransaction";
        // maxfeerate 0: the hub sets its own fees (justice transactions may pay a lot); the
        // embedded source has no such cap either.
        let v = self.call(M, json!([hex::encode(serialize(tx)), 0])).await?;
        v.as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad_answer(M, "not a txid"))
    }

    async fn test_accept(&self, tx: &Transaction) -> Result<TestAccept, ChainError> {
        const M: &str = "testmempoolaccept";
        let v = self
            .call(M, json!([[hex::encode(serialize(tx))], 0]))
            .await?;
        let r = v
            .as_array()
            .and_then(|a| a.first())
            .ok_or_else(|| bad_answer(M, "not a one-element array"))?;
        let txid: Txid = parse_str(M, r, "txid")?;
        let allowed = field(M, r, "allowed")?
            .as_bool()
            .ok_or_else(|| bad_answer(M, "`allowed` is not a bool"))?;
        if !allowed {
            let reason = field(M, r, "reject-reason")?
                .as_str()
                .unwrap_or_default()
                .to_owned();
            return Ok(TestAccept::Rejected { txid, reason });
        }
        let fees = field(M, r, "fees")?;
        Ok(TestAccept::Allowed {
            txid,
            vsize: parse_u64(M, r, "vsize")?,
            fee_sat: parse_btc(M, fees, "base")?.to_sat(),
        })
    }

    async fn estimate_fee_rate(&self, target_blocks: u16) -> Result<Option<FeeRate>, ChainError> {
        const M: &str = "estimatesmartfee";
        let target = target_blocks.clamp(1, MAX_CONF_TARGET);
        let v = self.call(M, json!([target])).await?;
        if v.get("feerate").is_none() {
            // "Insufficient data or no feerate found": the caller applies its floor.
            return Ok(None);
        }
        let per_kvb = parse_btc(M, &v, "feerate")?.to_sat();
        // sat/kvB to sat/kwu, rounded up so the estimate is never undercut.
        Ok(Some(FeeRate::from_sat_per_kwu(per_kvb.div_ceil(4))))
    }

    async fn mempool_spender(&self, outpoint: &OutPoint) -> Result<Option<Txid>, ChainError> {
        const M: &str = "gettxspendingprevout";
        let params = json!([[{"txid": outpoint.txid.to_string(), "vout": outpoint.vout}]]);
        let v = self.call(M, params).await?;
        let r = v
            .as_array()
            .and_then(|a| a.first())
            .ok_or_else(|| bad_answer(M, "not a one-element array"))?;
        if parse_str::<Txid>(M, r, "txid")? != outpoint.txid
            || parse_u64(M, r, "vout")? != u64::from(outpoint.vout)
        {
            return Err(bad_answer(M, "not the outpoint asked for"));
        }
        match r.get("spendingtxid") {
            None => Ok(None),
            Some(_) => parse_str(M, r, "spendingtxid").map(Some),
        }
    }
}
