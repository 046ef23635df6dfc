//! The HTLC queries the hub's router uses after a restart: `received_htlcs_to_settle` and
//! `offered_htlc`.

use crate::channel::testing::harness::*;
use crate::channel::{Command, Format, OfferedHtlc};

fn add(p: &mut Pair, from_a: bool, n: u64) {
    let node = if from_a { &mut p.a } else { &mut p.b };
    node.command(Command::AddHtlc {
        amount_msat: 5_000_000,
        payment_hash: hash_of(&preimage(n)),
        cltv_expiry: 500,
        onion: onion(),
        extra_fee_msat: None,
    })
    .unwrap();
}

fn received_ids(n: &Node) -> Vec<u64> {
    n.channel
        .received_htlcs_to_settle()
        .iter()
        .map(|h| h.id)
        .collect()
}

#[test]
fn received_htlcs_are_listed_once_irrevocably_committed_until_we_settle_them() {
    let mut p = Pair::open(Format::Anchors, 0);
    assert!(received_ids(&p.b).is_empty());
    add(&mut p, true, 1);
    p.deliver_one(true).unwrap().unwrap(); // update_add_htlc
    assert!(received_ids(&p.b).is_empty(), "proposed only");
    p.deliver_one(true).unwrap().unwrap(); // commitment_signed: in b's commitment only
    let b_commitments = p.b.channel.state().commitments.clone().unwrap();
    assert_eq!(b_commitments.local.spec.htlcs.len(), 1);
    assert!(received_ids(&p.b).is_empty(), "not yet in a's commitment");
    p.deliver_all();
    assert_eq!(received_ids(&p.b), vec![0]);
    let htlc = &p.b.channel.received_htlcs_to_settle()[0];
    assert_eq!(htlc.payment_hash, hash_of(&preimage(1)));
    assert_eq!(
        htlc.onion.len(),
        crate::wire::types::ONION_PACKET_LEN,
        "the onion comes back from where the state keeps it"
    );
    let c = p.b.channel.state().commitments.as_ref().unwrap();
    assert!(
        c.local.spec.htlcs.iter().all(|h| h.add.onion.is_empty()),
        "specs hold no onions"
    );
    assert!(received_ids(&p.a).is_empty(), "ours are not listed");

    add(&mut p, true, 2);
    p.deliver_all();
    assert_eq!(received_ids(&p.b), vec![0, 1]);
    p.b.command(Command::Fulfill {
        id: 0,
        preimage: preimage(1),
    })
    .unwrap();
    assert_eq!(received_ids(&p.b), vec![1], "fulfill started");
    p.b.command(Command::Fail {
        id: 1,
        reason: vec![1; 32],
    })
    .unwrap();
    assert!(received_ids(&p.b).is_empty());
    p.deliver_all();
    assert!(received_ids(&p.b).is_empty());
    let c = p.b.channel.state().commitments.as_ref().unwrap();
    assert!(
        c.received_onions.is_empty(),
        "settled HTLCs' onions are forgotten"
    );
    p.assert_agree();
}

#[test]
fn a_settle_kept_for_reproposal_is_not_listed_again() {
    let mut p = Pair::open(Format::Anchors, 0);
    add(&mut p, true, 1);
    p.deliver_all();
    p.b.command(Command::Fulfill {
        id: 0,
        preimage: preimage(1),
    })
    .unwrap();
    p.disconnect(); // the unsigned fulfill moves to to_repropose
    assert!(received_ids(&p.b).is_empty());
    p.b.crash_and_restore();
    assert!(received_ids(&p.b).is_empty());
}

#[test]
fn offered_htlc_goes_pending_fulfilled_gone() {
    let mut p = Pair::open(Format::Anchors, 0);
    assert_eq!(p.a.channel.offered_htlc(0), None);
    add(&mut p, true, 1);
    assert_eq!(p.a.channel.offered_htlc(0), Some(OfferedHtlc::Pending));
    p.deliver_all();
    assert_eq!(p.a.channel.offered_htlc(0), Some(OfferedHtlc::Pending));
    assert_eq!(p.b.channel.offered_htlc(0), None, "b did not offer it");
    p.b.command(Command::Fulfill {
        id: 0,
        preimage: preimage(1),
    })
    .unwrap();
    assert_eq!(p.a.channel.offered_htlc(0), Some(OfferedHtlc::Pending));
    p.deliver_one(false).unwrap().unwrap(); // update_fulfill_htlc
    let fulfilled = Some(OfferedHtlc::Fulfilled {
        preimage: preimage(1),
    });
    assert_eq!(p.a.channel.offered_htlc(0), fulfilled);
    // Still fulfilled at every step until the fulfill has left both commitments.
    while p.deliver_one(false).is_some() || p.deliver_one(true).is_some() {
        let now = p.a.channel.offered_htlc(0);
        assert!(now == fulfilled || now.is_none(), "{now:?}");
    }
    p.deliver_all();
    assert_eq!(p.a.channel.offered_htlc(0), None, "fully removed");
}

#[test]
fn offered_htlc_failed_by_the_peer_is_gone_once_removed() {
    let mut p = Pair::open(Format::Anchors, 0);
    add(&mut p, true, 1);
    p.deliver_all();
    p.b.command(Command::Fail {
        id: 0,
        reason: vec![1; 32],
    })
    .unwrap();
    p.deliver_one(false).unwrap().unwrap();
    assert_eq!(p.a.channel.offered_htlc(0), Some(OfferedHtlc::Pending));
    p.deliver_all();
    assert_eq!(p.a.channel.offered_htlc(0), None);
}

#[test]
fn an_unsigned_offer_dropped_by_a_disconnection_is_gone() {
    let mut p = Pair::open(Format::Anchors, 0);
    add(&mut p, true, 1); // signed at once
    add(&mut p, true, 2); // waits for the peer's revocation: unsigned
    assert_eq!(p.a.channel.offered_htlc(1), Some(OfferedHtlc::Pending));
    p.disconnect();
    assert_eq!(p.a.channel.offered_htlc(0), Some(OfferedHtlc::Pending));
    assert_eq!(p.a.channel.offered_htlc(1), None);
    p.reconnect();
    p.deliver_all();
    assert_eq!(p.a.channel.offered_htlc(0), Some(OfferedHtlc::Pending));
    assert_eq!(p.a.channel.offered_htlc(1), None);
}

#[test]
fn nothing_before_funding() {
    let p = Pair::fund(Format::Anchors, 0, Default::default(), &mut |s, a| {
        (fake_funding_tx(s, a), 1)
    });
    assert!(p.b.channel.received_htlcs_to_settle().is_empty());
    assert_eq!(p.a.channel.offered_htlc(0), None);
}

#[test]
fn an_htlc_needs_the_chain_past_its_expiry_or_near_it_once_fulfilled() {
    use crate::channel::queries::{OFFERED_GRACE_BLOCKS, RECEIVED_CLAIM_BUFFER};
    let mut p = Pair::open(Format::Anchors, 0);
    add(&mut p, true, 1); // cltv_expiry 500
    p.deliver_all();
    let late = 500 + OFFERED_GRACE_BLOCKS;
    assert_eq!(p.a.channel.htlc_needing_chain(late - 1), None, "grace");
    let why =
        p.a.channel
            .htlc_needing_chain(late)
            .expect("a must time it out on chain");
    assert!(why.contains("expired at block 500"), "{why}");
    assert_eq!(
        p.b.channel.htlc_needing_chain(499),
        None,
        "b has no preimage to claim with: nothing to defend"
    );
    p.b.command(Command::Fulfill {
        id: 0,
        preimage: preimage(1),
    })
    .unwrap();
    let near = 500 - RECEIVED_CLAIM_BUFFER;
    assert_eq!(p.b.channel.htlc_needing_chain(near - 1), None);
    assert!(
        p.b.channel.htlc_needing_chain(near).is_some(),
        "b must claim on chain"
    );
    // Once a has the preimage, its own HTLC is no longer at risk.
    p.deliver_one(false).unwrap().unwrap(); // update_fulfill_htlc
    assert_eq!(p.a.channel.htlc_needing_chain(late + 10), None);
    p.deliver_all();
    assert_eq!(p.b.channel.htlc_needing_chain(near), None, "removed");
}
