use super::*;
use crate::onion::ForwardingHop;
use bitcoin::secp256k1::{Secp256k1, SecretKey};

fn key(b: u8) -> PublicKey {
    SecretKey::from_slice(&[b; 32])
        .unwrap()
        .public_key(&Secp256k1::new())
}

fn target(amount_msat: u64) -> Target {
    Target {
        payment_hash: [1; 32],
        payee: key(9),
        amount_msat,
        payment_secret: Some([2; 32]),
        payment_metadata: None,
        keysend_preimage: None,
        hints: Vec::new(),
        min_final_cltv_expiry_delta: 18,
        mpp: true,
        max_fee_msat: 10_000,
        max_total_cltv_expiry_delta: 1008,
        deadline_secs: 1_060,
    }
}

/// us → hub (key 2) → hub B (key 3) → payee (key 9), over scids 10 and 11.
fn path(amount_msat: u64) -> Path {
    let hop = |node: u8, scid: u64| ForwardingHop {
        node_id: key(node),
        next_channel: ShortChannelId(scid),
        fee_base_msat: 1_000,
        fee_proportional_millionths: 0,
        cltv_expiry_delta: 40,
    };
    Path {
        first_channel: [7; 32],
        forwarders: vec![hop(2, 10), hop(3, 11)],
        payee: key(9),
        amount_msat,
        fee_msat: 2_000,
        cltv_delta: 101,
    }
}

fn onion(hop: usize, code: u16) -> Failure {
    Failure::Onion {
        hop,
        code,
        update: None,
    }
}

const TEMPORARY_CHANNEL_FAILURE: u16 = 0x1007;
const INCORRECT_DETAILS: u16 = 0x400f;

#[test]
fn parts_never_add_up_to_more_than_the_amount() {
    let mut s = Session::new(target(100_000));
    assert_eq!(
        s.next(1_000),
        Next::Send {
            amount_msat: 100_000
        }
    );
    let (a, b) = (s.take_id(), s.take_id());
    s.part_sent(a, &path(60_000));
    s.part_sent(b, &path(40_000));
    // Everything is in flight: nothing more may go out, whatever happens to the clock.
    assert_eq!(s.remaining_msat(), 0);
    assert_eq!(s.next(1_000), Next::Wait);
    assert_eq!(s.fee_budget_msat(), 6_000);
    // A failed part frees exactly its own amount and fees.
    let mut scorer = Scorer::new();
    let nodes = path(0).nodes();
    assert!(s.part_failed(a, &nodes, &Failure::Gone, "gone", &mut scorer, 1_001));
    assert_eq!(
        s.next(1_001),
        Next::Send {
            amount_msat: 60_000
        }
    );
    assert_eq!(s.fee_budget_msat(), 8_000);
    // A repeat of the same outcome changes nothing.
    assert!(!s.part_failed(a, &nodes, &Failure::Gone, "gone", &mut scorer, 1_001));
    assert_eq!(s.remaining_msat(), 60_000);
}

#[test]
fn a_fulfilled_part_ends_the_payment_even_with_parts_in_flight() {
    let mut s = Session::new(target(100_000));
    let (a, b) = (s.take_id(), s.take_id());
    s.part_sent(a, &path(50_000));
    s.part_sent(b, &path(50_000));
    assert!(s.part_succeeded(a));
    assert!(!s.part_succeeded(a));
    assert_eq!(s.next(2_000), Next::Succeeded);
    assert_eq!(s.pending(), 1);
}

#[test]
fn a_temporary_channel_failure_bounds_that_channel_for_this_payment() {
    let mut s = Session::new(target(100_000));
    let mut scorer = Scorer::new();
    let a = s.take_id();
    s.part_sent(a, &path(100_000));
    let p = path(100_000);
    let failing = p.channels()[1];
    assert!(s.part_failed(
        a,
        &p.nodes(),
        &onion(1, TEMPORARY_CHANNEL_FAILURE),
        "temporary_channel_failure from hop 2",
        &mut scorer,
        1_001
    ));
    // Hop 2's outgoing channel carried 100,000 and could not: at most one less now.
    assert_eq!(s.constraints.max_liquidity[&failing], 99_999);
    assert!(!s.constraints.avoid_channels.contains(&failing));
    assert!(scorer.channel_penalty_msat(failing.0, failing.1, 100_000, 1_001) > 0);
    assert_eq!(
        s.next(1_001),
        Next::Send {
            amount_msat: 100_000
        }
    );
    // Nothing in flight now: the in-flight map gave back what the part used.
    assert!(s.constraints.in_flight.values().all(|v| *v == 0));
}

#[test]
fn node_failures_and_unreadable_errors_avoid_what_they_blame() {
    let mut s = Session::new(target(100_000));
    let mut scorer = Scorer::new();
    let p = path(100_000);
    let a = s.take_id();
    s.part_sent(a, &p);
    let temporary_node_failure = 0x2002;
    s.part_failed(
        a,
        &p.nodes(),
        &onion(0, temporary_node_failure),
        "x",
        &mut scorer,
        1,
    );
    assert!(s.constraints.avoid_nodes.contains(&key(2)));
    assert!(scorer.node_penalty_msat(&key(2), 1) > 0);

    let b = s.take_id();
    s.part_sent(b, &p);
    s.part_failed(
        b,
        &p.nodes(),
        &Failure::Unreadable,
        "garbled",
        &mut scorer,
        2,
    );
    for c in p.channels() {
        assert!(s.constraints.avoid_channels.contains(&c), "{c:?}");
    }
    // A permanent channel failure avoids that one channel.
    let mut s = Session::new(target(100_000));
    let c = s.take_id();
    s.part_sent(c, &p);
    let unknown_next_peer = 0x400a;
    s.part_failed(
        c,
        &p.nodes(),
        &onion(0, unknown_next_peer),
        "x",
        &mut scorer,
        3,
    );
    assert_eq!(
        s.constraints
            .avoid_channels
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![p.channels()[0]]
    );
}

#[test]
fn a_newer_channel_update_in_a_failure_is_used_for_the_retry_only_once() {
    let mut s = Session::new(target(100_000));
    let mut scorer = Scorer::new();
    let p = path(100_000);
    let policy = PolicyOverride {
        fee_base_msat: 5_000,
        fee_proportional_millionths: 10,
        cltv_expiry_delta: 80,
        htlc_minimum_msat: 1,
        htlc_maximum_msat: 1_000_000_000,
        disabled: false,
    };
    let fee_insufficient = 0x100c;
    let failure = Failure::Onion {
        hop: 0,
        code: fee_insufficient,
        update: Some(policy),
    };
    let a = s.take_id();
    s.part_sent(a, &p);
    s.part_failed(a, &p.nodes(), &failure, "fee_insufficient", &mut scorer, 1);
    assert_eq!(s.constraints.policy_overrides[&p.channels()[0]], policy);
    assert!(s.constraints.avoid_channels.is_empty());
    // The same update again did not help: the channel is avoided.
    let b = s.take_id();
    s.part_sent(b, &p);
    s.part_failed(b, &p.nodes(), &failure, "fee_insufficient", &mut scorer, 2);
    assert!(s.constraints.avoid_channels.contains(&p.channels()[0]));
}

#[test]
fn the_payees_refusal_is_final_but_its_mpp_timeout_is_retried() {
    let mut scorer = Scorer::new();
    let p = path(50_000);
    let mut s = Session::new(target(100_000));
    let (a, b) = (s.take_id(), s.take_id());
    s.part_sent(a, &p);
    s.part_sent(b, &p);
    s.part_failed(
        a,
        &p.nodes(),
        &onion(2, INCORRECT_DETAILS),
        "refused",
        &mut scorer,
        1,
    );
    // The other part is still out: wait for it, then fail with the payee's reason.
    assert_eq!(s.next(1), Next::Wait);
    s.part_failed(
        b,
        &p.nodes(),
        &onion(2, INCORRECT_DETAILS),
        "refused",
        &mut scorer,
        2,
    );
    assert_eq!(s.next(2), Next::Failed("refused".into()));

    let mut s = Session::new(target(100_000));
    let (a, b) = (s.take_id(), s.take_id());
    s.part_sent(a, &p);
    s.part_sent(b, &p);
    for id in [a, b] {
        s.part_failed(id, &p.nodes(), &onion(2, 23), "mpp_timeout", &mut scorer, 3);
    }
    assert_eq!(
        s.next(3),
        Next::Send {
            amount_msat: 100_000
        }
    );
}

#[test]
fn no_new_part_after_the_deadline_or_too_many_attempts() {
    let mut scorer = Scorer::new();
    let p = path(100_000);
    let mut s = Session::new(target(100_000));
    let a = s.take_id();
    s.part_sent(a, &p);
    s.part_failed(
        a,
        &p.nodes(),
        &Failure::Gone,
        "the peer went away",
        &mut scorer,
        1,
    );
    match s.next(1_060) {
        Next::Failed(why) => {
            assert!(
                why.contains("timed out") && why.contains("the peer went away"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    let mut s = Session::new(target(100_000));
    for _ in 0..MAX_ATTEMPTS {
        let id = s.take_id();
        s.part_sent(id, &p);
        s.part_failed(id, &p.nodes(), &Failure::Gone, "gone", &mut scorer, 1);
    }
    assert!(matches!(s.next(1), Next::Failed(why) if why.contains("too many")));
}

#[test]
fn no_route_fails_only_when_nothing_is_in_flight() {
    let mut s = Session::new(target(100_000));
    let a = s.take_id();
    s.part_sent(a, &path(40_000));
    assert_eq!(s.no_route("no route for 60000 msat"), Next::Wait);
    let mut scorer = Scorer::new();
    s.part_failed(a, &path(0).nodes(), &Failure::Gone, "gone", &mut scorer, 1);
    assert!(matches!(s.no_route("no route"), Next::Failed(why) if why.contains("no route")));
}
