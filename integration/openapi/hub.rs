//! Three nodes (alice → hub → bob) asked every operation with real data and with bad input:
//! channels, invoices, a forwarded payment, the drills, a force close, a cooperative close and
//! a breach's resolution, webhooks, the event log replayed, a backup and the dashboard. The
//! phases are in `hub_setup.rs`, `hub_payments.rs` and `hub_events.rs`.

use std::time::{Duration, Instant};

use serde_json::json;

use super::hub_events::*;
use super::hub_payments::*;
use super::hub_setup::*;
use super::*;

/// Waits until `cond` holds of the node's channel `id` (asked through the checker).
pub async fn wait_channel(c: &Checker, id: &str, what: &str, cond: impl Fn(&Value) -> bool) {
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

/// Takes the complete events off the front of `buffer`, as the SSE format says (fields by
/// name, `:` comments and unknown fields left alone, so fields added to the stream do not
/// break it), and checks each against the document's `Event`: its JSON validates, its `type`
/// is the frame's `event:` and its `id` the frame's `id:`. The events' JSON, in order.
pub fn take_frames(doc: &Value, buffer: &mut String) -> Vec<Value> {
    let schema = json!({"$ref": "#/components/schemas/Event"});
    let mut out = Vec::new();
    while let Some(end) = buffer.find("\n\n") {
        let block: String = buffer.drain(..end + 2).collect();
        let (mut id, mut name, mut data) = (None, None, Vec::new());
        for line in block.lines().filter(|l| !l.starts_with(':')) {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => id = Some(value.to_string()),
                "event" => name = Some(value.to_string()),
                "data" => data.push(value),
                _ => {}
            }
        }
        if data.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&data.join("\n")).unwrap();
        let errors = schema::validate(doc, &schema, &v);
        assert!(errors.is_empty(), "{v}: {errors:?}");
        assert_eq!(v["type"].as_str(), name.as_deref(), "{block}");
        assert_eq!(Some(v["id"].to_string()), id, "{block}");
        out.push(v);
    }
    out
}

/// Reads the event stream until an event of `kind` arrives; checks every event (see
/// [`take_frames`]).
pub async fn await_event(doc: &Value, stream: &mut hyper::body::Incoming, kind: &str) {
    use http_body_util::BodyExt;
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let frame = tokio::time::timeout_at(deadline, stream.frame())
            .await
            .unwrap_or_else(|_| panic!("no {kind} event; unread: {buffer:?}"))
            .expect("the stream goes on")
            .unwrap();
        buffer.push_str(std::str::from_utf8(&frame.into_data().unwrap()).unwrap());
        if take_frames(doc, &mut buffer)
            .iter()
            .any(|e| e["type"] == kind)
        {
            return;
        }
    }
}

/// Opens the event stream of the node behind `c`.
pub async fn subscribe(n: &TestNode) -> hyper::body::Incoming {
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
pub fn open(peer: &TestNode, channel_type: &str) -> Req {
    Req::json(json!({
        "node_id": peer.id(), "addr": peer.peer_addr(), "capacity_sat": 1_000_000,
        "push_msat": 0, "channel_type": channel_type,
    }))
}

/// The three nodes, alice → hub → bob on the hub's chain, and a checker for each.
pub struct Net {
    pub doc: Value,
    pub alice: Checker,
    pub hub: Checker,
    pub bob: Checker,
    pub alice_node: TestNode,
    pub hub_node: TestNode,
    pub bob_node: TestNode,
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
    the_dashboard(&net).await;
    chain_and_wallet(&net).await;
    peers(&net).await;
    let (ah, hb) = channels(&net).await;
    payments(&net).await;
    policy(&net).await;
    webhooks(&net).await;
    drills_and_closes(&net, &ah, &hb).await;
    replayed_events(&net).await;
    backup(&net).await;
    exports(&net).await;
    every_operation_succeeded(&net);
    for n in [net.alice_node, net.bob_node, net.hub_node] {
        n.node.shutdown().await;
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
