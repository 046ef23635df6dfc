//! The later phases of the three-node scenario: invoices and a forwarded payment, the fee
//! policy, the drills and the closes.

use std::time::{Duration, Instant};

use serde_json::json;

use super::hub::*;
use super::*;

/// Invoices and a payment through the hub, watched on the event streams.
pub async fn payments(net: &Net) {
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
    // Boxed: the scenario's future is large enough already for a test thread's stack.
    Box::pin(hold_invoices(net, &mut bob_events)).await;
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
        // Boxed: the scenario's future is large enough already for a test thread's stack.
        Box::pin(limited_lists(c)).await;
        for path in [
            "/v1/info",
            "/v1/balance",
            "/v1/channels",
            "/v1/peers",
            "/v1/policy",
            "/v1/lsp/jit",
            "/v1/lsp/orders",
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

/// Hold invoices: one held then settled, one held then cancelled, each with its events; a
/// wrong preimage and a settle of what is not held refused.
async fn hold_invoices(net: &Net, bob_events: &mut hyper::body::Incoming) {
    use bitcoin::hashes::{sha256, Hash};
    let Net {
        doc, alice, bob, ..
    } = net;
    let template = "/v1/invoices/{payment_hash}/settle";
    for (n, settle) in [(1u8, true), (2, false)] {
        let preimage = [n; 32];
        let hash = hex::encode(sha256::Hash::hash(&preimage).to_byte_array());
        let inv = bob
            .ok(
                "post",
                "/v1/invoices",
                Req::json(
                    json!({"amount_msat": 30_000, "description": "escrow", "payment_hash": hash}),
                ),
            )
            .await;
        let path = fill(template, &[("payment_hash", &hash)]);
        let body = Req::json(json!({"preimage": hex::encode(preimage)}));
        let a = bob.call("post", template, &path, body).await;
        assert_eq!(a.error_code(), "invalid_request", "open: {}", a.body);
        alice
            .ok(
                "post",
                "/v1/payments",
                Req::json(json!({"bolt11": inv["bolt11"], "wait": false})),
            )
            .await;
        await_event(doc, bob_events, "invoice_held").await;
        let wrong = Req::json(json!({"preimage": hex::encode([9u8; 32])}));
        let a = bob.call("post", template, &path, wrong).await;
        assert_eq!(a.error_code(), "invalid_request", "{}", a.body);
        if settle {
            let body = Req::json(json!({"preimage": hex::encode(preimage)}));
            let paid = bob.expect("post", template, &path, body, 200, None).await;
            assert_eq!(paid.json()["status"], "paid");
            await_event(doc, bob_events, "invoice_paid").await;
        } else {
            let path = format!("/v1/invoices/{hash}");
            let a = bob
                .call("delete", "/v1/invoices/{payment_hash}", &path, Req::none())
                .await;
            assert_eq!(a.status, 200, "{}", a.body);
            await_event(doc, bob_events, "invoice_cancelled").await;
        }
    }
}

/// The three lists with `?limit=`: the newest rows of the full list, in its order; a limit
/// that is not an integer from 1 to 10000 is refused.
async fn limited_lists(c: &Checker) {
    for (path, key) in [
        ("/v1/invoices", "invoices"),
        ("/v1/payments", "payments"),
        ("/v1/forwards", "forwards"),
    ] {
        let ids = |v: &Value| -> Vec<String> {
            v[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    format!(
                        "{}/{}/{}",
                        r["payment_hash"], r["in_channel_id"], r["in_htlc_id"]
                    )
                })
                .collect()
        };
        let all = ids(&c.ok("get", path, Req::none()).await);
        for n in [1, 10_000] {
            let limited = c
                .expect(
                    "get",
                    path,
                    &format!("{path}?limit={n}"),
                    Req::none(),
                    200,
                    None,
                )
                .await
                .json();
            let want: Vec<String> = all.iter().take(n).cloned().collect();
            assert_eq!(ids(&limited), want, "{path}?limit={n}");
        }
        for bad in ["0", "10001", "-1", "x", ""] {
            c.expect(
                "get",
                path,
                &format!("{path}?limit={bad}"),
                Req::none(),
                400,
                Some("invalid_request"),
            )
            .await;
        }
    }
}

/// The fee policy.
pub async fn policy(net: &Net) {
    let Net { hub, .. } = net;
    let policy = json!({"base_msat": 1000, "ppm": 100, "cltv_delta": 40});
    assert_eq!(
        hub.ok("put", "/v1/policy", Req::json(policy)).await["ppm"],
        100
    );
    for body in [
        json!({"base_msat": 1000, "ppm": 2_000_000, "cltv_delta": 40}),
        json!({"base_msat": 1000, "ppm": 100, "cltv_delta": 33}),
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
pub async fn drills_and_closes(net: &Net, ah: &str, hb: &str) {
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
