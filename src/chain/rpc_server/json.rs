//! Blocks, headers and transactions as Bitcoin Core prints them (`blockheaderToJSON`,
//! `blockToJSON`, `TxToUniv`), field for field and in Core's order.

use bitcoin::block::Header;
use bitcoin::consensus::encode::{serialize, VarInt};
use bitcoin::{Block, BlockHash, CompactTarget, Target, Transaction, TxOut, Work};

use super::script::{asm, script_pubkey_json};
use super::value::Json;

/// A spent output with where it was created, for fees and `prevout` (Core's undo data).
#[derive(Debug, Clone)]
pub struct Prevout {
    pub txout: TxOut,
    pub height: u32,
    pub coinbase: bool,
}

/// How much of a transaction to show (Core's `TxVerbosity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxDetail {
    /// Fields and, when the spent outputs are known, `fee`.
    Details,
    /// Also each input's `prevout`.
    DetailsAndPrevout,
}

/// Core's `TxToUniv`. `prevouts` (one per input) plays the role of Core's undo data.
pub fn tx_json(
    tx: &Transaction,
    prevouts: Option<&[Prevout]>,
    detail: TxDetail,
    include_hex: bool,
) -> Json {
    let weight = tx.weight().to_wu();
    let mut entry = Json::obj()
        .kv("txid", tx.compute_txid().to_string())
        .kv("hash", tx.compute_wtxid().to_string())
        .kv("version", tx.version.0 as u32)
        .kv("size", tx.total_size())
        .kv("vsize", weight.div_ceil(4))
        .kv("weight", weight)
        .kv("locktime", tx.lock_time.to_consensus_u32());
    let prevouts = prevouts.filter(|p| p.len() == tx.input.len() && !tx.is_coinbase());
    let mut vin = Vec::with_capacity(tx.input.len());
    for (i, input) in tx.input.iter().enumerate() {
        let mut o = Json::obj();
        if tx.is_coinbase() {
            o.push("coinbase", hex::encode(input.script_sig.as_bytes()));
        } else {
            o.push("txid", input.previous_output.txid.to_string());
            o.push("vout", input.previous_output.vout);
            o.push(
                "scriptSig",
                Json::obj()
                    .kv("asm", asm(input.script_sig.as_bytes(), true))
                    .kv("hex", hex::encode(input.script_sig.as_bytes())),
            );
        }
        if !input.witness.is_empty() {
            let items: Vec<Json> = input
                .witness
                .iter()
                .map(|w| hex::encode(w).into())
                .collect();
            o.push("txinwitness", Json::Arr(items));
        }
        if let (Some(p), TxDetail::DetailsAndPrevout) = (prevouts, detail) {
            let p = &p[i];
            o.push(
                "prevout",
                Json::obj()
                    .kv("generated", p.coinbase)
                    .kv("height", p.height)
                    .kv("value", p.txout.value)
                    .kv("scriptPubKey", script_pubkey_json(&p.txout.script_pubkey)),
            );
        }
        o.push("sequence", input.sequence.0);
        vin.push(o);
    }
    entry.push("vin", Json::Arr(vin));
    let vout: Vec<Json> = tx
        .output
        .iter()
        .enumerate()
        .map(|(n, out)| {
            Json::obj()
                .kv("value", out.value)
                .kv("n", n)
                .kv("scriptPubKey", script_pubkey_json(&out.script_pubkey))
        })
        .collect();
    entry.push("vout", Json::Arr(vout));
    if let Some(p) = prevouts {
        let inputs: i64 = p.iter().map(|p| p.txout.value.to_sat() as i64).sum();
        let outputs: i64 = tx.output.iter().map(|o| o.value.to_sat() as i64).sum();
        entry.push("fee", Json::Amount(inputs - outputs));
    }
    if include_hex {
        entry.push("hex", hex::encode(serialize(tx)));
    }
    entry
}

/// Core's `GetDifficulty`.
pub fn difficulty(bits: CompactTarget) -> f64 {
    let bits = bits.to_consensus();
    let mut shift = (bits >> 24) & 0xff;
    let mut diff = 0x0000_ffff as f64 / (bits & 0x00ff_ffff) as f64;
    while shift < 29 {
        diff *= 256.0;
        shift += 1;
    }
    while shift > 29 {
        diff /= 256.0;
        shift -= 1;
    }
    diff
}

pub fn target_hex(bits: CompactTarget) -> String {
    hex::encode(Target::from_compact(bits).to_be_bytes())
}

pub fn work_hex(work: Work) -> String {
    hex::encode(work.to_be_bytes())
}

/// Everything `getblockheader` prints about a block.
#[derive(Debug, Clone)]
pub struct HeaderView {
    pub hash: BlockHash,
    pub header: Header,
    pub height: u32,
    /// -1 off the active chain, as Core.
    pub confirmations: i64,
    pub median_time: u32,
    pub chain_work: Work,
    pub n_tx: usize,
    pub next: Option<BlockHash>,
}

/// Core's `blockheaderToJSON`.
pub fn header_json(v: &HeaderView) -> Json {
    let h = &v.header;
    let mut o = Json::obj()
        .kv("hash", v.hash.to_string())
        .kv("confirmations", v.confirmations)
        .kv("height", v.height)
        .kv("version", h.version.to_consensus())
        .kv(
            "versionHex",
            format!("{:08x}", h.version.to_consensus() as u32),
        )
        .kv("merkleroot", h.merkle_root.to_string())
        .kv("time", h.time)
        .kv("mediantime", v.median_time)
        .kv("nonce", h.nonce)
        .kv("bits", format!("{:08x}", h.bits.to_consensus()))
        .kv("target", target_hex(h.bits))
        .kv("difficulty", difficulty(h.bits))
        .kv("chainwork", work_hex(v.chain_work))
        .kv("nTx", v.n_tx);
    if v.height > 0 {
        o.push("previousblockhash", h.prev_blockhash.to_string());
    }
    if let Some(next) = v.next {
        o.push("nextblockhash", next.to_string());
    }
    o
}

/// How `getblock` shows transactions.
pub enum BlockTxs<'a> {
    Txids,
    /// Per transaction (coinbase included) its spent outputs, when known.
    Details {
        prevouts: &'a [Option<Vec<Prevout>>],
        detail: TxDetail,
    },
}

/// Core's `blockToJSON`.
pub fn block_json(v: &HeaderView, block: &Block, txs: BlockTxs<'_>) -> Json {
    let stripped = 80
        + VarInt(block.txdata.len() as u64).size()
        + block.txdata.iter().map(|t| t.base_size()).sum::<usize>();
    let mut o = header_json(v)
        .kv("strippedsize", stripped)
        .kv("size", block.total_size())
        .kv("weight", block.weight().to_wu());
    if let Some(cb) = block.txdata.first() {
        o.push("coinbase_tx", coinbase_json(cb));
    }
    let list: Vec<Json> = match txs {
        BlockTxs::Txids => block
            .txdata
            .iter()
            .map(|t| t.compute_txid().to_string().into())
            .collect(),
        BlockTxs::Details { prevouts, detail } => block
            .txdata
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let p = prevouts.get(i).and_then(|p| p.as_deref());
                tx_json(t, p, detail, true)
            })
            .collect(),
    };
    o.kv("tx", Json::Arr(list))
}

/// Core's `coinbaseTxToJSON`.
fn coinbase_json(tx: &Transaction) -> Json {
    let mut o = Json::obj()
        .kv("version", tx.version.0 as u32)
        .kv("locktime", tx.lock_time.to_consensus_u32());
    if let Some(input) = tx.input.first() {
        o.push("sequence", input.sequence.0);
        o.push("coinbase", hex::encode(input.script_sig.as_bytes()));
        if let Some(w) = input.witness.iter().next() {
            o.push("witness", hex::encode(w));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regtest_difficulty_and_target() {
        let bits = CompactTarget::from_consensus(0x207f_ffff);
        assert_eq!(
            super::super::value::format_g16(difficulty(bits)),
            "4.656542373906925e-10"
        );
        assert_eq!(
            target_hex(bits),
            "7fffff0000000000000000000000000000000000000000000000000000000000"
        );
    }
}
