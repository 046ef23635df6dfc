//! LSPS2 with `client_trusts_lsp = true`: the hub withholds a JIT channel's funding until
//! the client claims, so a client that never claims costs the hub nothing. The client is a
//! raw peer running our own channel state machine, which takes the HTLC and never fulfills.
//!
//! ```text
//!   bob (chanhub) ──channel── hub ──JIT channel, funding withheld── client (raw peer)
//! ```

use super::*;
use bitcoin::hashes::{sha256, Hash};
use chanhub::channel::{ChannelConfig, Phase};
use chanhub::config::{Lsps2Config, NodeConfig};
use chanhub::invoice::{Invoice, InvoiceDescription, InvoiceParams, RouteHint, RouteHintHop};
use chanhub::lsps::lsps2::Terms;
use chanhub::wire::{Features, Init, ShortChannelId};
use peers_support::channel_peer::ChannelPeer;
use peers_support::{lsps_call, secret};
use serde_json::Value;

const CLIENT_SEED: u8 = 77;

fn lsps2_trusted() -> Lsps2Config {
    Lsps2Config {
        terms: Terms {
            min_fee_msat: 1_000_000,
            proportional: 1000,
            valid_for_secs: 3600,
            min_lifetime: 1008,
            max_client_to_self_delay: 2016,
            min_payment_size_msat: 1_000_000,
            max_payment_size_msat: 1_000_000_000,
        },
        lsp_cltv_expiry_delta: 144,
        client_trusts_lsp: true,
        claim_timeout_secs: 3,
        inbound_liquidity_sat: 50_000,
        token: None,
    }
}

/// The chain's answer to `getrawtransaction txid` (an error when it does not know it).
fn chain_has(node: &TestNode, txid: &str) -> bool {
    use bitcoincore_rpc::{Auth, Client, RpcApi};
    let json = chanhub::node::datadir::NodeJson::read(&node.dir).unwrap();
    let url = format!("http://{}", json.chain_rpc_addr.unwrap());
    let c = Client::new(&url, Auth::CookieFile(json.chain_rpc_cookie.unwrap())).unwrap();
    c.call::<Value>("getrawtransaction", &[json!(txid)]).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusting_clients_jit_channel_is_never_funded_when_it_does_not_claim() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_config(NodeConfig {
        lsps2: Some(lsps2_trusted()),
        ..node_config(
            &tmp.path().join("hub"),
            None,
            "127.0.0.1:0".parse().unwrap(),
            false,
        )
    })
    .await;
    let bob = start(&tmp.path().join("bob"), Some(&hub)).await;
    fund(&hub).await;
    fund(&bob).await;
    open_active(&bob, &hub, 1_000_000, 0, "anchors").await;
    let before = hub.confirmed_sat().await;

    // The client buys a JIT channel for 20,000 sat: the fee is the 1,000,000 msat minimum.
    let (addr, hub_id): (String, bitcoin::secp256k1::PublicKey) =
        (hub.peer_addr(), hub.id().parse().unwrap());
    let (raw, scid) = tokio::task::spawn_blocking(move || {
        let mut raw = RawPeer::handshake(&addr, hub_id, CLIENT_SEED);
        raw.send_message(
            &Init::new(
                Features::ours(),
                vec![bitcoin::constants::ChainHash::REGTEST],
            )
            .into(),
        );
        let info = lsps_call(&mut raw, "lsps2.get_info", json!({}));
        let offer = info["result"]["opening_fee_params_menu"][0].clone();
        let params = json!({"opening_fee_params": offer, "payment_size_msat": "20000000"});
        let bought = lsps_call(&mut raw, "lsps2.buy", params);
        assert_eq!(bought["result"]["client_trusts_lsp"], true, "{bought}");
        let text = bought["result"]["jit_channel_scid"].as_str().unwrap();
        let n: Vec<u64> = text.split('x').map(|p| p.parse().unwrap()).collect();
        let scid = ShortChannelId((n[0] << 40) | (n[1] << 16) | n[2]);
        (raw, scid)
    })
    .await
    .unwrap();

    // Its invoice routes through the hub on the sold scid.
    let client_key = secret(CLIENT_SEED);
    let preimage = [9u8; 32];
    let hash = sha256::Hash::hash(&preimage).to_byte_array();
    let mut params = InvoiceParams::new(
        bitcoin::Network::Regtest,
        Some(20_000_000),
        InvoiceDescription::Direct("jit".into()),
        chanhub::bolt3::PaymentHash(hash),
        chanhub::onion::PaymentSecret([3; 32]),
        chanhub::node::invoices::now_secs(),
    );
    params.route_hints = vec![RouteHint(vec![RouteHintHop {
        src_node_id: hub_id,
        short_channel_id: scid,
        fee_base_msat: 0,
        fee_proportional_millionths: 0,
        cltv_expiry_delta: 144,
    }])];
    let invoice = Invoice::create(params, &client_key).unwrap().to_string();

    // bob pays; the hub opens a zero-conf channel to the client and forwards, less the fee.
    let token = std::fs::read_to_string(&bob.node.node_json.api_token_file).unwrap();
    let payer =
        chanhub::api::client::ApiClient::new(&bob.node.node_json.api_addr.to_string(), &token);
    let paying = tokio::spawn(async move {
        payer
            .post("/v1/payments", json!({ "bolt11": invoice }))
            .await
            .unwrap()
    });
    let client = tokio::task::spawn_blocking(move || {
        let config = ChannelConfig {
            accept_zero_conf: true,
            ..ChannelConfig::default()
        };
        let mut p = ChannelPeer::accept(raw, config, CLIENT_SEED);
        p.pump_until("the hub's channel_ready", |c| *c.phase() == Phase::Normal);
        p.pump_until_seen("the JIT payment", |ms| {
            ms.iter().any(|m| matches!(m, Message::UpdateAddHtlc(_)))
        });
        let add = p
            .received
            .iter()
            .find_map(|m| match m {
                Message::UpdateAddHtlc(a) => Some(a.clone()),
                _ => None,
            })
            .unwrap();
        // The client takes the HTLC into its commitment, and never fulfills it.
        p.pump_until("the HTLC committed", |c| {
            c.state()
                .commitments
                .as_ref()
                .is_some_and(|k| k.local.spec.htlcs.len() == 1 && k.remote.spec.htlcs.len() == 1)
        });
        (p, add)
    })
    .await
    .unwrap();
    let (mut client, add) = client;
    assert_eq!(add.amount_msat, 20_000_000 - 1_000_000);
    assert_eq!(add.extra_fee_msat(), Ok(Some(1_000_000)));
    let sale = hub.api.get("/v1/lsp/jit").await.unwrap()["jit"][0].clone();
    assert_eq!(sale["state"], "opened", "{sale}");
    let funding = sale["funding_txid"].as_str().unwrap().to_string();
    assert!(
        !chain_has(&hub, &funding),
        "the funding waits for the client's claim"
    );

    // The claim never comes: after the timeout the payment fails back to bob, the channel
    // is forgotten, and its funding never reached the chain.
    let paid = paying.await.unwrap();
    assert_eq!(paid["status"], "failed", "{paid:#}");
    let sale = hub.api.get("/v1/lsp/jit").await.unwrap()["jit"][0].clone();
    assert_eq!(sale["state"], "failed", "{sale}");
    assert_eq!(sale["fee_earned_msat"], Value::Null);
    let channels = hub.api.get("/v1/channels").await.unwrap();
    let with_client: Vec<&Value> = channels["channels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["funding_txid"] == funding.as_str())
        .collect();
    assert!(with_client.is_empty(), "{channels:#}");
    tokio::task::spawn_blocking(move || {
        client.pump_until_seen("the hub's error", |ms| {
            ms.iter().any(|m| matches!(m, Message::Error(_)))
        })
    })
    .await
    .unwrap();
    hub.mine(1, &burn_address()).await;
    assert!(!chain_has(&hub, &funding), "never broadcast");
    // The coins the funding would have spent are the hub's again.
    hub.wait_confirmed(before).await;
}
