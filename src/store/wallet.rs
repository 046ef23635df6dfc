//! Typed queries of the on-chain wallet tables. Each function runs inside the caller's
//! connection or transaction; the wallet decides what forms one state change.

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::{Amount, BlockHash, OutPoint, ScriptBuf, Transaction, Txid};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::StoreError;
use crate::keys::Keychain;

/// Blocks a coinbase output waits before it may be spent (consensus).
pub const COINBASE_MATURITY: u32 = 100;

/// One of our outputs, with where its transaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletOutput {
    pub outpoint: OutPoint,
    pub value: Amount,
    pub script_pubkey: ScriptBuf,
    pub keychain: Keychain,
    pub index: u32,
    /// 0 while unconfirmed.
    pub confirmations: u32,
    pub coinbase: bool,
    /// Its transaction was built by this wallet.
    pub own: bool,
}

/// Balances in satoshis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    /// Confirmed, unspent and spendable (coinbase outputs only once mature).
    pub confirmed: u64,
    /// Unspent outputs of unconfirmed transactions (our change, incoming from the mempool).
    pub unconfirmed: u64,
    /// Confirmed coinbase outputs not yet mature.
    pub immature: u64,
}

/// A wallet transaction as listed to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRecord {
    pub txid: Txid,
    pub block: Option<(u32, BlockHash)>,
    pub confirmations: u32,
    pub coinbase: bool,
    pub own: bool,
    pub fee_sat: Option<u64>,
    /// Sum of its outputs paying us.
    pub received_sat: u64,
    /// Sum of our outputs it spends.
    pub sent_sat: u64,
    pub first_seen: i64,
}

fn txid_from(bytes: Vec<u8>) -> Result<Txid, StoreError> {
    Txid::from_slice(&bytes).map_err(|_| StoreError::Corrupt("txid is not 32 bytes".into()))
}

fn hash_from(bytes: Vec<u8>) -> Result<BlockHash, StoreError> {
    BlockHash::from_slice(&bytes)
        .map_err(|_| StoreError::Corrupt("block hash is not 32 bytes".into()))
}

fn u32_from(v: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} out of range: {v}")))
}

fn confirmations(tip: u32, height: Option<u32>) -> u32 {
    match height {
        Some(h) if h <= tip => tip - h + 1,
        _ => 0,
    }
}

// ---- addresses ----

pub fn insert_address(
    conn: &Connection,
    keychain: Keychain,
    index: u32,
    script: &ScriptBuf,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO wallet_addresses (keychain, idx, script_pubkey) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![keychain.index(), index, script.as_bytes()])?;
    Ok(())
}

/// How many scripts of `keychain` are derived (indexes `0..n`).
pub fn derived_count(conn: &Connection, keychain: Keychain) -> Result<u32, StoreError> {
    let max: Option<i64> = conn
        .prepare_cached("SELECT max(idx) FROM wallet_addresses WHERE keychain = ?1")?
        .query_row(params![keychain.index()], |r| r.get(0))?;
    match max {
        None => Ok(0),
        Some(m) => Ok(u32_from(m, "address index")? + 1),
    }
}

/// Which of our keys `script` pays, if any.
pub fn script_owner(
    conn: &Connection,
    script: &[u8],
) -> Result<Option<(Keychain, u32)>, StoreError> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached("SELECT keychain, idx FROM wallet_addresses WHERE script_pubkey = ?1")?
        .query_row(params![script], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        None => Ok(None),
        Some((k, i)) => {
            let k = Keychain::from_index(k)
                .ok_or_else(|| StoreError::Corrupt(format!("keychain {k}")))?;
            Ok(Some((k, u32_from(i, "address index")?)))
        }
    }
}

// ---- scanned blocks ----

/// The last block the wallet scanned.
pub fn scan_tip(conn: &Connection) -> Result<Option<(u32, BlockHash)>, StoreError> {
    let row: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT height, hash FROM wallet_blocks ORDER BY height DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(h, hash)| Ok((u32_from(h, "height")?, hash_from(hash)?)))
        .transpose()
}

pub fn scanned_hash_at(conn: &Connection, height: u32) -> Result<Option<BlockHash>, StoreError> {
    let row: Option<Vec<u8>> = conn
        .prepare_cached("SELECT hash FROM wallet_blocks WHERE height = ?1")?
        .query_row(params![height], |r| r.get(0))
        .optional()?;
    row.map(hash_from).transpose()
}

/// Records a scanned block and forgets those more than `keep` blocks below it: a reorg deeper
/// than that falls back to a rescan from the wallet's birthday.
pub fn insert_block(
    conn: &Connection,
    height: u32,
    hash: &BlockHash,
    keep: u32,
) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT OR REPLACE INTO wallet_blocks (height, hash) VALUES (?1, ?2)")?
        .execute(params![height, hash.as_byte_array()])?;
    conn.prepare_cached("DELETE FROM wallet_blocks WHERE height < ?1")?
        .execute(params![i64::from(height) - i64::from(keep)])?;
    Ok(())
}

/// Undoes every block above `height`: their transactions become unconfirmed (they may be in
/// the mempool again, or reconfirm in the new branch); coinbase transactions of those blocks
/// can never come back, so they and their outputs are dropped.
pub fn rewind_above(conn: &Connection, height: Option<u32>) -> Result<(), StoreError> {
    let h = height.map(i64::from).unwrap_or(-1);
    conn.prepare_cached("DELETE FROM wallet_blocks WHERE height > ?1")?
        .execute(params![h])?;
    conn.prepare_cached(
        "UPDATE wallet_txs SET block_height = NULL, block_hash = NULL WHERE block_height > ?1",
    )?
    .execute(params![h])?;
    conn.prepare_cached("DELETE FROM wallet_txs WHERE coinbase = 1 AND block_height IS NULL")?
        .execute([])?;
    Ok(())
}

// ---- transactions and outputs ----

/// Inserts a transaction, or updates its confirmation. A mempool sighting (`block: None`)
/// never unconfirms a transaction already seen in a block.
#[allow(clippy::too_many_arguments)]
pub fn upsert_tx(
    conn: &Connection,
    tx: &Transaction,
    block: Option<(u32, BlockHash)>,
    own: bool,
    fee_sat: Option<u64>,
    now: i64,
) -> Result<(), StoreError> {
    let (height, hash) = match block {
        Some((h, hash)) => (Some(h), Some(hash.to_byte_array().to_vec())),
        None => (None, None),
    };
    conn.prepare_cached(
        "INSERT INTO wallet_txs (txid, raw, block_height, block_hash, coinbase, own, fee_sat, first_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(txid) DO UPDATE SET
           block_height = coalesce(excluded.block_height, block_height),
           block_hash = coalesce(excluded.block_hash, block_hash),
           own = max(own, excluded.own),
           fee_sat = coalesce(fee_sat, excluded.fee_sat)",
    )?
    .execute(params![
        tx.compute_txid().as_byte_array(),
        serialize(tx),
        height,
        hash,
        tx.is_coinbase(),
        own,
        fee_sat.map(|f| f as i64),
        now
    ])?;
    Ok(())
}

pub fn insert_output(
    conn: &Connection,
    outpoint: &OutPoint,
    value: Amount,
    script: &ScriptBuf,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO wallet_outputs (txid, vout, value_sat, script_pubkey)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        outpoint.txid.as_byte_array(),
        outpoint.vout,
        value.to_sat() as i64,
        script.as_bytes()
    ])?;
    Ok(())
}

/// `None` if the outpoint is not ours; otherwise its value and the transaction spending it.
pub fn output_spender(
    conn: &Connection,
    outpoint: &OutPoint,
) -> Result<Option<(Amount, Option<Txid>)>, StoreError> {
    let row: Option<(i64, Option<Vec<u8>>)> = conn
        .prepare_cached(
            "SELECT value_sat, spent_by FROM wallet_outputs WHERE txid = ?1 AND vout = ?2",
        )?
        .query_row(params![outpoint.txid.as_byte_array(), outpoint.vout], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match row {
        None => Ok(None),
        Some((value, spender)) => Ok(Some((
            Amount::from_sat(value as u64),
            spender.map(txid_from).transpose()?,
        ))),
    }
}

pub fn set_spent_by(
    conn: &Connection,
    outpoint: &OutPoint,
    spender: &Txid,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE wallet_outputs SET spent_by = ?3 WHERE txid = ?1 AND vout = ?2")?
        .execute(params![
            outpoint.txid.as_byte_array(),
            outpoint.vout,
            spender.as_byte_array()
        ])?;
    Ok(())
}

/// `None` if unknown, `Some(confirmed)` otherwise.
pub fn tx_confirmed(conn: &Connection, txid: &Txid) -> Result<Option<bool>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT block_height IS NOT NULL FROM wallet_txs WHERE txid = ?1")?
        .query_row(params![txid.as_byte_array()], |r| r.get(0))
        .optional()?)
}

/// Forgets a transaction: its outputs go with it, the outputs it spent become unspent.
pub fn delete_tx(conn: &Connection, txid: &Txid) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM wallet_txs WHERE txid = ?1")?
        .execute(params![txid.as_byte_array()])?;
    Ok(())
}

/// Unconfirmed transactions with their raw form, oldest first.
pub fn unconfirmed_txs(conn: &Connection) -> Result<Vec<Transaction>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT raw FROM wallet_txs WHERE block_height IS NULL ORDER BY first_seen, rowid",
    )?;
    let raws = stmt
        .query_map([], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    raws.into_iter()
        .map(|raw| {
            deserialize(&raw).map_err(|e| StoreError::Corrupt(format!("stored transaction: {e}")))
        })
        .collect()
}

pub fn balance(conn: &Connection, tip: u32) -> Result<Balance, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.value_sat, t.block_height, t.coinbase
         FROM wallet_outputs o JOIN wallet_txs t ON t.txid = o.txid
         WHERE o.spent_by IS NULL",
    )?;
    let mut rows = stmt.query([])?;
    let mut b = Balance::default();
    while let Some(r) = rows.next()? {
        let value = r.get::<_, i64>(0)? as u64;
        let height: Option<i64> = r.get(1)?;
        let coinbase: bool = r.get(2)?;
        let height = height.map(|h| u32_from(h, "height")).transpose()?;
        let conf = confirmations(tip, height);
        if height.is_none() {
            b.unconfirmed += value;
        } else if coinbase && conf < COINBASE_MATURITY {
            b.immature += value;
        } else {
            b.confirmed += value;
        }
    }
    Ok(b)
}

fn output_from_row(r: &Row<'_>, tip: u32) -> Result<WalletOutput, StoreError> {
    let height: Option<i64> = r.get(4)?;
    let height = height.map(|h| u32_from(h, "height")).transpose()?;
    let keychain: i64 = r.get(7)?;
    Ok(WalletOutput {
        outpoint: OutPoint {
            txid: txid_from(r.get(0)?)?,
            vout: u32_from(r.get(1)?, "vout")?,
        },
        value: Amount::from_sat(r.get::<_, i64>(2)? as u64),
        script_pubkey: ScriptBuf::from_bytes(r.get(3)?),
        confirmations: confirmations(tip, height),
        coinbase: r.get(5)?,
        own: r.get(6)?,
        keychain: Keychain::from_index(keychain)
            .ok_or_else(|| StoreError::Corrupt(format!("keychain {keychain}")))?,
        index: u32_from(r.get(8)?, "address index")?,
    })
}

/// Unspent outputs, each with its confirmations at `tip`.
pub fn unspent_outputs(conn: &Connection, tip: u32) -> Result<Vec<WalletOutput>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.txid, o.vout, o.value_sat, o.script_pubkey, t.block_height, t.coinbase, t.own,
                a.keychain, a.idx
         FROM wallet_outputs o
         JOIN wallet_txs t ON t.txid = o.txid
         JOIN wallet_addresses a ON a.script_pubkey = o.script_pubkey
         WHERE o.spent_by IS NULL
         ORDER BY o.value_sat DESC, o.txid, o.vout",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(output_from_row(r, tip)?);
    }
    Ok(out)
}

/// One of our outputs, spent or not, with its confirmations at `tip`: `None` if not ours.
pub fn output(
    conn: &Connection,
    outpoint: &OutPoint,
    tip: u32,
) -> Result<Option<WalletOutput>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.txid, o.vout, o.value_sat, o.script_pubkey, t.block_height, t.coinbase, t.own,
                a.keychain, a.idx
         FROM wallet_outputs o
         JOIN wallet_txs t ON t.txid = o.txid
         JOIN wallet_addresses a ON a.script_pubkey = o.script_pubkey
         WHERE o.txid = ?1 AND o.vout = ?2",
    )?;
    let mut rows = stmt.query(params![outpoint.txid.as_byte_array(), outpoint.vout])?;
    rows.next()?.map(|r| output_from_row(r, tip)).transpose()
}

/// Every wallet transaction, newest first (unconfirmed on top).
pub fn list_txs(conn: &Connection, tip: u32) -> Result<Vec<TxRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.txid, t.block_height, t.block_hash, t.coinbase, t.own, t.fee_sat, t.first_seen,
                (SELECT coalesce(sum(value_sat), 0) FROM wallet_outputs WHERE txid = t.txid),
                (SELECT coalesce(sum(value_sat), 0) FROM wallet_outputs WHERE spent_by = t.txid)
         FROM wallet_txs t
         ORDER BY t.block_height IS NOT NULL, t.block_height DESC, t.first_seen DESC, t.rowid DESC",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let height: Option<i64> = r.get(1)?;
        let height = height.map(|h| u32_from(h, "height")).transpose()?;
        let hash: Option<Vec<u8>> = r.get(2)?;
        let block = match (height, hash) {
            (Some(h), Some(hash)) => Some((h, hash_from(hash)?)),
            _ => None,
        };
        out.push(TxRecord {
            txid: txid_from(r.get(0)?)?,
            confirmations: confirmations(tip, height),
            block,
            coinbase: r.get(3)?,
            own: r.get(4)?,
            fee_sat: r.get::<_, Option<i64>>(5)?.map(|f| f as u64),
            first_seen: r.get(6)?,
            received_sat: r.get::<_, i64>(7)? as u64,
            sent_sat: r.get::<_, i64>(8)? as u64,
        });
    }
    Ok(out)
}
