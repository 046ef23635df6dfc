//! Merchants' tools against chanhub's phoenixd-compatible API (`--compat-phoenixd`): the API
//! checked directly, then LNbits' own phoenixd funding source (from PyPI, unmodified) driving
//! it. Four in-process nodes on one embedded chain: a shop (serving the API), a hub, alice
//! (a customer who pays the shop through the hub) and bob (whom the shop pays).

mod channels_support;
#[path = "merchants/client.rs"]
mod client;
#[path = "merchants/lnbits.rs"]
mod lnbits;

use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256, Hash};
use chanhub::invoice::{Invoice, InvoiceDescription};
use channels_support::*;
use client::{basic, json_request, Compat};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const CAPACITY_SAT: u64 = 1_000_000;
/// The shop's channel starts with this much on the hub's side, so the shop can receive.
const PUSH_MSAT: u64 = 400_000_000;
const UNAUTHORIZED: &str =
    "Invalid authentication (use basic auth with the http password set in phoenix.conf)";

struct Net {
    shop: TestNode,
    hub: TestNode,
    alice: TestNode,
    bob: TestNode,
    api: Compat,
    _tmp: tempfile::TempDir,
}

async fn wait_until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// alice → hub, shop → hub (half pushed to the hub), hub → bob.
async fn net() -> Net {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_payments(&tmp.path().join("hub"), None).await;
    let alice = start_payments(&tmp.path().join("alice"), Some(&hub)).await;
    let bob = start_payments(&tmp.path().join("bob"), Some(&hub)).await;
    let mut config = node_config(
        &tmp.path().join("shop"),
        Some(&hub),
        "127.0.0.1:0".parse().unwrap(),
        false,
    );
    config.compat_phoenixd = Some("127.0.0.1:0".parse().unwrap());
    let shop = start_config(config).await;
    // One coinbase each, matured together (regtest halves the subsidy at height 150).
    for n in [&hub, &alice, &shop] {
        let addr = n.new_address().await;
        hub.mine(1, &addr).await;
    }
    hub.mine(100, &burn_address()).await;
    for n in [&hub, &alice, &shop] {
        n.wait_confirmed(50 * COIN).await;
    }
    open_active(&alice, &hub, CAPACITY_SAT, 0, "anchors").await;
    open_active(&shop, &hub, CAPACITY_SAT, PUSH_MSAT, "anchors").await;
    open_active(&hub, &bob, CAPACITY_SAT, 0, "anchors").await;
    for n in [&shop, &bob] {
        wait_until("route hints", || async {
            !n.node.channels().route_hints().await.unwrap().is_empty()
        })
        .await;
    }
    let api = Compat::of(&shop);
    Net {
        shop,
        hub,
        alice,
        bob,
        api,
        _tmp: tmp,
    }
}

/// `who` pays `bolt11` through its own API and waits for the outcome.
async fn pay(who: &TestNode, bolt11: &str) -> Value {
    who.api
        .post("/v1/payments", json!({ "bolt11": bolt11 }))
        .await
        .unwrap()
}

async fn chanhub_invoice(n: &TestNode, amount_msat: u64) -> (String, String) {
    let v = n
        .api
        .post(
            "/v1/invoices",
            json!({ "amount_msat": amount_msat, "description": "bob's goods" }),
        )
        .await
        .unwrap();
    (
        v["bolt11"].as_str().unwrap().into(),
        v["payment_hash"].as_str().unwrap().into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_phoenixd_api_answers_as_phoenixd() {
    let net = net().await;
    let api = &net.api;

    // Authentication: none, a wrong password, a bearer token: refused as phoenixd refuses.
    for password in [None, Some("wrong")] {
        let a = api.get_as("/getinfo", password).await;
        assert_eq!((a.status, a.text.as_str()), (401, UNAUTHORIZED));
        assert!(a.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
    }
    let a = api.get_as("/nothing", None).await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (404, "Unknown endpoint (check api doc)")
    );
    let a = api.post("/getinfo", &[]).await;
    assert_eq!(a.status, 405);

    // getinfo: the node, its chain by phoenixd's name, its channel with the balance first.
    let info = api.get("/getinfo").await.json();
    assert_eq!(info["nodeId"], net.shop.id());
    assert_eq!(info["chain"], "regtest");
    assert!(info["blockHeight"].as_u64().unwrap() > 100);
    let ch = &info["channels"][0];
    assert_eq!(ch["state"], "Normal");
    assert_eq!(ch["capacitySat"], CAPACITY_SAT);
    let balance_sat = ch["balanceSat"].as_u64().unwrap();
    let ours = (CAPACITY_SAT * 1000 - PUSH_MSAT) / 1000;
    assert!(balance_sat < ours && balance_sat > ours - 20_000, "{ch}");
    assert_eq!(ch["inboundLiquiditySat"], PUSH_MSAT / 1000);
    assert!(ch["fundingTxId"].is_string());
    // The limited password reads.
    let bal = api.get_as("/getbalance", Some(&api.limited)).await.json();
    assert_eq!(bal, json!({"balanceSat": balance_sat, "feeCreditSat": 0}));

    // createinvoice: phoenixd's rules on descriptions.
    let long = "x".repeat(129);
    let a = api.post("/createinvoice", &[("description", &long)]).await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (
            400,
            "Request parameter description is too long (max 128 characters)"
        )
    );
    for pairs in [
        vec![("amountSat", "1")],
        vec![("description", "a"), ("descriptionHash", &"00".repeat(32))],
    ] {
        let a = api.post("/createinvoice", &pairs).await;
        assert_eq!(
            (a.status, a.text.as_str()),
            (400, "Must provide either a description or descriptionHash")
        );
    }
    let a = api
        .post(
            "/createinvoice",
            &[("description", "a"), ("amountSat", "ten")],
        )
        .await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (
            400,
            "Request parameter amountSat couldn't be parsed/converted to integer"
        )
    );

    // An invoice with a description, created with the limited password; alice pays it while
    // a websocket listens.
    let created = api
        .post_as(
            "/createinvoice",
            &[
                ("description", "café crème"),
                ("amountSat", "1500"),
                ("externalId", "order-1"),
                ("expirySeconds", "600"),
            ],
            Some(&api.limited),
        )
        .await
        .json();
    assert_eq!(created["amountSat"], 1500);
    let hash = created["paymentHash"].as_str().unwrap().to_string();
    let inv = Invoice::parse(
        created["serialized"].as_str().unwrap(),
        bitcoin::Network::Regtest,
    )
    .unwrap();
    assert_eq!(hex::encode(inv.payment_hash().0), hash);
    assert_eq!(inv.amount_msat(), Some(1_500_000));
    assert_eq!(
        inv.description(),
        InvoiceDescription::Direct("café crème".into())
    );
    let open = api.get(&format!("/payments/incoming/{hash}")).await.json();
    assert_eq!(open["isPaid"], false);
    assert_eq!(open["isExpired"], false);
    assert_eq!(open["requestedSat"], 1500);
    assert_eq!(open["externalId"], "order-1");
    let preimage = hex::decode(open["preimage"].as_str().unwrap()).unwrap();
    assert_eq!(
        hex::encode(sha256::Hash::hash(&preimage).to_byte_array()),
        hash
    );

    let mut req = format!("ws://{}/websocket", api.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", basic(&api.limited).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket");
    let refused = format!("ws://{}/websocket", api.addr);
    assert!(
        tokio_tungstenite::connect_async(refused).await.is_err(),
        "no password"
    );
    // A browser offers the password as a subprotocol instead; the server echoes it.
    let mut req = format!("ws://{}/websocket", api.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", api.full.parse().unwrap());
    let (_browser, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("subprotocol");
    assert_eq!(resp.headers()["sec-websocket-protocol"], api.full.as_str());

    let paid = pay(&net.alice, created["serialized"].as_str().unwrap()).await;
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    let event = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match ws.next().await.expect("stream open").unwrap() {
                tokio_tungstenite::tungstenite::Message::Text(t) => {
                    break serde_json::from_str::<Value>(&t).unwrap()
                }
                _ => continue,
            }
        }
    })
    .await
    .expect("payment_received");
    assert_eq!(event["type"], "payment_received");
    assert_eq!(event["paymentHash"], hash);
    assert_eq!(event["amountSat"], 1500);
    assert_eq!(event["externalId"], "order-1");
    assert!(
        event["timestamp"].as_u64().unwrap() > 1_600_000_000_000,
        "milliseconds"
    );

    let got = api.get(&format!("/payments/incoming/{hash}")).await.json();
    assert_eq!(got["type"], "incoming_payment");
    assert_eq!(got["isPaid"], true);
    assert_eq!(got["receivedSat"], 1500);
    assert_eq!(got["fees"], 0);
    assert_eq!(got["description"], "café crème");
    assert!(got["completedAt"].as_u64().unwrap() >= got["createdAt"].as_u64().unwrap());
    let listed = api
        .get("/payments/incoming?externalId=order-1")
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["paymentHash"], hash);
    let a = api
        .get(&format!("/payments/incoming/{}", "11".repeat(32)))
        .await;
    assert_eq!((a.status, a.text.as_str()), (404, "Not found"));
    let a = api.get("/payments/incoming/xyz").await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (
            400,
            "Request parameter paymentHash couldn't be parsed/converted to hex32"
        )
    );

    // A description-hash invoice (LNURL-pay): open, so listed only with all=true.
    let dh = sha256::Hash::hash(b"[[\"text/plain\",\"lnurl\"]]").to_byte_array();
    let created = api
        .post(
            "/createinvoice",
            &[("descriptionHash", &hex::encode(dh)), ("amountSat", "10")],
        )
        .await
        .json();
    let inv = Invoice::parse(
        created["serialized"].as_str().unwrap(),
        bitcoin::Network::Regtest,
    )
    .unwrap();
    assert_eq!(inv.description(), InvoiceDescription::Hash(dh));
    let dh_hash = created["paymentHash"].as_str().unwrap();
    let paid_only = api.get("/payments/incoming").await.json();
    assert!(paid_only
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["isPaid"] == true));
    let all = api.get("/payments/incoming?all=true&limit=50").await.json();
    let entry = all
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["paymentHash"] == dh_hash)
        .expect("listed with all=true");
    assert!(entry.get("description").is_none(), "{entry}");

    // payinvoice: refused to the limited password, paid with the full one.
    let (bolt11, bob_hash) = chanhub_invoice(&net.bob, 2_000_000).await;
    let a = api
        .post_as("/payinvoice", &[("invoice", &bolt11)], Some(&api.limited))
        .await;
    assert_eq!((a.status, a.text.as_str()), (401, UNAUTHORIZED));
    let a = api.post("/payinvoice", &[("invoice", "lnbc1nope")]).await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (
            400,
            "Request parameter invoice couldn't be parsed/converted to bolt11invoice"
        )
    );
    let sent = api
        .post("/payinvoice", &[("invoice", &bolt11)])
        .await
        .json();
    assert_eq!(sent["recipientAmountSat"], 2000);
    assert_eq!(sent["paymentHash"], bob_hash);
    // The hub's fee: 1,000 msat + 100 ppm = 1,200 msat, 1 sat rounded down.
    assert_eq!(sent["routingFeeSat"], 1);
    let preimage = hex::decode(sent["paymentPreimage"].as_str().unwrap()).unwrap();
    assert_eq!(
        hex::encode(sha256::Hash::hash(&preimage).to_byte_array()),
        bob_hash
    );
    let id = sent["paymentId"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    let by_id = api.get(&format!("/payments/outgoing/{id}")).await.json();
    let by_hash = api
        .get(&format!("/payments/outgoingbyhash/{bob_hash}"))
        .await
        .json();
    assert_eq!(by_id, by_hash);
    assert_eq!(by_id["type"], "outgoing_payment");
    assert_eq!(by_id["paymentId"], id);
    assert_eq!(by_id["isPaid"], true);
    assert_eq!(by_id["fees"], 1_200, "msat");
    assert_eq!(by_id["sent"], 2001, "what left, fees included");
    assert_eq!(by_id["invoice"], bolt11);
    let bob_inv = net
        .bob
        .api
        .get(&format!("/v1/invoices/{bob_hash}"))
        .await
        .unwrap();
    assert_eq!(bob_inv["status"], "paid");
    let a = api
        .get("/payments/outgoing/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!((a.status, a.text.as_str()), (404, "Not found"));
    let a = api.get("/payments/outgoing/not-a-uuid").await;
    assert_eq!(a.status, 400);

    // A payment the payee refuses: HTTP 200 with phoenixd's reason.
    let (bolt11, refused_hash) = chanhub_invoice(&net.bob, 3_000_000).await;
    net.bob
        .api
        .delete(&format!("/v1/invoices/{refused_hash}"))
        .await
        .unwrap();
    let failed = api
        .post("/payinvoice", &[("invoice", &bolt11)])
        .await
        .json();
    assert_eq!(
        failed,
        json!({"paymentHash": refused_hash, "reason": "the recipient has rejected the payment"})
    );
    let f = api
        .get(&format!("/payments/outgoingbyhash/{refused_hash}"))
        .await
        .json();
    assert_eq!(f["isPaid"], false);
    assert!(f.get("preimage").is_none());
    let listed = api.get("/payments/outgoing").await.json();
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["paymentHash"] != refused_hash));
    let listed = api.get("/payments/outgoing?all=true").await.json();
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["paymentHash"] == refused_hash));

    // An invoice's webhookUrl hears of its payment, signed with the webhook secret.
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/paid", hook.local_addr().unwrap());
    let created = api
        .post(
            "/createinvoice",
            &[
                ("description", "hooked"),
                ("amountSat", "700"),
                ("webhookUrl", &hook_url),
            ],
        )
        .await
        .json();
    let received = tokio::spawn(receive_one(hook));
    let paid = pay(&net.alice, created["serialized"].as_str().unwrap()).await;
    assert_eq!(paid["status"], "succeeded");
    let (head, body) = tokio::time::timeout(Duration::from_secs(30), received)
        .await
        .expect("the webhook is called")
        .unwrap();
    assert!(head.starts_with("POST /paid "), "{head}");
    let sig = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("x-phoenix-signature"))
                .map(|(_, v)| v.trim().to_string())
        })
        .expect("signed");
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(api.webhook_secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    assert_eq!(sig, hex::encode(mac.finalize().into_bytes()));
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["type"], "payment_received");
    assert_eq!(body["paymentHash"], created["paymentHash"]);
    assert_eq!(body["amountSat"], 700);
    let _ = net.hub;
}

/// Accepts one HTTP request, answers 200, and returns its head and body.
async fn receive_one(listener: tokio::net::TcpListener) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut s, _) = listener.accept().await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed early");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.split_once(':')
                        .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                        .map(|(_, v)| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len {
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await
                    .unwrap();
                return (head.to_string(), body.to_string());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lnbits_funding_source_creates_pays_and_sees_payments() {
    let net = net().await;
    let api = &net.api;
    let mut lnbits = lnbits::Lnbits::start(&api.url(), &api.full).await;

    // Status: LNbits reads the balance from getinfo's first channel.
    let status = lnbits.status().await;
    assert_eq!(status["error_message"], Value::Null, "{status}");
    let info = api.get("/getinfo").await.json();
    assert_eq!(
        status["balance_msat"].as_u64().unwrap(),
        info["channels"][0]["balanceSat"].as_u64().unwrap() * 1000
    );
    assert!(status["balance_msat"].as_u64().unwrap() > 500_000_000);

    // An invoice with a memo; alice pays it; LNbits' paid-invoice stream reports it.
    let created = lnbits
        .ask(json!({"cmd": "create_invoice", "amount": 2100, "memo": "LNbits memo"}))
        .await;
    assert_eq!(created["ok"], true, "{created}");
    let checking_id = created["checking_id"].as_str().unwrap().to_string();
    let bolt11 = created["payment_request"].as_str().unwrap();
    let inv = Invoice::parse(bolt11, bitcoin::Network::Regtest).unwrap();
    assert_eq!(
        inv.description(),
        InvoiceDescription::Direct("LNbits memo".into())
    );
    assert_eq!(inv.amount_msat(), Some(2_100_000));
    let preimage = hex::decode(created["preimage"].as_str().expect("LNbits keeps it")).unwrap();
    assert_eq!(
        hex::encode(sha256::Hash::hash(&preimage).to_byte_array()),
        checking_id
    );
    let st = lnbits
        .ask(json!({"cmd": "invoice_status", "checking_id": checking_id}))
        .await;
    assert_eq!(st["pending"], true, "{st}");
    let paid = pay(&net.alice, bolt11).await;
    assert_eq!(paid["status"], "succeeded");
    let seen = lnbits
        .ask(json!({"cmd": "wait_paid", "checking_id": checking_id, "timeout": 30}))
        .await;
    assert_eq!(seen["paid"], true, "the stream reports it");
    let st = lnbits
        .ask(json!({"cmd": "invoice_status", "checking_id": checking_id}))
        .await;
    assert_eq!(st["success"], true, "{st}");
    assert_eq!(st["preimage"], created["preimage"]);

    // With a description hash (LNURL-pay), and with the unhashed description LNbits hashes.
    let meta = b"[[\"text/plain\",\"pay the shop\"]]";
    let dh = sha256::Hash::hash(meta).to_byte_array();
    for req in [
        json!({"cmd": "create_invoice", "amount": 50, "description_hash": hex::encode(dh)}),
        json!({"cmd": "create_invoice", "amount": 50, "unhashed_description": hex::encode(meta)}),
    ] {
        let c = lnbits.ask(req).await;
        assert_eq!(c["ok"], true, "{c}");
        let inv = Invoice::parse(
            c["payment_request"].as_str().unwrap(),
            bitcoin::Network::Regtest,
        )
        .unwrap();
        assert_eq!(inv.description(), InvoiceDescription::Hash(dh));
    }

    // LNbits pays bob; both sides agree it is paid.
    let (bolt11, bob_hash) = chanhub_invoice(&net.bob, 1_000_000).await;
    let sent = lnbits
        .ask(json!({"cmd": "pay_invoice", "bolt11": bolt11}))
        .await;
    assert_eq!(sent["ok"], true, "{sent}");
    assert_eq!(sent["checking_id"], bob_hash);
    // LNbits counts fees as negative msat; the hub charged 1,100 msat, read here as 1 sat.
    assert_eq!(sent["fee_msat"], -1000);
    let st = lnbits
        .ask(json!({"cmd": "payment_status", "checking_id": bob_hash}))
        .await;
    assert_eq!(st["success"], true, "{st}");
    assert_eq!(st["fee_msat"], 1_100);
    assert_eq!(st["preimage"], sent["preimage"]);
    let bob_inv = net
        .bob
        .api
        .get(&format!("/v1/invoices/{bob_hash}"))
        .await
        .unwrap();
    assert_eq!(bob_inv["status"], "paid");
    assert_eq!(bob_inv["preimage"], sent["preimage"]);

    // A refused payment: LNbits hears phoenixd's reason. Its phoenixd source leaves `ok`
    // unknown and the payment unsettled (never counted as sent), as against phoenixd.
    let (bolt11, refused) = chanhub_invoice(&net.bob, 1_000_000).await;
    net.bob
        .api
        .delete(&format!("/v1/invoices/{refused}"))
        .await
        .unwrap();
    let r = lnbits
        .ask(json!({"cmd": "pay_invoice", "bolt11": bolt11}))
        .await;
    assert_eq!(r["ok"], Value::Null, "{r}");
    assert_eq!(r["error_message"], "the recipient has rejected the payment");
    let st = lnbits
        .ask(json!({"cmd": "payment_status", "checking_id": refused}))
        .await;
    assert_eq!(st["success"], false, "{st}");
    // An unknown hash is one LNbits never paid: failed, as phoenixd's 404 says.
    let st = lnbits
        .ask(json!({"cmd": "payment_status", "checking_id": "22".repeat(32)}))
        .await;
    assert_eq!(st["failed"], true, "{st}");
    lnbits.stop().await;

    // LNbits' whole server with the shop as its funding source, through its own HTTP API.
    let server = lnbits::LnbitsServer::start(&api.url(), &api.full).await;
    let deadline = Instant::now() + PATIENCE;
    let wallet = loop {
        let (status, v) = json_request(
            "POST",
            &format!("{}/api/v1/account", server.url),
            &[],
            Some(&json!({"name": "shop"})),
        )
        .await;
        if status == 200 {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "LNbits did not start: {status} {v}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let inkey = wallet["inkey"].as_str().unwrap();
    let adminkey = wallet["adminkey"].as_str().unwrap();
    let payments = format!("{}/api/v1/payments", server.url);
    let (status, created) = json_request(
        "POST",
        &payments,
        &[("x-api-key", inkey)],
        Some(&json!({"out": false, "amount": 1234, "memo": "through LNbits"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let hash = created["payment_hash"].as_str().unwrap().to_string();
    let paid = pay(&net.alice, created["bolt11"].as_str().unwrap()).await;
    assert_eq!(paid["status"], "succeeded");
    let url = format!("{payments}/{hash}");
    wait_until("LNbits sees the invoice paid", || async {
        json_request("GET", &url, &[("x-api-key", inkey)], None)
            .await
            .1["paid"]
            == true
    })
    .await;
    let wallet_url = format!("{}/api/v1/wallet", server.url);
    let (_, w) = json_request("GET", &wallet_url, &[("x-api-key", inkey)], None).await;
    assert_eq!(w["balance"], 1_234_000, "{w}");
    let (bolt11, bob_hash) = chanhub_invoice(&net.bob, 500_000).await;
    let (status, sent) = json_request(
        "POST",
        &payments,
        &[("x-api-key", adminkey)],
        Some(&json!({"out": true, "bolt11": bolt11})),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["status"], "success", "{sent}");
    let bob_inv = net
        .bob
        .api
        .get(&format!("/v1/invoices/{bob_hash}"))
        .await
        .unwrap();
    assert_eq!(bob_inv["status"], "paid");
    let (_, w) = json_request("GET", &wallet_url, &[("x-api-key", inkey)], None).await;
    // 500 sat to bob and the hub's 1,050 msat fee, recorded as phoenixd's whole 1 sat.
    assert_eq!(w["balance"], 1_234_000 - 500_000 - 1_000, "{w}");
    server.stop().await;
    let _ = (&net.hub, &net.shop);
}
