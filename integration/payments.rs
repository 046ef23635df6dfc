//! Payments through the hub: three in-process nodes (alice, hub, bob) over real sockets on one
//! embedded chain. alice has a channel to the hub, the hub one to bob; bob's invoices carry a
//! route hint through the hub. Balances are checked to the millisatoshi: what the payer loses
//! is what the payee gains plus the hub's fee, and nothing else moves.
//!
//! `CHANHUB_CONCURRENT_PAYMENTS` sets the number of concurrent payments of the load test
//! (default 200, half each way).

mod channels_support;
#[path = "payments/hold.rs"]
mod hold;
#[path = "payments/receive.rs"]
mod receive;
#[path = "payments/zero_conf.rs"]
mod zero_conf;

use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256, Hash};
use chanhub::invoice::{Invoice, InvoiceDescription, InvoiceParams};
use chanhub::keys::{KeysManager, Seed};
use chanhub::onion::PaymentSecret;
use channels_support::*;
use serde_json::{json, Value};

const CAPACITY_SAT: u64 = 1_000_000;
/// The hub's default policy: 1,000 msat + 100 ppm.
fn hub_fee(amount_msat: u64) -> u64 {
    1_000 + amount_msat * 100 / 1_000_000
}

fn concurrent_wanted() -> usize {
    std::env::var("CHANHUB_CONCURRENT_PAYMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

struct Net {
    alice: TestNode,
    hub: TestNode,
    bob: TestNode,
    /// alice–hub and hub–bob.
    ah: String,
    hb: String,
    _tmp: tempfile::TempDir,
}

/// alice and the hub each fund a 1,000,000 sat channel: alice → hub, hub → bob.
async fn three_nodes() -> Net {
    three_nodes_with(|_| {}).await
}

/// [`three_nodes`] with bob's configuration changed by `bob_config`.
async fn three_nodes_with(bob_config: impl FnOnce(&mut chanhub::config::NodeConfig)) -> Net {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_payments(&tmp.path().join("hub"), None).await;
    let alice = start_payments(&tmp.path().join("alice"), Some(&hub)).await;
    let mut config = node_config(
        &tmp.path().join("bob"),
        Some(&hub),
        "127.0.0.1:0".parse().unwrap(),
        false,
    );
    bob_config(&mut config);
    let bob = start_config(config).await;
    fund(&hub).await;
    fund(&alice).await;
    let ah = open_active(&alice, &hub, CAPACITY_SAT, 0, "anchors").await;
    let hb = open_active(&hub, &bob, CAPACITY_SAT, 0, "static_remotekey").await;
    // Route hints need the hub's alias and policy at bob, which arrive after channel_ready.
    wait_until("bob knows a route hint", || async {
        !bob.node.channels().route_hints().await.unwrap().is_empty()
    })
    .await;
    Net {
        alice,
        hub,
        bob,
        ah,
        hb,
        _tmp: tmp,
    }
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

async fn invoice(n: &TestNode, amount_msat: Option<u64>, description: &str) -> (String, String) {
    let mut body = json!({ "description": description });
    if let Some(a) = amount_msat {
        body["amount_msat"] = a.into();
    }
    let v = n.api.post("/v1/invoices", body).await.expect("invoice");
    (
        v["bolt11"].as_str().unwrap().to_string(),
        v["payment_hash"].as_str().unwrap().to_string(),
    )
}

async fn pay(n: &TestNode, bolt11: &str) -> Value {
    n.api
        .post("/v1/payments", json!({ "bolt11": bolt11 }))
        .await
        .expect("pay answers")
}

/// (local, remote) msat of a channel as `n` sees it, once no HTLC is in flight on it.
async fn settled(n: &TestNode, id: &str) -> (u64, u64) {
    let c = n
        .wait_channel(id, "no HTLC in flight", |c| {
            c["pending_htlcs"].as_array().is_some_and(|a| a.is_empty())
        })
        .await;
    (
        c["local_msat"].as_u64().unwrap(),
        c["remote_msat"].as_u64().unwrap(),
    )
}

/// Everyone's channel balances: (alice, hub, bob), each side's view checked to agree.
async fn balances(net: &Net) -> (u64, u64, u64) {
    let (a_local, a_remote) = settled(&net.alice, &net.ah).await;
    let (h1_local, h1_remote) = settled(&net.hub, &net.ah).await;
    let (h2_local, h2_remote) = settled(&net.hub, &net.hb).await;
    let (b_local, b_remote) = settled(&net.bob, &net.hb).await;
    assert_eq!(
        (a_local, a_remote),
        (h1_remote, h1_local),
        "alice and hub agree"
    );
    assert_eq!(
        (h2_local, h2_remote),
        (b_remote, b_local),
        "hub and bob agree"
    );
    (a_local, h1_local + h2_local, b_local)
}

/// The signing key of a node, from its seed: the tests forge invoices in bob's name to send
/// what a buggy or hostile payer would.
fn node_key(n: &TestNode) -> bitcoin::secp256k1::SecretKey {
    let (seed, _) = Seed::load_or_create(&n.dir).unwrap();
    *KeysManager::new(&seed, bitcoin::Network::Regtest).node_secret()
}

/// An invoice signed by bob, with bob's route hints, for any hash, secret and amount.
async fn forged(
    bob: &TestNode,
    payment_hash: [u8; 32],
    secret: [u8; 32],
    amount_msat: u64,
) -> String {
    let hints = bob.node.channels().route_hints().await.unwrap();
    let mut params = InvoiceParams::new(
        bitcoin::Network::Regtest,
        Some(amount_msat),
        InvoiceDescription::Direct("forged".into()),
        chanhub::bolt3::PaymentHash(payment_hash),
        PaymentSecret(secret),
        now(),
    );
    params.route_hints = hints;
    Invoice::create(params, &node_key(bob)).unwrap().to_string()
}

/// `GET /v1/events` read as raw HTTP: what an SSE client of the API sees.
struct EventStream(tokio::sync::Mutex<tokio::net::TcpStream>);

impl EventStream {
    async fn open(n: &TestNode) -> EventStream {
        use tokio::io::AsyncWriteExt;
        let token = std::fs::read_to_string(&n.node.node_json.api_token_file).unwrap();
        let mut tcp = tokio::net::TcpStream::connect(n.node.node_json.api_addr)
            .await
            .unwrap();
        let req = format!(
            "GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
            token.trim()
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        EventStream(tokio::sync::Mutex::new(tcp))
    }

    /// Everything read until `marker` and the end of its frame.
    async fn until(&self, marker: &str) -> String {
        use tokio::io::AsyncReadExt;
        let mut tcp = self.0.lock().await;
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(at) = text.find(marker) {
                if text[at..].contains("\n\n") {
                    return text[at..].to_string();
                }
            }
            let n = tokio::time::timeout_at(deadline, tcp.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no {marker} in: {text}"))
                .unwrap();
            assert!(n > 0, "stream closed: {text}");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hash_of(hex_hash: &str) -> [u8; 32] {
    hex::decode(hex_hash).unwrap().try_into().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_pays_bob_through_the_hub_and_bob_pays_back() {
    let net = three_nodes().await;
    let start = balances(&net).await;
    assert_eq!(start, (CAPACITY_SAT * 1000, CAPACITY_SAT * 1000, 0));

    // alice pays bob's invoice.
    let amount = 100_000_000;
    let (bolt11, hash) = invoice(&net.bob, Some(amount), "a merchant's order").await;
    let mut events = net.bob.node.channels().subscribe_events();
    let stream = EventStream::open(&net.bob).await;
    let p = pay(&net.alice, &bolt11).await;
    assert_eq!(p["status"], "succeeded", "{p:#}");
    assert_eq!(p["payment_hash"], hash.as_str());
    assert_eq!(p["fee_msat"], hub_fee(amount));
    let preimage = hex::decode(p["preimage"].as_str().unwrap()).unwrap();
    assert_eq!(
        sha256::Hash::hash(&preimage).to_byte_array(),
        hash_of(&hash),
        "the preimage proves payment"
    );
    let ev = tokio::time::timeout(PATIENCE, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::to_value(&ev).unwrap()["type"],
        "invoice_paid",
        "{ev:?}"
    );
    let frame = stream.until("event: invoice_paid").await;
    assert!(frame.contains(&hash), "{frame}");

    let inv = net
        .bob
        .api
        .get(&format!("/v1/invoices/{hash}"))
        .await
        .unwrap();
    assert_eq!(inv["status"], "paid");
    assert_eq!(inv["received_msat"], amount);
    let after = balances(&net).await;
    assert_eq!(
        after,
        (
            start.0 - amount - hub_fee(amount),
            start.1 + hub_fee(amount),
            amount
        )
    );
    let forwards = net.hub.api.get("/v1/forwards").await.unwrap();
    let f = &forwards["forwards"][0];
    assert_eq!(f["status"], "settled", "{forwards:#}");
    assert_eq!(f["fee_msat"], hub_fee(amount));
    assert_eq!(f["in_channel_id"], net.ah.as_str());
    assert_eq!(f["out_channel_id"], net.hb.as_str());

    // Paying the same invoice again pays nothing more.
    let again = pay(&net.alice, &bolt11).await;
    assert_eq!(again["status"], "succeeded");
    assert_eq!(balances(&net).await, after);

    // bob pays an open-amount invoice of alice's back through the hub.
    let (bolt11, _) = invoice(&net.alice, None, "change").await;
    let back = 30_000_000;
    let p = net
        .bob
        .api
        .post(
            "/v1/payments",
            json!({ "bolt11": bolt11, "amount_msat": back }),
        )
        .await
        .unwrap();
    assert_eq!(p["status"], "succeeded", "{p:#}");
    let end = balances(&net).await;
    assert_eq!(
        end,
        (
            after.0 + back,
            after.1 + hub_fee(back),
            after.2 - back - hub_fee(back)
        )
    );
    // Conservation: value only moved between the three.
    assert_eq!(end.0 + end.1 + end.2, start.0 + start.1 + start.2);
    let listed = net.alice.api.get("/v1/payments").await.unwrap();
    assert_eq!(listed["payments"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_fee_policy_reaches_the_invoices_and_is_charged() {
    let net = three_nodes().await;
    let policy = json!({ "base_msat": 2_500, "ppm": 2_000, "cltv_delta": 60 });
    let set = net.hub.api.put("/v1/policy", policy.clone()).await.unwrap();
    assert_eq!(set, policy);
    assert_eq!(net.hub.api.get("/v1/policy").await.unwrap(), policy);
    // The hub tells bob in a channel_update; bob's hints follow.
    wait_until("bob's hint carries the new policy", || async {
        let hints = net.bob.node.channels().route_hints().await.unwrap();
        hints.first().is_some_and(|h| {
            h.0[0].fee_base_msat == 2_500
                && h.0[0].fee_proportional_millionths == 2_000
                && h.0[0].cltv_expiry_delta == 60
        })
    })
    .await;
    let before = balances(&net).await;
    let amount = 10_000_000;
    let (bolt11, hash) = invoice(&net.bob, Some(amount), "after the change").await;
    let fee = 2_500 + amount * 2_000 / 1_000_000;
    // The payer's limits: a route above them fails before anything is sent or recorded.
    for (limits, what) in [
        (json!({ "max_fee_msat": fee - 1 }), "max_fee_msat"),
        (
            json!({ "max_total_cltv_expiry_delta": 60 }),
            "max_total_cltv_expiry_delta",
        ),
    ] {
        let mut body = limits;
        body["bolt11"] = json!(bolt11);
        let err = net.alice.api.post("/v1/payments", body).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("no_route") && text.contains(what), "{text}");
    }
    assert!(net
        .alice
        .api
        .get(&format!("/v1/payments/{hash}"))
        .await
        .is_err());
    assert_eq!(balances(&net).await, before, "nothing moved");
    let body =
        json!({ "bolt11": bolt11, "max_fee_msat": fee, "max_total_cltv_expiry_delta": 1008 });
    let p = net.alice.api.post("/v1/payments", body).await.unwrap();
    assert_eq!(p["status"], "succeeded", "{p:#}");
    assert_eq!(p["fee_msat"], fee);
    let after = balances(&net).await;
    assert_eq!(after.1 - before.1, fee, "the hub earned the new fee");

    // An invoice made with the old policy (forged with lower fees) is refused by the hub.
    let hints = net.bob.node.channels().route_hints().await.unwrap();
    let mut cheap = hints.clone();
    cheap[0].0[0].fee_base_msat = 1_000;
    cheap[0].0[0].fee_proportional_millionths = 100;
    let (_, hash) = invoice(&net.bob, Some(amount), "stale fees").await;
    let inv = net
        .bob
        .api
        .get(&format!("/v1/invoices/{hash}"))
        .await
        .unwrap();
    let real = Invoice::parse(inv["bolt11"].as_str().unwrap(), bitcoin::Network::Regtest).unwrap();
    let mut params = InvoiceParams::new(
        bitcoin::Network::Regtest,
        Some(amount),
        InvoiceDescription::Direct("stale".into()),
        chanhub::bolt3::PaymentHash(hash_of(&hash)),
        real.payment_secret(),
        now(),
    );
    params.route_hints = cheap;
    let stale = Invoice::create(params, &node_key(&net.bob))
        .unwrap()
        .to_string();
    let p = pay(&net.alice, &stale).await;
    assert_eq!(p["status"], "failed", "{p:#}");
    assert!(
        p["failure"]
            .as_str()
            .unwrap()
            .contains("fee_insufficient from hop 1"),
        "{p:#}"
    );
    assert_eq!(balances(&net).await, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_clean_reported_and_move_nothing() {
    let net = three_nodes().await;
    // alice pays bob, then the hub pays bob directly: the hub has less towards bob
    // (300,000 sat) than alice has towards the hub (about 800,000 sat).
    let (bolt11, _) = invoice(&net.bob, Some(200_000_000), "seed").await;
    assert_eq!(pay(&net.alice, &bolt11).await["status"], "succeeded");
    let (bolt11, _) = invoice(&net.bob, Some(500_000_000), "direct").await;
    let direct = pay(&net.hub, &bolt11).await;
    assert_eq!(direct["status"], "succeeded", "{direct:#}");
    assert_eq!(direct["fee_msat"], 0, "no hop to pay");
    let before = balances(&net).await;

    let expect_failed = |p: &Value, name: &str, who: &str| {
        assert_eq!(p["status"], "failed", "{p:#}");
        let failure = p["failure"].as_str().unwrap();
        assert!(failure.contains(name), "{failure}");
        assert!(failure.contains(who), "{failure}");
        assert!(p["preimage"].is_null());
    };

    // Unknown payment hash: bob never issued it.
    let unknown = forged(&net.bob, [9; 32], [1; 32], 1_000_000).await;
    expect_failed(
        &pay(&net.alice, &unknown).await,
        "incorrect_or_unknown_payment_details",
        "the payee",
    );

    // Wrong payment secret, and too little, for a real invoice of bob's.
    let (_, hash) = invoice(&net.bob, Some(5_000_000), "real").await;
    let wrong_secret = forged(&net.bob, hash_of(&hash), [2; 32], 5_000_000).await;
    expect_failed(
        &pay(&net.alice, &wrong_secret).await,
        "incorrect_or_unknown_payment_details",
        "the payee",
    );
    let stored_secret = {
        let inv = net
            .bob
            .api
            .get(&format!("/v1/invoices/{hash}"))
            .await
            .unwrap();
        let parsed =
            Invoice::parse(inv["bolt11"].as_str().unwrap(), bitcoin::Network::Regtest).unwrap();
        parsed.payment_secret().0
    };
    let too_little = forged(&net.bob, hash_of(&hash), stored_secret, 4_999_999).await;
    expect_failed(
        &pay(&net.alice, &too_little).await,
        "incorrect_or_unknown_payment_details",
        "the payee",
    );
    let inv = net
        .bob
        .api
        .get(&format!("/v1/invoices/{hash}"))
        .await
        .unwrap();
    assert_eq!(
        inv["status"], "open",
        "a refused HTLC does not pay the invoice"
    );

    // Cancelled by bob: refused like an unknown invoice; a paid one cannot be cancelled.
    let (bolt11, hash) = invoice(&net.bob, Some(2_000_000), "changed my mind").await;
    let cancelled = net
        .bob
        .api
        .delete(&format!("/v1/invoices/{hash}"))
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    expect_failed(
        &pay(&net.alice, &bolt11).await,
        "incorrect_or_unknown_payment_details",
        "the payee",
    );
    let paid_hash = net.bob.api.get("/v1/invoices").await.unwrap()["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["status"] == "paid")
        .unwrap()["payment_hash"]
        .as_str()
        .unwrap()
        .to_string();
    let err = net
        .bob
        .api
        .delete(&format!("/v1/invoices/{paid_hash}"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("paid, not open"), "{err}");

    // Expired: refused before anything is sent.
    let v = net
        .bob
        .api
        .post(
            "/v1/invoices",
            json!({ "amount_msat": 1_000_000, "description": "soon gone", "expiry_secs": 1 }),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let err = net
        .alice
        .api
        .post("/v1/payments", json!({ "bolt11": v["bolt11"] }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invoice_expired"), "{err}");
    let inv = net
        .bob
        .api
        .get(&format!(
            "/v1/invoices/{}",
            v["payment_hash"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(inv["status"], "expired");

    // Insufficient liquidity at the hub: alice can send 400,000 sat, the hub cannot
    // forward it to bob.
    let (bolt11, _) = invoice(&net.bob, Some(400_000_000), "big").await;
    let p = pay(&net.alice, &bolt11).await;
    expect_failed(&p, "temporary_channel_failure", "hop 1");

    // Insufficient liquidity at alice herself: refused at once.
    let (bolt11, _) = invoice(&net.hub, Some(990_000_000), "more than alice has").await;
    let err = net
        .alice
        .api
        .post("/v1/payments", json!({ "bolt11": bolt11 }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("insufficient_liquidity"), "{err}");

    // No route: a payee we have no channel to and no hints for.
    let lonely = forged_without_hints(&net.bob, 1_000).await;
    let err = net
        .alice
        .api
        .post("/v1/payments", json!({ "bolt11": lonely }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no_route"), "{err}");

    assert_eq!(balances(&net).await, before, "failures move nothing");
    let forwards = net.hub.api.get("/v1/forwards").await.unwrap();
    let failed = forwards["forwards"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "failed")
        .count();
    // The liquidity failure never left the hub: it is not a forward.
    assert_eq!(failed, 4, "{forwards:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_onion_and_a_garbage_onion_are_refused_by_the_hub() {
    use chanhub::channel::{Command, Event};
    use chanhub::onion::{build_payment_onion, decrypt_failure, ErrorPacket, Recipient};
    let net = three_nodes().await;
    let before = balances(&net).await;
    let amount = 3_000_000;
    let (bolt11, hash) = invoice(&net.bob, Some(amount), "replay target").await;
    let inv = Invoice::parse(&bolt11, bitcoin::Network::Regtest).unwrap();
    let hint = inv.route_hints()[0].0[0];
    let height = net.alice.api.get("/v1/info").await.unwrap()["block_height"]
        .as_u64()
        .unwrap() as u32;
    // alice builds the onion herself and offers it twice, as an attacker replaying it would.
    let hop = chanhub::onion::ForwardingHop {
        node_id: hint.src_node_id,
        next_channel: hint.short_channel_id,
        fee_base_msat: hint.fee_base_msat,
        fee_proportional_millionths: hint.fee_proportional_millionths,
        cltv_expiry_delta: hint.cltv_expiry_delta,
    };
    let recipient = Recipient {
        node_id: inv.payee(),
        amount_msat: amount,
        final_cltv_expiry: height + 60,
        payment_secret: Some(inv.payment_secret()),
        total_msat: amount,
        payment_metadata: None,
        keysend_preimage: None,
    };
    let session = bitcoin::secp256k1::SecretKey::from_slice(&[0x11; 32]).unwrap();
    let onion = build_payment_onion(&session, &[hop], &recipient, &inv.payment_hash()).unwrap();
    let id: [u8; 32] = hex::decode(&net.ah).unwrap().try_into().unwrap();
    let mut events = net.alice.node.channels().subscribe();
    let add = Command::AddHtlc {
        amount_msat: onion.first_hop_amount_msat,
        payment_hash: hash_of(&hash),
        cltv_expiry: onion.first_hop_cltv_expiry,
        onion: onion.onion.packet.0.to_vec(),
        extra_fee_msat: None,
    };
    let channels = net.alice.node.channels();
    channels.command(id, add.clone()).await.unwrap();
    let first = collect(&mut events, 1, |e| match e {
        Event::HtlcFulfilled { preimage, .. } => Some(*preimage),
        _ => None,
    })
    .await;
    assert_eq!(
        sha256::Hash::hash(&first[0]).to_byte_array(),
        hash_of(&hash),
        "the first one pays bob"
    );
    channels.command(id, add).await.unwrap();
    let failed = collect(&mut events, 1, |e| match e {
        Event::HtlcFailed { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    let failure =
        decrypt_failure(&onion.onion.shared_secrets, &ErrorPacket(failed[0].clone())).unwrap();
    assert_eq!(failure.hop_index, 0, "the hub refused it");
    assert_eq!(
        failure.failure.unwrap().message.name(),
        "temporary_node_failure"
    );

    // An onion nobody can read: the hub answers update_fail_malformed_htlc.
    let garbage = Command::AddHtlc {
        amount_msat: 1_000_000,
        payment_hash: [7; 32],
        cltv_expiry: height + 100,
        onion: vec![0; chanhub::wire::types::ONION_PACKET_LEN],
        extra_fee_msat: None,
    };
    channels.command(id, garbage).await.unwrap();
    let malformed = collect(&mut events, 1, |e| match e {
        Event::HtlcFailed { malformed, .. } => Some(*malformed),
        _ => None,
    })
    .await;
    assert!(malformed[0].is_some(), "failed as malformed");

    let after = balances(&net).await;
    let fee = onion.fee_msat;
    assert_eq!(
        after,
        (before.0 - amount - fee, before.1 + fee, before.2 + amount)
    );
}

async fn forged_without_hints(bob: &TestNode, amount_msat: u64) -> String {
    let params = InvoiceParams::new(
        bitcoin::Network::Regtest,
        Some(amount_msat),
        InvoiceDescription::Direct("no hints".into()),
        chanhub::bolt3::PaymentHash([5; 32]),
        PaymentSecret([6; 32]),
        now(),
    );
    Invoice::create(params, &node_key(bob)).unwrap().to_string()
}

/// [`three_nodes`] after alice paid bob `seed_msat` (so both can pay), and the balances then.
async fn seeded(seed_msat: u64) -> (Net, (u64, u64, u64)) {
    let net = three_nodes().await;
    let (bolt11, _) = invoice(&net.bob, Some(seed_msat), "seed").await;
    assert_eq!(pay(&net.alice, &bolt11).await["status"], "succeeded");
    let before = balances(&net).await;
    (net, before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_concurrent_payments_both_ways() {
    let (net, before) = seeded(400_000_000).await;

    let n = concurrent_wanted();
    // Above the dust threshold the exposure cap checks static_remotekey HTLCs at (about 2,500
    // sat at 253 sat/kw plus its fee buffer): hundreds of trimmed HTLCs would pass the cap.
    let amount = |i: usize| 3_000_000 + (i as u64) * 1_000;
    let mut to_bob = Vec::new();
    let mut to_alice = Vec::new();
    for i in 0..n {
        if i % 2 == 0 {
            to_bob.push((
                invoice(&net.bob, Some(amount(i)), "load").await.0,
                amount(i),
            ));
        } else {
            to_alice.push((
                invoice(&net.alice, Some(amount(i)), "load").await.0,
                amount(i),
            ));
        }
    }
    let started = Instant::now();
    let alice_pays = to_bob.iter().map(|(b, _)| pay(&net.alice, b));
    let bob_pays = to_alice.iter().map(|(b, _)| pay(&net.bob, b));
    let (ra, rb) = tokio::join!(
        futures::future::join_all(alice_pays),
        futures::future::join_all(bob_pays)
    );
    eprintln!("{n} concurrent payments in {:?}", started.elapsed());
    for p in ra.iter().chain(rb.iter()) {
        assert_eq!(p["status"], "succeeded", "{p:#}");
    }
    let sent_to_bob: u64 = to_bob.iter().map(|x| x.1).sum();
    let sent_to_alice: u64 = to_alice.iter().map(|x| x.1).sum();
    let fees: u64 = to_bob
        .iter()
        .chain(to_alice.iter())
        .map(|x| hub_fee(x.1))
        .sum();
    let fees_alice: u64 = to_bob.iter().map(|x| hub_fee(x.1)).sum();
    let fees_bob: u64 = to_alice.iter().map(|x| hub_fee(x.1)).sum();
    let after = balances(&net).await;
    assert_eq!(
        after,
        (
            before.0 - sent_to_bob - fees_alice + sent_to_alice,
            before.1 + fees,
            before.2 + sent_to_bob - sent_to_alice - fees_bob
        )
    );
    let earned = net.hub.api.get("/v1/forwards").await.unwrap()["fee_msat_earned"]
        .as_u64()
        .unwrap();
    assert_eq!(earned, fees + hub_fee(400_000_000));
}

/// Commitments `n` has signed for its peers so far (`/metrics`).
async fn commitments_sent(n: &TestNode) -> u64 {
    let text = metrics_text(n).await;
    text.lines()
        .find_map(|l| l.strip_prefix("chanhub_commitments_total{direction=\"sent\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("the node exports its commitments") as u64
}

/// Pay requests that arrive together start together: their parts share commitments (one
/// per group on the channel, not one per payment), and every payment still succeeds with
/// exact balances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_asked_together_share_commitments() {
    let (net, before) = seeded(300_000_000).await;
    let n = 32u64;
    let amount = |i: u64| 3_000_000 + i * 1_000;
    let mut invoices = Vec::new();
    for i in 0..n {
        invoices.push(invoice(&net.bob, Some(amount(i)), "together").await.0);
    }
    let signed_before = commitments_sent(&net.alice).await;
    // The first two asked twice more among them: paid once, each caller told of it.
    let asked: Vec<&String> = invoices
        .iter()
        .chain(&invoices[..2])
        .chain(&invoices[..2])
        .collect();
    let paid = futures::future::join_all(asked.iter().map(|b| pay(&net.alice, b))).await;
    for p in &paid {
        assert_eq!(p["status"], "succeeded", "{p:#}");
    }
    for i in 0..2 {
        let hash = &paid[i]["payment_hash"];
        let same: Vec<&Value> = paid.iter().filter(|p| p["payment_hash"] == *hash).collect();
        assert_eq!(same.len(), 3);
        assert!(same.iter().all(|p| p["fee_msat"] == paid[i]["fee_msat"]));
    }
    let signed = commitments_sent(&net.alice).await - signed_before;
    eprintln!("{signed} commitments for {n} payments asked together");
    // Started one at a time, 30 such payments signed 13 here: each part was added alone, and
    // shared a commitment only when it came while the channel waited for a revocation.
    assert!(
        signed <= n / 4,
        "{signed} commitments for {n} payments asked together"
    );
    let sent: u64 = (0..n).map(amount).sum();
    let fees: u64 = (0..n).map(|i| hub_fee(amount(i))).sum();
    assert_eq!(
        balances(&net).await,
        (before.0 - sent - fees, before.1 + fees, before.2 + sent)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_restarts_with_payments_in_flight_and_none_is_stuck_or_paid_twice() {
    let net = three_nodes().await;
    let (bolt11, _) = invoice(&net.bob, Some(300_000_000), "seed").await;
    assert_eq!(pay(&net.alice, &bolt11).await["status"], "succeeded");
    let before = balances(&net).await;
    let Net {
        alice,
        hub,
        bob,
        ah,
        hb,
        _tmp,
    } = net;

    let mut hashes = Vec::new();
    for i in 0..40u64 {
        let (payer, payee) = if i % 2 == 0 {
            (&alice, &bob)
        } else {
            (&bob, &alice)
        };
        let (bolt11, hash) = invoice(payee, Some(1_000_000 + i), "in flight").await;
        let p = payer
            .api
            .post("/v1/payments", json!({ "bolt11": bolt11, "wait": false }))
            .await
            .unwrap();
        assert!(
            p["status"] == "pending" || p["status"] == "succeeded",
            "{p:#}"
        );
        hashes.push((i % 2 == 0, hash, 1_000_000 + i));
    }
    // Stop the hub in the middle of it all, and bring it back on the same address.
    let listen = hub.node.node_json.peer_addr;
    let dir = hub.dir.clone();
    hub.node.shutdown().await;
    let hub = start_payments_on(&dir, None, listen).await;
    let net = Net {
        alice,
        hub,
        bob,
        ah,
        hb,
        _tmp,
    };

    // Every payment ends, one way or the other; what succeeded paid its invoice once.
    let mut moved = (0i128, 0i128, 0i128);
    for (to_bob, hash, amount) in &hashes {
        let (payer, payee) = if *to_bob {
            (&net.alice, &net.bob)
        } else {
            (&net.bob, &net.alice)
        };
        let path = format!("/v1/payments/{hash}");
        let deadline = Instant::now() + PATIENCE;
        let p = loop {
            let p = payer.api.get(&path).await.unwrap();
            if p["status"] != "pending" {
                break p;
            }
            assert!(Instant::now() < deadline, "payment stuck: {p:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let inv = payee
            .api
            .get(&format!("/v1/invoices/{hash}"))
            .await
            .unwrap();
        let a = i128::from(*amount);
        let fee = i128::from(hub_fee(*amount));
        if p["status"] == "succeeded" {
            assert_eq!(inv["status"], "paid", "{p:#} {inv:#}");
            if *to_bob {
                moved = (moved.0 - a - fee, moved.1 + fee, moved.2 + a);
            } else {
                moved = (moved.0 + a, moved.1 + fee, moved.2 - a - fee);
            }
        } else {
            assert_eq!(p["status"], "failed");
            assert_eq!(
                inv["status"], "open",
                "a failed payment did not pay: {inv:#}"
            );
        }
    }
    let after = balances(&net).await;
    assert_eq!(
        (
            i128::from(after.0) - i128::from(before.0),
            i128::from(after.1) - i128::from(before.1),
            i128::from(after.2) - i128::from(before.2)
        ),
        moved
    );
}

/// What alice and carol need to send HTLCs of their own making through the hub to bob.
struct Sender<'a> {
    node: &'a TestNode,
    channel: [u8; 32],
    hop: chanhub::onion::ForwardingHop,
    bob: bitcoin::secp256k1::PublicKey,
}

impl Sender<'_> {
    /// Adds an HTLC paying bob `final_cltv_expiry` through the hub (`n` makes it unique);
    /// returns its onion's shared secrets, to read the failure that comes back.
    async fn add(&self, n: u8, final_cltv_expiry: u32) -> Vec<chanhub::onion::SharedSecret> {
        use chanhub::channel::Command;
        use chanhub::onion::{build_payment_onion, Recipient};
        let amount = 1_000_000;
        let recipient = Recipient {
            node_id: self.bob,
            amount_msat: amount,
            final_cltv_expiry,
            payment_secret: Some(PaymentSecret([n; 32])),
            total_msat: amount,
            payment_metadata: None,
            keysend_preimage: None,
        };
        let session = bitcoin::secp256k1::SecretKey::from_slice(&[n; 32]).unwrap();
        let hash = chanhub::bolt3::PaymentHash([n; 32]);
        let onion = build_payment_onion(&session, &[self.hop], &recipient, &hash).unwrap();
        let add = Command::AddHtlc {
            amount_msat: onion.first_hop_amount_msat,
            payment_hash: [n; 32],
            cltv_expiry: onion.first_hop_cltv_expiry,
            onion: onion.onion.packet.0.to_vec(),
            extra_fee_msat: None,
        };
        self.node
            .node
            .channels()
            .command(self.channel, add)
            .await
            .unwrap();
        onion.onion.shared_secrets
    }
}

/// The onion replay rows in a stopped node's database.
fn replay_rows(dir: &std::path::Path) -> i64 {
    let db = rusqlite::Connection::open(dir.join("chanhub.sqlite")).unwrap();
    db.query_row("SELECT count(*) FROM onion_replay", [], |r| r.get(0))
        .unwrap()
}

/// Channel jamming: alice forwards through the hub to bob, who holds every HTLC (a jammer's
/// own node). Past her share of the hub → bob channel's slots the hub fails her HTLCs back,
/// while carol, another peer of the hub, still gets through. HTLCs refused for their expiry
/// (absurdly far, or too soon) leave no onion replay row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_past_its_share_of_an_outgoing_channel_is_refused_while_another_forwards() {
    use chanhub::channel::Event;
    use chanhub::onion::{decrypt_failure, ErrorPacket};
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    // 1 % of bob's 483 slots: each incoming peer may hold 4 HTLCs on the hub → bob channel.
    let hub = start_config(chanhub::config::NodeConfig {
        jamming: chanhub::payments::jamming::JammingLimits {
            htlc_share_percent: 1,
            value_share_percent: 100,
        },
        ..node_config(
            &tmp.path().join("hub"),
            None,
            "127.0.0.1:0".parse().unwrap(),
            false,
        )
    })
    .await;
    let alice = start_payments(&tmp.path().join("alice"), Some(&hub)).await;
    let carol = start_payments(&tmp.path().join("carol"), Some(&hub)).await;
    // bob's router leaves incoming HTLCs alone: they stay pending, as a jammer's would.
    let bob = start(&tmp.path().join("bob"), Some(&hub)).await;
    fund(&hub).await;
    fund(&alice).await;
    let ah = open_active(&alice, &hub, CAPACITY_SAT, 0, "static_remotekey").await;
    // carol's side comes from a push: a third coinbase would be after the halving.
    let push = CAPACITY_SAT * 1000 / 2;
    let ch = open_active(&hub, &carol, CAPACITY_SAT, push, "static_remotekey").await;
    let hb = open_active(&hub, &bob, CAPACITY_SAT, 0, "static_remotekey").await;
    wait_until("bob knows a route hint", || async {
        !bob.node.channels().route_hints().await.unwrap().is_empty()
    })
    .await;
    let hint = bob.node.channels().route_hints().await.unwrap()[0].0[0];
    let hop = chanhub::onion::ForwardingHop {
        node_id: hint.src_node_id,
        next_channel: hint.short_channel_id,
        fee_base_msat: hint.fee_base_msat,
        fee_proportional_millionths: hint.fee_proportional_millionths,
        cltv_expiry_delta: hint.cltv_expiry_delta,
    };
    let bob_id = bob.id().parse().unwrap();
    let a = Sender {
        node: &alice,
        channel: hash_of(&ah),
        hop,
        bob: bob_id,
    };
    let c = Sender {
        node: &carol,
        channel: hash_of(&ch),
        hop,
        bob: bob_id,
    };
    let height = hub.api.get("/v1/info").await.unwrap()["block_height"]
        .as_u64()
        .unwrap() as u32;
    let pending_at_bob = || async {
        bob.channel(&hb).await["pending_htlcs"]
            .as_array()
            .unwrap()
            .len()
    };

    // alice: six HTLCs for a share of four.
    let mut events = alice.node.channels().subscribe();
    let mut secrets = Vec::new();
    for n in 1..=6 {
        secrets.push(a.add(n, height + 60).await);
    }
    let failed = collect(&mut events, 2, |e| match e {
        Event::HtlcFailed { id, reason, .. } => Some((*id, reason.clone())),
        _ => None,
    })
    .await;
    for (id, reason) in failed {
        let f = decrypt_failure(&secrets[id as usize], &ErrorPacket(reason)).unwrap();
        assert_eq!(f.hop_index, 0, "the hub refused it");
        assert_eq!(
            f.failure.unwrap().message.name(),
            "temporary_channel_failure"
        );
        assert!(id >= 4, "the first four were forwarded, not HTLC {id}");
    }
    wait_until("bob holds alice's four", || async {
        pending_at_bob().await == 4
    })
    .await;

    // carol still forwards through the same channel.
    c.add(20, height + 60).await;
    wait_until("bob holds carol's HTLC too", || async {
        pending_at_bob().await == 5
    })
    .await;

    // Expiries the hub refuses: absurdly far, and too soon for the outgoing HTLC.
    for (n, expiry, failure) in [
        (30, height + 3_000, "expiry_too_far"),
        (31, height + 2, "expiry_too_soon"),
    ] {
        let secrets = a.add(n, expiry).await;
        let reason = collect(&mut events, 1, |e| match e {
            Event::HtlcFailed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .await;
        let f = decrypt_failure(&secrets, &ErrorPacket(reason[0].clone())).unwrap();
        assert_eq!(f.failure.unwrap().message.name(), failure);
    }
    assert_eq!(pending_at_bob().await, 5);
    // One replay row per forwarded HTLC, none for the refused ones (the database is read once
    // the hub has stopped: a running node holds it exclusively).
    let dir = hub.dir.clone();
    hub.node.shutdown().await;
    assert_eq!(replay_rows(&dir), 5);
}
