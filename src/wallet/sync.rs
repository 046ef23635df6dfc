//! Following the chain: scan new blocks, undo reorged ones, pick up mempool transactions and
//! forget unconfirmed ones that left the mempool.

use std::collections::{HashMap, HashSet};

use bitcoin::{Transaction, Txid};

use super::apply::{apply_block, apply_tx, remark_unconfirmed_spends};
use super::{now, Wallet, WalletError};
use crate::store::wallet as q;

/// State kept between syncs (memory only: a restart simply looks again).
#[derive(Default)]
pub(crate) struct SyncState {
    /// Mempool transactions already looked at, so each is fetched once.
    seen_mempool: HashSet<Txid>,
}

/// What one sync did, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    /// Height the wallet is synced to.
    pub height: u32,
    pub blocks_scanned: u32,
    /// Blocks undone because the chain reorganised.
    pub blocks_rewound: u32,
    pub mempool_txs_added: u32,
    pub txs_dropped: u32,
}

impl Wallet {
    /// Brings the wallet up to the chain's tip. Safe to call concurrently: syncs are serialised.
    pub async fn sync(&self) -> Result<SyncReport, WalletError> {
        let mut state = self.sync_state.lock().await;
        let mut report = SyncReport::default();
        let tip = self.chain.tip().await?;
        let next = self.find_fork(&mut report).await?;
        for height in next..=tip.height {
            let Some(hash) = self.chain.block_hash(height).await? else {
                break; // the chain shrank under us; the next sync rewinds
            };
            let Some(block) = self.chain.block(&hash).await? else {
                break;
            };
            if height > 0 {
                let prev = self
                    .store
                    .call(move |c| q::scanned_hash_at(c, height - 1))
                    .await?;
                if prev.is_some_and(|p| p != block.header.prev_blockhash) {
                    break; // reorg while scanning; the next sync finds the fork
                }
            }
            let keys = self.keys.clone();
            let found = self
                .store
                .write(move |tx| apply_block(tx, &keys, height, hash, &block, now()))
                .await?;
            if found > 0 {
                tracing::debug!(height, %hash, txs = found, "wallet transactions in block");
            }
            report.blocks_scanned += 1;
        }
        if let Some(mempool) = &self.mempool {
            report.mempool_txs_added = self.scan_mempool(mempool.as_ref(), &mut state).await?;
        }
        report.txs_dropped = self.reconcile_unconfirmed().await?;
        report.height = self
            .store
            .call(q::scan_tip)
            .await?
            .map(|(h, _)| h)
            .unwrap_or(0);
        if report.blocks_rewound > 0 || report.txs_dropped > 0 {
            tracing::info!(?report, "wallet synced after chain change");
        }
        Ok(report)
    }

    /// Finds the first height to scan, undoing stored blocks the chain no longer has.
    async fn find_fork(&self, report: &mut SyncReport) -> Result<u32, WalletError> {
        let Some((mut height, mut hash)) = self.store.call(q::scan_tip).await? else {
            return Ok(self.birthday);
        };
        loop {
            if self.chain.block_hash(height).await? == Some(hash) {
                if report.blocks_rewound > 0 {
                    let keep = height;
                    self.store
                        .write(move |tx| q::rewind_above(tx, Some(keep)))
                        .await?;
                    tracing::warn!(
                        fork_height = height,
                        undone = report.blocks_rewound,
                        "chain reorganised"
                    );
                }
                return Ok(height + 1);
            }
            report.blocks_rewound += 1;
            let below = height.checked_sub(1);
            let stored = match below {
                Some(h) => self.store.call(move |c| q::scanned_hash_at(c, h)).await?,
                None => None,
            };
            match (below, stored) {
                (Some(h), Some(s)) => {
                    height = h;
                    hash = s;
                }
                _ => {
                    // Deeper than the kept history (or genesis changed): start over.
                    tracing::warn!("reorg deeper than the wallet's block history; rescanning");
                    self.store.write(|tx| q::rewind_above(tx, None)).await?;
                    return Ok(self.birthday);
                }
            }
        }
    }

    /// Stores the mempool transactions that concern us, parents before children.
    async fn scan_mempool(
        &self,
        mempool: &dyn super::MempoolSource,
        state: &mut SyncState,
    ) -> Result<u32, WalletError> {
        let txids = mempool.mempool_txids().await?;
        let current: HashSet<Txid> = txids.iter().copied().collect();
        state.seen_mempool.retain(|t| current.contains(t));
        let mut fresh: HashMap<Txid, Transaction> = HashMap::new();
        for txid in txids {
            if state.seen_mempool.contains(&txid) {
                continue;
            }
            if let Some(info) = self.chain.transaction(&txid).await? {
                if info.block.is_none() {
                    fresh.insert(txid, info.tx);
                }
            }
            state.seen_mempool.insert(txid);
        }
        if fresh.is_empty() {
            return Ok(0);
        }
        let ordered = parents_first(fresh);
        let keys = self.keys.clone();
        let added = self
            .store
            .write(move |tx| {
                let mut added = 0;
                for t in &ordered {
                    if apply_tx(tx, &keys, t, None, false, None, now())?.relevant {
                        added += 1;
                    }
                }
                remark_unconfirmed_spends(tx)?;
                Ok(added)
            })
            .await?;
        Ok(added)
    }

    /// Drops unconfirmed transactions the chain no longer knows (replaced, expired, or
    /// conflicted by a block), so their coins are spendable again and their outputs vanish.
    async fn reconcile_unconfirmed(&self) -> Result<u32, WalletError> {
        let pending = self.store.call(q::unconfirmed_txs).await?;
        let mut gone = Vec::new();
        for tx in &pending {
            let txid = tx.compute_txid();
            if self.chain.transaction(&txid).await?.is_none() {
                gone.push(txid);
            }
        }
        if gone.is_empty() {
            return Ok(0);
        }
        // A transaction confirmed in a block we have not scanned yet is not in the mempool
        // either; only trust "gone" when we are at the chain's tip.
        let tip = self.chain.tip().await?;
        let ours = self.store.call(q::scan_tip).await?;
        if ours != Some((tip.height, tip.hash)) {
            return Ok(0);
        }
        let n = gone.len() as u32;
        for txid in &gone {
            tracing::info!(%txid, "unconfirmed transaction left the mempool; forgetting it");
        }
        self.store
            .write(move |tx| {
                for txid in &gone {
                    q::delete_tx(tx, txid)?;
                }
                remark_unconfirmed_spends(tx)
            })
            .await?;
        Ok(n)
    }
}

/// Orders transactions so each comes after any of the set it spends from.
fn parents_first(mut txs: HashMap<Txid, Transaction>) -> Vec<Transaction> {
    let mut out = Vec::with_capacity(txs.len());
    while !txs.is_empty() {
        let ready: Vec<Txid> = txs
            .iter()
            .filter(|(_, tx)| {
                !tx.input
                    .iter()
                    .any(|i| txs.contains_key(&i.previous_output.txid))
            })
            .map(|(txid, _)| *txid)
            .collect();
        if ready.is_empty() {
            // Impossible for valid transactions (no cycles); take the rest as they are.
            out.extend(txs.drain().map(|(_, tx)| tx));
            break;
        }
        for txid in ready {
            out.extend(txs.remove(&txid));
        }
    }
    out
}
