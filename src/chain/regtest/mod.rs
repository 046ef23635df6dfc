//! The embedded regtest node: blocks validated by Bitcoin Core's own engine (libbitcoinkernel),
//! with a mempool, a miner, reorgs and mock time around it.
//!
//! The kernel is the source of truth for blocks and the active chain. It exposes no UTXO set and
//! no mempool, so [`index::ChainIndex`] follows the active chain block by block and
//! [`mempool::Mempool`] applies Core's acceptance rules on top of the kernel's script
//! interpreter. All state sits behind one mutex; every call is short (milliseconds).

mod index;
mod kernel;
pub mod mempool;
pub mod miner;
mod source;
pub mod standalone;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bitcoin::{
    Address, Amount, Block, BlockHash, OutPoint, ScriptBuf, Transaction, Txid, Weight, Work,
};
use tokio::sync::broadcast;

use self::index::ChainIndex;
use self::kernel::{Kernel, Storage};
use self::mempool::{Accepted, ChainContext, Mempool, MempoolEntry, Reject};
pub use self::source::EmbeddedChainSource;
use super::{BlockRef, HeaderInfo, TestAccept, TxInfo, UtxoInfo};

/// Leaves room in a block for the coinbase.
const MAX_BLOCK_TX_WEIGHT: u64 = 4_000_000 - 8_000;
const INVALIDATED_FILE: &str = "invalidated-blocks";

/// Errors of the embedded node.
#[derive(Debug, thiserror::Error)]
pub enum RegtestError {
    #[error("kernel: {0}")]
    Kernel(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("Block not found")]
    BlockNotFound(BlockHash),
    /// A mined or submitted block did not become part of the active chain.
    #[error("block rejected: {0}")]
    BlockRejected(String),
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
}

impl From<RegtestError> for super::ChainError {
    /// I/O trouble may pass; everything else about the embedded node will not.
    fn from(e: RegtestError) -> Self {
        match e {
            RegtestError::Io(e) => super::ChainError::Transient(e.to_string()),
            other => super::ChainError::Permanent(other.to_string()),
        }
    }
}

/// Tip changes, in the order they happened. A reorg is a run of disconnections followed by
/// connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEvent {
    BlockConnected { hash: BlockHash, height: u32 },
    BlockDisconnected { hash: BlockHash, height: u32 },
}

/// Mempool totals, as `getmempoolinfo` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolInfo {
    pub size: usize,
    pub vsize: u64,
    pub total_fee: Amount,
}

/// A block header with everything `getblockheader` reports about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDetails {
    pub info: HeaderInfo,
    pub median_time: u32,
    pub chain_work: Option<Work>,
    pub n_tx: Option<usize>,
    pub next: Option<BlockHash>,
    pub confirmations: i64,
}

/// The embedded regtest node. Cheap to share: wrap it in an [`Arc`].
pub struct RegtestNode {
    state: Mutex<State>,
    events: broadcast::Sender<ChainEvent>,
    started: Instant,
    datadir: Option<PathBuf>,
}

struct State {
    /// `None` only while the chainstate is being rebuilt.
    kernel: Option<Kernel>,
    index: ChainIndex,
    mempool: Mempool,
    mock_time: Option<u64>,
    /// What `estimatesmartfee` answers (sat/vB), set by `setfeeestimate`.
    fee_estimate_sat_per_vb: u32,
    invalidated: HashSet<BlockHash>,
    extra_nonce: u64,
}

impl State {
    fn kernel(&self) -> &Kernel {
        self.kernel
            .as_ref()
            .expect("kernel is present outside rebuilds")
    }

    fn tip_height(&self) -> u32 {
        self.index.height().unwrap_or(0)
    }

    fn now(&self) -> u64 {
        self.mock_time.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        })
    }

    fn context(&self) -> ChainContext<'_> {
        ChainContext {
            index: &self.index,
            tip_height: self.tip_height(),
        }
    }

    fn check(&self, tx: &Transaction) -> Result<Accepted, Reject> {
        self.mempool
            .check(&self.context(), tx, kernel::verify_scripts)
    }

    fn accept(&mut self, tx: Transaction) -> Result<Txid, Reject> {
        let accepted = self.check(&tx)?;
        let (now, height) = (self.now(), self.tip_height());
        self.mempool.insert(tx, &accepted, now, height);
        Ok(accepted.txid)
    }

    /// Median time past of any known block (active or not), walking the kernel's block tree.
    fn median_time_past_of(&self, hash: &BlockHash) -> u32 {
        let mut times = Vec::with_capacity(11);
        let mut cursor = self.kernel().entry(hash);
        while let Some(e) = cursor {
            times.push(e.header.time);
            if times.len() == 11 || e.height == 0 {
                break;
            }
            cursor = self.kernel().entry(&e.header.prev_blockhash);
        }
        times.sort_unstable();
        times.get(times.len() / 2).copied().unwrap_or(0)
    }

    /// Brings the index and mempool in line with the kernel's active chain, returning what
    /// changed. Transactions of disconnected blocks go back to the mempool.
    fn sync(&mut self) -> Result<Vec<ChainEvent>, RegtestError> {
        let kernel = self.kernel.as_ref().expect("kernel present");
        let tip = kernel.tip();
        let mut fork = self.index.height().map(|h| h.min(tip.height));
        while let Some(h) = fork {
            if self.index.hash_at(h) == kernel.at_height(h).map(|e| e.hash) {
                break;
            }
            fork = h.checked_sub(1);
        }
        let mut events = Vec::new();
        let mut returned: Vec<Transaction> = Vec::new();
        while self.index.height() > fork {
            let height = self.index.height().expect("above fork");
            let hash = self.index.hash_at(height).expect("indexed");
            let block = kernel
                .block(&hash)?
                .ok_or_else(|| RegtestError::Kernel(format!("block {hash} data missing")))?;
            self.index.disconnect(&block);
            returned.splice(0..0, block.txdata.into_iter().skip(1));
            events.push(ChainEvent::BlockDisconnected { hash, height });
        }
        let start = fork.map(|h| h + 1).unwrap_or(0);
        for height in start..=tip.height {
            let entry = kernel
                .at_height(height)
                .ok_or_else(|| RegtestError::Kernel(format!("no block at height {height}")))?;
            let block = kernel.block(&entry.hash)?.ok_or_else(|| {
                RegtestError::Kernel(format!("block {} data missing", entry.hash))
            })?;
            self.index.connect(&block);
            self.mempool.remove_for_block(&block.txdata);
            events.push(ChainEvent::BlockConnected {
                hash: entry.hash,
                height,
            });
        }
        if !returned.is_empty() {
            self.readd(returned);
        }
        Ok(events)
    }

    /// Puts transactions of disconnected blocks back, then re-checks what was in the mempool
    /// against the new chain; whatever is no longer valid is dropped, as Core does.
    fn readd(&mut self, returned: Vec<Transaction>) {
        let old: Vec<MempoolEntry> = self.mempool.drain_ordered();
        for tx in returned.into_iter().chain(old.into_iter().map(|e| e.tx)) {
            let _ = self.accept(tx);
        }
    }

    /// Mempool transactions for the next block, parents first, within the weight limit.
    fn select_transactions(&self) -> Vec<Transaction> {
        let mut chosen: HashSet<Txid> = HashSet::new();
        let mut txs = Vec::new();
        let mut weight = Weight::ZERO;
        for e in self.mempool.iter_ordered() {
            let parents_in = self
                .mempool
                .parents(&e.txid)
                .iter()
                .all(|p| chosen.contains(p));
            if !parents_in || (weight + e.weight).to_wu() > MAX_BLOCK_TX_WEIGHT {
                continue;
            }
            weight += e.weight;
            chosen.insert(e.txid);
            txs.push(e.tx.clone());
        }
        txs
    }

    /// Fees of `txs` as a block would pay them (inputs from the chain or earlier in the list).
    fn fees_of(&self, txs: &[Transaction]) -> Amount {
        let mut earlier: HashMap<Txid, &Transaction> = HashMap::with_capacity(txs.len());
        let mut fees = Amount::ZERO;
        for tx in txs {
            let mut in_value = Amount::ZERO;
            for input in &tx.input {
                let prev = &input.previous_output;
                let value = self.index.coin(prev).map(|c| c.txout.value).or_else(|| {
                    earlier
                        .get(&prev.txid)
                        .and_then(|t| t.output.get(prev.vout as usize))
                        .map(|o| o.value)
                });
                in_value += value.unwrap_or(Amount::ZERO);
            }
            let out: Amount = tx.output.iter().map(|o| o.value).sum();
            fees += in_value.checked_sub(out).unwrap_or(Amount::ZERO);
            earlier.insert(tx.compute_txid(), tx);
        }
        fees
    }

    /// Mines one block on the tip with as much of `txs` (parents first) as the kernel accepts.
    ///
    /// The mempool checks scripts and policy, but the kernel alone judges a block (sigop limits
    /// and any consensus rule we do not replicate). When a block fails to connect, the tip does
    /// not move: retry with the first half of the transactions, and evict a transaction that
    /// fails on its own (with its descendants), so one bad transaction cannot stop mining.
    fn mine_connecting(
        &mut self,
        payout: &ScriptBuf,
        mut txs: Vec<Transaction>,
    ) -> Result<(BlockHash, Vec<ChainEvent>), RegtestError> {
        loop {
            let tip = self.index.hash_at(self.tip_height()).expect("tip indexed");
            let fees = self.fees_of(&txs);
            let block = self.mine_on(tip, payout, txs.clone(), fees)?;
            let events = self.sync()?;
            let hash = block.block_hash();
            if self.index.hash_at(self.tip_height()) == Some(hash) {
                return Ok((hash, events));
            }
            match txs.len() {
                0 => {
                    return Err(RegtestError::BlockRejected(format!(
                        "mined block {hash} did not connect"
                    )))
                }
                1 => {
                    let bad = txs.remove(0).compute_txid();
                    tracing::warn!(%bad, "evicting a transaction the kernel refuses in a block");
                    self.mempool.remove_with_descendants(&bad);
                }
                len => txs.truncate(len / 2),
            }
        }
    }

    /// Assembles a block on `prev` and hands it to the kernel.
    fn mine_on(
        &mut self,
        prev: BlockHash,
        payout: &ScriptBuf,
        txs: Vec<Transaction>,
        fees: Amount,
    ) -> Result<Block, RegtestError> {
        let parent = self
            .kernel()
            .entry(&prev)
            .ok_or(RegtestError::BlockNotFound(prev))?;
        let mtp = self.median_time_past_of(&prev);
        let time = (self.now() as u32).max(mtp + 1);
        self.extra_nonce += 1;
        let block = miner::assemble(miner::Template {
            prev,
            height: parent.height + 1,
            time,
            payout,
            txs,
            fees,
            extra_nonce: self.extra_nonce,
        });
        self.kernel().process_block(&block)?;
        Ok(block)
    }
}

impl RegtestNode {
    /// Opens (or creates) a chain kept on disk under `datadir`.
    pub fn open(datadir: &Path) -> Result<Arc<RegtestNode>, RegtestError> {
        std::fs::create_dir_all(datadir)?;
        let invalidated = read_invalidated(datadir)?;
        let kernel = Kernel::open(Storage::Disk(datadir.to_path_buf()))?;
        Self::start(kernel, Some(datadir.to_path_buf()), invalidated)
    }

    /// A chain held in memory (block files in a temporary directory), for tests.
    pub fn in_memory() -> Result<Arc<RegtestNode>, RegtestError> {
        let kernel = Kernel::open(Storage::Memory(tempfile::tempdir()?))?;
        Self::start(kernel, None, HashSet::new())
    }

    fn start(
        kernel: Kernel,
        datadir: Option<PathBuf>,
        invalidated: HashSet<BlockHash>,
    ) -> Result<Arc<RegtestNode>, RegtestError> {
        let mut state = State {
            kernel: Some(kernel),
            index: ChainIndex::default(),
            mempool: Mempool::default(),
            mock_time: None,
            invalidated,
            extra_nonce: rand::random::<u32>() as u64,
            fee_estimate_sat_per_vb: 1,
        };
        state.sync()?;
        let (events, _) = broadcast::channel(1024);
        Ok(Arc::new(RegtestNode {
            state: Mutex::new(state),
            events,
            started: Instant::now(),
            datadir,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves no half-applied state we could trust less than
        // the kernel's own; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, events: Vec<ChainEvent>) {
        for e in events {
            let _ = self.events.send(e);
        }
    }

    /// Tip changes as they happen. Slow receivers may miss events (`Lagged`): re-read the tip.
    pub fn subscribe(&self) -> broadcast::Receiver<ChainEvent> {
        self.events.subscribe()
    }

    /// Where the chain is kept; `None` in memory.
    pub fn datadir(&self) -> Option<&Path> {
        self.datadir.as_deref()
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    pub fn tip(&self) -> BlockRef {
        let s = self.lock();
        let height = s.tip_height();
        BlockRef {
            height,
            hash: s.index.hash_at(height).expect("index holds the tip"),
        }
    }

    pub fn block_hash(&self, height: u32) -> Option<BlockHash> {
        self.lock().index.hash_at(height)
    }

    pub fn header(&self, hash: &BlockHash) -> Option<HeaderInfo> {
        self.lock().kernel().entry(hash).map(|e| HeaderInfo {
            header: e.header,
            height: e.height,
            in_active_chain: e.in_active_chain,
        })
    }

    /// Everything `getblockheader` and `getblock` report about a block.
    pub fn block_details(&self, hash: &BlockHash) -> Result<Option<BlockDetails>, RegtestError> {
        let s = self.lock();
        let Some(e) = s.kernel().entry(hash) else {
            return Ok(None);
        };
        let tip = s.tip_height();
        let n_tx = s.kernel().block(hash)?.map(|b| b.txdata.len());
        let next = if e.in_active_chain {
            s.index.hash_at(e.height + 1)
        } else {
            None
        };
        Ok(Some(BlockDetails {
            median_time: s.median_time_past_of(hash),
            chain_work: if e.in_active_chain {
                s.index.chain_work(e.height)
            } else {
                None
            },
            n_tx,
            next,
            // Core reports -1 for a block off the active chain.
            confirmations: if e.in_active_chain {
                (tip - e.height + 1) as i64
            } else {
                -1
            },
            info: HeaderInfo {
                header: e.header,
                height: e.height,
                in_active_chain: e.in_active_chain,
            },
        }))
    }

    /// Median time past of the tip.
    pub fn median_time_past(&self) -> u32 {
        let s = self.lock();
        s.index.median_time_past(s.tip_height())
    }

    /// Total chain work at the tip.
    pub fn chain_work(&self) -> Work {
        let s = self.lock();
        s.index
            .chain_work(s.tip_height())
            .expect("index holds the tip")
    }

    pub fn block(&self, hash: &BlockHash) -> Result<Option<Block>, RegtestError> {
        self.lock().kernel().block(hash)
    }

    /// A transaction from the mempool or the active chain.
    pub fn transaction(&self, txid: &Txid) -> Result<Option<TxInfo>, RegtestError> {
        let s = self.lock();
        if let Some(e) = s.mempool.get(txid) {
            return Ok(Some(TxInfo {
                tx: e.tx.clone(),
                block: None,
                confirmations: 0,
            }));
        }
        let Some(loc) = s.index.tx_location(txid) else {
            return Ok(None);
        };
        let block = s
            .kernel()
            .block(&loc.block)?
            .ok_or_else(|| RegtestError::Kernel(format!("block {} data missing", loc.block)))?;
        let tx = block
            .txdata
            .into_iter()
            .find(|t| t.compute_txid() == *txid)
            .ok_or_else(|| RegtestError::Kernel(format!("{txid} not in its indexed block")))?;
        Ok(Some(TxInfo {
            tx,
            block: Some(BlockRef {
                height: loc.height,
                hash: loc.block,
            }),
            confirmations: s.tip_height() - loc.height + 1,
        }))
    }

    /// An unspent output. With `include_mempool`, outputs of mempool transactions count and
    /// outputs spent by the mempool do not (as `gettxout … true`).
    pub fn utxo(&self, outpoint: &OutPoint, include_mempool: bool) -> Option<UtxoInfo> {
        let s = self.lock();
        if include_mempool {
            if s.mempool.spender(outpoint).is_some() {
                return None;
            }
            if let Some(e) = s.mempool.get(&outpoint.txid) {
                return e.tx.output.get(outpoint.vout as usize).map(|o| UtxoInfo {
                    txout: o.clone(),
                    confirmations: 0,
                    coinbase: false,
                });
            }
        }
        s.index.coin(outpoint).map(|c| UtxoInfo {
            txout: c.txout.clone(),
            confirmations: s.tip_height() - c.height + 1,
            coinbase: c.coinbase,
        })
    }

    /// Submits a transaction to the mempool. A transaction already there is accepted again.
    pub fn submit(&self, tx: Transaction) -> Result<Txid, Reject> {
        let txid = tx.compute_txid();
        match self.lock().accept(tx) {
            Err(r) if r.is_already_in_mempool() => Ok(txid),
            other => other,
        }
    }

    /// Whether the mempool would accept `tx` now; nothing is submitted.
    pub fn test_accept(&self, tx: &Transaction) -> TestAccept {
        match self.lock().check(tx) {
            Ok(a) => TestAccept::Allowed {
                txid: a.txid,
                vsize: a.vsize,
                fee_sat: a.fee.to_sat(),
            },
            Err(r) => TestAccept::Rejected {
                txid: tx.compute_txid(),
                reason: r.reason,
            },
        }
    }

    /// The mempool transaction spending `outpoint` (`gettxspendingprevout`).
    pub fn mempool_spender(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.lock().mempool.spender(outpoint)
    }

    /// Mempool txids in topological order.
    pub fn mempool_txids(&self) -> Vec<Txid> {
        self.lock().mempool.iter_ordered().map(|e| e.txid).collect()
    }

    /// A mempool entry with its in-mempool parents (`depends`) and children (`spentby`).
    pub fn mempool_entry(&self, txid: &Txid) -> Option<(MempoolEntry, Vec<Txid>, Vec<Txid>)> {
        let s = self.lock();
        let e = s.mempool.get(txid)?.clone();
        Some((e, s.mempool.parents(txid), s.mempool.children(txid)))
    }

    pub fn mempool_info(&self) -> MempoolInfo {
        let s = self.lock();
        MempoolInfo {
            size: s.mempool.len(),
            vsize: s.mempool.total_vsize(),
            total_fee: s.mempool.total_fee(),
        }
    }

    /// Regtest fee estimate: the minimum relay rate when blocks have room, which they always do
    /// here, unless a test set another with [`RegtestNode::set_fee_estimate`]; callers apply
    /// their own floor and targets.
    pub fn estimate_fee_rate(&self, _target_blocks: u16) -> bitcoin::FeeRate {
        bitcoin::FeeRate::from_sat_per_vb_u32(self.lock().fee_estimate_sat_per_vb)
    }

    /// Pretends the fee market moved: `estimatesmartfee` answers `sat_per_vb` from now on
    /// (at least 1). A drill for fee bumping; mining still takes every valid transaction.
    pub fn set_fee_estimate(&self, sat_per_vb: u32) {
        self.lock().fee_estimate_sat_per_vb = sat_per_vb.max(1);
    }

    /// Mines `n` blocks paying `payout`, with mempool transactions.
    pub fn generate_to_script(
        &self,
        n: u32,
        payout: &ScriptBuf,
    ) -> Result<Vec<BlockHash>, RegtestError> {
        let mut hashes = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let mut s = self.lock();
            let txs = s.select_transactions();
            let (hash, events) = s.mine_connecting(payout, txs)?;
            drop(s);
            self.publish(events);
            hashes.push(hash);
        }
        Ok(hashes)
    }

    pub fn generate_to_address(
        &self,
        n: u32,
        address: &Address,
    ) -> Result<Vec<BlockHash>, RegtestError> {
        self.generate_to_script(n, &address.script_pubkey())
    }

    /// Mines one block with exactly `txs` (in order), on the tip or on `parent` (a competing
    /// branch). On the tip, the block must connect; on another parent it is only stored, and
    /// becomes active when its branch has the most work.
    pub fn generate_block(
        &self,
        payout: &ScriptBuf,
        txs: Vec<Transaction>,
        parent: Option<BlockHash>,
    ) -> Result<BlockHash, RegtestError> {
        let mut s = self.lock();
        let tip = s.index.hash_at(s.tip_height()).expect("tip indexed");
        let prev = parent.unwrap_or(tip);
        let fees = s.fees_of(&txs);
        let block = s.mine_on(prev, payout, txs, fees)?;
        let events = s.sync()?;
        let hash = block.block_hash();
        let connected = s.index.hash_at(s.tip_height()) == Some(hash);
        let known = s.kernel().entry(&hash).is_some();
        drop(s);
        self.publish(events);
        if prev == tip && !connected {
            return Err(RegtestError::BlockRejected(format!(
                "TestBlockValidity failed: block {hash} is invalid"
            )));
        }
        if !known {
            return Err(RegtestError::BlockRejected(format!("block {hash} refused")));
        }
        Ok(hash)
    }

    /// Marks a block invalid: it and its descendants leave the active chain, their
    /// transactions go back to the mempool.
    ///
    /// The kernel has no invalidation call, so the chainstate is rebuilt from the blocks below
    /// the invalidated one (cheap at regtest sizes).
    pub fn invalidate_block(&self, hash: &BlockHash) -> Result<(), RegtestError> {
        let mut s = self.lock();
        let entry = s
            .kernel()
            .entry(hash)
            .ok_or(RegtestError::BlockNotFound(*hash))?;
        if entry.height == 0 {
            return Err(RegtestError::InvalidParameter(
                "the genesis block cannot be invalidated".into(),
            ));
        }
        s.invalidated.insert(*hash);
        if let Some(dir) = &self.datadir {
            write_invalidated(dir, &s.invalidated)?;
        }
        if !entry.in_active_chain {
            return Ok(());
        }
        let tip = s.tip_height();
        let mut keep = Vec::with_capacity(entry.height as usize);
        for h in 1..entry.height {
            let hash = s.index.hash_at(h).expect("indexed");
            keep.push(s.kernel().block(&hash)?.expect("active block has data"));
        }
        let mut dropped = Vec::new();
        let mut events = Vec::new();
        for h in (entry.height..=tip).rev() {
            let hash = s.index.hash_at(h).expect("indexed");
            let block = s.kernel().block(&hash)?.expect("active block has data");
            events.push(ChainEvent::BlockDisconnected { hash, height: h });
            dropped.push(block);
        }
        let storage = s.kernel.take().expect("kernel present").wipe()?;
        let kernel = Kernel::open(storage)?;
        for b in &keep {
            kernel.process_block(b)?;
        }
        s.kernel = Some(kernel);
        s.index = ChainIndex::default();
        s.sync()?;
        let returned: Vec<Transaction> = dropped
            .into_iter()
            .rev()
            .flat_map(|b| b.txdata.into_iter().skip(1))
            .collect();
        s.readd(returned);
        drop(s);
        self.publish(events);
        Ok(())
    }

    /// Whether `hash` was invalidated by [`Self::invalidate_block`].
    pub fn is_invalidated(&self, hash: &BlockHash) -> bool {
        self.lock().invalidated.contains(hash)
    }

    /// Sets the node's clock (`setmocktime`); 0 returns to the system clock. New blocks take
    /// this time (never less than median time past + 1). The kernel still refuses blocks more
    /// than two hours ahead of the real clock, so move time forward from a past starting point.
    pub fn set_mock_time(&self, time: u64) {
        self.lock().mock_time = (time != 0).then_some(time);
    }
}

fn read_invalidated(dir: &Path) -> Result<HashSet<BlockHash>, RegtestError> {
    let path = dir.join(INVALIDATED_FILE);
    if !path.exists() {
        return Ok(HashSet::new());
    }
    let text = std::fs::read_to_string(&path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim()
                .parse()
                .map_err(|e| RegtestError::Kernel(format!("{}: {e}", path.display())))
        })
        .collect()
}

fn write_invalidated(dir: &Path, set: &HashSet<BlockHash>) -> Result<(), RegtestError> {
    let text: String = set.iter().map(|h| format!("{h}\n")).collect();
    let tmp = dir.join(format!("{INVALIDATED_FILE}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, dir.join(INVALIDATED_FILE))?;
    Ok(())
}
