//! The peer manager of real `chanhub node` processes over loopback: two nodes connect and
//! ping; misbehaving peers are dropped while a good one carries on; a burst of 500 connection
//! attempts; reconnection after a restart.

mod common;
mod peers_support;

use std::time::{Duration, Instant};

use bitcoin::constants::ChainHash;
use chanhub::wire::{Message, RawMessage};
use common::*;
use peers_support::*;
use serde_json::Value;

/// Writes a `[peers]` table before the node's first start.
fn with_peer_config(dir: &std::path::Path, table: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("chanhub.toml"), format!("[peers]\n{table}")).unwrap();
}

fn peers(node: &NodeProc) -> Vec<Value> {
    node.cli_json(&["peers"])["peers"]
        .as_array()
        .unwrap()
        .clone()
}

fn peer<'a>(list: &'a [Value], id: &str) -> Option<&'a Value> {
    list.iter().find(|p| p["node_id"] == id)
}

/// Polls the node's peer list until `cond` holds (10 s).
fn wait_peers(node: &NodeProc, what: &str, cond: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = peers(node);
        if cond(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: peers {list:#?}\nnode log:\n{}",
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn id_of(node: &NodeProc) -> String {
    node.json["node_id"].as_str().unwrap().to_string()
}

fn uri(node: &NodeProc) -> String {
    format!(
        "{}@{}",
        id_of(node),
        node.json["peer_addr"].as_str().unwrap()
    )
}

#[test]
fn two_nodes_connect_exchange_init_and_ping() {
    let tmp = tempfile::tempdir().unwrap();
    let a = NodeProc::start(&tmp.path().join("a"), &[]);
    let b = NodeProc::start(&tmp.path().join("b"), &[]);
    let (ida, idb) = (id_of(&a), id_of(&b));

    let connected = a.cli_json(&["connect", &uri(&b)]);
    assert_eq!(connected["node_id"], idb.as_str());
    assert_eq!(connected["direction"], "outbound");
    assert_eq!(connected["addr"], b.json["peer_addr"]);
    let on_b = wait_peers(&b, "b lists a", |l| peer(l, &ida).is_some());
    let a_on_b = peer(&on_b, &ida).unwrap();
    assert_eq!(a_on_b["direction"], "inbound");
    // The features are those of our init: payment_secret (bit 14) required, among others.
    let features = hex::decode(a_on_b["features"].as_str().unwrap()).unwrap();
    let bit14 = features[features.len() - 2] & 0x40 != 0;
    assert!(bit14, "{a_on_b}");
    assert!(a_on_b["connected_since"].as_u64().unwrap() > 1_600_000_000);

    // A pings B through the API; B answers with the requested size, A counts the pong.
    let pong = a.cli_json(&["ping", &idb, "--pong-bytes", "123"]);
    assert_eq!(pong["num_pong_bytes"], 123);
    assert!(pong["rtt_ms"].as_f64().unwrap() >= 0.0);
    let b_on_a = peer(&peers(&a), &idb).unwrap().clone();
    assert_eq!(b_on_a["pongs_received"], 1);
    assert_eq!(b_on_a["persistent"], true);
    assert_eq!(peer(&peers(&b), &ida).unwrap()["pings_received"], 1);
    // And the other way round.
    b.cli_json(&["ping", &ida]);
    assert_eq!(peer(&peers(&b), &ida).unwrap()["pongs_received"], 1);

    // The readable table.
    let table = String::from_utf8(a.cli(&["peers"]).stdout).unwrap();
    assert!(table.starts_with("NODE_ID"), "{table}");
    assert!(
        table.contains(&idb) && table.contains("outbound"),
        "{table}"
    );

    // Disconnect: both sides forget the connection.
    a.cli_json(&["disconnect", &idb]);
    wait_peers(&a, "a dropped b", |l| l.is_empty());
    wait_peers(&b, "b dropped a", |l| l.is_empty());
    let out = a.cli(&["ping", &idb]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("peer_not_connected"));
    b.stop();
    a.stop();
}

#[test]
fn misbehaving_peers_are_dropped_while_a_good_peer_carries_on() {
    let tmp = tempfile::tempdir().unwrap();
    let a = NodeProc::start(&tmp.path().join("a"), &[]);
    let b = NodeProc::start(&tmp.path().join("b"), &[]);
    let (addr, node) = target(&a.json);
    let (ida, idb) = (id_of(&a), id_of(&b));
    b.cli_json(&["connect", &uri(&a)]);
    wait_peers(&a, "good peer up", |l| peer(l, &idb).is_some());
    let good_still_fine = |what: &str| {
        let pong = b.cli(&["ping", &ida, "--json"]);
        assert!(
            pong.status.success(),
            "after {what}: {}\nnode log:\n{}",
            String::from_utf8_lossy(&pong.stderr),
            a.log_text()
        );
        assert!(peer(&peers(&a), &idb).is_some(), "after {what}");
    };

    // Garbage instead of act one.
    let mut garbage = std::net::TcpStream::connect(&addr).unwrap();
    garbage
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std::io::Write::write_all(&mut garbage, &[0xde; 50]).unwrap();
    assert!(closes(&mut garbage), "garbage act one closes");
    good_still_fine("garbage");

    // A frame with a bad MAC after a correct setup.
    let mut bad_mac = RawPeer::connect(&addr, node, 11);
    let ping = chanhub::wire::Ping::new(1, 0);
    let mut frame = bad_mac.transport.encryptor.encrypt(&encode(&ping)).unwrap();
    let last = frame.len() - 1;
    frame[last] ^= 1;
    std::io::Write::write_all(&mut bad_mac.stream, &frame).unwrap();
    // Only what the node sends any new peer (its gossip filter and sync query), no pong.
    let said = bad_mac.until_closed();
    assert!(
        said.iter().all(Message::is_gossip),
        "no answer to a bad MAC: {said:?}"
    );
    good_still_fine("bad MAC");

    // An init for mainnet: told why, then dropped.
    let mut other_chain = RawPeer::handshake(&addr, node, 12);
    assert!(matches!(other_chain.recv(), Some(Message::Init(_))));
    other_chain.send_message(
        &chanhub::wire::Init::new(chanhub::wire::Features::ours(), vec![ChainHash::BITCOIN]).into(),
    );
    let said = other_chain.until_closed();
    assert!(matches!(said.as_slice(), [m] if is_warning(m)), "{said:?}");
    good_still_fine("init for another network");

    // An unknown even message after a correct setup.
    let mut even = RawPeer::connect(&addr, node, 13);
    assert_eq!(even.ping(4), 4, "a well-behaved start");
    even.send_bytes(
        &RawMessage {
            msg_type: 0x7ffe,
            payload: vec![1],
        }
        .encode()
        .unwrap(),
    );
    let said = even.until_closed();
    assert!(said.iter().any(is_warning), "{said:?}");
    good_still_fine("unknown even message");

    // An unknown odd message is fine.
    let mut odd = RawPeer::connect(&addr, node, 14);
    odd.send_bytes(
        &RawMessage {
            msg_type: 0x7fff,
            payload: vec![1],
        }
        .encode()
        .unwrap(),
    );
    assert_eq!(odd.ping(9), 9);

    // LSPS messages (bLIP 50, type 37913) are answered, bad ones with a JSON-RPC error, and
    // the connection stays up.
    let mut lsps = |payload: &[u8]| {
        odd.send_bytes(
            &RawMessage {
                msg_type: 37913,
                payload: payload.to_vec(),
            }
            .encode()
            .unwrap(),
        );
        loop {
            match odd.recv() {
                Some(Message::Unknown(m)) if m.msg_type == 37913 => {
                    return serde_json::from_slice::<serde_json::Value>(&m.payload).unwrap()
                }
                Some(_) => continue,
                None => panic!("closed instead of answering"),
            }
        }
    };
    let got = lsps(br#"{"jsonrpc":"2.0","id":"a1b2","method":"lsps0.list_protocols","params":{}}"#);
    assert_eq!(got["id"], "a1b2");
    assert_eq!(got["result"]["protocols"], serde_json::json!([]));
    let got = lsps(b"{not json");
    assert_eq!(
        (got["error"]["code"].clone(), got["id"].clone()),
        (serde_json::json!(-32700), serde_json::Value::Null)
    );
    let got = lsps(br#"{"jsonrpc":"2.0","id":7,"method":"lsps2.buy","params":{}}"#);
    assert_eq!(got["error"]["code"], -32601);
    assert_eq!(odd.ping(3), 3);

    let list = peers(&a);
    let ids: Vec<&str> = list
        .iter()
        .map(|p| p["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(list.len(), 2, "only the good peers remain: {ids:?}");
    assert!(a.log_text().contains("unknown even message type 32766"));
    b.stop();
    a.stop();
}

#[test]
fn five_hundred_simultaneous_connection_attempts_do_not_exhaust_the_node() {
    let tmp = tempfile::tempdir().unwrap();
    let dir_a = tmp.path().join("a");
    with_peer_config(&dir_a, "handshake_timeout_ms = 2000\n");
    let a = NodeProc::start(&dir_a, &[]);
    let b = NodeProc::start(&tmp.path().join("b"), &[]);
    let (addr, node) = target(&a.json);
    let (ida, idb) = (id_of(&a), id_of(&b));
    b.cli_json(&["connect", &uri(&a)]);
    wait_peers(&a, "good peer up", |l| peer(l, &idb).is_some());

    // 500 connections at once from 10 threads: half stay silent, half send garbage.
    let attackers: Vec<std::net::TcpStream> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..10)
            .map(|t| {
                let addr = addr.clone();
                s.spawn(move || {
                    (0..50)
                        .filter_map(|i| {
                            let mut c = std::net::TcpStream::connect(&addr).ok()?;
                            if (t * 50 + i) % 2 == 1 {
                                let _ = std::io::Write::write_all(&mut c, &[0x55; 50]);
                            }
                            Some(c)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        attackers.len() >= 450,
        "most attempts connected: {}",
        attackers.len()
    );

    // While they are open: the API answers and the established peer is served.
    let started = Instant::now();
    assert_eq!(a.cli_json(&["info"])["node_id"], ida.as_str());
    b.cli_json(&["ping", &ida]);
    assert!(started.elapsed() < Duration::from_secs(5));

    // Once the silent ones have timed out, a new well-behaved peer gets in.
    std::thread::sleep(Duration::from_millis(2500));
    let mut newcomer = RawPeer::connect(&addr, node, 21);
    assert_eq!(newcomer.ping(16), 16);
    let list = wait_peers(&a, "both good peers", |l| l.len() == 2);
    assert!(peer(&list, &idb).is_some());
    drop(attackers);
    b.cli_json(&["ping", &ida]);
    b.stop();
    a.stop();
}

#[test]
fn an_outbound_peer_is_reconnected_after_a_restart_until_disconnected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir_a = tmp.path().join("a");
    let a = NodeProc::start(&dir_a, &[]);
    let b = NodeProc::start(&tmp.path().join("b"), &[]);
    let (ida, idb) = (id_of(&a), id_of(&b));
    a.cli_json(&["connect", &uri(&b)]);
    wait_peers(&b, "b lists a", |l| peer(l, &ida).is_some());
    a.stop();
    wait_peers(&b, "b sees a gone", |l| l.is_empty());

    let a = NodeProc::start(&dir_a, &[]);
    let list = wait_peers(&a, "a redials b", |l| peer(l, &idb).is_some());
    let b_on_a = peer(&list, &idb).unwrap();
    assert_eq!(b_on_a["direction"], "outbound");
    assert_eq!(b_on_a["persistent"], true);
    wait_peers(&b, "b lists a again", |l| peer(l, &ida).is_some());
    a.cli_json(&["ping", &idb]);

    // Disconnecting forgets: the next restart does not redial.
    a.cli_json(&["disconnect", &idb]);
    a.stop();
    let a = NodeProc::start(&dir_a, &[]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(peers(&a).is_empty());
    assert!(peers(&b).is_empty());
    b.stop();
    a.stop();
}

#[test]
fn an_lsp_sells_jit_channels_to_raw_peers_within_its_bounds() {
    use serde_json::json;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lsp");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("chanhub.toml"),
        "[lsps2]\nmin_fee_msat = 1000\nmin_payment_size_msat = 2000\n\
         max_payment_size_msat = 1000000\ninbound_liquidity_sat = 1000\n",
    )
    .unwrap();
    let mut lsp = NodeProc::start(&dir, &[]);
    // A matured coinbase: the hub sells only channels its wallet can fund.
    let own = lsp.new_address();
    lsp.cli_json(&["chain", "mine", "1", "--address", &own]);
    lsp.cli_json(&["chain", "mine", "100", "--address", &burn_address()]);
    wait("the coinbase matured", || lsp.balance().0 > 0);
    let (addr, node) = target(&lsp.json);

    // The LSP's init says it speaks LSPS (bit 729, optional).
    let mut p = RawPeer::handshake(&addr, node, 21);
    match p.recv() {
        Some(Message::Init(init)) => assert!(init.all_features().is_set(729), "{init:?}"),
        other => panic!("expected init, got {other:?}"),
    }
    p.send_message(
        &chanhub::wire::Init::new(chanhub::wire::Features::ours(), vec![ChainHash::REGTEST]).into(),
    );
    let got = lsps_call(&mut p, "lsps0.list_protocols", json!({}));
    assert_eq!(got["result"]["protocols"], json!([2]));
    let info = lsps_call(&mut p, "lsps2.get_info", json!({}));
    let offer = info["result"]["opening_fee_params_menu"][0].clone();
    assert_eq!(offer["min_fee_msat"], "1000", "{info}");

    // A forged offer, a stranger's parameter, a size the offer refuses: nothing sold.
    let mut forged = offer.clone();
    forged["min_fee_msat"] = json!("1");
    let got = lsps_call(&mut p, "lsps2.buy", json!({"opening_fee_params": forged}));
    assert_eq!(got["error"]["code"], 201, "{got}");
    let got = lsps_call(
        &mut p,
        "lsps2.buy",
        json!({"opening_fee_params": offer, "sneaky": true}),
    );
    assert_eq!(got["error"]["data"]["unrecognized"], json!(["sneaky"]));
    let got = lsps_call(
        &mut p,
        "lsps2.buy",
        json!({"opening_fee_params": offer, "payment_size_msat": "1000001"}),
    );
    assert_eq!(got["error"]["code"], 203, "{got}");

    // Sixteen waiting sales for one client, then no more.
    let mut scids = std::collections::HashSet::new();
    for _ in 0..16 {
        let got = lsps_call(&mut p, "lsps2.buy", json!({"opening_fee_params": offer}));
        scids.insert(
            got["result"]["jit_channel_scid"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(scids.len(), 16, "each sale its own scid");
    let got = lsps_call(&mut p, "lsps2.buy", json!({"opening_fee_params": offer}));
    assert_eq!(got["error"]["code"], 1, "client_rejected: {got}");
    assert_eq!(p.ping(3), 3, "the connection stays up");

    // Another client is not held back, and cannot use the first one's offer.
    let mut q = RawPeer::connect(&addr, node, 22);
    let got = lsps_call(&mut q, "lsps2.buy", json!({"opening_fee_params": offer}));
    assert_eq!(got["error"]["code"], 201, "{got}");
    let info = lsps_call(&mut q, "lsps2.get_info", json!({"token": null}));
    let q_offer = info["result"]["opening_fee_params_menu"][0].clone();
    let got = lsps_call(
        &mut q,
        "lsps2.buy",
        json!({"opening_fee_params": q_offer, "payment_size_msat": "500000"}),
    );
    assert_eq!(got["result"]["lsp_cltv_expiry_delta"], 144, "{got}");
    assert_eq!(got["result"]["client_trusts_lsp"], false);

    let jit = lsp.cli_json(&["lsp", "jit"])["jit"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(jit.len(), 17);
    assert_eq!(jit[0]["payment_size_msat"], 500_000, "newest first");
    assert_eq!(jit[0]["opening_fee_msat"], 1000);
    assert!(jit.iter().all(|j| j["state"] == "waiting"));

    // Offers survive a restart: the promise key comes from the seed, the sales from the store.
    drop(p);
    drop(q);
    lsp.stop();
    lsp = NodeProc::start(&dir, &[]);
    let (addr, node) = target(&lsp.json);
    let mut q = RawPeer::connect(&addr, node, 22);
    let got = lsps_call(&mut q, "lsps2.buy", json!({"opening_fee_params": q_offer}));
    assert!(got["result"]["jit_channel_scid"].is_string(), "{got}");
    assert_eq!(
        lsp.cli_json(&["lsp", "jit"])["jit"]
            .as_array()
            .unwrap()
            .len(),
        18
    );
    let mut p = RawPeer::connect(&addr, node, 21);
    let got = lsps_call(&mut p, "lsps2.buy", json!({"opening_fee_params": offer}));
    assert_eq!(
        got["error"]["code"], 1,
        "the bound holds across a restart: {got}"
    );
    lsp.stop();
}

/// The node id of the raw peer made from `seed`.
fn node_of(seed: u8) -> String {
    secret(seed)
        .public_key(&bitcoin::secp256k1::Secp256k1::new())
        .to_string()
}

#[test]
fn an_lsp_takes_channel_orders_from_raw_peers_within_its_options() {
    use serde_json::json;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lsp");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("chanhub.toml"),
        "[lsps1]\nmin_channel_sat = 50000\nmax_channel_sat = 400000\n\
         max_client_balance_sat = 10000\nmax_channel_expiry_blocks = 4320\n\
         fee_base_sat = 1000\nfee_ppm = 5000\n[lsps2]\n",
    )
    .unwrap();
    let lsp = NodeProc::start(&dir, &[]);
    let own = lsp.new_address();
    lsp.cli_json(&["chain", "mine", "1", "--address", &own]);
    lsp.cli_json(&["chain", "mine", "100", "--address", &burn_address()]);
    wait("the coinbase matured", || lsp.balance().0 > 0);
    let (addr, node) = target(&lsp.json);
    let mut p = RawPeer::connect(&addr, node, 31);
    let got = lsps_call(&mut p, "lsps0.list_protocols", json!({}));
    assert_eq!(got["result"]["protocols"], json!([1, 2]), "sorted");

    let info = lsps_call(&mut p, "lsps1.get_info", json!({}))["result"].clone();
    assert_eq!(info["min_initial_lsp_balance_sat"], "50000", "{info}");
    assert_eq!(info["max_initial_lsp_balance_sat"], "400000");
    assert_eq!(info["max_channel_balance_sat"], "410000");
    assert_eq!(info["max_initial_client_balance_sat"], "10000");
    assert_eq!(info["min_required_channel_confirmations"], 0);
    assert_eq!(info["max_channel_expiry_blocks"], 4320);
    let got = lsps_call(&mut p, "lsps1.get_info", json!({"token": "x"}));
    assert_eq!(got["error"]["data"]["unrecognized"], json!(["token"]));

    let order = json!({
        "lsp_balance_sat": "100000",
        "client_balance_sat": "5000",
        "required_channel_confirmations": 0,
        "funding_confirms_within_blocks": 6,
        "channel_expiry_blocks": 144,
        "token": null,
        "refund_onchain_address": null,
        "announce_channel": false,
    });
    let with = |k: &str, v: Value| {
        let mut o = order.clone();
        o[k] = v;
        o
    };
    // Outside the options: 100 naming the option; a bad field: -32602 naming it; an
    // announced channel from a hub that announces nothing: refused.
    for (k, v, code, property) in [
        (
            "lsp_balance_sat",
            json!("400001"),
            100,
            "max_initial_lsp_balance_sat",
        ),
        (
            "lsp_balance_sat",
            json!("49999"),
            100,
            "min_initial_lsp_balance_sat",
        ),
        (
            "client_balance_sat",
            json!("10001"),
            100,
            "max_initial_client_balance_sat",
        ),
        (
            "channel_expiry_blocks",
            json!(4321),
            100,
            "max_channel_expiry_blocks",
        ),
        (
            "funding_confirms_within_blocks",
            json!(5),
            100,
            "min_funding_confirms_within_blocks",
        ),
        ("lsp_balance_sat", json!(100000), -32602, "lsp_balance_sat"),
        ("announce_channel", json!(true), -32602, "announce_channel"),
    ] {
        let got = lsps_call(&mut p, "lsps1.create_order", with(k, v.clone()));
        assert_eq!(got["error"]["code"], code, "{k} = {v}: {got}");
        // bLIP 51's data object, as JSON text (LDK's client reads data only as a string).
        let data: Value = serde_json::from_str(got["error"]["data"].as_str().unwrap()).unwrap();
        assert_eq!(data["property"], property, "{got}");
    }
    // The wallet cannot fund more than it has (50 BTC here is plenty): nothing stored yet.
    assert!(lsp.cli_json(&["lsp", "orders"])["orders"]
        .as_array()
        .unwrap()
        .is_empty());

    let got = lsps_call(&mut p, "lsps1.create_order", order.clone());
    let o = got["result"].clone();
    let id = o["order_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {got}");
    assert_eq!(o["lsp_balance_sat"], "100000");
    assert_eq!(o["client_balance_sat"], "5000");
    assert_eq!(o["token"], Value::Null, "mirrored as sent");
    assert_eq!(o["order_state"], "CREATED");
    assert_eq!(o["channel"], Value::Null);
    let bolt11 = &o["payment"]["bolt11"];
    // 1000 + 0.5% of 105,000 = 1525 sat; the client's 5000 on top.
    assert_eq!(bolt11["fee_total_sat"], "1525", "{got}");
    assert_eq!(bolt11["order_total_sat"], "6525");
    assert_eq!(bolt11["state"], "EXPECT_PAYMENT");
    assert_eq!(o["payment"]["onchain"], Value::Null, "not offered");
    let invoice = bolt11["invoice"].as_str().unwrap().to_string();

    // The order's invoice is a hold invoice of the hub for the total.
    let rows = lsp.cli_json(&["lsp", "orders"])["orders"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["order_id"], id.as_str());
    assert_eq!(rows[0]["bolt11"], invoice.as_str());
    assert_eq!(rows[0]["payment_state"], "expect_payment");
    assert_eq!(rows[0]["client_node_id"], node_of(31));
    let hash = rows[0]["payment_hash"].as_str().unwrap();
    let invoices = lsp.cli_json(&["invoices"])["invoices"]
        .as_array()
        .unwrap()
        .clone();
    let inv = invoices
        .iter()
        .find(|i| i["payment_hash"] == hash)
        .expect("the order's invoice");
    assert_eq!(inv["bolt11"], invoice.as_str());
    assert_eq!(inv["amount_msat"], 6_525_000, "{inv}");
    assert_eq!(inv["status"], "open");
    assert_eq!(
        inv["preimage"],
        Value::Null,
        "held until the channel is published"
    );

    // get_order: the client's own, by id; unknown or another's is 101.
    let got = lsps_call(&mut p, "lsps1.get_order", json!({ "order_id": id }));
    assert_eq!(got["result"], o, "the same order");
    let got = lsps_call(&mut p, "lsps1.get_order", json!({"order_id": "nope"}));
    assert_eq!(got["error"]["code"], 101, "{got}");
    let mut q = RawPeer::connect(&addr, node, 32);
    let got = lsps_call(&mut q, "lsps1.get_order", json!({ "order_id": id }));
    assert_eq!(got["error"]["code"], 101, "another client's: {got}");

    // Eight unpaid orders per client, then client_rejected; another client is not held back.
    for _ in 1..8 {
        let got = lsps_call(&mut p, "lsps1.create_order", order.clone());
        assert!(got["result"]["order_id"].is_string(), "{got}");
    }
    let got = lsps_call(&mut p, "lsps1.create_order", order.clone());
    assert_eq!(got["error"]["code"], 1, "client_rejected: {got}");
    let got = lsps_call(&mut q, "lsps1.create_order", order.clone());
    assert!(got["result"]["order_id"].is_string(), "{got}");
    let all = lsp.cli_json(&["lsp", "orders", "--limit", "20"])["orders"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(all.len(), 9);
    assert_eq!(all[0]["client_node_id"], node_of(32), "newest first");
    assert_eq!(p.ping(3), 3, "the connection stays up");
    lsp.stop();
}
