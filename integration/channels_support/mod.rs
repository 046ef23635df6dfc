//! Two in-process nodes on one embedded chain, driven through the API and the channel
//! manager's handle: open, pay back and forth, close.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256, Hash};
use chanhub::api::client::ApiClient;
use chanhub::channel::{Command, Event};
use chanhub::config::{BitcoindAuth, BitcoindConfig, LogFormat, NodeConfig};
use chanhub::net::PeerLimits;
use chanhub::node::channels::ChannelEvent;
use chanhub::node::{Node, RunningNode};
use rand::{Rng, RngCore};
use serde_json::{json, Value};
use tokio::sync::broadcast;

pub const COIN: u64 = 100_000_000;
/// How long any awaited condition may take.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
}

/// A regtest address nobody in the tests owns, to mine blocks away from the wallets.
pub fn burn_address() -> String {
    use bitcoin::secp256k1::{Secp256k1, SecretKey};
    let sk = SecretKey::from_slice(&[0x42; 32]).unwrap();
    let pk = bitcoin::CompressedPublicKey(sk.public_key(&Secp256k1::new()));
    bitcoin::Address::p2wpkh(&pk, bitcoin::Network::Regtest).to_string()
}

pub struct TestNode {
    pub node: RunningNode,
    pub api: ApiClient,
    pub dir: PathBuf,
}

/// Starts a node on `dir`: with the embedded chain, or following `chain_of`'s chain over RPC.
pub async fn start(dir: &Path, chain_of: Option<&TestNode>) -> TestNode {
    start_on(dir, chain_of, "127.0.0.1:0".parse().unwrap()).await
}

/// [`start`] with the peer port on `listen` (a restarted node keeps its address, so the
/// peers that remember it find it again).
pub async fn start_on(dir: &Path, chain_of: Option<&TestNode>, listen: SocketAddr) -> TestNode {
    // These tests add HTLCs with made-up onions by hand: the router must leave them be.
    start_with(dir, chain_of, listen, true).await
}

/// A node whose router forwards, pays and settles HTLCs (the payment tests).
pub async fn start_payments(dir: &Path, chain_of: Option<&TestNode>) -> TestNode {
    start_with(dir, chain_of, "127.0.0.1:0".parse().unwrap(), false).await
}

/// [`start_payments`] with the peer port on `listen`.
pub async fn start_payments_on(
    dir: &Path,
    chain_of: Option<&TestNode>,
    listen: SocketAddr,
) -> TestNode {
    start_with(dir, chain_of, listen, false).await
}

async fn start_with(
    dir: &Path,
    chain_of: Option<&TestNode>,
    listen: SocketAddr,
    manual_htlcs: bool,
) -> TestNode {
    start_config(node_config(dir, chain_of, listen, manual_htlcs)).await
}

/// The configuration the helpers start nodes with, for tests that change a field first.
pub fn node_config(
    dir: &Path,
    chain_of: Option<&TestNode>,
    listen: SocketAddr,
    manual_htlcs: bool,
) -> NodeConfig {
    let bitcoind = chain_of.map(|c| BitcoindConfig {
        url: format!("http://{}", c.node.node_json.chain_rpc_addr.unwrap()),
        auth: BitcoindAuth::Cookie(c.node.node_json.chain_rpc_cookie.clone().unwrap()),
    });
    NodeConfig {
        datadir: dir.to_path_buf(),
        network: bitcoin::Network::Regtest,
        listen,
        api: "127.0.0.1:0".parse().unwrap(),
        bitcoind,
        log_format: LogFormat::Text,
        sync_interval: Duration::from_millis(200),
        peers: PeerLimits::default(),
        dev_api: false,
        policy: chanhub::payments::FeePolicy::default(),
        dev_manual_htlcs: manual_htlcs,
        resolution_depth: chanhub::node::channels::DEFAULT_RESOLUTION_DEPTH,
        watchtower: None,
        webhooks: Default::default(),
        max_dust_htlc_exposure_msat: chanhub::channel::ChannelConfig::default()
            .max_dust_htlc_exposure_msat,
        max_closing_fee_multiple: chanhub::node::channels::DEFAULT_MAX_CLOSING_FEE_MULTIPLE,
        jamming: Default::default(),
        announce_addrs: Vec::new(),
        alias: String::new(),
        color: chanhub::config::DEFAULT_COLOR,
        // Relay gossip at once rather than on BOLT 7's 60-second stagger.
        gossip_stagger_secs: 1,
        accept_keysend: false,
        mpp_timeout: chanhub::payments::mpp::MPP_TIMEOUT,
        zeroconf_peers: Vec::new(),
        compat_phoenixd: None,
        lsps2: None,
        lsps1: None,
    }
}

/// Starts a node with `config` and an API client for it.
pub async fn start_config(config: NodeConfig) -> TestNode {
    let dir = config.datadir.clone();
    let node = Node::start(config).await.expect("node starts");
    let token = std::fs::read_to_string(&node.node_json.api_token_file).unwrap();
    let api = ApiClient::new(&node.node_json.api_addr.to_string(), &token);
    TestNode { node, api, dir }
}

impl TestNode {
    pub fn id(&self) -> String {
        self.node.node_json.node_id.clone()
    }

    pub fn peer_addr(&self) -> String {
        self.node.node_json.peer_addr.to_string()
    }

    pub async fn mine(&self, blocks: u32, address: &str) {
        self.api
            .post(
                "/v1/chain/mine",
                json!({"blocks": blocks, "address": address}),
            )
            .await
            .unwrap();
    }

    pub async fn new_address(&self) -> String {
        let v = self
            .api
            .post("/v1/onchain/address", json!({}))
            .await
            .unwrap();
        v["address"].as_str().unwrap().to_string()
    }

    pub async fn confirmed_sat(&self) -> u64 {
        let b = self.api.get("/v1/balance").await.unwrap();
        b["onchain_confirmed_sat"].as_u64().unwrap()
    }

    pub async fn channel(&self, id: &str) -> Value {
        self.api.get(&format!("/v1/channels/{id}")).await.unwrap()
    }

    /// Polls the channel until `cond` holds.
    pub async fn wait_channel(&self, id: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let c = self.channel(id).await;
            if cond(&c) {
                return c;
            }
            assert!(Instant::now() < deadline, "{what}: {c:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_confirmed(&self, want: u64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let got = self.confirmed_sat().await;
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "confirmed balance {got}, expected {want}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A funds its wallet with one matured coinbase (50 BTC).
pub async fn fund(a: &TestNode) {
    let addr = a.new_address().await;
    a.mine(1, &addr).await;
    a.mine(100, &burn_address()).await;
    a.wait_confirmed(50 * COIN).await;
}

/// A opens a channel to B (connecting first), mines the funding to depth 3 and waits until
/// both sides call it active. Returns the channel id.
pub async fn open_active(
    a: &TestNode,
    b: &TestNode,
    capacity_sat: u64,
    push_msat: u64,
    channel_type: &str,
) -> String {
    let opened = a
        .api
        .post(
            "/v1/channels",
            json!({
                "node_id": b.id(), "addr": b.peer_addr(), "capacity_sat": capacity_sat,
                "push_msat": push_msat, "channel_type": channel_type,
            }),
        )
        .await
        .expect("open");
    let id = opened["channel_id"].as_str().unwrap().to_string();
    let c = a.channel(&id).await;
    assert_eq!(c["state"], "opening");
    assert_eq!(c["funding_txid"], opened["funding_txid"]);
    a.mine(3, &burn_address()).await;
    for n in [a, b] {
        let c = n
            .wait_channel(&id, "channel active", |c| c["state"] == "active")
            .await;
        assert_eq!(c["capacity_sat"], capacity_sat);
        assert_eq!(c["channel_type"], channel_type);
    }
    id
}

/// What one side expects of the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub a_msat: u64,
    pub b_msat: u64,
}

/// Drives random updates in both directions through the channel managers and checks the
/// balances they lead to. Counts every update message (add, fulfill, fail, update_fee).
pub struct Traffic {
    pub channel_id: [u8; 32],
    pub expected: Expected,
    pub updates: usize,
    pub fee_updates: usize,
    next: u64,
}

/// Waits for `n` events matching `f` on `rx`, skipping others.
pub async fn collect<T>(
    rx: &mut broadcast::Receiver<ChannelEvent>,
    n: usize,
    mut f: impl FnMut(&Event) -> Option<T>,
) -> Vec<T> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while out.len() < n {
        let e = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events arrived", out.len()))
            .expect("event stream");
        if let Some(t) = f(&e.event) {
            out.push(t);
        }
    }
    out
}

impl Traffic {
    pub fn new(channel_id: &str, expected: Expected) -> Traffic {
        let mut id = [0u8; 32];
        id.copy_from_slice(&hex::decode(channel_id).unwrap());
        Traffic {
            channel_id: id,
            expected,
            updates: 0,
            fee_updates: 0,
            next: rand::thread_rng().next_u64(),
        }
    }

    /// One round: a few adds in random directions, each fulfilled or failed by the receiver,
    /// sometimes an update_fee by A (the opener).
    pub async fn round(&mut self, a: &TestNode, b: &TestNode) {
        let mut rng = rand::thread_rng();
        let (mut ev_a, mut ev_b) = (a.node.channels().subscribe(), b.node.channels().subscribe());
        let height = a.api.get("/v1/info").await.unwrap()["block_height"]
            .as_u64()
            .unwrap() as u32;
        let k = rng.gen_range(1..=4);
        let mut offered = Vec::new();
        for _ in 0..k {
            let from_a = rng.gen_bool(0.5);
            let amount_msat = rng.gen_range(1_000..=2_000_000);
            self.next += 1;
            let preimage = sha256::Hash::hash(&self.next.to_be_bytes()).to_byte_array();
            let payment_hash = sha256::Hash::hash(&preimage).to_byte_array();
            let from = if from_a { a } else { b };
            from.node
                .channels()
                .command(
                    self.channel_id,
                    Command::AddHtlc {
                        amount_msat,
                        payment_hash,
                        cltv_expiry: height + 100,
                        onion: vec![0; chanhub::wire::types::ONION_PACKET_LEN],
                        extra_fee_msat: None,
                    },
                )
                .await
                .expect("add_htlc accepted");
            self.updates += 1;
            offered.push((from_a, payment_hash, preimage, amount_msat));
        }
        if rng.gen_bool(0.15) {
            // At most 900 sat/kw: the default dust exposure cap (50,000 sat) then holds every
            // HTLC of a few rounds, trimmed or not, so none is failed back.
            let feerate_per_kw = rng.gen_range(253..=900);
            a.node
                .channels()
                .command(self.channel_id, Command::UpdateFee { feerate_per_kw })
                .await
                .expect("update_fee accepted");
            self.updates += 1;
            self.fee_updates += 1;
        }
        let to_b = offered.iter().filter(|o| o.0).count();
        let to_a = offered.len() - to_b;
        let received = |e: &Event| match e {
            Event::HtlcReceived { htlc } => Some(htlc.clone()),
            _ => None,
        };
        let (got_b, got_a) = tokio::join!(
            collect(&mut ev_b, to_b, received),
            collect(&mut ev_a, to_a, received)
        );
        for (at_a, htlcs) in [(false, got_b), (true, got_a)] {
            let receiver = if at_a { a } else { b };
            for h in htlcs {
                let o = offered
                    .iter()
                    .find(|o| o.1 == h.payment_hash)
                    .expect("an HTLC we offered");
                assert_eq!(o.3, h.amount_msat);
                assert_eq!(o.0, !at_a, "arrived on the other side");
                let command = if rng.gen_bool(0.7) {
                    let x = o.3;
                    if at_a {
                        self.expected.a_msat += x;
                        self.expected.b_msat -= x;
                    } else {
                        self.expected.b_msat += x;
                        self.expected.a_msat -= x;
                    }
                    Command::Fulfill {
                        id: h.id,
                        preimage: o.2,
                    }
                } else {
                    Command::Fail {
                        id: h.id,
                        reason: vec![0x42; 32],
                    }
                };
                receiver
                    .node
                    .channels()
                    .command(self.channel_id, command)
                    .await
                    .expect("settle accepted");
                self.updates += 1;
            }
        }
        let settled = |e: &Event| match e {
            Event::HtlcFulfilled { .. } | Event::HtlcFailed { .. } => Some(()),
            _ => None,
        };
        tokio::join!(
            collect(&mut ev_a, to_b, settled),
            collect(&mut ev_b, to_a, settled)
        );
    }

    /// Waits until both sides agree on the expected balances with nothing in flight.
    pub async fn settle(&self, a: &TestNode, b: &TestNode) {
        let id = hex::encode(self.channel_id);
        let want = self.expected;
        let what = format!("balances {want:?}");
        a.wait_channel(&id, &what, |c| {
            c["pending_htlcs"].as_array().unwrap().is_empty()
                && c["local_msat"] == want.a_msat
                && c["remote_msat"] == want.b_msat
        })
        .await;
        b.wait_channel(&id, &what, |c| {
            c["pending_htlcs"].as_array().unwrap().is_empty()
                && c["local_msat"] == want.b_msat
                && c["remote_msat"] == want.a_msat
        })
        .await;
    }
}

/// Closes cooperatively from `closer` and checks the wallets got the channel balances, the
/// opener A paying the closing fee.
pub async fn close_and_check(a: &TestNode, b: &TestNode, traffic: &Traffic, closer_is_a: bool) {
    let id = hex::encode(traffic.channel_id);
    let (before_a, before_b) = (a.confirmed_sat().await, b.confirmed_sat().await);
    let mut ev_a = a.node.channels().subscribe();
    let closer = if closer_is_a { a } else { b };
    closer
        .api
        .post(&format!("/v1/channels/{id}/close"), json!({"force": false}))
        .await
        .expect("close");
    let fee = collect(&mut ev_a, 1, |e| match e {
        Event::ClosingAgreed { fee_sat, .. } => Some(*fee_sat),
        _ => None,
    })
    .await[0];
    for n in [a, b] {
        n.wait_channel(&id, "closing", |c| c["state"] == "closing")
            .await;
    }
    a.mine(1, &burn_address()).await;
    for n in [a, b] {
        n.wait_channel(&id, "closed", |c| c["state"] == "closed")
            .await;
    }
    let want_a = before_a + traffic.expected.a_msat / 1000 - fee;
    let want_b = before_b + traffic.expected.b_msat / 1000;
    a.wait_confirmed(want_a).await;
    b.wait_confirmed(want_b).await;
    let bal = a.api.get("/v1/balance").await.unwrap();
    assert_eq!(bal["channels_local_msat"], 0);
}

/// `payer` pays an invoice of `payee`'s (through their channel) and waits for success.
pub async fn pay_hub(payer: &TestNode, payee: &TestNode, amount_msat: u64) {
    let inv = payee
        .api
        .post(
            "/v1/invoices",
            json!({ "amount_msat": amount_msat, "description": "goods" }),
        )
        .await
        .unwrap();
    let paid = payer
        .api
        .post("/v1/payments", json!({ "bolt11": inv["bolt11"] }))
        .await
        .unwrap();
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
}

/// `GET /metrics` of `n` as text (the route takes the token but answers no JSON).
pub async fn metrics_text(n: &TestNode) -> String {
    let token = std::fs::read_to_string(&n.node.node_json.api_token_file).unwrap();
    let (status, text) = n
        .api
        .raw(
            hyper::Method::GET,
            "/metrics",
            Some(token.trim()),
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{text}");
    text
}
