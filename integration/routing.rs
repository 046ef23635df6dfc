//! Payments across hubs, each node a `chanhub node` process on one embedded chain: routes
//! found from gossip plus the payee's route hints, retries past a failing channel, multi-part
//! payments, an incomplete set failed back, keysend.
//!
//! ```text
//!                 ┌──── hub C ────┐        (public; a costlier way round)
//! alice ══ hub A ─┴─── P1 ────── hub B ─── bob
//!  (two private           (public)     (private, in bob's route hints)
//!   channels)
//! ```
//!
//! One network serves every scenario, in order, each one leaving the balances the next one
//! expects; the scenarios check balances to the millisatoshi where the amounts are known.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Each of alice's two channels to hub A.
const ALICE_CHANNEL_SAT: u64 = 300_000;
/// Hub A ↔ hub B (P1), hub A ↔ hub C, hub C ↔ hub B.
const HUB_CHANNEL_SAT: u64 = 1_000_000;
/// Hub B → bob: more than the split payment (c) and the retried one (b) together, less than
/// what alice can send in the incomplete set (d).
const BOB_CHANNEL_SAT: u64 = 550_000;

/// A hub's default policy: 1,000 msat + 100 ppm.
fn hub_fee(amount_msat: u64) -> u64 {
    1_000 + amount_msat * 100 / 1_000_000
}

/// Gossip goes out every second (the stagger is 60 s by default); `public` nodes announce an
/// address, so their channels can be announced.
fn configure(dir: &std::path::Path, alias: &str, port: u16, public: bool, extra: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let announce = if public {
        format!("announce_addr = [\"127.0.0.1:{port}\"]\n")
    } else {
        String::new()
    };
    std::fs::write(
        dir.join("chanhub.toml"),
        format!(
            "alias = \"{alias}\"\n{announce}sync_interval_ms = 200\n{extra}\
             [gossip]\nstagger_secs = 1\n"
        ),
    )
    .unwrap();
}

struct Node {
    proc: NodeProc,
    port: u16,
}

impl Node {
    fn id(&self) -> String {
        self.proc.json["node_id"].as_str().unwrap().to_string()
    }

    fn uri(&self) -> String {
        format!("{}@127.0.0.1:{}", self.id(), self.port)
    }

    fn cli_json(&self, args: &[&str]) -> Value {
        self.proc.cli_json(args)
    }

    /// An API call: the answer, or the error's text.
    fn api(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let c = client(&self.proc);
        rt.block_on(async {
            match body {
                Some(b) if method == "POST" => c.post(path, b).await,
                _ => c.get(path).await,
            }
        })
        .map_err(|e| e.to_string())
    }

    fn invoice(&self, amount_msat: u64, description: &str) -> (String, String) {
        let v = self.cli_json(&[
            "invoice",
            "--amount-msat",
            &amount_msat.to_string(),
            description,
        ]);
        (
            v["bolt11"].as_str().unwrap().to_string(),
            v["payment_hash"].as_str().unwrap().to_string(),
        )
    }

    /// `POST /v1/payments` with `body`, asserting the node took it.
    fn pay(&self, body: Value) -> Value {
        self.api("POST", "/v1/payments", Some(body.clone()))
            .unwrap_or_else(|e| panic!("POST /v1/payments {body}: {e}"))
    }

    fn payment(&self, hash: &str) -> Value {
        self.api("GET", &format!("/v1/payments/{hash}"), None)
            .unwrap()
    }

    /// Polls the payment until it is no longer pending.
    fn resolved(&self, hash: &str, patience: Duration) -> Value {
        let deadline = Instant::now() + patience;
        loop {
            let p = self.payment(hash);
            if p["status"] != "pending" {
                return p;
            }
            assert!(Instant::now() < deadline, "still pending: {p:#}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `GET /v1/invoices/{hash}`.
    fn invoice_record(&self, hash: &str) -> Value {
        self.api("GET", &format!("/v1/invoices/{hash}"), None)
            .unwrap()
    }

    /// The node's forwards of `hash`.
    fn forwards(&self, hash: &str) -> Vec<Value> {
        let all = self.cli_json(&["forwards"]);
        all["forwards"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["payment_hash"] == hash)
            .cloned()
            .collect()
    }

    /// The node's forward of `hash` (the first, and it must exist).
    fn forward(&self, hash: &str) -> Value {
        let all = self.cli_json(&["forwards"]);
        all["forwards"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["payment_hash"] == hash)
            .unwrap_or_else(|| panic!("no forward of {hash}: {all:#}"))
            .clone()
    }

    /// (local, remote) msat of a channel once nothing is in flight on it.
    fn settled(&self, channel_id: &str) -> (u64, u64) {
        let mut c = Value::Null;
        wait(&format!("channel {channel_id} settles"), || {
            c = self.cli_json(&["channel", channel_id]);
            c["pending_htlcs"].as_array().is_some_and(|a| a.is_empty())
        });
        (
            c["local_msat"].as_u64().unwrap(),
            c["remote_msat"].as_u64().unwrap(),
        )
    }
}

struct Net {
    hub_a: Node,
    hub_b: Node,
    hub_c: Node,
    alice: Node,
    bob: Node,
    /// alice's two channels to hub A.
    alice_a: [String; 2],
    /// Hub A ↔ hub B, and its short channel id once public.
    p1: String,
    p1_scid: u64,
    /// Hub B → bob.
    b_bob: String,
    _tmp: tempfile::TempDir,
}

/// A short channel id in a JSON answer, as a number or as `BLOCKxTXxOUT`.
/// `None` for null: a private channel of the payer's own has no public id.
fn scid(v: &Value) -> Option<u64> {
    if v.is_null() {
        return None;
    }
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let s = v.as_str().unwrap_or_else(|| panic!("not a scid: {v}"));
    let p: Vec<u64> = s.split('x').map(|x| x.parse().unwrap()).collect();
    assert_eq!(p.len(), 3, "scid {s}");
    Some(p[0] << 40 | p[1] << 16 | p[2])
}

/// The public channels between two nodes, as `seen_by` knows them.
fn public_between(seen_by: &Node, x: &Node, y: &Node) -> Vec<u64> {
    let Ok(node) = seen_by.api("GET", &format!("/v1/graph/nodes/{}", x.id()), None) else {
        return Vec::new();
    };
    let y_id = y.id();
    node["channels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| {
            let c = seen_by
                .api("GET", &format!("/v1/graph/channels/{s}"), None)
                .ok()?;
            let ends = [c["node1"].as_str()?, c["node2"].as_str()?];
            let both = ends.contains(&y_id.as_str())
                && !c["node1_policy"].is_null()
                && !c["node2_policy"].is_null()
                && c["spent"] == false;
            both.then(|| c["short_channel_id"].as_u64().unwrap())
        })
        .collect()
}

fn open(from: &Node, to: &Node, capacity_sat: u64, announce: bool) -> String {
    let cap = capacity_sat.to_string();
    let uri = to.uri();
    let mut args = vec!["open", uri.as_str(), cap.as_str()];
    if announce {
        args.push("--announce");
    }
    from.cli_json(&args)["channel_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn wait_active(nodes: [&Node; 2], channel_id: &str) {
    for n in nodes {
        wait(&format!("channel {channel_id} active"), || {
            n.cli_json(&["channel", channel_id])["state"] == "active"
        });
    }
}

/// Starts the five nodes, funds and opens every channel, and waits until alice and hub A know
/// the public graph (both directions of the three hub channels) and bob's invoices carry a
/// route hint through hub B.
fn network() -> Net {
    let tmp = test_dir();
    let dir = |n: &str| tmp.path().join(n);
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    configure(&dir("hub-a"), "hub-a", ports[0], true, "");
    // Hub B lets one incoming peer use all of its channel to bob: by default one peer may
    // hold only half of it (the jamming share), and the payer cannot tell that limit, which
    // depends on where a part comes from, from the channel's own liquidity. The scenarios
    // test the payer against the channels' liquidity.
    configure(
        &dir("hub-b"),
        "hub-b",
        ports[1],
        true,
        "accept_keysend = true\n[jamming]\nvalue_share_percent = 100\n",
    );
    configure(&dir("hub-c"), "hub-c", ports[2], true, "");
    configure(&dir("alice"), "alice", ports[3], false, "");
    configure(&dir("bob"), "bob", ports[4], false, "");
    let a = NodeProc::start(
        &dir("hub-a"),
        &[
            "--listen",
            &format!("127.0.0.1:{}", ports[0]),
            "--accept-keysend",
        ],
    );
    let hub_b = Node {
        proc: start_follower(&dir("hub-b"), &a, ports[1]),
        port: ports[1],
    };
    let hub_c = Node {
        proc: start_follower(&dir("hub-c"), &a, ports[2]),
        port: ports[2],
    };
    let alice = Node {
        proc: start_follower(&dir("alice"), &a, ports[3]),
        port: ports[3],
    };
    let bob = Node {
        proc: start_follower(&dir("bob"), &a, ports[4]),
        port: ports[4],
    };
    let hub_a = Node {
        proc: a,
        port: ports[0],
    };

    // One coinbase each for the nodes that open channels, matured by 100 blocks.
    for n in [&hub_a, &hub_b, &hub_c, &alice] {
        let addr = n.proc.new_address();
        hub_a.cli_json(&["chain", "mine", "1", "--address", &addr]);
    }
    hub_a.cli_json(&["chain", "mine", "100", "--address", &burn_address()]);
    for n in [&hub_a, &hub_b, &hub_c, &alice] {
        n.proc.wait_balance((50 * COIN, 0));
    }

    let p1 = open(&hub_a, &hub_b, HUB_CHANNEL_SAT, true);
    let ac = open(&hub_a, &hub_c, HUB_CHANNEL_SAT, true);
    let cb = open(&hub_c, &hub_b, HUB_CHANNEL_SAT, true);
    let alice_a = [
        open(&alice, &hub_a, ALICE_CHANNEL_SAT, false),
        open(&alice, &hub_a, ALICE_CHANNEL_SAT, false),
    ];
    let b_bob = open(&hub_b, &bob, BOB_CHANNEL_SAT, false);
    // Active at 3 confirmations, announced at 6.
    hub_a.cli_json(&["chain", "mine", "6", "--address", &burn_address()]);
    wait_active([&hub_a, &hub_b], &p1);
    wait_active([&hub_a, &hub_c], &ac);
    wait_active([&hub_c, &hub_b], &cb);
    for id in &alice_a {
        wait_active([&alice, &hub_a], id);
    }
    wait_active([&hub_b, &bob], &b_bob);

    // alice and hub A learn the three public channels, both directions each, by gossip.
    let mut p1_scid = 0;
    for seen_by in [&alice, &hub_a] {
        wait("the public graph", || {
            let p1 = public_between(seen_by, &hub_a, &hub_b);
            let ok = p1.len() == 1
                && public_between(seen_by, &hub_a, &hub_c).len() == 1
                && public_between(seen_by, &hub_c, &hub_b).len() == 1;
            if ok {
                p1_scid = p1[0];
            }
            ok
        });
    }
    // Private channels stay out of it.
    let g = alice.cli_json(&["graph"]);
    assert_eq!(g["channel_count"], 3, "{g:#}");
    assert!(g["channels"].as_array().unwrap().is_empty(), "{g:#}");
    wait("bob's invoices carry a route hint through hub B", || {
        let v = bob.cli_json(&["invoice", "--amount-msat", "1000", "hint check"]);
        v["route_hints"]
            .as_array()
            .is_some_and(|h| h.iter().any(|hop| hop["node_id"] == hub_b.id()))
    });
    Net {
        hub_a,
        hub_b,
        hub_c,
        alice,
        bob,
        alice_a,
        p1,
        p1_scid,
        b_bob,
        _tmp: tmp,
    }
}

/// alice's outbound and everyone's view of it: the sum of her local balances.
fn alice_local(net: &Net) -> u64 {
    net.alice_a.iter().map(|c| net.alice.settled(c).0).sum()
}

/// (a) alice → hub A → hub B → bob: the route comes from gossip (hub A ↔ hub B) and bob's
/// route hint (hub B → bob); each hub forwards once and earns its fee.
fn alice_pays_bob_across_two_hubs(net: &Net) {
    let amount = 10_000_000;
    let (bolt11, hash) = net.bob.invoice(amount, "across two hubs");
    let before = alice_local(net);
    let (bob_before, _) = net.bob.settled(&net.b_bob);
    // Through the CLI, as a user would.
    let paid = net.alice.cli_json(&["pay", &bolt11]);
    assert_eq!(paid["status"], "succeeded", "{paid:#}");

    let fee_b = hub_fee(amount);
    let fee_a = hub_fee(amount + fee_b);
    assert_eq!(paid["fee_msat"], fee_a + fee_b, "{paid:#}");
    assert_eq!(paid["amount_msat"], amount);
    let attempts = paid["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{paid:#}");
    let att = &attempts[0];
    assert_eq!(att["status"], "succeeded", "{att:#}");
    assert_eq!(att["amount_msat"], amount);
    assert_eq!(att["fee_msat"], fee_a + fee_b);
    assert!(att["failure"].is_null());
    let route = att["route"].as_array().unwrap();
    let hops: Vec<&str> = route
        .iter()
        .map(|h| h["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        hops,
        [net.hub_a.id(), net.hub_b.id(), net.bob.id()],
        "{att:#}"
    );
    // The middle hop is the public channel, found in the graph.
    assert_eq!(
        scid(&route[1]["short_channel_id"]),
        Some(net.p1_scid),
        "{att:#}"
    );
    assert_eq!(route[2]["amount_msat"], amount, "{att:#}");
    assert_eq!(route[1]["amount_msat"], amount + fee_b, "{att:#}");
    assert_eq!(route[0]["amount_msat"], amount + fee_a + fee_b, "{att:#}");

    // Each hub's forward, with its fee.
    let fa = net.hub_a.forward(&hash);
    assert_eq!(fa["status"], "settled", "{fa:#}");
    assert_eq!(fa["out_channel_id"], net.p1, "{fa:#}");
    assert_eq!(fa["out_msat"], amount + fee_b);
    assert_eq!(fa["fee_msat"], fee_a);
    let fb = net.hub_b.forward(&hash);
    assert_eq!(fb["status"], "settled", "{fb:#}");
    assert_eq!(fb["in_channel_id"], net.p1, "{fb:#}");
    assert_eq!(fb["out_channel_id"], net.b_bob, "{fb:#}");
    assert_eq!(fb["out_msat"], amount);
    assert_eq!(fb["fee_msat"], fee_b);

    // To the millisatoshi.
    assert_eq!(alice_local(net), before - amount - fee_a - fee_b);
    assert_eq!(net.bob.settled(&net.b_bob).0, bob_before + amount);
    let inv = net.bob.invoice_record(&hash);
    assert_eq!(inv["status"], "paid", "{inv:#}");
    assert_eq!(inv["received_msat"], amount);
}

/// The attempts of a payment, in the order they were made.
fn attempts(p: &Value) -> Vec<Value> {
    let mut all = p["attempts"]
        .as_array()
        .unwrap_or_else(|| panic!("no attempts: {p:#}"))
        .clone();
    all.sort_by_key(|a| a["created_at"].as_u64());
    all
}

/// The succeeded attempts deliver exactly the amount; none is left pending.
fn check_parts(p: &Value, amount: u64) -> Vec<Value> {
    let all = attempts(p);
    assert!(all.iter().all(|a| a["status"] != "pending"), "{p:#}");
    let ok: Vec<Value> = all
        .into_iter()
        .filter(|a| a["status"] == "succeeded")
        .collect();
    let delivered: u64 = ok.iter().map(|a| a["amount_msat"].as_u64().unwrap()).sum();
    assert_eq!(delivered, amount, "{p:#}");
    let fees: u64 = ok.iter().map(|a| a["fee_msat"].as_u64().unwrap()).sum();
    assert_eq!(p["fee_msat"], fees, "{p:#}");
    ok
}

/// (c) 1.5 × alice's largest channel: no single route can carry it, so it goes in parts over
/// both of her channels, and bob's invoice is paid once, in full.
fn a_payment_too_big_for_one_channel_is_split(net: &Net) {
    let amount = ALICE_CHANNEL_SAT * 1000 * 3 / 2;
    let (bolt11, hash) = net.bob.invoice(amount, "in parts");
    let before = alice_local(net);
    let each_before: Vec<u64> = net.alice_a.iter().map(|c| net.alice.settled(c).0).collect();
    let (bob_before, _) = net.bob.settled(&net.b_bob);
    let paid = net.alice.pay(json!({ "bolt11": bolt11 }));
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    let parts = check_parts(&paid, amount);
    assert!(parts.len() >= 2, "{paid:#}");
    // Both of alice's channels carried a part.
    for (c, was) in net.alice_a.iter().zip(each_before) {
        assert!(net.alice.settled(c).0 < was, "channel {c}: {paid:#}");
    }
    for a in &parts {
        assert_eq!(
            a["route"].as_array().unwrap().last().unwrap()["node_id"],
            net.bob.id()
        );
    }
    let fee = paid["fee_msat"].as_u64().unwrap();
    assert_eq!(alice_local(net), before - amount - fee);
    assert_eq!(net.bob.settled(&net.b_bob).0, bob_before + amount);
    let inv = net.bob.invoice_record(&hash);
    assert_eq!(inv["status"], "paid", "{inv:#}");
    assert_eq!(inv["received_msat"], amount, "{inv:#}");
    // Hub B forwarded every part to bob, each settled.
    let to_bob: Vec<Value> = net.hub_b.forwards(&hash);
    assert!(to_bob.len() >= 2, "{to_bob:#?}");
    let settled: u64 = to_bob
        .iter()
        .filter(|f| f["status"] == "settled")
        .map(|f| f["out_msat"].as_u64().unwrap())
        .sum();
    assert_eq!(settled, amount, "{to_bob:#?}");
    // The CLI shows the payment with its parts.
    let shown = net.alice.cli_json(&["payment", &hash]);
    assert_eq!(shown["status"], "succeeded");
    assert_eq!(
        shown["attempts"].as_array().unwrap().len(),
        paid["attempts"].as_array().unwrap().len()
    );
}

/// (d) alice pays bob more than hub B can forward to him, and more than either of her
/// channels holds: she sends it in parts at once, the first to arrive is held by bob, the rest
/// find no room on hub B's channel to him, and she stops trying after her 5 s timeout. Bob
/// fails the held part back 60 s after it came (`mpp_timeout`); no balance moved.
fn an_incomplete_set_is_failed_back_with_nothing_lost(net: &Net) {
    let alice_before = alice_local(net);
    let bob_channel = net.hub_b.settled(&net.b_bob);
    let hub_a_total = || net.hub_a.cli_json(&["balance"])["channels_local_msat"].as_u64();
    let a_before = hub_a_total();
    // The most that can reach bob, and the least alice can send (less each channel's
    // reserve, and a margin for commitment and routing fees).
    let to_bob = bob_channel.0 - BOB_CHANNEL_SAT * 10;
    let from_alice = alice_before - ALICE_CHANNEL_SAT * 2 * 10 - 8_000_000;
    assert!(
        ALICE_CHANNEL_SAT * 1000 < to_bob && to_bob < from_alice,
        "the fixture's capacities: {to_bob} msat to bob, {from_alice} msat from alice"
    );
    let amount = (to_bob + from_alice) / 2;
    let (bolt11, hash) = net.bob.invoice(amount, "never complete");
    let started = Instant::now();
    let p = net
        .alice
        .pay(json!({ "bolt11": bolt11, "wait": false, "timeout_secs": 5 }));
    assert_eq!(p["status"], "pending", "{p:#}");
    // Parts that arrived wait at bob for the rest.
    let mut held = false;
    wait("a part held by bob, or the payment over", || {
        held = net.bob.cli_json(&["channel", &net.b_bob])["pending_htlcs"]
            .as_array()
            .is_some_and(|h| !h.is_empty());
        held || net.alice.payment(&hash)["status"] != "pending"
    });
    assert!(held, "no part reached bob: {:#}", net.alice.payment(&hash));
    let p = net.alice.resolved(&hash, Duration::from_secs(120));
    assert_eq!(p["status"], "failed", "{p:#}");
    assert!(p["preimage"].is_null());
    let all = attempts(&p);
    assert!(all.iter().all(|a| a["status"] == "failed"), "{p:#}");
    assert!(
        all.iter().any(|a| a["failure"]
            .as_str()
            .is_some_and(|f| f.contains("mpp_timeout"))),
        "a part failed back by bob's timeout: {p:#}"
    );
    // Bob held the set for its timeout, not for the payer's.
    assert!(
        started.elapsed() >= Duration::from_secs(55),
        "{:?}",
        started.elapsed()
    );
    let inv = net.bob.invoice_record(&hash);
    assert_ne!(inv["status"], "paid", "{inv:#}");
    assert_eq!(alice_local(net), alice_before, "nothing moved");
    assert_eq!(net.hub_b.settled(&net.b_bob), bob_channel);
    assert_eq!(hub_a_total(), a_before);
    for f in net.hub_b.forwards(&hash) {
        assert_eq!(f["status"], "failed", "{f:#}");
    }
}

/// (b) Hub A first empties its side of P1 (it pays hub B); alice's next payment to bob tries
/// the cheapest route, through P1, fails at hub A, and succeeds on a retry around it through
/// hub C.
fn a_payment_retries_past_a_drained_channel(net: &Net) {
    let amount = 60_000_000;
    let (local, _) = net.hub_a.settled(&net.p1);
    // Leave hub A less than `amount` on its side of P1 (its reserve is 1 %).
    let drain = local - HUB_CHANNEL_SAT * 10 - 30_000_000;
    let (bolt11, _) = net.hub_b.invoice(drain, "drain P1");
    let paid = net.hub_a.pay(json!({ "bolt11": bolt11 }));
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    let (local, _) = net.hub_a.settled(&net.p1);
    assert!(
        local < amount + HUB_CHANNEL_SAT * 10,
        "hub A still holds {local} msat on P1: {paid:#}"
    );

    let (bolt11, hash) = net.bob.invoice(amount, "around the drained channel");
    let before = alice_local(net);
    let (bob_before, _) = net.bob.settled(&net.b_bob);
    let paid = net.alice.pay(json!({ "bolt11": bolt11 }));
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    let all = attempts(&paid);
    assert!(all.len() >= 2, "{paid:#}");
    let first = &all[0];
    assert_eq!(first["status"], "failed", "{paid:#}");
    let through_p1 = |a: &Value| {
        a["route"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| scid(&h["short_channel_id"]) == Some(net.p1_scid))
    };
    assert!(through_p1(first), "the cheapest route first: {paid:#}");
    let why = first["failure"].as_str().unwrap_or_default();
    assert!(why.contains("temporary_channel_failure"), "{paid:#}");
    assert!(
        why.contains(&net.hub_a.id()) || why.contains(&net.p1_scid.to_string()),
        "the failing hop is named: {why}"
    );
    let ok = check_parts(&paid, amount);
    assert!(
        ok.iter().any(|a| a["route"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["node_id"] == net.hub_c.id())),
        "the retry goes round through hub C: {paid:#}"
    );
    let fee = paid["fee_msat"].as_u64().unwrap();
    assert_eq!(alice_local(net), before - amount - fee);
    assert_eq!(net.bob.settled(&net.b_bob).0, bob_before + amount);
    assert_eq!(net.bob.invoice_record(&hash)["received_msat"], amount);
}

/// (e) Keysend across the hubs both ways: alice → hub B (which accepts keysend from its
/// `chanhub.toml`) and bob → hub A (from `--accept-keysend`); bob does not accept it, so hub
/// B's keysend to him fails and moves nothing. A payment names a bolt11 or a node id, never
/// both, never neither.
fn keysend_both_ways_and_refused_when_off(net: &Net) {
    let amount = 5_000_000;
    let before = alice_local(net);
    let p = net
        .alice
        .pay(json!({ "node_id": net.hub_b.id(), "amount_msat": amount }));
    assert_eq!(p["status"], "succeeded", "{p:#}");
    assert!(p["bolt11"].is_null(), "{p:#}");
    assert_eq!(p["payee"], net.hub_b.id());
    assert_eq!(p["amount_msat"], amount);
    let ok = check_parts(&p, amount);
    for a in &ok {
        let route = a["route"].as_array().unwrap();
        assert_eq!(route[0]["node_id"], net.hub_a.id(), "{p:#}");
        assert_eq!(route.last().unwrap()["node_id"], net.hub_b.id(), "{p:#}");
    }
    assert_eq!(
        alice_local(net),
        before - amount - p["fee_msat"].as_u64().unwrap()
    );

    // The other way, through the CLI.
    let (bob_before, _) = net.bob.settled(&net.b_bob);
    let amount = 2_000_000;
    let p = net.bob.cli_json(&[
        "pay",
        "--node-id",
        &net.hub_a.id(),
        "--amount-msat",
        &amount.to_string(),
    ]);
    assert_eq!(p["status"], "succeeded", "{p:#}");
    let hash = p["payment_hash"].as_str().unwrap().to_string();
    let ok = check_parts(&p, amount);
    for a in &ok {
        let route = a["route"].as_array().unwrap();
        assert_eq!(route[0]["node_id"], net.hub_b.id(), "{p:#}");
        assert_eq!(route.last().unwrap()["node_id"], net.hub_a.id(), "{p:#}");
    }
    let fee = p["fee_msat"].as_u64().unwrap();
    assert_eq!(net.bob.settled(&net.b_bob).0, bob_before - amount - fee);
    assert_eq!(net.bob.cli_json(&["payment", &hash])["status"], "succeeded");

    // bob refuses keysend: nothing moves.
    let (b_before, bob_before) = net.hub_b.settled(&net.b_bob);
    let p = net
        .hub_b
        .pay(json!({ "node_id": net.bob.id(), "amount_msat": 1_000_000 }));
    assert_eq!(p["status"], "failed", "{p:#}");
    assert!(
        attempts(&p).iter().all(|a| a["status"] == "failed"),
        "{p:#}"
    );
    let why = p["failure"].as_str().unwrap_or_default();
    assert!(
        why.contains("incorrect_or_unknown_payment_details"),
        "{p:#}"
    );
    assert_eq!(net.hub_b.settled(&net.b_bob), (b_before, bob_before));

    // Exactly one of bolt11 and node_id.
    let (bolt11, _) = net.bob.invoice(1_000, "either");
    for body in [
        json!({ "bolt11": bolt11, "node_id": net.bob.id(), "amount_msat": 1_000 }),
        json!({ "amount_msat": 1_000 }),
    ] {
        let err = net.alice.api("POST", "/v1/payments", Some(body.clone()));
        let err = err.expect_err(&format!("{body} was taken"));
        assert!(err.contains("invalid_request"), "{body}: {err}");
    }
}

#[test]
fn payments_cross_two_hubs_on_routes_found_from_gossip() {
    let net = network();
    alice_pays_bob_across_two_hubs(&net);
    // Before any failure taught alice's scorer to avoid a channel: the cheapest route is
    // tried first.
    a_payment_retries_past_a_drained_channel(&net);
    an_incomplete_set_is_failed_back_with_nothing_lost(&net);
    a_payment_too_big_for_one_channel_is_split(&net);
    keysend_both_ways_and_refused_when_off(&net);
}
