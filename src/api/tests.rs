//! The API over a real socket, on the in-memory test chain.

use std::sync::Arc;

use async_trait::async_trait;
use bitcoin::{Address, BlockHash, Network};
use hyper::Method;
use serde_json::{json, Value};

use super::client::{ApiClient, ClientError};
use super::*;
use crate::chain::ChainError;
use crate::keys::{KeysManager, Seed};
use crate::store::Store;
use crate::wallet::test_chain::TestChain;

const TOKEN: &str = "test-token";
const INVOICE_TOKEN: &str = "test-invoice-token";

struct TestControl(Arc<TestChain>);

#[async_trait]
impl ChainControl for TestControl {
    fn kind(&self) -> &'static str {
        "test"
    }
    fn rpc_addr(&self) -> Option<SocketAddr> {
        None
    }
    async fn mine(&self, blocks: u32, to: &Address) -> Result<Vec<BlockHash>, ChainError> {
        Ok(self.0.mine(blocks, &to.script_pubkey()))
    }
    async fn mempool_size(&self) -> Result<usize, ChainError> {
        Ok(0)
    }
}

struct Api {
    client: ApiClient,
    addr: SocketAddr,
    store: Store,
    policy: crate::payments::SharedPolicy,
    _stop: tokio::sync::oneshot::Sender<()>,
    /// Keeps the peer manager running (it stops when this flips or is dropped).
    _peers_stop: tokio::sync::watch::Sender<bool>,
}

async fn start(with_control: bool) -> Api {
    let chain = Arc::new(TestChain::new());
    let keys = Arc::new(KeysManager::new(
        &Seed::from_bytes([1; 32]),
        Network::Regtest,
    ));
    let store = Store::open_in_memory().unwrap();
    let wallet = Wallet::open(
        keys.clone(),
        store.clone(),
        chain.clone(),
        Some(chain.clone()),
        true,
    )
    .await
    .unwrap();
    let (peers_stop, peers_signal) = tokio::sync::watch::channel(false);
    let wallet = Arc::new(wallet);
    let events = crate::events::EventLog::open(store.clone()).await.unwrap();
    let (part_sink, part_source) = crate::node::payer::outcome_queue();
    let (handler, channels, start_channels) =
        crate::node::channels::spawn(crate::node::channels::ManagerConfig {
            channel: crate::channel::ChannelConfig::default(),
            chain_hash: bitcoin::constants::ChainHash::REGTEST,
            network: bitcoin::Network::Regtest,
            policy: Default::default(),
            manual_htlcs: false,
            resolution_depth: 6,
            max_closing_fee_multiple: 3,
            jamming: Default::default(),
            accept_keysend: false,
            mpp_timeout: crate::payments::mpp::MPP_TIMEOUT,
            zeroconf_peers: Default::default(),
            keys: keys.clone(),
            store: store.clone(),
            wallet: wallet.clone(),
            chain: chain.clone(),
            tower: None,
            events: events.clone(),
            gossip: None,
            payer: Some(part_sink),
            lsps2: None,
        });
    let peers = crate::net::PeerManager::new(
        *keys.node_secret(),
        bitcoin::constants::ChainHash::REGTEST,
        crate::net::PeerLimits::default(),
        handler,
        None,
        peers_signal.clone(),
    );
    start_channels.start(peers.clone(), peers_signal.clone());
    let (payer, _) = crate::node::payer::spawn(
        crate::node::payer::PayerConfig {
            node_key: *keys.node_secret(),
            network: Network::Regtest,
            store: store.clone(),
            events: events.clone(),
            graph: Default::default(),
            channels: channels.clone(),
            save_every: std::time::Duration::from_secs(60),
        },
        part_source,
        peers_signal.clone(),
    )
    .await
    .unwrap();
    let policy = Arc::new(std::sync::RwLock::new(crate::payments::FeePolicy::default()));
    let state = ApiState {
        node_id: keys.node_id(),
        network: Network::Regtest,
        peer_addr: "127.0.0.1:9735".parse().unwrap(),
        wallet,
        chain: chain.clone(),
        control: with_control
            .then(|| Arc::new(TestControl(chain.clone())) as Arc<dyn ChainControl>),
        token: TOKEN.into(),
        invoice_token: INVOICE_TOKEN.into(),
        peers,
        channels,
        dev_api: false,
        announce_addrs: Vec::new(),
        store: store.clone(),
        node_key: *keys.node_secret(),
        policy: policy.clone(),
        events,
        gossip: Default::default(),
        payer,
        shutdown: peers_signal,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(serve(listener, state, async move {
        let _ = rx.await;
    }));
    Api {
        client: ApiClient::new(&addr.to_string(), TOKEN),
        addr,
        store,
        policy,
        _stop: tx,
        _peers_stop: peers_stop,
    }
}

/// Status, error code and message of a raw request with the right token.
async fn raw(api: &Api, method: Method, path: &str, body: &str) -> (u16, Value) {
    let (status, text) = api
        .client
        .raw(method, path, Some(TOKEN), body.as_bytes().to_vec())
        .await
        .unwrap();
    (
        status,
        serde_json::from_str(&text).expect("every answer is JSON"),
    )
}

fn api_error(r: Result<Value, ClientError>) -> (u16, String) {
    match r {
        Err(ClientError::Api { status, code, .. }) => (status, code),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_or_wrong_token_is_401() {
    let api = start(true).await;
    for token in [None, Some("wrong"), Some(""), Some("test-token-and-more")] {
        let (status, text) = api
            .client
            .raw(Method::GET, "/v1/info", token, vec![])
            .await
            .unwrap();
        assert_eq!(status, 401, "token {token:?}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], "unauthorized");
        assert!(v["error"]["message"].as_str().unwrap().contains("token"));
    }
    // Even unknown paths do not reveal anything without the token.
    let (status, _) = api
        .client
        .raw(Method::GET, "/nope", None, vec![])
        .await
        .unwrap();
    assert_eq!(status, 401);
    assert!(api.client.get("/v1/info").await.is_ok());
}

#[tokio::test]
async fn the_invoice_token_creates_and_reads_invoices_and_nothing_else() {
    let api = start(true).await;
    let t = Some(INVOICE_TOKEN);
    let client = &api.client;
    let call = |method: Method, path: String, body: Value| async move {
        let bytes = if body.is_null() {
            vec![]
        } else {
            body.to_string().into_bytes()
        };
        let (status, text) = client.raw(method, &path, t, bytes).await.unwrap();
        (
            status,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
        )
    };
    let (status, created) = call(
        Method::POST,
        "/v1/invoices".into(),
        json!({"amount_msat": 1000, "description": "shop"}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let hash = created["payment_hash"].as_str().unwrap().to_string();
    let (status, list) = call(Method::GET, "/v1/invoices".into(), Value::Null).await;
    assert_eq!(
        (status, list["invoices"][0]["payment_hash"].clone()),
        (200, json!(hash))
    );
    let (status, one) = call(Method::GET, format!("/v1/invoices/{hash}"), Value::Null).await;
    assert_eq!((status, one["status"].clone()), (200, json!("open")));
    for (method, path, body) in [
        (Method::DELETE, format!("/v1/invoices/{hash}"), Value::Null),
        (Method::GET, "/v1/balance".to_string(), Value::Null),
        (Method::GET, "/v1/payments".to_string(), Value::Null),
        (
            Method::POST,
            "/v1/payments".to_string(),
            json!({"bolt11": "lnbcrt1"}),
        ),
        (Method::POST, "/v1/onchain/send".to_string(), json!({})),
        (Method::GET, "/metrics".to_string(), Value::Null),
        (Method::GET, "/nope".to_string(), Value::Null),
    ] {
        let (status, v) = call(method.clone(), path.clone(), body).await;
        assert_eq!(
            (status, v["error"]["code"].clone()),
            (403, json!("forbidden")),
            "{method} {path}"
        );
    }
    let one = api
        .client
        .get(&format!("/v1/invoices/{hash}"))
        .await
        .unwrap();
    assert_eq!(one["status"], "open", "the refused cancel did nothing");
}

#[tokio::test]
async fn info_balance_address_and_transactions() {
    let api = start(true).await;
    let info = api.client.get("/v1/info").await.unwrap();
    assert_eq!(info["network"], "regtest");
    assert_eq!(info["node_id"].as_str().unwrap().len(), 66);
    assert_eq!(info["block_height"], 0);
    assert_eq!(info["block_hash"].as_str().unwrap().len(), 64);
    assert_eq!(info["peer_addr"], "127.0.0.1:9735");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));

    let a = api
        .client
        .post("/v1/onchain/address", json!({}))
        .await
        .unwrap();
    let b = api
        .client
        .post("/v1/onchain/address", json!({}))
        .await
        .unwrap();
    assert_ne!(a["address"], b["address"]);
    assert!(a["address"].as_str().unwrap().starts_with("bcrt1"));

    let mined = api
        .client
        .post("/v1/chain/mine", json!({"blocks": 101}))
        .await
        .unwrap();
    assert_eq!(mined["blocks"].as_array().unwrap().len(), 101);
    assert_eq!(mined["block_height"], 101);
    let bal = api.client.get("/v1/balance").await.unwrap();
    // Blocks 1 and 2 have 101 and 100 confirmations: both mature.
    assert_eq!(bal["onchain_confirmed_sat"], 2 * 5_000_000_000u64);
    assert_eq!(bal["onchain_unconfirmed_sat"], 0);
    assert_eq!(bal["onchain_immature_sat"], 99 * 5_000_000_000u64);

    let sent = api
        .client
        .post(
            "/v1/onchain/send",
            json!({"address": b["address"], "amount_sat": 10_000, "feerate_sat_per_vb": 3}),
        )
        .await
        .unwrap();
    let txs = api.client.get("/v1/onchain/transactions").await.unwrap();
    let tx = txs["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["txid"] == sent["txid"])
        .unwrap()
        .clone();
    assert_eq!(tx["confirmations"], 0);
    let fee = tx["fee_sat"].as_i64().unwrap();
    assert!(fee > 0);
    // Paying ourselves costs only the fee.
    assert_eq!(tx["amount_sat"].as_i64().unwrap(), -fee);
    let bal = api.client.get("/v1/balance").await.unwrap();
    assert_eq!(
        bal["onchain_confirmed_sat"].as_i64().unwrap()
            + bal["onchain_unconfirmed_sat"].as_i64().unwrap(),
        2 * 5_000_000_000 - fee
    );
    let chain = api.client.get("/v1/chain/info").await.unwrap();
    assert_eq!(chain["block_height"], 101);
    assert_eq!(chain["source"], "test");
}

#[tokio::test]
async fn bad_sends_get_specific_errors() {
    let api = start(true).await;
    let own = api
        .client
        .post("/v1/onchain/address", json!({}))
        .await
        .unwrap()["address"]
        .clone();
    let send = |body: Value| api.client.post("/v1/onchain/send", body);
    assert_eq!(
        api_error(send(json!({"address": "xyz", "amount_sat": 1000})).await),
        (400, "invalid_address".into())
    );
    assert_eq!(
        api_error(
            send(
                json!({"address": "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "amount_sat": 1000})
            )
            .await
        ),
        (400, "wrong_network".into())
    );
    assert_eq!(
        api_error(send(json!({"address": own, "amount_sat": 1000})).await),
        (422, "insufficient_funds".into())
    );
    assert_eq!(
        api_error(send(json!({"address": own, "amount_sat": 100})).await),
        (400, "amount_below_dust".into())
    );
    assert_eq!(
        api_error(send(json!({"address": own, "amount_sat": 0})).await),
        (400, "invalid_amount".into())
    );
    assert_eq!(
        api_error(send(json!({"address": own, "amount_sat": 2_100_000_000_000_001u64})).await),
        (400, "invalid_amount".into())
    );
    assert_eq!(
        api_error(send(json!({"address": own, "amount_sat": 1000, "feerate_sat_per_vb": 0})).await),
        (400, "invalid_fee_rate".into())
    );
    assert_eq!(
        api_error(send(json!({"address": own, "amount_sat": -5})).await),
        (400, "invalid_request".into())
    );
    assert_eq!(
        api_error(send(json!({"address": own})).await),
        (400, "invalid_request".into())
    );
    assert_eq!(
        api_error(send(json!({"address": own, "amount_sat": 1000, "extra": 1})).await),
        (400, "invalid_request".into())
    );
}

#[tokio::test]
async fn malformed_requests_are_json_errors_not_crashes() {
    let api = start(true).await;
    for body in ["{", "null", "[]", "\"x\"", "{\"address\": 5}", "\u{0}\u{1}"] {
        let (status, v) = raw(&api, Method::POST, "/v1/onchain/send", body).await;
        assert_eq!(status, 400, "body {body:?}");
        assert_eq!(v["error"]["code"], "invalid_request");
    }
    let big = format!("{{\"address\": \"{}\"}}", "a".repeat(MAX_BODY_BYTES + 1));
    let (status, v) = raw(&api, Method::POST, "/v1/onchain/send", &big).await;
    assert_eq!(status, 413);
    assert_eq!(v["error"]["code"], "payload_too_large");
    let (status, v) = raw(&api, Method::GET, "/v1/nothing", "").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, v) = raw(&api, Method::DELETE, "/v1/balance", "").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    for body in [
        json!({"blocks": 0}),
        json!({"blocks": 100_000}),
        json!({"blocks": 1, "address": "nope"}),
    ] {
        let (status, _) = raw(&api, Method::POST, "/v1/chain/mine", &body.to_string()).await;
        assert_eq!(status, 400, "{body}");
    }
    // Still serving after all that.
    assert!(api.client.get("/v1/balance").await.is_ok());
}

#[tokio::test]
async fn chain_endpoints_are_absent_without_a_regtest_chain() {
    let api = start(false).await;
    assert_eq!(api_error(api.client.get("/v1/chain/info").await).0, 404);
    assert_eq!(
        api_error(
            api.client
                .post("/v1/chain/mine", json!({"blocks": 1}))
                .await
        )
        .0,
        404
    );
}

#[tokio::test]
async fn peer_routes_validate_and_report_specific_errors() {
    let api = start(false).await;
    assert_eq!(
        api.client.get("/v1/peers").await.unwrap(),
        json!({"peers": []})
    );
    // A key nobody listens for, at a port nobody listens on.
    let other = bitcoin::secp256k1::SecretKey::from_slice(&[9; 32])
        .unwrap()
        .public_key(&bitcoin::secp256k1::Secp256k1::new())
        .to_string();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let cases = [
        (
            json!({"node_id": "zz", "addr": "127.0.0.1:1"}),
            400,
            "invalid_node_id",
        ),
        (
            json!({"node_id": "02", "addr": "127.0.0.1:1"}),
            400,
            "invalid_node_id",
        ),
        (
            json!({"node_id": other, "addr": "nowhere"}),
            400,
            "invalid_request",
        ),
        (json!({"node_id": other}), 400, "invalid_request"),
        (
            json!({"node_id": other, "addr": closed_addr}),
            502,
            "peer_unreachable",
        ),
    ];
    for (body, status, code) in cases {
        let got = api_error(api.client.post("/v1/peers", body.clone()).await);
        assert_eq!(got, (status, code.to_string()), "{body}");
    }
    let own = KeysManager::new(&Seed::from_bytes([1; 32]), Network::Regtest)
        .node_id()
        .to_string();
    let got = api_error(
        api.client
            .post("/v1/peers", json!({"node_id": own, "addr": "127.0.0.1:1"}))
            .await,
    );
    assert_eq!(got, (400, "invalid_node_id".to_string()));
    let got = api_error(api.client.delete(&format!("/v1/peers/{other}")).await);
    assert_eq!(got, (404, "peer_not_connected".to_string()));
    let got = api_error(
        api.client
            .post(&format!("/v1/peers/{other}/ping"), json!({}))
            .await,
    );
    assert_eq!(got, (404, "peer_not_connected".to_string()));
    let got = api_error(
        api.client
            .post(
                &format!("/v1/peers/{other}/ping"),
                json!({"num_pong_bytes": 65532}),
            )
            .await,
    );
    assert_eq!(got, (400, "invalid_request".to_string()));
    // Failed attempts are not remembered.
    assert_eq!(
        api.client.get("/v1/peers").await.unwrap(),
        json!({"peers": []})
    );
}

#[tokio::test]
async fn channel_routes_refuse_bad_input_with_clear_errors() {
    let api = start(true).await;
    let v = api.client.get("/v1/channels").await.unwrap();
    assert_eq!(v["channels"], serde_json::json!([]));
    let bal = api.client.get("/v1/balance").await.unwrap();
    assert_eq!(bal["channels_local_msat"], 0);

    let unknown = "ab".repeat(32);
    let (status, code) = api_error(api.client.get(&format!("/v1/channels/{unknown}")).await);
    assert_eq!((status, code.as_str()), (404, "channel_not_found"));
    let (status, code) = api_error(api.client.get("/v1/channels/xyz").await);
    assert_eq!((status, code.as_str()), (400, "invalid_request"));
    let (status, code) = api_error(
        api.client
            .post(
                &format!("/v1/channels/{unknown}/close"),
                serde_json::json!({}),
            )
            .await,
    );
    assert_eq!((status, code.as_str()), (404, "channel_not_found"));
    let (status, v) = raw(
        &api,
        Method::POST,
        &format!("/v1/channels/{unknown}/close"),
        r#"{"force": true}"#,
    )
    .await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["code"], "channel_not_found");

    let peer = KeysManager::new(&Seed::from_bytes([2; 32]), Network::Regtest)
        .node_id()
        .to_string();
    let open = |body: Value| api.client.post("/v1/channels", body);
    let cases = [
        (
            serde_json::json!({"node_id": "zz", "capacity_sat": 100_000}),
            400,
            "invalid_node_id",
        ),
        (
            serde_json::json!({"node_id": peer, "capacity_sat": 10}),
            400,
            "invalid_channel_parameters",
        ),
        (
            serde_json::json!({"node_id": peer, "capacity_sat": 1u64 << 24}),
            400,
            "invalid_channel_parameters",
        ),
        (
            serde_json::json!({"node_id": peer, "capacity_sat": 100_000, "push_msat": 100_000_001}),
            400,
            "invalid_channel_parameters",
        ),
        (
            serde_json::json!({"node_id": peer, "capacity_sat": 100_000, "channel_type": "legacy"}),
            400,
            "invalid_channel_parameters",
        ),
        (
            serde_json::json!({"node_id": peer, "capacity_sat": 100_000}),
            404,
            "peer_not_connected",
        ),
        (
            serde_json::json!({"capacity_sat": 100_000}),
            400,
            "invalid_request",
        ),
        // An announced channel needs an address to announce (none here), checked before the
        // peer is looked up.
        (
            serde_json::json!({"node_id": peer, "capacity_sat": 100_000, "announce": true}),
            400,
            "invalid_request",
        ),
        (
            serde_json::json!({"node_id": peer, "capacity_sat": 100_000, "announce": "yes"}),
            400,
            "invalid_request",
        ),
        (
            serde_json::json!({"node_id": peer, "capacity_sat": 100_000, "announce": false}),
            404,
            "peer_not_connected",
        ),
    ];
    for (body, want_status, want_code) in cases {
        let (status, code) = api_error(open(body.clone()).await);
        assert_eq!((status, code.as_str()), (want_status, want_code), "{body}");
    }
    let (status, v) = raw(
        &api,
        Method::POST,
        "/v1/channels",
        &json!({"node_id": peer, "capacity_sat": 100_000, "announce": true}).to_string(),
    )
    .await;
    assert_eq!(status, 400);
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("--announce-addr"), "{message}");
}

// ---- payments ----------------------------------------------------------------------------

use crate::payments::{
    FeePolicy, ForwardRecord, ForwardStatus, HtlcRef, PaymentRecord, PaymentStatus,
};
use crate::store::payments as db;

fn htlc(c: u8, id: u64) -> HtlcRef {
    HtlcRef {
        channel_id: [c; 32],
        htlc_id: id,
    }
}

#[tokio::test]
async fn invoices_are_created_listed_and_shown() {
    let api = start(false).await;
    assert_eq!(
        api.client.get("/v1/invoices").await.unwrap(),
        json!({"invoices": []})
    );
    let fixed = api
        .client
        .post(
            "/v1/invoices",
            json!({"amount_msat": 50_000, "description": "coffee", "expiry_secs": 600}),
        )
        .await
        .unwrap();
    let bolt11 = fixed["bolt11"].as_str().unwrap();
    assert!(bolt11.starts_with("lnbcrt500n1"), "{bolt11}");
    let parsed = crate::invoice::Invoice::parse(bolt11, Network::Regtest).unwrap();
    assert_eq!(hex::encode(parsed.payment_hash().0), fixed["payment_hash"]);
    assert_eq!(
        parsed.payee(),
        KeysManager::new(&Seed::from_bytes([1; 32]), Network::Regtest).node_id()
    );
    assert_eq!(parsed.expiry_secs(), 600);

    let open = api
        .client
        .post("/v1/invoices", json!({"description": "tips"}))
        .await
        .unwrap();
    let hash = open["payment_hash"].as_str().unwrap().to_string();
    let shown = api
        .client
        .get(&format!("/v1/invoices/{hash}"))
        .await
        .unwrap();
    assert_eq!(shown["payment_hash"], hash.as_str());
    assert_eq!(shown["bolt11"], open["bolt11"]);
    assert_eq!(shown["amount_msat"], Value::Null);
    assert_eq!(shown["description"], "tips");
    assert_eq!(shown["status"], "open");
    assert_eq!(
        shown["expires_at"].as_u64().unwrap() - shown["created_at"].as_u64().unwrap(),
        crate::invoice::DEFAULT_EXPIRY_SECS
    );
    assert_eq!(shown["received_msat"], Value::Null);
    assert_eq!(shown["paid_at"], Value::Null);
    assert!(
        shown.get("preimage").is_none(),
        "no preimage before payment"
    );

    assert_eq!(shown["description_hash"], Value::Null);

    // A description hash instead of the text (LNURL-pay): in the invoice and shown.
    let h = "5e".repeat(32);
    let hashed = api
        .client
        .post(
            "/v1/invoices",
            json!({"amount_msat": 21_000, "description_hash": h}),
        )
        .await
        .unwrap();
    let parsed =
        crate::invoice::Invoice::parse(hashed["bolt11"].as_str().unwrap(), Network::Regtest)
            .unwrap();
    assert_eq!(
        parsed.description(),
        crate::invoice::InvoiceDescription::Hash([0x5e; 32])
    );
    let shown = api
        .client
        .get(&format!(
            "/v1/invoices/{}",
            hashed["payment_hash"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(shown["description_hash"], h.as_str());
    assert_eq!(shown["description"], "");

    let all = api.client.get("/v1/invoices").await.unwrap();
    let all = all["invoices"].as_array().unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|i| i.get("preimage").is_none()));

    // Paid: the preimage is the proof, shown from now on.
    let h = crate::api::payments::parse_payment_hash(&hash).unwrap();
    let paid = api
        .store
        .call(move |c| db::mark_invoice_paid(c, &h, 1_234, 1_700_000_000, htlc(4, 0)))
        .await
        .unwrap();
    assert!(paid);
    let shown = api
        .client
        .get(&format!("/v1/invoices/{hash}"))
        .await
        .unwrap();
    assert_eq!(shown["status"], "paid");
    assert_eq!(shown["received_msat"], 1_234);
    assert_eq!(shown["paid_at"], 1_700_000_000u64);
    let preimage = hex::decode(shown["preimage"].as_str().unwrap()).unwrap();
    use bitcoin::hashes::{sha256, Hash};
    assert_eq!(sha256::Hash::hash(&preimage).to_byte_array(), h);

    // An open invoice past its expiry reads expired.
    let mut old = api
        .store
        .call(move |c| db::get_invoice(c, &h))
        .await
        .unwrap()
        .unwrap();
    old.payment_hash = [0xee; 32];
    old.status = crate::payments::InvoiceStatus::Open;
    old.received_msat = None;
    old.paid_at = None;
    old.paid_by = None;
    old.created_at = 1_000;
    old.expires_at = 2_000;
    api.store
        .call(move |c| db::insert_invoice(c, &old))
        .await
        .unwrap();
    let shown = api
        .client
        .get(&format!("/v1/invoices/{}", "ee".repeat(32)))
        .await
        .unwrap();
    assert_eq!(shown["status"], "expired");
    assert!(shown.get("preimage").is_none());
}

#[tokio::test]
async fn invoice_requests_are_validated() {
    let api = start(false).await;
    let cases = [
        json!({"amount_msat": 0, "description": "x"}),
        json!({"amount_msat": -1, "description": "x"}),
        json!({"description": "x".repeat(640)}),
        json!({"description": "x", "expiry_secs": 0}),
        json!({"amount_msat": 1000}),
        json!({"description": "x", "memo": "y"}),
        json!({"description": "x", "description_hash": "ab".repeat(32)}),
        json!({"description_hash": "ab".repeat(31)}),
        json!({"description_hash": "zz".repeat(32)}),
    ];
    for body in cases {
        let got = api_error(api.client.post("/v1/invoices", body.clone()).await);
        assert_eq!(got, (400, "invalid_request".to_string()), "{body}");
    }
    let (status, v) = raw(
        &api,
        Method::POST,
        "/v1/invoices",
        &json!({"description": "x".repeat(640)}).to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("639"));
    let got = api_error(api.client.get("/v1/invoices/xyz").await);
    assert_eq!(got, (400, "invalid_request".to_string()));
    let got = api_error(
        api.client
            .get(&format!("/v1/invoices/{}", "ab".repeat(32)))
            .await,
    );
    assert_eq!(got, (404, "invoice_not_found".to_string()));
    // Nothing was stored by the refused requests.
    assert_eq!(
        api.client.get("/v1/invoices").await.unwrap(),
        json!({"invoices": []})
    );
    for (method, path) in [
        (Method::GET, "/v1/invoices"),
        (Method::POST, "/v1/invoices"),
        (Method::GET, "/v1/payments"),
        (Method::POST, "/v1/payments"),
        (Method::GET, "/v1/forwards"),
        (Method::GET, "/v1/policy"),
        (Method::PUT, "/v1/policy"),
        (Method::GET, "/v1/events"),
    ] {
        let (status, _) = api
            .client
            .raw(method.clone(), path, None, b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(status, 401, "{method} {path}");
    }
}

#[tokio::test]
async fn the_policy_is_read_set_and_validated() {
    let api = start(false).await;
    let d = FeePolicy::default();
    assert_eq!(
        api.client.get("/v1/policy").await.unwrap(),
        json!({"base_msat": d.base_msat, "ppm": d.ppm, "cltv_delta": d.cltv_delta})
    );
    let new = json!({"base_msat": 0, "ppm": 2_500, "cltv_delta": 144});
    assert_eq!(
        api.client.put("/v1/policy", new.clone()).await.unwrap(),
        new
    );
    assert_eq!(api.client.get("/v1/policy").await.unwrap(), new);
    let want = FeePolicy {
        base_msat: 0,
        ppm: 2_500,
        cltv_delta: 144,
    };
    assert_eq!(
        *api.policy.read().unwrap(),
        want,
        "the router sees it at once"
    );
    assert_eq!(
        api.store.call(db::get_policy).await.unwrap(),
        Some(want),
        "and it is stored"
    );
    for body in [
        json!({"base_msat": 0, "ppm": 1_000_001, "cltv_delta": 144}),
        json!({"base_msat": 0, "ppm": 1, "cltv_delta": 2}),
        json!({"base_msat": 0, "ppm": 1, "cltv_delta": 33}),
        json!({"base_msat": 0, "ppm": 1, "cltv_delta": 70_000}),
        json!({"base_msat": -1, "ppm": 1, "cltv_delta": 40}),
        json!({"ppm": 1, "cltv_delta": 40}),
        json!({"base_msat": 0, "ppm": 1, "cltv_delta": 40, "fee": 1}),
    ] {
        let got = api_error(api.client.put("/v1/policy", body.clone()).await);
        assert_eq!(got, (400, "invalid_request".to_string()), "{body}");
    }
    assert_eq!(api.client.get("/v1/policy").await.unwrap(), new);
    assert_eq!(*api.policy.read().unwrap(), want);
}

#[tokio::test]
async fn payments_and_forwards_are_listed_from_the_store() {
    let api = start(false).await;
    assert_eq!(
        api.client.get("/v1/payments").await.unwrap(),
        json!({"payments": []})
    );
    assert_eq!(
        api.client.get("/v1/forwards").await.unwrap(),
        json!({"forwards": [], "fee_msat_earned": 0})
    );
    let payee = KeysManager::new(&Seed::from_bytes([2; 32]), Network::Regtest).node_id();
    let done = PaymentRecord {
        payment_hash: [1; 32],
        bolt11: Some("lnbcrt1x".into()),
        payee,
        amount_msat: 10_000,
        fee_msat: 1_001,
        status: PaymentStatus::Succeeded,
        preimage: Some([8; 32]),
        failure: None,
        created_at: 1_000,
        resolved_at: Some(1_001),
        max_fee_msat: 60_000,
        max_total_cltv_expiry_delta: 1008,
        timeout_secs: 60,
    };
    let attempt = crate::payments::AttemptRecord {
        payment_hash: [1; 32],
        id: 0,
        htlc: htlc(3, 0),
        amount_msat: 10_000,
        fee_msat: 1_001,
        session_key: [9; 32],
        route: vec![payee],
        hops: vec![crate::payments::AttemptHop {
            node_id: payee,
            short_channel_id: Some("103x1x0".into()),
            amount_msat: 10_000,
            cltv_expiry: 140,
        }],
        status: PaymentStatus::Succeeded,
        failure: None,
        created_at: 1_000,
        resolved_at: Some(1_001),
    };
    let mut failed = done.clone();
    failed.payment_hash = [2; 32];
    failed.status = PaymentStatus::Failed;
    failed.preimage = None;
    failed.failure = Some("no route".into());
    failed.created_at = 2_000;
    let f = |in_id, status, preimage| ForwardRecord {
        incoming: htlc(1, in_id),
        outgoing: htlc(2, in_id),
        payment_hash: [5; 32],
        in_msat: 11_001,
        out_msat: 10_000,
        in_cltv_expiry: 200,
        out_cltv_expiry: 160,
        status,
        shared_secret: [6; 32],
        preimage,
        failure: None,
        created_at: 1_000 + in_id,
        resolved_at: (status != ForwardStatus::Pending).then_some(1_100),
    };
    let forwards = [
        f(0, ForwardStatus::Settled, Some([4; 32])),
        f(1, ForwardStatus::Failed, None),
        f(2, ForwardStatus::Pending, None),
        f(3, ForwardStatus::Settled, Some([4; 32])),
    ];
    api.store
        .write(move |tx| {
            db::upsert_payment(tx, &done)?;
            db::upsert_payment(tx, &failed)?;
            crate::store::attempts::insert_attempt(tx, &attempt)?;
            for fw in &forwards {
                db::insert_forward(tx, fw)?;
            }
            Ok(())
        })
        .await
        .unwrap();

    let all = api.client.get("/v1/payments").await.unwrap();
    let all = all["payments"].as_array().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["payment_hash"], "02".repeat(32), "newest first");
    assert_eq!(all[0]["status"], "failed");
    assert_eq!(all[0]["failure"], "no route");
    assert_eq!(all[0]["preimage"], Value::Null);
    let one = api
        .client
        .get(&format!("/v1/payments/{}", "01".repeat(32)))
        .await
        .unwrap();
    assert_eq!(
        one,
        json!({
            "payment_hash": "01".repeat(32),
            "status": "succeeded",
            "preimage": "08".repeat(32),
            "fee_msat": 1_001,
            "failure": null,
            "amount_msat": 10_000,
            "payee": payee.to_string(),
            "bolt11": "lnbcrt1x",
            "created_at": 1_000,
            "resolved_at": 1_001,
            "attempts": [{
                "id": 0,
                "status": "succeeded",
                "amount_msat": 10_000,
                "fee_msat": 1_001,
                "route": [{
                    "node_id": payee.to_string(),
                    "short_channel_id": "103x1x0",
                    "amount_msat": 10_000,
                    "cltv_expiry": 140,
                }],
                "failure": null,
                "created_at": 1_000,
                "resolved_at": 1_001,
            }],
        })
    );
    let got = api_error(
        api.client
            .get(&format!("/v1/payments/{}", "03".repeat(32)))
            .await,
    );
    assert_eq!(got, (404, "payment_not_found".to_string()));

    let fw = api.client.get("/v1/forwards").await.unwrap();
    assert_eq!(fw["fee_msat_earned"], 2 * 1_001);
    let list = fw["forwards"].as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list[0]["in_htlc_id"], 3, "newest first");
    assert_eq!(
        list[3],
        json!({
            "in_channel_id": "01".repeat(32),
            "in_htlc_id": 0,
            "out_channel_id": "02".repeat(32),
            "out_htlc_id": 0,
            "payment_hash": "05".repeat(32),
            "in_msat": 11_001,
            "out_msat": 10_000,
            "fee_msat": 1_001,
            "status": "settled",
            "failure": null,
            "created_at": 1_000,
            "resolved_at": 1_100,
        })
    );
    assert!(list[0].get("preimage").is_none() && list[0].get("shared_secret").is_none());
}

#[tokio::test]
async fn pay_refuses_what_is_not_an_invoice_for_us() {
    let api = start(false).await;
    let other = KeysManager::new(&Seed::from_bytes([2; 32]), Network::Regtest);
    let invoice_on = |network| {
        let params = crate::invoice::InvoiceParams::new(
            network,
            Some(1_000),
            crate::invoice::InvoiceDescription::Direct("x".into()),
            crate::bolt3::PaymentHash([3; 32]),
            crate::onion::PaymentSecret([4; 32]),
            crate::node::invoices::now_secs(),
        );
        crate::invoice::Invoice::create(params, other.node_secret())
            .unwrap()
            .to_string()
    };
    for body in [
        json!({"bolt11": "lnbcrt1nonsense"}),
        json!({"bolt11": invoice_on(Network::Bitcoin)}),
    ] {
        let got = api_error(api.client.post("/v1/payments", body.clone()).await);
        assert_eq!(got, (400, "invalid_invoice".to_string()), "{body}");
    }
    let good = invoice_on(Network::Regtest);
    for body in [
        json!({"bolt11": good, "amount_msat": 0}),
        json!({"bolt11": good, "wait": "yes"}),
        json!({"amount_msat": 1000}),
    ] {
        let got = api_error(api.client.post("/v1/payments", body.clone()).await);
        assert_eq!(got, (400, "invalid_request".to_string()), "{body}");
    }
    // A well-formed invoice reaches the payer, which cannot start it (no channel here):
    // refused, and nothing recorded.
    let got = api_error(
        api.client
            .post("/v1/payments", json!({"bolt11": good, "wait": false}))
            .await,
    );
    assert_eq!(got.0, 422, "{got:?}");
    assert!(
        ["insufficient_liquidity", "no_route"].contains(&got.1.as_str()),
        "{got:?}"
    );
    let listed = api.client.get("/v1/payments").await.unwrap();
    assert_eq!(listed["payments"], json!([]));
    // Exactly one of an invoice or a node id.
    let node = other.node_id().to_string();
    for body in [
        json!({"bolt11": good, "node_id": node, "amount_msat": 1000}),
        json!({"node_id": node}),
        json!({"node_id": "02zz", "amount_msat": 1000}),
        json!({"node_id": node, "amount_msat": 1000, "timeout_secs": 0}),
        json!({}),
    ] {
        let got = api_error(api.client.post("/v1/payments", body.clone()).await);
        assert_eq!(got, (400, "invalid_request".to_string()), "{body}");
    }
}

#[tokio::test]
async fn the_event_stream_answers_with_server_sent_events() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let api = start(false).await;
    let mut s = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    s.write_all(
        format!("GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&got).contains(": connected") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("the stream opens at once");
    let text = String::from_utf8_lossy(&got).to_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("content-type: text/event-stream"), "{text}");
    assert!(text.contains("cache-control: no-cache"), "{text}");
}

#[tokio::test]
async fn the_event_stream_refuses_a_bad_resume_point_or_type() {
    for path in [
        "/v1/events?after=x",
        "/v1/events?types=invoice_payed",
        "/v1/events?since=1",
    ] {
        let api = start(false).await;
        let (status, v) = raw(&api, Method::GET, path, "").await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{path}: {v}"
        );
    }
}

#[tokio::test]
async fn webhooks_are_added_listed_shown_and_removed() {
    let api = start(false).await;
    let c = &api.client;
    let a = c
        .post("/v1/webhooks", json!({"url": "https://shop.example/hook"}))
        .await
        .unwrap();
    assert_eq!(a["id"], 1);
    assert_eq!(a["events"], json!([]), "every type");
    let secret = a["secret"].as_str().unwrap();
    assert_eq!(hex::decode(secret).unwrap().len(), 32);
    assert!(a["created_at"].as_u64().unwrap() > 0);
    let b = c
        .post(
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/x", "events": ["payment_failed", "invoice_paid", "invoice_paid"]}),
        )
        .await
        .unwrap();
    assert_eq!(b["events"], json!(["invoice_paid", "payment_failed"]));
    assert_ne!(b["secret"], a["secret"], "a fresh secret each");
    let list = c.get("/v1/webhooks").await.unwrap();
    let all = list["webhooks"].as_array().unwrap();
    assert_eq!(all.len(), 2);
    for w in all {
        assert!(w.get("secret").is_none(), "{w}");
        assert_eq!(
            (
                w["pending"].as_u64(),
                w["delivered"].as_u64(),
                w["failed"].as_u64()
            ),
            (Some(0), Some(0), Some(0))
        );
    }
    assert_eq!(
        c.get("/v1/webhooks/2").await.unwrap()["url"],
        "http://127.0.0.1:9/x"
    );
    let removed = c.delete("/v1/webhooks/1").await.unwrap();
    assert_eq!(removed["url"], "https://shop.example/hook");
    for path in [
        "/v1/webhooks/1",
        "/v1/webhooks/nope",
        "/v1/webhooks/99999999999999999999",
    ] {
        assert_eq!(
            api_error(c.get(path).await),
            (404, "webhook_not_found".into()),
            "{path}"
        );
        assert_eq!(
            api_error(c.delete(path).await),
            (404, "webhook_not_found".into()),
            "{path}"
        );
    }
    assert_eq!(
        c.get("/v1/webhooks").await.unwrap()["webhooks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for bad in [
        json!({"url": "ftp://shop.example/"}),
        json!({"url": "shop.example"}),
        json!({"url": "https://shop.example/", "events": ["invoice_payed"]}),
        json!({"url": "https://shop.example/", "secret": "mine"}),
        json!({"events": ["invoice_paid"]}),
    ] {
        assert_eq!(
            api_error(c.post("/v1/webhooks", bad.clone()).await),
            (400, "invalid_request".into()),
            "{bad}"
        );
    }
}

// ---- metrics -----------------------------------------------------------------------------

/// One scrape over a plain connection (the JSON client hides headers): status,
/// `Content-Type` and body.
async fn scrape(api: &Api, token: Option<&str>) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    s.write_all(
        format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    let text = String::from_utf8(got).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a full HTTP answer");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        })
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    (status, content_type, body.to_string())
}

/// A small reader of the text format: every sample as `name{k="v",...}` (labels sorted,
/// values unescaped) → value. Checks on the way that each sample's family was declared
/// with HELP and TYPE first, and that no series repeats.
fn parse_metrics(text: &str) -> std::collections::BTreeMap<String, f64> {
    use std::collections::{BTreeMap, HashMap};
    let mut types: HashMap<&str, &str> = HashMap::new();
    let mut helped = std::collections::HashSet::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().unwrap());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(helped.contains(name), "TYPE before HELP for {name}");
            assert!(types.insert(name, kind).is_none(), "{name} declared twice");
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            None => (series, Vec::new()),
            Some((name, rest)) => {
                let mut labels = Vec::new();
                let mut chars = rest.strip_suffix('}').expect("labels end with }").chars();
                loop {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    if key.is_empty() {
                        break;
                    }
                    assert_eq!(chars.next(), Some('"'));
                    let mut value = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '"' => break,
                            '\\' => value.push(match chars.next().unwrap() {
                                'n' => '\n',
                                c => c,
                            }),
                            c => value.push(c),
                        }
                    }
                    labels.push((key.trim_start_matches(',').to_string(), value));
                }
                labels.sort();
                (name, labels)
            }
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(f) == Some(&"histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "{name} has no TYPE line");
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let key = if labels.is_empty() {
            name.to_string()
        } else {
            format!("{name}{{{}}}", labels.join(","))
        };
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap(),
        };
        assert!(samples.insert(key.clone(), value).is_none(), "{key} twice");
    }
    samples
}

#[test]
fn the_test_parser_reads_escapes_and_histograms() {
    let m = parse_metrics(
        "# HELP a A.\n# TYPE a gauge\na{y=\"1\",x=\"q\\\"\\\\\"} 2\n\
         # HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 3\nh_count 1\n",
    );
    assert_eq!(m["a{x=\"q\"\\\",y=\"1\"}"], 2.0);
    assert_eq!(m["h_bucket{le=\"+Inf\"}"], 1.0);
    assert_eq!(m["h_count"], 1.0);
}

#[tokio::test]
async fn metrics_need_the_token_and_follow_the_node() {
    let api = start(true).await;
    for token in [None, Some("wrong")] {
        let (status, _, body) = scrape(&api, token).await;
        assert_eq!(status, 401, "token {token:?}");
        assert!(body.contains("unauthorized"), "{body}");
    }

    let (status, content_type, body) = scrape(&api, Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let m = parse_metrics(&body);
    for state in ["opening", "active", "closing", "closed"] {
        assert_eq!(m[&format!("chanhub_channels{{state=\"{state}\"}}")], 0.0);
    }
    for status in ["succeeded", "failed", "pending"] {
        assert_eq!(m[&format!("chanhub_payments{{status=\"{status}\"}}")], 0.0);
    }
    for status in ["open", "paid", "expired", "cancelled"] {
        assert_eq!(m[&format!("chanhub_invoices{{status=\"{status}\"}}")], 0.0);
    }
    assert_eq!(m["chanhub_htlcs_in_flight{direction=\"offered\"}"], 0.0);
    assert_eq!(m["chanhub_channel_balance_msat{side=\"local\"}"], 0.0);
    assert_eq!(m["chanhub_chain_reachable"], 1.0);
    assert_eq!(m["chanhub_chain_height"], 0.0);
    assert_eq!(m["chanhub_wallet_synced_height"], 0.0);
    assert_eq!(m["chanhub_onchain_balance_sat{kind=\"confirmed\"}"], 0.0);
    assert_eq!(m["chanhub_payment_duration_seconds_count"], 0.0);

    // Blocks move the chain, the wallet and its balances.
    api.client
        .post("/v1/chain/mine", json!({"blocks": 101}))
        .await
        .unwrap();
    let m = parse_metrics(&scrape(&api, Some(TOKEN)).await.2);
    assert_eq!(m["chanhub_chain_height"], 101.0);
    assert_eq!(m["chanhub_wallet_synced_height"], 101.0);
    assert_eq!(
        m["chanhub_onchain_balance_sat{kind=\"confirmed\"}"],
        2.0 * 5_000_000_000.0
    );
    assert_eq!(
        m["chanhub_onchain_balance_sat{kind=\"immature\"}"],
        99.0 * 5_000_000_000.0
    );

    // Every invoice is one commit, counted.
    let commits = m["chanhub_store_commits_total"];
    // Invoices through the API; payments and forwards written to the store.
    for d in ["a", "b"] {
        api.client
            .post("/v1/invoices", json!({"description": d}))
            .await
            .unwrap();
    }
    let first = api.client.get("/v1/invoices").await.unwrap()["invoices"][0]["payment_hash"]
        .as_str()
        .unwrap()
        .to_string();
    api.client
        .delete(&format!("/v1/invoices/{first}"))
        .await
        .unwrap();
    let m = parse_metrics(&scrape(&api, Some(TOKEN)).await.2);
    assert_eq!(m["chanhub_store_commits_total"], commits + 3.0);
    let payee = KeysManager::new(&Seed::from_bytes([2; 32]), Network::Regtest).node_id();
    let payment = move |h: u8, status: PaymentStatus, took: u64| PaymentRecord {
        payment_hash: [h; 32],
        bolt11: None,
        payee,
        amount_msat: 10_000,
        fee_msat: 0,
        status,
        preimage: (status == PaymentStatus::Succeeded).then_some([h; 32]),
        failure: None,
        created_at: 1_000,
        resolved_at: (status != PaymentStatus::Pending).then_some(1_000 + took),
        max_fee_msat: 60_000,
        max_total_cltv_expiry_delta: 1008,
        timeout_secs: 60,
    };
    let forward = ForwardRecord {
        incoming: htlc(1, 0),
        outgoing: htlc(2, 0),
        payment_hash: [5; 32],
        in_msat: 11_001,
        out_msat: 10_000,
        in_cltv_expiry: 200,
        out_cltv_expiry: 160,
        status: ForwardStatus::Settled,
        shared_secret: [6; 32],
        preimage: Some([4; 32]),
        failure: None,
        created_at: 1_000,
        resolved_at: Some(1_001),
    };
    api.store
        .write(move |tx| {
            db::upsert_payment(tx, &payment(1, PaymentStatus::Succeeded, 0))?;
            db::upsert_payment(tx, &payment(2, PaymentStatus::Succeeded, 4))?;
            db::upsert_payment(tx, &payment(3, PaymentStatus::Failed, 9))?;
            db::upsert_payment(tx, &payment(4, PaymentStatus::Pending, 0))?;
            db::insert_forward(tx, &forward)?;
            Ok(())
        })
        .await
        .unwrap();
    let m = parse_metrics(&scrape(&api, Some(TOKEN)).await.2);
    assert_eq!(m["chanhub_invoices{status=\"open\"}"], 1.0);
    assert_eq!(m["chanhub_invoices{status=\"cancelled\"}"], 1.0);
    assert_eq!(m["chanhub_payments{status=\"succeeded\"}"], 2.0);
    assert_eq!(m["chanhub_payments{status=\"failed\"}"], 1.0);
    assert_eq!(m["chanhub_payments{status=\"pending\"}"], 1.0);
    assert_eq!(m["chanhub_forwards{status=\"settled\"}"], 1.0);
    assert_eq!(m["chanhub_forwards{status=\"pending\"}"], 0.0);
    assert_eq!(m["chanhub_forward_fees_earned_msat_total"], 1_001.0);
    // Succeeded payments only: one at 0 s, one at 4 s; buckets are cumulative.
    let bucket = |le: &str| m[&format!("chanhub_payment_duration_seconds_bucket{{le=\"{le}\"}}")];
    assert_eq!(bucket("1"), 1.0);
    assert_eq!(bucket("2"), 1.0);
    assert_eq!(bucket("5"), 2.0);
    assert_eq!(bucket("+Inf"), 2.0);
    assert_eq!(m["chanhub_payment_duration_seconds_count"], 2.0);
    assert_eq!(m["chanhub_payment_duration_seconds_sum"], 4.0);
}

mod dashboard;
mod export;
mod hold;
mod lists;
mod lsp_orders;
#[tokio::test]
async fn only_the_description_is_served_without_the_token() {
    let api = start(false).await;
    let (status, text) = api
        .client
        .raw(Method::GET, openapi::PATH, None, vec![])
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(text, openapi::DOCUMENT);
    assert!(text.starts_with("openapi: 3.1.0\n"));
    for path in [
        "/openapi.yaml/",
        "/openapi.yamlx",
        "/v1/info?/openapi.yaml",
        "/Openapi.yaml",
    ] {
        let (status, text) = api
            .client
            .raw(Method::GET, path, None, vec![])
            .await
            .unwrap();
        assert_eq!(status, 401, "{path}: {text}");
    }
    // Another method on it is refused like anywhere else, in JSON.
    let (status, v) = raw(&api, Method::POST, openapi::PATH, "").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
}

#[tokio::test]
async fn bodies_and_path_parameters_fail_as_json() {
    let api = start(false).await;
    let id = "00".repeat(32);
    // A close reads an optional body: none is a cooperative close, an array is not an object.
    for (body, code) in [("", "channel_not_found"), ("[true]", "invalid_request")] {
        let (status, v) = raw(
            &api,
            Method::POST,
            &format!("/v1/channels/{id}/close"),
            body,
        )
        .await;
        assert_eq!(v["error"]["code"], code, "{body:?}: {status} {v}");
    }
    let big = "x".repeat(MAX_BODY_BYTES + 1);
    let (status, v) = raw(
        &api,
        Method::POST,
        &format!("/v1/channels/{id}/close"),
        &big,
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    for path in [
        "/v1/channels/%FF",
        "/v1/invoices/%C3%28",
        "/v1/payments/%00",
    ] {
        let (status, v) = raw(&api, Method::GET, path, "").await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{path}"
        );
    }
}
