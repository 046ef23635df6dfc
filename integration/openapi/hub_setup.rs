//! The first phases of the three-node scenario: the public document, the chain and the
//! wallets, peers, channels.

use std::time::{Duration, Instant};

use chanhub::api::openapi::{DOCUMENT, PATH};
use serde_json::json;

use super::hub::*;
use super::*;

/// The public document.
pub async fn the_public_document(net: &Net) {
    let Net { hub, .. } = net;
    let a = hub
        .expect(
            "get",
            PATH,
            PATH,
            Req {
                no_token: true,
                ..Req::none()
            },
            200,
            None,
        )
        .await;
    assert_eq!(a.body, DOCUMENT);
    assert_eq!(a.content_type, "application/yaml");
}

/// Chain and wallet: fund the hub and alice.
pub async fn chain_and_wallet(net: &Net) {
    let Net {
        alice,
        hub,
        alice_node,
        hub_node,
        ..
    } = net;
    let info = hub.ok("get", "/v1/chain/info", Req::none()).await;
    assert_eq!(info["source"], "embedded");
    for (c, n) in [(&hub, &hub_node), (&alice, &alice_node)] {
        let addr = c.ok("post", "/v1/onchain/address", Req::none()).await["address"].clone();
        let mined = c
            .ok(
                "post",
                "/v1/chain/mine",
                Req::json(json!({"blocks": 1, "address": addr})),
            )
            .await;
        assert_eq!(mined["address"], addr);
        let away = Req::json(json!({"blocks": 100, "address": burn_address()}));
        c.ok("post", "/v1/chain/mine", away).await;
        n.wait_confirmed(50 * COIN).await;
    }
    for blocks in [0, 1001] {
        let req = Req::json(json!({ "blocks": blocks }));
        hub.expect(
            "post",
            "/v1/chain/mine",
            "/v1/chain/mine",
            req,
            400,
            Some("invalid_request"),
        )
        .await;
    }
    let own = alice.ok("post", "/v1/onchain/address", Req::none()).await["address"].clone();
    let sent = alice
        .ok(
            "post",
            "/v1/onchain/send",
            Req::json(json!({"address": own, "amount_sat": 10_000, "feerate_sat_per_vb": 2})),
        )
        .await;
    for (body, status, code) in [
        (
            json!({"address": "nope", "amount_sat": 10_000}),
            400,
            "invalid_address",
        ),
        (
            json!({"address": own, "amount_sat": 100}),
            400,
            "amount_below_dust",
        ),
        (
            json!({"address": own, "amount_sat": 100 * COIN}),
            422,
            "insufficient_funds",
        ),
        (json!({"address": own}), 400, "invalid_request"),
    ] {
        let req = Req::json(body);
        alice
            .expect(
                "post",
                "/v1/onchain/send",
                "/v1/onchain/send",
                req,
                status,
                Some(code),
            )
            .await;
    }
    let txs = alice
        .ok("get", "/v1/onchain/transactions", Req::none())
        .await;
    assert!(txs["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["txid"] == sent["txid"] && t["block_height"].is_null()));
}

/// Peers.
pub async fn peers(net: &Net) {
    let Net {
        alice,
        hub_node,
        bob_node,
        ..
    } = net;
    let peer = alice
        .ok(
            "post",
            "/v1/peers",
            Req::json(json!({"node_id": hub_node.id(), "addr": hub_node.peer_addr()})),
        )
        .await;
    assert_eq!(peer["direction"], "outbound");
    for (body, status, code) in [
        (
            json!({"node_id": "02ab", "addr": "127.0.0.1:1"}),
            400,
            "invalid_node_id",
        ),
        (
            json!({"node_id": STRANGER, "addr": "nowhere"}),
            400,
            "invalid_request",
        ),
        (
            json!({"node_id": STRANGER, "addr": "127.0.0.1:1"}),
            502,
            "peer_unreachable",
        ),
    ] {
        let req = Req::json(body);
        alice
            .expect("post", "/v1/peers", "/v1/peers", req, status, Some(code))
            .await;
    }
    let ping = format!("/v1/peers/{}/ping", hub_node.id());
    let pong = alice
        .expect(
            "post",
            "/v1/peers/{node_id}/ping",
            &ping,
            Req::json(json!({"num_pong_bytes": 16})),
            200,
            None,
        )
        .await;
    assert_eq!(pong.json()["num_pong_bytes"], 16);
    let req = Req::json(json!({"num_pong_bytes": 65532}));
    alice
        .expect(
            "post",
            "/v1/peers/{node_id}/ping",
            &ping,
            req,
            400,
            Some("invalid_request"),
        )
        .await;
    let req = Req::json(json!({}));
    let stranger_ping = format!("/v1/peers/{STRANGER}/ping");
    alice
        .expect(
            "post",
            "/v1/peers/{node_id}/ping",
            &stranger_ping,
            req,
            404,
            Some("peer_not_connected"),
        )
        .await;
    alice.ok("get", "/v1/peers", Req::none()).await;
    let to_bob = Req::json(json!({"node_id": bob_node.id(), "addr": bob_node.peer_addr()}));
    alice.ok("post", "/v1/peers", to_bob).await;
    for (id, status) in [
        (bob_node.id(), 200),
        (bob_node.id(), 404),
        ("xyz".to_string(), 400),
    ] {
        let path = format!("/v1/peers/{id}");
        let a = alice
            .call("delete", "/v1/peers/{node_id}", &path, Req::none())
            .await;
        assert_eq!(a.status, status, "{path}: {}", a.body);
    }
}

/// Channels: alice → hub and hub → bob, opened through the checker; bad opens refused.
pub async fn channels(net: &Net) -> (String, String) {
    let Net {
        alice,
        hub,
        bob,
        alice_node,
        hub_node,
        bob_node,
        ..
    } = net;
    for (body, status, code) in [
        (
            json!({"node_id": hub_node.id(), "capacity_sat": 1}),
            400,
            "invalid_channel_parameters",
        ),
        (
            json!({"node_id": hub_node.id(), "capacity_sat": 500_000, "channel_type": "x"}),
            400,
            "invalid_channel_parameters",
        ),
        (
            json!({"node_id": STRANGER, "capacity_sat": 500_000}),
            404,
            "peer_not_connected",
        ),
        (
            json!({"node_id": alice_node.id(), "capacity_sat": 500_000}),
            400,
            "invalid_node_id",
        ),
    ] {
        let req = Req::json(body);
        alice
            .expect(
                "post",
                "/v1/channels",
                "/v1/channels",
                req,
                status,
                Some(code),
            )
            .await;
    }
    let ah = alice
        .ok("post", "/v1/channels", open(hub_node, "anchors"))
        .await["channel_id"]
        .as_str()
        .unwrap()
        .to_string();
    // hub → bob is public: announced at 6 confirmations, so the graph routes have answers.
    let public = Req::json(json!({
        "node_id": bob_node.id(), "addr": bob_node.peer_addr(), "capacity_sat": 1_000_000,
        "push_msat": 0, "channel_type": "static_remotekey", "announce": true,
    }));
    let hb = hub.ok("post", "/v1/channels", public).await["channel_id"]
        .as_str()
        .unwrap()
        .to_string();
    hub.ok("get", "/v1/channels", Req::none()).await;
    hub.ok("post", "/v1/chain/mine", Req::json(json!({"blocks": 6})))
        .await;
    for (c, id) in [(&alice, &ah), (&hub, &ah), (&hub, &hb), (&bob, &hb)] {
        wait_channel(c, id, "active", |ch| ch["state"] == "active").await;
    }
    graph(hub, hub_node, bob_node).await;
    // Route hints need the hub's policy at bob, which arrives after channel_ready.
    let deadline = Instant::now() + PATIENCE;
    while bob_node
        .node
        .channels()
        .route_hints()
        .await
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "bob has no route hint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for bad in ["xyz", &ZERO_ID[..62]] {
        let path = format!("/v1/channels/{bad}");
        hub.expect(
            "get",
            "/v1/channels/{id}",
            &path,
            Req::none(),
            400,
            Some("invalid_request"),
        )
        .await;
    }
    let path = format!("/v1/channels/{ZERO_ID}");
    hub.expect(
        "get",
        "/v1/channels/{id}",
        &path,
        Req::none(),
        404,
        Some("channel_not_found"),
    )
    .await;
    (ah, hb)
}

/// The graph routes, once the hub's public channel to bob is announced.
async fn graph(hub: &Checker, hub_node: &TestNode, bob_node: &TestNode) {
    let deadline = Instant::now() + PATIENCE;
    let scid = loop {
        let g = hub.ok("get", "/v1/graph", Req::none()).await;
        if let Some(scid) = g["channels"][0]["short_channel_id"].as_u64() {
            if g["node"]["node_id"] == hub_node.id() {
                break scid;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the hub's public channel is not in its graph"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for id in [hub_node.id(), bob_node.id()] {
        let path = format!("/v1/graph/nodes/{id}");
        let n = hub
            .expect(
                "get",
                "/v1/graph/nodes/{node_id}",
                &path,
                Req::none(),
                200,
                None,
            )
            .await
            .json();
        assert_eq!(n["channels"][0], scid);
    }
    let path = format!("/v1/graph/channels/{scid}");
    let c = hub
        .expect(
            "get",
            "/v1/graph/channels/{scid}",
            &path,
            Req::none(),
            200,
            None,
        )
        .await
        .json();
    assert_eq!(c["capacity_sat"], 1_000_000);
    let path = format!(
        "/v1/graph/channels/{}",
        c["short_channel_id_str"].as_str().unwrap()
    );
    hub.expect(
        "get",
        "/v1/graph/channels/{scid}",
        &path,
        Req::none(),
        200,
        None,
    )
    .await;
    hub.expect(
        "get",
        "/v1/graph/channels/{scid}",
        "/v1/graph/channels/1x2",
        Req::none(),
        400,
        Some("invalid_request"),
    )
    .await;
    hub.expect(
        "get",
        "/v1/graph/nodes/{node_id}",
        &format!("/v1/graph/nodes/{STRANGER}"),
        Req::none(),
        404,
        Some("not_found"),
    )
    .await;
}
