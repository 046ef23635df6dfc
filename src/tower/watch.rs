//! The tower's eyes: follow the chain block by block, look every transaction's hint up, open
//! the blobs that match, and broadcast their justice transactions on every new tip until a
//! block holds them.
//!
//! ```text
//! new block  -> for each tx: Hint::of(txid) -> blobs under it -> open(txid, blob) -> justice row
//!               (a blob that does not open to a spend of txid: dropped, counted against
//!               its client)
//!            -> a justice txid in the block: confirmed
//! new tip    -> broadcast the unconfirmed justice transactions (again), at most a cap of them,
//!               the most overdue first, each client in turn; the rest at the next tip
//! block gone -> what it confirmed is unconfirmed again
//! ```
//!
//! The position is stored (`watch.tip`) after each block. A restarted tower starts
//! [`REWIND`] blocks below it and scans up to the tip: blocks mined while it was down are
//! looked at too, and scanning a block twice changes nothing.

use std::sync::Arc;
use std::time::Duration;

use bitcoin::{Block, Txid};
use tokio::sync::watch;

use super::blob::{open, Hint};
use super::store::{self as q, Justice};
use crate::chain::watcher::{BlockEvent, ChainWatcher};
use crate::chain::{BlockRef, ChainError, ChainSource};
use crate::store::{Store, StoreError};

/// Blocks re-scanned below the stored position at start (a reorg while the tower was down).
pub const REWIND: u32 = 6;
/// Blocks re-scanned after the watcher lost track (a reorg deeper than it remembers).
pub const DEEP_REWIND: u32 = 144;
/// A justice transaction still unconfirmed this many blocks after its breach is given up: an
/// output it spends was taken by someone else (the cheater's HTLC transaction won the race).
pub const GIVE_UP_DEPTH: u32 = 1008;

/// Justice transactions (re)broadcast at each new tip by default.
pub const MAX_REBROADCASTS_PER_BLOCK: usize = 100;

/// Why one step of the watcher failed (the next poll tries again).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the chain has no block {0}")]
    MissingBlock(bitcoin::BlockHash),
}

/// Follows the chain until `shutdown` flips, broadcasting at most `cap` justice transactions
/// per new tip.
pub async fn run(
    chain: Arc<dyn ChainSource>,
    store: Store,
    every: Duration,
    cap: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut watcher: Option<ChainWatcher> = None;
    let mut rewind = REWIND;
    let mut failing = false;
    loop {
        let r = async {
            let w = match &mut watcher {
                Some(w) => w,
                None => watcher.insert(start(&chain, &store, rewind).await?),
            };
            step(&*chain, &store, w, cap).await
        }
        .await;
        match r {
            Ok(()) if failing => {
                tracing::info!("tower: chain reachable again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "tower: chain step failed; retrying");
                }
                failing = true;
                if matches!(e, WatchError::Chain(ChainError::Permanent(_))) {
                    // Lost track (a deep reorg): start again further down.
                    watcher = None;
                    rewind = DEEP_REWIND;
                }
            }
        }
        tokio::select! {
            _ = crate::net::stopped(&mut shutdown) => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// A watcher `rewind` blocks below the stored position, or at the tip on the first start.
async fn start(
    chain: &Arc<dyn ChainSource>,
    store: &Store,
    rewind: u32,
) -> Result<ChainWatcher, WatchError> {
    let stored = store.call(q::tip).await?;
    let from = match stored {
        None => {
            let tip = chain.tip().await?;
            store.write(move |c| q::set_tip(c, &tip)).await?;
            tip
        }
        Some(b) => {
            let tip = chain.tip().await?;
            let height = b.height.min(tip.height).saturating_sub(rewind);
            let hash = chain
                .block_hash(height)
                .await?
                .ok_or_else(|| ChainError::Transient(format!("no block at height {height}")))?;
            BlockRef { height, hash }
        }
    };
    tracing::info!(height = from.height, "tower: watching the chain");
    Ok(ChainWatcher::new(chain.clone(), Some(from)).await?)
}

/// One poll: process what changed, then broadcast what waits for a confirmation (at most
/// `cap` transactions).
pub async fn step(
    chain: &dyn ChainSource,
    store: &Store,
    watcher: &mut ChainWatcher,
    cap: usize,
) -> Result<(), WatchError> {
    let events = watcher.poll().await?;
    if events.is_empty() {
        return Ok(());
    }
    for e in events {
        match e {
            BlockEvent::Disconnected(b) => {
                store.write(move |c| q::unconfirm_from(c, b.height)).await?;
            }
            BlockEvent::Connected(b) => {
                let block = chain
                    .block(&b.hash)
                    .await?
                    .ok_or(WatchError::MissingBlock(b.hash))?;
                scan(store, block, b).await?;
            }
        }
    }
    rebroadcast(chain, store, watcher.tip().height, cap).await?;
    Ok(())
}

/// Looks every transaction of `block` up, records the justice transactions of the breaches
/// it holds and the confirmations of ours, drops the blobs that matched but hold nothing that
/// spends what they matched (each counted against its client), and moves the stored position
/// to it: one write.
pub async fn scan(store: &Store, block: Block, at: BlockRef) -> Result<(), WatchError> {
    let (found, dropped) = store
        .write(move |c| {
            let (mut found, mut dropped) = (Vec::new(), Vec::new());
            for tx in &block.txdata {
                let txid = tx.compute_txid();
                if q::confirm_justice(c, &txid, at.height)? {
                    tracing::info!(%txid, height = at.height, "tower: justice transaction confirmed");
                }
                let hint = Hint::of(&txid);
                for m in q::blobs_for(c, &hint)? {
                    let why = match open(&txid, &m.blob) {
                        // A justice transaction must spend the breach: anything else in a blob
                        // is not ours to broadcast.
                        Ok(justice)
                            if justice.input.iter().any(|i| i.previous_output.txid == txid) =>
                        {
                            let j = Justice {
                                tx: justice,
                                breach_txid: txid,
                                client: m.client,
                                breach_height: at.height,
                            };
                            if q::add_justice(c, &j)? {
                                found.push(j);
                            }
                            continue;
                        }
                        Ok(_) => {
                            "its transaction does not spend the transaction it matched".to_string()
                        }
                        // The hint is a hash of this txid: an accidental match is out of reach
                        // (2^-128), so this is a client that sealed garbage.
                        Err(e) => format!("it does not open with the transaction it matched: {e}"),
                    };
                    let bad = q::drop_bad_blob(c, &m.client, &hint)?;
                    dropped.push((m.client, txid, why, bad));
                }
            }
            q::set_tip(c, &at)?;
            Ok((found, dropped))
        })
        .await?;
    for (client, txid, why, bad) in dropped {
        tracing::warn!(%client, matched = %txid, bad_blobs = bad, reason = %why,
            "tower: a bad blob was dropped and counted against its client");
    }
    for j in found {
        tracing::warn!(client = %j.client, breach = %j.breach_txid, height = at.height,
            justice = %j.tx.compute_txid(), "tower: breach detected");
    }
    Ok(())
}

/// Broadcasts at most `cap` of the justice transactions not yet confirmed (and not given up),
/// in the order [`q::justice_due`] gives, and records them as broadcast at `tip`; the ones
/// tried, in order.
pub async fn rebroadcast(
    chain: &dyn ChainSource,
    store: &Store,
    tip: u32,
    cap: usize,
) -> Result<Vec<Txid>, WatchError> {
    let (due, waiting) = store
        .call(move |c| {
            let due = q::justice_due(c, tip, GIVE_UP_DEPTH, cap)?;
            Ok((due, q::unconfirmed_count(c, tip, GIVE_UP_DEPTH)?))
        })
        .await?;
    let mut tried = Vec::with_capacity(due.len());
    let mut failed = None;
    for j in due {
        let txid = j.tx.compute_txid();
        match chain.broadcast(&j.tx).await {
            Ok(_) => {
                tracing::info!(%txid, breach = %j.breach_txid, "tower: justice transaction broadcast")
            }
            Err(ChainError::Rejected { reason, .. }) if reason.contains("already") => {
                tracing::debug!(%txid, "tower: justice transaction already in the mempool")
            }
            Err(e) if e.is_transient() => {
                failed = Some(e);
                break;
            }
            Err(e) => {
                tracing::warn!(%txid, breach = %j.breach_txid, error = %e,
                    "tower: justice transaction refused; trying again next block");
                let text = e.to_string();
                store
                    .write(move |c| q::set_justice_error(c, &txid, &text))
                    .await?;
            }
        }
        tried.push(txid);
    }
    if !tried.is_empty() {
        let t = tried.clone();
        store.write(move |c| q::mark_broadcast(c, &t, tip)).await?;
    }
    if let Some(e) = failed {
        return Err(e.into());
    }
    let left = waiting.saturating_sub(tried.len() as u64);
    if left > 0 {
        tracing::info!(
            broadcast = tried.len(),
            waiting = left,
            cap,
            "tower: justice transactions past the cap wait for the next block"
        );
    }
    Ok(tried)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tower::blob::seal;
    use crate::tower::store::{Quota, MIGRATIONS};
    use bitcoin::absolute::LockTime;
    use bitcoin::block::{Header, Version as BlockVersion};
    use bitcoin::hashes::Hash;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};
    use bitcoin::transaction::Version;
    use bitcoin::{
        Amount, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
        TxMerkleNode, TxOut, Witness,
    };

    fn tx(spending: OutPoint, value: u64) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: spending,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(value),
                script_pubkey: ScriptBuf::new(),
            }],
        }
    }

    fn block(txs: Vec<Transaction>) -> Block {
        Block {
            header: Header {
                version: BlockVersion::TWO,
                prev_blockhash: BlockHash::all_zeros(),
                merkle_root: TxMerkleNode::all_zeros(),
                time: 0,
                bits: CompactTarget::from_consensus(0x207fffff),
                nonce: 0,
            },
            txdata: txs,
        }
    }

    fn at(height: u32) -> BlockRef {
        BlockRef {
            height,
            hash: BlockHash::from_byte_array([height as u8; 32]),
        }
    }

    #[tokio::test]
    async fn a_breach_in_a_block_opens_its_blob_and_the_justice_confirms_later() {
        let store = Store::open_in_memory_with_schema(MIGRATIONS).unwrap();
        let client = SecretKey::from_slice(&[1; 32])
            .unwrap()
            .public_key(&Secp256k1::new());
        let breach = tx(
            OutPoint::new(bitcoin::Txid::from_byte_array([7; 32]), 0),
            1000,
        );
        let breach_txid = breach.compute_txid();
        let justice = tx(OutPoint::new(breach_txid, 0), 900);
        // A blob under the right hint that does not spend the breach is not broadcast.
        let stray = tx(OutPoint::new(bitcoin::Txid::from_byte_array([8; 32]), 0), 5);
        let other = SecretKey::from_slice(&[2; 32])
            .unwrap()
            .public_key(&Secp256k1::new());
        let hint = Hint::of(&breach_txid);
        let (j, s) = (
            seal(&breach_txid, &justice).unwrap(),
            seal(&breach_txid, &stray).unwrap(),
        );
        store
            .write(move |c| {
                q::store_blob(c, &client, &hint, &j, Quota::default())?;
                q::store_blob(c, &other, &hint, &s, Quota::default())?;
                Ok(())
            })
            .await
            .unwrap();

        let unrelated = tx(OutPoint::new(bitcoin::Txid::from_byte_array([9; 32]), 1), 1);
        scan(&store, block(vec![unrelated.clone()]), at(10))
            .await
            .unwrap();
        let pending = store
            .call(|c| q::unconfirmed_justice(c, 10, GIVE_UP_DEPTH))
            .await
            .unwrap();
        assert!(pending.is_empty(), "no breach, nothing opened");

        scan(&store, block(vec![unrelated, breach.clone()]), at(11))
            .await
            .unwrap();
        let pending = store
            .call(|c| q::unconfirmed_justice(c, 11, GIVE_UP_DEPTH))
            .await
            .unwrap();
        assert_eq!(pending.len(), 1, "{pending:?}");
        assert_eq!(pending[0].tx, justice);
        assert_eq!(pending[0].breach_txid, breach_txid);
        assert_eq!(pending[0].client, client);
        assert_eq!(store.call(q::tip).await.unwrap(), Some(at(11)));
        // The stray blob is gone and counted against its client; the good one stays.
        let counts = store
            .call(move |c| {
                Ok((
                    q::blob_count(c, &other)?,
                    q::bad_blobs(c, &other)?,
                    q::blob_count(c, &client)?,
                    q::bad_blobs(c, &client)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(counts, (0, 1, 1, 0));

        // Scanning the same block again (a restart rewinds) changes nothing.
        scan(&store, block(vec![breach]), at(11)).await.unwrap();
        assert_eq!(store.call(q::list_justice).await.unwrap().len(), 1);
        let bad = store.call(move |c| q::bad_blobs(c, &other)).await.unwrap();
        assert_eq!(bad, 1, "a dropped blob is counted once");

        scan(&store, block(vec![justice.clone()]), at(12))
            .await
            .unwrap();
        let all = store.call(q::list_justice).await.unwrap();
        assert_eq!(all, vec![(justice.compute_txid(), Some(12))]);
    }

    #[tokio::test]
    async fn a_blob_that_does_not_open_is_dropped_too() {
        let store = Store::open_in_memory_with_schema(MIGRATIONS).unwrap();
        let client = SecretKey::from_slice(&[1; 32])
            .unwrap()
            .public_key(&Secp256k1::new());
        let breach = tx(OutPoint::new(bitcoin::Txid::from_byte_array([7; 32]), 0), 1);
        // Sealed under another txid's key, uploaded under this one's hint.
        let wrong = bitcoin::Txid::from_byte_array([3; 32]);
        let garbage = seal(&wrong, &tx(OutPoint::null(), 1)).unwrap();
        let hint = Hint::of(&breach.compute_txid());
        store
            .write(move |c| q::store_blob(c, &client, &hint, &garbage, Quota::default()))
            .await
            .unwrap();
        scan(&store, block(vec![breach]), at(5)).await.unwrap();
        let counts = store
            .call(move |c| Ok((q::blob_count(c, &client)?, q::bad_blobs(c, &client)?)))
            .await
            .unwrap();
        assert_eq!(counts, (0, 1));
    }

    /// `n` justice rows of `client` (a made-up breach each, at `height`), none of which the
    /// chain accepts: they are tried again at every tip.
    async fn justice_rows(store: &Store, client: u8, n: u8, height: u32) -> Vec<bitcoin::Txid> {
        let key = SecretKey::from_slice(&[client; 32])
            .unwrap()
            .public_key(&Secp256k1::new());
        let mut txids = Vec::new();
        for i in 0..n {
            let breach = bitcoin::Txid::from_byte_array([client.wrapping_mul(16) + i; 32]);
            let j = Justice {
                tx: tx(OutPoint::new(breach, 0), 500 + u64::from(client)),
                breach_txid: breach,
                client: key,
                breach_height: height,
            };
            txids.push(j.tx.compute_txid());
            let hint = Hint([i; 16]);
            store
                .write(move |c| {
                    q::store_blob(c, &key, &hint, b"x", Quota::default())?;
                    q::add_justice(c, &j)
                })
                .await
                .unwrap();
        }
        txids
    }

    #[tokio::test]
    async fn rebroadcasts_are_capped_per_block_oldest_first_and_clients_take_turns() {
        let store = Store::open_in_memory_with_schema(MIGRATIONS).unwrap();
        let chain = crate::wallet::test_chain::TestChain::new();
        // Client 1 has five pending (breaches at 100), client 2 one younger (at 102).
        let a = justice_rows(&store, 1, 5, 100).await;
        let b = justice_rows(&store, 2, 1, 102).await;
        let mut a_sorted = a.clone();
        a_sorted.sort_by_key(|t| t.to_byte_array());

        // Tip 103, cap 3: client 1's first, client 2's only one, then client 1's second.
        let first = rebroadcast(&chain, &store, 103, 3).await.unwrap();
        assert_eq!(first.len(), 3, "{first:?}");
        assert_eq!(
            first[1], b[0],
            "client 2 does not wait behind client 1's five"
        );
        assert!(a.contains(&first[0]) && a.contains(&first[2]));
        // Next block: the three of client 1 never tried come before any second try.
        let second = rebroadcast(&chain, &store, 104, 3).await.unwrap();
        let mut expect: Vec<_> = a.iter().filter(|t| !first.contains(t)).copied().collect();
        expect.sort_by_key(|t| t.to_byte_array());
        let mut got = second.clone();
        got.sort_by_key(|t| t.to_byte_array());
        assert_eq!(got, expect);
        // Then round again, longest since its broadcast first: what the first block tried.
        let third = rebroadcast(&chain, &store, 105, 3).await.unwrap();
        assert_eq!(third, first);
        // A large cap takes them all at once.
        assert_eq!(
            rebroadcast(&chain, &store, 106, 100).await.unwrap().len(),
            6
        );
    }
}
