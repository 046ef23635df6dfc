//! Shutdown scripts: only the forms BOLT 2 allows; anything else from the peer is a `warning`
//! that leaves the channel as it was, and closable by us on chain. And the cap on what the
//! opener pays to close.

use bitcoin::hashes::Hash;
use bitcoin::ScriptBuf;

use crate::channel::close::shutdown_script_ok;
use crate::channel::testing::harness::*;
use crate::channel::{ChannelError, Command, Event, Format, Input, Output, Phase};
use crate::wire::{Message, Shutdown, TlvStream};

/// A version opcode then one push of `len` bytes.
fn program(version_op: u8, len: usize) -> ScriptBuf {
    let mut v = vec![version_op, len as u8];
    v.extend(std::iter::repeat(7u8).take(len));
    ScriptBuf::from(v)
}

const OP_0: u8 = 0x00;
const OP_1: u8 = 0x51;
const OP_16: u8 = 0x60;

fn p2pkh() -> ScriptBuf {
    ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array([3; 20]))
}

fn p2sh() -> ScriptBuf {
    ScriptBuf::new_p2sh(&bitcoin::ScriptHash::from_byte_array([3; 20]))
}

#[test]
fn each_form_bolt2_allows_and_nothing_else() {
    // (script, without anysegwit, with anysegwit), as the peer's (legacy forms admitted).
    let cases: Vec<(&str, ScriptBuf, bool, bool)> = vec![
        ("p2wpkh", program(OP_0, 20), true, true),
        ("p2wsh", program(OP_0, 32), true, true),
        ("v0 of 21 bytes", program(OP_0, 21), false, false),
        ("v0 of 2 bytes", program(OP_0, 2), false, false),
        ("v0 of 40 bytes", program(OP_0, 40), false, false),
        ("taproot", program(OP_1, 32), false, true),
        ("v1 of 2 bytes", program(OP_1, 2), false, true),
        ("v16 of 40 bytes", program(OP_16, 40), false, true),
        ("v1 of 1 byte", program(OP_1, 1), false, false),
        ("v1 of 41 bytes", program(OP_1, 41), false, false),
        ("p2pkh", p2pkh(), true, true),
        ("p2sh", p2sh(), true, true),
        (
            "op_return",
            ScriptBuf::from(vec![0x6a, 6, 1, 2, 3, 4, 5, 6]),
            false,
            false,
        ),
        ("bare op_return", ScriptBuf::from(vec![0x6a]), false, false),
        ("empty", ScriptBuf::new(), false, false),
        (
            "p2wpkh and a trailing byte",
            {
                let mut v = program(OP_0, 20).into_bytes();
                v.push(0x51);
                ScriptBuf::from(v)
            },
            false,
            false,
        ),
    ];
    for (what, script, plain, anysegwit) in cases {
        assert_eq!(shutdown_script_ok(&script, false, true), plain, "{what}");
        assert_eq!(shutdown_script_ok(&script, true, true), anysegwit, "{what}");
    }
    // We never send the legacy forms ourselves.
    assert!(!shutdown_script_ok(&p2pkh(), true, false));
    assert!(!shutdown_script_ok(&p2sh(), true, false));
}

fn shutdown(p: &Pair, script: ScriptBuf) -> Message {
    Message::Shutdown(Shutdown {
        channel_id: p.channel_id(),
        scriptpubkey: script,
        extra_tlvs: TlvStream::new(),
    })
}

/// A pair whose connection did not negotiate `option_shutdown_anysegwit`.
fn without_anysegwit() -> Pair {
    let mut p = Pair::open(Format::Anchors, 0);
    p.disconnect();
    p.a.handle(Input::Reconnected { anysegwit: false }).unwrap();
    p.b.handle(Input::Reconnected { anysegwit: false }).unwrap();
    p.deliver_all();
    assert!(p.is_normal());
    p
}

/// The script is refused with a `warning` (never an `error`, which fails the channel), the
/// state is unchanged, and nothing is closed.
fn warned(p: &mut Pair, script: ScriptBuf) {
    let before = p.b.channel.state().clone();
    let m = shutdown(p, script);
    let r = p.b.handle(Input::Message(m)).expect_err("refused");
    assert!(
        matches!(r.error, ChannelError::BadShutdownScript(_)),
        "{:?}",
        r.error
    );
    assert!(matches!(r.outputs[0], Output::Send(Message::Warning(_))));
    assert!(matches!(
        r.outputs[1],
        Output::Event(Event::PeerMisbehaved { fatal: false, .. })
    ));
    assert_eq!(r.outputs.len(), 2);
    assert_eq!(p.b.channel.state(), &before, "state unchanged");
    assert!(matches!(p.b.outbox.pop_back(), Some(Message::Warning(_))));
}

#[test]
fn a_bad_shutdown_script_gets_a_warning_and_no_close() {
    let mut p = without_anysegwit();
    warned(&mut p, program(OP_0, 21));
    warned(&mut p, ScriptBuf::from(vec![0x6a, 6, 1, 2, 3, 4, 5, 6]));
    // Witness v1 only under option_shutdown_anysegwit.
    warned(&mut p, program(OP_1, 32));
    assert!(p.is_normal());
    // The channel still pays, and still closes cooperatively to a good script.
    p.pay(true, 1_000_000, 1);
    let good = shutdown(&p, program(OP_0, 32));
    p.b.handle(Input::Message(good)).unwrap();
    assert_eq!(
        p.b.channel.state().close.remote_script,
        Some(program(OP_0, 32))
    );
}

#[test]
fn taproot_shutdown_under_anysegwit() {
    let mut p = Pair::open(Format::Anchors, 0);
    let taproot = shutdown(&p, program(OP_1, 32));
    p.b.handle(Input::Message(taproot)).unwrap();
    assert_eq!(
        p.b.channel.state().close.remote_script,
        Some(program(OP_1, 32))
    );
}

#[test]
fn our_close_names_only_a_form_we_may_send() {
    let mut p = without_anysegwit();
    for script in [p2pkh(), program(OP_1, 32), program(OP_0, 21)] {
        let r =
            p.a.command(Command::Close {
                script_pubkey: Some(script),
            })
            .expect_err("refused");
        assert!(matches!(r.error, ChannelError::Closing(_)));
        assert!(
            r.outputs.is_empty(),
            "nothing to the peer for our own mistake"
        );
    }
    assert!(p.is_normal());
}

#[test]
fn a_channel_stuck_in_closing_is_still_force_closable() {
    // Our shutdown is out, the peer answers only with a bad script: we stay ShuttingDown.
    let mut p = without_anysegwit();
    p.a.command(Command::Close {
        script_pubkey: None,
    })
    .unwrap();
    p.b.outbox.clear();
    let bad = shutdown(&p, program(OP_0, 21));
    assert!(p.a.handle(Input::Message(bad)).is_err());
    assert_eq!(*p.a.channel.phase(), Phase::ShuttingDown);
    let ours = p.a.channel.signed_local_commitment().unwrap().unwrap();
    p.a.command(Command::ForceClose {
        reason: "close stuck".into(),
    })
    .unwrap();
    assert!(matches!(p.a.channel.phase(), Phase::ForceClosing { tx } if *tx == ours));
    assert_eq!(p.a.broadcast.last(), Some(&ours));

    // A close agreed and broadcast that never confirms: our commitment is still the way out,
    // and if the agreed close confirms after all it is still known as mutual.
    let mut p = Pair::open(Format::Anchors, 0);
    p.a.command(Command::Close {
        script_pubkey: None,
    })
    .unwrap();
    p.deliver_all();
    assert!(matches!(p.a.channel.phase(), Phase::Closing { .. }));
    let closing = p.a.broadcast.last().unwrap().clone();
    let ours = p.a.channel.signed_local_commitment().unwrap().unwrap();
    p.a.command(Command::ForceClose {
        reason: "close does not confirm".into(),
    })
    .unwrap();
    assert!(matches!(p.a.channel.phase(), Phase::ForceClosing { tx } if *tx == ours));
    assert_eq!(p.a.broadcast.last(), Some(&ours));
    p.a.handle(Input::FundingSpent { tx: closing }).unwrap();
    assert_eq!(*p.a.channel.phase(), Phase::Closed);
    assert!(p
        .a
        .events
        .iter()
        .any(|e| matches!(e, Event::ChannelClosed { mutual: true, .. })));
}

/// `a` (the opener, who pays) closes with a peer that asks for at least 10,000 sat/kw; `cap`:
/// the owner's closing feerates for `a`. Returns the pair after the negotiation ran.
fn close_with_a_greedy_peer(cap: Option<(u32, u32)>) -> Pair {
    let mut p = Pair::open(Format::Anchors, 0);
    p.disconnect();
    p.b.edit_stored(|s| s.config.min_feerate_per_kw = 10_000);
    p.b.crash_and_restore();
    p.reconnect();
    p.deliver_all();
    if let Some((target_per_kw, max_per_kw)) = cap {
        p.a.handle(Input::ClosingFeerates {
            target_per_kw,
            max_per_kw,
        })
        .unwrap();
    }
    p.a.command(Command::Close {
        script_pubkey: None,
    })
    .unwrap();
    while let Some(r) = p.deliver_one(true).or_else(|| p.deliver_one(false)) {
        if r.is_err() {
            break;
        }
    }
    p
}

#[test]
fn the_opener_never_pays_more_than_its_closing_cap() {
    // Without a cap the opener pays what the peer asks (up to the 100,000 sat/kw bound).
    let p = close_with_a_greedy_peer(None);
    assert!(matches!(p.a.channel.phase(), Phase::Closing { .. }));

    // Capped at 6,000 sat/kw (3x an estimate of 2,000): no close at the peer's price.
    let p = close_with_a_greedy_peer(Some((2_000, 6_000)));
    let (_, a_max) = p.a.channel.state().close.fee_range.unwrap();
    let (b_min, _) = p.b.channel.state().close.fee_range.unwrap();
    assert!(
        a_max < b_min,
        "a offers at most {a_max} sat, b asks {b_min}"
    );
    // Our offer aims at the estimate: 2,000 sat/kw is a third of the cap.
    let (offer, _) = p.a.channel.state().close.our_offer.unwrap();
    assert!(
        offer * 3 <= a_max + 3 && offer * 3 + 3 >= a_max,
        "{offer} vs {a_max}"
    );
    assert!(!matches!(p.a.channel.phase(), Phase::Closing { .. }));
    for n in [&p.a, &p.b] {
        let agreed = n
            .events
            .iter()
            .any(|e| matches!(e, Event::ClosingAgreed { .. }));
        assert!(!agreed, "nothing agreed");
    }
    assert!(p.b.refusals.iter().any(
        |r| matches!(&r.error, ChannelError::Closing(m) if m.contains("no fee in both ranges"))
    ));
}
