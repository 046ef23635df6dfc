//! Lost state: a channel restored from a backup never broadcasts or updates and asks the peer
//! to close; a peer that proves it lost state gets our latest commitment on chain.

use crate::channel::testing::harness::*;
use crate::channel::{Channel, ChannelError, ChannelState, Command, Format, Input, Phase};
use crate::wire::Message;

/// `a` comes back from `old` (a snapshot taken earlier), marked as `chanhub restore` does.
fn restore_a(p: &mut Pair, mut old: ChannelState, restored: bool) {
    old.restored = restored;
    let (ch, out) = Channel::restore(old, keys(1)).unwrap();
    p.a.channel = ch;
    p.a.absorb(out, usize::MAX);
}

fn add(amount_msat: u64, n: u64, cltv_expiry: u32) -> Command {
    Command::AddHtlc {
        amount_msat,
        payment_hash: hash_of(&preimage(n)),
        cltv_expiry,
        onion: onion(),
        extra_fee_msat: None,
    }
}

#[test]
fn restored_channel_refuses_force_close_updates_and_close() {
    let mut p = Pair::open(Format::Anchors, 0);
    p.a.command(add(1_000_000, 1, 500)).unwrap();
    p.deliver_all();
    let old = p.a.channel.state().clone();
    p.disconnect();
    restore_a(&mut p, old, true);
    let before = p.a.broadcast.len();
    let refused = |r: Result<(), crate::channel::Refused>| {
        matches!(r.unwrap_err().error, ChannelError::Restored(_))
    };
    assert!(refused(p.a.command(Command::ForceClose {
        reason: "operator".into()
    })));
    assert!(refused(p.a.command(add(5_000, 2, 600))));
    assert!(refused(p.a.command(Command::Close {
        script_pubkey: None
    })));
    assert!(refused(p.a.command(Command::UpdateFee {
        feerate_per_kw: 2_000
    })));
    assert_eq!(p.a.channel.signed_local_commitment().unwrap(), None);
    assert!(!p.a.channel.is_usable());
    assert_eq!(
        p.a.channel.htlc_needing_chain(10_000),
        None,
        "an expired HTLC does not take a restored channel on chain"
    );
    // Nor does the peer's `error`.
    let error = crate::wire::ErrorMessage(crate::wire::Diagnostic::new(p.channel_id(), "bye"));
    p.a.handle(Input::Message(Message::Error(error))).unwrap();
    assert_eq!(p.a.broadcast.len(), before, "nothing broadcast");
    assert_eq!(*p.a.channel.phase(), Phase::Normal);
    assert!(
        p.a.channel.state().restored,
        "the mark survives transitions"
    );
}

#[test]
fn restored_channel_refuses_the_peers_updates_with_an_error() {
    let mut p = Pair::open(Format::StaticRemoteKey, 0);
    p.pay(true, 50_000_000, 1);
    // A backup as fresh as the state: the numbers line up, still nothing is trusted.
    let current = p.a.channel.state().clone();
    p.disconnect();
    restore_a(&mut p, current, true);
    p.reconnect();
    let funded = p.a.broadcast.len();
    let sent: Vec<Message> = p.a.outbox.iter().cloned().collect();
    assert!(
        matches!(sent[0], Message::ChannelReestablish(_)),
        "{sent:?}"
    );
    assert!(
        matches!(sent[1], Message::Error(_)),
        "asks the peer to close"
    );
    assert_eq!(sent.len(), 2);
    // b takes the reestablish (it lines up); the error is lost on the way.
    p.deliver_one(true).unwrap().unwrap();
    p.a.outbox.clear();
    // b's reestablish is accepted, nothing is retransmitted.
    p.deliver_one(false).unwrap().unwrap();
    assert!(p.a.outbox.is_empty());
    assert!(!p.a.channel.state().behind);
    // b (not told to close, here) offers an HTLC: refused, answered with `error`.
    p.b.command(add(10_000, 3, 600)).unwrap();
    let r = p.deliver_one(false).unwrap().unwrap_err();
    assert!(
        matches!(r.error, ChannelError::Restored(_)),
        "{:?}",
        r.error
    );
    assert!(matches!(p.a.outbox.back(), Some(Message::Error(_))));
    assert_eq!(p.a.broadcast.len(), funded);
}

#[test]
fn restored_old_state_makes_the_peer_close_with_its_latest_commitment() {
    let mut p = Pair::open(Format::Anchors, 0);
    let old = p.a.channel.state().clone();
    p.pay(true, 1_000_000, 1);
    p.pay(true, 300_000, 2);
    p.disconnect();
    restore_a(&mut p, old, true);
    let funded = p.a.broadcast.len();
    p.reconnect();
    let theirs = p.b.channel.signed_local_commitment().unwrap().unwrap();
    // a's reestablish: b sees a lost state and fails the channel with its latest commitment.
    p.deliver_one(true).unwrap().unwrap();
    assert!(matches!(p.b.channel.phase(), Phase::ForceClosing { tx } if *tx == theirs));
    assert_eq!(p.b.broadcast.last(), Some(&theirs));
    // a's error changes nothing more for b.
    p.deliver_one(true).unwrap().unwrap();
    assert_eq!(p.b.broadcast, vec![theirs], "the commitment, once");
    // b's reestablish proves a is behind; b's error does not make a broadcast.
    while let Some(r) = p.deliver_one(false) {
        r.unwrap();
    }
    assert!(p.a.channel.state().behind);
    let b_number =
        p.b.channel
            .state()
            .commitments
            .as_ref()
            .unwrap()
            .local
            .number;
    assert_eq!(
        p.a.channel.state().peer_current_point,
        Some(keys(2).point(b_number).unwrap()),
        "the point of the commitment b broadcast, for its HTLC outputs"
    );
    assert_eq!(p.a.broadcast.len(), funded);
}

#[test]
fn a_peer_that_lost_state_gets_our_commitment_on_chain() {
    let mut p = Pair::open(Format::StaticRemoteKey, 0);
    let old = p.a.channel.state().clone();
    p.pay(true, 1_000_000, 1);
    p.disconnect();
    // a lost state some other way (no restore mark): its reestablish alone tells b.
    restore_a(&mut p, old, false);
    let funded = p.a.broadcast.len();
    p.reconnect();
    let theirs = p.b.channel.signed_local_commitment().unwrap().unwrap();
    p.deliver_one(true).unwrap().unwrap();
    assert!(matches!(p.b.channel.phase(), Phase::ForceClosing { tx } if *tx == theirs));
    assert!(p.b.outbox.iter().any(|m| matches!(m, Message::Error(_))));
    // a learns it is behind, asks b to close, and broadcasts nothing.
    while let Some(r) = p.deliver_one(false) {
        r.unwrap();
    }
    assert!(p.a.channel.state().behind);
    assert!(matches!(p.a.outbox.back(), Some(Message::Error(_))));
    assert_eq!(p.a.broadcast.len(), funded);
}
