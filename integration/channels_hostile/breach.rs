//! A peer that breaks the channel protocol on a funded channel gets an `error`, and the node
//! fails the channel on chain (BOLT 1): ignoring our `error` does not keep the channel open.

use chanhub::channel::{ChannelConfig, Input, Output};
use chanhub::wire::{Message, TlvStream, UpdateAddHtlc};

use crate::common::*;
use crate::peers_support::*;

#[test]
fn a_protocol_breach_takes_a_funded_channel_on_chain() {
    use crate::peers_support::channel_peer::{open_in_background, raw_tx, ChannelPeer};

    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("hub"), &[]);
    node.cli_json(&["chain", "mine", "101"]);
    wait("the coinbase matures", || node.balance().0 > 0);

    let seed = 0x52;
    let (addr, id) = target(&node.json);
    let raw = RawPeer::connect(&addr, id, seed);
    let peer_id = secret(seed)
        .public_key(&bitcoin::secp256k1::Secp256k1::new())
        .to_string();
    let open = open_in_background(&node.dir, &peer_id, 500_000, 100_000_000);
    let mut peer = ChannelPeer::accept(raw, ChannelConfig::default(), seed);
    let out = open.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let opened: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let channel_id = opened["channel_id"].as_str().unwrap().to_string();
    node.cli_json(&["chain", "mine", "3", "--address", &burn_address()]);
    let funding = raw_tx(&node.json, opened["funding_txid"].as_str().unwrap());
    peer.confirm(funding, 3);
    wait("the channel is active", || {
        node.cli_json(&["channel", &channel_id])["state"] == "active"
    });

    // A well-formed add, but with an HTLC id out of sequence (BOLT 2: ids start at 0 and
    // grow by one): a protocol breach, whatever the peer does next.
    let add = peer
        .channel
        .handle(Input::Command(chanhub::channel::Command::AddHtlc {
            amount_msat: 1_000_000,
            payment_hash: [7; 32],
            cltv_expiry: 1_000,
            onion: vec![0; 1366],
        }))
        .unwrap()
        .into_iter()
        .find_map(|o| match o {
            Output::Send(Message::UpdateAddHtlc(a)) => Some(a),
            _ => None,
        })
        .expect("update_add_htlc");
    peer.raw
        .send_message(&Message::UpdateAddHtlc(UpdateAddHtlc {
            id: add.id + 5,
            extra_tlvs: TlvStream::new(),
            ..add
        }));
    let error = loop {
        match peer.raw.recv() {
            Some(Message::Error(e)) => break e,
            Some(_) => continue,
            None => panic!("the node hung up without an error"),
        }
    };
    let text = error.0.printable_data().unwrap_or_default().to_string();
    assert!(text.contains("HTLC id"), "{text}");

    // The peer never answers; the node does not wait for it: its latest commitment is on its
    // way to the chain.
    wait("the node fails the channel", || {
        node.cli_json(&["channel", &channel_id])["phase"] == "force_closing"
    });
    node.cli_json(&["chain", "mine", "1", "--address", &burn_address()]);
    wait("the commitment confirms", || {
        !node.cli_json(&["channel", &channel_id])["closing_txid"].is_null()
    });
    node.stop();
}
