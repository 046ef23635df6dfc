//! A peer that breaks the channel protocol on a funded channel gets an `error`, and the node
//! fails the channel on chain (BOLT 1): ignoring our `error` does not keep the channel open.

use chanhub::channel::{ChannelConfig, Input, Output};
use chanhub::wire::{Message, TlvStream, UpdateAddHtlc};

use crate::common::*;

#[test]
fn a_protocol_breach_takes_a_funded_channel_on_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("hub"), &[]);
    node.cli_json(&["chain", "mine", "101"]);
    wait("the coinbase matures", || node.balance().0 > 0);

    let (mut peer, channel_id) =
        crate::active_channel_peer(&node, 0x52, ChannelConfig::default(), 500_000, 100_000_000);

    // A well-formed add, but with an HTLC id out of sequence (BOLT 2: ids start at 0 and
    // grow by one): a protocol breach, whatever the peer does next.
    let add = peer
        .channel
        .handle(Input::Command(chanhub::channel::Command::AddHtlc {
            amount_msat: 1_000_000,
            payment_hash: [7; 32],
            cltv_expiry: 1_000,
            onion: vec![0; 1366],
            extra_fee_msat: None,
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
