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
