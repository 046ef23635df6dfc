//! Hostile or wrong opens at the node level: a raw peer sends `open_channel`s that break our
//! limits and gets a clear `error` back while the node carries on; a user's open the wallet
//! cannot fund fails with a clear error and leaves nothing behind on either node. And a hub
//! under a flood of opens, fee updates, errors and a peer that does not read keeps paying.
//! `dust`: a raw peer holding a real channel sends dust HTLCs past the node's cap; `shutdown`:
//! one names a close script BOLT 2 does not allow; `breach`: one breaks the protocol and the
//! node fails the channel on chain; `zero_conf`: a trusted peer's zero-conf funding, never
//! broadcast, is given up after 2016 blocks.

#[path = "channels_hostile/breach.rs"]
mod breach;
mod channels_support;
mod common;
#[path = "channels_hostile/dust.rs"]
mod dust;
mod peers_support;
#[path = "channels_hostile/shutdown.rs"]
mod shutdown;
#[path = "channels_hostile/zero_conf.rs"]
mod zero_conf;

use bitcoin::constants::ChainHash;
use bitcoin::ScriptBuf;
use chanhub::channel::{Channel, ChannelConfig, Format, KeyMaterial, OpenRequest, Output};
use chanhub::keys::{KeysManager, Seed};
use chanhub::wire::{Message, OpenChannel};
use common::*;
use peers_support::*;

/// A raw peer (`seed`) that accepts a channel `node` opens to it (`capacity_sat`, pushing it
/// `push_msat`), with our own state machine under `config`, confirmed and active on both sides:
/// the peer and the channel's id.
fn active_channel_peer(
    node: &NodeProc,
    seed: u8,
    config: ChannelConfig,
    capacity_sat: u64,
    push_msat: u64,
) -> (peers_support::channel_peer::ChannelPeer, String) {
    use peers_support::channel_peer::{open_in_background, raw_tx, ChannelPeer};
    let (addr, id) = target(&node.json);
    let raw = RawPeer::connect(&addr, id, seed);
    let peer_id = secret(seed)
        .public_key(&bitcoin::secp256k1::Secp256k1::new())
        .to_string();
    let open = open_in_background(&node.dir, &peer_id, capacity_sat, push_msat);
    let mut peer = ChannelPeer::accept(raw, config, seed);
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
    (peer, channel_id)
}

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
        scid_alias: false,
        zero_conf: false,
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

/// A 10,000 msat payment alice → hub → bob; how long it took.
async fn pay_through(
    alice: &channels_support::TestNode,
    bob: &channels_support::TestNode,
) -> std::time::Duration {
    let inv = bob
        .api
        .post(
            "/v1/invoices",
            serde_json::json!({ "amount_msat": 10_000, "description": "flood" }),
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let paid = alice
        .api
        .post(
            "/v1/payments",
            serde_json::json!({ "bolt11": inv["bolt11"] }),
        )
        .await
        .unwrap();
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    started.elapsed()
}

/// Opens from one raw peer, each answered: `Ok` for an `accept_channel`, the error text else.
fn open_all(peer: &mut RawPeer, tmps: &[u8]) -> Vec<Result<(), String>> {
    tmps.iter()
        .map(|t| {
            peer.send_message(&Message::OpenChannel(open_message(
                100_000,
                0,
                ChainHash::REGTEST,
                *t,
            )));
            loop {
                match peer.recv() {
                    Some(Message::AcceptChannel(_)) => return Ok(()),
                    Some(Message::Error(e)) => {
                        return Err(e.0.printable_data().unwrap().to_string())
                    }
                    Some(_) => continue,
                    None => panic!("the node hung up on an open"),
                }
            }
        })
        .collect()
}

/// A funder (node key `0x41`) that opens a 100,000 sat channel to `hub_id`, signs a funding
/// transaction it never broadcasts (its input does not exist) and waits for `funding_signed`;
/// with `zero_conf`, the channel is zero-conf and it sends its `channel_ready` at once.
pub(crate) fn funder_never_broadcasting(
    addr: &str,
    hub_id: bitcoin::secp256k1::PublicKey,
    zero_conf: bool,
) -> RawPeer {
    use chanhub::channel::{Command, Event, Input};
    let mut p = RawPeer::connect(addr, hub_id, 0x41);
    let km = KeysManager::new(&Seed::from_bytes([7; 32]), bitcoin::Network::Regtest);
    let keys = KeyMaterial::from_channel_keys(&km.channel_keys(9).unwrap());
    let req = OpenRequest {
        chain_hash: ChainHash::REGTEST,
        temporary_channel_id: [9; 32],
        funding_sat: 100_000,
        push_msat: 0,
        feerate_per_kw: 1_000,
        format: Format::Anchors,
        shutdown_script: ScriptBuf::new(),
        announce: false,
        alias: chanhub::channel::random_alias(),
        peer_anysegwit: true,
        scid_alias: zero_conf,
        zero_conf,
    };
    let (mut ch, outputs) = Channel::open(ChannelConfig::default(), keys, req).unwrap();
    let sends = |outputs: Vec<Output>| -> Vec<Message> {
        outputs
            .into_iter()
            .filter_map(|o| match o {
                Output::Send(m) => Some(m),
                _ => None,
            })
            .collect()
    };
    for m in sends(outputs) {
        p.send_message(&m);
    }
    let accept = loop {
        match p.recv() {
            Some(m @ Message::AcceptChannel(_)) => break m,
            Some(Message::Error(e)) => panic!("open refused: {e:?}"),
            Some(_) => continue,
            None => panic!("connection closed"),
        }
    };
    let outputs = ch.handle(Input::Message(accept)).unwrap();
    let (script_pubkey, amount_sat) = outputs
        .iter()
        .find_map(|o| match o {
            Output::Event(Event::NeedFunding {
                script_pubkey,
                amount_sat,
            }) => Some((script_pubkey.clone(), *amount_sat)),
            _ => None,
        })
        .expect("NeedFunding");
    let tx = bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: bitcoin::OutPoint::new(
                bitcoin::hashes::Hash::from_byte_array([0x77; 32]),
                0,
            ),
            ..Default::default()
        }],
        output: vec![bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(amount_sat),
            script_pubkey,
        }],
    };
    let outputs = ch
        .handle(Input::Command(Command::FundingTxReady { tx, vout: 0 }))
        .unwrap();
    for m in sends(outputs) {
        p.send_message(&m);
    }
    let signed = loop {
        match p.recv() {
            Some(m @ Message::FundingSigned(_)) => break m,
            Some(Message::Error(e)) => panic!("funding refused: {e:?}"),
            Some(_) => continue,
            None => panic!("connection closed"),
        }
    };
    // A zero-conf opener's `channel_ready` follows `funding_signed` (its broadcast is dropped).
    for m in sends(ch.handle(Input::Message(signed)).unwrap()) {
        p.send_message(&m);
    }
    p
}

async fn hub_channels(hub: &channels_support::TestNode) -> usize {
    hub.api.get("/v1/channels").await.unwrap()["channels"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_opens_fee_updates_errors_and_a_non_reader_leaves_payments_flowing() {
    use channels_support as cs;
    use std::time::{Duration, Instant};
    cs::init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let mut config = cs::node_config(
        &tmp.path().join("hub"),
        None,
        "127.0.0.1:0".parse().unwrap(),
        false,
    );
    config.peers = chanhub::net::PeerLimits {
        max_pending_opens_per_peer: 2,
        max_pending_opens: 3,
        pending_open_timeout: Duration::from_secs(3),
        ..chanhub::net::PeerLimits::default()
    };
    let hub = cs::start_config(config).await;
    let alice = cs::start_payments(&tmp.path().join("alice"), Some(&hub)).await;
    let bob = cs::start_payments(&tmp.path().join("bob"), Some(&hub)).await;
    cs::fund(&hub).await;
    cs::fund(&alice).await;
    cs::open_active(&alice, &hub, 1_000_000, 0, "anchors").await;
    cs::open_active(&hub, &bob, 1_000_000, 0, "static_remotekey").await;
    let deadline = Instant::now() + cs::PATIENCE;
    while bob.node.channels().route_hints().await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "bob knows no route hint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut normal = Duration::ZERO;
    for _ in 0..5 {
        normal = normal.max(pay_through(&alice, &bob).await);
    }
    let addr = hub.peer_addr();
    let hub_id: bitcoin::secp256k1::PublicKey = hub.id().parse().unwrap();

    // Fee updates and errors for channels it does not have, read back in bursts.
    let (a2, id2) = (addr.clone(), hub_id);
    let flooder = tokio::task::spawn_blocking(move || {
        let mut p = RawPeer::connect(&a2, id2, 0x31);
        for round in 0..20u32 {
            for i in 0..100u32 {
                let mut id = [0u8; 32];
                id[..4].copy_from_slice(&(round * 100 + i).to_be_bytes());
                let fee = chanhub::wire::UpdateFee {
                    channel_id: chanhub::wire::ChannelId(id),
                    feerate_per_kw: 253 + i,
                    extra_tlvs: Default::default(),
                };
                p.send_message(&Message::UpdateFee(fee));
                let err = chanhub::wire::ErrorMessage(chanhub::wire::Diagnostic::new(
                    chanhub::wire::ChannelId(id),
                    "go away",
                ));
                p.send_message(&Message::Error(err));
            }
            let mut answered = 0;
            while answered < 100 {
                match p.recv() {
                    Some(Message::Error(_)) => answered += 1,
                    Some(_) => {}
                    None => panic!("the flooder was dropped"),
                }
            }
        }
    });

    // A peer that never reads, with a small receive buffer, makes the hub answer a flood.
    let (a3, id3) = (addr.clone(), hub_id);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(a3.parse().unwrap()).await.unwrap();
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    let deaf_id = secret(0x32).public_key(&bitcoin::secp256k1::Secp256k1::new());
    let deaf = tokio::task::spawn_blocking(move || {
        let mut p = RawPeer::init(
            RawPeer::handshake_on(stream, id3, secret(0x32)),
            ChainHash::REGTEST,
        );
        let fee = chanhub::wire::UpdateFee {
            channel_id: chanhub::wire::ChannelId([9; 32]),
            feerate_per_kw: 253,
            extra_tlvs: Default::default(),
        };
        let bytes = Message::UpdateFee(fee).encode().unwrap();
        let started = Instant::now();
        p.stream
            .set_write_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        for _ in 0..1_000_000 {
            let frame = p.transport.encryptor.encrypt(&bytes).unwrap();
            if std::io::Write::write_all(&mut p.stream, &frame).is_err() {
                return Some(started.elapsed());
            }
        }
        None
    });

    // Opens beyond the limits, and one left behind by a peer that goes away.
    let (a4, id4) = (addr.clone(), hub_id);
    let opener = tokio::task::spawn_blocking(move || {
        let mut x = RawPeer::connect(&a4, id4, 0x33);
        let first = open_all(&mut x, &[1, 2, 3]);
        let mut w = RawPeer::connect(&a4, id4, 0x34);
        let second = open_all(&mut w, &[1, 2]);
        drop(w);
        (x, first, second)
    });

    // Payments go on, at their normal pace, while the flood lasts.
    let mut latencies = Vec::new();
    let mut opener = Some(opener);
    let mut opens = None;
    while opener.is_some() || !(flooder.is_finished() && deaf.is_finished()) || latencies.len() < 10
    {
        latencies.push(pay_through(&alice, &bob).await);
        assert!(latencies.len() < 10_000);
        if opener.as_ref().is_some_and(|o| o.is_finished()) {
            opens = Some(opener.take().unwrap().await.unwrap());
            // w's open went with its connection (x's two wait for their funding).
            let deadline = Instant::now() + Duration::from_secs(2);
            while hub_channels(&hub).await != 4 {
                assert!(
                    Instant::now() < deadline,
                    "the open of a peer that left is kept"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let worst = latencies.iter().max().unwrap();
    assert!(
        *worst < Duration::from_secs(3).max(normal * 10),
        "a payment took {worst:?} under the flood (normal {normal:?}): {latencies:?}"
    );
    flooder.await.unwrap();
    let deaf_after = deaf.await.unwrap();
    assert!(
        deaf_after.is_some(),
        "the non-reading peer was never dropped"
    );
    // The socket closes before the peer's task has left the peer list.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let peers = hub.api.get("/v1/peers").await.unwrap();
        if !peers.to_string().contains(&deaf_id.to_string()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dropped peer stays listed: {peers:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (mut x, first, second) = opens.unwrap();
    assert_eq!(first[..2], [Ok(()), Ok(())]);
    let refused = first[2].as_ref().unwrap_err();
    assert!(
        refused.contains("max_pending_opens_per_peer = 2"),
        "{refused}"
    );
    assert_eq!(second[0], Ok(()));
    let refused = second[1].as_ref().unwrap_err();
    assert!(refused.contains("max_pending_opens = 3"), "{refused}");
    // x's two run out of time and are dropped with an error.
    let mut expired = 0;
    while expired < 2 {
        match x.recv() {
            Some(Message::Error(e)) => {
                let text = e.0.printable_data().unwrap();
                assert!(text.contains("not funded within 3 s"), "{text}");
                expired += 1;
            }
            Some(_) => {}
            None => panic!("the node hung up instead of dropping the opens"),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while hub_channels(&hub).await != 2 {
        assert!(Instant::now() < deadline, "pending opens left behind");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And the limit is free again.
    let again = tokio::task::spawn_blocking(move || open_all(&mut x, &[4]))
        .await
        .unwrap();
    assert_eq!(again, [Ok(())]);
    pay_through(&alice, &bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_fundee_a_funding_never_seen_is_forgotten_after_2016_blocks() {
    use channels_support as cs;
    use std::time::{Duration, Instant};
    cs::init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let hub = cs::start_payments(&tmp.path().join("hub"), None).await;
    let (addr, hub_id) = (hub.peer_addr(), hub.id().parse().unwrap());
    // A funder that signs its funding transaction and never broadcasts it.
    let mut peer =
        tokio::task::spawn_blocking(move || funder_never_broadcasting(&addr, hub_id, false))
            .await
            .unwrap();
    assert_eq!(hub_channels(&hub).await, 1);
    // The count starts at the first block the hub sees with the channel signed.
    hub.mine(1, &cs::burn_address()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for n in [1000, 1000, 15] {
        hub.mine(n, &cs::burn_address()).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(hub_channels(&hub).await, 1, "forgotten before 2016 blocks");
    hub.mine(1, &cs::burn_address()).await;
    let deadline = Instant::now() + cs::PATIENCE;
    while hub_channels(&hub).await != 0 {
        assert!(Instant::now() < deadline, "the unfunded channel is kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let said = tokio::task::spawn_blocking(move || loop {
        match peer.recv() {
            Some(Message::Error(e)) => break e.0.printable_data().unwrap().to_string(),
            Some(_) => continue,
            None => panic!("connection closed"),
        }
    })
    .await
    .unwrap();
    assert!(said.contains("2016 blocks"), "{said}");
}
