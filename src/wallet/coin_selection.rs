//! Coin selection: which of our outputs pay for a transaction, and whether it gets change.
//!
//! Largest-first over confirmed coins before our own unconfirmed change: few inputs, so low
//! fees, and unconfirmed coins only when confirmed ones do not suffice. The leftover becomes a
//! change output only when it is worth more than the dust limit after paying for itself;
//! otherwise it goes to the miner rather than creating an output nobody can spend economically.

use bitcoin::{Amount, Weight};

/// A fee rate in satoshis per 1000 weight units (1 sat/vB = 250 sat/kwu).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeeRate(pub u64);

impl FeeRate {
    /// The relay floor: 1 sat/vB.
    pub const FLOOR: FeeRate = FeeRate(250);

    /// The fee for `weight` at this rate per virtual byte, rounded up, so that
    /// `fee >= rate × vsize` holds the way nodes measure it (vsize = weight / 4 rounded up).
    /// Saturates at `u64::MAX` sat rather than overflow on absurd rates.
    pub fn fee(self, weight: Weight) -> Amount {
        let vsize = u128::from(weight.to_wu().div_ceil(4));
        let fee = vsize.saturating_mul(u128::from(self.0) * 4).div_ceil(1000);
        Amount::from_sat(u64::try_from(fee).unwrap_or(u64::MAX))
    }

    pub fn sat_per_vb(self) -> f64 {
        self.0 as f64 / 250.0
    }
}

/// What selection decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Indexes into the candidate slice, in the order given.
    pub inputs: Vec<usize>,
    pub fee: Amount,
    /// The change output's value, if any.
    pub change: Option<Amount>,
}

/// Not enough coins: how much was needed (amount and fee with every coin) and how much exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insufficient {
    pub needed: Amount,
    pub available: Amount,
}

/// The weights a selection needs to price itself.
#[derive(Debug, Clone, Copy)]
pub struct Weights {
    /// The transaction without inputs and without change (version, counts, outputs, locktime,
    /// segwit marker).
    pub base: Weight,
    /// One more input, witness included.
    pub input: Weight,
    /// The change output.
    pub change_output: Weight,
}

/// Picks coins from `candidates` (already in preference order) to pay `target` at `rate`.
pub fn select(
    candidates: &[Amount],
    target: Amount,
    rate: FeeRate,
    weights: Weights,
    change_dust: Amount,
) -> Result<Selection, Insufficient> {
    let mut sum = Amount::ZERO;
    let mut inputs = Vec::new();
    for (i, value) in candidates.iter().enumerate() {
        sum += *value;
        inputs.push(i);
        let weight = weights.base + weights.input * inputs.len() as u64;
        let fee = rate.fee(weight);
        let Some(leftover) = sum.checked_sub(target + fee) else {
            continue;
        };
        let change_cost = rate.fee(weights.change_output);
        return Ok(if leftover >= change_cost + change_dust {
            Selection {
                inputs,
                fee: fee + change_cost,
                change: Some(leftover - change_cost),
            }
        } else {
            Selection {
                inputs,
                fee: fee + leftover,
                change: None,
            }
        });
    }
    let all = weights.base + weights.input * candidates.len().max(1) as u64;
    Err(Insufficient {
        needed: target + rate.fee(all),
        available: sum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Weights = Weights {
        base: Weight::from_wu(200),
        input: Weight::from_wu(272),
        change_output: Weight::from_wu(124),
    };
    const DUST: Amount = Amount::from_sat(294);

    fn sats(v: &[u64]) -> Vec<Amount> {
        v.iter().map(|s| Amount::from_sat(*s)).collect()
    }

    #[test]
    fn fee_rounds_up_to_the_relay_floor() {
        // 561 wu is 141 vB (rounded up); 1 sat/vB must pay 141, not 140.
        assert_eq!(FeeRate::FLOOR.fee(Weight::from_wu(561)).to_sat(), 141);
        assert_eq!(FeeRate(1000).fee(Weight::from_wu(4)).to_sat(), 4);
        // 2 sat/vB on 141 vB is 282, not ceil(561 / 2) = 281.
        assert_eq!(FeeRate(500).fee(Weight::from_wu(561)).to_sat(), 282);
        assert_eq!(FeeRate(u64::MAX).fee(Weight::MAX).to_sat(), u64::MAX);
    }

    #[test]
    fn pays_amount_fee_and_change_exactly() {
        let c = sats(&[100_000, 50_000]);
        let s = select(&c, Amount::from_sat(30_000), FeeRate::FLOOR, W, DUST).unwrap();
        assert_eq!(s.inputs, vec![0]);
        let change = s.change.unwrap();
        assert_eq!(
            change + s.fee + Amount::from_sat(30_000),
            Amount::from_sat(100_000)
        );
        assert_eq!(
            s.fee,
            FeeRate::FLOOR.fee(W.base + W.input + W.change_output)
        );
    }

    #[test]
    fn small_leftover_goes_to_the_fee_not_to_dust_change() {
        let fee = FeeRate::FLOOR.fee(W.base + W.input);
        let c = sats(&[10_000]);
        let target = Amount::from_sat(10_000) - fee - Amount::from_sat(100);
        let s = select(&c, target, FeeRate::FLOOR, W, DUST).unwrap();
        assert_eq!(s.change, None);
        assert_eq!(s.fee, fee + Amount::from_sat(100));
    }

    #[test]
    fn adds_inputs_until_covered_and_reports_shortfall() {
        let c = sats(&[5_000, 4_000, 3_000]);
        let s = select(&c, Amount::from_sat(8_000), FeeRate::FLOOR, W, DUST).unwrap();
        assert_eq!(s.inputs, vec![0, 1]);
        let total: u64 = s.inputs.iter().map(|i| c[*i].to_sat()).sum();
        assert_eq!(
            total,
            8_000 + s.fee.to_sat() + s.change.map(|c| c.to_sat()).unwrap_or(0)
        );
        let err = select(&c, Amount::from_sat(12_000), FeeRate::FLOOR, W, DUST).unwrap_err();
        assert_eq!(err.available, Amount::from_sat(12_000));
        assert!(err.needed > Amount::from_sat(12_000));
        let err = select(&[], Amount::from_sat(1), FeeRate::FLOOR, W, DUST).unwrap_err();
        assert_eq!(err.available, Amount::ZERO);
    }
}
