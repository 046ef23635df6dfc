//! Interoperability with LDK: `ldk-node` wallets open channels with a chanhub hub (and the hub
//! with them), pay and get paid through it, see failures with the right reason, close both
//! ways, and survive a hub restart. Everyone sits on one embedded regtest chain, served by a
//! chanhub node over its bitcoind-compatible RPC, which ldk-node's bitcoind chain source syncs
//! from; the hub and the chanhub user `bob` follow the same chain.
//!
//! The LDK wallets: `anna` negotiates anchors (`anchor_channels_config` set, so she keeps an
//! on-chain reserve per channel) and `leo` only `option_static_remotekey` (no anchors config).
//! Each test builds its own network; `CHANHUB_KEEP_TEST_DIR=1` keeps the data directories (the
//! wallets' logs are `<dir>/<name>/ldk.log`). What each flow checks: channel-spec/interop.md.

mod channels_support;
#[path = "ldk/gossip.rs"]
mod gossip;
mod ldk_support;
#[path = "ldk/lsps1.rs"]
mod lsps1;
#[path = "ldk/lsps2.rs"]
mod lsps2;
#[path = "ldk/routing.rs"]
mod routing;

use std::str::FromStr;
use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256, Hash};
use chanhub::config::NodeConfig;
use channels_support::*;
use ldk_node::lightning::events::PaymentFailureReason;
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description};
use ldk_node::lightning_types::payment::{PaymentHash, PaymentPreimage};
use ldk_node::{Event, PendingSweepBalance};
use ldk_support::*;
use serde_json::{json, Value};

/// The hub's default policy: 1,000 msat + 100 ppm.
fn hub_fee(amount_msat: u64) -> u64 {
    1_000 + amount_msat * 100 / 1_000_000
}

struct Net {
    /// Mines and serves the chain; never restarted.
    chain: TestNode,
    hub: TestNode,
    /// A chanhub user with a channel from the hub.
    bob: TestNode,
    anna: Ldk,
    leo: Ldk,
    tmp: tempfile::TempDir,
}

async fn net() -> Net {
    init_logs();
    let mut tmp = tempfile::tempdir().unwrap();
    // The LDK wallets log to `<dir>/<name>/ldk.log`: keep them to read after a failure.
    if std::env::var_os("CHANHUB_KEEP_TEST_DIR").is_some() {
        tmp.disable_cleanup(true);
        eprintln!("test directory: {}", tmp.path().display());
    }
    let chain = start_payments(&tmp.path().join("chain"), None).await;
    // The dev API lets the tests make the hub send update_fee.
    let hub = start_config(NodeConfig {
        dev_api: true,
        ..node_config(
            &tmp.path().join("hub"),
            Some(&chain),
            "127.0.0.1:0".parse().unwrap(),
            false,
        )
    })
    .await;
    let bob = start_payments(&tmp.path().join("bob"), Some(&chain)).await;
    let anna = start_ldk(
        "anna",
        &tmp.path().join("anna"),
        &chain,
        LdkChannels::Anchors,
    );
    let leo = start_ldk(
        "leo",
        &tmp.path().join("leo"),
        &chain,
        LdkChannels::StaticRemotekey,
    );
    let hub_addr = hub.new_address().await;
    chain.mine(1, &hub_addr).await;
    fund_ldk(&chain, &[&anna, &leo]).await;
    hub.wait_confirmed(50 * COIN).await;
    Net {
        chain,
        hub,
        bob,
        anna,
        leo,
        tmp,
    }
}

fn description(s: &str) -> Bolt11InvoiceDescription {
    Bolt11InvoiceDescription::Direct(Description::new(s.to_string()).unwrap())
}

async fn wait_until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The LDK wallet opens a channel to the hub; mined to the hub's depth, both sides call it
/// ready. Returns the channel id (the same hex on both sides).
async fn ldk_opens(
    net: &Net,
    w: &Ldk,
    capacity_sat: u64,
    push_msat: Option<u64>,
    kind: LdkChannels,
) -> String {
    let hub_id = net.hub.id().parse().unwrap();
    let hub_addr = net.hub.peer_addr().parse().unwrap();
    w.node
        .open_channel(hub_id, hub_addr, capacity_sat, push_msat, None)
        .expect("ldk opens");
    let id = w
        .expect_event("ChannelPending", |e| match e {
            Event::ChannelPending { channel_id, .. } => Some(channel_id.to_string()),
            _ => None,
        })
        .await;
    net.hub
        .wait_channel(&id, "hub sees the channel", |c| c["state"] == "opening")
        .await;
    net.chain.mine(3, &burn_address()).await;
    w.expect_event("ChannelReady", |e| match e {
        Event::ChannelReady { channel_id, .. } => Some(channel_id.to_string() == id),
        _ => None,
    })
    .await;
    let c = net
        .hub
        .wait_channel(&id, "hub: active", |c| c["state"] == "active")
        .await;
    assert_eq!(c["channel_type"], kind.hub_name());
    assert_eq!(c["capacity_sat"], capacity_sat);
    id
}

/// The hub opens a channel to the LDK wallet (pushing `push_msat` to it), which asks for 6
/// confirmations.
async fn hub_opens(
    net: &Net,
    w: &Ldk,
    capacity_sat: u64,
    push_msat: u64,
    kind: LdkChannels,
) -> String {
    let opened = net
        .hub
        .api
        .post(
            "/v1/channels",
            json!({
                "node_id": w.id().to_string(), "addr": w.peer_addr(),
                "capacity_sat": capacity_sat, "push_msat": push_msat,
                "channel_type": kind.hub_name(),
            }),
        )
        .await
        .expect("hub opens");
    let id = opened["channel_id"].as_str().unwrap().to_string();
    w.expect_event("ChannelPending", |e| match e {
        Event::ChannelPending { channel_id, .. } => Some(channel_id.to_string() == id),
        _ => None,
    })
    .await;
    net.chain.mine(6, &burn_address()).await;
    w.expect_event("ChannelReady", |e| match e {
        Event::ChannelReady { channel_id, .. } => Some(channel_id.to_string() == id),
        _ => None,
    })
    .await;
    net.hub
        .wait_channel(&id, "hub: active", |c| c["state"] == "active")
        .await;
    id
}

/// Waits until the LDK wallet can put `hint`s for the hub in its invoices: the channel is
/// usable and the hub's private `channel_update` arrived.
async fn ldk_has_hint(w: &Ldk, channel_id: &str) {
    wait_until("ldk knows the hub's forwarding policy", || async {
        w.node.list_channels().iter().any(|c| {
            c.channel_id.to_string() == channel_id
                && c.is_usable
                && c.counterparty_forwarding_info_fee_base_msat.is_some()
        })
    })
    .await;
}

async fn hub_invoice(n: &TestNode, amount_msat: u64) -> (Bolt11Invoice, String) {
    let v = n
        .api
        .post(
            "/v1/invoices",
            json!({ "amount_msat": amount_msat, "description": "ldk pays" }),
        )
        .await
        .expect("invoice");
    (
        Bolt11Invoice::from_str(v["bolt11"].as_str().unwrap()).unwrap(),
        v["payment_hash"].as_str().unwrap().to_string(),
    )
}

/// The LDK wallet pays and waits for the outcome: Ok(fee) or Err(reason).
async fn ldk_pays(w: &Ldk, invoice: &Bolt11Invoice) -> Result<Option<u64>, PaymentFailureReason> {
    let id = w.node.bolt11_payment().send(invoice, None).expect("send");
    ldk_outcome(w, id).await.map_err(|r| r.expect("a reason"))
}

/// Waits for how the LDK node's payment `id` ended: Ok(fee) or Err(reason).
async fn ldk_outcome(
    w: &Ldk,
    id: ldk_node::lightning::ln::channelmanager::PaymentId,
) -> Result<Option<u64>, Option<PaymentFailureReason>> {
    w.expect_event("payment outcome", |e| match e {
        Event::PaymentSuccessful {
            payment_id,
            fee_paid_msat,
            ..
        } if *payment_id == Some(id) => Some(Ok(*fee_paid_msat)),
        Event::PaymentFailed {
            payment_id, reason, ..
        } if *payment_id == Some(id) => Some(Err(*reason)),
        _ => None,
    })
    .await
}

async fn hub_pays(n: &TestNode, invoice: &Bolt11Invoice) -> Value {
    n.api
        .post("/v1/payments", json!({ "bolt11": invoice.to_string() }))
        .await
        .expect("pay answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldk_wallets_open_pay_and_get_paid_through_the_hub() {
    let net = net().await;
    // Both directions, both channel types.
    let anna_hub = ldk_opens(&net, &net.anna, 1_000_000, None, LdkChannels::Anchors).await;
    let leo_hub = ldk_opens(
        &net,
        &net.leo,
        1_000_000,
        None,
        LdkChannels::StaticRemotekey,
    )
    .await;
    let hub_anna = hub_opens(&net, &net.anna, 1_000_000, 0, LdkChannels::Anchors).await;
    // The hub gives leo most of this one: little is left to forward to him.
    let hub_leo = hub_opens(
        &net,
        &net.leo,
        1_000_000,
        900_000_000,
        LdkChannels::StaticRemotekey,
    )
    .await;
    let hub_bob = open_active(&net.hub, &net.bob, 1_000_000, 0, "static_remotekey").await;
    for (w, id) in [(&net.anna, &anna_hub), (&net.leo, &leo_hub)] {
        let c = w.node.list_channels();
        let c = c.iter().find(|c| c.channel_id.to_string() == **id).unwrap();
        assert!(c.is_outbound && c.is_usable, "{c:?}");
    }
    let route_hints = |n: &TestNode| {
        let n = n.node.channels().clone();
        async move { !n.route_hints().await.unwrap().is_empty() }
    };
    wait_until("bob knows a route hint", || route_hints(&net.bob)).await;
    ldk_has_hint(&net.anna, &hub_anna).await;
    ldk_has_hint(&net.leo, &hub_leo).await;

    // LDK pays a chanhub invoice through the hub.
    let amount = 50_000_000;
    let (inv, hash) = hub_invoice(&net.bob, amount).await;
    let fee = ldk_pays(&net.anna, &inv).await.expect("anna pays bob");
    assert_eq!(fee, Some(hub_fee(amount)));
    let got = net
        .bob
        .api
        .get(&format!("/v1/invoices/{hash}"))
        .await
        .unwrap();
    assert_eq!(got["status"], "paid");
    assert_eq!(got["received_msat"], amount);

    // A chanhub node pays an LDK invoice through the hub.
    let amount = 20_000_000;
    let inv = net
        .anna
        .node
        .bolt11_payment()
        .receive(amount, &description("bob pays"), 3600)
        .unwrap();
    assert!(
        inv.route_hints()
            .iter()
            .any(|h| h.0[0].src_node_id.to_string() == net.hub.id()),
        "anna's invoice has a hint through the hub: {inv}"
    );
    let paid = hub_pays(&net.bob, &inv).await;
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    assert_eq!(paid["fee_msat"], hub_fee(amount));
    let received = net
        .anna
        .expect_event("PaymentReceived", |e| match e {
            Event::PaymentReceived { amount_msat, .. } => Some(*amount_msat),
            _ => None,
        })
        .await;
    assert_eq!(received, amount);

    // LDK to LDK through the hub.
    let amount = 30_000_000;
    let inv = net
        .leo
        .node
        .bolt11_payment()
        .receive(amount, &description("anna pays leo"), 3600)
        .unwrap();
    let fee = ldk_pays(&net.anna, &inv).await.expect("anna pays leo");
    assert_eq!(fee, Some(hub_fee(amount)));
    let received = net
        .leo
        .expect_event("PaymentReceived", |e| match e {
            Event::PaymentReceived { amount_msat, .. } => Some(*amount_msat),
            _ => None,
        })
        .await;
    assert_eq!(received, amount);

    // The hub (the opener) raises the feerate of its channels to the wallets: LDK accepts the
    // update_fee and signs our next commitments, built with the new fee, and payments go on.
    for (id, w, feerate) in [(&hub_leo, &net.leo, 2_500), (&hub_anna, &net.anna, 1_000)] {
        net.hub
            .api
            .post(
                &format!("/v1/dev/channels/{id}/update_fee"),
                json!({ "feerate_per_kw": feerate }),
            )
            .await
            .expect("update_fee");
        w.wait("LDK took the new feerate", |n| {
            n.list_channels().iter().any(|c| {
                c.channel_id.to_string() == **id
                    && c.feerate_sat_per_1000_weight == feerate
                    && c.is_usable
            })
        })
        .await;
    }
    let inv = net
        .leo
        .node
        .bolt11_payment()
        .receive(4_000_000, &description("after update_fee"), 3600)
        .unwrap();
    ldk_pays(&net.anna, &inv)
        .await
        .expect("anna pays leo after update_fee");
    let inv = net
        .anna
        .node
        .bolt11_payment()
        .receive(3_000_000, &description("after update_fee"), 3600)
        .unwrap();
    let paid = hub_pays(&net.bob, &inv).await;
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    for id in [&hub_leo, &hub_anna] {
        net.hub
            .wait_channel(id, "active, nothing in flight", |c| {
                c["state"] == "active" && c["pending_htlcs"].as_array().unwrap().is_empty()
            })
            .await;
    }

    // Failures travel back. An invoice bob cancelled: bob refuses the HTLC as unknown, and
    // LDK learns the recipient rejected it (no retry can help).
    let (inv, hash) = hub_invoice(&net.bob, 1_000_000).await;
    net.bob
        .api
        .delete(&format!("/v1/invoices/{hash}"))
        .await
        .unwrap();
    let failed = ldk_pays(&net.anna, &inv)
        .await
        .expect_err("cancelled invoice");
    assert_eq!(failed, PaymentFailureReason::RecipientRejected);
    let bob_said = format!("{}: IncorrectPaymentDetails", net.bob.id());
    assert!(
        net.anna
            .onion_errors()
            .iter()
            .any(|e| e.starts_with(&bob_said)),
        "{:?}",
        net.anna.onion_errors()
    );

    // The other way: an LDK payee gives up on a payment, and the chanhub payer reads LDK's
    // error onion through the hub.
    let preimage = [9u8; 32];
    let hash = sha256::Hash::hash(&preimage).to_byte_array();
    let inv = net
        .leo
        .node
        .bolt11_payment()
        .receive_for_hash(5_000_000, &description("refused"), 3600, PaymentHash(hash))
        .unwrap();
    let pending = net
        .bob
        .api
        .post(
            "/v1/payments",
            json!({ "bolt11": inv.to_string(), "wait": false }),
        )
        .await
        .expect("pay");
    assert_eq!(pending["status"], "pending", "{pending:#}");
    net.leo
        .expect_event("PaymentClaimable", |e| match e {
            Event::PaymentClaimable { payment_hash, .. } => Some(payment_hash.0 == hash),
            _ => None,
        })
        .await;
    net.leo
        .node
        .bolt11_payment()
        .fail_for_hash(PaymentHash(hash))
        .unwrap();
    let path = format!("/v1/payments/{}", hex::encode(hash));
    wait_until("bob's payment fails", || async {
        net.bob.api.get(&path).await.unwrap()["status"] == "failed"
    })
    .await;
    let failure = net.bob.api.get(&path).await.unwrap()["failure"].clone();
    let failure = failure.as_str().unwrap();
    assert!(
        failure.contains("incorrect_or_unknown_payment_details") && failure.contains("payee"),
        "{failure}"
    );

    // More than the hub can send to leo (at most 100,000 sat less reserve on hub_leo, 30,000 on
    // leo_hub), though anna can pay it and leo accepts it (LDK takes at most 10 % of a
    // channel in flight): the hub fails the forward with temporary_channel_failure, LDK rules
    // out the hub's channel to leo and, with no route left, gives up.
    let too_much = 95_000_000;
    let inv = net
        .leo
        .node
        .bolt11_payment()
        .receive(too_much, &description("too much"), 3600)
        .unwrap();
    let hash = inv.payment_hash().to_string();
    let failed = ldk_pays(&net.anna, &inv).await.expect_err("no liquidity");
    assert!(
        matches!(
            failed,
            PaymentFailureReason::RouteNotFound | PaymentFailureReason::RetriesExhausted
        ),
        "{failed:?}"
    );
    let hub_said = format!("{}: TemporaryChannelFailure", net.hub.id());
    assert!(
        net.anna
            .onion_errors()
            .iter()
            .any(|e| e.starts_with(&hub_said)),
        "anna decoded the hub's error: {:?}",
        net.anna.onion_errors()
    );
    // The hub refused it before offering anything to leo: no forward was recorded.
    let forwards = net.hub.api.get("/v1/forwards").await.unwrap();
    assert!(
        !forwards["forwards"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["payment_hash"] == hash.as_str()),
        "{forwards:#}"
    );
    // Nothing stuck: every channel of the hub's is idle again.
    for id in [&anna_hub, &leo_hub, &hub_anna, &hub_leo, &hub_bob] {
        net.hub
            .wait_channel(id, "no HTLC left", |c| {
                c["pending_htlcs"].as_array().unwrap().is_empty()
            })
            .await;
    }
}

/// Mines a block at a time until `cond` holds (at most 300 blocks).
async fn mine_until<F, Fut>(net: &Net, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if cond().await {
            return;
        }
        net.chain.mine(1, &burn_address()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("mined 300 blocks and still not: {what}");
}

/// `payee` makes an invoice it will hold (it knows the preimage, but claims only when told),
/// `payer` pays it, and the test waits until the HTLC reached the payee.
async fn held_payment(payer: &Ldk, payee: &Ldk, amount_msat: u64, seed: u8) -> Held {
    let preimage = [seed; 32];
    let hash = sha256::Hash::hash(&preimage).to_byte_array();
    let inv = payee
        .node
        .bolt11_payment()
        .receive_for_hash(amount_msat, &description("held"), 3600, PaymentHash(hash))
        .unwrap();
    let id = payer.node.bolt11_payment().send(&inv, None).expect("send");
    payee
        .expect_event("PaymentClaimable", |e| match e {
            Event::PaymentClaimable { payment_hash, .. } => Some(payment_hash.0 == hash),
            _ => None,
        })
        .await;
    Held {
        preimage,
        hash,
        amount_msat,
        id,
    }
}

struct Held {
    preimage: [u8; 32],
    hash: [u8; 32],
    amount_msat: u64,
    id: ldk_node::lightning::ln::channelmanager::PaymentId,
}

impl Held {
    fn claim(&self, payee: &Ldk) {
        payee
            .node
            .bolt11_payment()
            .claim_for_hash(
                PaymentHash(self.hash),
                self.amount_msat,
                PaymentPreimage(self.preimage),
            )
            .expect("claim");
    }

    /// Waits (mining, since the preimage may travel on chain) until the payer learns its
    /// payment succeeded, with the right preimage.
    async fn succeeded(&self, net: &Net, payer: &Ldk) {
        mine_until(net, "the payer learns the preimage", || async {
            payer
                .node
                .payment(&self.id)
                .is_some_and(|p| p.status == ldk_node::payment::PaymentStatus::Succeeded)
        })
        .await;
        let p = payer.node.payment(&self.id).unwrap();
        match p.kind {
            ldk_node::payment::PaymentKind::Bolt11 { preimage, .. } => {
                assert_eq!(preimage.map(|p| p.0), Some(self.preimage))
            }
            k => panic!("not a bolt11 payment: {k:?}"),
        }
    }
}

fn user_channel(w: &Ldk, channel_id: &str) -> ldk_node::UserChannelId {
    w.node
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id.to_string() == channel_id)
        .unwrap_or_else(|| panic!("{}: no channel {channel_id}", w.name))
        .user_channel_id
}

/// The hub's record of how the channel ended on chain, once final.
async fn hub_resolution(net: &Net, id: &str) -> Value {
    // Six blocks a step: the hub's own delayed output waits out to_self_delay (144).
    for _ in 0..60 {
        let res = net.hub.channel(id).await["resolution"].clone();
        if !res.is_null() {
            return res;
        }
        net.chain.mine(6, &burn_address()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("mined 360 blocks and the hub has no resolution for {id}");
}

fn htlc_outputs(res: &Value) -> Vec<&Value> {
    res["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"].as_str().unwrap().contains("htlc"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_cooperative_from_each_side_and_forced_with_htlcs_pending() {
    let net = net().await;
    let hub_id = net.hub.id().parse().unwrap();
    let a1 = ldk_opens(&net, &net.anna, 1_000_000, None, LdkChannels::Anchors).await;
    let a2 = hub_opens(
        &net,
        &net.anna,
        1_000_000,
        300_000_000,
        LdkChannels::Anchors,
    )
    .await;
    let l1 = hub_opens(&net, &net.leo, 1_000_000, 0, LdkChannels::StaticRemotekey).await;
    let l2 = ldk_opens(
        &net,
        &net.leo,
        1_000_000,
        Some(300_000_000),
        LdkChannels::StaticRemotekey,
    )
    .await;
    ldk_has_hint(&net.leo, &l1).await;

    // The hub force-closes an anchors channel while anna's HTLC to leo is on it: the hub's
    // commitment goes on chain with the incoming HTLC; leo then claims off chain, so the hub
    // holds the preimage and must take the HTLC on chain, where anna learns it.
    let held = held_payment(&net.anna, &net.leo, 40_000_000, 1).await;
    let (a_forced, a_left) = carrying(&net, [&a1, &a2]).await;
    net.hub
        .api
        .post(
            &format!("/v1/channels/{a_forced}/close"),
            json!({"force": true}),
        )
        .await
        .expect("force close");
    held.claim(&net.leo);
    held.succeeded(&net, &net.anna).await;
    let res = hub_resolution(&net, &a_forced).await;
    assert_eq!(res["spend"], "local", "{res:#}");
    let htlcs = htlc_outputs(&res);
    assert!(
        htlcs
            .iter()
            .any(|o| o["ours"] == true && o["kind"] == "htlc_success"),
        "the hub took the HTLC with its preimage: {res:#}"
    );

    // Leo (LDK) force-closes a static_remotekey channel with a HTLC from anna pending on it,
    // then claims it: his HTLC-success transaction shows the hub the preimage, which the hub
    // settles upstream with anna off chain.
    let held = held_payment(&net.anna, &net.leo, 30_000_000, 2).await;
    let (l_forced, l_left) = carrying(&net, [&l1, &l2]).await;
    net.leo
        .node
        .force_close_channel(&user_channel(&net.leo, &l_forced), hub_id, None)
        .expect("ldk force close");
    held.claim(&net.leo);
    held.succeeded(&net, &net.anna).await;
    let res = hub_resolution(&net, &l_forced).await;
    assert_eq!(res["spend"], "remote", "{res:#}");
    assert!(
        htlc_outputs(&res)
            .iter()
            .any(|o| o["ours"] == false && !o["spent_by"].is_null()),
        "leo took the HTLC on chain: {res:#}"
    );

    // Cooperative closes: anna (LDK) starts one, the hub the other. Each wallet gets its
    // channel balance, less the closing fee if it opened the channel. First the forced
    // closes' sweeps into the wallets confirm, so they do not land in what is measured: anna's
    // output of the hub's commitment (one block of CSV), and whatever leo already swept
    // (his own output waits out the hub's 144 blocks, past this part of the test).
    mine_until(&net, "the forced closes' sweeps settle", || async {
        let anna = net.anna.node.list_balances();
        let leo = net.leo.node.list_balances();
        // A sweep awaiting its threshold confirmations is in the wallet's total already.
        let swept = |b: &ldk_node::BalanceDetails| {
            b.pending_balances_from_channel_closures.iter().all(|p| {
                matches!(
                    p,
                    PendingSweepBalance::AwaitingThresholdConfirmations { .. }
                )
            })
        };
        anna.lightning_balances.len() == 1 && swept(&anna) && swept(&leo)
    })
    .await;
    let mut want = Vec::new();
    for (w, id) in [(&net.anna, &a_left), (&net.leo, &l_left)] {
        let c = net.hub.channel(id).await;
        let owed_sat = c["remote_msat"].as_u64().unwrap() / 1000;
        // The total, not the spendable balance: closing anna's anchors channel also frees the
        // on-chain reserve LDK keeps for it.
        let total = w.node.list_balances().total_onchain_balance_sats;
        want.push((w, total, owed_sat));
    }
    net.anna
        .node
        .close_channel(&user_channel(&net.anna, &a_left), hub_id)
        .expect("ldk close");
    net.hub
        .api
        .post(
            &format!("/v1/channels/{l_left}/close"),
            json!({"force": false}),
        )
        .await
        .expect("hub close");
    mine_until(&net, "both closes confirm", || async {
        let a = net.hub.channel(&a_left).await["state"] == "closed";
        let b = net.hub.channel(&l_left).await["state"] == "closed";
        a && b
    })
    .await;
    // A closing transaction at our 1,000 sat/kw is well under 2,000 sat.
    for (w, before, owed_sat) in want {
        w.wait("the close pays the wallet", |n| {
            n.list_balances().total_onchain_balance_sats + 2_000 >= before + owed_sat
        })
        .await;
        let got = w.node.list_balances().total_onchain_balance_sats - before;
        assert!(got <= owed_sat, "{}: {got} > {owed_sat}", w.name);
    }
    for id in [&a_left, &l_left] {
        let res = hub_resolution(&net, id).await;
        assert_eq!(res["spend"], "mutual", "{res:#}");
    }
}

/// Which of the two channels carries the HTLC in flight (the payer's router and the hub pick
/// among a wallet's channels with the hub), and the other one.
async fn carrying(net: &Net, ids: [&String; 2]) -> (String, String) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        for (i, id) in ids.iter().enumerate() {
            let c = net.hub.channel(id).await;
            if !c["pending_htlcs"].as_array().unwrap().is_empty() {
                return ((*id).clone(), ids[1 - i].clone());
            }
        }
        assert!(Instant::now() < deadline, "no HTLC on {ids:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops the hub, runs `between` while it is down, and starts it again on the same data
/// directory and peer address.
async fn restart_hub(net: Net, between: impl FnOnce(&Ldk, &Ldk)) -> Net {
    let Net {
        chain,
        hub,
        bob,
        anna,
        leo,
        tmp,
    } = net;
    let listen = hub.node.node_json.peer_addr;
    let dir = hub.dir.clone();
    hub.node.shutdown().await;
    between(&anna, &leo);
    let hub = start_payments_on(&dir, Some(&chain), listen).await;
    Net {
        chain,
        hub,
        bob,
        anna,
        leo,
        tmp,
    }
}

async fn hub_settled(net: &Net, ids: &[&str]) {
    for id in ids {
        net.hub
            .wait_channel(id, "reestablished, nothing in flight", |c| {
                c["state"] == "active"
                    && c["peer_connected"] == true
                    && c["pending_htlcs"].as_array().unwrap().is_empty()
            })
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_restart_mid_payment_reestablishes_with_ldk() {
    let net = net().await;
    // The hub opened both channels, so it redials both wallets after its restart.
    let a = hub_opens(
        &net,
        &net.anna,
        1_000_000,
        300_000_000,
        LdkChannels::Anchors,
    )
    .await;
    let l = hub_opens(&net, &net.leo, 1_000_000, 0, LdkChannels::StaticRemotekey).await;
    ldk_has_hint(&net.leo, &l).await;

    // The payee claims while the hub is down: the fulfill crosses after the reestablish and
    // the hub settles upstream.
    let held = held_payment(&net.anna, &net.leo, 25_000_000, 3).await;
    let net = restart_hub(net, |_, leo| held.claim(leo)).await;
    held.succeeded(&net, &net.anna).await;
    hub_settled(&net, &[&a, &l]).await;

    // The payee gives up while the hub is down: the failure crosses after the reestablish,
    // and anna learns the recipient rejected it.
    let held = held_payment(&net.anna, &net.leo, 25_000_000, 4).await;
    let net = restart_hub(net, |_, leo| {
        leo.node
            .bolt11_payment()
            .fail_for_hash(PaymentHash(held.hash))
            .expect("fail")
    })
    .await;
    let reason = net
        .anna
        .expect_event("PaymentFailed", |e| match e {
            Event::PaymentFailed {
                payment_id, reason, ..
            } if *payment_id == Some(held.id) => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, Some(PaymentFailureReason::RecipientRejected));
    hub_settled(&net, &[&a, &l]).await;

    // Leo drops the connection while he holds a payment, claims it offline and connects
    // again: the reestablish carries his fulfill.
    let held = held_payment(&net.anna, &net.leo, 15_000_000, 6).await;
    let hub_id = net.hub.id().parse().unwrap();
    net.leo.node.disconnect(hub_id).expect("disconnect");
    net.hub
        .wait_channel(&l, "leo is gone", |c| c["peer_connected"] == false)
        .await;
    held.claim(&net.leo);
    net.leo
        .node
        .connect(hub_id, net.hub.peer_addr().parse().unwrap(), true)
        .expect("reconnect");
    held.succeeded(&net, &net.anna).await;
    hub_settled(&net, &[&a, &l]).await;

    // And the channels carry payments again.
    let inv = net
        .leo
        .node
        .bolt11_payment()
        .receive(5_000_000, &description("after restart"), 3600)
        .unwrap();
    ldk_pays(&net.anna, &inv).await.expect("pays after restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_closes_with_the_payment_in_flight_ldk_anchors_and_hub_static() {
    let net = net().await;
    let hub_id = net.hub.id().parse().unwrap();
    let a = ldk_opens(&net, &net.anna, 1_000_000, None, LdkChannels::Anchors).await;
    let l = hub_opens(&net, &net.leo, 1_000_000, 0, LdkChannels::StaticRemotekey).await;
    ldk_has_hint(&net.leo, &l).await;
    // Anna pays over either; the other one carries the second payment.
    let a2 = hub_opens(
        &net,
        &net.anna,
        1_000_000,
        300_000_000,
        LdkChannels::Anchors,
    )
    .await;

    // Anna's HTLC is on her commitment when she force-closes (her anchors commitment, bumped
    // from her on-chain reserve); leo then claims off chain, so the hub has the preimage and
    // takes the HTLC from anna's commitment on chain, where anna learns it.
    let held = held_payment(&net.anna, &net.leo, 35_000_000, 5).await;
    let (a, a2) = carrying(&net, [&a, &a2]).await;
    // Anna leaves first: connected, her `error` could reach the hub before her broadcaster's
    // queue sends her commitment, and the hub's own commitment (which the `error` makes it
    // broadcast) would win the race to the mempool.
    net.anna.node.disconnect(hub_id).expect("disconnect");
    net.hub
        .wait_channel(&a, "anna is gone", |c| c["peer_connected"] == false)
        .await;
    net.anna
        .node
        .force_close_channel(&user_channel(&net.anna, &a), hub_id, None)
        .expect("ldk force close");
    held.claim(&net.leo);
    held.succeeded(&net, &net.anna).await;
    let res = hub_resolution(&net, &a).await;
    assert_eq!(res["spend"], "remote", "{res:#}");
    assert!(
        htlc_outputs(&res)
            .iter()
            .any(|o| o["ours"] == true && o["kind"] == "their_htlc_preimage"),
        "the hub took the HTLC with its preimage: {res:#}"
    );
    net.anna
        .node
        .connect(hub_id, net.hub.peer_addr().parse().unwrap(), true)
        .expect("reconnect");
    ldk_has_hint(&net.anna, &a2).await;
    // The hub was paid downstream and upstream: the forward settled.
    let forwards = net.hub.api.get("/v1/forwards").await.unwrap();
    let hash = hex::encode(held.hash);
    let f = forwards["forwards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["payment_hash"] == hash.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no forward: {forwards:#}"));
    assert_eq!(f["status"], "settled", "{f:#}");

    // The hub force-closes a static_remotekey channel with its HTLC to leo in flight; leo
    // claims it after the close, on chain with the preimage, from which the hub settles
    // anna's HTLC upstream off chain.
    let held = held_payment(&net.anna, &net.leo, 20_000_000, 7).await;
    net.hub
        .wait_channel(&l, "the HTLC is on the channel", |c| {
            c["pending_htlcs"].as_array().unwrap().len() == 1
        })
        .await;
    net.hub
        .api
        .post(&format!("/v1/channels/{l}/close"), json!({"force": true}))
        .await
        .expect("force close");
    net.leo
        .expect_event("ChannelClosed", |e| match e {
            Event::ChannelClosed { channel_id, .. } => Some(channel_id.to_string() == l),
            _ => None,
        })
        .await;
    held.claim(&net.leo);
    held.succeeded(&net, &net.anna).await;
    let res = hub_resolution(&net, &l).await;
    assert_eq!(res["spend"], "local", "{res:#}");
    assert!(
        htlc_outputs(&res)
            .iter()
            .any(|o| o["ours"] == false && !o["spent_by"].is_null()),
        "leo took the HTLC on chain: {res:#}"
    );
    net.hub
        .wait_channel(&a2, "settled upstream", |c| {
            c["pending_htlcs"].as_array().unwrap().is_empty()
        })
        .await;
}
