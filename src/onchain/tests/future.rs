//! A commitment of the peer's newer than our state (we restored an old backup, or lost state):
//! recognised by our static `to_remote`, which we claim; nothing else on it is ours to take.

use std::collections::HashMap;

use crate::bolt3::scripts::to_remote_script_pubkey;
use crate::bolt3::testutil::verify_one;
use crate::channel::testing::harness::*;
use crate::channel::Format;

use super::{commitment, dest, offer, with_htlcs, FORMATS};
use crate::onchain::{claims, classify, ClaimKind, Spend};

#[test]
fn a_newer_commitment_of_theirs_pays_our_latest_to_remote() {
    for format in FORMATS {
        let mut p = with_htlcs(format);
        // a's backup, then the channel moves on: a pays b, an HTLC is added.
        let old = p.a.channel.state().clone();
        p.pay(true, 7_000_000, 8);
        offer(&mut p, false, 12_000_000, 4);
        let latest = commitment(&p.b);
        let number =
            p.b.channel
                .state()
                .commitments
                .as_ref()
                .unwrap()
                .local
                .number;
        let known = old.commitments.as_ref().unwrap().remote.number;
        assert!(number > known);
        let keys = keys(1);
        let spend = classify(&old, &keys, &latest);
        assert_eq!(spend, Spend::RemoteFuture { number }, "{format:?}");
        let cs = claims(&old, &keys, &spend, &latest, &HashMap::new()).unwrap();
        assert_eq!(cs.len(), 1, "only to_remote: {cs:?}");
        let c = &cs[0];
        assert_eq!(c.kind, ClaimKind::ToRemote);
        // The balance of the latest state (what a's up-to-date state would claim), below the
        // backup's: a paid since.
        let now = p.a.channel.state();
        let current = classify(now, &keys, &latest);
        assert_eq!(current, Spend::RemoteCurrent { number });
        let up_to_date = claims(now, &keys, &current, &latest, &HashMap::new()).unwrap();
        let to_remote = up_to_date
            .iter()
            .find(|c| c.kind == ClaimKind::ToRemote)
            .unwrap();
        assert_eq!(
            (c.outpoint, c.value_sat),
            (to_remote.outpoint, to_remote.value_sat)
        );
        let ours_then = old.commitments.as_ref().unwrap().local.spec.local_msat / 1000;
        assert!(
            c.value_sat + 7_000 <= ours_then,
            "{} vs {ours_then}",
            c.value_sat
        );
        assert_eq!(c.csv, u16::from(format == Format::Anchors));
        let sweep = c.spend(&dest()).unwrap();
        verify_one(&sweep, &latest.output[c.outpoint.vout as usize]).unwrap();
        // With anchors the claim waits one block (`1 OP_CSV`).
        if format == Format::Anchors {
            assert_eq!(sweep.input[0].sequence.0, 1);
        }
    }
}

#[test]
fn a_future_number_without_our_output_is_unknown() {
    for format in FORMATS {
        let mut p = with_htlcs(format);
        let old = p.a.channel.state().clone();
        p.pay(true, 7_000_000, 8);
        // Our own newer commitment (never broadcast by us) does not pay our static key.
        let ours = commitment(&p.a);
        assert_eq!(classify(&old, &keys(1), &ours), Spend::Unknown);
        // Nor does one of theirs without our output (our balance was nothing or dust).
        let mut without = commitment(&p.b);
        let ours_script = to_remote_script_pubkey(format.into(), &old.setup.local_keys.payment);
        let before = without.output.len();
        without.output.retain(|o| o.script_pubkey != ours_script);
        assert_eq!(without.output.len(), before - 1);
        assert_eq!(classify(&old, &keys(1), &without), Spend::Unknown);
    }
}

#[test]
fn with_the_peers_point_the_known_htlcs_are_claimed_too() {
    for format in FORMATS {
        let mut p = with_htlcs(format);
        let mut old = p.a.channel.state().clone();
        offer(&mut p, false, 12_000_000, 4);
        let latest = commitment(&p.b);
        let number =
            p.b.channel
                .state()
                .commitments
                .as_ref()
                .unwrap()
                .local
                .number;
        // What the peer's channel_reestablish gave when it proved a behind.
        old.peer_current_point = Some(keys(2).point(number).unwrap());
        let keys = keys(1);
        let spend = classify(&old, &keys, &latest);
        assert_eq!(spend, Spend::RemoteFuture { number });
        let pre = HashMap::from([(hash_of(&preimage(2)), preimage(2))]);
        let cs = claims(&old, &keys, &spend, &latest, &pre).unwrap();
        let got: Vec<ClaimKind> = cs.iter().map(|c| c.kind).collect();
        // HTLC 4 came after the backup: unknown to it, not claimed.
        assert_eq!(cs.len(), 3, "{got:?}");
        assert!(got.contains(&ClaimKind::ToRemote));
        assert!(got.contains(&ClaimKind::RemoteHtlcTimeout {
            payment_hash: hash_of(&preimage(1)),
        }));
        assert!(got.contains(&ClaimKind::RemoteHtlcPreimage {
            payment_hash: hash_of(&preimage(2)),
        }));
        for c in &cs {
            let tx = c.spend(&dest()).unwrap();
            verify_one(&tx, &latest.output[c.outpoint.vout as usize]).unwrap();
        }
        // A wrong point finds no HTLC output: only to_remote.
        old.peer_current_point = Some(keys.pubkeys.funding);
        let cs = claims(&old, &keys, &spend, &latest, &pre).unwrap();
        assert_eq!(cs.len(), 1);
    }
}
