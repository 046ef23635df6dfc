//! Zero-conf and scid-alias channel types (`option_zeroconf`, `option_scid_alias`): negotiated
//! in `open_channel`/`accept_channel`, a zero-conf channel is ready before its funding
//! confirms, and it ends with nothing on chain when that funding is lost (double-spent).

use bitcoin::hashes::Hash;

use crate::channel::testing::harness::*;
use crate::channel::{
    Channel, ChannelConfig, Command, Event, Format, FundingLost, Input, OfferedHtlc, OpenRequest,
    Output, Phase,
};
use crate::wire::{Feature, Features, Message};

fn zero_conf_request() -> OpenRequest {
    OpenRequest {
        scid_alias: true,
        zero_conf: true,
        ..request(Format::Anchors, 0)
    }
}

fn trusting() -> ChannelConfig {
    ChannelConfig {
        accept_zero_conf: true,
        ..config()
    }
}

fn open_channel(req: OpenRequest) -> crate::wire::OpenChannel {
    let (_, out) = Channel::open(config(), keys(1), req).unwrap();
    out.into_iter()
        .find_map(|o| match o {
            Output::Send(Message::OpenChannel(m)) => Some(m),
            _ => None,
        })
        .expect("open_channel")
}

fn accept(config: ChannelConfig, open: &crate::wire::OpenChannel) -> Result<Node, String> {
    Channel::accept(
        config,
        keys(2),
        chain_hash(),
        open,
        shutdown_script(2),
        alias(2),
        true,
    )
    .map(|(ch, out)| Node::new(2, ch, out))
    .map_err(|r| r.error.to_string())
}

#[test]
fn a_zero_conf_channel_is_ready_and_pays_before_its_funding_confirms() {
    let mut p = Pair::fund_request(zero_conf_request(), config(), trusting(), &mut |s, a| {
        (fake_funding_tx(s, a), 1)
    });
    assert!(p.is_normal(), "no FundingConfirmed was ever given");
    for n in [&p.a, &p.b] {
        let setup = &n.channel.state().setup;
        assert!(setup.zero_conf && setup.scid_alias);
        assert_eq!(setup.minimum_depth, 0);
        assert!(n.persisted.setup.zero_conf, "persisted with the type");
    }
    assert_eq!(p.a.channel.remote_alias(), Some(alias(2)));
    assert_eq!(p.b.channel.remote_alias(), Some(alias(1)));
    p.pay(true, 30_000_000, 1);
    p.pay(false, 4_000_000, 2);
    assert!(p.is_normal());
    // Its confirmation later changes nothing.
    p.confirm(1);
    assert!(p.is_normal());
}

#[test]
fn the_acceptor_asks_no_depth_and_echoes_the_type_with_both_bits() {
    let open = open_channel(zero_conf_request());
    let ct = open.tlvs.channel_type.clone().unwrap();
    assert!(ct.requires(Feature::ZeroConf) && ct.requires(Feature::ScidAlias));
    assert!(ct.requires(Feature::AnchorsZeroFeeHtlcTx));
    let mut b = accept(trusting(), &open).unwrap();
    match b.outbox.pop_front() {
        Some(Message::AcceptChannel(m)) => {
            assert_eq!(m.minimum_depth, 0);
            assert_eq!(m.tlvs.channel_type, Some(ct));
        }
        other => panic!("accept_channel, got {other:?}"),
    }
}

#[test]
fn zero_conf_is_refused_from_a_peer_we_do_not_trust() {
    let open = open_channel(zero_conf_request());
    let Err(e) = accept(config(), &open) else {
        panic!("accepted")
    };
    assert!(e.contains("option_zeroconf"), "{e}");
    // The same peer's plain private channel with scid_alias is fine.
    let plain = open_channel(OpenRequest {
        scid_alias: true,
        ..request(Format::StaticRemoteKey, 0)
    });
    let b = accept(config(), &plain).unwrap();
    assert!(b.channel.state().setup.scid_alias);
    assert!(!b.channel.state().setup.zero_conf);
    assert_eq!(
        b.channel.state().setup.minimum_depth,
        config().minimum_depth
    );
}

#[test]
fn types_we_do_not_run_are_refused() {
    let mut open = open_channel(zero_conf_request());
    // Optional bits have no place in a channel type.
    let mut ct = Features::channel_type_anchors();
    ct.set_optional(Feature::ZeroConf);
    open.tlvs.channel_type = Some(ct);
    assert!(accept(trusting(), &open).is_err());
    // scid_alias on an announced channel: BOLT 2 forbids it.
    let mut open = open_channel(OpenRequest {
        scid_alias: true,
        ..request(Format::Anchors, 0)
    });
    open.channel_flags = crate::wire::OpenChannel::ANNOUNCE_CHANNEL;
    assert!(accept(trusting(), &open).is_err());
    let e = Channel::open(
        config(),
        keys(1),
        OpenRequest {
            scid_alias: true,
            announce: true,
            ..request(Format::Anchors, 0)
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("option_scid_alias"), "{e}");
}

#[test]
fn an_acceptor_that_drops_zero_conf_is_refused_by_the_opener() {
    let (ch, out) = Channel::open(config(), keys(1), zero_conf_request()).unwrap();
    let mut a = Node::new(1, ch, out);
    let Some(Message::OpenChannel(open)) = a.outbox.pop_front() else {
        panic!("open_channel first")
    };
    let mut b = accept(trusting(), &open).unwrap();
    let Some(Message::AcceptChannel(mut m)) = b.outbox.pop_front() else {
        panic!("accept_channel")
    };
    m.tlvs.channel_type = Some(Features::channel_type_anchors().with_channel_flags(true, false));
    let got = a.handle(crate::channel::Input::Message(Message::AcceptChannel(m)));
    assert!(got.is_err(), "{got:?}");
    assert_ne!(*a.channel.phase(), Phase::AwaitingFundingTx);
}

fn zero_conf_pair() -> Pair {
    Pair::fund_request(zero_conf_request(), config(), trusting(), &mut |s, a| {
        (fake_funding_tx(s, a), 1)
    })
}

fn double_spent() -> Input {
    Input::FundingLost {
        why: FundingLost::DoubleSpent {
            spending_txid: bitcoin::Txid::from_byte_array([7; 32]),
        },
    }
}

#[test]
fn a_double_spent_funding_aborts_the_channel_and_drops_its_unfulfilled_htlcs() {
    let mut p = zero_conf_pair();
    p.pay(true, 30_000_000, 1);
    // b (the acceptor) forwards two HTLCs to a; a fulfils one before the double spend, and
    // only its `update_fulfill_htlc` reaches b.
    for n in [2, 3] {
        p.b.command(Command::AddHtlc {
            amount_msat: 1_000_000,
            payment_hash: hash_of(&preimage(n)),
            cltv_expiry: 500,
            onion: onion(),
            extra_fee_msat: None,
        })
        .unwrap();
    }
    p.deliver_all();
    let (fulfilled, _, _) = p.a.received_htlcs()[0];
    p.a.command(Command::Fulfill {
        id: fulfilled,
        preimage: preimage(2),
    })
    .unwrap();
    assert!(matches!(
        p.a.outbox.front(),
        Some(Message::UpdateFulfillHtlc(_))
    ));
    p.deliver_one(true).unwrap().unwrap();
    let pending = p.a.received_htlcs()[1].0;
    assert!(matches!(
        p.b.channel.offered_htlc(pending),
        Some(OfferedHtlc::Pending)
    ));

    p.b.outbox.clear();
    p.b.handle(double_spent()).unwrap();
    assert_eq!(*p.b.channel.phase(), Phase::Aborted);
    assert_eq!(p.b.persisted.phase, Phase::Aborted, "persisted");
    assert!(matches!(
        p.b.persisted.funding_lost,
        Some(FundingLost::DoubleSpent { .. })
    ));
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::FundingLost {
            why: FundingLost::DoubleSpent { .. }
        }
    )));
    match p.b.outbox.pop_front() {
        Some(Message::Error(e)) => {
            let text = e.0.printable_data().unwrap().to_string();
            assert!(text.contains("double-spent"), "{text}");
        }
        other => panic!("an error to the peer, got {other:?}"),
    }
    // Nothing to broadcast: no commitment can confirm without its funding.
    assert!(p.b.broadcast.is_empty());
    // The owner fails the unfulfilled HTLC back upstream; the fulfilled one keeps its preimage.
    assert_eq!(p.b.channel.offered_htlc(pending), None);
    assert_eq!(
        p.b.channel.offered_htlc(fulfilled),
        Some(OfferedHtlc::Fulfilled {
            preimage: preimage(2)
        })
    );
    // Said again (the next block) it changes nothing; the channel takes no more HTLCs.
    let before = p.b.channel.state().clone();
    p.b.handle(double_spent()).unwrap();
    assert_eq!(*p.b.channel.state(), before);
    assert!(p
        .b
        .command(Command::AddHtlc {
            amount_msat: 1_000,
            payment_hash: hash_of(&preimage(9)),
            cltv_expiry: 500,
            onion: onion(),
            extra_fee_msat: None,
        })
        .is_err());
    // The state survives a restart as it is.
    p.b.crash_and_restore();
    assert_eq!(*p.b.channel.phase(), Phase::Aborted);
}

#[test]
fn only_the_fundee_gives_up_an_unconfirmed_funding() {
    let mut p = zero_conf_pair();
    let timeout = Input::FundingLost {
        why: FundingLost::Unconfirmed { blocks: 2016 },
    };
    // The opener's own coins are in the funding: it waits for the chain's word.
    assert!(p.a.handle(timeout.clone()).is_err());
    assert!(p.is_normal());
    p.b.handle(timeout).unwrap();
    assert_eq!(*p.b.channel.phase(), Phase::Aborted);
    assert_eq!(
        p.b.channel.state().funding_lost,
        Some(FundingLost::Unconfirmed { blocks: 2016 })
    );
    // The peer's answer to our `error` is its own; a double spend aborts the opener as well.
    p.a.handle(double_spent()).unwrap();
    assert_eq!(*p.a.channel.phase(), Phase::Aborted);
}
