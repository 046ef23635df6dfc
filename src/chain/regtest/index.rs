//! Our own view of the active chain, kept in step with the kernel: the UTXO set (the kernel
//! exposes none), a transaction index, per-block undo data and chain work. Rebuilt from the
//! kernel's blocks at start; moved forward or back block by block as the tip changes.

use std::collections::HashMap;

use bitcoin::{Block, BlockHash, OutPoint, TxOut, Txid, Work};

/// An unspent output and where it was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Coin {
    pub txout: TxOut,
    pub height: u32,
    pub coinbase: bool,
}

/// Where a confirmed transaction sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TxLocation {
    pub block: BlockHash,
    pub height: u32,
}

/// Coins spent by one block, to put back if it is disconnected.
type Undo = Vec<(OutPoint, Coin)>;

#[derive(Default)]
pub(crate) struct ChainIndex {
    /// Active chain block hashes by height, as far as indexed.
    hashes: Vec<BlockHash>,
    /// Cumulative chain work per height (for `chainwork`).
    work: Vec<Work>,
    /// Header timestamps per height, for median-time-past.
    times: Vec<u32>,
    utxos: HashMap<OutPoint, Coin>,
    txs: HashMap<Txid, TxLocation>,
    undo: HashMap<BlockHash, Undo>,
}

impl ChainIndex {
    pub(crate) fn height(&self) -> Option<u32> {
        self.hashes.len().checked_sub(1).map(|h| h as u32)
    }

    pub(crate) fn hash_at(&self, height: u32) -> Option<BlockHash> {
        self.hashes.get(height as usize).copied()
    }

    pub(crate) fn chain_work(&self, height: u32) -> Option<Work> {
        self.work.get(height as usize).copied()
    }

    /// BIP113 median time past: the median timestamp of the block at `height` and the ten
    /// before it.
    pub(crate) fn median_time_past(&self, height: u32) -> u32 {
        let end = (height as usize + 1).min(self.times.len());
        let start = end.saturating_sub(11);
        let mut window: Vec<u32> = self.times[start..end].to_vec();
        window.sort_unstable();
        window.get(window.len() / 2).copied().unwrap_or(0)
    }

    pub(crate) fn coin(&self, outpoint: &OutPoint) -> Option<&Coin> {
        self.utxos.get(outpoint)
    }

    pub(crate) fn tx_location(&self, txid: &Txid) -> Option<TxLocation> {
        self.txs.get(txid).copied()
    }

    #[cfg(test)]
    pub(crate) fn utxo_count(&self) -> usize {
        self.utxos.len()
    }

    /// Applies the next block of the active chain. The kernel has validated it, so every input
    /// exists; a missing one means our view diverged, which is a bug worth stopping for.
    pub(crate) fn connect(&mut self, block: &Block) {
        let height = self.hashes.len() as u32;
        let hash = block.block_hash();
        let prev_work = self.work.last().copied();
        let work = match prev_work {
            Some(w) => w + block.header.work(),
            None => block.header.work(),
        };
        self.hashes.push(hash);
        self.work.push(work);
        self.times.push(block.header.time);
        // The genesis coinbase is not spendable: Bitcoin Core never adds it to the UTXO set.
        if height == 0 {
            return;
        }
        let mut undo = Vec::new();
        for (i, tx) in block.txdata.iter().enumerate() {
            let coinbase = i == 0;
            if !coinbase {
                for input in &tx.input {
                    let coin = self
                        .utxos
                        .remove(&input.previous_output)
                        .expect("kernel-validated block spends a known coin");
                    undo.push((input.previous_output, coin));
                }
            }
            let txid = tx.compute_txid();
            for (vout, out) in tx.output.iter().enumerate() {
                if out.script_pubkey.is_op_return() {
                    continue;
                }
                let coin = Coin {
                    txout: out.clone(),
                    height,
                    coinbase,
                };
                self.utxos.insert(OutPoint::new(txid, vout as u32), coin);
            }
            self.txs.insert(
                txid,
                TxLocation {
                    block: hash,
                    height,
                },
            );
        }
        self.undo.insert(hash, undo);
    }

    /// Undoes the tip block (which must be `block`).
    pub(crate) fn disconnect(&mut self, block: &Block) {
        let hash = block.block_hash();
        assert_eq!(
            self.hashes.last(),
            Some(&hash),
            "disconnect must undo the tip"
        );
        self.hashes.pop();
        self.work.pop();
        self.times.pop();
        for tx in block.txdata.iter().rev() {
            let txid = tx.compute_txid();
            for vout in 0..tx.output.len() {
                self.utxos.remove(&OutPoint::new(txid, vout as u32));
            }
            self.txs.remove(&txid);
        }
        for (outpoint, coin) in self.undo.remove(&hash).unwrap_or_default() {
            self.utxos.insert(outpoint, coin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::blockdata::constants::genesis_block;
    use bitcoin::hashes::Hash;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, Network, ScriptBuf, Sequence, Transaction, TxIn, Witness};

    fn tx(inputs: Vec<OutPoint>, values: &[u64]) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: inputs
                .into_iter()
                .map(|previous_output| TxIn {
                    previous_output,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                })
                .collect(),
            output: values
                .iter()
                .map(|v| TxOut {
                    value: Amount::from_sat(*v),
                    script_pubkey: ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::all_zeros()),
                })
                .collect(),
        }
    }

    fn block(prev: BlockHash, txdata: Vec<Transaction>) -> Block {
        let mut b = genesis_block(Network::Regtest);
        b.header.prev_blockhash = prev;
        b.txdata = txdata;
        b
    }

    #[test]
    fn connect_then_disconnect_restores_the_utxo_set() {
        let mut idx = ChainIndex::default();
        let genesis = genesis_block(Network::Regtest);
        idx.connect(&genesis);
        assert_eq!(idx.utxo_count(), 0, "genesis coinbase is unspendable");

        let cb1 = tx(vec![OutPoint::null()], &[50]);
        let b1 = block(genesis.block_hash(), vec![cb1.clone()]);
        idx.connect(&b1);
        let coin_out = OutPoint::new(cb1.compute_txid(), 0);
        assert!(idx.coin(&coin_out).unwrap().coinbase);

        let mut cb2 = tx(vec![OutPoint::null()], &[51]);
        cb2.lock_time = LockTime::from_height(2).unwrap();
        let spend = tx(vec![coin_out], &[20, 29]);
        let b2 = block(b1.block_hash(), vec![cb2, spend.clone()]);
        idx.connect(&b2);
        assert!(idx.coin(&coin_out).is_none());
        assert_eq!(idx.utxo_count(), 3);
        assert_eq!(idx.tx_location(&spend.compute_txid()).unwrap().height, 2);

        idx.disconnect(&b2);
        assert_eq!(idx.height(), Some(1));
        assert_eq!(idx.utxo_count(), 1);
        assert!(idx.coin(&coin_out).is_some());
        assert!(idx.tx_location(&spend.compute_txid()).is_none());
        assert!(idx.chain_work(1).unwrap() > idx.chain_work(0).unwrap());
    }
}
