//! The embedded node's mempool: Bitcoin Core's acceptance rules that matter for a payment-channel
//! hub, checked in Core's order and rejected with Core's reason strings and RPC codes.
//!
//! Scripts are judged by the kernel ([`super::kernel::verify_scripts`]); everything the kernel does
//! not do for loose transactions (input lookup, locktimes, BIP68, fees, standardness, conflicts
//! and BIP125 replacement) is here.

use std::collections::{BTreeMap, HashMap, HashSet};

use bitcoin::{Amount, OutPoint, Sequence, Transaction, TxOut, Txid, Weight};

use super::index::ChainIndex;

/// Bitcoin Core's RPC error codes for rejected transactions.
pub mod codes {
    /// `RPC_TRANSACTION_ERROR`: inputs missing or already spent.
    pub const MISSING_INPUTS: i64 = -25;
    /// `RPC_TRANSACTION_REJECTED`: refused by policy or consensus.
    pub const REJECTED: i64 = -26;
    /// `RPC_TRANSACTION_ALREADY_IN_CHAIN`.
    pub const ALREADY_IN_CHAIN: i64 = -27;
}

/// Minimum relay fee rate and incremental relay fee rate (sat/kvB), Core's defaults.
const MIN_RELAY_SAT_PER_KVB: u64 = 1_000;
/// Core's dust relay fee (sat/kvB).
const DUST_RELAY_SAT_PER_KVB: u64 = 3_000;
const MAX_STANDARD_TX_WEIGHT: u64 = 400_000;
const MIN_STANDARD_TX_NONWITNESS_SIZE: usize = 65;
const MAX_STANDARD_SCRIPTSIG_SIZE: usize = 1_650;
const MAX_OP_RETURN_RELAY: usize = 83;
const COINBASE_MATURITY: u32 = 100;
const MAX_ANCESTORS: usize = 25;
const MAX_REPLACEMENT_EVICTIONS: usize = 100;
const MAX_MONEY: u64 = 21_000_000 * 100_000_000;
const LOCKTIME_THRESHOLD: u32 = 500_000_000;

/// A refusal: Core's reject reason (as `testmempoolaccept` shows it), the message
/// `sendrawtransaction` returns, and its RPC error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub code: i64,
    /// The short reason, e.g. `non-BIP68-final`, `missing-inputs`.
    pub reason: String,
    /// The full message, e.g. `bad-txns-inputs-missingorspent` or
    /// `min relay fee not met, 100 < 141`.
    pub message: String,
}

impl Reject {
    fn new(code: i64, reason: &str) -> Reject {
        Reject {
            code,
            reason: reason.to_owned(),
            message: reason.to_owned(),
        }
    }

    fn with_debug(code: i64, reason: &str, debug: String) -> Reject {
        Reject {
            code,
            reason: reason.to_owned(),
            message: format!("{reason}, {debug}"),
        }
    }

    fn rejected(reason: &str) -> Reject {
        Reject::new(codes::REJECTED, reason)
    }

    /// True when the transaction is already in the mempool (not an error for `sendrawtransaction`).
    pub fn is_already_in_mempool(&self) -> bool {
        self.reason == "txn-already-in-mempool"
    }
}

/// A transaction in the mempool.
#[derive(Debug, Clone)]
pub struct MempoolEntry {
    pub tx: Transaction,
    pub txid: Txid,
    pub fee: Amount,
    pub vsize: u64,
    pub weight: Weight,
    /// When it entered (node time, seconds).
    pub time: u64,
    /// Chain height when it entered.
    pub height: u32,
    /// Insertion order; parents always come before children.
    seq: u64,
}

/// What acceptance decided, before the transaction is inserted.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub txid: Txid,
    pub fee: Amount,
    pub vsize: u64,
    /// Mempool transactions (conflicts and their descendants) this one replaces.
    pub replaces: Vec<Txid>,
}

/// The chain as acceptance sees it: the next block's height and the tip's median time past.
pub(crate) struct ChainContext<'a> {
    pub index: &'a ChainIndex,
    pub tip_height: u32,
}

impl ChainContext<'_> {
    fn next_height(&self) -> u32 {
        self.tip_height + 1
    }

    fn tip_mtp(&self) -> u32 {
        self.index.median_time_past(self.tip_height)
    }
}

#[derive(Default)]
pub struct Mempool {
    entries: HashMap<Txid, MempoolEntry>,
    /// Which mempool transaction spends each outpoint.
    spent_by: HashMap<OutPoint, Txid>,
    order: BTreeMap<u64, Txid>,
    next_seq: u64,
}

impl Mempool {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, txid: &Txid) -> Option<&MempoolEntry> {
        self.entries.get(txid)
    }

    /// Entries in insertion order, which is a topological order (parents first).
    pub fn iter_ordered(&self) -> impl Iterator<Item = &MempoolEntry> {
        self.order.values().filter_map(|t| self.entries.get(t))
    }

    /// The mempool transaction spending `outpoint`, if any.
    pub fn spender(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.spent_by.get(outpoint).copied()
    }

    /// In-mempool parents of `txid`.
    pub fn parents(&self, txid: &Txid) -> Vec<Txid> {
        let Some(e) = self.entries.get(txid) else {
            return Vec::new();
        };
        let mut out: Vec<Txid> =
            e.tx.input
                .iter()
                .map(|i| i.previous_output.txid)
                .filter(|p| self.entries.contains_key(p))
                .collect();
        out.sort();
        out.dedup();
        out
    }

    /// In-mempool children of `txid`.
    pub fn children(&self, txid: &Txid) -> Vec<Txid> {
        let Some(e) = self.entries.get(txid) else {
            return Vec::new();
        };
        let mut out: Vec<Txid> = (0..e.tx.output.len() as u32)
            .filter_map(|vout| self.spent_by.get(&OutPoint::new(*txid, vout)).copied())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn ancestors(&self, parents: &[Txid]) -> HashSet<Txid> {
        let mut seen = HashSet::new();
        let mut stack: Vec<Txid> = parents.to_vec();
        while let Some(t) = stack.pop() {
            if seen.insert(t) {
                stack.extend(self.parents(&t));
            }
        }
        seen
    }

    /// `txid` and everything in the mempool that descends from it.
    pub fn with_descendants(&self, txid: &Txid) -> Vec<Txid> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut stack = vec![*txid];
        while let Some(t) = stack.pop() {
            if self.entries.contains_key(&t) && seen.insert(t) {
                out.push(t);
                stack.extend(self.children(&t));
            }
        }
        out
    }

    /// The output a transaction input spends, from the mempool or the chain, with the height
    /// it counts as confirmed at (the next block's height for a mempool parent).
    fn lookup(&self, ctx: &ChainContext<'_>, outpoint: &OutPoint) -> Option<(TxOut, u32, bool)> {
        if let Some(parent) = self.entries.get(&outpoint.txid) {
            let out = parent.tx.output.get(outpoint.vout as usize)?;
            return Some((out.clone(), ctx.next_height(), false));
        }
        ctx.index
            .coin(outpoint)
            .map(|c| (c.txout.clone(), c.height, c.coinbase))
    }

    /// Decides whether `tx` may enter the mempool, in Bitcoin Core's order of checks.
    /// `verify` runs the consensus script checks given the spent outputs.
    pub(crate) fn check(
        &self,
        ctx: &ChainContext<'_>,
        tx: &Transaction,
        verify: impl Fn(&Transaction, &[TxOut]) -> Result<(), usize>,
    ) -> Result<Accepted, Reject> {
        let txid = tx.compute_txid();
        check_transaction(tx)?;
        if tx.is_coinbase() {
            return Err(Reject::rejected("coinbase"));
        }
        check_standard(tx)?;
        if !is_final(tx, ctx.next_height(), ctx.tip_mtp()) {
            return Err(Reject::rejected("non-final"));
        }
        if self.entries.contains_key(&txid) {
            return Err(Reject::rejected("txn-already-in-mempool"));
        }

        // Conflicts: BIP125 opt-in replacement, as Bitcoin Core before full-RBF.
        let mut conflicts: Vec<Txid> = tx
            .input
            .iter()
            .filter_map(|i| self.spent_by.get(&i.previous_output).copied())
            .collect();
        conflicts.sort();
        conflicts.dedup();
        for c in &conflicts {
            let signals = self.entries[c]
                .tx
                .input
                .iter()
                .any(|i| i.sequence.0 < 0xffff_fffe);
            if !signals {
                return Err(Reject::with_debug(
                    codes::REJECTED,
                    "txn-mempool-conflict",
                    format!("conflicts with {c}"),
                ));
            }
        }

        // Inputs.
        let mut spent = Vec::with_capacity(tx.input.len());
        let mut heights = Vec::with_capacity(tx.input.len());
        let mut in_value: u64 = 0;
        for input in &tx.input {
            let prev = &input.previous_output;
            // A conflicting mempool transaction's outputs may not be spent by its replacement.
            if conflicts.contains(&prev.txid) {
                return Err(Reject::rejected("bad-txns-spends-conflicting-tx"));
            }
            let Some((out, height, coinbase)) = self.lookup(ctx, prev) else {
                // Outputs of ours already confirmed and unspent: the transaction is known.
                let known = (0..tx.output.len() as u32)
                    .any(|v| ctx.index.coin(&OutPoint::new(txid, v)).is_some());
                if known {
                    return Err(Reject {
                        code: codes::ALREADY_IN_CHAIN,
                        reason: "txn-already-known".into(),
                        message: "Transaction outputs already in utxo set".into(),
                    });
                }
                return Err(Reject {
                    code: codes::MISSING_INPUTS,
                    reason: "missing-inputs".into(),
                    message: "bad-txns-inputs-missingorspent".into(),
                });
            };
            if coinbase && ctx.next_height() - height < COINBASE_MATURITY {
                return Err(Reject::with_debug(
                    codes::REJECTED,
                    "bad-txns-premature-spend-of-coinbase",
                    format!(
                        "tried to spend coinbase at depth {}",
                        ctx.next_height() - height
                    ),
                ));
            }
            in_value = in_value.saturating_add(out.value.to_sat());
            heights.push(height);
            spent.push(out);
        }

        if !sequence_locks_satisfied(tx, &heights, ctx) {
            return Err(Reject::rejected("non-BIP68-final"));
        }

        let out_value: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
        if in_value < out_value {
            return Err(Reject::with_debug(
                codes::REJECTED,
                "bad-txns-in-belowout",
                format!("value in ({in_value}) < value out ({out_value})"),
            ));
        }
        let fee = in_value - out_value;
        let vsize = tx.vsize() as u64;
        let min_fee = vsize * MIN_RELAY_SAT_PER_KVB / 1000;
        if fee < min_fee {
            return Err(Reject::with_debug(
                codes::REJECTED,
                "min relay fee not met",
                format!("{fee} < {min_fee}"),
            ));
        }

        let mut parents: Vec<Txid> = tx
            .input
            .iter()
            .map(|i| i.previous_output.txid)
            .filter(|p| self.entries.contains_key(p))
            .collect();
        parents.sort();
        parents.dedup();
        if self.ancestors(&parents).len() + 1 > MAX_ANCESTORS {
            return Err(Reject::with_debug(
                codes::REJECTED,
                "too-long-mempool-chain",
                format!("too many unconfirmed ancestors [limit: {MAX_ANCESTORS}]"),
            ));
        }

        let replaces = self.check_replacement(&txid, fee, vsize, &conflicts)?;

        if let Err(input) = verify(tx, &spent) {
            // Core puts the interpreter's error in parentheses; the kernel tells us only which
            // input failed, so that is what we say.
            let reason =
                format!("mandatory-script-verify-flag-failed (script failed on input {input})");
            return Err(Reject::new(codes::REJECTED, &reason));
        }

        Ok(Accepted {
            txid,
            fee: Amount::from_sat(fee),
            vsize,
            replaces,
        })
    }

    /// BIP125 rules 3 and 4 (and Core's eviction limit): the replacement must pay more in total
    /// than everything it evicts, by at least its own size at the incremental relay fee, and at
    /// a higher rate than each transaction it directly replaces.
    fn check_replacement(
        &self,
        txid: &Txid,
        fee: u64,
        vsize: u64,
        conflicts: &[Txid],
    ) -> Result<Vec<Txid>, Reject> {
        if conflicts.is_empty() {
            return Ok(Vec::new());
        }
        let mut evicted: Vec<Txid> = Vec::new();
        for c in conflicts {
            for d in self.with_descendants(c) {
                if !evicted.contains(&d) {
                    evicted.push(d);
                }
            }
        }
        if evicted.len() > MAX_REPLACEMENT_EVICTIONS {
            return Err(Reject::with_debug(
                codes::REJECTED,
                "too many potential replacements",
                format!("rejecting replacement {txid}"),
            ));
        }
        for c in conflicts {
            let e = &self.entries[c];
            // Compare fee rates without division: fee/vsize <= e.fee/e.vsize.
            if (fee as u128) * (e.vsize as u128) <= (e.fee.to_sat() as u128) * (vsize as u128) {
                return Err(Reject::with_debug(
                    codes::REJECTED,
                    "insufficient fee",
                    format!("rejecting replacement {txid}; new feerate not above that of {c}"),
                ));
            }
        }
        let evicted_fees: u64 = evicted.iter().map(|t| self.entries[t].fee.to_sat()).sum();
        if fee < evicted_fees {
            return Err(Reject::with_debug(
                codes::REJECTED,
                "insufficient fee",
                format!("rejecting replacement {txid}, less fees than conflicting txs; {fee} < {evicted_fees}"),
            ));
        }
        let needed = vsize * MIN_RELAY_SAT_PER_KVB / 1000;
        if fee - evicted_fees < needed {
            return Err(Reject::with_debug(
                codes::REJECTED,
                "insufficient fee",
                format!(
                    "rejecting replacement {txid}, not enough additional fees to relay; {} < {needed}",
                    fee - evicted_fees
                ),
            ));
        }
        Ok(evicted)
    }

    /// Inserts an accepted transaction, evicting what it replaces.
    pub(crate) fn insert(&mut self, tx: Transaction, accepted: &Accepted, time: u64, height: u32) {
        for r in &accepted.replaces {
            self.remove_one(r);
        }
        for input in &tx.input {
            self.spent_by.insert(input.previous_output, accepted.txid);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, accepted.txid);
        self.entries.insert(
            accepted.txid,
            MempoolEntry {
                weight: tx.weight(),
                tx,
                txid: accepted.txid,
                fee: accepted.fee,
                vsize: accepted.vsize,
                time,
                height,
                seq,
            },
        );
    }

    fn remove_one(&mut self, txid: &Txid) -> Option<MempoolEntry> {
        let e = self.entries.remove(txid)?;
        for input in &e.tx.input {
            if self.spent_by.get(&input.previous_output) == Some(txid) {
                self.spent_by.remove(&input.previous_output);
            }
        }
        self.order.remove(&e.seq);
        Some(e)
    }

    /// Removes `txid` and its descendants.
    pub fn remove_with_descendants(&mut self, txid: &Txid) {
        for t in self.with_descendants(txid) {
            self.remove_one(&t);
        }
    }

    /// After a block connects: drops its transactions, and whatever in the mempool conflicts
    /// with them (with descendants).
    pub(crate) fn remove_for_block(&mut self, txs: &[Transaction]) {
        for tx in txs {
            let txid = tx.compute_txid();
            self.remove_one(&txid);
            for input in &tx.input {
                if let Some(conflict) = self.spent_by.get(&input.previous_output).copied() {
                    self.remove_with_descendants(&conflict);
                }
            }
        }
    }

    /// Empties the mempool, handing back its transactions in topological order.
    pub(crate) fn drain_ordered(&mut self) -> Vec<MempoolEntry> {
        let txids: Vec<Txid> = self.order.values().copied().collect();
        let mut out = Vec::with_capacity(txids.len());
        for t in txids {
            if let Some(e) = self.remove_one(&t) {
                out.push(e);
            }
        }
        out
    }

    pub fn total_vsize(&self) -> u64 {
        self.entries.values().map(|e| e.vsize).sum()
    }

    pub fn total_fee(&self) -> Amount {
        self.entries.values().map(|e| e.fee).sum()
    }
}

/// Core's `CheckTransaction`: context-free validity.
fn check_transaction(tx: &Transaction) -> Result<(), Reject> {
    if tx.input.is_empty() {
        return Err(Reject::rejected("bad-txns-vin-empty"));
    }
    if tx.output.is_empty() {
        return Err(Reject::rejected("bad-txns-vout-empty"));
    }
    if tx.base_size() * 4 > 4_000_000 {
        return Err(Reject::rejected("bad-txns-oversize"));
    }
    let mut total: u64 = 0;
    for out in &tx.output {
        if out.value.to_sat() > MAX_MONEY {
            return Err(Reject::rejected("bad-txns-vout-toolarge"));
        }
        total = total.saturating_add(out.value.to_sat());
        if total > MAX_MONEY {
            return Err(Reject::rejected("bad-txns-txouttotal-toolarge"));
        }
    }
    let mut seen = HashSet::new();
    for input in &tx.input {
        if !seen.insert(input.previous_output) {
            return Err(Reject::rejected("bad-txns-inputs-duplicate"));
        }
        if !tx.is_coinbase() && input.previous_output.is_null() {
            return Err(Reject::rejected("bad-txns-prevout-null"));
        }
    }
    Ok(())
}

/// Core's `IsStandardTx`, the parts that matter here.
fn check_standard(tx: &Transaction) -> Result<(), Reject> {
    let v = tx.version.0;
    if !(1..=3).contains(&v) {
        return Err(Reject::rejected("version"));
    }
    if tx.weight().to_wu() > MAX_STANDARD_TX_WEIGHT {
        return Err(Reject::with_debug(
            codes::REJECTED,
            "tx-size",
            format!("{}", tx.weight().to_wu()),
        ));
    }
    if tx.base_size() < MIN_STANDARD_TX_NONWITNESS_SIZE {
        return Err(Reject::rejected("tx-size-small"));
    }
    for input in &tx.input {
        if input.script_sig.len() > MAX_STANDARD_SCRIPTSIG_SIZE {
            return Err(Reject::rejected("scriptsig-size"));
        }
        if !input.script_sig.is_push_only() {
            return Err(Reject::rejected("scriptsig-not-pushonly"));
        }
    }
    let mut op_returns = 0;
    for out in &tx.output {
        let spk = &out.script_pubkey;
        if spk.is_op_return() {
            if spk.len() > MAX_OP_RETURN_RELAY {
                return Err(Reject::rejected("scriptpubkey"));
            }
            op_returns += 1;
            continue;
        }
        let standard = spk.is_p2pkh()
            || spk.is_p2sh()
            || spk.is_p2wpkh()
            || spk.is_p2wsh()
            || spk.is_p2tr()
            || spk.is_multisig()
            // Future witness versions (and P2A anchors) are standard to create.
            || spk
                .witness_version()
                .is_some_and(|v| v != bitcoin::WitnessVersion::V0);
        if !standard {
            return Err(Reject::rejected("scriptpubkey"));
        }
        if out.value.to_sat() < dust_threshold(out) {
            return Err(Reject::rejected("dust"));
        }
    }
    if op_returns > 1 {
        return Err(Reject::rejected("multi-op-return"));
    }
    Ok(())
}

/// Core's `GetDustThreshold` at the default dust relay fee: the cost of creating and later
/// spending the output (P2WPKH 294, P2WSH/P2TR 330, P2PKH 546 sat).
pub fn dust_threshold(out: &TxOut) -> u64 {
    let out_size = bitcoin::consensus::serialize(out).len() as u64;
    let spend_size = if out.script_pubkey.is_witness_program() {
        32 + 4 + 1 + 107 / 4 + 4
    } else {
        32 + 4 + 1 + 107 + 4
    };
    (out_size + spend_size) * DUST_RELAY_SAT_PER_KVB / 1000
}

/// Core's `IsFinalTx` for the next block (height), judged against the tip's median time past.
fn is_final(tx: &Transaction, height: u32, mtp: u32) -> bool {
    let lock = tx.lock_time.to_consensus_u32();
    if lock == 0 {
        return true;
    }
    let reached = if lock < LOCKTIME_THRESHOLD {
        lock < height
    } else {
        lock < mtp
    };
    reached || tx.input.iter().all(|i| i.sequence == Sequence::MAX)
}

/// BIP68 relative locks for inclusion in the next block. `heights[i]` is the height input `i`'s
/// coin confirmed at (the next block's height for an unconfirmed parent).
fn sequence_locks_satisfied(tx: &Transaction, heights: &[u32], ctx: &ChainContext<'_>) -> bool {
    if tx.version.0 < 2 {
        return true;
    }
    let next = ctx.next_height();
    let mut min_height: i64 = -1;
    let mut min_time: i64 = -1;
    for (input, &coin_height) in tx.input.iter().zip(heights) {
        let seq = input.sequence.0;
        if seq & (1 << 31) != 0 {
            continue;
        }
        let value = (seq & 0xffff) as i64;
        if seq & (1 << 22) != 0 {
            // Time-based: from the median time past of the block before the coin's block.
            let base_height = coin_height.saturating_sub(1).min(ctx.tip_height);
            let base = ctx.index.median_time_past(base_height) as i64;
            min_time = min_time.max(base + (value << 9) - 1);
        } else {
            min_height = min_height.max(coin_height as i64 + value - 1);
        }
    }
    min_height < next as i64 && min_time < ctx.tip_mtp() as i64
}
