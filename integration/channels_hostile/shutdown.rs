//! BOLT 2 shutdown scripts from a raw peer holding a real channel: a form BOLT 2 does not allow
//! gets a `warning`, changes nothing, and the channel stays closable by force.

use bitcoin::constants::ChainHash;
use bitcoin::hashes::Hash;
use bitcoin::ScriptBuf;
use chanhub::channel::{Channel, ChannelConfig, Input, KeyMaterial, Output};
use chanhub::keys::{KeysManager, Seed};
use chanhub::wire::{ChannelReady, Message, Shutdown, TlvStream};

use crate::common::*;
use crate::peers_support::*;

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
