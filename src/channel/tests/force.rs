//! Force close: our commitment broadcast on command or on the peer's `error`, never when we
//! are behind, once only.

use crate::channel::testing::harness::*;
use crate::channel::{ChannelError, Command, Event, Format, Input, Phase};
use crate::wire::{Diagnostic, ErrorMessage, Message};

fn force(reason: &str) -> Command {
    Command::ForceClose {
        reason: reason.into(),
    }
}

/// A pair whose `a` was restored from a state one payment old and reconnected: the peer's
/// `channel_reestablish`, still undelivered, proves `a` behind.
fn behind_pair() -> Pair {
    let mut p = Pair::open(Format::StaticRemoteKey, 0);
    let old = p.a.channel.state().clone();
    p.pay(true, 1_000_000, 1);
    p.disconnect();
    let (ch, out) = crate::channel::Channel::restore(old, keys(1)).unwrap();
    p.a.channel = ch;
    p.a.absorb(out, usize::MAX);
    p.reconnect();
    p
}

#[test]
fn force_close_broadcasts_our_latest_commitment_and_tells_the_peer() {
    let mut p = Pair::open(Format::Anchors, 0);
    p.pay(true, 2_000_000, 1);
    let ours = p.a.channel.signed_local_commitment().unwrap().unwrap();
    p.a.command(force("operator")).unwrap();
    assert!(matches!(p.a.channel.phase(), Phase::ForceClosing { tx } if *tx == ours));
    assert_eq!(p.a.broadcast.last(), Some(&ours));
    assert!(
        matches!(p.a.persisted.phase, Phase::ForceClosing { .. }),
        "the phase is durable before the broadcast"
    );
    assert!(p
        .a
        .events
        .iter()
        .any(|e| matches!(e, Event::ForceClosed { txid, .. } if *txid == ours.compute_txid())));
    assert!(!p.a.channel.is_usable());
    assert!(matches!(
        p.a.command(force("again")).unwrap_err().error,
        ChannelError::NotNow { .. }
    ));

    // The peer fails the channel in turn, with its own commitment, without answering.
    let theirs = p.b.channel.signed_local_commitment().unwrap().unwrap();
    p.deliver_all();
    assert!(matches!(p.b.channel.phase(), Phase::ForceClosing { tx } if *tx == theirs));
    assert_eq!(p.b.broadcast.last(), Some(&theirs));
    assert!(p.b.outbox.is_empty(), "no error sent back");
}

#[test]
fn a_node_that_is_behind_never_broadcasts() {
    let mut p = behind_pair();
    p.a.outbox.clear();
    p.deliver_one(false).unwrap().unwrap();
    assert!(p.a.channel.state().behind);
    let before = p.a.broadcast.len();
    assert!(matches!(
        p.a.command(force("operator")).unwrap_err().error,
        ChannelError::WeAreBehind(_)
    ));
    let error = Message::Error(ErrorMessage(Diagnostic::new(p.channel_id(), "bye")));
    p.a.handle(Input::Message(error)).unwrap();
    assert_eq!(
        p.a.broadcast.len(),
        before,
        "a revoked commitment is never broadcast"
    );
    assert!(!matches!(p.a.channel.phase(), Phase::ForceClosing { .. }));
}

#[test]
fn a_peer_breach_fails_a_funded_channel_only() {
    // Before funding_signed there is no commitment to put on chain.
    let (opener, _) = crate::channel::Channel::open(
        crate::channel::ChannelConfig::default(),
        keys(1),
        request(Format::Anchors, 0),
    )
    .unwrap();
    assert!(!opener.fails_on_peer_breach());

    let mut p = Pair::open(Format::Anchors, 0);
    assert!(p.a.channel.fails_on_peer_breach());
    p.a.command(force("operator")).unwrap();
    assert!(
        !p.a.channel.fails_on_peer_breach(),
        "already on chain: once only"
    );

    // A channel that is behind never broadcasts, a breach or not.
    let mut p = behind_pair();
    p.deliver_one(false).unwrap().unwrap();
    assert!(p.a.channel.state().behind);
    assert!(!p.a.channel.fails_on_peer_breach());
}
