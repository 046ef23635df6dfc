//! A raw peer holding a real channel sends dust HTLCs past the node's cap and sees them failed
//! back, while the channel stays usable.

use bitcoin::secp256k1::SecretKey;
use chanhub::channel::{Channel, ChannelConfig, Command};
use chanhub::invoice::Invoice;
use chanhub::onion::{build_payment_onion, decrypt_failure, ErrorPacket, Recipient, SharedSecret};
use chanhub::wire::Message;

use crate::common::*;

/// `GET /metrics` of `node` as text.
fn metrics_text(node: &NodeProc) -> String {
    let token = std::fs::read_to_string(node.json["api_token_file"].as_str().unwrap()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, text) = rt
        .block_on(client(node).raw(
            hyper::Method::GET,
            "/metrics",
            Some(token.trim()),
            Vec::new(),
        ))
        .unwrap();
    assert_eq!(status, 200, "{text}");
    text
}

/// The failures the node sent in `ms`: `update_fail_htlc` ids with their reasons, and
/// `update_fail_malformed_htlc` ids.
fn failures(ms: &[Message]) -> (Vec<(u64, Vec<u8>)>, Vec<u64>) {
    let mut fail = Vec::new();
    let mut malformed = Vec::new();
    for m in ms {
        match m {
            Message::UpdateFailHtlc(f) => fail.push((f.id, f.reason.clone())),
            Message::UpdateFailMalformedHtlc(f) => malformed.push(f.id),
            _ => {}
        }
    }
    (fail, malformed)
}

fn fulfilled(ms: &[Message]) -> Vec<u64> {
    ms.iter()
        .filter_map(|m| match m {
            Message::UpdateFulfillHtlc(f) => Some(f.id),
            _ => None,
        })
        .collect()
}

/// An HTLC paying a fresh invoice of `node` for `amount_msat`, straight to it: the command
/// for the peer's channel and the onion's shared secret to read a failure with.
fn payment(node: &NodeProc, amount_msat: u64) -> (Command, Vec<SharedSecret>) {
    let amount = amount_msat.to_string();
    let inv = node.cli_json(&["invoice", "--amount-msat", &amount, "dust test"]);
    let inv = Invoice::parse(inv["bolt11"].as_str().unwrap(), bitcoin::Network::Regtest).unwrap();
    let height = node.cli_json(&["chain", "info"])["block_height"]
        .as_u64()
        .unwrap();
    let expiry = (height + inv.min_final_cltv_expiry_delta() + 20) as u32;
    let recipient = Recipient {
        node_id: inv.payee(),
        amount_msat,
        final_cltv_expiry: expiry,
        payment_secret: Some(inv.payment_secret()),
        total_msat: amount_msat,
        payment_metadata: None,
        keysend_preimage: None,
    };
    let session = SecretKey::new(&mut rand::thread_rng());
    let hash = inv.payment_hash();
    let built = build_payment_onion(&session, &[], &recipient, &hash).unwrap();
    let command = Command::AddHtlc {
        amount_msat,
        payment_hash: hash.0,
        cltv_expiry: expiry,
        onion: built.onion.packet.0.to_vec(),
        extra_fee_msat: None,
    };
    (command, built.onion.shared_secrets)
}

#[test]
fn dust_htlcs_past_the_cap_are_failed_back_and_the_channel_stays_usable() {
    use chanhub::channel::Input;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hub");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("chanhub.toml"),
        "max_dust_htlc_exposure_msat = 3000000\n",
    )
    .unwrap();
    let node = NodeProc::start(&dir, &[]);
    node.cli_json(&["chain", "mine", "101"]);
    wait("the coinbase matures", || node.balance().0 > 0);

    // The peer announces the highest dust limit the node accepts (10 000 sat) and checks no
    // cap of its own: its 2 000 sat HTLCs have an output on the node's commitment but go to
    // miners on its own.
    let lax = ChannelConfig {
        dust_limit_sat: 10_000,
        max_dust_htlc_exposure_msat: u64::MAX,
        ..ChannelConfig::default()
    };
    let (mut peer, channel_id) =
        crate::active_channel_peer(&node, 0x31, lax, 1_000_000, 500_000_000);

    // Four 2 000 sat payments to the node in one commitment: the first fits under the cap and
    // is paid; the other three would take the dust on the peer's commitment over 3 000 000
    // msat: failed back with temporary_channel_failure, the channel untouched.
    let mut secrets = Vec::new();
    for _ in 0..4 {
        let (add, secret) = payment(&node, 2_000_000);
        let out = peer.channel.handle_batched(Input::Command(add)).unwrap();
        peer.execute(out);
        secrets.push(secret);
    }
    peer.handle(Input::SignPending);
    let settled = |c: &Channel| {
        let c = c.state().commitments.as_ref().unwrap();
        c.local.spec.htlcs.is_empty()
            && c.remote.spec.htlcs.is_empty()
            && c.remote_waiting.is_none()
    };
    peer.pump_until_seen("four outcomes", |ms| {
        failures(ms).0.len() + failures(ms).1.len() + fulfilled(ms).len() == 4
    });
    peer.pump_until("the outcomes committed", settled);
    assert_eq!(fulfilled(&peer.received), vec![0], "paid under the cap");
    let (fail, malformed) = failures(&peer.received);
    assert!(malformed.is_empty());
    assert_eq!(fail.iter().map(|f| f.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    for (id, reason) in &fail {
        let why = decrypt_failure(&secrets[*id as usize], &ErrorPacket(reason.clone())).unwrap();
        assert_eq!(why.hop_index, 0);
        assert_eq!(
            why.failure.unwrap().message.name(),
            "temporary_channel_failure"
        );
    }
    assert!(
        !peer.received.iter().any(|m| matches!(m, Message::Error(_))),
        "no channel error"
    );

    // The channel goes on: with the exposure back to zero a dust payment goes through again,
    // and so does one with outputs everywhere.
    for (n, amount) in [(1, 2_000_000), (2, 20_000_000)] {
        peer.received.clear();
        peer.command(payment(&node, amount).0);
        peer.pump_until_seen("a fulfill", |ms| fulfilled(ms).len() == 1);
        peer.pump_until("the fulfill committed", settled);
        assert_eq!(fulfilled(&peer.received), vec![3 + n]);
    }

    let c = node.cli_json(&["channel", &channel_id]);
    assert_eq!(c["state"], "active");
    assert_eq!(c["remote_msat"], 500_000_000 - 24_000_000);
    assert_eq!(c["max_dust_htlc_exposure_msat"], 3_000_000);
    assert_eq!(c["dust_exposure_msat"], 0);
    let shown = String::from_utf8_lossy(&node.cli(&["channel", &channel_id]).stdout).to_string();
    assert!(shown.contains("0 sat (cap 3,000 sat)"), "{shown}");
    let m = metrics_text(&node);
    let sample = format!("chanhub_channel_dust_exposure_msat{{channel_id=\"{channel_id}\"}} 0");
    assert!(m.contains(&sample), "{m}");
    node.stop();
}
