//! Payments through a hub that is killed: alice, hub and bob are `chanhub node` processes on
//! a chain served by a fourth that is never killed. Invoices and the first payment go through
//! the CLI; then payments are started both ways without waiting, and the hub is SIGKILLed
//! while they are in flight, again and again. At the end every payment has ended (`succeeded`
//! or `failed`, none stuck); each succeeded payment paid its invoice and each failed one did
//! not; and the balances moved by exactly what succeeded plus the hub's fees.
//!
//! Half the restarts arm the store's crash drill (`CHANHUB_DEV_ABORT_AT_WRITE`): the hub aborts
//! at a random one of its next channel writes, mid-transaction.
//!
//! `CHANHUB_PAYMENT_CRASHES` sets the number of kills (default 8).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use rand::Rng;
use serde_json::{json, Value};

const CAPACITY_SAT: u64 = 1_000_000;

/// The hub and its users: a plain config (the router settles HTLCs itself).
fn configure(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("chanhub.toml"), "sync_interval_ms = 200\n").unwrap();
}

fn crashes_wanted() -> usize {
    std::env::var("CHANHUB_PAYMENT_CRASHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

fn hub_fee(amount_msat: u64) -> u64 {
    1_000 + amount_msat * 100 / 1_000_000
}

fn uri(n: &NodeProc, port: u16) -> String {
    format!("{}@127.0.0.1:{port}", n.json["node_id"].as_str().unwrap())
}

/// Opens a funded channel from `a` to `b` and waits until both call it active.
fn open(a: &NodeProc, b: &NodeProc, b_port: u16) -> String {
    let opened = a.cli_json(&["open", &uri(b, b_port), &CAPACITY_SAT.to_string()]);
    let id = opened["channel_id"].as_str().unwrap().to_string();
    a.cli_json(&["chain", "mine", "3", "--address", &burn_address()]);
    for n in [a, b] {
        wait("active", || {
            n.cli_json(&["channel", &id])["state"] == "active"
        });
    }
    id
}

/// (local, remote) of a channel once nothing is in flight on it.
fn settled(n: &NodeProc, id: &str) -> (u64, u64) {
    let mut out = (0, 0);
    wait("no HTLC in flight", || {
        let c = n.cli_json(&["channel", id]);
        out = (
            c["local_msat"].as_u64().unwrap(),
            c["remote_msat"].as_u64().unwrap(),
        );
        c["pending_htlcs"].as_array().is_some_and(|a| a.is_empty()) && c["peer_connected"] == true
    });
    out
}

#[test]
fn payments_survive_sigkill_of_the_hub() {
    let tmp = tempfile::tempdir().unwrap();
    let chain = NodeProc::start(&tmp.path().join("chain"), &[]);
    let ports = (free_port(), free_port(), free_port());
    let (dir_a, dir_h, dir_b) = (
        tmp.path().join("alice"),
        tmp.path().join("hub"),
        tmp.path().join("bob"),
    );
    for dir in [&dir_a, &dir_h, &dir_b] {
        configure(dir);
    }
    let alice = start_follower(&dir_a, &chain, ports.0);
    let mut hub = start_follower(&dir_h, &chain, ports.1);
    let bob = start_follower(&dir_b, &chain, ports.2);
    for n in [&alice, &hub] {
        let addr = n.new_address();
        n.cli_json(&["chain", "mine", "1", "--address", &addr]);
    }
    alice.cli_json(&["chain", "mine", "100", "--address", &burn_address()]);
    let ah = open(&alice, &hub, ports.1);
    let hb = open(&hub, &bob, ports.2);

    // The first payment through the CLI: bob's invoice, alice pays it.
    let mut inv = Value::Null;
    wait("bob's invoices carry a hint through the hub", || {
        inv = bob.cli_json(&["invoice", "--amount-msat", "300000000", "first"]);
        let parsed = chanhub::invoice::Invoice::parse(
            inv["bolt11"].as_str().unwrap(),
            bitcoin::Network::Regtest,
        )
        .unwrap();
        !parsed.route_hints().is_empty()
    });
    let paid = alice.cli_json(&["pay", inv["bolt11"].as_str().unwrap()]);
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    let shown = bob.cli_json(&["invoices"]);
    assert!(
        shown["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["payment_hash"] == paid["payment_hash"] && i["status"] == "paid"),
        "{shown:#}"
    );

    let before = (settled(&alice, &ah).0, settled(&bob, &hb).0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (ca, cb) = (client(&alice), client(&bob));
    let mut rng = rand::thread_rng();
    let mut started: Vec<(bool, String, u64)> = Vec::new();
    let mut logs = String::new();
    let (mut drilled, mut armed) = (0, false);
    for round in 0..crashes_wanted() {
        for _ in 0..rng.gen_range(2..=8) {
            let to_bob = rng.gen_bool(0.5);
            let (payer, payee) = if to_bob { (&ca, &cb) } else { (&cb, &ca) };
            let amount = rng.gen_range(1_000..=2_000_000u64);
            let body = json!({ "amount_msat": amount, "description": format!("round {round}") });
            let inv = rt.block_on(payee.post("/v1/invoices", body)).unwrap();
            let pay = json!({ "bolt11": inv["bolt11"], "wait": false });
            // The hub may be down or reestablishing: a refused attempt is fine, it paid
            // nothing (checked below with its invoice).
            let _ = rt.block_on(payer.post("/v1/payments", pay));
            started.push((
                to_bob,
                inv["payment_hash"].as_str().unwrap().to_string(),
                amount,
            ));
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..60)));
        logs += &hub.log_text();
        drilled += usize::from(hub.exited());
        hub.kill();
        // Half the restarts arm the store's crash drill at one of the hub's next 40 channel
        // writes: the hub then aborts in the middle of that transaction.
        let drill: Vec<_> = rng
            .gen_bool(0.5)
            .then(|| {
                (
                    "CHANHUB_DEV_ABORT_AT_WRITE",
                    rng.gen_range(1..=40u32).to_string(),
                )
            })
            .into_iter()
            .collect();
        armed = !drill.is_empty();
        hub = match try_start_follower_with_env(&dir_h, &chain, ports.1, &drill) {
            Ok(n) => n,
            Err(log) => {
                // The drill fired while the hub started.
                logs += &log;
                drilled += 1;
                armed = false;
                start_follower(&dir_h, &chain, ports.1)
            }
        };
        wait(&format!("reestablished after crash {round}"), || {
            if hub.exited() {
                // The drill fired while the channels reestablished.
                logs += &hub.log_text();
                drilled += 1;
                armed = false;
                hub = start_follower(&dir_h, &chain, ports.1);
            }
            let a = alice.cli_json(&["channel", &ah]);
            let b = bob.cli_json(&["channel", &hb]);
            a["peer_connected"] == true && b["peer_connected"] == true
        });
    }
    // A drill still armed would fire while the payments end: restart the hub plainly.
    if armed || hub.exited() {
        logs += &hub.log_text();
        drilled += usize::from(hub.exited());
        hub.kill();
        hub = start_follower(&dir_h, &chain, ports.1);
        wait("reestablished", || {
            let a = alice.cli_json(&["channel", &ah]);
            let b = bob.cli_json(&["channel", &hb]);
            a["peer_connected"] == true && b["peer_connected"] == true
        });
    }
    eprintln!("{drilled} of the hub's crashes were drill aborts at a channel write");

    // Every payment ends; its invoice agrees with its outcome.
    let mut moved_to_bob: i128 = 0;
    // Fees paid to the hub by alice (for payments to bob) and by bob.
    let (mut fees_alice, mut fees_bob) = (0i128, 0i128);
    let (mut ok, mut failed, mut never) = (0, 0, 0);
    for (to_bob, hash, amount) in &started {
        let (payer, payee) = if *to_bob {
            (&alice, &bob)
        } else {
            (&bob, &alice)
        };
        let mut p = Value::Null;
        let path = format!("/v1/payments/{hash}");
        let c = client(payer);
        wait("payment ends", || match rt.block_on(c.get(&path)) {
            Ok(v) => {
                p = v;
                p["status"] != "pending"
            }
            // Never started (refused at once): nothing to wait for.
            Err(_) => {
                p = Value::Null;
                true
            }
        });
        let inv = payee.cli_json(&["invoices"]);
        let status = inv["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["payment_hash"] == hash.as_str())
            .unwrap()["status"]
            .clone();
        match p["status"].as_str() {
            Some("succeeded") => {
                assert_eq!(status, "paid", "{p:#}");
                ok += 1;
                let (a, fee) = (i128::from(*amount), i128::from(hub_fee(*amount)));
                if *to_bob {
                    moved_to_bob += a;
                    fees_alice += fee;
                } else {
                    moved_to_bob -= a;
                    fees_bob += fee;
                }
            }
            Some("failed") => {
                assert_eq!(status, "open", "failed yet paid: {p:#}\n{logs}");
                failed += 1;
            }
            _ => {
                assert_eq!(status, "open");
                never += 1;
            }
        }
    }
    eprintln!(
        "{} payments: {ok} succeeded, {failed} failed, {never} refused at once",
        started.len()
    );
    assert!(ok > 0, "some payments went through");

    let after = (settled(&alice, &ah), settled(&bob, &hb));
    let hub_side = (settled(&hub, &ah), settled(&hub, &hb));
    assert_eq!(
        after.0,
        (hub_side.0 .1, hub_side.0 .0),
        "alice and hub agree"
    );
    assert_eq!(after.1, (hub_side.1 .1, hub_side.1 .0), "bob and hub agree");
    let bob_gain = i128::from(after.1 .0) - i128::from(before.1);
    let alice_loss = i128::from(before.0) - i128::from(after.0 .0);
    assert_eq!(alice_loss, moved_to_bob + fees_alice);
    assert_eq!(bob_gain, moved_to_bob - fees_bob);
    let fees = u64::try_from(fees_alice + fees_bob).unwrap();
    let forwards = hub.cli_json(&["forwards"]);
    assert_eq!(
        forwards["fee_msat_earned"].as_u64().unwrap(),
        fees + hub_fee(300_000_000)
    );

    // The hub's event log, written in the same transactions as the forwards, agrees with them
    // across every kill: one htlc_forwarded per resolved forward, none lost, none invented.
    let resolved: Vec<(String, String)> = forwards["forwards"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] != "pending")
        .map(|f| {
            let status = f["status"].as_str().unwrap().to_string();
            (f["payment_hash"].as_str().unwrap().to_string(), status)
        })
        .collect();
    let logged = rt.block_on(logged_forwards(&hub, resolved.len()));
    let mut logged_keys: Vec<(String, String)> = logged
        .iter()
        .map(|e| {
            let status = e["status"].as_str().unwrap().to_string();
            (e["payment_hash"].as_str().unwrap().to_string(), status)
        })
        .collect();
    let mut want = resolved.clone();
    logged_keys.sort();
    want.sort();
    assert_eq!(logged_keys, want, "{logs}");
    let ids: Vec<u64> = logged.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in id order: {ids:?}");
    drop(alice);
    drop(bob);
    drop(hub);
    drop(chain);
}

/// The hub's `htlc_forwarded` events from the start of its log: `want` of them, then nothing
/// more for a moment.
async fn logged_forwards(hub: &NodeProc, want: usize) -> Vec<Value> {
    use http_body_util::BodyExt;
    let c = client(hub);
    let mut body = c
        .open_stream(
            "/v1/events?types=htlc_forwarded",
            &[("last-event-id", "0".to_string())],
        )
        .await
        .expect("the event stream opens");
    let mut text = String::new();
    let mut events = Vec::new();
    loop {
        let wait = if events.len() < want {
            Duration::from_secs(30)
        } else {
            Duration::from_millis(500)
        };
        let frame = match tokio::time::timeout(wait, body.frame()).await {
            Ok(Some(Ok(f))) => f,
            Ok(_) => panic!("the stream ended after {} events", events.len()),
            Err(_) if events.len() >= want => return events,
            Err(_) => panic!("only {} of {want} events: {text}", events.len()),
        };
        if let Ok(chunk) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                events.push(serde_json::from_str(data).unwrap());
            }
        }
    }
}
