use super::*;
use crate::gossip::graph::STALE_AFTER_SECS;
use crate::gossip::testkit::{key, node_announcement, pk, TestChannel, CHAIN, NOW};
use crate::gossip::GraphQuery;
use crate::wire::WireMessage;

fn funding_txid() -> bitcoin::Txid {
    bitcoin::Txid::from_byte_array([0xf0; 32])
}

fn peer() -> PublicKey {
    pk(900)
}

fn unspent(ch: &TestChannel) -> FundingCheck {
    let out = ch.funding();
    FundingCheck::Unspent {
        txid: funding_txid(),
        script_pubkey: out.script_pubkey,
        amount_sat: out.value.to_sat(),
    }
}

/// Runs both steps of a channel announcement with the chain's `check`.
fn announce(
    v: &mut Validator,
    g: &mut NetworkGraph,
    ch: &TestChannel,
    check: FundingCheck,
) -> Verdict {
    let (a, bytes) = ch.announcement();
    match v.channel_announcement(g, &peer(), a, bytes) {
        Verdict::CheckFunding(l) => {
            assert_eq!(l.scid, ch.scid);
            assert_eq!(
                (l.block_height, l.tx_index, l.output_index),
                (ch.scid.block(), ch.scid.tx_index(), ch.scid.output_index())
            );
            let (from, verdict) = v.funding_checked(g, ch.scid, check, NOW).unwrap();
            assert_eq!(from, peer());
            verdict
        }
        other => other,
    }
}

fn setup() -> (Validator, NetworkGraph, TestChannel) {
    let mut v = Validator::new(CHAIN);
    let mut g = NetworkGraph::new();
    let ch = TestChannel::new(1, 2, 500);
    let out = announce(&mut v, &mut g, &ch, unspent(&ch));
    assert!(matches!(out, Verdict::Accepted(_)), "{out:?}");
    (v, g, ch)
}

fn update(
    v: &mut Validator,
    g: &mut NetworkGraph,
    ch: &TestChannel,
    dir: u8,
    ts: u32,
    now: u32,
) -> Verdict {
    let (m, bytes) = ch.update(dir, ts);
    v.channel_update(g, m, bytes, now)
}

#[test]
fn a_valid_announcement_is_accepted_with_the_output_amount_as_capacity() {
    let mut v = Validator::new(CHAIN);
    let mut g = NetworkGraph::new();
    let mut ch = TestChannel::new(1, 2, 500);
    ch.capacity_sat = 2_345_678;
    let Verdict::Accepted(changes) = announce(&mut v, &mut g, &ch, unspent(&ch)) else {
        panic!("refused")
    };
    assert_eq!(
        changes,
        vec![GraphChange::Channel {
            scid: ch.scid,
            capacity_sat: 2_345_678,
            funding_txid: funding_txid(),
            added_at: NOW,
            announcement: ch.announcement().1,
        }]
    );
    assert_eq!(g.channel(ch.scid).unwrap().capacity_sat, 2_345_678);
    assert_eq!(v.counters().channel_announcement.accepted, 1);
    assert_eq!(v.lookups_pending(), 0);
    // The same again is a harmless duplicate, without a lookup.
    let (a, bytes) = ch.announcement();
    let again = v.channel_announcement(&g, &peer(), a, bytes);
    assert_eq!(again, Verdict::Ignored(Harmless::Duplicate));
    assert!(!again.is_peer_fault());
}

#[test]
fn a_forged_announcement_signature_costs_the_peer() {
    let mut v = Validator::new(CHAIN);
    let g = NetworkGraph::new();
    let ch = TestChannel::new(1, 2, 500);
    for i in 0..4 {
        let (mut a, _) = ch.announcement();
        let other = key(77);
        let sig = crate::wire::gossip::sign_gossip(&other, &a.contents.signed_bytes());
        match i {
            0 => a.node_signature_1 = sig,
            1 => a.node_signature_2 = sig,
            2 => a.bitcoin_signature_1 = sig,
            _ => a.bitcoin_signature_2 = sig,
        }
        let bytes = a.encode().unwrap();
        let out = v.channel_announcement(&g, &peer(), a, bytes);
        assert_eq!(out, Verdict::Rejected(Fault::BadSignature));
        assert!(out.is_peer_fault());
    }
    assert_eq!(v.counters().channel_announcement.rejected, 4);
    assert_eq!(v.lookups_pending(), 0);
}

#[test]
fn wrong_chain_and_unordered_node_ids_are_refused() {
    let mut v = Validator::new(CHAIN);
    let g = NetworkGraph::new();
    let ch = TestChannel::new(1, 2, 500);
    let mut c = ch.unsigned();
    c.chain_hash = bitcoin::constants::ChainHash::BITCOIN;
    let a = ch.sign(c);
    let bytes = a.encode().unwrap();
    assert_eq!(
        v.channel_announcement(&g, &peer(), a, bytes),
        Verdict::Rejected(Fault::WrongChain)
    );
    let mut c = ch.unsigned();
    std::mem::swap(&mut c.node_id_1, &mut c.node_id_2);
    let a = ch.sign(c);
    let bytes = a.encode().unwrap();
    assert_eq!(
        v.channel_announcement(&g, &peer(), a, bytes),
        Verdict::Rejected(Fault::NodeIdsOutOfOrder)
    );
}

#[test]
fn unknown_spent_or_foreign_funding_is_refused() {
    let mut v = Validator::new(CHAIN);
    let mut g = NetworkGraph::new();
    let ch = TestChannel::new(1, 2, 500);
    assert_eq!(
        announce(&mut v, &mut g, &ch, FundingCheck::Missing),
        Verdict::Rejected(Fault::FundingMissing)
    );
    // Remembered: refused again without asking the chain.
    let (a, bytes) = ch.announcement();
    assert_eq!(
        v.channel_announcement(&g, &peer(), a, bytes),
        Verdict::Rejected(Fault::FundingMissing)
    );

    let spent = TestChannel::new(3, 4, 501);
    let out = announce(&mut v, &mut g, &spent, FundingCheck::Spent);
    assert_eq!(out, Verdict::Ignored(Harmless::FundingSpent));
    assert!(!out.is_peer_fault(), "a close may race the announcement");

    // The output pays another 2-of-2 (one funding key differs).
    let wrong = TestChannel::new(5, 6, 502);
    let mut other = wrong.clone();
    other.funding_keys[1] = key(4242);
    assert_eq!(
        announce(&mut v, &mut g, &wrong, unspent(&other)),
        Verdict::Rejected(Fault::FundingScriptMismatch)
    );
    // A P2WPKH output, not a P2WSH.
    let p2wpkh = TestChannel::new(7, 8, 503);
    let script = bitcoin::ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([3; 20]));
    assert_eq!(
        announce(
            &mut v,
            &mut g,
            &p2wpkh,
            FundingCheck::Unspent {
                txid: funding_txid(),
                script_pubkey: script,
                amount_sat: 1_000_000
            }
        ),
        Verdict::Rejected(Fault::FundingScriptMismatch)
    );
    let unavailable = TestChannel::new(9, 10, 504);
    assert_eq!(
        announce(&mut v, &mut g, &unavailable, FundingCheck::Unavailable),
        Verdict::Ignored(Harmless::ChainUnavailable)
    );
    assert_eq!(g.channel_count(), 0);
    assert_eq!(v.lookups_pending(), 0);
    assert!(v
        .funding_checked(&mut g, ch.scid, FundingCheck::Missing, NOW)
        .is_none());
}

use bitcoin::hashes::Hash;

#[test]
fn a_forged_announcement_cannot_bar_the_real_channel() {
    let mut v = Validator::new(CHAIN);
    let mut g = NetworkGraph::new();
    let real = TestChannel::new(1, 2, 500);
    // A forger signs an announcement of the same scid with keys of its own.
    let mut forged = TestChannel::new(30, 31, 500);
    forged.scid = real.scid;
    assert_eq!(
        announce(&mut v, &mut g, &forged, unspent(&real)),
        Verdict::Rejected(Fault::FundingScriptMismatch)
    );
    let (a, b) = forged.announcement();
    assert_eq!(
        v.channel_announcement(&g, &peer(), a, b),
        Verdict::Rejected(Fault::FundingScriptMismatch),
        "the same forgery again is refused from memory"
    );
    assert!(matches!(
        announce(&mut v, &mut g, &real, unspent(&real)),
        Verdict::Accepted(_)
    ));
}

#[test]
fn funding_lookups_are_bounded_per_peer_and_in_total() {
    let mut v = Validator::new(CHAIN);
    let g = NetworkGraph::new();
    let mut n = 0u32;
    let mut next = || {
        n += 1;
        TestChannel::new(2 * n, 2 * n + 1, 600 + n)
    };
    for _ in 0..MAX_LOOKUPS_PER_PEER {
        let (a, b) = next().announcement();
        assert!(matches!(
            v.channel_announcement(&g, &peer(), a, b),
            Verdict::CheckFunding(_)
        ));
    }
    let (a, b) = next().announcement();
    assert_eq!(
        v.channel_announcement(&g, &peer(), a, b),
        Verdict::Ignored(Harmless::TooManyLookups)
    );
    assert!(!v.can_look_up(&peer()));
    // Other peers fill the total.
    let mut p = 0;
    while v.lookups_pending() < MAX_LOOKUPS_TOTAL {
        let other = pk(2000 + p / MAX_LOOKUPS_PER_PEER as u32);
        p += 1;
        let (a, b) = next().announcement();
        assert!(matches!(
            v.channel_announcement(&g, &other, a, b),
            Verdict::CheckFunding(_)
        ));
    }
    let (a, b) = next().announcement();
    assert_eq!(
        v.channel_announcement(&g, &pk(3000), a, b),
        Verdict::Ignored(Harmless::TooManyLookups)
    );
}

#[test]
fn updates_need_the_right_signer_and_newer_timestamps() {
    let (mut v, mut g, ch) = setup();
    // Signed by the other end: forged.
    let (m, bytes) = ch.signed_update(0, ch.unsigned_update(0, NOW));
    let mut m2 = m.clone();
    m2.channel_flags |= 1;
    let forged = ChannelUpdate::signed(&ch.node_keys[0], m2.unsigned());
    let fb = forged.encode().unwrap();
    assert_eq!(
        v.channel_update(&mut g, forged, fb, NOW),
        Verdict::Rejected(Fault::BadSignature)
    );
    assert!(matches!(
        v.channel_update(&mut g, m, bytes, NOW),
        Verdict::Accepted(_)
    ));
    assert_eq!(
        update(&mut v, &mut g, &ch, 0, NOW, NOW),
        Verdict::Ignored(Harmless::Duplicate)
    );
    assert_eq!(
        update(&mut v, &mut g, &ch, 0, NOW - 1, NOW),
        Verdict::Ignored(Harmless::Stale)
    );
    assert!(matches!(
        update(&mut v, &mut g, &ch, 1, NOW - 1, NOW),
        Verdict::Accepted(_)
    ));
    assert!(matches!(
        update(&mut v, &mut g, &ch, 0, NOW + 5, NOW),
        Verdict::Accepted(_)
    ));
    assert_eq!(g.update_timestamps(ch.scid), Some((NOW + 5, NOW - 1)));
    assert_eq!(
        update(&mut v, &mut g, &ch, 1, NOW + MAX_FUTURE_SECS + 1, NOW),
        Verdict::Ignored(Harmless::FutureTimestamp)
    );
    let c = v.counters().channel_update;
    assert_eq!((c.accepted, c.rejected, c.ignored), (3, 1, 3));
}

#[test]
fn update_rules_wrong_chain_dont_forward_unknown_and_htlc_maximum() {
    let (mut v, mut g, ch) = setup();
    let mut u = ch.unsigned_update(0, NOW);
    u.chain_hash = bitcoin::constants::ChainHash::TESTNET3;
    let (m, b) = ch.signed_update(0, u);
    assert_eq!(
        v.channel_update(&mut g, m, b, NOW),
        Verdict::Rejected(Fault::WrongChain)
    );
    let mut u = ch.unsigned_update(0, NOW);
    u.message_flags |= crate::wire::channel_update::MESSAGE_FLAG_DONT_FORWARD;
    let (m, b) = ch.signed_update(0, u);
    assert_eq!(
        v.channel_update(&mut g, m, b, NOW),
        Verdict::Ignored(Harmless::DontForward)
    );
    assert!(g.channel(ch.scid).unwrap().directions[0].policy.is_none());
    let stranger = TestChannel::new(7, 8, 900);
    assert_eq!(
        update(&mut v, &mut g, &stranger, 0, NOW, NOW),
        Verdict::Ignored(Harmless::UnknownChannel)
    );
    let mut u = ch.unsigned_update(0, NOW);
    u.htlc_maximum_msat = ch.capacity_sat * 1000 + 1;
    let (m, b) = ch.signed_update(0, u);
    assert_eq!(
        v.channel_update(&mut g, m, b, NOW),
        Verdict::Rejected(Fault::HtlcMaximumAboveCapacity)
    );
}

#[test]
fn updates_that_arrive_during_the_funding_lookup_are_applied_after_it() {
    let mut v = Validator::new(CHAIN);
    let mut g = NetworkGraph::new();
    let ch = TestChannel::new(1, 2, 500);
    let (a, bytes) = ch.announcement();
    assert!(matches!(
        v.channel_announcement(&g, &peer(), a, bytes),
        Verdict::CheckFunding(_)
    ));
    assert_eq!(
        update(&mut v, &mut g, &ch, 1, NOW, NOW),
        Verdict::Ignored(Harmless::Held)
    );
    assert_eq!(
        update(&mut v, &mut g, &ch, 1, NOW - 5, NOW),
        Verdict::Ignored(Harmless::Stale)
    );
    // A forged one is held too but fails its check once the channel is known.
    let (mut m, _) = ch.update(0, NOW);
    m.fee_base_msat = 1;
    let b = m.encode().unwrap();
    assert_eq!(
        v.channel_update(&mut g, m, b, NOW),
        Verdict::Ignored(Harmless::Held)
    );
    let (_, verdict) = v
        .funding_checked(&mut g, ch.scid, unspent(&ch), NOW)
        .unwrap();
    let Verdict::Accepted(changes) = verdict else {
        panic!()
    };
    assert_eq!(
        changes.len(),
        2,
        "the announcement and the held direction-1 update"
    );
    assert!(matches!(
        changes[1],
        GraphChange::Update {
            direction: 1,
            timestamp: NOW,
            ..
        }
    ));
    assert_eq!(g.update_timestamps(ch.scid), Some((0, NOW)));
}

#[test]
fn a_flood_of_updates_is_rate_limited_per_direction() {
    let (mut v, mut g, ch) = setup();
    let mut ts = NOW;
    let mut accepted = 0;
    for _ in 0..20 {
        ts += 1;
        if matches!(
            update(&mut v, &mut g, &ch, 0, ts, NOW),
            Verdict::Accepted(_)
        ) {
            accepted += 1;
        }
    }
    assert_eq!(accepted, usize::from(RATE_BURST));
    let last = g.update_timestamps(ch.scid).unwrap().0;
    assert_eq!(last, NOW + u32::from(RATE_BURST));
    let out = update(&mut v, &mut g, &ch, 0, ts + 1, NOW);
    assert_eq!(out, Verdict::Ignored(Harmless::RateLimited));
    assert!(!out.is_peer_fault());
    // The other direction has its own budget.
    assert!(matches!(
        update(&mut v, &mut g, &ch, 1, NOW, NOW),
        Verdict::Accepted(_)
    ));
    // One more token per refill period.
    let later = NOW + RATE_REFILL_SECS;
    assert!(matches!(
        update(&mut v, &mut g, &ch, 0, ts + 2, later),
        Verdict::Accepted(_)
    ));
    assert_eq!(
        update(&mut v, &mut g, &ch, 0, ts + 3, later),
        Verdict::Ignored(Harmless::RateLimited)
    );
    // The daily cap holds even when tokens keep coming.
    let mut now = later;
    let mut today = u32::from(RATE_BURST) + 1;
    let mut t = ts + 10;
    while now < NOW + 24 * 3600 - RATE_REFILL_SECS {
        now += RATE_REFILL_SECS;
        t += 1;
        if matches!(update(&mut v, &mut g, &ch, 0, t, now), Verdict::Accepted(_)) {
            today += 1;
        }
    }
    assert_eq!(today, u32::from(RATE_DAILY_CAP));
    // A new day, a new allowance.
    t += 1;
    assert!(matches!(
        update(&mut v, &mut g, &ch, 0, t, NOW + 24 * 3600 + 1),
        Verdict::Accepted(_)
    ));
}

#[test]
fn node_announcements_need_a_channel_a_signature_and_newer_timestamps() {
    let (mut v, mut g, ch) = setup();
    let (m, b) = node_announcement(&key(3), NOW, "nobody");
    assert_eq!(
        v.node_announcement(&mut g, m, b, NOW),
        Verdict::Ignored(Harmless::UnknownNode)
    );
    let (mut m, _) = node_announcement(&ch.node_keys[0], NOW, "one");
    m.contents.rgb_color = [0, 0, 0];
    let b = m.encode().unwrap();
    assert_eq!(
        v.node_announcement(&mut g, m, b, NOW),
        Verdict::Rejected(Fault::BadSignature)
    );
    let (m, b) = node_announcement(&ch.node_keys[0], NOW, "one");
    let Verdict::Accepted(changes) = v.node_announcement(&mut g, m, b.clone(), NOW) else {
        panic!()
    };
    assert_eq!(changes[0].relay_bytes(), Some(&b[..]));
    let (m, b) = node_announcement(&ch.node_keys[0], NOW, "one");
    assert_eq!(
        v.node_announcement(&mut g, m, b, NOW),
        Verdict::Ignored(Harmless::Duplicate)
    );
    let (m, b) = node_announcement(&ch.node_keys[0], NOW - 1, "one");
    assert_eq!(
        v.node_announcement(&mut g, m, b, NOW),
        Verdict::Ignored(Harmless::Stale)
    );
    let (m, b) = node_announcement(&ch.node_keys[0], NOW + 2 * MAX_FUTURE_SECS, "one");
    assert_eq!(
        v.node_announcement(&mut g, m, b, NOW),
        Verdict::Ignored(Harmless::FutureTimestamp)
    );
    let mut limited = false;
    for i in 1..=10 {
        let (m, b) = node_announcement(&ch.node_keys[0], NOW + i, "one");
        limited |=
            v.node_announcement(&mut g, m, b, NOW) == Verdict::Ignored(Harmless::RateLimited);
    }
    assert!(limited);
    let c = v.counters().node_announcement;
    assert_eq!(c.rejected, 1);
    assert_eq!(c.accepted, u64::from(RATE_BURST));
}

#[test]
fn a_spent_channel_stops_at_once_and_is_forgotten_72_blocks_later() {
    let (mut v, mut g, ch) = setup();
    assert!(matches!(
        update(&mut v, &mut g, &ch, 0, NOW, NOW),
        Verdict::Accepted(_)
    ));
    assert_eq!(
        v.funding_spent(&mut g, ch.scid, 1000),
        Some(GraphChange::Spent {
            scid: ch.scid,
            height: 1000
        })
    );
    assert_eq!(v.funding_spent(&mut g, ch.scid, 1001), None);
    assert!(g.channel_range(0, u32::MAX).is_empty());
    assert!(g.messages_for(ch.scid, 0x1f).is_empty());
    assert!(g.messages_in_window(0, u32::MAX).is_empty());
    assert_eq!(
        update(&mut v, &mut g, &ch, 1, NOW, NOW),
        Verdict::Ignored(Harmless::FundingSpent)
    );
    assert!(v.prune(&mut g, NOW, 1071).is_empty());
    let changes = v.prune(&mut g, NOW, 1072);
    assert_eq!(changes[0], GraphChange::ForgetChannel(ch.scid));
    assert_eq!(changes.len(), 3, "the channel and both its nodes");
    assert_eq!(g.node_count(), 0);
}

#[test]
fn a_channel_without_updates_for_two_weeks_is_pruned() {
    let (mut v, mut g, ch) = setup();
    assert!(matches!(
        update(&mut v, &mut g, &ch, 0, NOW, NOW),
        Verdict::Accepted(_)
    ));
    assert!(v.prune(&mut g, NOW + STALE_AFTER_SECS, 0).is_empty());
    let changes = v.prune(&mut g, NOW + STALE_AFTER_SECS + 1, 0);
    assert_eq!(changes[0], GraphChange::ForgetChannel(ch.scid));
}

#[test]
fn garbage_never_panics() {
    // Decoding is the wire layer's; here, every decodable message with random fields.
    use proptest::prelude::*;
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(
            &(any::<u32>(), any::<u64>(), any::<u8>(), any::<u64>()),
            |(ts, scid, flags, max)| {
                let (mut v, mut g, ch) = setup();
                let mut u = ch.unsigned_update(flags & 1, ts);
                u.short_channel_id = if scid % 2 == 0 {
                    ch.scid
                } else {
                    ShortChannelId(scid)
                };
                u.channel_flags = flags;
                u.message_flags = flags >> 1;
                u.htlc_maximum_msat = max;
                let (m, b) = ch.signed_update(flags & 1, u);
                let _ = v.channel_update(&mut g, m, b, ts);
                let _ = v.funding_checked(&mut g, ShortChannelId(scid), FundingCheck::Missing, ts);
                let _ = v.prune(&mut g, ts, (scid >> 40) as u32);
                Ok(())
            },
        )
        .unwrap();
}
