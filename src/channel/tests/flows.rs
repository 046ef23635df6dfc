//! Honest flows: open, payments both ways, fails, fee updates, interleaving, reconnection,
//! restart, cooperative close.

use crate::channel::testing::harness::*;
use crate::channel::{Command, Event, Format, Input, Phase};
use crate::wire::Message;

#[test]
fn open_both_channel_types_with_push() {
    for format in [Format::Anchors, Format::StaticRemoteKey] {
        let p = Pair::open(format, 100_000_000);
        assert!(p.is_normal(), "{format:?}");
        assert_eq!(p.a.channel.balances_msat(), (900_000_000, 100_000_000));
        assert_eq!(p.b.channel.balances_msat(), (100_000_000, 900_000_000));
        assert_eq!(p.a.channel.state().setup.format, format);
        assert_eq!(p.b.channel.state().setup.format, format);
        assert_eq!(p.a.channel.channel_id(), p.b.channel.channel_id());
        for n in [&p.a, &p.b] {
            assert!(n
                .events
                .iter()
                .any(|e| matches!(e, Event::ChannelReady { .. })));
        }
        p.assert_agree();
    }
}

#[test]
fn channel_ready_waits_for_minimum_depth() {
    let mut p = Pair::fund(Format::Anchors, 0, Default::default(), &mut |s, a| {
        (fake_funding_tx(s, a), 1)
    });
    p.confirm(2);
    assert!(matches!(
        p.a.channel.phase(),
        Phase::AwaitingReady {
            ready_sent: false,
            ..
        }
    ));
    p.confirm(3);
    assert!(p.is_normal());
}

#[test]
fn payments_both_ways_move_balances() {
    let mut p = Pair::open(Format::Anchors, 0);
    p.pay(true, 50_000_000, 1);
    p.pay(false, 20_000_000, 2);
    p.pay(true, 1_000, 3); // trimmed on both commitments
    p.assert_agree();
    assert_eq!(
        p.a.channel.balances_msat(),
        (970_000_000 - 1_000, 30_000_000 + 1_000)
    );
    assert!(p.a.events.iter().any(
        |e| matches!(e, Event::HtlcFulfilled { preimage, .. } if *preimage == preimage_of(1))
    ));
}

fn preimage_of(n: u64) -> [u8; 32] {
    preimage(n)
}

#[test]
fn failed_htlc_refunds_the_offerer() {
    let mut p = Pair::open(Format::StaticRemoteKey, 0);
    p.a.command(Command::AddHtlc {
        amount_msat: 10_000_000,
        payment_hash: [5; 32],
        cltv_expiry: 400,
        onion: onion(),
        extra_fee_msat: None,
    })
    .unwrap();
    p.deliver_all();
    let (id, _, _) = p.b.received_htlcs()[0];
    p.b.command(Command::Fail {
        id,
        reason: vec![1, 2, 3],
    })
    .unwrap();
    p.deliver_all();
    p.assert_agree();
    assert_eq!(p.a.channel.balances_msat(), (1_000_000_000, 0));
    assert!(p.a.events.iter().any(|e| matches!(e, Event::HtlcFailed { id: 0, reason, malformed: None } if reason == &vec![1, 2, 3])));
}

#[test]
fn fee_updates_from_the_opener_only() {
    let mut p = Pair::open(Format::Anchors, 200_000_000);
    p.a.command(Command::UpdateFee {
        feerate_per_kw: 2_500,
    })
    .unwrap();
    p.deliver_all();
    p.assert_agree();
    let c = p.b.channel.state().commitments.as_ref().unwrap();
    assert_eq!(c.local.spec.feerate_per_kw, 2_500);
    assert!(p
        .b
        .command(Command::UpdateFee {
            feerate_per_kw: 3_000
        })
        .is_err());
    // Out of bounds.
    assert!(p
        .a
        .command(Command::UpdateFee {
            feerate_per_kw: 100
        })
        .is_err());
}

#[test]
fn interleaved_updates_from_both_sides_converge() {
    let mut p = Pair::open(Format::Anchors, 500_000_000);
    for i in 0..4u64 {
        for (from_a, n) in [(true, 10 + i), (false, 20 + i)] {
            let (from, _) = if from_a {
                (&mut p.a, &mut p.b)
            } else {
                (&mut p.b, &mut p.a)
            };
            from.command(Command::AddHtlc {
                amount_msat: 1_000_000 * (i + 1),
                payment_hash: hash_of(&preimage(n)),
                cltv_expiry: 600,
                onion: onion(),
                extra_fee_msat: None,
            })
            .unwrap();
        }
        // Deliver one message each way at a time: commitments cross.
        for _ in 0..3 {
            for from_a in [true, false] {
                if let Some(r) = p.deliver_one(from_a) {
                    r.unwrap();
                }
            }
        }
    }
    p.a.command(Command::UpdateFee {
        feerate_per_kw: 1_500,
    })
    .unwrap();
    p.deliver_all();
    p.assert_agree();
    for (node_is_a, base) in [(true, 20u64), (false, 10u64)] {
        let node = if node_is_a { &mut p.a } else { &mut p.b };
        for (id, hash, _) in node.received_htlcs() {
            let n = (0..4)
                .map(|i| base + i)
                .find(|n| hash_of(&preimage(*n)) == hash)
                .unwrap();
            node.command(Command::Fulfill {
                id,
                preimage: preimage(n),
            })
            .unwrap();
        }
    }
    p.deliver_all();
    p.assert_agree();
    let c = p.a.channel.state().commitments.as_ref().unwrap();
    assert!(c.local.spec.htlcs.is_empty());
    // a paid 1+2+3+4 and received the same: balances are back where they were.
    assert_eq!(p.a.channel.balances_msat(), (500_000_000, 500_000_000));
}

#[test]
fn reconnection_retransmits_a_lost_commitment_signed() {
    let mut p = Pair::open(Format::Anchors, 0);
    p.a.command(Command::AddHtlc {
        amount_msat: 7_000_000,
        payment_hash: hash_of(&preimage(7)),
        cltv_expiry: 600,
        onion: onion(),
        extra_fee_msat: None,
    })
    .unwrap();
    // update_add_htlc and commitment_signed delivered; b's revoke_and_ack and its own
    // commitment_signed are lost with the connection.
    p.deliver_one(true).unwrap().unwrap();
    p.deliver_one(true).unwrap().unwrap();
    assert_eq!(p.b.outbox.len(), 2);
    p.disconnect();
    p.reconnect();
    p.deliver_all();
    p.assert_agree();
    assert_eq!(p.b.received_htlcs().len(), 1);
    // And the payment completes.
    let (id, _, _) = p.b.received_htlcs()[0];
    p.b.command(Command::Fulfill {
        id,
        preimage: preimage(7),
    })
    .unwrap();
    p.deliver_all();
    p.assert_agree();
    assert_eq!(p.b.channel.balances_msat().0, 7_000_000);
}

#[test]
fn unsigned_updates_are_dropped_on_disconnect_and_fulfills_come_back() {
    let mut p = Pair::open(Format::Anchors, 0);
    p.pay(true, 1_000_000, 1);
    p.a.command(Command::AddHtlc {
        amount_msat: 2_000_000,
        payment_hash: hash_of(&preimage(2)),
        cltv_expiry: 600,
        onion: onion(),
        extra_fee_msat: None,
    })
    .unwrap();
    p.deliver_all();
    let (id, _, _) = p.b.received_htlcs()[1];
    p.b.command(Command::Fulfill {
        id,
        preimage: preimage(2),
    })
    .unwrap();
    // The fulfill is lost with the connection, before any commitment covered it.
    p.disconnect();
    p.reconnect();
    p.deliver_all();
    p.assert_agree();
    assert_eq!(
        p.b.channel.balances_msat().0,
        3_000_000,
        "fulfill re-proposed after reestablish"
    );
    // Two adds: the first is signed at once, the second waits for the revocation. Both are
    // lost with the connection: the signed one is retransmitted, the other reported dropped
    // and its id reused.
    for (n, amount) in [(3u64, 3_000_000), (4, 4_000_000)] {
        p.a.command(Command::AddHtlc {
            amount_msat: amount,
            payment_hash: hash_of(&preimage(n)),
            cltv_expiry: 600,
            onion: onion(),
            extra_fee_msat: None,
        })
        .unwrap();
    }
    p.a.outbox.clear();
    p.disconnect();
    assert!(p
        .a
        .events
        .iter()
        .any(|e| matches!(e, Event::HtlcDropped { id: 3, .. })));
    p.reconnect();
    p.deliver_all();
    p.assert_agree();
    assert!(p
        .b
        .received_htlcs()
        .iter()
        .any(|(id, _, amt)| *id == 2 && *amt == 3_000_000));
    p.pay(true, 1_000, 9);
    assert!(p
        .b
        .received_htlcs()
        .iter()
        .any(|(id, _, amt)| *id == 3 && *amt == 1_000));
}

#[test]
fn restart_from_snapshot_between_persist_and_send() {
    let mut p = Pair::open(Format::StaticRemoteKey, 0);
    p.a.command(Command::AddHtlc {
        amount_msat: 4_000_000,
        payment_hash: hash_of(&preimage(4)),
        cltv_expiry: 600,
        onion: onion(),
        extra_fee_msat: None,
    })
    .unwrap();
    p.deliver_one(true).unwrap().unwrap();
    let m = p.a.outbox.pop_front().unwrap();
    // b persists its new commitment, then dies before revoke_and_ack leaves.
    p.b.handle_limited(Input::Message(m), 1).unwrap();
    assert!(p.b.outbox.is_empty());
    p.disconnect();
    p.b.crash_and_restore();
    p.reconnect();
    p.deliver_all();
    p.assert_agree();
    assert_eq!(p.b.received_htlcs().len(), 1);
}

#[test]
fn cooperative_close_agrees_on_one_transaction() {
    for format in [Format::Anchors, Format::StaticRemoteKey] {
        let mut p = Pair::open(format, 0);
        p.pay(true, 300_000_000, 1);
        // An HTLC in flight holds the close until it settles.
        p.a.command(Command::AddHtlc {
            amount_msat: 5_000_000,
            payment_hash: hash_of(&preimage(2)),
            cltv_expiry: 600,
            onion: onion(),
            extra_fee_msat: None,
        })
        .unwrap();
        p.deliver_all();
        p.b.command(Command::Close {
            script_pubkey: None,
        })
        .unwrap();
        p.deliver_all();
        assert_eq!(*p.a.channel.phase(), Phase::ShuttingDown);
        assert!(p
            .a
            .command(Command::AddHtlc {
                amount_msat: 1_000,
                payment_hash: [1; 32],
                cltv_expiry: 600,
                onion: onion(),
                extra_fee_msat: None,
            })
            .is_err());
        let (id, _, _) = p.b.received_htlcs()[1];
        p.b.command(Command::Fulfill {
            id,
            preimage: preimage(2),
        })
        .unwrap();
        p.deliver_all();
        let ta = p.a.broadcast.last().unwrap().clone();
        let tb = p.b.broadcast.last().unwrap().clone();
        assert_eq!(ta, tb, "{format:?}");
        assert!(matches!(p.a.channel.phase(), Phase::Closing { .. }));
        let outs: Vec<u64> = ta.output.iter().map(|o| o.value.to_sat()).collect();
        let fee = FUNDING_SAT - outs.iter().sum::<u64>();
        assert!(
            outs.contains(&305_000),
            "b gets its balance in full: {outs:?}"
        );
        assert!(outs.contains(&(695_000 - fee)), "a pays the fee");
        for n in [&mut p.a, &mut p.b] {
            n.handle(Input::FundingSpent { tx: ta.clone() }).unwrap();
            assert_eq!(*n.channel.phase(), Phase::Closed);
            assert!(n
                .events
                .iter()
                .any(|e| matches!(e, Event::ChannelClosed { mutual: true, .. })));
        }
    }
}

#[test]
fn close_negotiation_restarts_after_reconnection() {
    let mut p = Pair::open(Format::Anchors, 0);
    p.a.command(Command::Close {
        script_pubkey: None,
    })
    .unwrap();
    p.deliver_one(true).unwrap().unwrap(); // shutdown
    p.deliver_one(false).unwrap().unwrap(); // b's shutdown: a offers closing_signed
    assert!(matches!(
        p.a.outbox.front(),
        Some(Message::ClosingSigned(_))
    ));
    p.disconnect();
    p.reconnect();
    p.deliver_all();
    assert_eq!(p.a.broadcast.last(), p.b.broadcast.last());
    assert!(matches!(p.b.channel.phase(), Phase::Closing { .. }));
}

#[test]
fn state_round_trips_through_serde() {
    let mut p = Pair::open(Format::Anchors, 0);
    p.pay(true, 1_000_000, 1);
    p.a.command(Command::AddHtlc {
        amount_msat: 2_000_000,
        payment_hash: [2; 32],
        cltv_expiry: 600,
        onion: onion(),
        extra_fee_msat: None,
    })
    .unwrap();
    let json = serde_json::to_string(p.a.channel.state()).unwrap();
    let back: crate::channel::ChannelState = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, p.a.channel.state());
    assert!(
        !json.contains(&hex::encode(keys(1).secret(0).unwrap())),
        "no secret in the snapshot"
    );
}
