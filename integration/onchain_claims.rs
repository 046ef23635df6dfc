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

use chanhub::bolt3::spend::Destination;
use chanhub::channel::Format;
use chanhub::onchain::{
    claims, claims_for_second_stage, classify, justice_tx, Claim, ClaimKind, Spend,
};
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
