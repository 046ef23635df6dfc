//! Aliases: each side gives the other a `short_channel_id` alias in `channel_ready`.

use crate::channel::testing::harness::*;
use crate::channel::{ChannelState, Format, Input};
use crate::wire::{ChannelReady, Message, ShortChannelId, TlvStream};

#[test]
fn both_sides_learn_each_others_alias_when_opening() {
    let mut p = Pair::fund(Format::Anchors, 0, Default::default(), &mut |s, a| {
        (fake_funding_tx(s, a), 1)
    });
    for n in [&p.a, &p.b] {
        assert_eq!(n.channel.remote_alias(), None, "no channel_ready yet");
    }
    assert_eq!(p.a.channel.local_alias(), Some(alias(1)));
    assert_eq!(p.b.channel.local_alias(), Some(alias(2)));
    p.confirm(3);
    assert!(p.is_normal());
    assert_eq!(p.a.channel.remote_alias(), Some(alias(2)));
    assert_eq!(p.b.channel.remote_alias(), Some(alias(1)));
    // Persisted with the transition that learnt it.
    assert_eq!(p.a.persisted.remote_alias, Some(alias(2)));
    assert_eq!(p.b.persisted.local_alias, Some(alias(2)));
}

#[test]
fn retransmitted_channel_ready_carries_the_alias() {
    let mut p = Pair::open(Format::Anchors, 0);
    p.disconnect();
    p.reconnect();
    // Each side's reestablish makes the other repeat channel_ready (no commitment moved yet).
    for from_a in [true, false] {
        p.deliver_one(from_a).unwrap().unwrap();
    }
    for (n, theirs) in [(&p.a, alias(2)), (&p.b, alias(1))] {
        let readies: Vec<_> = n
            .outbox
            .iter()
            .filter_map(|m| match m {
                Message::ChannelReady(r) => Some(r.short_channel_id_alias),
                _ => None,
            })
            .collect();
        assert_eq!(readies, vec![Some(alias(n.seed))]);
        assert_eq!(n.channel.remote_alias(), Some(theirs));
    }
    p.deliver_all();
    assert!(p.is_normal());
    assert_eq!(p.a.channel.remote_alias(), Some(alias(2)));
    assert_eq!(p.b.channel.remote_alias(), Some(alias(1)));
}

#[test]
fn a_later_channel_ready_replaces_the_alias_and_one_without_keeps_it() {
    let mut p = Pair::open(Format::Anchors, 0);
    p.pay(true, 10_000_000, 1); // past the first commitments
    let ready = |alias| {
        Message::ChannelReady(ChannelReady {
            channel_id: p.channel_id(),
            second_per_commitment_point: keys(1).point(1).unwrap(),
            short_channel_id_alias: alias,
            extra_tlvs: TlvStream::new(),
        })
    };
    let new_alias = ShortChannelId::new(16_500_000, 9, 9).unwrap();
    let (with, without) = (ready(Some(new_alias)), ready(None));
    p.b.handle(Input::Message(with)).unwrap();
    assert_eq!(p.b.channel.remote_alias(), Some(new_alias));
    assert_eq!(p.b.persisted.remote_alias, Some(new_alias));
    p.b.handle(Input::Message(without)).unwrap();
    assert_eq!(p.b.channel.remote_alias(), Some(new_alias));
    assert!(p.is_normal());
}

#[test]
fn a_state_persisted_before_aliases_still_loads() {
    let p = Pair::open(Format::Anchors, 0);
    let mut json = serde_json::to_value(p.a.channel.state()).unwrap();
    let obj = json.as_object_mut().unwrap();
    assert!(obj.remove("local_alias").is_some());
    assert!(obj.remove("remote_alias").is_some());
    let old: ChannelState = serde_json::from_value(json).unwrap();
    assert_eq!(old.local_alias, None);
    assert_eq!(old.remote_alias, None);
    // Aliases are stored as plain numbers.
    let json = serde_json::to_value(p.a.channel.state()).unwrap();
    assert_eq!(json["local_alias"], serde_json::json!(alias(1).0));
}

#[test]
fn random_aliases_are_in_the_alias_range() {
    for _ in 0..100 {
        let a = crate::channel::random_alias();
        assert!(
            (crate::channel::ALIAS_MIN_BLOCK..=crate::channel::ALIAS_MAX_BLOCK)
                .contains(&a.block())
        );
    }
    assert_ne!(
        crate::channel::random_alias(),
        crate::channel::random_alias()
    );
}
