//! Paying for claims: the fee of a transaction from a target rate and its computed weight,
//! wallet coins attached where the claim cannot pay for itself, replacements that the mempool
//! accepts, and a rate that rises as a claim's deadline nears.
//!
//! ```text
//!  own spend        claim.spend_at_rate(script, rate)          fee = rate × its weight
//!                   justice_tx_at_rate(claims, script, rate)
//!  zero-fee HTLC tx htlc_tx_with_fee_input(claim, coin, …)     HTLC input + wallet input
//!  (anchors)                                                   -> HTLC output + change
//!  our commitment   anchor_cpfp(anchor, parent, …)             anchor + wallet input -> change;
//!  stuck (anchors)                                             parent + child pay the rate
//!  any of these     Replaces { fee, weight } of the mempool's version: the new one beats it
//!  which rate       deadline_rate(base, blocks left, blocks since first broadcast),
//!                   then capped_rate(…, budget)                 never above the budget
//! ```
//!
//! Nothing here does I/O. A wallet coin is a [`SpentOutput`] of a P2WPKH output (the only kind
//! our wallet holds): its input is priced at its largest witness (a 72-byte signature and a
//! 33-byte key), and the wallet signs it once the transaction is complete
//! (`Wallet::sign_fee_input`, SIGHASH_ALL). Our own signatures here are SIGHASH_ALL too, over
//! the finished transaction, so the wallet input must not change after.
//!
//! Rates are [`FeeRate`] (sat per 1000 weight units); a fee is the rate times the virtual size
//! rounded up, as nodes measure it, so `fee / vsize >= rate` always holds.

use bitcoin::absolute::LockTime;
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::transaction::{predict_weight, InputWeightPrediction, Version};
use bitcoin::{Amount, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Weight, Witness};

use crate::bolt3::sign::sign_p2wsh;
use crate::bolt3::spend::SpentOutput;
use crate::bolt3::witness::anchor_owner_witness;
use crate::bolt3::Bolt3Error;
use crate::channel::ChannelState;
pub use crate::wallet::FeeRate;

use super::anchor::Anchor;
use super::{Claim, OnchainError};

/// Bitcoin Core's incremental relay fee: what a replacement must add, per vbyte of its own
/// size, over everything it evicts.
pub const INCREMENTAL_RELAY: FeeRate = FeeRate(250);

/// The weight of a wallet input: P2WPKH with the largest low-S signature.
pub const WALLET_INPUT: InputWeightPrediction = InputWeightPrediction::P2WPKH_MAX;

/// Share of what a claim recovers that it may spend on fees (LND's sweeper defaults to the
/// same half): past that, confirming it is worth less than what it costs.
pub const BUDGET_PERCENT: u64 = 50;

/// How many times [`deadline_rate`] may double the base rate (×64).
pub const MAX_DOUBLINGS: u32 = 6;

fn vsize(weight: Weight) -> u64 {
    weight.to_wu().div_ceil(4)
}

/// The version of a transaction the mempool holds, which a new version must replace (BIP 125
/// rules 3, 4 and 6 as Bitcoin Core and our embedded mempool apply them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaces {
    /// Its fee, plus the fees of its descendants in the mempool if it has any (they are evicted
    /// with it).
    pub fee_sat: u64,
    /// Its weight.
    pub weight: Weight,
}

impl Replaces {
    /// `tx`, which pays `fee_sat`, is what the mempool holds.
    pub fn of(tx: &Transaction, fee_sat: u64) -> Replaces {
        Replaces {
            fee_sat,
            weight: tx.weight(),
        }
    }

    /// The least a replacement of `new_weight` may pay: the evicted fees plus its own size at
    /// the incremental relay rate (rules 3 and 4), and a rate strictly above the replaced one
    /// (rule 6).
    pub fn min_fee_sat(&self, new_weight: Weight) -> u64 {
        let new_vsize = u128::from(vsize(new_weight));
        let old_vsize = u128::from(vsize(self.weight).max(1));
        let more = self
            .fee_sat
            .saturating_add(INCREMENTAL_RELAY.fee(new_weight).to_sat());
        let higher_rate = u128::from(self.fee_sat) * new_vsize / old_vsize + 1;
        more.max(u64::try_from(higher_rate).unwrap_or(u64::MAX))
    }
}

/// The fee of a transaction of `weight` at `rate`, raised to replace `replaces` if given.
pub fn fee_sat(weight: Weight, rate: FeeRate, replaces: Option<&Replaces>) -> u64 {
    let at_rate = rate.fee(weight).to_sat();
    replaces.map_or(at_rate, |r| at_rate.max(r.min_fee_sat(weight)))
}

/// The lowest rate at or above `rate` whose fee on `weight` replaces `replaces`: what to pass
/// to [`Claim::spend_at_rate`] or [`crate::onchain::justice_tx_at_rate`] to bump a claim whose
/// earlier version is in the mempool.
pub fn replacement_rate(replaces: &Replaces, weight: Weight, rate: FeeRate) -> FeeRate {
    let needed = replaces.min_fee_sat(weight);
    // fee(w) = ceil(vsize × r × 4 / 1000) >= needed  <=  r >= needed × 250 / vsize
    let r = (u128::from(needed) * 250).div_ceil(u128::from(vsize(weight).max(1)));
    rate.max(FeeRate(u64::try_from(r).unwrap_or(u64::MAX)))
}

/// A transaction spending a wallet coin, complete but for that input's witness, which the
/// wallet adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithFeeInput {
    pub tx: Transaction,
    /// Index of the wallet's input.
    pub wallet_input: usize,
    /// What this transaction pays, alone.
    pub fee_sat: u64,
    /// Its weight once the wallet signed (signatures counted at their largest): what the fee
    /// was priced on.
    pub weight: Weight,
    /// Our change output, if any.
    pub change_vout: Option<u32>,
}

/// The zero-fee HTLC transaction of `claim` (an HTLC-timeout/success of an anchors channel)
/// with `coin` attached and change to `change_script`, paying `rate` on the whole transaction
/// (or replacing `replaces`).
///
/// Change is added when it is above `change_script`'s dust limit after paying for itself;
/// otherwise the whole coin goes to the fee, as long as it covers the fee without change. The
/// HTLC input and output stay at index 0 (the peer signed `SINGLE|ANYONECANPAY`); the wallet
/// input is index 1, the change index 1. Use [`htlc_fee_input_min_sat`] to pick a coin.
///
/// # Errors
/// [`OnchainError::NoFeeInput`] for another claim or a static_remotekey channel;
/// [`OnchainError::FeeInputTooSmall`] when `coin` does not cover the fee.
pub fn htlc_tx_with_fee_input(
    claim: &Claim,
    coin: &SpentOutput,
    change_script: &ScriptBuf,
    rate: FeeRate,
    replaces: Option<&Replaces>,
) -> Result<WithFeeInput, OnchainError> {
    let (with_change, alone) = htlc_weights(claim, change_script)?;
    let fee = fee_sat(with_change, rate, replaces);
    let dust = change_script.minimal_non_dust().to_sat();
    let (change, fee, weight) = match coin.value_sat.checked_sub(fee) {
        Some(change) if change >= dust => (Some(change), fee, with_change),
        _ => {
            let fee = fee_sat(alone, rate, replaces);
            if coin.value_sat < fee {
                return Err(OnchainError::FeeInputTooSmall {
                    needed_sat: fee,
                    available_sat: coin.value_sat,
                });
            }
            (None, coin.value_sat, alone)
        }
    };
    let change_out = change.map(|v| TxOut {
        value: Amount::from_sat(v),
        script_pubkey: change_script.clone(),
    });
    let tx = claim.htlc_tx_with_inputs(coin.outpoint, change_out)?;
    Ok(WithFeeInput {
        tx,
        wallet_input: 1,
        fee_sat: fee,
        weight,
        change_vout: change.map(|_| 1),
    })
}

/// The smallest wallet coin [`htlc_tx_with_fee_input`] turns into a transaction at `rate` with
/// change (above dust) back to `change_script`.
///
/// # Errors
/// [`OnchainError::NoFeeInput`] for a claim that takes no fee input.
pub fn htlc_fee_input_min_sat(
    claim: &Claim,
    change_script: &ScriptBuf,
    rate: FeeRate,
    replaces: Option<&Replaces>,
) -> Result<u64, OnchainError> {
    let (with_change, _) = htlc_weights(claim, change_script)?;
    Ok(fee_sat(with_change, rate, replaces) + change_script.minimal_non_dust().to_sat())
}

/// Weights of the HTLC transaction with a wallet input: with change, and without.
fn htlc_weights(
    claim: &Claim,
    change_script: &ScriptBuf,
) -> Result<(Weight, Weight), OnchainError> {
    let out = claim
        .zero_fee_htlc_output()
        .ok_or(OnchainError::NoFeeInput { kind: claim.kind })?
        .len();
    let inputs = [claim.input_prediction(), WALLET_INPUT];
    Ok((
        predict_weight(inputs, [out, change_script.len()]),
        predict_weight(inputs, [out]),
    ))
}

/// The child paying for `parent` (a commitment, ours or the peer's, with our `anchor`): the
/// anchor and `coin` in, one change output to `change_script`, its fee chosen so that parent
/// and child together pay `package_rate`:
///
/// `child fee = package_rate × (parent vsize + child vsize) − parent_fee_sat`
///
/// and never less than the child's own size at `package_rate` (a parent already paying more
/// needs no help, but the child must still stand on its own), nor less than what replaces an
/// earlier child (`replaces`). The anchor is input 0, signed here; the wallet input is 1.
///
/// The mempool must take the parent first (our embedded mempool and Core without package
/// relay judge each transaction alone): the commitment's own fee must meet the minimum relay
/// rate. Use [`cpfp_fee_input_min_sat`] to pick a coin.
///
/// # Errors
/// [`OnchainError::FeeInputTooSmall`] when anchor and coin do not cover the fee and a change
/// output above dust (a transaction needs one output).
pub fn anchor_cpfp(
    anchor: &Anchor,
    parent: &Transaction,
    parent_fee_sat: u64,
    coin: &SpentOutput,
    change_script: &ScriptBuf,
    package_rate: FeeRate,
    replaces: Option<&Replaces>,
) -> Result<WithFeeInput, OnchainError> {
    let (weight, fee) = cpfp_fee(
        anchor,
        parent,
        parent_fee_sat,
        change_script,
        package_rate,
        replaces,
    );
    let dust = change_script.minimal_non_dust().to_sat();
    let total = anchor
        .value_sat
        .checked_add(coin.value_sat)
        .ok_or(Bolt3Error::AmountOverflow)?;
    let change =
        total
            .checked_sub(fee)
            .filter(|c| *c >= dust)
            .ok_or(OnchainError::FeeInputTooSmall {
                needed_sat: (fee + dust).saturating_sub(anchor.value_sat),
                available_sat: coin.value_sat,
            })?;
    let input = |previous_output| TxIn {
        previous_output,
        script_sig: ScriptBuf::new(),
        sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
        witness: Witness::new(),
    };
    let mut tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![input(anchor.outpoint), input(coin.outpoint)],
        output: vec![TxOut {
            value: Amount::from_sat(change),
            script_pubkey: change_script.clone(),
        }],
    };
    let script = anchor.script();
    let sig = sign_p2wsh(
        &tx,
        0,
        &script,
        anchor.value_sat,
        EcdsaSighashType::All,
        &anchor.funding_privkey,
    )?;
    tx.input[0].witness = anchor_owner_witness(&sig, &script);
    Ok(WithFeeInput {
        tx,
        wallet_input: 1,
        fee_sat: fee,
        weight,
        change_vout: Some(0),
    })
}

/// The smallest wallet coin [`anchor_cpfp`] needs for this package rate.
pub fn cpfp_fee_input_min_sat(
    anchor: &Anchor,
    parent: &Transaction,
    parent_fee_sat: u64,
    change_script: &ScriptBuf,
    package_rate: FeeRate,
    replaces: Option<&Replaces>,
) -> u64 {
    let (_, fee) = cpfp_fee(
        anchor,
        parent,
        parent_fee_sat,
        change_script,
        package_rate,
        replaces,
    );
    (fee + change_script.minimal_non_dust().to_sat()).saturating_sub(anchor.value_sat)
}

/// The child's weight and fee.
fn cpfp_fee(
    anchor: &Anchor,
    parent: &Transaction,
    parent_fee_sat: u64,
    change_script: &ScriptBuf,
    package_rate: FeeRate,
    replaces: Option<&Replaces>,
) -> (Weight, u64) {
    let child = predict_weight(
        [anchor.input_prediction(), WALLET_INPUT],
        [change_script.len()],
    );
    let package_vsize = parent.vsize() as u64 + vsize(child);
    let package_fee = package_rate
        .fee(Weight::from_wu(package_vsize.saturating_mul(4)))
        .to_sat();
    let fee =
        package_fee
            .saturating_sub(parent_fee_sat)
            .max(fee_sat(child, package_rate, replaces));
    (child, fee)
}

/// What a commitment of this channel pays: the funding amount minus its outputs. `None` for a
/// transaction that pays out more than the funding output holds (not one of this channel's).
pub fn commitment_fee_sat(state: &ChannelState, commitment: &Transaction) -> Option<u64> {
    let out: u64 = commitment.output.iter().map(|o| o.value.to_sat()).sum();
    state.setup.funding_sat.checked_sub(out)
}

/// The rate to pay now for a claim with `blocks_to_deadline` left (`None`: no deadline) and
/// first broadcast `blocks_since_first` blocks ago, from `base`, the chain's estimate.
///
/// The rate doubles each time the time left halves: with `W` the window the claim had when
/// first broadcast (`blocks_since_first + blocks_to_deadline`) and `L` what is left (at least
/// 1), the rate is `base × 2^⌊log2(W / L)⌋`, at most `2^MAX_DOUBLINGS` times `base`. A claim
/// with all its time ahead pays the estimate; half-way it pays double; with a quarter left,
/// four times; each step is a replacement the mempool accepts whenever `base` is at least the
/// incremental relay rate (a doubling adds the old fee again). A claim broadcast late starts
/// at `base` and climbs as fast. Past the deadline (`Some(0)`) `L` is 1. Without a deadline
/// the estimate is paid as it moves.
///
/// Inspired by LND's sweeper (a fee function that reaches the budget at the deadline) and
/// LDK's (bumps that grow as the timelock nears); this one is convex, spending little while
/// time is plentiful. Cap the result with [`capped_rate`].
pub fn deadline_rate(
    base: FeeRate,
    blocks_to_deadline: Option<u32>,
    blocks_since_first: u32,
) -> FeeRate {
    let Some(left) = blocks_to_deadline else {
        return base;
    };
    let window = left.saturating_add(blocks_since_first).max(1);
    let doublings = (window / left.max(1)).max(1).ilog2().min(MAX_DOUBLINGS);
    FeeRate(base.0.saturating_mul(1 << doublings))
}

/// The most a claim recovering `value_sat` may pay: [`BUDGET_PERCENT`] of it. For a CPFP,
/// the value is what the commitment's confirmation protects (our HTLCs on it); for an HTLC
/// transaction with a wallet input, the HTLC's value.
pub fn claim_budget_sat(value_sat: u64) -> u64 {
    value_sat.saturating_mul(BUDGET_PERCENT) / 100
}

/// The most a justice transaction recovering `value_sat` may pay: all of it but a dust-free
/// output (330 sat, the P2WSH dust limit). Every satoshi the cheater does not get back is a
/// penalty; a justice transaction that loses the race returns the funds to the cheater, so
/// paying everything to the miners is better than that.
pub fn justice_budget_sat(value_sat: u64) -> u64 {
    value_sat.saturating_sub(330)
}

/// `rate`, lowered if needed so that `weight` at that rate pays at most `budget_sat`. `None`
/// when even the minimum relay rate ([`FeeRate::FLOOR`]) is above the budget: the claim costs
/// more than it may pay (wait for lower fees, or let it go).
pub fn capped_rate(rate: FeeRate, weight: Weight, budget_sat: u64) -> Option<FeeRate> {
    // fee(w) = ceil(vsize × r × 4 / 1000) <= budget  <=  r <= budget × 250 / vsize
    let most = u128::from(budget_sat) * 250 / u128::from(vsize(weight).max(1));
    let capped = rate.min(FeeRate(u64::try_from(most).unwrap_or(u64::MAX)));
    (capped >= FeeRate::FLOOR).then_some(capped)
}
