//! LSPS2 with LDK's client: an LDK wallet with no channel and no coins asks the hub for a
//! just-in-time channel invoice (`lsps2.get_info` then `lsps2.buy` over LSPS0), and the
//! invoice it makes routes through the hub on the `jit_channel_scid` the hub stored.
//!
//! ```text
//!   wallet (LDK, nothing on chain) ── LSPS0/LSPS2 ── hub (chanhub, [lsps2] configured)
//! ```

use super::*;
use chanhub::config::Lsps2Config;
use chanhub::lsps::lsps2::Terms;
use ldk_node::lightning::ln::msgs::SocketAddress;

/// The hub's terms in this test.
fn lsps2_config(token: Option<&str>) -> Lsps2Config {
    Lsps2Config {
        terms: Terms {
            min_fee_msat: 2_000_000,
            proportional: 1000,
            valid_for_secs: 3600,
            min_lifetime: 1008,
            max_client_to_self_delay: 2016,
            min_payment_size_msat: 1_000_000,
            max_payment_size_msat: 1_000_000_000,
        },
        lsp_cltv_expiry_delta: 100,
        client_trusts_lsp: false,
        claim_timeout_secs: 60,
        inbound_liquidity_sat: 100_000,
        token: token.map(str::to_string),
    }
}

/// `BLOCKxTXxOUT` of a u64 scid, as the hub's API writes it.
fn scid_text(scid: u64) -> String {
    format!(
        "{}x{}x{}",
        scid >> 40,
        (scid >> 16) & 0xff_ffff,
        scid & 0xffff
    )
}

/// The one route hint hop of a JIT invoice.
fn jit_hop(invoice: &Bolt11Invoice) -> ldk_node::lightning_types::routing::RouteHintHop {
    let hints = invoice.route_hints();
    assert_eq!(hints.len(), 1, "{hints:?}");
    assert_eq!(hints[0].0.len(), 1, "{hints:?}");
    hints[0].0[0].clone()
}

async fn jit_rows(hub: &TestNode) -> Vec<Value> {
    hub.api.get("/v1/lsp/jit").await.unwrap()["jit"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ldk_wallet_with_nothing_gets_a_jit_invoice_through_the_hub() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let chain = start_payments(&tmp.path().join("chain"), None).await;
    let hub = start_config(NodeConfig {
        lsps2: Some(lsps2_config(Some("vip"))),
        ..node_config(
            &tmp.path().join("hub"),
            Some(&chain),
            "127.0.0.1:0".parse().unwrap(),
            false,
        )
    })
    .await;
    let hub_addr = hub.new_address().await;
    chain.mine(1, &hub_addr).await;
    chain.mine(100, &burn_address()).await;
    hub.wait_confirmed(50 * COIN).await;
    let hub_id: ldk_node::bitcoin::secp256k1::PublicKey = hub.id().parse().unwrap();
    let hub_socket = SocketAddress::from_str(&hub.peer_addr()).unwrap();
    let lsp = |token: Option<&str>| {
        let (socket, token) = (hub_socket.clone(), token.map(str::to_string));
        move |b: &mut ldk_node::Builder| {
            b.set_liquidity_source_lsps2(hub_id, socket, token);
        }
    };
    let wallet = start_ldk_with(
        "wallet",
        &tmp.path().join("wallet"),
        &chain,
        LdkChannels::Anchors,
        lsp(Some("vip")),
    );
    assert_eq!(wallet.spendable_sat(), 0, "nothing on chain");
    assert!(wallet.node.list_channels().is_empty());

    // A fixed amount: 50,000 sat, the fee 50,000 msat by the ppm but 2,000,000 at least.
    let amount_msat = 50_000_000;
    let invoice = wallet
        .node
        .bolt11_payment()
        .receive_via_jit_channel(
            amount_msat,
            &description("first coffee"),
            3600,
            Some(2_000_000),
        )
        .expect("a JIT invoice");
    assert_eq!(invoice.amount_milli_satoshis(), Some(amount_msat));
    let hop = jit_hop(&invoice);
    assert_eq!(hop.src_node_id.to_string(), hub.id());
    assert_eq!(hop.cltv_expiry_delta, 100);
    assert_eq!(
        (hop.fees.base_msat, hop.fees.proportional_millionths),
        (0, 0)
    );
    let rows = jit_rows(&hub).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["jit_channel_scid"], scid_text(hop.short_channel_id));
    assert_eq!(row["client_node_id"], wallet.id().to_string());
    assert_eq!(row["state"], "waiting");
    assert_eq!(row["payment_size_msat"], amount_msat);
    assert_eq!(row["opening_fee_msat"], 2_000_000);
    assert_eq!(row["client_trusts_lsp"], false);
    assert_eq!(row["opening_fee_params"]["min_fee_msat"], "2000000");
    // LDK echoes the offer's time re-written (no zero milliseconds): the promise covers the
    // instant, so the sale went through.
    let until = row["opening_fee_params"]["valid_until"].as_str().unwrap();
    assert!(until.ends_with('Z') && !until.contains('.'), "{until}");
    let one: Value = hub.api.get("/v1/lsp/jit?limit=1").await.unwrap();
    assert_eq!(one["jit"].as_array().unwrap().len(), 1);

    // The fee limit is the wallet's: above it, no sale.
    let too_dear = wallet.node.bolt11_payment().receive_via_jit_channel(
        amount_msat,
        &description("too dear"),
        3600,
        Some(1_999_999),
    );
    assert!(too_dear.is_err(), "{too_dear:?}");

    // Any amount: no payment size, so no fee yet.
    let open = wallet
        .node
        .bolt11_payment()
        .receive_variable_amount_via_jit_channel(&description("tips"), 3600, Some(1000))
        .expect("a variable-amount JIT invoice");
    assert_eq!(open.amount_milli_satoshis(), None);
    let hop = jit_hop(&open);
    let rows = jit_rows(&hub).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0]["jit_channel_scid"],
        scid_text(hop.short_channel_id),
        "newest first"
    );
    assert_eq!(rows[0]["payment_size_msat"], Value::Null);
    assert_eq!(rows[0]["opening_fee_msat"], Value::Null);
    assert_eq!(rows[0]["state"], "waiting");

    // Without the hub's token, no offer.
    let stranger = start_ldk_with(
        "stranger",
        &tmp.path().join("stranger"),
        &chain,
        LdkChannels::Anchors,
        lsp(None),
    );
    let refused = stranger.node.bolt11_payment().receive_via_jit_channel(
        amount_msat,
        &description("no token"),
        3600,
        None,
    );
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(jit_rows(&hub).await.len(), 2, "nothing sold");

    let _ = wallet.node.stop();
    let _ = stranger.node.stop();
}

/// The whole JIT flow with LDK's client: a wallet with nothing on chain and no channel
/// sells an invoice to a chanhub user (`bob`, with a channel to the hub); the hub holds
/// bob's payment, opens a zero-conf channel to the wallet, forwards the payment less its
/// opening fee (`extra_fee`), and the wallet pays bob back over the new channel before its
/// funding confirms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ldk_wallet_with_nothing_is_paid_through_a_jit_channel_and_pays_back_at_once() {
    init_logs();
    let mut tmp = tempfile::tempdir().unwrap();
    if std::env::var_os("CHANHUB_KEEP_TEST_DIR").is_some() {
        tmp.disable_cleanup(true);
        eprintln!("test directory: {}", tmp.path().display());
    }
    let chain = start_payments(&tmp.path().join("chain"), None).await;
    let hub = start_config(NodeConfig {
        lsps2: Some(lsps2_config(None)),
        ..node_config(
            &tmp.path().join("hub"),
            Some(&chain),
            "127.0.0.1:0".parse().unwrap(),
            false,
        )
    })
    .await;
    let bob = start_payments(&tmp.path().join("bob"), Some(&chain)).await;
    // A second payer: an LDK node with coins and a channel to the hub.
    let payer = start_ldk(
        "payer",
        &tmp.path().join("payer"),
        &chain,
        LdkChannels::Anchors,
    );
    let hub_addr = hub.new_address().await;
    let bob_addr = bob.new_address().await;
    chain.mine(1, &hub_addr).await;
    chain.mine(1, &bob_addr).await;
    fund_ldk(&chain, &[&payer]).await;
    hub.wait_confirmed(50 * COIN).await;
    bob.wait_confirmed(50 * COIN).await;
    open_active(&bob, &hub, 1_000_000, 0, "anchors").await;
    let hub_id: ldk_node::bitcoin::secp256k1::PublicKey = hub.id().parse().unwrap();
    let hub_socket = SocketAddress::from_str(&hub.peer_addr()).unwrap();
    payer
        .node
        .open_channel(hub_id, hub_socket.clone(), 500_000, None, None)
        .expect("the LDK payer opens to the hub");
    payer
        .expect_event("ChannelPending", |e| {
            matches!(e, Event::ChannelPending { .. }).then_some(())
        })
        .await;
    chain.mine(3, &burn_address()).await;
    payer
        .expect_event("ChannelReady", |e| {
            matches!(e, Event::ChannelReady { .. }).then_some(())
        })
        .await;
    // A wallet without anchors: it has no coins for their reserve, so the hub opens a
    // static_remotekey channel to it.
    let wallet = start_ldk_with(
        "wallet",
        &tmp.path().join("wallet"),
        &chain,
        LdkChannels::StaticRemotekey,
        move |b: &mut ldk_node::Builder| {
            b.set_liquidity_source_lsps2(hub_id, hub_socket, None);
        },
    );
    assert_eq!(wallet.spendable_sat(), 0, "nothing on chain");

    let amount_msat = 50_000_000;
    let invoice = wallet
        .node
        .bolt11_payment()
        .receive_via_jit_channel(
            amount_msat,
            &description("first pay"),
            3600,
            Some(2_000_000),
        )
        .expect("a JIT invoice");
    let paid = bob
        .api
        .post("/v1/payments", json!({ "bolt11": invoice.to_string() }))
        .await
        .unwrap();
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    let got = wallet
        .expect_event("PaymentReceived", |e| match e {
            Event::PaymentReceived { amount_msat, .. } => Some(*amount_msat),
            _ => None,
        })
        .await;
    assert_eq!(
        got,
        amount_msat - 2_000_000,
        "the payment less the opening fee"
    );

    // The hub's books: the sale opened its channel and took its fee.
    let rows = jit_rows(&hub).await;
    let row = &rows[0];
    assert_eq!(row["state"], "opened", "{row}");
    assert_eq!(row["fee_earned_msat"], 2_000_000);
    let channel_id = row["channel_id"].as_str().unwrap().to_string();
    let c = hub.channel(&channel_id).await;
    assert_eq!(c["state"], "active", "{c}");
    assert_eq!(c["zero_conf"], true);
    assert_eq!(c["channel_type"], "static_remotekey");
    // The payment plus the configured inbound liquidity.
    assert_eq!(c["capacity_sat"], 50_000 + 100_000);
    let funding = c["funding_txid"].as_str().unwrap().to_string();
    let metrics = metrics_text(&hub).await;
    assert!(
        metrics.contains("\nchanhub_lsp_opening_fees_msat_total 2000000\n"),
        "{metrics}"
    );
    let forwards: Value = hub.api.get("/v1/forwards").await.unwrap();
    let fwd = &forwards["forwards"][0];
    assert_eq!(fwd["status"], "settled", "{forwards}");
    assert_eq!(fwd["in_msat"], amount_msat);
    assert_eq!(fwd["out_msat"], amount_msat - 2_000_000);

    // At once, before the funding confirms, the wallet pays bob back through the hub (bob's
    // invoice carries a hint of the hub's channel to him once he has its channel_update).
    let channels = bob.node.channels().clone();
    wait_until("bob knows a route hint", || {
        let c = channels.clone();
        async move { !c.route_hints().await.unwrap().is_empty() }
    })
    .await;
    let back = bob
        .api
        .post(
            "/v1/invoices",
            json!({ "amount_msat": 10_000_000, "description": "change" }),
        )
        .await
        .unwrap();
    let back = Bolt11Invoice::from_str(back["bolt11"].as_str().unwrap()).unwrap();
    // Once its claim is committed, the wallet's side holds what it received.
    wallet
        .wait("the JIT channel can carry the payment back", |n| {
            n.list_channels()
                .iter()
                .any(|c| c.is_usable && c.next_outbound_htlc_limit_msat > 10_100_000)
        })
        .await;
    let id = wallet
        .node
        .bolt11_payment()
        .send(&back, None)
        .expect("send");
    wallet
        .expect_event("PaymentSuccessful", |e| match e {
            Event::PaymentSuccessful { payment_id, .. } => Some(*payment_id == Some(id)),
            Event::PaymentFailed { reason, .. } => panic!("paying back failed: {reason:?}"),
            _ => None,
        })
        .await;
    // No block was mined since the open: the channel worked on an unconfirmed funding.
    let left = amount_msat - 2_000_000 - 10_000_000 - hub_fee(10_000_000);
    let c = hub
        .wait_channel(&channel_id, "the wallet's balance settles", |c| {
            c["remote_msat"] == left && c["pending_htlcs"] == json!([])
        })
        .await;
    assert_eq!(c["funding_txid"], funding.as_str());

    // An LDK node pays the wallet's next JIT invoice: a second JIT channel, the fee (2,000
    // sat, above the 0.1 %) taken from the payment. (Not a variable-amount one: LDK's client
    // bounds that fee by the offer's ppm alone, see channel-spec/interop.md.) The hub funds JIT
    // channels from confirmed coins only: a block confirms its change first.
    chain.mine(1, &burn_address()).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while hub.confirmed_sat().await < 40 * COIN {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hub's change never confirmed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tips = wallet
        .node
        .bolt11_payment()
        .receive_via_jit_channel(30_000_000, &description("tips"), 3600, Some(2_000_000))
        .expect("a second JIT invoice");
    let id = payer.node.bolt11_payment().send(&tips, None).expect("send");
    let paid = payer
        .expect_event("the LDK payer's outcome", |e| match e {
            Event::PaymentSuccessful { payment_id, .. } => Some(*payment_id == Some(id)),
            Event::PaymentFailed { reason, .. } => panic!("the LDK payer failed: {reason:?}"),
            _ => None,
        })
        .await;
    assert!(paid, "another payment succeeded");
    let got = wallet
        .expect_event("PaymentReceived", |e| match e {
            Event::PaymentReceived { amount_msat, .. } => Some(*amount_msat),
            _ => None,
        })
        .await;
    assert_eq!(got, 30_000_000 - 2_000_000);
    let rows = jit_rows(&hub).await;
    assert_eq!(rows[0]["state"], "opened", "{rows:?}");
    assert_eq!(rows[0]["fee_earned_msat"], 2_000_000);
    assert_ne!(rows[0]["channel_id"], rows[1]["channel_id"]);

    let _ = wallet.node.stop();
    let _ = payer.node.stop();
}
