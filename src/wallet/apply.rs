//! Applying one transaction or one block to the wallet tables. Runs inside the caller's SQL
//! transaction, so a block is stored whole or not at all.

use std::collections::HashMap;

use bitcoin::{Amount, Block, BlockHash, OutPoint, Transaction};
use rusqlite::Connection;

use crate::keys::{Keychain, KeysManager};
use crate::store::wallet as q;
use crate::store::{meta, StoreError};

/// How many unused scripts each keychain keeps derived past the last used one. A wallet
/// restored from its seed finds coins as long as no gap of unused addresses is longer.
pub const GAP_LIMIT: u32 = 20;

/// How many scanned block hashes are kept to find a fork point.
pub const KEEP_BLOCKS: u32 = 288;

pub(crate) fn next_index_key(keychain: Keychain) -> &'static str {
    match keychain {
        Keychain::External => "wallet_next_index_0",
        Keychain::Internal => "wallet_next_index_1",
    }
}

/// Derives scripts so that `keychain` has at least `GAP_LIMIT` past `used`. Returns whether
/// any new script was derived (a block must then be scanned again for it).
pub(crate) fn ensure_lookahead(
    conn: &Connection,
    keys: &KeysManager,
    keychain: Keychain,
    used: Option<u32>,
) -> Result<bool, StoreError> {
    let want = used.map(|u| u + 1).unwrap_or(0).saturating_add(GAP_LIMIT);
    let have = q::derived_count(conn, keychain)?;
    for index in have..want {
        let script = keys
            .wallet_script(keychain, index)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        q::insert_address(conn, keychain, index, &script)?;
    }
    Ok(want > have)
}

/// Marks `index` used: later addresses handed out come after it, and the lookahead moves.
fn mark_used(
    conn: &Connection,
    keys: &KeysManager,
    keychain: Keychain,
    index: u32,
) -> Result<bool, StoreError> {
    let key = next_index_key(keychain);
    let next = meta::get_u32(conn, key)?.unwrap_or(0);
    if index >= next {
        meta::set_u32(conn, key, index + 1)?;
    }
    ensure_lookahead(
        conn,
        keys,
        keychain,
        Some(index.max(next.saturating_sub(1))),
    )
}

/// What applying one transaction did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Applied {
    /// It pays us or spends our coins, and is now stored.
    pub relevant: bool,
    /// New scripts were derived while applying it.
    pub extended: bool,
}

/// Stores `tx` if it concerns us.
///
/// A transaction in a block wins over any unconfirmed one spending the same coin (that one was
/// replaced or double-spent and is dropped); a mempool transaction never displaces a spend we
/// already know.
pub(crate) fn apply_tx(
    conn: &Connection,
    keys: &KeysManager,
    tx: &Transaction,
    block: Option<(u32, BlockHash)>,
    own: bool,
    fee: Option<Amount>,
    now: i64,
) -> Result<Applied, StoreError> {
    let txid = tx.compute_txid();
    let mut ours = Vec::new();
    for (vout, out) in tx.output.iter().enumerate() {
        if let Some((keychain, index)) = q::script_owner(conn, out.script_pubkey.as_bytes())? {
            ours.push((vout as u32, out, keychain, index));
        }
    }
    let mut spends = Vec::new();
    let mut input_sum = Amount::ZERO;
    let mut all_inputs_ours = !tx.is_coinbase();
    if !tx.is_coinbase() {
        for input in &tx.input {
            match q::output_spender(conn, &input.previous_output)? {
                Some((value, spender)) => {
                    input_sum += value;
                    spends.push((input.previous_output, spender));
                }
                None => all_inputs_ours = false,
            }
        }
    }
    if ours.is_empty() && spends.is_empty() {
        return Ok(Applied::default());
    }
    let fee = fee.or_else(|| {
        let out_sum: Amount = tx.output.iter().map(|o| o.value).sum();
        all_inputs_ours
            .then(|| input_sum.checked_sub(out_sum))
            .flatten()
    });
    let mut to_mark: Vec<OutPoint> = Vec::new();
    for (outpoint, spender) in &spends {
        match spender {
            Some(other) if *other == txid => {}
            Some(other) => {
                if block.is_some() {
                    // The chain decided: the other spender is a conflict and goes (its own
                    // descendants are dropped when the wallet reconciles with the mempool).
                    tracing::info!(%other, winner = %txid, "dropping conflicted transaction");
                    q::delete_tx(conn, other)?;
                    to_mark.push(*outpoint);
                }
            }
            None => to_mark.push(*outpoint),
        }
    }
    q::upsert_tx(conn, tx, block, own, fee.map(|f| f.to_sat()), now)?;
    let mut extended = false;
    for (vout, out, keychain, index) in ours {
        q::insert_output(
            conn,
            &OutPoint { txid, vout },
            out.value,
            &out.script_pubkey,
        )?;
        extended |= mark_used(conn, keys, keychain, index)?;
    }
    for outpoint in to_mark {
        q::set_spent_by(conn, &outpoint, &txid)?;
    }
    Ok(Applied {
        relevant: true,
        extended,
    })
}

/// Applies every transaction of the block at `height` and records it as scanned.
pub(crate) fn apply_block(
    conn: &Connection,
    keys: &KeysManager,
    height: u32,
    hash: BlockHash,
    block: &Block,
    now: i64,
) -> Result<usize, StoreError> {
    let mut relevant = HashMap::new();
    // A transaction may pay a script we only derive while applying an earlier output of this
    // block (the gap moved); apply again until nothing new is derived. Applying is idempotent.
    loop {
        let mut extended = false;
        for tx in &block.txdata {
            let a = apply_tx(conn, keys, tx, Some((height, hash)), false, None, now)?;
            if a.relevant {
                relevant.insert(tx.compute_txid(), ());
            }
            extended |= a.extended;
        }
        if !extended {
            break;
        }
    }
    q::insert_block(conn, height, &hash, KEEP_BLOCKS)?;
    Ok(relevant.len())
}

/// After mempool transactions arrived in any order, records spends of our outputs by
/// unconfirmed transactions whose parent was stored after them.
pub(crate) fn remark_unconfirmed_spends(conn: &Connection) -> Result<(), StoreError> {
    for tx in q::unconfirmed_txs(conn)? {
        let txid = tx.compute_txid();
        for input in &tx.input {
            if let Some((_, None)) = q::output_spender(conn, &input.previous_output)? {
                q::set_spent_by(conn, &input.previous_output, &txid)?;
            }
        }
    }
    Ok(())
}
