//! The scorer: decay, amounts, success, bound, persistence.

use super::scorer::{
    PenaltyEntry, PenaltyKey, Scorer, CHANNEL_FAILURE_PENALTY_MSAT, HALF_LIFE_SECS, MAX_ENTRIES,
    MAX_PENALTY_MSAT, NODE_FAILURE_PENALTY_MSAT,
};
use super::testkit::*;
use super::Path;
use crate::onion::ForwardingHop;
use crate::wire::ShortChannelId;

fn scid(i: u32) -> ShortChannelId {
    ShortChannelId::new(1_000 + i, 1, 0).unwrap()
}

#[test]
fn penalties_halve_every_half_life() {
    let mut s = Scorer::new();
    s.node_failed(&node(1), NOW);
    let p0 = s.node_penalty_msat(&node(1), NOW);
    assert_eq!(p0, NODE_FAILURE_PENALTY_MSAT);
    assert_eq!(s.node_penalty_msat(&node(1), NOW + HALF_LIFE_SECS), p0 / 2);
    assert_eq!(
        s.node_penalty_msat(&node(1), NOW + 2 * HALF_LIFE_SECS),
        p0 / 4
    );
    let mid = s.node_penalty_msat(&node(1), NOW + HALF_LIFE_SECS / 2);
    assert!(mid < p0 && mid > p0 / 2);
    assert_eq!(s.node_penalty_msat(&node(1), NOW + 100 * HALF_LIFE_SECS), 0);
    assert_eq!(s.node_penalty_msat(&node(2), NOW), 0);
}

#[test]
fn a_channel_penalty_counts_in_full_from_the_amount_that_failed() {
    let mut s = Scorer::new();
    s.channel_failed(scid(1), 1, 1_000_000, NOW);
    let full = s.channel_penalty_msat(scid(1), 1, 1_000_000, NOW);
    // 20,000 + 2,000 ppm of 1,000,000.
    assert_eq!(full, CHANNEL_FAILURE_PENALTY_MSAT + 2_000);
    assert_eq!(s.channel_penalty_msat(scid(1), 1, 5_000_000, NOW), full);
    assert_eq!(s.channel_penalty_msat(scid(1), 1, 500_000, NOW), full / 2);
    assert_eq!(s.channel_penalty_msat(scid(1), 1, 1, NOW), full / 4);
    // The other direction and other channels are untouched.
    assert_eq!(s.channel_penalty_msat(scid(1), 0, 1_000_000, NOW), 0);
    assert_eq!(s.channel_penalty_msat(scid(2), 1, 1_000_000, NOW), 0);
    // Failures add up, to a cap.
    s.channel_failed(scid(1), 1, 1_000_000, NOW);
    assert_eq!(s.channel_penalty_msat(scid(1), 1, 1_000_000, NOW), 2 * full);
    for _ in 0..1_000 {
        s.channel_failed(scid(1), 1, 1_000_000_000, NOW);
    }
    assert_eq!(
        s.channel_penalty_msat(scid(1), 1, 1_000_000, NOW),
        MAX_PENALTY_MSAT
    );
}

fn path_over(forwarder: u32, channel: ShortChannelId, payee: u32, amount: u64) -> Path {
    Path {
        first_channel: [1; 32],
        forwarders: vec![ForwardingHop {
            node_id: node(forwarder),
            next_channel: channel,
            fee_base_msat: 0,
            fee_proportional_millionths: 0,
            cltv_expiry_delta: 40,
        }],
        payee: node(payee),
        amount_msat: amount,
        fee_msat: 0,
        cltv_delta: 80,
    }
}

#[test]
fn a_success_lifts_what_it_disproves_and_halves_the_rest() {
    let dir = super::direction(&node(1), &node(2));
    let mut s = Scorer::new();
    s.channel_failed(scid(1), dir, 1_000_000, NOW);
    s.node_failed(&node(1), NOW);
    let before = s.channel_penalty_msat(scid(1), dir, 1_000_000, NOW);
    // A smaller amount got through: the channel's penalty halves.
    s.path_succeeded(&path_over(1, scid(1), 2, 400_000), NOW);
    assert_eq!(
        s.channel_penalty_msat(scid(1), dir, 1_000_000, NOW),
        before / 2
    );
    assert_eq!(
        s.node_penalty_msat(&node(1), NOW),
        NODE_FAILURE_PENALTY_MSAT / 2
    );
    // The amount that had failed got through: forgiven.
    s.path_succeeded(&path_over(1, scid(1), 2, 1_000_000), NOW);
    assert_eq!(s.channel_penalty_msat(scid(1), dir, 1_000_000, NOW), 0);
}

#[test]
fn the_scorer_is_bounded_and_evicts_the_oldest() {
    let mut s = Scorer::new();
    for i in 0..(MAX_ENTRIES as u32 + 10) {
        s.channel_failed(scid(i), 0, 1_000, NOW + u64::from(i));
    }
    assert_eq!(s.len(), MAX_ENTRIES);
    assert_eq!(s.channel_penalty_msat(scid(0), 0, 1_000, NOW + 20_000), 0);
    let last = MAX_ENTRIES as u32 + 9;
    assert!(s.channel_penalty_msat(scid(last), 0, 1_000, NOW + 20_000) > 0);
}

#[test]
fn entries_round_trip() {
    let mut s = Scorer::new();
    s.channel_failed(scid(1), 1, 7_000, NOW);
    s.node_failed(&node(4), NOW + 5);
    let entries = s.entries();
    assert_eq!(entries.len(), 2);
    let back = Scorer::from_entries(entries.clone());
    assert_eq!(back, s);
    assert!(entries.contains(&PenaltyEntry {
        key: PenaltyKey::Node(node(4)),
        penalty_msat: NODE_FAILURE_PENALTY_MSAT,
        amount_msat: 0,
        at_secs: NOW + 5,
    }));
    // Stored data past the bound or the cap is brought back within it.
    let many: Vec<_> = (0..MAX_ENTRIES as u32 + 5)
        .map(|i| PenaltyEntry {
            key: PenaltyKey::Channel {
                scid: scid(i),
                dir: 3,
            },
            penalty_msat: u64::MAX,
            amount_msat: 1,
            at_secs: NOW + u64::from(i),
        })
        .collect();
    let s = Scorer::from_entries(many);
    assert_eq!(s.len(), MAX_ENTRIES);
    assert_eq!(s.channel_penalty_msat(scid(0), 1, 1, NOW + 10), 0);
    let newest = MAX_ENTRIES as u32 + 4;
    let p = s.channel_penalty_msat(scid(newest), 1, 1, NOW + u64::from(newest));
    assert_eq!(p, MAX_PENALTY_MSAT);
}

#[test]
fn prune_forgets_what_has_faded() {
    let mut s = Scorer::new();
    s.node_failed(&node(1), NOW);
    s.node_failed(&node(2), NOW + 100 * HALF_LIFE_SECS);
    s.prune(NOW + 100 * HALF_LIFE_SECS);
    assert_eq!(s.len(), 1);
    assert!(s.node_penalty_msat(&node(2), NOW + 100 * HALF_LIFE_SECS) > 0);
}
