//! Classification and claims on realistic states: two channel machines driven by the harness.
//! That the claims' transactions are valid is proven on the embedded chain in
//! `integration/onchain_claims.rs`.

use std::collections::HashMap;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};

use crate::bolt3::spend::Destination;
use crate::channel::testing::harness::*;
use crate::channel::{Command, Format};

use super::*;

mod fees;
mod future;
mod preimages;

const FORMATS: [Format; 2] = [Format::Anchors, Format::StaticRemoteKey];

fn offer(p: &mut Pair, from_a: bool, amount_msat: u64, n: u64) {
    let from = if from_a { &mut p.a } else { &mut p.b };
    from.command(Command::AddHtlc {
        amount_msat,
        payment_hash: hash_of(&preimage(n)),
        cltv_expiry: 600 + n as u32,
        onion: onion(),
        extra_fee_msat: None,
    })
    .unwrap();
    p.deliver_all();
}

/// A channel with HTLCs both ways: a offers #1 (20k sat), b offers #2 (30k sat).
fn with_htlcs(format: Format) -> Pair {
    let mut p = Pair::open(format, 400_000_000);
    offer(&mut p, true, 20_000_000, 1);
    offer(&mut p, false, 30_000_000, 2);
    p
}

fn commitment(n: &Node) -> Transaction {
    n.channel.signed_local_commitment().unwrap().unwrap()
}

fn spending(outpoint: OutPoint, sequence: u32) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence(sequence),
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(900_000),
            script_pubkey: shutdown_script(1),
        }],
    }
}

fn dest() -> Destination {
    Destination {
        script_pubkey: shutdown_script(7),
        fee_sat: 500,
    }
}

fn kinds(claims: &[Claim]) -> Vec<ClaimKind> {
    claims.iter().map(|c| c.kind).collect()
}

#[test]
fn our_commitment_is_local() {
    for format in FORMATS {
        let p = with_htlcs(format);
        let tx = commitment(&p.a);
        let number =
            p.a.channel
                .state()
                .commitments
                .as_ref()
                .unwrap()
                .local
                .number;
        assert_eq!(
            classify(p.a.channel.state(), &keys(1), &tx),
            Spend::Local { number }
        );
        // The same transaction is the peer's current remote commitment.
        assert_eq!(
            classify(p.b.channel.state(), &keys(2), &tx),
            Spend::RemoteCurrent { number }
        );
    }
}

#[test]
fn local_claims_need_preimages_for_received_htlcs() {
    for format in FORMATS {
        let p = with_htlcs(format);
        let (state, keys) = (p.a.channel.state(), keys(1));
        let tx = commitment(&p.a);
        let spend = classify(state, &keys, &tx);
        let none = claims(state, &keys, &spend, &tx, &HashMap::new()).unwrap();
        let timeout = ClaimKind::HtlcTimeout {
            payment_hash: hash_of(&preimage(1)),
        };
        assert_eq!(kinds(&none), vec![ClaimKind::LocalDelayed, timeout]);
        let delay = state.setup.remote.unwrap().to_self_delay;
        assert_eq!((none[0].csv, none[0].cltv), (delay, 0));
        let anchors = u16::from(format == Format::Anchors);
        assert_eq!((none[1].csv, none[1].cltv), (anchors, 601));
        assert_eq!(none[1].earliest_block(500), 602);
        assert_eq!(none[0].earliest_block(500), 500 + u32::from(delay));
        let pre = HashMap::from([(hash_of(&preimage(2)), preimage(2))]);
        let with = claims(state, &keys, &spend, &tx, &pre).unwrap();
        assert_eq!(with.len(), 3);
        assert!(with.contains_claim(ClaimKind::HtlcSuccess {
            payment_hash: hash_of(&preimage(2))
        }));
        // Every claim spends an output of the commitment, for its whole value.
        for c in &with {
            assert_eq!(c.outpoint.txid, tx.compute_txid());
            assert_eq!(
                tx.output[c.outpoint.vout as usize].value.to_sat(),
                c.value_sat
            );
            let spent = c.spend(&dest()).unwrap();
            assert_eq!(spent.input[0].previous_output, c.outpoint);
            if c.csv > 0 {
                assert_eq!(spent.input[0].sequence.0, u32::from(c.csv));
            }
            assert_eq!(spent.lock_time.to_consensus_u32(), c.cltv);
        }
        // Our second-stage transactions lead to their delayed output.
        let htlc_tx = with[1].spend(&dest()).unwrap();
        let second = with[1].second_stage(&htlc_tx).unwrap();
        assert_eq!(second.kind, ClaimKind::SecondStage);
        assert_eq!(second.csv, delay);
        assert!(with[0].second_stage(&htlc_tx).is_none());
    }
}

trait HasKind {
    fn contains_claim(&self, kind: ClaimKind) -> bool;
}
impl HasKind for Vec<Claim> {
    fn contains_claim(&self, kind: ClaimKind) -> bool {
        self.iter().any(|c| c.kind == kind)
    }
}

#[test]
fn their_current_commitment_gives_to_remote_and_htlcs() {
    for format in FORMATS {
        let p = with_htlcs(format);
        let (state, keys) = (p.a.channel.state(), keys(1));
        let tx = commitment(&p.b);
        let spend = classify(state, &keys, &tx);
        assert!(matches!(spend, Spend::RemoteCurrent { .. }), "{spend:?}");
        let pre = HashMap::from([(hash_of(&preimage(2)), preimage(2))]);
        let cs = claims(state, &keys, &spend, &tx, &pre).unwrap();
        let anchors = u16::from(format == Format::Anchors);
        let find = |k: ClaimKind| cs.iter().find(|c| c.kind == k).unwrap();
        assert_eq!(find(ClaimKind::ToRemote).csv, anchors);
        let timeout = find(ClaimKind::RemoteHtlcTimeout {
            payment_hash: hash_of(&preimage(1)),
        });
        assert_eq!((timeout.csv, timeout.cltv), (anchors, 601));
        let success = find(ClaimKind::RemoteHtlcPreimage {
            payment_hash: hash_of(&preimage(2)),
        });
        assert_eq!(success.cltv, 0);
        assert_eq!(cs.len(), 3);
        for c in &cs {
            c.spend(&dest()).unwrap();
        }
    }
}

#[test]
fn an_older_commitment_of_theirs_is_revoked() {
    for format in FORMATS {
        let mut p = with_htlcs(format);
        let old = commitment(&p.b);
        let old_number =
            p.b.channel
                .state()
                .commitments
                .as_ref()
                .unwrap()
                .local
                .number;
        // Further updates: a third HTLC, then a payment settled both ways.
        offer(&mut p, true, 15_000_000, 3);
        p.pay(false, 5_000_000, 9);
        let (state, keys) = (p.a.channel.state(), keys(1));
        let spend = classify(state, &keys, &old);
        let Spend::RemoteRevoked {
            number,
            per_commitment_secret,
        } = spend
        else {
            panic!("{spend:?}")
        };
        assert_eq!(number, old_number);
        assert_eq!(
            per_commitment_secret,
            crate::channel::testing::harness::keys(2)
                .secret(old_number)
                .unwrap()
        );
        let cs = claims(state, &keys, &spend, &old, &HashMap::new()).unwrap();
        let revoked_htlcs = cs
            .iter()
            .filter(|c| matches!(c.kind, ClaimKind::RevokedHtlc { .. }))
            .count();
        assert_eq!(revoked_htlcs, 2, "{cs:?}");
        assert!(cs.contains_claim(ClaimKind::RevokedToLocal));
        assert!(cs.contains_claim(ClaimKind::ToRemote));
        // Every output but the anchors is ours.
        let anchors = if format == Format::Anchors { 2 } else { 0 };
        assert_eq!(cs.len() + anchors, old.output.len());
        let justice: Vec<Claim> = cs.iter().filter(|c| c.kind.is_justice()).cloned().collect();
        let tx = justice_tx(&justice, &dest()).unwrap();
        assert_eq!(tx.input.len(), 3);
        let total: u64 = justice.iter().map(|c| c.value_sat).sum();
        assert_eq!(tx.output[0].value.to_sat(), total - dest().fee_sat);
        assert!(matches!(
            justice_tx(&cs, &dest()),
            Err(OnchainError::NotJustice {
                kind: ClaimKind::ToRemote
            })
        ));
        assert_eq!(justice_tx(&[], &dest()), Err(OnchainError::NoClaims));
        // The current one is not revoked.
        let current = commitment(&p.b);
        let current_number =
            p.b.channel
                .state()
                .commitments
                .as_ref()
                .unwrap()
                .local
                .number;
        assert!(matches!(
            classify(state, &keys, &current),
            Spend::RemoteCurrent { .. }
        ));
        assert!(matches!(
            claims_for_second_stage(state, &keys, current_number, &current),
            Err(OnchainError::NotRevoked { .. })
        ));
    }
}

#[test]
fn mutual_and_unknown() {
    let p = with_htlcs(Format::Anchors);
    let (state, keys) = (p.a.channel.state(), keys(1));
    let funding = state.setup.funding_outpoint.unwrap();
    assert_eq!(
        classify(state, &keys, &spending(funding, 0xffff_ffff)),
        Spend::Mutual
    );
    let elsewhere = OutPoint::new(Txid::from_byte_array([3; 32]), 0);
    assert_eq!(
        classify(state, &keys, &spending(elsewhere, 0xffff_ffff)),
        Spend::Unknown
    );
    // Shaped as a commitment, numbered as the current one, but not it.
    let mut forged = commitment(&p.b);
    forged.output.pop();
    assert_eq!(classify(state, &keys, &forged), Spend::Unknown);
    assert!(
        claims(state, &keys, &Spend::Unknown, &forged, &HashMap::new())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_commitment_awaiting_its_revocation_is_current() {
    let mut p = Pair::open(Format::Anchors, 400_000_000);
    p.a.command(Command::AddHtlc {
        amount_msat: 20_000_000,
        payment_hash: hash_of(&preimage(1)),
        cltv_expiry: 601,
        onion: onion(),
        extra_fee_msat: None,
    })
    .unwrap();
    // update_add_htlc and commitment_signed reach b; b's revoke_and_ack does not reach a.
    while let Some(r) = p.deliver_one(true) {
        r.unwrap();
    }
    let c = p.a.channel.state().commitments.as_ref().unwrap();
    let waiting = c
        .remote_waiting
        .as_ref()
        .expect("a signed b's next commitment")
        .number;
    let tx = commitment(&p.b);
    let (state, keys) = (p.a.channel.state(), keys(1));
    let spend = classify(state, &keys, &tx);
    assert_eq!(spend, Spend::RemoteCurrent { number: waiting });
    let cs = claims(state, &keys, &spend, &tx, &HashMap::new()).unwrap();
    assert!(cs.contains_claim(ClaimKind::RemoteHtlcTimeout {
        payment_hash: hash_of(&preimage(1))
    }));
}

#[test]
fn htlcs_settled_since_need_an_archive() {
    let mut p = with_htlcs(Format::StaticRemoteKey);
    let old = commitment(&p.b);
    let archive = known_htlcs(p.a.channel.state());
    assert_eq!(archive.len(), 2);
    // #1 (a to b) is fulfilled and #2 (b to a) failed: neither is in any commitment now.
    let id = p.b.received_htlcs()[0].0;
    p.b.command(Command::Fulfill {
        id,
        preimage: preimage(1),
    })
    .unwrap();
    p.deliver_all();
    let id = p.a.received_htlcs()[0].0;
    p.a.command(Command::Fail {
        id,
        reason: vec![0; 32],
    })
    .unwrap();
    p.deliver_all();
    let (state, keys) = (p.a.channel.state(), keys(1));
    assert!(known_htlcs(state).is_empty());
    // Still recognised by its balance outputs, but its HTLC outputs are unknown to the state.
    let spend = classify(state, &keys, &old);
    let Spend::RemoteRevoked {
        number,
        per_commitment_secret,
    } = spend
    else {
        panic!("{spend:?}")
    };
    let cs = claims(state, &keys, &spend, &old, &HashMap::new()).unwrap();
    assert_eq!(kinds(&cs).len(), 2, "to_local and to_remote only: {cs:?}");
    let all = revoked_claims(state, &keys, &old, number, &per_commitment_secret, &archive).unwrap();
    assert_eq!(all.len(), 4, "with the archive, both HTLC outputs too");
    assert_eq!(
        revoked_claims(state, &keys, &old, number, &[7; 32], &archive).unwrap_err(),
        OnchainError::NotRevoked { number }
    );
}

#[test]
fn the_dev_cheat_commitment_is_recognised_as_revoked() {
    for format in FORMATS {
        let mut p = crate::channel::testing::harness::Pair::open(format, 0);
        p.pay(true, 400_000_000, 1);
        let cheat =
            p.a.channel
                .signed_revoked_commitment()
                .unwrap()
                .expect("kept on regtest");
        let spend = classify(p.b.channel.state(), &keys(2), &cheat);
        assert!(
            matches!(spend, Spend::RemoteRevoked { .. }),
            "{format:?}: {spend:?}"
        );
        let cs = claims(
            p.b.channel.state(),
            &keys(2),
            &spend,
            &cheat,
            &HashMap::new(),
        )
        .unwrap();
        assert!(cs.contains_claim(ClaimKind::RevokedToLocal), "{cs:?}");
    }
}
