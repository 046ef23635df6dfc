//! `openapi.yaml` against the running server: every route the router serves is described and
//! every described route is served, with the same methods; every operation, asked with real
//! data (a hub with channels, invoices, payments and forwards) and with bad input, answers a
//! documented status with a body that validates against the documented schema; and every
//! error, whatever went wrong, has the one documented shape and a listed code.

mod channels_support;
mod openapi_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chanhub::api::openapi::{DOCUMENT, PATH};
use chanhub::api::served_paths;
use chanhub::config::NodeConfig;
use chanhub::error::Error;
use channels_support::*;
use openapi_support::schema;
use openapi_support::*;
use serde_json::{json, Value};

/// A node id nobody in these tests has (the generator point).
const STRANGER: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
const ZERO_ID: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A regtest node serving the dev routes, and a checker for it.
async fn node(dir: &std::path::Path, chain_of: Option<&TestNode>) -> TestNode {
    start_config(NodeConfig {
        dev_api: true,
        ..node_config(dir, chain_of, "127.0.0.1:0".parse().unwrap(), false)
    })
    .await
}

fn checker(doc: &Value, n: &TestNode) -> Checker {
    let token = std::fs::read_to_string(&n.node.node_json.api_token_file).unwrap();
    Checker::new(doc.clone(), &n.node.node_json.api_addr.to_string(), &token)
}

/// Fills a path's parameters with well-formed values that name nothing.
fn dummy(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(&rest[..start]);
        out.push_str(if &rest[start + 1..end] == "node_id" {
            STRANGER
        } else {
            ZERO_ID
        });
        rest = &rest[end + 1..];
    }
    out + rest
}

#[test]
fn the_document_lists_every_error_code() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let listed: BTreeSet<&str> = doc["components"]["schemas"]["Error"]["properties"]["error"]
        ["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let codes: BTreeSet<&str> = Error::CODES.iter().copied().collect();
    assert_eq!(
        listed, codes,
        "the error codes of openapi.yaml and src/error.rs"
    );
}

/// Collects where each schema is referenced from: inside the `allOf` of a schema closed by
/// `unevaluatedProperties: false`, or anywhere else.
fn references(v: &Value, closed_all_of: bool, closed: &mut Vec<String>, open: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                if closed_all_of {
                    closed.push(r.to_string());
                } else {
                    open.push(r.to_string());
                }
            }
            let closes = o.get("unevaluatedProperties") == Some(&Value::Bool(false));
            for (k, sub) in o {
                if k == "allOf" && closes {
                    for s in sub.as_array().unwrap() {
                        references(s, true, closed, open);
                    }
                } else {
                    references(sub, false, closed, open);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|s| references(s, false, closed, open)),
        _ => {}
    }
}

#[test]
fn the_document_is_closed_and_complete() {
    let doc = document();
    let (mut closed, mut open) = (Vec::new(), Vec::new());
    references(&doc, false, &mut closed, &mut open);
    for r in closed.iter().chain(&open) {
        schema::resolve(&doc, r);
    }
    let mut unknown = Vec::new();
    for (name, s) in doc["components"]["schemas"].as_object().unwrap() {
        schema::unknown_keywords(s, name, &mut unknown);
    }
    assert!(
        unknown.is_empty(),
        "keywords the test does not check: {unknown:?}"
    );
    // Undocumented fields must fail the test: every object schema forbids them, itself or
    // through the closed schema that includes it.
    for (name, s) in doc["components"]["schemas"].as_object().unwrap() {
        if s.get("properties").is_none() || s.get("additionalProperties") == Some(&json!(false)) {
            continue;
        }
        let r = format!("#/components/schemas/{name}");
        assert!(
            closed.contains(&r) && !open.contains(&r),
            "{name} has properties but allows others"
        );
    }
    for (path, method) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path}: no success"
        );
        let public = op.get("security") == Some(&json!([]));
        assert_eq!(
            responses.contains_key("401"),
            !public,
            "{method} {path}: 401 documented exactly when a token is needed"
        );
        let params: Vec<&str> = doc["paths"][&path]["parameters"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| {
                        let p = match p.get("$ref") {
                            Some(r) => schema::resolve(&doc, r.as_str().unwrap()),
                            None => p,
                        };
                        p["name"].as_str().unwrap()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let in_path: Vec<&str> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(params, in_path, "{path}: its parameters");
    }
}

#[tokio::test]
async fn every_route_is_described_and_every_description_served() {
    init_logs();
    let doc = document();
    let described: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let dev_only: BTreeSet<String> = described
        .iter()
        .filter(|p| doc["paths"][p.as_str()]["x-served-when"] == "dev_api")
        .cloned()
        .collect();
    let served = |dev_api| -> BTreeSet<String> {
        let paths = served_paths(dev_api);
        let set: BTreeSet<String> = paths.iter().map(|p| p.to_string()).collect();
        assert_eq!(set.len(), paths.len(), "a path routed twice");
        set
    };
    assert_eq!(served(true), described, "routed (dev_api) vs openapi.yaml");
    let without_dev: BTreeSet<String> = described.difference(&dev_only).cloned().collect();
    assert_eq!(served(false), without_dev, "routed without dev_api");

    // The methods of each path: the router answers 405 to the others.
    let tmp = tempfile::tempdir().unwrap();
    let n = node(tmp.path(), None).await;
    let c = checker(&doc, &n);
    let documented = operations(&doc);
    for path in served(true) {
        for method in ["get", "post", "put", "delete", "patch"] {
            let a = c.send(method, &dummy(&path), &Req::none()).await;
            let is_documented = documented.contains(&(path.clone(), method.to_string()));
            assert_eq!(
                a.status != 405,
                is_documented,
                "{method} {path}: answered {} {}, documented: {is_documented}",
                a.status,
                a.body
            );
            if a.status == 405 {
                assert_eq!(a.error_code(), "method_not_allowed");
            }
            // Not the fallback: every routed path answers something of its own.
            assert!(
                !(a.status == 404 && a.json()["error"]["message"] == "no such endpoint"),
                "{method} {path} fell through to the fallback"
            );
        }
    }
    n.node.shutdown().await;
}

#[tokio::test]
async fn every_error_has_the_one_shape() {
    init_logs();
    let doc = document();
    let tmp = tempfile::tempdir().unwrap();
    let n = node(tmp.path(), None).await;
    let c = checker(&doc, &n);
    let check_error = |c: &Checker, a: &Answer, status: u16, code: &str| {
        assert!(c.error_conforms(a).is_empty(), "{a:?}");
        assert_eq!((a.status, a.error_code().as_str()), (status, code), "{a:?}");
    };

    // 401, on every operation that needs the token, and on unknown paths.
    for (path, method) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let req = Req {
            no_token: true,
            ..Req::none()
        };
        let a = c.call(&method, &path, &dummy(&path), req).await;
        if op.get("security") == Some(&json!([])) {
            assert_eq!(a.status, 200, "{method} {path} is public");
        } else {
            check_error(&c, &a, 401, "unauthorized");
            assert_eq!(a.www_authenticate.as_deref(), Some("Bearer"));
        }
    }
    let no_token = Req {
        no_token: true,
        ..Req::none()
    };
    let a = c.send("get", "/v1/nothing", &no_token).await;
    check_error(&c, &a, 401, "unauthorized");

    // 404 and 405.
    for path in ["/v1/nothing", "/v1/channels/x/y/z", "/openapi.json"] {
        let a = c.send("get", path, &Req::none()).await;
        check_error(&c, &a, 404, "not_found");
    }
    for (method, path) in [
        ("delete", "/v1/balance"),
        ("put", "/v1/events"),
        ("post", PATH),
    ] {
        let a = c.send(method, path, &Req::none()).await;
        check_error(&c, &a, 405, "method_not_allowed");
    }

    // Bodies: malformed JSON, wrong types, unknown fields, too large, on every operation that
    // takes one; a body the operation reads is JSON whatever its content type says.
    for (path, method) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        if op.get("requestBody").is_none() {
            continue;
        }
        let at = dummy(&path);
        for body in ["{", "[]", "\"x\"", "{\"unknown_field\": 1}", "\u{0}"] {
            let a = c.call(&method, &path, &at, Req::raw(body)).await;
            check_error(&c, &a, 400, "invalid_request");
        }
        let big = format!(
            "{{\"x\": \"{}\"}}",
            "a".repeat(chanhub::api::MAX_BODY_BYTES)
        );
        let a = c.call(&method, &path, &at, Req::raw(big)).await;
        check_error(&c, &a, 413, "payload_too_large");
        let form = Req {
            content_type: Some("application/x-www-form-urlencoded"),
            ..Req::raw("a=b")
        };
        let a = c.call(&method, &path, &at, form).await;
        check_error(&c, &a, 400, "invalid_request");
    }
    let as_text = Req {
        content_type: Some("text/plain"),
        ..Req::json(json!({"base_msat": 1000, "ppm": 100, "cltv_delta": 40}))
    };
    c.expect("put", "/v1/policy", "/v1/policy", as_text, 200, None)
        .await;

    // Bad path parameters: not hex, the wrong length, not UTF-8 once decoded.
    for (path, method) in operations(&doc) {
        if !path.contains('{') {
            continue;
        }
        let body = doc["paths"][&path][&method]
            .get("requestBody")
            .map(|_| Req::json(json!({})))
            .unwrap_or_default();
        for bad in ["xyz", "abcd", "%FF%FE", "%00"] {
            let at = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { bad } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let a = c.call(&method, &path, &at, body.clone()).await;
            assert!(c.error_conforms(&a).is_empty(), "{a:?}");
            assert_eq!(a.status, 400, "{method} {at}: {}", a.body);
            let code = a.error_code();
            assert!(
                code == "invalid_request"
                    || (path.contains("{node_id}") && code == "invalid_node_id"),
                "{method} {at}: {}",
                a.body
            );
        }
    }

    // Query strings: no operation takes one; they are ignored, however odd.
    for q in ["?x=1", "?%zz", "?&&==", "?limit=-1&limit=a"] {
        let a = c
            .send("get", &format!("/v1/channels{q}"), &Req::none())
            .await;
        assert_eq!(a.status, 200, "{q}: {}", a.body);
        assert!(c.conforms("get", "/v1/channels", &a).is_empty());
    }
    n.node.shutdown().await;
}

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

#[tokio::test]
async fn the_document_matches_a_running_hub() {
    init_logs();
    let doc = document();
    let tmp = tempfile::tempdir().unwrap();
    let hub_node = node(&tmp.path().join("hub"), None).await;
    let alice_node = node(&tmp.path().join("alice"), Some(&hub_node)).await;
    let bob_node = node(&tmp.path().join("bob"), Some(&hub_node)).await;
    let (hub, alice, bob) = (
        checker(&doc, &hub_node),
        checker(&doc, &alice_node),
        checker(&doc, &bob_node),
    );

    // The public document.
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

    // Chain and wallet: fund the hub and alice.
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

    // Peers.
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

    // Channels: alice → hub and hub → bob, opened through the checker; bad opens refused.
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
    let open = |peer: &TestNode, channel_type: &str| {
        Req::json(json!({
            "node_id": peer.id(), "addr": peer.peer_addr(), "capacity_sat": 1_000_000,
            "push_msat": 0, "channel_type": channel_type,
        }))
    };
    let ah = alice
        .ok("post", "/v1/channels", open(&hub_node, "anchors"))
        .await["channel_id"]
        .as_str()
        .unwrap()
        .to_string();
    let hb = hub
        .ok("post", "/v1/channels", open(&bob_node, "static_remotekey"))
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

    // Invoices and a payment through the hub, watched on the event streams.
    let mut alice_events = subscribe(&alice_node).await;
    let mut hub_events = subscribe(&hub_node).await;
    let mut bob_events = subscribe(&bob_node).await;
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
    await_event(&doc, &mut alice_events, "payment_succeeded").await;
    await_event(&doc, &mut hub_events, "htlc_forwarded").await;
    await_event(&doc, &mut bob_events, "invoice_paid").await;
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

    // The fee policy.
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

    // A channel straight from alice to bob, for the drills: a valid update_fee by the opener
    // (which also revokes a commitment of alice's), bad HTLC commands refused, then the cheat.
    let ab = alice
        .ok("post", "/v1/channels", open(&bob_node, "anchors"))
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
    wait_channel(&hub, &hb, "closing transaction agreed", |ch| {
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
    wait_channel(&hub, &hb, "closed", |ch| ch["state"] == "closed").await;
    for c in [&alice, &hub, &bob] {
        c.ok("get", "/v1/channels", Req::none()).await;
        c.ok("get", "/v1/balance", Req::none()).await;
        c.ok("get", "/v1/onchain/transactions", Req::none()).await;
    }

    // Every operation was asked, and answered with success at least once.
    for (path, method) in operations(&doc) {
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
    for n in [alice_node, bob_node, hub_node] {
        n.node.shutdown().await;
    }
}
