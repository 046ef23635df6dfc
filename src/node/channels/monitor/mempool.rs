//! Preimages shown only in the mempool (replacement cycling, CVE-2023-40231..40234).
//!
//! A peer that takes an HTLC we offered with its preimage can have that spend replaced out of
//! the mempool (by a higher-fee spend of another of its inputs) before any block holds it, and
//! evict our timeout claim with it, block after block, until the incoming HTLC expires. So the
//! outputs of the HTLCs we offered, on a commitment that is on chain and not yet spent by a
//! confirmed transaction, are watched in the mempool too: on each block (`work_claims`) and
//! every [`SCAN_EVERY`] between blocks, here. A spend there that shows the preimage settles
//! upstream at once; an output found unspent gets our last claim on it again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::{OutPoint, Transaction, Txid};

use crate::chain::{ChainError, ChainSource};
use crate::onchain::preimages_in;

/// How often the watched outputs are looked up between blocks.
pub(in crate::node::channels) const SCAN_EVERY: Duration = Duration::from_secs(1);
/// Outputs looked up per scan (two chain calls each at most); more wait for the next scans.
const PER_SCAN: usize = 64;
/// Outputs watched at most (a channel holds at most 2 × 483 HTLCs).
const MAX_WATCHED: usize = 10_000;

/// The mempool transaction spending `outpoint`, if any.
pub(super) async fn spending_tx(
    chain: &dyn ChainSource,
    outpoint: &OutPoint,
) -> Result<Option<Transaction>, ChainError> {
    let Some(txid) = chain.mempool_spender(outpoint).await? else {
        return Ok(None);
    };
    Ok(chain
        .transaction(&txid)
        .await?
        .filter(|i| i.block.is_none())
        .map(|i| i.tx))
}

/// One output of an HTLC we offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OfferedOutput {
    pub idx: u32,
    pub htlc_id: u64,
    pub payment_hash: [u8; 32],
}

#[derive(Clone, Copy)]
struct Entry {
    htlc: OfferedOutput,
    /// The last mempool spender looked at (not looked at again).
    seen: Option<Txid>,
    /// Its preimage was learnt: nothing more to do.
    learnt: bool,
}

/// A preimage found in the mempool.
pub(super) struct Learnt {
    pub htlc: OfferedOutput,
    pub preimage: [u8; 32],
}

/// What one scan found.
#[derive(Default)]
pub(super) struct Scan {
    pub learnt: Vec<Learnt>,
    /// Outputs nothing in the mempool spends (our claim may have been evicted).
    pub unspent: Vec<(u32, OutPoint)>,
}

/// Flags shared with the block poller, which asks for a scan only while something is watched
/// and the last one asked for has run.
#[derive(Default)]
pub(in crate::node::channels) struct ScanFlags {
    watching: AtomicBool,
    /// A peer's zero-conf funding is not seen yet: the scan looks for it too (`chain`).
    fundings: AtomicBool,
    queued: AtomicBool,
}

impl ScanFlags {
    /// Whether a scan should be asked for now; if so, it counts as asked.
    pub(in crate::node::channels) fn take_due(&self) -> bool {
        (self.watching.load(Ordering::Relaxed) || self.fundings.load(Ordering::Relaxed))
            && !self.queued.swap(true, Ordering::Relaxed)
    }

    /// Whether a peer's zero-conf funding is still to be looked for in the mempool.
    pub(in crate::node::channels) fn set_fundings(&self, unseen: bool) {
        self.fundings.store(unseen, Ordering::Relaxed);
    }
}

/// The watched outputs, by outpoint.
#[derive(Default)]
pub(in crate::node::channels) struct MempoolWatch {
    outputs: BTreeMap<OutPoint, Entry>,
    /// Where the next scan starts (scans go round the outputs).
    cursor: Option<OutPoint>,
    flags: Arc<ScanFlags>,
}

impl MempoolWatch {
    pub(in crate::node::channels) fn flags(&self) -> Arc<ScanFlags> {
        self.flags.clone()
    }

    /// The outputs of channel `idx` to watch now (replacing its earlier ones; what was learnt
    /// of an output still watched is kept).
    pub(super) fn set_channel(&mut self, idx: u32, outputs: Vec<(OutPoint, OfferedOutput)>) {
        let (mut old, keep): (BTreeMap<OutPoint, Entry>, _) = std::mem::take(&mut self.outputs)
            .into_iter()
            .partition(|(_, e)| e.htlc.idx == idx);
        self.outputs = keep;
        for (op, htlc) in outputs {
            if self.outputs.len() >= MAX_WATCHED {
                tracing::warn!(
                    channel = idx,
                    "too many HTLC outputs watched in the mempool"
                );
                break;
            }
            let entry = match old.remove(&op) {
                Some(e) if e.htlc == htlc => e,
                _ => Entry {
                    htlc,
                    seen: None,
                    learnt: false,
                },
            };
            self.outputs.insert(op, entry);
        }
        self.update_flags();
    }

    pub(super) fn forget_channel(&mut self, idx: u32) {
        self.set_channel(idx, Vec::new());
    }

    fn update_flags(&self) {
        let watching = self.outputs.values().any(|e| !e.learnt);
        self.flags.watching.store(watching, Ordering::Relaxed);
    }

    /// Looks up the next [`PER_SCAN`] outputs in the mempool. A chain error ends the scan
    /// early (the next one carries on).
    pub(super) async fn scan(&mut self, chain: &dyn ChainSource) -> Scan {
        self.flags.queued.store(false, Ordering::Relaxed);
        let keys: Vec<OutPoint> = self
            .outputs
            .iter()
            .filter(|(_, e)| !e.learnt)
            .map(|(op, _)| *op)
            .collect();
        let start = self
            .cursor
            .and_then(|c| keys.iter().position(|k| *k >= c))
            .unwrap_or(0);
        let batch: Vec<OutPoint> = keys
            .iter()
            .cycle()
            .skip(start)
            .take(PER_SCAN.min(keys.len()))
            .copied()
            .collect();
        self.cursor = keys.get((start + batch.len()) % keys.len().max(1)).copied();
        let mut out = Scan::default();
        for op in batch {
            if let Err(e) = self.look_up(chain, op, &mut out).await {
                tracing::debug!(outpoint = %op, error = %e, "mempool scan stopped");
                self.cursor = Some(op);
                break;
            }
        }
        self.update_flags();
        out
    }

    async fn look_up(
        &mut self,
        chain: &dyn ChainSource,
        op: OutPoint,
        out: &mut Scan,
    ) -> Result<(), ChainError> {
        let Some(entry) = self.outputs.get(&op) else {
            return Ok(());
        };
        let htlc = entry.htlc;
        let Some(txid) = chain.mempool_spender(&op).await? else {
            out.unspent.push((htlc.idx, op));
            return Ok(());
        };
        if entry.seen == Some(txid) {
            return Ok(());
        }
        let preimage = chain
            .transaction(&txid)
            .await?
            .and_then(|i| preimages_in(&i.tx, &[htlc.payment_hash]).first().copied())
            .map(|(_, p)| p);
        if let Some(e) = self.outputs.get_mut(&op) {
            e.seen = Some(txid);
            e.learnt = preimage.is_some();
        }
        if let Some(preimage) = preimage {
            out.learnt.push(Learnt { htlc, preimage });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wallet::test_chain::TestChain;
    use bitcoin::hashes::{sha256, Hash};
    use bitcoin::{Amount, ScriptBuf, Sequence, TxIn, TxOut, Witness};

    #[tokio::test]
    async fn a_preimage_in_a_mempool_spend_is_learnt_once_and_scans_are_bounded() {
        let chain = TestChain::new();
        chain.mine(1, &ScriptBuf::new());
        let block = chain.block_hash(1).await.unwrap().unwrap();
        let coinbase = chain.block(&block).await.unwrap().unwrap().txdata[0].clone();
        let htlc_out = OutPoint::new(coinbase.compute_txid(), 0);
        let preimage = [7u8; 32];
        let spend = Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: htlc_out,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ZERO,
                witness: Witness::from_slice(&[vec![0x30; 71], preimage.to_vec(), vec![0; 100]]),
            }],
            output: vec![TxOut {
                value: Amount::from_btc(49.0).unwrap(),
                script_pubkey: ScriptBuf::new(),
            }],
        };
        chain.broadcast(&spend).await.unwrap();
        let hash = sha256::Hash::hash(&preimage).to_byte_array();
        let mut w = MempoolWatch::default();
        let mut outputs = vec![(
            htlc_out,
            OfferedOutput {
                idx: 1,
                htlc_id: 5,
                payment_hash: hash,
            },
        )];
        // Outputs nothing spends: 100 of them, more than one scan looks at.
        outputs.extend((0..100u8).map(|n| (op(n), htlc(1, 100 + u64::from(n)))));
        w.set_channel(1, outputs);

        let first = w.scan(&chain).await;
        let second = w.scan(&chain).await;
        let learnt: Vec<&Learnt> = first.learnt.iter().chain(&second.learnt).collect();
        assert_eq!(learnt.len(), 1);
        assert_eq!(learnt[0].preimage, preimage);
        assert_eq!(learnt[0].htlc.htlc_id, 5);
        for s in [&first, &second] {
            assert_eq!(s.learnt.len() + s.unspent.len(), PER_SCAN, "bounded");
        }
        assert!(w.scan(&chain).await.learnt.is_empty(), "learnt once");
        let mut seen: Vec<OutPoint> = first
            .unspent
            .iter()
            .chain(&second.unspent)
            .map(|(_, o)| *o)
            .collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 100, "two scans went round every output");
    }

    fn op(n: u8) -> OutPoint {
        OutPoint::new(Txid::from_byte_array([n; 32]), 0)
    }

    fn htlc(idx: u32, id: u64) -> OfferedOutput {
        OfferedOutput {
            idx,
            htlc_id: id,
            payment_hash: [id as u8; 32],
        }
    }

    #[test]
    fn channels_replace_their_own_outputs_and_the_poller_knows_when_to_ask() {
        let mut w = MempoolWatch::default();
        let flags = w.flags();
        assert!(!flags.take_due(), "nothing watched");
        w.set_channel(1, vec![(op(1), htlc(1, 1)), (op(2), htlc(1, 2))]);
        w.set_channel(2, vec![(op(3), htlc(2, 1))]);
        assert!(flags.take_due());
        assert!(!flags.take_due(), "one scan asked for at a time");
        w.set_channel(1, vec![(op(2), htlc(1, 2))]);
        assert_eq!(
            w.outputs.keys().copied().collect::<Vec<_>>(),
            [op(2), op(3)]
        );
        w.forget_channel(1);
        w.forget_channel(2);
        assert!(w.outputs.is_empty());
        w.flags.queued.store(false, Ordering::Relaxed);
        assert!(!flags.take_due());
    }
}
