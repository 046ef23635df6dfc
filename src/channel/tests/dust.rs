//! The dust exposure cap on both commitments, the static_remotekey fee buffer, a peer's fee
//! rise over the cap, and a flood of `update_fee`.

use crate::channel::testing::harness::*;
use crate::channel::{ChannelConfig, Command, Event, Format, Input, Phase, Update};
use crate::wire::{Message, TlvStream, UpdateFee};

/// A peer that checks no dust cap of its own, with `dust_limit_sat`.
fn lax(dust_limit_sat: u64) -> ChannelConfig {
    ChannelConfig {
        dust_limit_sat,
        max_dust_htlc_exposure_msat: u64::MAX,
        ..ChannelConfig::default()
    }
}

/// `a` offers HTLCs of `amount_msat` to `b` and everything is delivered.
fn offer(p: &mut Pair, n: u64, amount_msat: u64) {
    for i in 0..n {
        p.a.command(Command::AddHtlc {
            amount_msat,
            payment_hash: hash_of(&preimage(i)),
            cltv_expiry: 600,
            onion: onion(),
            extra_fee_msat: None,
        })
        .unwrap();
    }
    p.deliver_all();
}

fn must_fail(node: &Node) -> Vec<u64> {
    node.events
        .iter()
        .filter_map(|e| match e {
            Event::HtlcMustFail { htlc, .. } => Some(htlc.id),
            _ => None,
        })
        .collect()
}

#[test]
fn dust_on_the_peers_commitment_counts_with_its_high_dust_limit() {
    // a's dust limit is 10 000 sat (the most we accept): a 2 000 sat HTLC has an output on
    // b's commitment (546 sat) but none on a's, where it would go to miners.
    let mut p = Pair::open_with(Format::Anchors, 0, lax(10_000));
    offer(&mut p, 3, 2_000_000);
    assert_eq!(
        p.b.received_htlcs().len(),
        2,
        "two fit under 5 000 000 msat"
    );
    assert_eq!(must_fail(&p.b), vec![2], "the third is failed back");
    assert!(
        p.b.refusals.is_empty() && p.is_normal(),
        "not a channel error"
    );
    assert_eq!(p.b.channel.dust_exposure_msat(), 6_000_000);
    // Our own offers are held to the same cap on the peer's commitment.
    let mut p = Pair::open_with(Format::Anchors, 500_000_000, lax(10_000));
    let ours = |amount_msat| Command::AddHtlc {
        amount_msat,
        payment_hash: [1; 32],
        cltv_expiry: 600,
        onion: onion(),
        extra_fee_msat: None,
    };
    for _ in 0..2 {
        p.b.command(ours(2_000_000)).unwrap();
    }
    let r = p.b.command(ours(2_000_000)).unwrap_err();
    assert!(
        r.error.to_string().contains("peer's commitment"),
        "{}",
        r.error
    );
    // Not dust anywhere: unaffected.
    p.b.command(ours(20_000_000)).unwrap();
    p.deliver_all();
}

#[test]
fn static_remotekey_htlcs_a_fee_rise_would_trim_count_as_dust() {
    // At 1 000 sat/kw a 2 500 sat HTLC has an output on both commitments (the threshold is
    // 546 sat plus 663 or 703 sat of HTLC transaction fee); at the buffered 3 530 sat/kw it
    // would not (546 + 2 340 / 2 481 sat).
    let mut p = Pair::open_with(Format::StaticRemoteKey, 0, lax(546));
    offer(&mut p, 3, 2_500_000);
    assert_eq!(p.b.received_htlcs().len(), 2);
    assert_eq!(must_fail(&p.b), vec![2]);
    assert!(p.is_normal());
    // Anchors channels' HTLC transactions pay no fee: the same HTLCs are not dust there.
    let mut p = Pair::open_with(Format::Anchors, 0, lax(546));
    offer(&mut p, 3, 2_500_000);
    assert_eq!(p.b.received_htlcs().len(), 3);
    assert_eq!(p.b.channel.dust_exposure_msat(), 0);
}

fn fee(p: &Pair, feerate_per_kw: u32) -> Message {
    Message::UpdateFee(UpdateFee {
        channel_id: p.channel_id(),
        feerate_per_kw,
        extra_tlvs: TlvStream::new(),
    })
}

#[test]
fn a_peer_fee_rise_over_the_dust_cap_fails_the_channel() {
    // Two 4 000 sat HTLCs have outputs up to the buffer (3 530 sat/kw); at 5 000 sat/kw both
    // are trimmed from b's commitment (546 + 3 515 sat): 8 000 000 msat, over the cap.
    let mut p = Pair::open_with(Format::StaticRemoteKey, 0, lax(546));
    offer(&mut p, 2, 4_000_000);
    assert_eq!(p.b.received_htlcs().len(), 2);
    // A rise that trims nothing goes through.
    p.a.command(Command::UpdateFee {
        feerate_per_kw: 2_000,
    })
    .unwrap();
    p.deliver_all();
    assert!(p.is_normal());
    // a, with no cap of its own, rises to 5 000 sat/kw.
    let before = p.b.channel.state().clone();
    p.b.handle(Input::Message(fee(&p, 5_000))).unwrap();
    assert!(
        matches!(p.b.channel.phase(), Phase::ForceClosing { .. }),
        "{:?}",
        p.b.channel.phase()
    );
    assert_eq!(p.b.broadcast.len(), 1, "our commitment goes on chain");
    let c = p.b.channel.state().commitments.as_ref().unwrap();
    assert_eq!(c.local, before.commitments.as_ref().unwrap().local);
    assert!(matches!(p.b.outbox.back(), Some(Message::Error(_))));
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::ForceClosed { reason, .. } if reason.contains("dust")
    )));
}

#[test]
fn our_fee_rise_over_the_dust_cap_is_refused() {
    // a, the opener, with the default cap: the same two HTLCs, and a may not raise the fee to
    // where they are trimmed on b's commitment.
    let mut p = Pair::open(Format::StaticRemoteKey, 0);
    offer(&mut p, 2, 4_000_000);
    let r =
        p.a.command(Command::UpdateFee {
            feerate_per_kw: 5_000,
        })
        .unwrap_err();
    assert!(r.error.to_string().contains("dust"), "{}", r.error);
    p.a.command(Command::UpdateFee {
        feerate_per_kw: 2_000,
    })
    .unwrap();
    p.deliver_all();
    assert!(p.is_normal());
}

#[test]
fn a_flood_of_update_fee_keeps_one_pending_entry() {
    let mut p = Pair::open(Format::Anchors, 0);
    // From the peer: a hundred in a row, never signed.
    for f in 0..100 {
        let m = fee(&p, 1_000 + f);
        p.b.handle(Input::Message(m)).unwrap();
    }
    let c = p.b.channel.state().commitments.as_ref().unwrap();
    assert_eq!(
        c.remote_changes.proposed,
        vec![Update::Fee {
            feerate_per_kw: 1_099
        }]
    );
    p.disconnect();
    p.reconnect();
    p.deliver_all();
    // Our own: a hundred commands while the first is being signed.
    for f in 0..100 {
        p.a.command(Command::UpdateFee {
            feerate_per_kw: 2_000 + f,
        })
        .unwrap();
    }
    let c = p.a.channel.state().commitments.as_ref().unwrap();
    let fees = c
        .local_changes
        .all()
        .filter(|u| matches!(u, Update::Fee { .. }))
        .count();
    assert!(fees <= 2, "{fees} fee updates kept");
    assert!(c.local_changes.proposed.len() <= 1);
    // And the peer, receiving them all, ends on the last one.
    p.deliver_all();
    p.assert_agree();
    let c = p.b.channel.state().commitments.as_ref().unwrap();
    assert_eq!(c.local.spec.feerate_per_kw, 2_099);
}
