//! BOLT 5 claims proven on the embedded regtest chain (Bitcoin Core's consensus and mempool
//! rules): two real channel machines fund a channel on chain, update it, and one side's
//! commitment is broadcast; `chanhub::onchain` recognises it and every claim it lists is
//! accepted exactly when its timelocks allow, paying its value minus the chosen fee.
//!
//! `a` is us throughout (the opener, with 600k of the 1M sat); `b` is the peer. Every test runs
//! on a fresh chain for both channel types.

mod chain_support;
#[path = "onchain_claims/world.rs"]
mod world;

use std::collections::HashMap;

use bitcoin::{Amount, OutPoint, TxOut};
use chain_support::Key;
use chanhub::bolt3::spend::Destination;
use chanhub::channel::Format;
use chanhub::onchain::fees::{
    anchor_cpfp, commitment_fee_sat, cpfp_fee_input_min_sat, htlc_fee_input_min_sat,
    htlc_tx_with_fee_input, replacement_rate, Replaces,
};
use chanhub::onchain::{
    claims, claims_for_second_stage, classify, justice_tx, our_anchor, Claim, ClaimKind, Spend,
};
use chanhub::wallet::{FeeRate, Wallet, WalletError};
use world::*;

const FORMATS: [Format; 2] = [Format::Anchors, Format::StaticRemoteKey];

fn find(cs: &[Claim], kind: ClaimKind) -> &Claim {
    cs.iter()
        .find(|c| c.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} in {cs:?}"))
}

/// HTLCs both ways: `a` offers #1 (20k sat), `b` offers #2 (30k sat); expiries 30 and 40
/// blocks ahead. Returns (expiry of #1, expiry of #2).
fn htlcs_both_ways(w: &mut World) -> (u32, u32) {
    let (e1, e2) = (w.tip() + 30, w.tip() + 40);
    w.offer(true, 20_000_000, 1, e1);
    w.offer(false, 30_000_000, 2, e2);
    (e1, e2)
}

/// The peer broadcasts a commitment it revoked (HTLCs both ways, then one more HTLC made it
/// old): one justice transaction takes its `to_local` and both HTLC outputs at once, and our
/// `to_remote` is ours too.
#[test]
fn revoked_commitment_is_taken_whole_by_one_justice_tx() {
    for format in FORMATS {
        let mut w = World::open(format);
        let (e1, _) = htlcs_both_ways(&mut w);
        let old = w.b.commitment();
        w.offer(true, 15_000_000, 3, e1 + 5);
        let (_, at) = w.confirm(&old);
        let (state, keys) = (w.a.state(), w.a.keys());
        let spend = classify(state, &keys, &old);
        assert!(matches!(spend, Spend::RemoteRevoked { .. }), "{spend:?}");
        let cs = claims(state, &keys, &spend, &old, &HashMap::new()).expect("claims");
        let justice: Vec<Claim> = cs.iter().filter(|c| c.kind.is_justice()).cloned().collect();
        assert_eq!(justice.len(), 3, "to_local and two HTLCs: {cs:?}");
        assert!(justice.iter().all(|c| c.csv == 0 && c.cltv == 0));
        let dest = w.a.dest();
        let tx = justice_tx(&justice, &dest).expect("justice");
        let (fee, _) = w.confirm(&tx);
        let value_in: u64 = justice.iter().map(|c| c.value_sat).sum();
        assert_eq!(fee, CLAIM_FEE_SAT, "{format:?}");
        assert_eq!(value_in, tx.output[0].value.to_sat() + fee, "{format:?}");
        // Everything the peer had on that commitment (balance and HTLCs both ways) is ours.
        let peer_side: u64 = old
            .output
            .iter()
            .map(|o| o.value.to_sat())
            .filter(|v| *v != 330)
            .sum::<u64>()
            - cs.iter()
                .filter(|c| c.kind == ClaimKind::ToRemote)
                .map(|c| c.value_sat)
                .sum::<u64>();
        assert_eq!(value_in, peer_side, "{format:?}");
        let to_remote = find(&cs, ClaimKind::ToRemote);
        assert!(w.tip() >= to_remote.earliest_block(at) - 1);
        w.claim(to_remote, &dest);
    }
}

/// The cheater gets one HTLC-success transaction of its revoked commitment confirmed first:
/// its output is revocable at once and goes in the justice transaction with the rest.
#[test]
fn cheaters_htlc_tx_output_is_taken_too() {
    for format in FORMATS {
        let mut w = World::open(format);
        let (e1, _) = htlcs_both_ways(&mut w);
        let old = w.b.commitment();
        let cheater_state = w.b.state().clone();
        w.offer(true, 15_000_000, 3, e1 + 5);
        w.confirm(&old);
        // The cheater claims #1 (ours to it) with the preimage, from its old state.
        let keys_b = w.b.keys();
        let spend_b = classify(&cheater_state, &keys_b, &old);
        assert!(matches!(spend_b, Spend::Local { .. }), "{spend_b:?}");
        let cs_b = claims(&cheater_state, &keys_b, &spend_b, &old, &preimages(&[1])).unwrap();
        let success = find(
            &cs_b,
            ClaimKind::HtlcSuccess {
                payment_hash: hash_of(&preimage(1)),
            },
        );
        let htlc_tx = if format == Format::Anchors {
            w.b.htlc_tx_with_fee(success)
        } else {
            success.spend(&w.b.dest()).unwrap()
        };
        w.confirm(&htlc_tx);

        let (state, keys) = (w.a.state(), w.a.keys());
        let Spend::RemoteRevoked { number, .. } = classify(state, &keys, &old) else {
            panic!("revoked")
        };
        let cs = claims(
            state,
            &keys,
            &classify(state, &keys, &old),
            &old,
            &HashMap::new(),
        )
        .expect("claims");
        let second = claims_for_second_stage(state, &keys, number, &htlc_tx).expect("2nd");
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].kind, ClaimKind::RevokedSecondStage);
        // The HTLC output it spent is gone; the rest of the justice claims remain.
        let mut justice: Vec<Claim> = cs
            .into_iter()
            .filter(|c| c.kind.is_justice() && w.is_unspent(&c.outpoint))
            .collect();
        assert_eq!(justice.len(), 2, "{format:?}: to_local and #2");
        justice.extend(second);
        let tx = justice_tx(&justice, &w.a.dest()).expect("justice");
        let (fee, _) = w.confirm(&tx);
        let value_in: u64 = justice.iter().map(|c| c.value_sat).sum();
        assert_eq!(value_in, tx.output[0].value.to_sat() + fee);
        assert_eq!(fee, CLAIM_FEE_SAT);
    }
}

/// We broadcast our commitment: `to_local` waits `to_self_delay`, HTLC-timeout waits the
/// expiry, HTLC-success goes with the preimage, and each HTLC transaction's output waits the
/// delay again.
#[test]
fn our_commitment_claims_respect_every_timelock() {
    for format in FORMATS {
        let mut w = World::open(format);
        let (e1, _) = htlcs_both_ways(&mut w);
        let ours = w.a.commitment();
        let (state, keys) = (w.a.state().clone(), w.a.keys());
        let spend = classify(&state, &keys, &ours);
        assert!(matches!(spend, Spend::Local { .. }), "{spend:?}");
        let (_, at) = w.confirm(&ours);
        let cs = claims(&state, &keys, &spend, &ours, &preimages(&[2])).expect("claims");
        assert_eq!(cs.len(), 3, "{cs:?}");
        let dest = w.a.dest();
        let htlc_tx = |w: &mut World, c: &Claim| {
            if format == Format::Anchors {
                w.a.htlc_tx_with_fee(c)
            } else {
                c.spend(&dest).unwrap()
            }
        };

        // HTLC-success for #2, with the preimage: at once.
        let success = find(
            &cs,
            ClaimKind::HtlcSuccess {
                payment_hash: hash_of(&preimage(2)),
            },
        )
        .clone();
        let success_tx = htlc_tx(&mut w, &success);
        let (_, success_at) = w.confirm(&success_tx);

        // HTLC-timeout for #1: refused until the tip reaches its expiry.
        let timeout = find(
            &cs,
            ClaimKind::HtlcTimeout {
                payment_hash: hash_of(&preimage(1)),
            },
        )
        .clone();
        assert_eq!(timeout.cltv, e1);
        assert_eq!(timeout.earliest_block(at), e1 + 1);
        let timeout_tx = htlc_tx(&mut w, &timeout);
        w.refused_until(&timeout_tx, e1, NON_FINAL);
        let (_, timeout_at) = w.confirm(&timeout_tx);

        // to_local: refused one block before to_self_delay, accepted at it.
        let to_local = find(&cs, ClaimKind::LocalDelayed);
        let delay = u32::from(to_local.csv);
        assert_eq!(to_local.earliest_block(at), at + delay);
        let tx = to_local.spend(&dest).unwrap();
        w.refused_until(&tx, at + delay - 1, NON_BIP68_FINAL);
        // HTLC-success confirmed one block after the commitment: its output is one block short.
        let second = success.second_stage(&success_tx).expect("second stage");
        assert_eq!(
            (second.kind, second.csv),
            (ClaimKind::SecondStage, to_local.csv)
        );
        assert_eq!(second.earliest_block(success_at), success_at + delay);
        assert_eq!(w.tip(), success_at + delay - 2);
        w.refuse(&second.spend(&dest).unwrap(), NON_BIP68_FINAL);
        w.claim(to_local, &dest);
        w.claim(&second, &dest);

        // HTLC-timeout's output, after the delay from its own confirmation.
        let second = timeout.second_stage(&timeout_tx).expect("second stage");
        let tx = second.spend(&dest).unwrap();
        w.refused_until(&tx, timeout_at + delay - 1, NON_BIP68_FINAL);
        w.claim(&second, &dest);
        assert!(success.second_stage(&timeout_tx).is_none());
    }
}

/// The peer broadcasts its current commitment: our `to_remote`, its HTLC to us with the
/// preimage, and ours to it after the expiry, all straight from the commitment.
#[test]
fn their_current_commitment_pays_us_directly() {
    for format in FORMATS {
        let mut w = World::open(format);
        let (e1, _) = htlcs_both_ways(&mut w);
        let theirs = w.b.commitment();
        let (state, keys) = (w.a.state().clone(), w.a.keys());
        let spend = classify(&state, &keys, &theirs);
        assert!(matches!(spend, Spend::RemoteCurrent { .. }), "{spend:?}");
        let cs = claims(&state, &keys, &spend, &theirs, &preimages(&[2])).expect("claims");
        assert_eq!(cs.len(), 3, "{cs:?}");
        let dest: Destination = w.a.dest();
        if format == Format::Anchors {
            // `1 OP_CSV`: nothing moves before the commitment confirms.
            w.accept(&theirs);
            let to_remote = find(&cs, ClaimKind::ToRemote);
            w.refuse(&to_remote.spend(&dest).unwrap(), NON_BIP68_FINAL);
            w.mine(1);
        } else {
            w.confirm(&theirs);
        }
        w.claim(find(&cs, ClaimKind::ToRemote), &dest);
        w.claim(
            find(
                &cs,
                ClaimKind::RemoteHtlcPreimage {
                    payment_hash: hash_of(&preimage(2)),
                },
            ),
            &dest,
        );
        let timeout = find(
            &cs,
            ClaimKind::RemoteHtlcTimeout {
                payment_hash: hash_of(&preimage(1)),
            },
        );
        w.refused_until(&timeout.spend(&dest).unwrap(), e1, NON_FINAL);
        w.claim(timeout, &dest);
    }
}

/// 20 sat/vB: well above the commitments' own rate (1000 sat/kw, 4 sat/vB).
const TARGET: FeeRate = FeeRate(5_000);
const TARGET_SAT_PER_VB: u64 = 20;
/// Confirmed coins in our wallet besides its change, each enough for any fee here.
const FEE_COIN_SAT: u64 = 100_000;

/// What `fund_outputs` could spend now: the wallet's confirmed and own unconfirmed coins,
/// less every reserved one (asked for more than exists, it says how much it found).
async fn spendable(wallet: &Wallet) -> u64 {
    let too_much = vec![TxOut {
        value: Amount::from_sat(20_000_000 * 100_000_000),
        script_pubkey: Key::new(0x98).p2wpkh(),
    }];
    match wallet.fund_outputs(too_much, FeeRate::FLOOR).await {
        Err(WalletError::InsufficientFunds { available_sat, .. }) => available_sat,
        other => panic!("expected insufficient funds: {other:?}"),
    }
}

/// `fee` over `vsize` is the target rate, to within one vbyte at it.
fn at_target(fee: u64, vsize: u64) {
    assert!(
        fee >= TARGET_SAT_PER_VB * vsize,
        "{fee} sat on {vsize} vB is below {TARGET_SAT_PER_VB} sat/vB"
    );
    assert!(
        fee <= TARGET_SAT_PER_VB * (vsize + 1),
        "{fee} sat on {vsize} vB overpays"
    );
}

/// Anchors: our commitment, with HTLCs both ways, pays 4 sat/vB while the market wants 20.
/// Our anchor and a wallet coin bring the package to 20 sat/vB; then each zero-fee HTLC
/// transaction gets a wallet coin paying 20 sat/vB on its own (HTLC-timeout refused a block
/// before its expiry); the HTLC-success is bumped to 40 sat/vB on the same coin, replacing
/// the first version. The wallet never offers a coin twice and counts every change at once.
///
/// The embedded miner takes every valid mempool transaction whatever its rate, so what is
/// proven is that each transaction is valid, accepted, and pays what we computed, as the
/// mempool accounts it.
#[tokio::test]
async fn anchors_claims_pay_their_fees_from_the_wallet() {
    let mut w = World::open(Format::Anchors);
    let wallet = w.wallet(3, FEE_COIN_SAT).await;
    let (e1, _) = htlcs_both_ways(&mut w);
    let ours = w.a.commitment();
    let (state, keys) = (w.a.state().clone(), w.a.keys());
    let change_script = wallet.new_internal_script().await.unwrap();

    // (ii) CPFP: the commitment alone is below the target; parent and child reach it.
    let parent_fee = commitment_fee_sat(&state, &ours).unwrap();
    assert_eq!(w.accept(&ours), parent_fee);
    assert!(parent_fee < TARGET_SAT_PER_VB * ours.vsize() as u64 / 4);
    let anchor = our_anchor(&keys, &ours).unwrap().expect("our anchor");
    let min = cpfp_fee_input_min_sat(&anchor, &ours, parent_fee, &change_script, TARGET, None);
    // (iv) What fund_outputs may spend, followed through every reservation and broadcast.
    let mut expected = spendable(&wallet).await;
    let coin = wallet
        .reserve_fee_input(Amount::from_sat(min))
        .await
        .unwrap();
    assert_eq!(
        coin.txout.value.to_sat(),
        FEE_COIN_SAT,
        "the smallest coin that pays"
    );
    // (iv) Reserved: fund_outputs no longer sees it.
    expected -= FEE_COIN_SAT;
    assert_eq!(spendable(&wallet).await, expected, "reserved: not offered");
    let cpfp = anchor_cpfp(
        &anchor,
        &ours,
        parent_fee,
        &coin.spent_output(),
        &change_script,
        TARGET,
        None,
    )
    .unwrap();
    let mut child = cpfp.tx.clone();
    wallet
        .sign_fee_input(&mut child, cpfp.wallet_input, &coin)
        .unwrap();
    wallet
        .broadcast_with_fee_input(&child, &coin, Amount::from_sat(cpfp.fee_sat))
        .await
        .unwrap();
    let (pf, pv) = w.mempool_fee(&ours.compute_txid());
    let (cf, cv) = w.mempool_fee(&child.compute_txid());
    assert_eq!((pf, cf), (parent_fee, cpfp.fee_sat));
    at_target(pf + cf, pv + cv);
    // (iv) Spent: not offered; its change is, at once.
    expected += child.output[0].value.to_sat();
    assert_eq!(spendable(&wallet).await, expected);
    w.mine(1);
    let at = w.tip();
    assert!(!w.is_unspent(&coin.outpoint));
    wallet.sync().await.unwrap();
    assert_eq!(spendable(&wallet).await, expected);

    let cs = claims(
        &state,
        &keys,
        &classify(&state, &keys, &ours),
        &ours,
        &preimages(&[2]),
    )
    .unwrap();

    // (i) HTLC-success for #2 with a wallet coin, at the target rate.
    let success = find(
        &cs,
        ClaimKind::HtlcSuccess {
            payment_hash: hash_of(&preimage(2)),
        },
    );
    assert!(w.tip() + 1 >= success.earliest_block(at));
    let min = htlc_fee_input_min_sat(success, &change_script, TARGET, None).unwrap();
    let coin = wallet
        .reserve_fee_input(Amount::from_sat(min))
        .await
        .unwrap();
    // The CPFP child's change, confirmed now, is the smallest coin large enough.
    assert_eq!(coin.outpoint, OutPoint::new(child.compute_txid(), 0));
    expected -= coin.txout.value.to_sat();
    let first = htlc_tx_with_fee_input(success, &coin.spent_output(), &change_script, TARGET, None)
        .unwrap();
    let mut first_tx = first.tx.clone();
    wallet.sign_fee_input(&mut first_tx, 1, &coin).unwrap();
    wallet
        .broadcast_with_fee_input(&first_tx, &coin, Amount::from_sat(first.fee_sat))
        .await
        .unwrap();
    let (fee, vsize) = w.mempool_fee(&first_tx.compute_txid());
    assert_eq!(fee, first.fee_sat);
    at_target(fee, vsize);

    // (iii) Bumped to 40 sat/vB on the same coin: it replaces the first version. A new
    // version that does not pay for the replacement is refused.
    let replaces = Replaces::of(&first_tx, first.fee_sat);
    let other_change = wallet.new_internal_script().await.unwrap();
    let again = wallet
        .reserve_fee_input_for_replacement(coin.outpoint)
        .await
        .unwrap();
    let unpaid =
        htlc_tx_with_fee_input(success, &again.spent_output(), &other_change, TARGET, None)
            .unwrap();
    let mut unpaid_tx = unpaid.tx.clone();
    wallet.sign_fee_input(&mut unpaid_tx, 1, &again).unwrap();
    w.refuse(&unpaid_tx, "insufficient fee");
    let bumped = htlc_tx_with_fee_input(
        success,
        &again.spent_output(),
        &change_script,
        FeeRate(2 * TARGET.0),
        Some(&replaces),
    )
    .unwrap();
    assert!(bumped.fee_sat >= replaces.min_fee_sat(bumped.weight));
    let mut bumped_tx = bumped.tx.clone();
    wallet.sign_fee_input(&mut bumped_tx, 1, &again).unwrap();
    wallet
        .broadcast_with_fee_input(&bumped_tx, &again, Amount::from_sat(bumped.fee_sat))
        .await
        .unwrap();
    let mempool = w.node.mempool_txids();
    assert!(!mempool.contains(&first_tx.compute_txid()), "replaced");
    assert!(mempool.contains(&bumped_tx.compute_txid()));
    let (fee, vsize) = w.mempool_fee(&bumped_tx.compute_txid());
    assert!(fee >= 2 * TARGET_SAT_PER_VB * vsize);
    // (iv) The wallet forgot the replaced version and its change.
    expected += bumped_tx.output[1].value.to_sat();
    assert_eq!(spendable(&wallet).await, expected, "the bumped change only");
    assert!(wallet
        .transactions()
        .await
        .unwrap()
        .iter()
        .all(|t| t.txid != first_tx.compute_txid()));
    let (_, success_at) = (w.mine(1), w.tip());
    assert!(!w.is_unspent(&success.outpoint));
    let second = success
        .second_stage(&bumped_tx)
        .expect("its output is ours");
    assert_eq!(second.value_sat, success.value_sat);

    // (i) HTLC-timeout for #1 with a wallet coin: refused one block before the expiry.
    let timeout = find(
        &cs,
        ClaimKind::HtlcTimeout {
            payment_hash: hash_of(&preimage(1)),
        },
    );
    let min = htlc_fee_input_min_sat(timeout, &change_script, TARGET, None).unwrap();
    let coin = wallet
        .reserve_fee_input(Amount::from_sat(min))
        .await
        .unwrap();
    expected -= coin.txout.value.to_sat();
    let built = htlc_tx_with_fee_input(timeout, &coin.spent_output(), &change_script, TARGET, None)
        .unwrap();
    let mut tx = built.tx.clone();
    wallet.sign_fee_input(&mut tx, 1, &coin).unwrap();
    w.refused_until(&tx, e1, NON_FINAL);
    wallet
        .broadcast_with_fee_input(&tx, &coin, Amount::from_sat(built.fee_sat))
        .await
        .unwrap();
    let (fee, vsize) = w.mempool_fee(&tx.compute_txid());
    assert_eq!(fee, built.fee_sat);
    at_target(fee, vsize);
    w.mine(1);
    assert!(!w.is_unspent(&timeout.outpoint));
    wallet.sync().await.unwrap();
    // Every coin used is gone, every change confirmed, nothing else moved.
    expected += tx.output[1].value.to_sat();
    assert_eq!(spendable(&wallet).await, expected);
    let b = wallet.balance().await.unwrap();
    assert_eq!((b.confirmed, b.unconfirmed), (expected, 0));
    assert!(success_at < w.tip());
}

/// A claim priced from a rate pays it as the mempool measures it, and rebuilt at a higher rate
/// (`replacement_rate`) it replaces its first version; at the same rate it is refused.
#[test]
fn a_claim_at_a_rate_is_replaced_by_its_bump() {
    for format in FORMATS {
        let mut w = World::open(format);
        htlcs_both_ways(&mut w);
        let theirs = w.b.commitment();
        let (state, keys) = (w.a.state().clone(), w.a.keys());
        let spend = classify(&state, &keys, &theirs);
        let cs = claims(&state, &keys, &spend, &theirs, &HashMap::new()).expect("claims");
        let to_remote = find(&cs, ClaimKind::ToRemote);
        w.confirm(&theirs);
        let script = w.a.dest().script_pubkey;
        let first = to_remote.spend_at_rate(&script, TARGET).unwrap();
        w.accept(&first);
        let (fee, vsize) = w.mempool_fee(&first.compute_txid());
        assert_eq!(fee + first.output[0].value.to_sat(), to_remote.value_sat);
        at_target(fee, vsize);

        // Another destination at the same rate: not enough to replace.
        let elsewhere = Key::new(0x97).p2wpkh();
        w.refuse(
            &to_remote.spend_at_rate(&elsewhere, TARGET).unwrap(),
            "insufficient fee",
        );
        let replaces = Replaces::of(&first, fee);
        let weight = to_remote.spend_weight(&elsewhere);
        let rate = replacement_rate(&replaces, weight, TARGET);
        assert!(rate > TARGET);
        let bumped = to_remote.spend_at_rate(&elsewhere, rate).unwrap();
        w.accept(&bumped);
        let mempool = w.node.mempool_txids();
        assert!(
            !mempool.contains(&first.compute_txid()),
            "{format:?}: replaced"
        );
        let (bumped_fee, _) = w.mempool_fee(&bumped.compute_txid());
        assert!(bumped_fee >= replaces.min_fee_sat(weight));
        w.mine(1);
        assert!(!w.is_unspent(&to_remote.outpoint));
    }
}
