//! Three nodes (alice → hub → bob) asked every operation with real data and with bad input:
//! channels, invoices, a forwarded payment, the drills, a force close, a cooperative close and
//! a breach's resolution.

use std::time::{Duration, Instant};

use chanhub::api::openapi::{DOCUMENT, PATH};
use serde_json::json;

use super::*;

/// Waits until `cond` holds of the node's channel `id` (asked through the checker).
async fn wait_channel(c: &Checker, id: &str, what: &str, cond: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let path = format!("/v1/channels/{id}");
        let ch = c
            .expect("get", "/v1/channels/{id}", &path, Req::none(), 200, None)
            .await
            .json();
        if cond(&ch) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {ch:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads the event stream until an event of `kind` arrives; checks every event's JSON.
async fn await_event(doc: &Value, stream: &mut hyper::body::Incoming, kind: &str) {
    use http_body_util::BodyExt;
    let schema = json!({"$ref": "#/components/schemas/PaymentEvent"});
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let frame = tokio::time::timeout_at(deadline, stream.frame())
            .await
            .unwrap_or_else(|_| panic!("no {kind} event: {text}"))
            .expect("the stream goes on")
            .unwrap();
        text.push_str(std::str::from_utf8(&frame.into_data().unwrap()).unwrap());
        let mut seen = false;
        for block in text.split("\n\n").filter(|b| b.starts_with("event: ")) {
            let mut lines = block.lines();
            let name = lines.next().unwrap().strip_prefix("event: ").unwrap();
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
            let v: Value = serde_json::from_str(data).unwrap();
            let errors = schema::validate(doc, &schema, &v);
            assert!(errors.is_empty(), "{v}: {errors:?}");
            assert_eq!(v["type"], name);
            seen |= name == kind;
        }
        if seen {
            return;
        }
    }
}

/// Opens the event stream of the node behind `c`.
async fn subscribe(n: &TestNode) -> hyper::body::Incoming {
    use hyper_util::client::legacy::Client;
    let token = std::fs::read_to_string(&n.node.node_json.api_token_file).unwrap();
    let http = Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = hyper::Request::get(format!("http://{}/v1/events", n.node.node_json.api_addr))
        .header("authorization", format!("Bearer {}", token.trim()))
        .body(Default::default())
        .unwrap();
    let resp = http.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body()
}

/// Opens a 1,000,000 sat channel to `peer`, connecting first.
fn open(peer: &TestNode, channel_type: &str) -> Req {
    Req::json(json!({
        "node_id": peer.id(), "addr": peer.peer_addr(), "capacity_sat": 1_000_000,
        "push_msat": 0, "channel_type": channel_type,
    }))
}

/// The three nodes, alice → hub → bob on the hub's chain, and a checker for each.
struct Net {
    doc: Value,
    alice: Checker,
    hub: Checker,
    bob: Checker,
    alice_node: TestNode,
    hub_node: TestNode,
    bob_node: TestNode,
    _tmp: tempfile::TempDir,
}

async fn net() -> Net {
    let doc = document();
    let tmp = tempfile::tempdir().unwrap();
    let hub_node = node(&tmp.path().join("hub"), None).await;
    let alice_node = node(&tmp.path().join("alice"), Some(&hub_node)).await;
    let bob_node = node(&tmp.path().join("bob"), Some(&hub_node)).await;
    Net {
        alice: checker(&doc, &alice_node),
        hub: checker(&doc, &hub_node),
        bob: checker(&doc, &bob_node),
        doc,
        alice_node,
        hub_node,
        bob_node,
        _tmp: tmp,
    }
}

#[tokio::test]
async fn the_document_matches_a_running_hub() {
    init_logs();
    let net = net().await;
    the_public_document(&net).await;
    chain_and_wallet(&net).await;
    peers(&net).await;
    let (ah, hb) = channels(&net).await;
    payments(&net).await;
    policy(&net).await;
    drills_and_closes(&net, &ah, &hb).await;
    every_operation_succeeded(&net);
    for n in [net.alice_node, net.bob_node, net.hub_node] {
        n.node.shutdown().await;
    }
}

/// The public document.
async fn the_public_document(net: &Net) {
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
async fn chain_and_wallet(net: &Net) {
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
async fn peers(net: &Net) {
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
async fn channels(net: &Net) -> (String, String) {
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
    let hb = hub
        .ok("post", "/v1/channels", open(bob_node, "static_remotekey"))
        .await["channel_id"]
        .as_str()
        .unwrap()
        .to_string();
    hub.ok("get", "/v1/channels", Req::none()).await;
    hub.ok("post", "/v1/chain/mine", Req::json(json!({"blocks": 3})))
        .await;
    for (c, id) in [(&alice, &ah), (&hub, &ah), (&hub, &hb), (&bob, &hb)] {
        wait_channel(c, id, "active", |ch| ch["state"] == "active").await;
    }
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

/// Invoices and a payment through the hub, watched on the event streams.
async fn payments(net: &Net) {
    let Net {
        doc,
        alice,
        hub,
        bob,
        alice_node,
        hub_node,
        bob_node,
        ..
    } = net;
    let mut alice_events = subscribe(alice_node).await;
    let mut hub_events = subscribe(hub_node).await;
    let mut bob_events = subscribe(bob_node).await;
    let inv = bob
        .ok(
            "post",
            "/v1/invoices",
            Req::json(json!({"amount_msat": 50_000, "description": "coffee", "expiry_secs": 600})),
        )
        .await;
    assert_eq!(inv["route_hints"].as_array().unwrap().len(), 1, "{inv}");
    let req = Req::json(json!({"amount_msat": 1}));
    bob.expect(
        "post",
        "/v1/invoices",
        "/v1/invoices",
        req,
        400,
        Some("invalid_request"),
    )
    .await;
    let paid = alice
        .ok(
            "post",
            "/v1/payments",
            Req::json(json!({"bolt11": inv["bolt11"]})),
        )
        .await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    await_event(doc, &mut alice_events, "payment_succeeded").await;
    await_event(doc, &mut hub_events, "htlc_forwarded").await;
    await_event(doc, &mut bob_events, "invoice_paid").await;
    let again = alice
        .ok(
            "post",
            "/v1/payments",
            Req::json(json!({"bolt11": inv["bolt11"]})),
        )
        .await;
    assert_eq!(again["payment_hash"], paid["payment_hash"], "idempotent");
    for (body, code) in [
        (json!({"bolt11": "lnbcrt1nonsense"}), "invalid_invoice"),
        (
            json!({"bolt11": inv["bolt11"], "amount_msat": 0}),
            "invalid_request",
        ),
        (json!({"amount_msat": 1000}), "invalid_request"),
    ] {
        let req = Req::json(body);
        alice
            .expect("post", "/v1/payments", "/v1/payments", req, 400, Some(code))
            .await;
    }
    let hash = paid["payment_hash"].as_str().unwrap();
    for (c, template, found) in [
        (&alice, "/v1/payments/{payment_hash}", true),
        (&bob, "/v1/invoices/{payment_hash}", true),
        (&hub, "/v1/payments/{payment_hash}", false),
        (&hub, "/v1/invoices/{payment_hash}", false),
    ] {
        let path = fill(template, &[("payment_hash", hash)]);
        let a = c.call("get", template, &path, Req::none()).await;
        assert_eq!(
            a.status,
            if found { 200 } else { 404 },
            "{path}: {}",
            a.body
        );
        let bad = fill(template, &[("payment_hash", "beef")]);
        let a = c.call("get", template, &bad, Req::none()).await;
        assert_eq!(a.error_code(), "invalid_request");
    }
    let path = format!("/v1/invoices/{hash}");
    let template = "/v1/invoices/{payment_hash}";
    let shown = bob
        .expect("get", template, &path, Req::none(), 200, None)
        .await
        .json();
    assert_eq!(shown["status"], "paid");
    assert!(shown["preimage"].is_string());
    let open_inv = hub
        .ok(
            "post",
            "/v1/invoices",
            Req::json(json!({"description": "any amount"})),
        )
        .await;
    let open_hash = open_inv["payment_hash"].as_str().unwrap();
    for (c, h, status) in [
        (&hub, open_hash, 200),
        (&bob, hash, 400),
        (&hub, ZERO_ID, 404),
    ] {
        let path = format!("/v1/invoices/{h}");
        let a = c
            .call("delete", "/v1/invoices/{payment_hash}", &path, Req::none())
            .await;
        assert_eq!(a.status, status, "{path}: {}", a.body);
    }
    for c in [&alice, &hub, &bob] {
        let forwards = c.ok("get", "/v1/forwards", Req::none()).await;
        let invoices = c.ok("get", "/v1/invoices", Req::none()).await;
        let payments = c.ok("get", "/v1/payments", Req::none()).await;
        let listed = forwards["forwards"].as_array().unwrap().len()
            + invoices["invoices"].as_array().unwrap().len()
            + payments["payments"].as_array().unwrap().len();
        assert!(listed > 0, "every node has something to list");
        for path in [
            "/v1/info",
            "/v1/balance",
            "/v1/channels",
            "/v1/peers",
            "/v1/policy",
        ] {
            c.ok("get", path, Req::none()).await;
        }
        let a = c
            .expect("get", "/metrics", "/metrics", Req::none(), 200, None)
            .await;
        assert!(a.body.contains("chanhub_channels"), "{}", a.body);
        let a = c
            .expect("get", "/v1/events", "/v1/events", Req::none(), 200, None)
            .await;
        assert!(a.body.starts_with(": connected"), "{}", a.body);
    }
}

/// The fee policy.
async fn policy(net: &Net) {
    let Net { hub, .. } = net;
    let policy = json!({"base_msat": 1000, "ppm": 100, "cltv_delta": 40});
    assert_eq!(
        hub.ok("put", "/v1/policy", Req::json(policy)).await["ppm"],
        100
    );
    for body in [
        json!({"base_msat": 1000, "ppm": 2_000_000, "cltv_delta": 40}),
        json!({"base_msat": 1000, "ppm": 100}),
    ] {
        let req = Req::json(body);
        hub.expect(
            "put",
            "/v1/policy",
            "/v1/policy",
            req,
            400,
            Some("invalid_request"),
        )
        .await;
    }
}

/// A channel straight from alice to bob, for the drills: a valid update_fee by the opener
/// (which also revokes a commitment of alice's), bad HTLC commands refused, then the cheat.
async fn drills_and_closes(net: &Net, ah: &str, hb: &str) {
    let Net {
        alice,
        hub,
        bob,
        bob_node,
        ..
    } = net;
    let ab = alice
        .ok("post", "/v1/channels", open(bob_node, "anchors"))
        .await["channel_id"]
        .as_str()
        .unwrap()
        .to_string();
    hub.ok("post", "/v1/chain/mine", Req::json(json!({"blocks": 3})))
        .await;
    for c in [&alice, &bob] {
        wait_channel(c, &ab, "active", |ch| ch["state"] == "active").await;
    }
    let dev = |op: &str| format!("/v1/dev/channels/{ab}/{op}");
    alice
        .expect(
            "post",
            "/v1/dev/channels/{id}/update_fee",
            &dev("update_fee"),
            Req::json(json!({"feerate_per_kw": 1000})),
            200,
            None,
        )
        .await;
    for (op, body, status) in [
        (
            "add_htlc",
            json!({"amount_msat": 1000, "payment_hash": "ab", "cltv_expiry": 500}),
            400,
        ),
        ("fulfill", json!({"htlc_id": 999, "preimage": ZERO_ID}), 409),
        ("fail", json!({"htlc_id": 999}), 409),
        ("update_fee", json!({"feerate_per_kw": "high"}), 400),
    ] {
        let template = format!("/v1/dev/channels/{{id}}/{op}");
        let a = alice
            .call("post", &template, &dev(op), Req::json(body))
            .await;
        assert_eq!(a.status, status, "{op}: {}", a.body);
    }
    let cheat = format!("/v1/dev/channels/{ZERO_ID}/cheat");
    let req = Req::json(json!({}));
    alice
        .expect(
            "post",
            "/v1/dev/channels/{id}/cheat",
            &cheat,
            req,
            404,
            Some("channel_not_found"),
        )
        .await;
    // The fee update's revocation may still be on its way: 409 until it arrives.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let a = alice
            .call(
                "post",
                "/v1/dev/channels/{id}/cheat",
                &dev("cheat"),
                Req::json(json!({})),
            )
            .await;
        if a.status == 200 {
            assert!(a.json()["txid"].is_string());
            break;
        }
        assert_eq!(a.error_code(), "channel_refused", "{}", a.body);
        assert!(
            Instant::now() < deadline,
            "no revoked commitment: {}",
            a.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Closing: alice's channel to the hub by force, the hub's to bob cooperatively.
    let force = format!("/v1/channels/{ah}/close");
    let forced = alice
        .expect(
            "post",
            "/v1/channels/{id}/close",
            &force,
            Req::json(json!({"force": true})),
            200,
            None,
        )
        .await
        .json();
    assert_eq!(
        (forced["force"].clone(), forced["state"].clone()),
        (json!(true), json!("closing"))
    );
    let close = format!("/v1/channels/{hb}/close");
    let closing = hub
        .expect(
            "post",
            "/v1/channels/{id}/close",
            &close,
            Req::none(),
            200,
            None,
        )
        .await;
    assert_eq!(closing.json()["closing"], true);
    wait_channel(hub, hb, "closing transaction agreed", |ch| {
        ch["phase"] == "closing"
    })
    .await;
    // Mine until bob has recorded how the breach was settled.
    let deadline = Instant::now() + PATIENCE;
    loop {
        hub.ok("post", "/v1/chain/mine", Req::json(json!({"blocks": 1})))
            .await;
        let path = format!("/v1/channels/{ab}");
        let ch = bob
            .expect("get", "/v1/channels/{id}", &path, Req::none(), 200, None)
            .await
            .json();
        if !ch["resolution"].is_null() {
            assert_eq!(ch["resolution"]["spend"], "revoked");
            break;
        }
        assert!(Instant::now() < deadline, "no resolution: {ch:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_channel(hub, hb, "closed", |ch| ch["state"] == "closed").await;
    for c in [&alice, &hub, &bob] {
        c.ok("get", "/v1/channels", Req::none()).await;
        c.ok("get", "/v1/balance", Req::none()).await;
        c.ok("get", "/v1/onchain/transactions", Req::none()).await;
    }
}

/// Every operation was asked, and answered with success at least once.
fn every_operation_succeeded(net: &Net) {
    let Net {
        doc,
        alice,
        hub,
        bob,
        ..
    } = net;
    for (path, method) in operations(doc) {
        let ok = [&alice, &hub, &bob].iter().any(|c| {
            c.seen
                .borrow()
                .get(&(path.clone(), method.clone()))
                .is_some_and(|s| s.iter().any(|st| (200..300).contains(st)))
        });
        let untested_ok = ["add_htlc", "fulfill", "fail"]
            .iter()
            .any(|op| path.ends_with(&format!("/{op}")));
        assert!(
            ok || untested_ok,
            "{method} {path} never succeeded in this test"
        );
    }
}
