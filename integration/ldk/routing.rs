//! Routes from gossip with LDK: payments between chanhub and LDK nodes that are not channel
//! peers, on routes each payer found in its gossiped graph (no invoice here carries a route
//! hint), split across channels when one cannot carry the amount, and keysend both ways.
//!
//! ```text
//!   wallet (LDK) ═══ hub (chanhub) ─── merchant (chanhub)
//!   user (chanhub) ═══ hub ─── router (LDK) ─── payee (LDK)
//! ```
//!
//! `─` public channels (announced, 6 blocks deep), `═` two private channels of 250,000 sat
//! (wallet) and 200,000 sat (user), opened by the payer. The hub opens its public channels; the
//! router opens to the payee. ldk-node accepts at most 10 % of a channel it did not open in
//! flight towards it, and the hub forwards for one incoming peer at most half of that, so the
//! channels into the LDK nodes are large: 10,000,000 sat hub → router, 5,000,000 router → payee.

use super::*;
use ldk_node::payment::PaymentKind;

use super::gossip::{wait_long as wait_gossip, GOSSIP_PATIENCE};

/// A chanhub node that announces itself at its peer address (it may open public channels).
async fn announcing_hub(dir: &std::path::Path, chain: &TestNode) -> TestNode {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut config = node_config(dir, Some(chain), addr.parse().unwrap(), false);
    config.alias = "hub".into();
    config.announce_addrs = vec![addr.parse().unwrap()];
    start_config(config).await
}

/// `from` opens a channel to `node_id` at `addr` and returns its id.
async fn open(
    from: &TestNode,
    node_id: &str,
    addr: &str,
    capacity_sat: u64,
    announce: bool,
) -> String {
    let opened = from
        .api
        .post(
            "/v1/channels",
            json!({
                "node_id": node_id, "addr": addr, "capacity_sat": capacity_sat,
                "push_msat": 0, "channel_type": "static_remotekey", "announce": announce,
            }),
        )
        .await
        .expect("open");
    opened["channel_id"].as_str().unwrap().to_string()
}

/// The ids of the next `n` channels `w` reports pending with `peer`.
async fn pending_with(w: &Ldk, peer: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    while ids.len() < n {
        let id = w
            .expect_event("ChannelPending", |e| match e {
                Event::ChannelPending {
                    channel_id,
                    counterparty_node_id,
                    ..
                } if counterparty_node_id.to_string() == peer => Some(channel_id.to_string()),
                _ => None,
            })
            .await;
        ids.push(id);
    }
    ids
}

/// The policy `from` set on a channel of `graph` (a chanhub `/v1/graph/channels` answer):
/// the fee it charges to forward `amount_msat`.
fn forward_fee(channel: &Value, from: &str, amount_msat: u64) -> u64 {
    let side = if channel["node1"] == from {
        "node1_policy"
    } else {
        "node2_policy"
    };
    let p = &channel[side];
    p["fee_base_msat"].as_u64().unwrap()
        + amount_msat * p["fee_proportional_millionths"].as_u64().unwrap() / 1_000_000
}

fn succeeded_parts(paid: &Value) -> Vec<Value> {
    paid["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "succeeded")
        .cloned()
        .collect()
}

/// The node ids and the channels into them, along an attempt's route.
fn route_of(attempt: &Value) -> Vec<(String, Value)> {
    attempt["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["node_id"].as_str().unwrap().to_string(),
                h["short_channel_id"].clone(),
            )
        })
        .collect()
}

/// Waits for the LDK node's next `PaymentReceived`: its amount and what it knows of it.
async fn received(w: &Ldk) -> (u64, ldk_node::payment::PaymentDetails) {
    let (id, amount) = w
        .expect_event("PaymentReceived", |e| match e {
            Event::PaymentReceived {
                payment_id,
                amount_msat,
                ..
            } => Some((payment_id.expect("an id"), *amount_msat)),
            _ => None,
        })
        .await;
    (amount, w.node.payment(&id).expect("stored"))
}

/// The hub's settled forwards of the payment `hash`, checked to have come in over both
/// `channels`.
async fn forwarded_over_both(hub: &TestNode, hash: &str, channels: &[String]) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let forwards = hub.api.get("/v1/forwards").await.unwrap();
        let parts: Vec<Value> = forwards["forwards"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["payment_hash"] == hash)
            .cloned()
            .collect();
        let over_both = channels
            .iter()
            .all(|c| parts.iter().any(|f| f["in_channel_id"] == c.as_str()));
        if over_both && parts.iter().all(|f| f["status"] == "settled") {
            return parts;
        }
        assert!(
            Instant::now() < deadline,
            "not settled over both {channels:?}: {forwards:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_between_ldk_and_chanhub_route_over_gossip_split_and_keysend() {
    init_logs();
    let mut tmp = tempfile::tempdir().unwrap();
    if std::env::var_os("CHANHUB_KEEP_TEST_DIR").is_some() {
        tmp.disable_cleanup(true);
        eprintln!("test directory: {}", tmp.path().display());
    }
    let dir = |n: &str| tmp.path().join(n);
    let chain = start_payments(&dir("chain"), None).await;
    let hub = announcing_hub(&dir("hub"), &chain).await;
    let merchant = start_config(NodeConfig {
        accept_keysend: true,
        ..node_config(
            &dir("merchant"),
            Some(&chain),
            "127.0.0.1:0".parse().unwrap(),
            false,
        )
    })
    .await;
    let user = start_payments(&dir("user"), Some(&chain)).await;
    let wallet = start_ldk("wallet", &dir("wallet"), &chain, LdkChannels::Anchors);
    let router = start_ldk(
        "router",
        &dir("router"),
        &chain,
        LdkChannels::StaticRemotekey,
    );
    let payee = start_ldk("payee", &dir("payee"), &chain, LdkChannels::StaticRemotekey);
    let hub_id = hub.id();
    let hub_key: bitcoin::secp256k1::PublicKey = hub_id.parse().unwrap();

    // The merchant's invoices are made before it has a channel, so they carry no route hint:
    // a payer finds the merchant in its graph or not at all.
    let one_path = 40_000_000;
    let (inv_one, hash_one) = hub_invoice(&merchant, one_path).await;
    let split = 300_000_000;
    let (inv_split, hash_split) = hub_invoice(&merchant, split).await;
    for inv in [&inv_one, &inv_split] {
        assert!(inv.route_hints().is_empty(), "{inv}");
    }

    // A coinbase per channel each opener funds, matured.
    for (addr, n) in [
        (hub.new_address().await, 2),
        (user.new_address().await, 2),
        (
            wallet
                .node
                .onchain_payment()
                .new_address()
                .unwrap()
                .to_string(),
            2,
        ),
        (
            router
                .node
                .onchain_payment()
                .new_address()
                .unwrap()
                .to_string(),
            1,
        ),
    ] {
        chain.mine(n, &addr).await;
    }
    chain.mine(100, &burn_address()).await;
    hub.wait_confirmed(100 * COIN).await;
    user.wait_confirmed(100 * COIN).await;
    for (w, coins) in [(&wallet, 2), (&router, 1)] {
        w.wait("coinbases matured", |n| {
            n.list_balances().spendable_onchain_balance_sats >= coins * 50 * COIN - 10_000
        })
        .await;
    }

    let hub_merchant = open(&hub, &merchant.id(), &merchant.peer_addr(), 1_000_000, true).await;
    let hub_router = open(
        &hub,
        &router.id().to_string(),
        &router.peer_addr(),
        10_000_000,
        true,
    )
    .await;
    let mut user_hub = Vec::new();
    for _ in 0..2 {
        user_hub.push(open(&user, &hub_id, &hub.peer_addr(), 200_000, false).await);
    }
    // One at a time: the wallet's two fundings would otherwise spend the same coin.
    let mut wallet_hub = Vec::new();
    for _ in 0..2 {
        wallet
            .node
            .open_channel(
                hub_key,
                hub.peer_addr().parse().unwrap(),
                250_000,
                None,
                None,
            )
            .expect("the wallet opens");
        let id = pending_with(&wallet, &hub_id, 1).await.remove(0);
        hub.wait_channel(&id, "the hub sees the wallet's channel", |c| {
            c["state"] == "opening"
        })
        .await;
        chain.mine(1, &burn_address()).await;
        wallet
            .wait("the funding confirmed", |n| {
                n.list_channels()
                    .iter()
                    .any(|c| c.channel_id.to_string() == id && c.confirmations == Some(1))
            })
            .await;
        wallet_hub.push(id);
    }
    router
        .node
        .open_announced_channel(payee.id(), payee.addr.clone(), 5_000_000, None, None)
        .expect("the router opens a public channel");
    pending_with(&router, &payee.id().to_string(), 1).await;
    // 7 blocks: LDK leaves route hints out of its invoices once a public channel is that deep.
    chain.mine(7, &burn_address()).await;
    for id in wallet_hub
        .iter()
        .chain(&user_hub)
        .chain([&hub_merchant, &hub_router])
    {
        hub.wait_channel(id, "active", |c| c["state"] == "active")
            .await;
    }
    let payee_id = payee.id().to_string();
    for (w, n) in [(&wallet, 2), (&router, 2), (&payee, 1)] {
        w.wait("channels usable", |node| {
            node.list_channels().iter().filter(|c| c.is_usable).count() == n
        })
        .await;
    }

    // The public channels reach the payers' graphs: the wallet learns hub → merchant from the
    // hub; the user learns hub → router and router → payee, relayed by the hub.
    let merchant_id = merchant.id();
    let deadline = Instant::now() + GOSSIP_PATIENCE;
    let hub_merchant_scid = loop {
        let n = hub.api.get(&format!("/v1/graph/nodes/{merchant_id}")).await;
        if let Some(scid) = n.ok().and_then(|n| n["channels"][0].as_u64()) {
            break scid;
        }
        assert!(
            Instant::now() < deadline,
            "the hub never announced its channel to the merchant"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let graph = wallet.node.network_graph();
    wait_gossip("the wallet learns hub → merchant", || async {
        graph
            .channel(hub_merchant_scid)
            .is_some_and(|c| c.one_to_two.is_some() && c.two_to_one.is_some())
    })
    .await;
    let scid_with = |peer: &str| {
        router
            .channel_with(peer)
            .and_then(|c| c.short_channel_id)
            .expect("confirmed")
    };
    let (hub_router_scid, router_payee_scid) = (scid_with(&hub_id), scid_with(&payee_id));
    let deadline = Instant::now() + GOSSIP_PATIENCE;
    let public_channel = |scid: u64| {
        let user = &user;
        async move {
            let c = user
                .api
                .get(&format!("/v1/graph/channels/{scid}"))
                .await
                .ok()?;
            (!c["node1_policy"].is_null() && !c["node2_policy"].is_null()).then_some(c)
        }
    };
    let (hub_router_graph, router_payee_graph) = loop {
        if let (Some(a), Some(b)) = (
            public_channel(hub_router_scid).await,
            public_channel(router_payee_scid).await,
        ) {
            break (a, b);
        }
        assert!(
            Instant::now() < deadline,
            "the user never learnt hub → router → payee"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let router_id = router.id().to_string();

    // 1. The LDK wallet pays the chanhub merchant two hops away, over hub → merchant from its
    // graph; the hub charges its policy.
    let fee = ldk_pays(&wallet, &inv_one)
        .await
        .expect("the wallet pays the merchant");
    assert_eq!(fee, Some(hub_fee(one_path)));
    let got = merchant
        .api
        .get(&format!("/v1/invoices/{hash_one}"))
        .await
        .unwrap();
    assert_eq!(got["status"], "paid", "{got:#}");
    assert_eq!(got["received_msat"], one_path);

    // 2. The chanhub user pays the LDK payee behind the LDK router: hub → router → payee from
    // gossip (LDK's invoice names no hint once its public channel is 7 blocks deep).
    let amount = 50_000_000;
    let inv = payee
        .node
        .bolt11_payment()
        .receive(amount, &description("user pays payee"), 3600)
        .unwrap();
    assert!(inv.route_hints().is_empty(), "{inv}");
    let paid = hub_pays(&user, &inv).await;
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    let parts = succeeded_parts(&paid);
    assert_eq!(parts.len(), 1, "{paid:#}");
    let route = route_of(&parts[0]);
    let hops: Vec<&str> = route.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(hops, [hub_id.as_str(), &router_id, &payee_id], "{paid:#}");
    assert_eq!(route[1].1, hub_router_graph["short_channel_id_str"]);
    assert_eq!(route[2].1, router_payee_graph["short_channel_id_str"]);
    let router_fee = forward_fee(&router_payee_graph, &router_id, amount);
    assert_eq!(
        paid["fee_msat"],
        hub_fee(amount + router_fee) + router_fee,
        "{paid:#}"
    );
    let (got, _) = received(&payee).await;
    assert_eq!(got, amount);

    // 4. A chanhub MPP to the LDK payee: more than either of the user's channels can carry,
    // so the user splits it over both, each part along hub → router → payee.
    let inv = payee
        .node
        .bolt11_payment()
        .receive(split, &description("split"), 3600)
        .unwrap();
    assert!(inv.features().is_some_and(|f| f.supports_basic_mpp()));
    let paid = hub_pays(&user, &inv).await;
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    // The payment succeeds with its first fulfilled part; the others settle right after.
    let path = format!("/v1/payments/{}", paid["payment_hash"].as_str().unwrap());
    let mut paid = paid;
    let deadline = Instant::now() + PATIENCE;
    while paid["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["status"] == "pending")
    {
        assert!(Instant::now() < deadline, "parts still pending: {paid:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        paid = user.api.get(&path).await.unwrap();
    }
    let parts = succeeded_parts(&paid);
    assert!(parts.len() >= 2, "{paid:#}");
    let sum: u64 = parts
        .iter()
        .map(|p| p["amount_msat"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, split, "{paid:#}");
    for p in &parts {
        let route = route_of(p);
        assert_eq!(route.len(), 3, "{p:#}");
        assert_eq!(route[2].0, payee_id);
    }
    let hash = paid["payment_hash"].as_str().unwrap();
    forwarded_over_both(&hub, hash, &user_hub).await;
    let (got, _) = received(&payee).await;
    assert_eq!(got, split);

    // 5. Keysend from chanhub to LDK: the preimage in the onion, the route from gossip.
    let amount = 25_000_000;
    let paid = user
        .api
        .post(
            "/v1/payments",
            json!({ "node_id": payee_id, "amount_msat": amount }),
        )
        .await
        .expect("keysend answers");
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    let parts = succeeded_parts(&paid);
    assert_eq!(route_of(&parts[0]).len(), 3, "{paid:#}");
    let (got, details) = received(&payee).await;
    assert_eq!(got, amount);
    match details.kind {
        PaymentKind::Spontaneous { preimage, .. } => {
            assert_eq!(
                preimage.map(|p| hex::encode(p.0)),
                paid["preimage"].as_str().map(String::from)
            )
        }
        k => panic!("not a keysend payment: {k:?}"),
    }

    // 3. The LDK wallet's MPP to the chanhub merchant: more than either of its channels can
    // carry, so LDK splits it (the invoice has basic_mpp); the merchant holds the parts until
    // the total is there and settles them together.
    assert!(
        inv_split.features().is_some_and(|f| f.supports_basic_mpp()),
        "{inv_split}"
    );
    let fee = ldk_pays(&wallet, &inv_split)
        .await
        .expect("the wallet's MPP to the merchant");
    let got = merchant
        .api
        .get(&format!("/v1/invoices/{hash_split}"))
        .await
        .unwrap();
    assert_eq!(got["status"], "paid", "{got:#}");
    assert_eq!(got["received_msat"], split);
    let parts = forwarded_over_both(&hub, &hash_split, &wallet_hub).await;
    let hub_fees: u64 = parts.iter().map(|f| f["fee_msat"].as_u64().unwrap()).sum();
    assert_eq!(fee, Some(hub_fees));

    // 5. Keysend from LDK to chanhub, two hops: the merchant accepts it (accept_keysend); the
    // hub, which does not, refuses one sent to it.
    let amount = 20_000_000;
    let id = wallet
        .node
        .spontaneous_payment()
        .send(amount, hub_key, None)
        .expect("send");
    let refused = wallet
        .expect_event("keysend to the hub fails", |e| match e {
            Event::PaymentFailed {
                payment_id, reason, ..
            } if *payment_id == Some(id) => Some(*reason),
            Event::PaymentSuccessful { payment_id, .. } if *payment_id == Some(id) => {
                panic!("the hub took a keysend it does not accept")
            }
            _ => None,
        })
        .await;
    assert_eq!(refused, Some(PaymentFailureReason::RecipientRejected));
    let merchant_key = merchant_id.parse().unwrap();
    let id = wallet
        .node
        .spontaneous_payment()
        .send(amount, merchant_key, None)
        .expect("send");
    let fee = ldk_outcome(&wallet, id)
        .await
        .expect("the merchant takes the keysend");
    assert_eq!(fee, Some(hub_fee(amount)));
    let hash = match wallet.node.payment(&id).unwrap().kind {
        PaymentKind::Spontaneous { hash, .. } => hex::encode(hash.0),
        k => panic!("not a keysend payment: {k:?}"),
    };
    let got = merchant
        .api
        .get(&format!("/v1/invoices/{hash}"))
        .await
        .unwrap();
    assert_eq!(got["status"], "paid", "{got:#}");
    assert_eq!(got["received_msat"], amount);

    for w in [wallet, router, payee] {
        w.node.stop().unwrap();
    }
}
