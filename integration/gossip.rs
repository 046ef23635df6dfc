//! BOLT 7 between `chanhub node` processes on one embedded chain, through the CLI: two hubs
//! announce the channel between them, a third node that shares no channel with them learns
//! both announcements and both directions' updates by gossip alone, keeps them across a
//! restart, and hears a policy change relayed.

mod common;
mod peers_support;

use common::*;
use serde_json::Value;

/// Gossip goes out every second (the stagger is 60 s by default).
fn configure(dir: &std::path::Path, alias: &str, color: &str, port: u16) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("chanhub.toml"),
        format!(
            "alias = \"{alias}\"\ncolor = \"{color}\"\nannounce_addr = [\"127.0.0.1:{port}\"]\n\
             sync_interval_ms = 200\n[gossip]\nstagger_secs = 1\n"
        ),
    )
    .unwrap();
}

fn graph(n: &NodeProc) -> Value {
    n.cli_json(&["graph"])
}

fn id(n: &NodeProc) -> String {
    n.json["node_id"].as_str().unwrap().to_string()
}

/// Both directions' policies of `scid` as `n` knows them.
fn policies(n: &NodeProc, scid: &str) -> (Value, Value) {
    let c = n.cli_json(&["graph", "channel", scid]);
    (c["node1_policy"].clone(), c["node2_policy"].clone())
}

#[test]
fn two_hubs_announce_and_a_third_node_learns_the_graph_by_gossip_alone() {
    let tmp = test_dir();
    let (dir_a, dir_b, dir_c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let (port_a, port_b, port_c) = (free_port(), free_port(), free_port());
    configure(&dir_a, "hub-a", "#aa0000", port_a);
    configure(&dir_b, "hub-b", "#00bb00", port_b);
    configure(&dir_c, "watcher", "#0000cc", port_c);
    let a = NodeProc::start(&dir_a, &["--listen", &format!("127.0.0.1:{port_a}")]);
    let b = start_follower(&dir_b, &a, port_b);
    let c = start_follower(&dir_c, &a, port_c);

    let addr = a.new_address();
    a.cli_json(&["chain", "mine", "1", "--address", &addr]);
    a.cli_json(&["chain", "mine", "100", "--address", &burn_address()]);
    let b_uri = format!("{}@127.0.0.1:{port_b}", id(&b));
    let opened = a.cli_json(&["open", &b_uri, "500000", "--announce"]);
    let channel_id = opened["channel_id"].as_str().unwrap().to_string();
    assert_eq!(a.cli_json(&["channel", &channel_id])["announce"], true);
    // Ready at 3 confirmations; announced at 6.
    a.cli_json(&["chain", "mine", "6", "--address", &burn_address()]);

    // Each hub assembles the announcement with the other's signatures and learns the other's
    // update and node announcement from it.
    let mut scid = String::new();
    for hub in [&a, &b] {
        wait("the hub's own public channel in its graph", || {
            let g = graph(hub);
            g["channel_count"] == 1 && g["node_count"] == 2 && g["announced_node_count"] == 2
        });
        let g = graph(hub);
        assert_eq!(g["node"]["node_id"], id(hub));
        let ours = &g["channels"][0];
        scid = ours["short_channel_id"].as_u64().unwrap().to_string();
        assert_eq!(ours["capacity_sat"], 500_000);
        wait("both directions' updates", || {
            let (p1, p2) = policies(hub, &scid);
            !p1.is_null() && !p2.is_null()
        });
    }
    // The channel JSON names the real scid once public; `BLOCKxTXxOUT` finds it too.
    let by_str = a.cli_json(&["graph", "channel", &scid])["short_channel_id_str"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        a.cli_json(&["graph", "channel", &by_str])["short_channel_id"]
            .as_u64()
            .unwrap()
            .to_string(),
        scid
    );

    // The third node knows nobody's channels: it connects to A only, and learns everything.
    assert_eq!(graph(&c)["channel_count"], 0);
    c.cli_json(&["connect", &format!("{}@127.0.0.1:{port_a}", id(&a))]);
    wait("the watcher learns the channel and both nodes", || {
        let g = graph(&c);
        g["channel_count"] == 1 && g["announced_node_count"] == 2
    });
    wait("and both directions' updates", || {
        let (p1, p2) = policies(&c, &scid);
        !p1.is_null() && !p2.is_null()
    });
    // It learnt them by syncing with A (a range query, then the ids it lacked).
    wait("the watcher's sync with A completes", || {
        metrics(&c)
            .get("chanhub_gossip_syncs_total{outcome=\"completed\"}")
            .is_some_and(|n| *n >= 1.0)
    });
    let m = metrics(&c);
    assert_eq!(m["chanhub_graph_channels"], 1.0);
    assert_eq!(m["chanhub_graph_nodes"], 2.0);
    let node_b = c.cli_json(&["graph", "node", &id(&b)]);
    assert_eq!(node_b["alias"], "hub-b");
    assert_eq!(node_b["color"], "#00bb00");
    assert_eq!(node_b["addresses"][0], format!("127.0.0.1:{port_b}"));
    assert_eq!(c.cli_json(&["graph", "node", &id(&a)])["alias"], "hub-a");

    // B raises its fee: the new update reaches the watcher through A.
    b.cli_json(&["policy", "--ppm", "777"]);
    wait("the relayed policy change", || {
        let (p1, p2) = policies(&c, &scid);
        [p1, p2]
            .iter()
            .any(|p| p["fee_proportional_millionths"] == 777)
    });

    // The graph survives a restart: it is there before any peer reconnects.
    let before = graph(&c);
    c.stop();
    let c = start_follower(&dir_c, &a, port_c);
    let after = graph(&c);
    assert_eq!(after["channel_count"], before["channel_count"]);
    assert_eq!(
        after["announced_node_count"],
        before["announced_node_count"]
    );
    let (p1, p2) = policies(&c, &scid);
    assert!([p1, p2]
        .iter()
        .any(|p| p["fee_proportional_millionths"] == 777));
}

/// A stranger's gossip, each kind of bad: forged signatures, a funding output that does not
/// exist, one that is not the announced 2-of-2, one already spent, updates for a channel it
/// cannot sign for. Each is refused and counted; the honest graph is untouched; the stranger
/// is disconnected once its faults reach the limit.
#[test]
fn forged_and_bogus_gossip_is_refused_and_costs_the_sender() {
    use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
    use chanhub::wire::gossip::sign_gossip;
    use chanhub::wire::{
        ChannelAnnouncement, Features, GossipTimestampFilter, Message, ShortChannelId,
        UnsignedChannelAnnouncement,
    };
    use peers_support::{target, RawPeer};

    let tmp = test_dir();
    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let (port_a, port_b) = (free_port(), free_port());
    configure(&dir_a, "honest-a", "#010203", port_a);
    configure(&dir_b, "honest-b", "#040506", port_b);
    let a = NodeProc::start(&dir_a, &["--listen", &format!("127.0.0.1:{port_a}")]);
    let b = start_follower(&dir_b, &a, port_b);
    let addr = a.new_address();
    a.cli_json(&["chain", "mine", "1", "--address", &addr]);
    a.cli_json(&["chain", "mine", "100", "--address", &burn_address()]);
    a.cli_json(&[
        "open",
        &format!("{}@127.0.0.1:{port_b}", id(&b)),
        "300000",
        "--announce",
    ]);
    a.cli_json(&["chain", "mine", "6", "--address", &burn_address()]);
    wait("the honest channel with both updates", || {
        let g = graph(&a);
        let Some(scid) = g["channels"][0]["short_channel_id"].as_u64() else {
            return false;
        };
        let (p1, p2) = policies(&a, &scid.to_string());
        !p1.is_null() && !p2.is_null()
    });
    let honest = graph(&a);
    let scid = ShortChannelId(honest["channels"][0]["short_channel_id"].as_u64().unwrap());
    let honest_channel = a.cli_json(&["graph", "channel", &scid.0.to_string()]);

    // The stranger asks for everything, and gets the real announcement to tamper with.
    let (peer_addr, a_id) = target(&a.json);
    let mut x = RawPeer::connect(&peer_addr, a_id, 0x77);
    x.send_message(&Message::GossipTimestampFilter(GossipTimestampFilter {
        chain_hash: bitcoin::constants::ChainHash::REGTEST,
        first_timestamp: 0,
        timestamp_range: u32::MAX,
        excess_data: Vec::new(),
    }));
    let real = loop {
        match x.recv() {
            Some(Message::ChannelAnnouncement(c)) => break c,
            Some(_) => continue,
            None => panic!("the node hung up before relaying its announcement"),
        }
    };
    assert_eq!(real.contents.short_channel_id, scid);
    assert!(real.verify());

    let secp = Secp256k1::new();
    let keys: Vec<SecretKey> = (1..=4u8)
        .map(|i| SecretKey::from_slice(&[0x40 + i; 32]).unwrap())
        .collect();
    let pubs: Vec<PublicKey> = keys
        .iter()
        .map(|k| PublicKey::from_secret_key(&secp, k))
        .collect();
    // A well-signed announcement of the stranger's own two "nodes", for any scid.
    let signed_for = |scid: ShortChannelId| {
        let (n1, n2, k1, k2) = if pubs[0].serialize() < pubs[1].serialize() {
            (0, 1, 2, 3)
        } else {
            (1, 0, 3, 2)
        };
        let contents = UnsignedChannelAnnouncement {
            features: Features::empty(),
            chain_hash: bitcoin::constants::ChainHash::REGTEST,
            short_channel_id: scid,
            node_id_1: pubs[n1],
            node_id_2: pubs[n2],
            bitcoin_key_1: pubs[k1],
            bitcoin_key_2: pubs[k2],
            excess_data: Vec::new(),
        };
        let bytes = contents.signed_bytes();
        ChannelAnnouncement {
            node_signature_1: sign_gossip(&keys[n1], &bytes),
            node_signature_2: sign_gossip(&keys[n2], &bytes),
            bitcoin_signature_1: sign_gossip(&keys[k1], &bytes),
            bitcoin_signature_2: sign_gossip(&keys[k2], &bytes),
            contents,
        }
    };
    // The real channel's id is taken: a forgery under it would only be a duplicate.
    let mut forged = signed_for(ShortChannelId::new(scid.block(), 51, 0).unwrap());
    forged.bitcoin_signature_2 = real.bitcoin_signature_2;
    let bogus = [
        // Forged: a signature that is not its key's.
        forged,
        // No such transaction in the funding block.
        signed_for(ShortChannelId::new(scid.block(), 50, 0).unwrap()),
        // The funding transaction's other output: unspent, but not the announced 2-of-2.
        signed_for(
            ShortChannelId::new(scid.block(), scid.tx_index(), scid.output_index() ^ 1).unwrap(),
        ),
        // Block 1's coinbase: it funded the channel, so it is spent.
        signed_for(ShortChannelId::new(1, 0, 0).unwrap()),
        // Another announcement under the real channel's id: a duplicate, harmless.
        signed_for(scid),
    ];
    for m in &bogus {
        x.send_message(&Message::ChannelAnnouncement(m.clone()));
    }
    // Updates for the honest channel the stranger cannot sign for.
    let mut update = None;
    x.send_message(&Message::GossipTimestampFilter(GossipTimestampFilter {
        chain_hash: bitcoin::constants::ChainHash::REGTEST,
        first_timestamp: 0,
        timestamp_range: u32::MAX,
        excess_data: Vec::new(),
    }));
    while update.is_none() {
        match x.recv() {
            Some(Message::ChannelUpdate(u)) => update = Some(u),
            Some(_) => {}
            None => panic!("disconnected too early"),
        }
    }
    let mut u = update.unwrap();
    u.timestamp += 10;
    u.fee_proportional_millionths = 999_999;
    let mut closed = false;
    for _ in 0..chanhub::node::gossip::MAX_PEER_FAULTS {
        x.send_message(&Message::ChannelUpdate(u.clone()));
        u.timestamp += 1;
    }
    for _ in 0..200 {
        if x.recv().is_none() {
            closed = true;
            break;
        }
    }
    assert!(closed, "the stranger was not disconnected");

    // The honest graph is as it was; the refusals are counted.
    assert_eq!(graph(&a)["channel_count"], 1);
    assert_eq!(
        a.cli_json(&["graph", "channel", &scid.0.to_string()]),
        honest_channel
    );
    let m = metrics(&a);
    let rejected = |kind: &str| {
        m.get(&format!(
            "chanhub_gossip_messages_total{{kind=\"{kind}\",outcome=\"rejected\"}}"
        ))
        .copied()
        .unwrap_or(0.0)
    };
    // The forged one, the missing output, the wrong script; the spent one and the duplicate
    // are harmless.
    assert_eq!(rejected("channel_announcement"), 3.0, "{m:?}");
    assert!(rejected("channel_update") >= 1.0, "{m:?}");
    assert_eq!(m["chanhub_graph_channels"], 1.0);
}

/// `GET /metrics`, as sample (name and labels) -> value.
fn metrics(n: &NodeProc) -> std::collections::BTreeMap<String, f64> {
    let token = std::fs::read_to_string(n.json["api_token_file"].as_str().unwrap()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, text) = rt
        .block_on(client(n).raw(
            hyper::Method::GET,
            "/metrics",
            Some(token.trim()),
            Vec::new(),
        ))
        .unwrap();
    assert_eq!(status, 200, "{text}");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect()
}
