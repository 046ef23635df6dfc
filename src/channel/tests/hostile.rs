//! A hostile peer: every refused message leaves the state as it was, answers with `error` and
//! tells the user.

use bitcoin::secp256k1::{Message as SecpMessage, SecretKey};
use bitcoin::OutPoint;

use crate::bolt3::secp;
use crate::channel::commitments::sign_remote;
use crate::channel::testing::harness::*;
use crate::channel::{
    Channel, ChannelConfig, ChannelError, Command, Event, Format, Input, Output, Spec,
};
use crate::wire::{
    ChannelId, ChannelReestablish, Feature, Features, FundingCreated, Message, Shutdown, TlvStream,
    UpdateAddHtlc, UpdateFulfillHtlc,
};

/// Deliver `m` to `node`, expect a refusal matching `check`, an `error` to the peer, an event,
/// and an unchanged state.
fn refused(node: &mut Node, m: Message, check: impl Fn(&ChannelError) -> bool) {
    let before = node.channel.state().clone();
    let r = node.handle(Input::Message(m)).expect_err("must be refused");
    assert!(check(&r.error), "unexpected error {:?}", r.error);
    assert!(matches!(r.outputs[0], Output::Send(Message::Error(_))));
    assert!(matches!(
        r.outputs[1],
        Output::Event(Event::PeerMisbehaved { fatal: true, .. })
    ));
    assert_eq!(node.channel.state(), &before, "state unchanged");
    // The `error` would make an honest peer fail the channel on chain; these tests go on
    // probing the same channel, so it is not delivered.
    assert!(matches!(node.outbox.pop_back(), Some(Message::Error(_))));
}

fn add(cid: ChannelId, id: u64, amount_msat: u64, cltv_expiry: u32) -> Message {
    Message::UpdateAddHtlc(UpdateAddHtlc {
        channel_id: cid,
        id,
        amount_msat,
        payment_hash: hash_of(&preimage(id)),
        cltv_expiry,
        onion_routing_packet: crate::wire::OnionPacket(Box::new(
            [0; crate::wire::types::ONION_PACKET_LEN],
        )),
        blinding_point: None,
        extra_tlvs: TlvStream::new(),
    })
}

fn other_sig() -> bitcoin::secp256k1::ecdsa::Signature {
    let k = SecretKey::from_slice(&[0x42; 32]).unwrap();
    secp().sign_ecdsa(&SecpMessage::from_digest([1; 32]), &k)
}

/// `a` offers a non-dust HTLC; returns the add and the commitment_signed, undelivered.
fn offered(p: &mut Pair) -> (Message, crate::wire::CommitmentSigned) {
    p.a.command(Command::AddHtlc {
        amount_msat: 20_000_000,
        payment_hash: hash_of(&preimage(1)),
        cltv_expiry: 600,
        onion: onion(),
        extra_fee_msat: None,
    })
    .unwrap();
    let add = p.a.outbox.pop_front().unwrap();
    let Some(Message::CommitmentSigned(cs)) = p.a.outbox.pop_front() else {
        panic!("commitment_signed follows")
    };
    (add, cs)
}

/// Many HTLCs on one commitment: a bad signature among them is named by its index, and the
/// honest commitment still verifies.
#[test]
fn a_bad_htlc_signature_among_many_is_named() {
    let mut p = Pair::open(Format::Anchors, 0);
    for n in 1..=15 {
        super::onchain::offer(&mut p, true, 2_000_000 + n * 1_000, n);
    }
    let (add, cs) = offered(&mut p);
    assert_eq!(cs.htlc_signatures.len(), 16);
    p.b.handle(Input::Message(add)).unwrap();
    for index in [0, 11, 15] {
        let mut bad = cs.clone();
        bad.htlc_signatures[index] = cs.signature;
        refused(
            &mut p.b,
            bad.clone().into(),
            |e| matches!(e, ChannelError::BadHtlcSignature { index: i, .. } if *i == index),
        );
    }
    p.b.handle(Input::Message(cs.into())).unwrap();
    p.deliver_all();
    p.assert_agree();
}

#[test]
fn bad_commitment_and_htlc_signatures() {
    let mut p = Pair::open(Format::Anchors, 0);
    let (add, cs) = offered(&mut p);
    p.b.handle(Input::Message(add)).unwrap();
    let mut bad = cs.clone();
    bad.signature = other_sig();
    refused(&mut p.b, bad.into(), |e| {
        matches!(
            e,
            ChannelError::BadCommitmentSignature {
                commitment_number: 1
            }
        )
    });
    let mut bad = cs.clone();
    bad.htlc_signatures[0] = cs.signature;
    refused(&mut p.b, bad.into(), |e| {
        matches!(e, ChannelError::BadHtlcSignature { index: 0, .. })
    });
    let mut bad = cs.clone();
    bad.htlc_signatures.clear();
    refused(&mut p.b, bad.into(), |e| {
        matches!(
            e,
            ChannelError::HtlcSignatureCount {
                expected: 1,
                got: 0
            }
        )
    });
    // The genuine one still goes through.
    p.b.handle(Input::Message(cs.into())).unwrap();
}

#[test]
fn wrong_revocation_secret_and_unexpected_revocation() {
    let mut p = Pair::open(Format::StaticRemoteKey, 0);
    let (add, cs) = offered(&mut p);
    p.b.handle(Input::Message(add)).unwrap();
    p.b.handle(Input::Message(cs.into())).unwrap();
    let Some(Message::RevokeAndAck(raa)) = p.b.outbox.pop_front() else {
        panic!("revoke_and_ack")
    };
    let mut bad = raa.clone();
    bad.per_commitment_secret = [7; 32];
    refused(&mut p.a, bad.into(), |e| {
        matches!(
            e,
            ChannelError::BadRevocation {
                commitment_number: 0,
                ..
            }
        )
    });
    p.a.handle(Input::Message(raa.clone().into())).unwrap();
    refused(&mut p.a, raa.into(), |e| {
        matches!(e, ChannelError::UnexpectedMessage { .. })
    });
}

#[test]
fn htlcs_over_our_limits() {
    let config = ChannelConfig {
        max_accepted_htlcs: 2,
        max_in_flight_percent: 10,
        ..Default::default()
    };
    let mut p = Pair::fund(Format::Anchors, 0, config, &mut |s, a| {
        (fake_funding_tx(s, a), 1)
    });
    p.confirm(3);
    let cid = p.channel_id();
    let limit = |e: &ChannelError| matches!(e, ChannelError::HtlcLimit(_));
    refused(&mut p.b, add(cid, 0, 0, 600), limit);
    refused(&mut p.b, add(cid, 0, 5_000, 500_000_000), limit);
    refused(&mut p.b, add(cid, 0, 100_000_001, 600), limit); // 10% in flight
    refused(&mut p.b, add(cid, 1, 5_000, 600), |e| {
        matches!(
            e,
            ChannelError::HtlcIdOutOfOrder {
                expected: 0,
                got: 1
            }
        )
    });
    p.b.handle(Input::Message(add(cid, 0, 1_000_000, 600)))
        .unwrap();
    p.b.handle(Input::Message(add(cid, 1, 1_000_000, 600)))
        .unwrap();
    refused(&mut p.b, add(cid, 2, 1_000_000, 600), limit); // a third: count
}

#[test]
fn htlc_over_the_dust_exposure_cap_is_failed_not_the_channel() {
    // Trimmed HTLCs adding up to more than the cap: the cap is our policy, which the peer does
    // not know, so the HTLC is accepted into the commitment and handed back for failing.
    let mut p = Pair::open(Format::Anchors, 0);
    for n in 0..10u64 {
        p.a.channel
            .handle(Input::Command(Command::AddHtlc {
                amount_msat: 540_000,
                payment_hash: hash_of(&preimage(n)),
                cltv_expiry: 600,
                onion: onion(),
                extra_fee_msat: None,
            }))
            .map(|out| p.a.absorb(out, usize::MAX))
            .ok();
    }
    // Our own adds stop at the cap: a sent nine.
    assert_eq!(
        p.a.events
            .iter()
            .filter(|e| matches!(e, Event::HtlcOffered { .. }))
            .count(),
        9
    );
    let cid = p.channel_id();
    p.deliver_all();
    // A peer with a laxer policy sends a tenth.
    p.b.handle(Input::Message(add(cid, 9, 540_000, 600)))
        .unwrap();
    assert_eq!(
        p.b.channel
            .state()
            .commitments
            .as_ref()
            .unwrap()
            .dust_rejects,
        vec![9]
    );
    assert_eq!(p.b.received_htlcs().len(), 9);
    assert!(
        p.b.outbox.is_empty() && p.b.refusals.is_empty(),
        "no error for the peer"
    );
}

#[test]
fn htlc_breaking_the_reserve_is_refused() {
    // b (not the opener) owns 50_000 sat and must keep 1% (10_000 sat) in reserve.
    let mut p = Pair::open(Format::StaticRemoteKey, 50_000_000);
    let cid = p.channel_id();
    refused(&mut p.a, add(cid, 0, 40_000_001, 600), |e| {
        matches!(e, ChannelError::HtlcLimit(_))
    });
    p.a.handle(Input::Message(add(cid, 0, 40_000_000, 600)))
        .unwrap();
    // Our own commands are held to the peer's limits the same way.
    let r = p.b.command(Command::AddHtlc {
        amount_msat: 40_000_001,
        payment_hash: [0; 32],
        cltv_expiry: 600,
        onion: onion(),
        extra_fee_msat: None,
    });
    assert!(matches!(r.unwrap_err().error, ChannelError::HtlcLimit(_)));
}

#[test]
fn fulfill_with_wrong_preimage_or_unknown_htlc() {
    let mut p = Pair::open(Format::Anchors, 0);
    p.a.command(Command::AddHtlc {
        amount_msat: 2_000_000,
        payment_hash: hash_of(&preimage(1)),
        cltv_expiry: 600,
        onion: onion(),
        extra_fee_msat: None,
    })
    .unwrap();
    let cid = p.channel_id();
    let fulfill = |id, pre| {
        Message::UpdateFulfillHtlc(UpdateFulfillHtlc {
            channel_id: cid,
            id,
            payment_preimage: pre,
            extra_tlvs: TlvStream::new(),
        })
    };
    // Not yet committed: a removal must name a committed HTLC.
    refused(&mut p.a, fulfill(0, preimage(1)), |e| {
        matches!(e, ChannelError::UnknownHtlc { id: 0 })
    });
    p.deliver_all();
    refused(&mut p.a, fulfill(0, preimage(2)), |e| {
        matches!(e, ChannelError::BadPreimage { id: 0 })
    });
    refused(&mut p.a, fulfill(5, preimage(1)), |e| {
        matches!(e, ChannelError::UnknownHtlc { id: 5 })
    });
    p.a.handle(Input::Message(fulfill(0, preimage(1)))).unwrap();
    refused(&mut p.a, fulfill(0, preimage(1)), |e| {
        matches!(e, ChannelError::UnknownHtlc { id: 0 })
    });
}

#[test]
fn update_after_shutdown_is_refused() {
    let mut p = Pair::open(Format::Anchors, 0);
    let cid = p.channel_id();
    // An HTLC in flight keeps the channel shutting down rather than negotiating.
    p.a.command(Command::AddHtlc {
        amount_msat: 1_000_000,
        payment_hash: [1; 32],
        cltv_expiry: 600,
        onion: onion(),
        extra_fee_msat: None,
    })
    .unwrap();
    p.deliver_all();
    p.b.handle(Input::Message(Message::Shutdown(Shutdown {
        channel_id: cid,
        scriptpubkey: shutdown_script(1),
        extra_tlvs: TlvStream::new(),
    })))
    .unwrap();
    refused(&mut p.b, add(cid, 1, 1_000_000, 600), |e| {
        matches!(e, ChannelError::AfterShutdown(_))
    });
}

#[test]
fn reestablish_with_wrong_numbers_or_secret() {
    let mut p = Pair::open(Format::Anchors, 0);
    p.pay(true, 1_000_000, 1);
    p.disconnect();
    p.reconnect();
    let Some(Message::ChannelReestablish(good)) = p.a.outbox.pop_front() else {
        panic!("reestablish")
    };
    let mut bad = good.clone();
    bad.next_commitment_number += 5;
    refused(&mut p.b, bad.into(), |e| {
        matches!(e, ChannelError::Reestablish(_))
    });
    let mut bad: ChannelReestablish = good.clone();
    bad.your_last_per_commitment_secret = [1; 32];
    refused(&mut p.b, bad.into(), |e| {
        matches!(e, ChannelError::Reestablish(_))
    });
    p.b.handle(Input::Message(good.into())).unwrap();
}

#[test]
fn peer_proving_we_are_behind_freezes_our_commitment() {
    let mut p = Pair::open(Format::Anchors, 0);
    let old = p.a.channel.state().clone();
    p.pay(true, 1_000_000, 1);
    p.pay(true, 1_000_000, 2);
    p.disconnect();
    // a comes back from an old backup.
    let (ch, out) = Channel::restore(old, keys(1)).unwrap();
    p.a.channel = ch;
    p.a.absorb(out, usize::MAX);
    p.reconnect();
    p.a.outbox.clear();
    p.deliver_one(false).unwrap().unwrap();
    assert!(p.a.channel.state().behind);
    assert!(p
        .a
        .events
        .iter()
        .any(|e| matches!(e, Event::WeAreBehind { .. })));
    assert_eq!(p.a.channel.signed_local_commitment().unwrap(), None);
    // Nothing sent that could be penalised: only the `error` asking the peer to close.
    assert_eq!(p.a.outbox.len(), 1, "{:?}", p.a.outbox);
    assert!(matches!(p.a.outbox[0], Message::Error(_)));
}

#[test]
fn funding_output_with_wrong_amount_or_script() {
    for wrong_amount in [true, false] {
        let config = ChannelConfig::default();
        let (ch, out) =
            Channel::open(config.clone(), keys(1), request(Format::Anchors, 0)).unwrap();
        let mut a = Node::new(1, ch, out);
        let Some(Message::OpenChannel(open)) = a.outbox.pop_front() else {
            panic!()
        };
        let (ch, out) = Channel::accept(
            config,
            keys(2),
            chain_hash(),
            &open,
            shutdown_script(2),
            alias(2),
            true,
        )
        .unwrap();
        let mut b = Node::new(2, ch, out);
        let accept = b.outbox.pop_front().unwrap();
        a.handle(Input::Message(accept)).unwrap();
        let script = a
            .events
            .iter()
            .find_map(|e| match e {
                Event::NeedFunding { script_pubkey, .. } => Some(script_pubkey.clone()),
                _ => None,
            })
            .unwrap();
        // The hostile opener names a transaction that does not pay the channel as agreed,
        // and signs the acceptor's commitment for it.
        let tx = if wrong_amount {
            fake_funding_tx(script, FUNDING_SAT - 1)
        } else {
            fake_funding_tx(shutdown_script(3), FUNDING_SAT)
        };
        let mut setup = a.channel.state().setup.clone();
        setup.funding_outpoint = Some(OutPoint::new(tx.compute_txid(), 1));
        let spec = Spec {
            local_msat: FUNDING_SAT * 1000,
            remote_msat: 0,
            htlcs: vec![],
            feerate_per_kw: 1000,
        };
        let point = setup.remote_first_point.unwrap();
        let (sig, _) = sign_remote(&keys(1), &setup, &spec, 0, &point).unwrap();
        b.handle(Input::Message(Message::FundingCreated(FundingCreated {
            temporary_channel_id: ChannelId([0x11; 32]),
            funding_txid: tx.compute_txid(),
            funding_output_index: 1,
            signature: sig,
            extra_tlvs: TlvStream::new(),
        })))
        .unwrap();
        let before = b.channel.state().clone();
        b.outbox.clear();
        let r = b
            .handle(Input::FundingConfirmed { depth: 6, tx })
            .unwrap_err();
        assert!(
            matches!(r.error, ChannelError::BadFundingOutput(_)),
            "{:?}",
            r.error
        );
        assert_eq!(b.channel.state(), &before);
        assert!(
            matches!(b.outbox.pop_front(), Some(Message::Error(_))),
            "error, never channel_ready"
        );
        assert!(b.outbox.is_empty());
    }
}

#[test]
fn open_breaking_our_limits_is_refused() {
    let (ch, out) = Channel::open(
        ChannelConfig::default(),
        keys(1),
        request(Format::Anchors, 0),
    )
    .unwrap();
    let mut a = Node::new(1, ch, out);
    let Some(Message::OpenChannel(good)) = a.outbox.pop_front() else {
        panic!()
    };
    type Mutation = Box<dyn Fn(&mut crate::wire::OpenChannel)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("dust too low", Box::new(|o| o.dust_limit_satoshis = 100)),
        (
            "dust too high",
            Box::new(|o| o.dust_limit_satoshis = 50_000),
        ),
        (
            "reserve too high",
            Box::new(|o| o.channel_reserve_satoshis = 500_000),
        ),
        ("delay too long", Box::new(|o| o.to_self_delay = 5_000)),
        ("too many htlcs", Box::new(|o| o.max_accepted_htlcs = 484)),
        ("no htlcs", Box::new(|o| o.max_accepted_htlcs = 0)),
        ("small funding", Box::new(|o| o.funding_satoshis = 1_000)),
        ("feerate", Box::new(|o| o.feerate_per_kw = 100)),
        ("push", Box::new(|o| o.push_msat = FUNDING_SAT * 1000 + 1)),
        ("no type", Box::new(|o| o.tlvs.channel_type = None)),
        (
            "upfront script not a close script",
            Box::new(|o| {
                o.tlvs.upfront_shutdown_script = Some(bitcoin::ScriptBuf::from(vec![0x6a]))
            }),
        ),
        (
            "legacy type",
            Box::new(|o| o.tlvs.channel_type = Some(crate::wire::Features::empty())),
        ),
    ];
    for (what, mutate) in cases {
        let mut open = good.clone();
        mutate(&mut open);
        let r = Channel::accept(
            ChannelConfig::default(),
            keys(2),
            chain_hash(),
            &open,
            shutdown_script(2),
            alias(2),
            true,
        )
        .expect_err(what);
        assert!(
            matches!(r.outputs[0], Output::Send(Message::Error(_))),
            "{what}"
        );
        assert!(
            matches!(r.outputs[1], Output::Event(Event::OpenFailed { .. })),
            "{what}"
        );
    }
    let ok = Channel::accept(
        ChannelConfig::default(),
        keys(2),
        chain_hash(),
        &good,
        shutdown_script(2),
        alias(2),
        true,
    );
    assert!(ok.is_ok());
}

/// BOLT 2 `option_upfront_shutdown_script`: both our `open_channel` and `accept_channel` carry
/// the record (empty: we commit to no script), which LDK requires once both sides advertise
/// the feature; a script the peer commits to binds its `shutdown`.
#[test]
fn upfront_shutdown_script_is_sent_empty_and_binds_the_peer() {
    let config = ChannelConfig::default();
    let (ch, out) = Channel::open(config.clone(), keys(1), request(Format::Anchors, 0)).unwrap();
    let mut a = Node::new(1, ch, out);
    let Some(Message::OpenChannel(mut open)) = a.outbox.pop_front() else {
        panic!("open_channel")
    };
    assert_eq!(
        open.tlvs.upfront_shutdown_script,
        Some(bitcoin::ScriptBuf::new())
    );
    open.tlvs.upfront_shutdown_script = Some(shutdown_script(7));
    let (ch, out) = Channel::accept(
        config,
        keys(2),
        chain_hash(),
        &open,
        shutdown_script(2),
        alias(2),
        true,
    )
    .unwrap();
    let mut b = Node::new(2, ch, out);
    let Some(Message::AcceptChannel(accept)) = b.outbox.pop_front() else {
        panic!("accept_channel")
    };
    assert_eq!(
        accept.tlvs.upfront_shutdown_script,
        Some(bitcoin::ScriptBuf::new())
    );
    assert_eq!(
        b.channel.state().setup.remote_upfront_script,
        Some(shutdown_script(7))
    );
    // The opener learns the acceptor's (empty) commitment too.
    a.handle(Input::Message(accept.into())).unwrap();
    assert_eq!(a.channel.state().setup.remote_upfront_script, None);

    // In a running channel whose peer committed to script 7, a `shutdown` naming another
    // script is refused and the committed one is accepted.
    let mut p = Pair::open(Format::Anchors, 0);
    let cid = p.channel_id();
    p.b.edit_stored(|s| s.setup.remote_upfront_script = Some(shutdown_script(7)));
    p.b.crash_and_restore();
    let shutdown = |seed| {
        Message::Shutdown(Shutdown {
            channel_id: cid,
            scriptpubkey: shutdown_script(seed),
            extra_tlvs: TlvStream::new(),
        })
    };
    refused(
        &mut p.b,
        shutdown(8),
        |e| matches!(e, ChannelError::Closing(m) if m.contains("upfront")),
    );
    p.b.handle(Input::Message(shutdown(7))).unwrap();
    assert_eq!(
        p.b.channel.state().close.remote_script,
        Some(shutdown_script(7))
    );
}

/// An announced open sets `announce_channel`, and the acceptor records it; a channel type with
/// `option_scid_alias` is never combined with it (BOLT 2), on either side.
#[test]
fn announced_opens_are_recorded_and_never_scid_alias() {
    let mut req = request(Format::Anchors, 0);
    req.announce = true;
    let (ch, out) = Channel::open(ChannelConfig::default(), keys(1), req).unwrap();
    assert!(ch.state().setup.announce);
    let mut a = Node::new(1, ch, out);
    let Some(Message::OpenChannel(open)) = a.outbox.pop_front() else {
        panic!("open_channel first")
    };
    assert!(open.announce_channel());
    let accept = |open: &crate::wire::OpenChannel| {
        Channel::accept(
            ChannelConfig::default(),
            keys(2),
            chain_hash(),
            open,
            shutdown_script(2),
            alias(2),
            true,
        )
    };
    let (b, _) = accept(&open).unwrap();
    assert!(b.state().setup.announce, "the acceptor records it");

    let mut with_alias = open.clone();
    let mut ct = Features::channel_type_anchors();
    ct.set_required(Feature::ScidAlias);
    with_alias.tlvs.channel_type = Some(ct);
    let r = accept(&with_alias).expect_err("scid_alias with announce_channel");
    assert!(matches!(
        r.error,
        ChannelError::UnsupportedChannelType(ref m) if m.contains("announce_channel")
    ));
}
