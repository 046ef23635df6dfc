//! Weights, fee inputs, CPFP, replacements and the deadline schedule on realistic claims. Every
//! transaction built here is also run through Bitcoin Core's script interpreter; the embedded
//! chain's mempool takes them in `integration/onchain_claims.rs`.

use std::collections::HashMap;

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::SecretKey;
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxOut, Txid, Weight};

use super::{commitment, dest, with_htlcs, FORMATS};
use crate::bolt3::spend::{sign_p2wpkh_input, SpentOutput};
use crate::bolt3::testutil::consensus_verify;
use crate::channel::testing::harness::*;
use crate::channel::Format;
use crate::onchain::fees::*;
use crate::onchain::*;

/// Bytes a prediction may exceed the signed transaction by: 72-byte signatures counted where
/// a signature may be 71 (or, rarely, 70).
const SLACK_PER_SIGNATURE: u64 = 2;

/// Every claim of every kind on one channel: ours (with both HTLC transactions), the peer's
/// current commitment (both HTLC paths) and a revoked one. With the spent transaction.
fn every_claim(format: Format) -> Vec<(Claim, Transaction)> {
    let mut p = with_htlcs(format);
    let pre = HashMap::from([(hash_of(&preimage(2)), preimage(2))]);
    let mut out = Vec::new();
    let keys_a = keys(1);
    for tx in [commitment(&p.a), commitment(&p.b)] {
        let state = p.a.channel.state();
        let spend = classify(state, &keys_a, &tx);
        for c in claims(state, &keys_a, &spend, &tx, &pre).unwrap() {
            out.push((c, tx.clone()));
        }
    }
    let old = commitment(&p.b);
    p.pay(false, 5_000_000, 9);
    let state = p.a.channel.state();
    let spend = classify(state, &keys_a, &old);
    assert!(matches!(spend, Spend::RemoteRevoked { .. }));
    for c in claims(state, &keys_a, &spend, &old, &HashMap::new()).unwrap() {
        out.push((c, old.clone()));
    }
    out
}

fn spent_output(c: &Claim, parent: &Transaction) -> TxOut {
    parent.output[c.outpoint.vout as usize].clone()
}

fn signatures(c: &Claim) -> u64 {
    match c.kind {
        ClaimKind::HtlcTimeout { .. } | ClaimKind::HtlcSuccess { .. } => 2,
        _ => 1,
    }
}

#[test]
fn predicted_weights_bound_every_signed_claim() {
    for format in FORMATS {
        let all = every_claim(format);
        assert_eq!(all.len(), 3 + 3 + 4, "{format:?}: {all:?}");
        for (c, parent) in &all {
            let tx = c.spend(&dest()).unwrap();
            let predicted = c.spend_weight(&dest().script_pubkey);
            let actual = tx.weight();
            assert!(
                actual <= predicted
                    && predicted.to_wu() <= actual.to_wu() + SLACK_PER_SIGNATURE * signatures(c),
                "{format:?} {:?}: predicted {predicted}, signed {actual}",
                c.kind
            );
            consensus_verify(&tx, &[spent_output(c, parent)]).unwrap();
        }
        let justice: Vec<Claim> = all
            .iter()
            .filter(|(c, _)| c.kind.is_justice())
            .map(|(c, _)| c.clone())
            .collect();
        assert_eq!(justice.len(), 3);
        let tx = justice_tx(&justice, &dest()).unwrap();
        let predicted = justice_weight(&justice, &dest().script_pubkey);
        assert!(tx.weight() <= predicted);
        assert!(predicted.to_wu() <= tx.weight().to_wu() + SLACK_PER_SIGNATURE * 3);
    }
}

#[test]
fn spends_at_a_rate_pay_at_least_that_rate() {
    let rate = FeeRate(2_500); // 10 sat/vB
    for format in FORMATS {
        for (c, parent) in every_claim(format) {
            // HTLC transactions are pre-signed with their fee (none under anchors).
            let presigned = matches!(
                c.kind,
                ClaimKind::HtlcTimeout { .. } | ClaimKind::HtlcSuccess { .. }
            );
            if presigned || c.kind.is_justice() {
                continue;
            }
            let script = dest().script_pubkey;
            let tx = c.spend_at_rate(&script, rate).unwrap();
            let fee = c.value_sat - tx.output[0].value.to_sat();
            let vsize = tx.vsize() as u64;
            assert!(fee >= 10 * vsize, "{:?}: {fee} on {vsize} vB", c.kind);
            assert!(fee <= 10 * (vsize + 1), "{:?}: {fee} on {vsize} vB", c.kind);
            consensus_verify(&tx, &[spent_output(&c, &parent)]).unwrap();
        }
        let justice: Vec<Claim> = every_claim(format)
            .into_iter()
            .filter(|(c, _)| c.kind.is_justice())
            .map(|(c, _)| c)
            .collect();
        let tx = justice_tx_at_rate(&justice, &dest().script_pubkey, rate).unwrap();
        let total: u64 = justice.iter().map(|c| c.value_sat).sum();
        let fee = total - tx.output[0].value.to_sat();
        assert!(fee >= 10 * tx.vsize() as u64 && fee <= 10 * (tx.vsize() as u64 + 1));
    }
    // A rate whose fee is above the value is refused, not wrapped.
    let (c, _) = every_claim(Format::Anchors)
        .into_iter()
        .find(|(c, _)| c.kind == ClaimKind::ToRemote)
        .unwrap();
    assert!(matches!(
        c.spend_at_rate(&dest().script_pubkey, FeeRate(u64::MAX / 8)),
        Err(OnchainError::Bolt3(
            crate::bolt3::Bolt3Error::FeeTooHigh { .. }
        ))
    ));
}

/// A wallet coin: outpoint, output and key.
fn coin(value_sat: u64) -> (SpentOutput, TxOut, SecretKey) {
    let key = SecretKey::from_slice(&[0x77; 32]).unwrap();
    let out = TxOut {
        value: Amount::from_sat(value_sat),
        script_pubkey: crate::bolt3::scripts::p2wpkh(&key.public_key(crate::bolt3::secp())),
    };
    let spent = SpentOutput {
        outpoint: OutPoint::new(Txid::from_byte_array([8; 32]), 3),
        value_sat,
    };
    (spent, out, key)
}

fn change_script() -> ScriptBuf {
    shutdown_script(9)
}

/// Signs the wallet input and checks every input with the script interpreter; returns the fee.
fn sign_and_verify(b: &WithFeeInput, spent: &[TxOut], key: &SecretKey) -> Transaction {
    let mut tx = b.tx.clone();
    let value = spent[b.wallet_input].value.to_sat();
    sign_p2wpkh_input(&mut tx, b.wallet_input, value, key).unwrap();
    consensus_verify(&tx, spent).unwrap();
    assert!(tx.weight() <= b.weight, "priced on an upper bound");
    assert!(b.weight.to_wu() <= tx.weight().to_wu() + 3 * SLACK_PER_SIGNATURE);
    let value_in: u64 = spent.iter().map(|o| o.value.to_sat()).sum();
    let value_out: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
    assert_eq!(value_in - value_out, b.fee_sat);
    tx
}

#[test]
fn zero_fee_htlc_tx_with_a_fee_input_pays_the_rate() {
    let all = every_claim(Format::Anchors);
    let rate = FeeRate(5_000); // 20 sat/vB
    let htlcs: Vec<&(Claim, Transaction)> = all
        .iter()
        .filter(|(c, _)| c.zero_fee_htlc_output().is_some())
        .collect();
    assert_eq!(htlcs.len(), 2, "HTLC-timeout and HTLC-success");
    for (c, parent) in htlcs {
        let (spent, out, key) = coin(100_000);
        let b = htlc_tx_with_fee_input(c, &spent, &change_script(), rate, None).unwrap();
        assert_eq!(b.change_vout, Some(1));
        assert_eq!(
            b.tx.output[0].value.to_sat(),
            c.value_sat,
            "HTLC output untouched"
        );
        assert_eq!(b.tx.input[0].previous_output, c.outpoint);
        let tx = sign_and_verify(&b, &[spent_output(c, parent), out], &key);
        let vsize = tx.vsize() as u64;
        assert!(b.fee_sat >= 20 * vsize && b.fee_sat <= 20 * (vsize + 1));
        // The claim's second stage is found in the transaction with the fee input.
        assert_eq!(c.second_stage(&tx).unwrap().value_sat, c.value_sat);

        // The smallest coin that leaves change leaves exactly dust.
        let min = htlc_fee_input_min_sat(c, &change_script(), rate, None).unwrap();
        let (spent, out, key) = coin(min);
        let b = htlc_tx_with_fee_input(c, &spent, &change_script(), rate, None).unwrap();
        assert_eq!(b.tx.output[1].value.to_sat(), 294);
        sign_and_verify(&b, &[spent_output(c, parent), out], &key);
        // One satoshi less: no change, the whole coin is the fee.
        let (spent, out, key) = coin(min - 1);
        let b = htlc_tx_with_fee_input(c, &spent, &change_script(), rate, None).unwrap();
        assert_eq!((b.change_vout, b.tx.output.len()), (None, 1));
        assert_eq!(b.fee_sat, min - 1);
        let tx = sign_and_verify(&b, &[spent_output(c, parent), out], &key);
        assert!(b.fee_sat >= 20 * tx.vsize() as u64);
        // Too small to pay even without change.
        let (spent, _, _) = coin(1_000);
        assert!(matches!(
            htlc_tx_with_fee_input(c, &spent, &change_script(), rate, None),
            Err(OnchainError::FeeInputTooSmall {
                available_sat: 1_000,
                ..
            })
        ));
    }
    // Other claims and static_remotekey HTLC transactions take no fee input.
    let (spent, _, _) = coin(100_000);
    for (c, _) in every_claim(Format::StaticRemoteKey).iter().chain(
        all.iter()
            .filter(|(c, _)| c.zero_fee_htlc_output().is_none()),
    ) {
        assert_eq!(
            htlc_tx_with_fee_input(c, &spent, &change_script(), rate, None),
            Err(OnchainError::NoFeeInput { kind: c.kind })
        );
    }
}

#[test]
fn anchor_cpfp_brings_the_package_to_the_rate() {
    let p = with_htlcs(Format::Anchors);
    let state = p.a.channel.state();
    let ours = commitment(&p.a);
    let theirs = commitment(&p.b);
    let anchor = our_anchor(&keys(1), &ours).unwrap().expect("our anchor");
    assert_eq!(anchor.value_sat, 330);
    assert_eq!(anchor.outpoint.txid, ours.compute_txid());
    // Ours on the peer's commitment too (to hurry it), and none on a static_remotekey one.
    let on_theirs = our_anchor(&keys(1), &theirs).unwrap().expect("anchor");
    assert_ne!(on_theirs.outpoint.vout, u32::MAX);
    let srk = with_htlcs(Format::StaticRemoteKey);
    assert!(our_anchor(&keys(1), &commitment(&srk.a)).unwrap().is_none());
    // Nor one of another channel's keys.
    assert!(our_anchor(&keys(3), &ours).unwrap().is_none());

    let parent_fee = commitment_fee_sat(state, &ours).unwrap();
    let parent_vsize = ours.vsize() as u64;
    assert!(parent_fee < 5 * parent_vsize, "the commitment pays little");
    let rate = FeeRate(5_000); // 20 sat/vB
    let (spent, out, key) = coin(100_000);
    let anchor_out = ours.output[anchor.outpoint.vout as usize].clone();
    let b = anchor_cpfp(
        &anchor,
        &ours,
        parent_fee,
        &spent,
        &change_script(),
        rate,
        None,
    )
    .unwrap();
    let child = sign_and_verify(&b, &[anchor_out.clone(), out], &key);
    let package_vsize = parent_vsize + b.weight.to_vbytes_ceil();
    assert_eq!(b.fee_sat, (20 * package_vsize).saturating_sub(parent_fee));
    let real_package = parent_vsize + child.vsize() as u64;
    assert!(
        parent_fee + b.fee_sat >= 20 * real_package,
        "package pays the rate"
    );
    assert!(parent_fee + b.fee_sat <= 20 * (real_package + 1));
    assert_eq!(b.tx.output[0].value.to_sat(), 100_330 - b.fee_sat);

    // A parent already paying more than the rate: the child still pays its own way.
    let b = anchor_cpfp(
        &anchor,
        &ours,
        1_000_000,
        &spent,
        &change_script(),
        FeeRate::FLOOR,
        None,
    )
    .unwrap();
    assert_eq!(b.fee_sat, FeeRate::FLOOR.fee(b.weight).to_sat());

    // The smallest coin leaves dust change; less is refused.
    let min = cpfp_fee_input_min_sat(&anchor, &ours, parent_fee, &change_script(), rate, None);
    let (spent, out, key) = coin(min);
    let b = anchor_cpfp(
        &anchor,
        &ours,
        parent_fee,
        &spent,
        &change_script(),
        rate,
        None,
    )
    .unwrap();
    assert_eq!(b.tx.output[0].value.to_sat(), 294);
    sign_and_verify(&b, &[anchor_out, out], &key);
    let (spent, _, _) = coin(min - 1);
    assert!(matches!(
        anchor_cpfp(&anchor, &ours, parent_fee, &spent, &change_script(), rate, None),
        Err(OnchainError::FeeInputTooSmall { needed_sat, .. }) if needed_sat == min
    ));
}

#[test]
fn replacements_pay_more_in_total_and_in_rate() {
    let old = Replaces {
        fee_sat: 1_000,
        weight: Weight::from_wu(800), // 200 vB, 5 sat/vB
    };
    // Same size: the old fee plus 1 sat/vB of the new size.
    assert_eq!(old.min_fee_sat(Weight::from_wu(800)), 1_200);
    // Larger (1000 vB): above the old rate, so above 5 sat/vB on the whole new size.
    assert_eq!(old.min_fee_sat(Weight::from_wu(4_000)), 5_001);
    // 100 vB at > 5 sat/vB is 501, but the total must still exceed the old 1000 by 100.
    assert_eq!(old.min_fee_sat(Weight::from_wu(400)), 1_100);
    let old = Replaces {
        fee_sat: 10_000,
        weight: Weight::from_wu(400), // 100 vB, 100 sat/vB
    };
    // 300 vB: the old rate (100 sat/vB) is the bound: 30_001 > 10_000 + 300.
    assert_eq!(old.min_fee_sat(Weight::from_wu(1_200)), 30_001);

    // replacement_rate turns the bound into a rate the claim builders take.
    let w = Weight::from_wu(561);
    let r = replacement_rate(&old, w, FeeRate::FLOOR);
    assert!(r.fee(w).to_sat() >= old.min_fee_sat(w));
    assert!(FeeRate(r.0 - 1).fee(w).to_sat() < old.min_fee_sat(w) + 1);
    assert_eq!(
        replacement_rate(&old, w, FeeRate(1_000_000)),
        FeeRate(1_000_000)
    );
    assert_eq!(fee_sat(w, FeeRate::FLOOR, Some(&old)), old.min_fee_sat(w));

    // A zero-fee HTLC transaction rebuilt on the same coin replaces its earlier version.
    let all = every_claim(Format::Anchors);
    let (c, _) = all
        .iter()
        .find(|(c, _)| matches!(c.kind, ClaimKind::HtlcSuccess { .. }))
        .unwrap();
    let (spent, _, _) = coin(100_000);
    let first = htlc_tx_with_fee_input(c, &spent, &change_script(), FeeRate(1_000), None).unwrap();
    let prev = Replaces {
        fee_sat: first.fee_sat,
        weight: first.weight,
    };
    // Asked for the same rate, it still pays what replacing needs.
    let again =
        htlc_tx_with_fee_input(c, &spent, &change_script(), FeeRate(1_000), Some(&prev)).unwrap();
    assert_eq!(again.fee_sat, prev.min_fee_sat(again.weight));
    assert!(again.fee_sat * first.weight.to_wu() > first.fee_sat * again.weight.to_wu());
}

#[test]
fn the_rate_doubles_each_time_the_time_left_halves() {
    let base = FeeRate(500);
    let at = |left, since| deadline_rate(base, Some(left), since).0 / base.0;
    // First broadcast 40 blocks ahead of the deadline.
    assert_eq!(at(40, 0), 1);
    assert_eq!(at(21, 19), 1);
    assert_eq!(at(20, 20), 2);
    assert_eq!(at(10, 30), 4);
    assert_eq!(at(5, 35), 8);
    assert_eq!(at(2, 38), 16);
    assert_eq!(at(1, 39), 32);
    assert_eq!(at(0, 40), 32, "past the deadline: as with one block left");
    assert_eq!(at(0, 400), 64, "never above 2^MAX_DOUBLINGS");
    // Broadcast with 3 blocks left: base, then double with one left.
    assert_eq!(at(3, 0), 1);
    assert_eq!(at(2, 1), 1);
    assert_eq!(at(1, 2), 2);
    assert_eq!(at(0, 0), 1);
    // No deadline: the estimate as it is.
    assert_eq!(deadline_rate(base, None, 1_000), base);
    // Huge rates saturate instead of wrapping.
    assert_eq!(
        deadline_rate(FeeRate(u64::MAX), Some(1), 100),
        FeeRate(u64::MAX)
    );
}

#[test]
fn budgets_cap_the_rate() {
    assert_eq!(claim_budget_sat(20_000), 10_000);
    assert_eq!(claim_budget_sat(u64::MAX), u64::MAX / 100);
    assert_eq!(justice_budget_sat(20_000), 19_670);
    assert_eq!(justice_budget_sat(100), 0);
    let w = Weight::from_wu(600); // 150 vB
                                  // 10_000 sat over 150 vB: at most 66 sat/vB.
    let capped = capped_rate(FeeRate(250_000), w, 10_000).unwrap();
    assert!(capped.fee(w).to_sat() <= 10_000);
    assert!(FeeRate(capped.0 + 1).fee(w).to_sat() > 10_000 - 1);
    assert_eq!(capped_rate(FeeRate(1_000), w, 10_000), Some(FeeRate(1_000)));
    // Not even the relay floor fits: not worth claiming now.
    assert_eq!(capped_rate(FeeRate(1_000), w, 149), None);
    assert_eq!(capped_rate(FeeRate(1_000), w, 150), Some(FeeRate::FLOOR));
}

#[test]
fn deadlines_come_from_the_chain_where_it_sets_one() {
    for format in FORMATS {
        let all = every_claim(format);
        let delay = u32::from(
            with_htlcs(format)
                .a
                .channel
                .state()
                .setup
                .local
                .to_self_delay,
        );
        for (c, _) in &all {
            let expected = match c.kind {
                ClaimKind::HtlcSuccess { .. } | ClaimKind::RemoteHtlcPreimage { .. } => Some(602),
                ClaimKind::RevokedHtlc { payment_hash }
                    if payment_hash == hash_of(&preimage(1)) =>
                {
                    Some(601)
                }
                ClaimKind::RevokedHtlc { .. } => Some(602),
                ClaimKind::RevokedToLocal => Some(500 + delay),
                _ => None,
            };
            assert_eq!(c.deadline(500), expected, "{format:?} {:?}", c.kind);
        }
    }
}
