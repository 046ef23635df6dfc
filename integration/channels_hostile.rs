//! Hostile or wrong opens at the node level: a raw peer sends `open_channel`s that break our
//! limits and gets a clear `error` back while the node carries on; a user's open the wallet
//! cannot fund fails with a clear error and leaves nothing behind on either node.

mod common;
mod peers_support;

use bitcoin::constants::ChainHash;
use bitcoin::hashes::Hash;
use bitcoin::ScriptBuf;
use chanhub::channel::{Channel, ChannelConfig, Format, Input, KeyMaterial, OpenRequest, Output};
use chanhub::keys::{KeysManager, Seed};
use chanhub::wire::{ChannelReady, Message, OpenChannel, Shutdown, TlvStream};
use common::*;
use peers_support::*;

/// An `open_channel` as a peer with lax limits would send it.
fn open_message(funding_sat: u64, push_msat: u64, chain_hash: ChainHash, tmp: u8) -> OpenChannel {
    let km = KeysManager::new(&Seed::from_bytes([7; 32]), bitcoin::Network::Regtest);
    let keys = KeyMaterial::from_channel_keys(&km.channel_keys(u32::from(tmp)).unwrap());
    let lax = ChannelConfig {
        min_funding_sat: 1,
        max_funding_sat: u64::MAX,
        ..ChannelConfig::default()
    };
    let req = OpenRequest {
        chain_hash,
        temporary_channel_id: [tmp; 32],
        funding_sat,
        push_msat,
        feerate_per_kw: 1_000,
        format: Format::Anchors,
        shutdown_script: ScriptBuf::new(),
        announce: false,
        alias: chanhub::channel::random_alias(),
        peer_anysegwit: true,
    };
    let (_, outputs) = Channel::open(lax, keys, req).unwrap();
    outputs
        .into_iter()
        .find_map(|o| match o {
            Output::Send(Message::OpenChannel(m)) => Some(m),
            _ => None,
        })
        .expect("open_channel")
}

/// The node's answer to `open`: the text of its `error`.
fn refusal(peer: &mut RawPeer, open: OpenChannel) -> String {
    let tmp = open.temporary_channel_id;
    peer.send_message(&Message::OpenChannel(open));
    loop {
        match peer.recv() {
            Some(Message::Error(e)) => {
                assert_eq!(e.0.channel_id, tmp, "the error names the channel");
                return e.0.printable_data().unwrap().to_string();
            }
            Some(Message::AcceptChannel(_)) => panic!("a bad open was accepted"),
            Some(_) => continue,
            None => panic!("the node hung up instead of answering"),
        }
    }
}

#[test]
fn bad_opens_from_a_peer_are_refused_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("n"), &[]);
    let (addr, id) = target(&node.json);
    let mut peer = RawPeer::connect(&addr, id, 0x21);

    let cases = [
        (open_message(1_000, 0, ChainHash::REGTEST, 1), "funding"),
        (open_message(1 << 25, 0, ChainHash::REGTEST, 2), "funding"),
        (open_message(100_000, 0, ChainHash::BITCOIN, 3), "chain"),
    ];
    for (open, about) in cases {
        let text = refusal(&mut peer, open);
        assert!(
            text.to_lowercase().contains(about),
            "{text:?} about {about}"
        );
    }
    // A good open from the same connection is still accepted.
    let good = open_message(100_000, 0, ChainHash::REGTEST, 4);
    peer.send_message(&Message::OpenChannel(good));
    loop {
        match peer.recv() {
            Some(Message::AcceptChannel(a)) => {
                assert_eq!(a.temporary_channel_id.0, [4; 32]);
                break;
            }
            Some(Message::Error(e)) => panic!("good open refused: {e:?}"),
            Some(_) => continue,
            None => panic!("connection closed"),
        }
    }
    // The pending channel is listed as opening; the refused ones left nothing.
    let list = node.cli_json(&["channels"]);
    let all = list["channels"].as_array().unwrap();
    assert_eq!(all.len(), 1, "{list:#}");
    assert_eq!(all[0]["state"], "opening");
    assert_eq!(all[0]["capacity_sat"], 100_000);
    node.stop();
}

#[test]
fn an_open_the_wallet_cannot_fund_fails_clearly_and_leaves_nothing_live() {
    let tmp = tempfile::tempdir().unwrap();
    let a = NodeProc::start(&tmp.path().join("a"), &[]);
    let b = NodeProc::start(&tmp.path().join("b"), &[]);
    let uri = format!(
        "{}@{}",
        b.json["node_id"].as_str().unwrap(),
        b.json["peer_addr"].as_str().unwrap()
    );
    let out = a.cli(&["open", &uri, "100000"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("insufficient_funds"), "{err}");

    // Both sides end with no live channel (B's half-open one is closed by A's error).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let live = [&a, &b].iter().any(|n| {
            n.cli_json(&["channels"])["channels"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["state"] != "closed")
        });
        if !live {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", b.log_text());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Unknown channel ids and bad node ids are clear errors through the CLI too.
    let out = a.cli(&["channel", &"00".repeat(32)]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("channel_not_found"));
    let out = a.cli(&["open", "nonsense", "100000"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_node_id"));
    b.stop();
    a.stop();
}

/// Sends what the raw peer's channel says to the node.
fn send_outputs(peer: &mut RawPeer, outputs: Vec<Output>) {
    for o in outputs {
        if let Output::Send(m) = o {
            peer.send_message(&m);
        }
    }
}

/// The next message `want` accepts, skipping the rest (pings, updates); never an `error`.
fn next_of(peer: &mut RawPeer, what: &str, want: impl Fn(&Message) -> bool) -> Message {
    loop {
        match peer.recv() {
            Some(m) if want(&m) => return m,
            Some(Message::Error(e)) => panic!("error while waiting for {what}: {e:?}"),
            Some(_) => continue,
            None => panic!("the node hung up while we waited for {what}"),
        }
    }
}

/// BOLT 2: a `shutdown` script outside the allowed forms (here a v0 witness program of 21
/// bytes, whose closing transaction no node would relay) is answered with a `warning`, not
/// an `error`, and the channel stays as it was: active, and closable by us on chain.
#[test]
fn a_bad_shutdown_script_gets_a_warning_and_the_channel_stays_force_closable() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("n"), &[]);
    let mined = node.cli(&["chain", "mine", "101"]);
    assert!(mined.status.success(), "{}", node.log_text());
    wait("the wallet has mature coins", || node.balance().0 > 0);
    let (addr, id) = target(&node.json);
    let mut peer = RawPeer::connect(&addr, id, 0x23);
    let peer_id = bitcoin::secp256k1::PublicKey::from_secret_key(
        &bitcoin::secp256k1::Secp256k1::new(),
        &secret(0x23),
    );

    // The node opens a channel to the raw peer, which accepts it with a real state machine.
    let dir = node.dir.to_str().unwrap().to_string();
    let opening = std::thread::spawn(move || {
        cli(
            &["--datadir", &dir],
            &["open", &peer_id.to_string(), "200000", "--json"],
        )
    });
    let Message::OpenChannel(open) = next_of(&mut peer, "open_channel", |m| {
        matches!(m, Message::OpenChannel(_))
    }) else {
        unreachable!()
    };
    let km = KeysManager::new(&Seed::from_bytes([8; 32]), bitcoin::Network::Regtest);
    let keys = KeyMaterial::from_channel_keys(&km.channel_keys(0).unwrap());
    let second_point = keys.point(1).unwrap();
    let script = ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([5; 20]));
    let (mut ours, out) = Channel::accept(
        ChannelConfig::default(),
        keys,
        ChainHash::REGTEST,
        &open,
        script,
        chanhub::channel::random_alias(),
        true,
    )
    .map_err(|r| r.error)
    .unwrap();
    send_outputs(&mut peer, out);
    let created = next_of(&mut peer, "funding_created", |m| {
        matches!(m, Message::FundingCreated(_))
    });
    let out = ours.handle(Input::Message(created)).unwrap();
    send_outputs(&mut peer, out);
    let opened = opening.join().unwrap();
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    let opened: serde_json::Value = serde_json::from_slice(&opened.stdout).unwrap();
    let channel_id = opened["channel_id"].as_str().unwrap().to_string();

    // Funding confirms; both sides say channel_ready.
    assert!(node.cli(&["chain", "mine", "3"]).status.success());
    next_of(&mut peer, "channel_ready", |m| {
        matches!(m, Message::ChannelReady(_))
    });
    peer.send_message(&Message::ChannelReady(ChannelReady {
        channel_id: ours.channel_id(),
        second_per_commitment_point: second_point,
        short_channel_id_alias: Some(chanhub::channel::random_alias()),
        extra_tlvs: TlvStream::new(),
    }));
    let state = || node.cli_json(&["channel", &channel_id])["state"].clone();
    wait("the channel is active", || state() == "active");

    // The bad script: a warning, and the channel is untouched.
    let mut bad = vec![0x00, 21];
    bad.extend([7u8; 21]);
    peer.send_message(&Message::Shutdown(Shutdown {
        channel_id: ours.channel_id(),
        scriptpubkey: ScriptBuf::from(bad),
        extra_tlvs: TlvStream::new(),
    }));
    let warning = next_of(&mut peer, "a warning", is_warning);
    let Message::Warning(w) = warning else {
        unreachable!()
    };
    let text = w.0.printable_data().unwrap_or_default().to_string();
    assert!(text.contains("shutdown script"), "{text}");
    assert_eq!(state(), "active");
    // The connection is still up: a ping is answered.
    assert!(peer.ping(4) > 0);

    // We can still take the channel on chain ourselves.
    let closed = node.cli(&["close", &channel_id, "--force"]);
    assert!(
        closed.status.success(),
        "{}",
        String::from_utf8_lossy(&closed.stderr)
    );
    wait("the channel is closing", || state() == "closing");
    node.stop();
}
