//! An in-memory chain for unit tests: blocks without proof of work, a mempool that refuses
//! missing or double-spent inputs, and reorgs on demand.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{
    absolute::LockTime, Amount, Block, BlockHash, CompactTarget, FeeRate, OutPoint, ScriptBuf,
    Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
};

use crate::chain::{BlockRef, ChainError, ChainSource, HeaderInfo, TestAccept, TxInfo, UtxoInfo};

#[derive(Default)]
struct State {
    blocks: Vec<Block>,
    mempool: Vec<Transaction>,
    /// Bumped per block so blocks at equal heights on two branches differ.
    nonce: u32,
}

pub(crate) struct TestChain {
    state: Mutex<State>,
}

impl TestChain {
    /// A chain holding only a genesis block.
    pub fn new() -> Self {
        let chain = TestChain {
            state: Mutex::new(State::default()),
        };
        chain.mine(1, &ScriptBuf::new());
        chain
    }

    pub fn height(&self) -> u32 {
        self.state.lock().unwrap().blocks.len() as u32 - 1
    }

    /// Mines `n` blocks paying the 50 BTC subsidy plus fees to `script`, each taking the whole
    /// mempool.
    pub fn mine(&self, n: u32, script: &ScriptBuf) -> Vec<BlockHash> {
        let mut s = self.state.lock().unwrap();
        let mut hashes = Vec::new();
        for _ in 0..n {
            let height = s.blocks.len() as u32;
            s.nonce += 1;
            let txs: Vec<Transaction> = std::mem::take(&mut s.mempool);
            let fees: Amount = txs.iter().map(|t| fee(&s.blocks, &[], t)).sum();
            let coinbase = Transaction {
                version: Version::TWO,
                lock_time: LockTime::ZERO,
                input: vec![TxIn {
                    previous_output: OutPoint::null(),
                    script_sig: bitcoin::script::Builder::new()
                        .push_int(height as i64)
                        .push_int(s.nonce as i64)
                        .into_script(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                }],
                output: vec![TxOut {
                    value: Amount::from_btc(50.0).unwrap() + fees,
                    script_pubkey: script.clone(),
                }],
            };
            let mut txdata = vec![coinbase];
            txdata.extend(txs);
            let prev = s
                .blocks
                .last()
                .map(|b| b.block_hash())
                .unwrap_or(BlockHash::all_zeros());
            let mut block = Block {
                header: Header {
                    version: BlockVersion::TWO,
                    prev_blockhash: prev,
                    merkle_root: TxMerkleNode::all_zeros(),
                    time: 1_700_000_000 + height,
                    bits: CompactTarget::from_consensus(0x207fffff),
                    nonce: s.nonce,
                },
                txdata,
            };
            block.header.merkle_root = block.compute_merkle_root().unwrap();
            hashes.push(block.block_hash());
            s.blocks.push(block);
        }
        hashes
    }

    /// Disconnects the top `depth` blocks; their transactions go back to the mempool when
    /// `return_to_mempool`, else they vanish.
    pub fn disconnect(&self, depth: u32, return_to_mempool: bool) {
        let mut s = self.state.lock().unwrap();
        let mut back = Vec::new();
        for _ in 0..depth {
            let b = s.blocks.pop().unwrap();
            back.extend(b.txdata.into_iter().skip(1));
        }
        if return_to_mempool {
            back.extend(std::mem::take(&mut s.mempool));
            s.mempool = back;
        }
    }

    /// Takes `txid` out of the mempool, as a replacement would evict it.
    pub fn remove(&self, txid: &Txid) {
        self.state
            .lock()
            .unwrap()
            .mempool
            .retain(|t| t.compute_txid() != *txid);
    }

    /// Puts `tx` in the mempool without checks (a transaction from someone else).
    pub fn inject(&self, tx: Transaction) {
        self.state.lock().unwrap().mempool.push(tx);
    }
}

fn find_output(blocks: &[Block], mempool: &[Transaction], op: &OutPoint) -> Option<TxOut> {
    blocks
        .iter()
        .flat_map(|b| b.txdata.iter())
        .chain(mempool.iter())
        .find(|t| t.compute_txid() == op.txid)
        .and_then(|t| t.output.get(op.vout as usize).cloned())
}

fn fee(blocks: &[Block], mempool: &[Transaction], tx: &Transaction) -> Amount {
    let ins: Amount = tx
        .input
        .iter()
        .filter_map(|i| find_output(blocks, mempool, &i.previous_output))
        .map(|o| o.value)
        .sum();
    let outs: Amount = tx.output.iter().map(|o| o.value).sum();
    ins.checked_sub(outs).unwrap_or(Amount::ZERO)
}

fn check(s: &State, tx: &Transaction) -> Result<(), String> {
    let spent: HashSet<OutPoint> = s
        .blocks
        .iter()
        .flat_map(|b| b.txdata.iter())
        .chain(s.mempool.iter())
        .flat_map(|t| t.input.iter().map(|i| i.previous_output))
        .collect();
    let mut ins = Amount::ZERO;
    for input in &tx.input {
        let Some(out) = find_output(&s.blocks, &s.mempool, &input.previous_output) else {
            return Err("missing-inputs".into());
        };
        if spent.contains(&input.previous_output) {
            return Err("txn-mempool-conflict".into());
        }
        ins += out.value;
    }
    let outs: Amount = tx.output.iter().map(|o| o.value).sum();
    if outs > ins {
        return Err("bad-txns-in-belowout".into());
    }
    if (ins - outs).to_sat() < tx.vsize() as u64 {
        return Err("min relay fee not met".into());
    }
    Ok(())
}

#[async_trait]
impl ChainSource for TestChain {
    async fn tip(&self) -> Result<BlockRef, ChainError> {
        let s = self.state.lock().unwrap();
        Ok(BlockRef {
            height: s.blocks.len() as u32 - 1,
            hash: s.blocks.last().unwrap().block_hash(),
        })
    }
    async fn block_hash(&self, height: u32) -> Result<Option<BlockHash>, ChainError> {
        let s = self.state.lock().unwrap();
        Ok(s.blocks.get(height as usize).map(|b| b.block_hash()))
    }
    async fn header(&self, hash: &BlockHash) -> Result<Option<HeaderInfo>, ChainError> {
        let s = self.state.lock().unwrap();
        Ok(s.blocks
            .iter()
            .position(|b| b.block_hash() == *hash)
            .map(|h| HeaderInfo {
                header: s.blocks[h].header,
                height: h as u32,
                in_active_chain: true,
            }))
    }
    async fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainError> {
        let s = self.state.lock().unwrap();
        Ok(s.blocks.iter().find(|b| b.block_hash() == *hash).cloned())
    }
    async fn transaction(&self, txid: &Txid) -> Result<Option<TxInfo>, ChainError> {
        let s = self.state.lock().unwrap();
        let tip = s.blocks.len() as u32 - 1;
        for (h, b) in s.blocks.iter().enumerate() {
            if let Some(tx) = b.txdata.iter().find(|t| t.compute_txid() == *txid) {
                return Ok(Some(TxInfo {
                    tx: tx.clone(),
                    block: Some(BlockRef {
                        height: h as u32,
                        hash: b.block_hash(),
                    }),
                    confirmations: tip - h as u32 + 1,
                }));
            }
        }
        Ok(s.mempool
            .iter()
            .find(|t| t.compute_txid() == *txid)
            .map(|tx| TxInfo {
                tx: tx.clone(),
                block: None,
                confirmations: 0,
            }))
    }
    async fn utxo(&self, _outpoint: &OutPoint) -> Result<Option<UtxoInfo>, ChainError> {
        Err(ChainError::Permanent("not used by the wallet".into()))
    }
    async fn broadcast(&self, tx: &Transaction) -> Result<Txid, ChainError> {
        let mut s = self.state.lock().unwrap();
        check(&s, tx).map_err(|reason| ChainError::Rejected { code: -26, reason })?;
        s.mempool.push(tx.clone());
        Ok(tx.compute_txid())
    }
    async fn test_accept(&self, tx: &Transaction) -> Result<TestAccept, ChainError> {
        let s = self.state.lock().unwrap();
        Ok(match check(&s, tx) {
            Ok(()) => TestAccept::Allowed {
                txid: tx.compute_txid(),
                vsize: tx.vsize() as u64,
                fee_sat: fee(&s.blocks, &s.mempool, tx).to_sat(),
            },
            Err(reason) => TestAccept::Rejected {
                txid: tx.compute_txid(),
                reason,
            },
        })
    }
    async fn estimate_fee_rate(&self, _target: u16) -> Result<Option<FeeRate>, ChainError> {
        Ok(None)
    }
    async fn mempool_spender(&self, outpoint: &OutPoint) -> Result<Option<Txid>, ChainError> {
        let s = self.state.lock().unwrap();
        Ok(s.mempool
            .iter()
            .find(|t| t.input.iter().any(|i| i.previous_output == *outpoint))
            .map(|t| t.compute_txid()))
    }
}

#[async_trait]
impl crate::wallet::MempoolSource for TestChain {
    async fn mempool_txids(&self) -> Result<Vec<Txid>, ChainError> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .mempool
            .iter()
            .map(|t| t.compute_txid())
            .collect())
    }
}
