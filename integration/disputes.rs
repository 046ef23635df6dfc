//! Disputes on the embedded chain (the start of them): a user broadcasts a revoked commitment
//! with an HTLC in flight, and the hub's justice transaction takes everything; a force close
//! puts the closer's commitment on chain and its funds come back after the delay.

mod channels_support;

use channels_support::*;
use serde_json::json;

const CAPACITY_SAT: u64 = 1_000_000;

async fn confirmed(n: &TestNode) -> u64 {
    n.confirmed_sat().await
}

/// Mines a few blocks at a time until `cond` holds (each tip lets the monitors act on every
/// claim that has matured).
async fn mine_until(miner: &TestNode, what: &str, mut cond: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if cond().await {
            return;
        }
        miner.mine(6, &burn_address()).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheater_loses_everything_to_the_justice_transaction() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_payments(&tmp.path().join("hub"), None).await;
    let alice = start_payments(&tmp.path().join("alice"), Some(&hub)).await;
    fund(&alice).await;
    let id = open_active(&alice, &hub, CAPACITY_SAT, 0, "anchors").await;

    // alice pays the hub 400,000 sat: her previous commitment still has the HTLC in flight.
    let inv = hub
        .api
        .post(
            "/v1/invoices",
            json!({ "amount_msat": 400_000_000u64, "description": "goods" }),
        )
        .await
        .unwrap();
    let paid = alice
        .api
        .post("/v1/payments", json!({ "bolt11": inv["bolt11"] }))
        .await
        .unwrap();
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    let alice_before = confirmed(&alice).await;
    let hub_before = confirmed(&hub).await;

    let cheat = alice
        .api
        .post(&format!("/v1/dev/channels/{id}/cheat"), json!({}))
        .await
        .unwrap();
    assert_eq!(cheat["channel_id"], id.as_str());

    // The revoked commitment confirms; the hub's justice transaction takes alice's
    // to_local and the HTLC output.
    let mut gained = 0;
    mine_until(&hub, "the hub swept the revoked commitment", async || {
        gained = confirmed(&hub).await.saturating_sub(hub_before);
        gained > CAPACITY_SAT - 5_000
    })
    .await;
    hub.wait_channel(&id, "closed", |c| c["state"] == "closed")
        .await;
    // Everything but the commitment's fee, its two anchors and the justice fee.
    assert!(gained <= CAPACITY_SAT, "{gained}");
    assert_eq!(
        confirmed(&alice).await,
        alice_before,
        "the cheater got nothing back"
    );
    for n in [alice, hub] {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_force_close_our_funds_come_back_after_the_delay() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    // alice hosts the chain here: the hub is the one that disappears.
    let alice = start_payments(&tmp.path().join("alice"), None).await;
    let hub = start_payments(&tmp.path().join("hub"), Some(&alice)).await;
    fund(&alice).await;
    let id = open_active(&alice, &hub, CAPACITY_SAT, 0, "static_remotekey").await;
    let inv = hub
        .api
        .post(
            "/v1/invoices",
            json!({ "amount_msat": 300_000_000u64, "description": "goods" }),
        )
        .await
        .unwrap();
    let paid = alice
        .api
        .post("/v1/payments", json!({ "bolt11": inv["bolt11"] }))
        .await
        .unwrap();
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    let alice_before = confirmed(&alice).await;
    let hub_before = confirmed(&hub).await;

    // The hub disappears; alice force-closes.
    let hub_dir = hub.dir.clone();
    hub.node.shutdown().await;
    let closed = alice
        .api
        .post(
            &format!("/v1/channels/{id}/close"),
            json!({ "force": true }),
        )
        .await
        .unwrap();
    assert_eq!(closed["phase"], "force_closing");
    let mut gained = 0;
    mine_until(
        &alice,
        "alice swept her to_local after the delay",
        async || {
            gained = confirmed(&alice).await.saturating_sub(alice_before);
            gained > 700_000 - 5_000
        },
    )
    .await;
    assert!(gained <= 700_000, "{gained}");
    // The hub comes back and takes its to_remote.
    let hub = start_payments(&hub_dir, Some(&alice)).await;
    let mut hub_gained = 0;
    mine_until(&alice, "the hub swept its to_remote", async || {
        hub_gained = confirmed(&hub).await.saturating_sub(hub_before);
        hub_gained > 300_000 - 5_000
    })
    .await;
    for n in [alice, hub] {
        n.node.shutdown().await;
    }
}
