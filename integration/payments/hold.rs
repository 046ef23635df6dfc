//! Hold invoices: alice pays bob's hold invoices through the hub. Each payment is held by bob
//! (status `held`, `invoice_held`), still held after bob restarts, then settled with the
//! preimage (alice's payment succeeds with it), cancelled (alice's fails), or left until bob
//! fails it back by himself as its expiry nears (`invoice_cancelled`, `cltv_expiry`), on a
//! block or, when the margin passed while he was down, at his start.

use chanhub::events::LoggedEvent;
use tokio::sync::broadcast;

use super::*;

fn preimage(n: u8) -> [u8; 32] {
    [n; 32]
}

fn hash_hex(n: u8) -> String {
    hex::encode(sha256::Hash::hash(&preimage(n)).to_byte_array())
}

/// bob issues a hold invoice for preimage `n`'s hash: its `bolt11`.
async fn hold_invoice(bob: &TestNode, n: u8, amount_msat: u64) -> Value {
    let v = bob
        .api
        .post(
            "/v1/invoices",
            json!({"amount_msat": amount_msat, "description": "escrow", "payment_hash": hash_hex(n)}),
        )
        .await
        .expect("hold invoice");
    assert_eq!(v["payment_hash"], hash_hex(n));
    v["bolt11"].clone()
}

/// alice starts paying `bolt11`, without waiting.
async fn start_paying(alice: &TestNode, bolt11: &Value) {
    let p = alice
        .api
        .post("/v1/payments", json!({ "bolt11": bolt11, "wait": false }))
        .await
        .unwrap();
    assert_eq!(p["status"], "pending", "{p:#}");
}

/// bob issues a hold invoice for preimage `n`'s hash; alice starts paying it.
async fn pay_hold(alice: &TestNode, bob: &TestNode, n: u8, amount_msat: u64) {
    start_paying(alice, &hold_invoice(bob, n, amount_msat).await).await;
}

async fn invoice_status(bob: &TestNode, n: u8) -> Value {
    bob.api
        .get(&format!("/v1/invoices/{}", hash_hex(n)))
        .await
        .unwrap()
}

async fn payment_of(alice: &TestNode, n: u8) -> Value {
    alice
        .api
        .get(&format!("/v1/payments/{}", hash_hex(n)))
        .await
        .unwrap()
}

/// Waits for alice's payment of preimage `n` to leave `pending`.
async fn resolved(alice: &TestNode, n: u8) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let p = payment_of(alice, n).await;
        if p["status"] != "pending" {
            return p;
        }
        assert!(Instant::now() < deadline, "payment stuck: {p:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The next logged event of `kind` for preimage `n`'s hash, as JSON.
async fn event(events: &mut broadcast::Receiver<LoggedEvent>, kind: &str, n: u8) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let ev = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no {kind} event"))
            .unwrap();
        let v = serde_json::to_value(&ev).unwrap();
        if v["type"] == kind && v["payment_hash"] == hash_hex(n) {
            return v;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_invoices_are_held_across_a_restart_then_settled_cancelled_or_failed_back() {
    let net = three_nodes().await;
    let before = balances(&net).await;
    let amount = 40_000_000;
    let mut events = net.bob.node.channels().subscribe_events();
    for n in [1, 2] {
        pay_hold(&net.alice, &net.bob, n, amount).await;
        let held = event(&mut events, "invoice_held", n).await;
        assert_eq!(held["amount_msat"], amount);
        assert_eq!(held["received_msat"], amount);
        assert!(held["cltv_expiry"].as_u64().unwrap() > 0, "{held}");
        let inv = invoice_status(&net.bob, n).await;
        assert_eq!(inv["status"], "held", "{inv:#}");
        assert_eq!(inv["received_msat"], amount);
        assert!(inv.get("preimage").is_none());
    }
    assert_eq!(payment_of(&net.alice, 1).await["status"], "pending");

    // bob stops with both payments held, and comes back on the same address.
    let Net {
        alice,
        hub,
        bob,
        ah,
        hb,
        _tmp,
    } = net;
    let listen = bob.node.node_json.peer_addr;
    let dir = bob.dir.clone();
    bob.node.shutdown().await;
    let bob = start_payments_on(&dir, Some(&hub), listen).await;
    let net = Net {
        alice,
        hub,
        bob,
        ah,
        hb,
        _tmp,
    };
    net.bob
        .wait_channel(&net.hb, "the hub reconnected", |c| {
            c["peer_connected"] == true
        })
        .await;
    // A block makes bob's reconcile deliver the held HTLCs again: they stay held.
    net.hub.mine(1, &burn_address()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for n in [1, 2] {
        assert_eq!(invoice_status(&net.bob, n).await["status"], "held");
        assert_eq!(payment_of(&net.alice, n).await["status"], "pending");
    }
    let mut events = net.bob.node.channels().subscribe_events();

    // Settled: the preimage is alice's proof.
    let paid = net
        .bob
        .api
        .post(
            &format!("/v1/invoices/{}/settle", hash_hex(1)),
            json!({ "preimage": hex::encode(preimage(1)) }),
        )
        .await
        .unwrap();
    assert_eq!(paid["status"], "paid", "{paid:#}");
    assert_eq!(paid["preimage"], hex::encode(preimage(1)));
    assert_eq!(paid["received_msat"], amount);
    event(&mut events, "invoice_paid", 1).await;
    let p = resolved(&net.alice, 1).await;
    assert_eq!(p["status"], "succeeded", "{p:#}");
    assert_eq!(p["preimage"], hex::encode(preimage(1)));

    // Cancelled: alice's payment fails.
    let cancelled = net
        .bob
        .api
        .delete(&format!("/v1/invoices/{}", hash_hex(2)))
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let ev = event(&mut events, "invoice_cancelled", 2).await;
    assert_eq!(ev["reason"], "requested");
    let p = resolved(&net.alice, 2).await;
    assert_eq!(p["status"], "failed", "{p:#}");
    assert!(
        p["failure"]
            .as_str()
            .unwrap()
            .contains("incorrect_or_unknown_payment_details"),
        "{p:#}"
    );

    // Left held: bob fails it back once the tip is 15 blocks from its expiry, not before.
    pay_hold(&net.alice, &net.bob, 3, amount).await;
    let held = event(&mut events, "invoice_held", 3).await;
    let expiry = held["cltv_expiry"].as_u64().unwrap() as u32;
    let tip = height(&net.bob).await;
    let due = expiry - chanhub::payments::hold::HOLD_INVOICE_MARGIN_BLOCKS;
    assert!(due > tip + 1, "expiry {expiry} at tip {tip}");
    net.hub.mine(due - tip - 1, &burn_address()).await;
    wait_until("bob sees the tip", || async {
        height(&net.bob).await == due - 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(invoice_status(&net.bob, 3).await["status"], "held");
    net.hub.mine(1, &burn_address()).await;
    let ev = event(&mut events, "invoice_cancelled", 3).await;
    assert_eq!(ev["reason"], "cltv_expiry");
    assert_eq!(invoice_status(&net.bob, 3).await["status"], "cancelled");
    let p = resolved(&net.alice, 3).await;
    assert_eq!(p["status"], "failed", "{p:#}");
    // Too late to settle.
    let got = net
        .bob
        .api
        .post(
            &format!("/v1/invoices/{}/settle", hash_hex(3)),
            json!({ "preimage": hex::encode(preimage(3)) }),
        )
        .await;
    assert!(
        matches!(
            &got,
            Err(chanhub::api::client::ClientError::Api { status: 400, .. })
        ),
        "{got:?}"
    );

    // Held while bob is down, and past its margin when he is back: failed back at his start.
    pay_hold(&net.alice, &net.bob, 4, amount).await;
    let held = event(&mut events, "invoice_held", 4).await;
    let expiry = held["cltv_expiry"].as_u64().unwrap() as u32;
    let Net {
        alice,
        hub,
        bob,
        ah,
        hb,
        _tmp,
    } = net;
    let listen = bob.node.node_json.peer_addr;
    let dir = bob.dir.clone();
    bob.node.shutdown().await;
    let tip = height(&hub).await;
    let due = expiry - chanhub::payments::hold::HOLD_INVOICE_MARGIN_BLOCKS;
    hub.mine(due - tip, &burn_address()).await;
    let bob = start_payments_on(&dir, Some(&hub), listen).await;
    let net = Net {
        alice,
        hub,
        bob,
        ah,
        hb,
        _tmp,
    };
    wait_until(
        "bob fails back the payment held past its margin",
        || async { invoice_status(&net.bob, 4).await["status"] == "cancelled" },
    )
    .await;
    let p = resolved(&net.alice, 4).await;
    assert_eq!(p["status"], "failed", "{p:#}");

    // Only the settled payment moved money: alice paid bob once, plus the hub's fee.
    let after = balances(&net).await;
    let fee = hub_fee(amount);
    assert_eq!(after.0, before.0 - amount - fee, "alice");
    assert_eq!(after.1, before.1 + fee, "the hub");
    assert_eq!(after.2, before.2 + amount, "bob");
}

async fn height(n: &TestNode) -> u32 {
    n.api.get("/v1/info").await.unwrap()["block_height"]
        .as_u64()
        .unwrap() as u32
}

/// A payment whose part our own channel refuses is recorded, and failed: its row would have
/// been written with the part's HTLC, so the payer writes it itself. alice's channel takes
/// dust HTLCs up to 600 sat of exposure, and bob holds her first 400-sat payment, so the
/// second is refused by her own channel (routes do not see dust exposure). Paid again once
/// the first is gone, the failed payment's row is replaced and it succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_our_channel_refuses_is_recorded_failed_and_can_be_paid_again() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_payments(&tmp.path().join("hub"), None).await;
    let mut config = node_config(
        &tmp.path().join("alice"),
        Some(&hub),
        "127.0.0.1:0".parse().unwrap(),
        false,
    );
    config.max_dust_htlc_exposure_msat = 600_000;
    let alice = start_config(config).await;
    let bob = start_payments(&tmp.path().join("bob"), Some(&hub)).await;
    fund(&hub).await;
    fund(&alice).await;
    open_active(&alice, &hub, CAPACITY_SAT, 0, "anchors").await;
    open_active(&hub, &bob, CAPACITY_SAT, 0, "static_remotekey").await;
    wait_until("bob knows a route hint", || async {
        !bob.node.channels().route_hints().await.unwrap().is_empty()
    })
    .await;
    let amount = 400_000;
    let mut events = bob.node.channels().subscribe_events();
    pay_hold(&alice, &bob, 1, amount).await;
    event(&mut events, "invoice_held", 1).await;

    let second = hold_invoice(&bob, 2, amount).await;
    let pay = json!({ "bolt11": second, "wait": true });
    let p = alice.api.post("/v1/payments", pay).await.unwrap();
    assert_eq!(p["status"], "failed", "{p:#}");
    assert!(p["failure"].as_str().unwrap().contains("refused"), "{p:#}");
    let stored = payment_of(&alice, 2).await;
    assert_eq!(stored["status"], "failed", "{stored:#}");
    assert_eq!(stored["amount_msat"], amount);

    // The held payment gives its slot back; the failed one is paid again and succeeds.
    bob.api
        .delete(&format!("/v1/invoices/{}", hash_hex(1)))
        .await
        .unwrap();
    assert_eq!(resolved(&alice, 1).await["status"], "failed");
    start_paying(&alice, &second).await;
    event(&mut events, "invoice_held", 2).await;
    bob.api
        .post(
            &format!("/v1/invoices/{}/settle", hash_hex(2)),
            json!({ "preimage": hex::encode(preimage(2)) }),
        )
        .await
        .unwrap();
    let p = resolved(&alice, 2).await;
    assert_eq!(p["status"], "succeeded", "{p:#}");
    assert_eq!(p["preimage"], hex::encode(preimage(2)));
}
