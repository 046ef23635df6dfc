//! LSPS1 with LDK's client: an LDK wallet buys a channel from the hub (`lsps1.get_info`, then
//! `lsps1.create_order` over LSPS0), pays the order's hold invoice over a channel it opened to
//! the hub first, and the hub opens the bought channel (zero-conf: the wallet trusts its LSP),
//! then settles the invoice. The wallet reads the completed order with `lsps1.get_order`. An
//! order whose channel cannot be funded once paid is refunded: its hold invoice is cancelled.
//!
//! ```text
//!   wallet (LDK) ══ its own channel ══> hub (chanhub, [lsps1] configured)
//!          <══════ the channel bought ═══
//! ```

use super::*;
use chanhub::config::Lsps1Config;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning_liquidity::lsps1::msgs::LSPS1PaymentState;

fn lsps1_config() -> Lsps1Config {
    Lsps1Config {
        min_channel_sat: 100_000,
        max_channel_sat: 2_000_000,
        fee_base_sat: 1_000,
        fee_ppm: 5_000,
        client_wait_secs: 2,
        ..Lsps1Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ldk_wallet_buys_a_channel_with_lsps1_and_it_opens() {
    init_logs();
    let mut tmp = tempfile::tempdir().unwrap();
    if std::env::var_os("CHANHUB_KEEP_TEST_DIR").is_some() {
        tmp.disable_cleanup(true);
        eprintln!("test directory: {}", tmp.path().display());
    }
    let chain = start_payments(&tmp.path().join("chain"), None).await;
    let hub = start_config(NodeConfig {
        lsps1: Some(lsps1_config()),
        ..node_config(
            &tmp.path().join("hub"),
            Some(&chain),
            "127.0.0.1:0".parse().unwrap(),
            false,
        )
    })
    .await;
    let hub_id: ldk_node::bitcoin::secp256k1::PublicKey = hub.id().parse().unwrap();
    let hub_socket = SocketAddress::from_str(&hub.peer_addr()).unwrap();
    let socket = hub_socket.clone();
    let wallet = start_ldk_with(
        "wallet",
        &tmp.path().join("wallet"),
        &chain,
        LdkChannels::Anchors,
        move |b: &mut ldk_node::Builder| {
            b.set_liquidity_source_lsps1(hub_id, socket, None);
        },
    );
    let hub_addr = hub.new_address().await;
    chain.mine(1, &hub_addr).await;
    fund_ldk(&chain, &[&wallet]).await;
    hub.wait_confirmed(50 * COIN).await;
    let mut events = hub.node.channels().subscribe_events();

    // The wallet's own channel to the hub, to pay the order over.
    wallet
        .node
        .open_channel(hub_id, hub_socket, 500_000, None, None)
        .expect("ldk opens");
    let own = wallet
        .expect_event("ChannelPending", |e| match e {
            Event::ChannelPending { channel_id, .. } => Some(channel_id.to_string()),
            _ => None,
        })
        .await;
    hub.wait_channel(&own, "hub sees the channel", |c| c["state"] == "opening")
        .await;
    chain.mine(6, &burn_address()).await;
    wallet
        .expect_event("ChannelReady", |e| match e {
            Event::ChannelReady { channel_id, .. } => Some(channel_id.to_string() == own),
            _ => None,
        })
        .await;
    hub.wait_channel(&own, "hub: active", |c| c["state"] == "active")
        .await;

    // Too small for the hub's options: LDK's client refuses before ordering.
    let lsps1 = wallet.node.lsps1_liquidity();
    assert!(lsps1.request_channel(99_999, 0, 144, false).is_err());
    // An announced channel from a hub that announces nothing: refused.
    assert!(lsps1.request_channel(200_000, 0, 144, true).is_err());

    let status = lsps1
        .request_channel(200_000, 0, 144, false)
        .expect("an order");
    assert_eq!(status.order_params.lsp_balance_sat, 200_000);
    assert!(status.channel_state.is_none());
    let bolt11 = status
        .payment_options
        .bolt11
        .clone()
        .expect("a BOLT 11 option");
    // 1,000 + 0.5% of 200,000.
    assert_eq!(bolt11.fee_total_sat, 2_000);
    assert_eq!(bolt11.order_total_sat, 2_000);
    assert_eq!(bolt11.state, LSPS1PaymentState::ExpectPayment);
    assert_eq!(bolt11.invoice.amount_milli_satoshis(), Some(2_000_000));
    assert!(status.payment_options.onchain.is_none());
    let orders: Value = hub.api.get("/v1/lsp/orders").await.unwrap();
    let row = &orders["orders"][0];
    assert_eq!(row["order_id"], status.order_id.0.as_str());
    assert_eq!(row["client_node_id"], wallet.id().to_string());
    assert_eq!(row["payment_state"], "expect_payment");

    // The wallet pays; the hub holds the payment, opens the channel, then settles.
    let paid = wallet
        .node
        .bolt11_payment()
        .send(&bolt11.invoice, None)
        .expect("send");
    let bought = wallet
        .expect_event("the bought channel pending", |e| match e {
            Event::ChannelPending { channel_id, .. } if channel_id.to_string() != own => {
                Some(channel_id.to_string())
            }
            _ => None,
        })
        .await;
    wallet
        .expect_event("payment outcome", |e| match e {
            Event::PaymentSuccessful { payment_id, .. } if *payment_id == Some(paid) => Some(()),
            Event::PaymentFailed { payment_id, .. } if *payment_id == Some(paid) => {
                panic!("the order's payment failed")
            }
            _ => None,
        })
        .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let event = loop {
        let e = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("lsp_order_paid")
            .unwrap();
        let v = serde_json::to_value(&e).unwrap();
        if v["type"] == "lsp_order_paid" {
            break v;
        }
    };
    assert_eq!(event["order_id"], status.order_id.0.as_str());
    assert_eq!(event["channel_id"], bought.as_str());
    assert_eq!(event["fee_total_sat"], 2_000);

    // Zero-conf: usable before it confirms, the client's side empty, private.
    let c = hub
        .wait_channel(&bought, "hub: the bought channel active", |c| {
            c["state"] == "active"
        })
        .await;
    assert_eq!(c["capacity_sat"], 200_000);
    assert_eq!(c["announce"], false, "{c}");
    wallet
        .wait("the bought channel usable", |n| {
            n.list_channels()
                .iter()
                .any(|c| c.channel_id.to_string() == bought && c.is_usable)
        })
        .await;

    let rows: Value = hub.api.get("/v1/lsp/orders").await.unwrap();
    let row = &rows["orders"][0];
    assert_eq!(row["order_state"], "completed", "{row}");
    assert_eq!(row["payment_state"], "paid");
    assert_eq!(row["channel_id"], bought.as_str());
    let outpoint = row["funding_outpoint"].as_str().unwrap().to_string();
    // The fee is in the hub's books.
    let metrics = metrics_text(&hub).await;
    assert!(
        metrics.contains("\nchanhub_lsp_order_fees_sat_total 2000\n"),
        "{metrics}"
    );

    let done = lsps1
        .check_order_status(status.order_id.clone())
        .expect("get_order");
    let channel = done.channel_state.expect("the channel");
    assert_eq!(channel.funding_outpoint.to_string(), outpoint);
    assert_eq!(
        done.payment_options.bolt11.unwrap().state,
        LSPS1PaymentState::Paid
    );

    // A second order, taken while the hub can fund it; by the time it is paid the hub has
    // spent its only confirmed coin, so the zero-conf channel cannot be funded: the hold
    // invoice is cancelled and the wallet's payment fails back.
    chain.mine(1, &burn_address()).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while hub.confirmed_sat().await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hub's change confirms"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = lsps1
        .request_channel(150_000, 0, 144, false)
        .expect("a second order");
    let invoice = second.payment_options.bolt11.clone().unwrap().invoice;
    hub.api
        .post(
            "/v1/onchain/send",
            json!({ "address": burn_address(), "amount_sat": 100_000 }),
        )
        .await
        .expect("the hub spends its coin");
    assert_eq!(hub.confirmed_sat().await, 0, "only unconfirmed change left");
    let refused = wallet
        .node
        .bolt11_payment()
        .send(&invoice, None)
        .expect("send");
    wallet
        .expect_event("the refund", |e| match e {
            Event::PaymentFailed { payment_id, .. } if *payment_id == Some(refused) => Some(()),
            Event::PaymentSuccessful { payment_id, .. } if *payment_id == Some(refused) => {
                panic!("paid for a channel that did not open")
            }
            _ => None,
        })
        .await;
    let rows: Value = hub.api.get("/v1/lsp/orders?limit=1").await.unwrap();
    let row = &rows["orders"][0];
    assert_eq!(row["order_id"], second.order_id.0.as_str());
    assert_eq!(row["order_state"], "failed", "{row}");
    assert_eq!(row["payment_state"], "refunded");
    assert_eq!(row["channel_id"], Value::Null);
    assert!(
        row["failure"].as_str().unwrap().contains("did not open"),
        "{row}"
    );
    let status = lsps1
        .check_order_status(second.order_id.clone())
        .expect("get_order");
    assert!(status.channel_state.is_none());
    assert_eq!(
        status.payment_options.bolt11.unwrap().state,
        LSPS1PaymentState::Refunded
    );
    assert_eq!(
        wallet.node.list_channels().len(),
        2,
        "its own channel and the one bought"
    );
    let _ = wallet.node.stop();
}

/// A hub selling with `config`, bob (a chanhub user the hub opened a channel to, with coins on
/// his side, to pay orders for others) and an LDK wallet buying from the hub.
struct Buyers {
    chain: TestNode,
    hub: TestNode,
    bob: TestNode,
    wallet: Ldk,
}

async fn hub_bob_and_wallet(tmp: &std::path::Path, config: Lsps1Config) -> Buyers {
    init_logs();
    let chain = start_payments(&tmp.join("chain"), None).await;
    let hub = start_config(NodeConfig {
        lsps1: Some(config),
        ..node_config(
            &tmp.join("hub"),
            Some(&chain),
            "127.0.0.1:0".parse().unwrap(),
            false,
        )
    })
    .await;
    let bob = start_payments(&tmp.join("bob"), Some(&chain)).await;
    let hub_id: ldk_node::bitcoin::secp256k1::PublicKey = hub.id().parse().unwrap();
    let socket = SocketAddress::from_str(&hub.peer_addr()).unwrap();
    let wallet = start_ldk_with(
        "wallet",
        &tmp.join("wallet"),
        &chain,
        LdkChannels::Anchors,
        move |b: &mut ldk_node::Builder| {
            b.set_liquidity_source_lsps1(hub_id, socket, None);
        },
    );
    let hub_addr = hub.new_address().await;
    chain.mine(1, &hub_addr).await;
    chain.mine(100, &burn_address()).await;
    hub.wait_confirmed(50 * COIN).await;
    let opened = hub
        .api
        .post(
            "/v1/channels",
            json!({
                "node_id": bob.id(), "addr": bob.peer_addr(), "capacity_sat": 1_000_000,
                "push_msat": 500_000_000u64,
            }),
        )
        .await
        .expect("hub opens to bob");
    let id = opened["channel_id"].as_str().unwrap().to_string();
    chain.mine(3, &burn_address()).await;
    for n in [&hub, &bob] {
        n.wait_channel(&id, "active", |c| c["state"] == "active")
            .await;
    }
    // The hub sells only channels its confirmed coins can fund: its change must be seen
    // confirmed before an order comes (its wallet follows the chain once a second).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while hub.confirmed_sat().await < 49 * COIN {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hub's change never confirmed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Buyers {
        chain,
        hub,
        bob,
        wallet,
    }
}

/// The wallet orders a channel and goes away: the hub no longer sees it.
async fn order_then_leave(b: &Buyers) -> (String, String) {
    let order = b
        .wallet
        .node
        .lsps1_liquidity()
        .request_channel(200_000, 0, 144, false)
        .expect("an order");
    let invoice = order.payment_options.bolt11.unwrap().invoice;
    let _ = b.wallet.node.stop();
    let wallet_id = b.wallet.id().to_string();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let peers: Value = b.hub.api.get("/v1/peers").await.unwrap();
        let listed = peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["node_id"] == wallet_id.as_str());
        if !listed {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the wallet is gone");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (order.order_id.0, invoice.to_string())
}

/// The newest order's row, once `cond` holds.
async fn order_row(hub: &TestNode, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let rows: Value = hub.api.get("/v1/lsp/orders?limit=1").await.unwrap();
        let row = rows["orders"][0].clone();
        if cond(&row) {
            return row;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {row}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_paid_while_its_client_is_gone_is_refunded() {
    let tmp = tempfile::tempdir().unwrap();
    let b = hub_bob_and_wallet(tmp.path(), lsps1_config()).await;
    let (order_id, invoice) = order_then_leave(&b).await;
    // bob pays it for the wallet; the hub waits `client_wait_secs` for the wallet, then
    // cancels the invoice.
    let paid = b
        .bob
        .api
        .post("/v1/payments", json!({ "bolt11": invoice }))
        .await
        .expect("pay answers");
    assert_eq!(paid["status"], "failed", "refunded: {paid}");
    let row = order_row(&b.hub, "the order failed", |r| r["order_state"] == "failed").await;
    assert_eq!(row["order_id"], order_id.as_str());
    assert_eq!(row["payment_state"], "refunded");
    assert!(
        row["failure"].as_str().unwrap().contains("did not connect"),
        "{row}"
    );
    let channels: Value = b.hub.api.get("/v1/channels").await.unwrap();
    assert_eq!(
        channels["channels"].as_array().unwrap().len(),
        1,
        "only bob's: {channels}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_payment_and_funding_refunds_the_order() {
    let tmp = tempfile::tempdir().unwrap();
    // Long enough for the hub to be stopped while it waits for the client.
    let config = Lsps1Config {
        client_wait_secs: 120,
        ..lsps1_config()
    };
    let b = hub_bob_and_wallet(tmp.path(), config.clone()).await;
    let (order_id, invoice) = order_then_leave(&b).await;
    let paying = b
        .bob
        .api
        .post("/v1/payments", json!({ "bolt11": invoice, "wait": false }))
        .await
        .expect("pay answers");
    let hash = paying["payment_hash"].as_str().unwrap().to_string();
    order_row(&b.hub, "the payment held", |r| r["payment_state"] == "hold").await;

    // Stopped mid-wait: the shutdown does not wait for the client.
    let Buyers {
        chain, hub, bob, ..
    } = b;
    let (dir, listen) = (hub.dir.clone(), hub.node.node_json.peer_addr);
    let stopping = tokio::time::Instant::now();
    hub.node.shutdown().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(60),
        "shutdown took {:?}",
        stopping.elapsed()
    );
    let hub = start_config(NodeConfig {
        lsps1: Some(config),
        ..node_config(&dir, Some(&chain), listen, false)
    })
    .await;
    // At start the hub cannot know whether its open went through: it refunds.
    let row = order_row(&hub, "the order refunded", |r| r["order_state"] == "failed").await;
    assert_eq!(row["order_id"], order_id.as_str());
    assert_eq!(row["payment_state"], "refunded");
    assert!(
        row["failure"].as_str().unwrap().contains("interrupted"),
        "{row}"
    );
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let p: Value = bob.api.get(&format!("/v1/payments/{hash}")).await.unwrap();
        if p["status"] == "failed" {
            break;
        }
        assert_ne!(p["status"], "succeeded", "{p}");
        assert!(tokio::time::Instant::now() < deadline, "bob refunded: {p}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
