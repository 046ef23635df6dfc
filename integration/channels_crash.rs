//! Crash safety with real processes: two `chanhub node`s with a channel, HTLCs added and
//! settled through the API while one node or the other is killed with SIGKILL at random
//! moments; each restart reestablishes and the channel carries on. Afterwards both sides agree
//! on the balances, the value is conserved, every commitment number was signed once, and the
//! channel closes cooperatively through the CLI.
//!
//! Half the restarts also arm the store's crash drill (`CHANHUB_DEV_ABORT_AT_WRITE`): the node
//! aborts at a random one of its next channel writes, in the middle of the transaction,
//! rather than wherever the SIGKILL lands.
//!
//! `CHANHUB_CRASHES` sets the number of kills (default 50, about 45 s in a debug build).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256, Hash};
use chanhub::api::client::ApiClient;
use common::*;
use rand::Rng;
use serde_json::{json, Value};

const CAPACITY_SAT: u64 = 1_000_000;
const PUSH_MSAT: u64 = 300_000_000;

fn crashes_wanted() -> usize {
    std::env::var("CHANHUB_CRASHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

/// One of the two nodes, and how to bring it back.
struct Side {
    node: NodeProc,
    dir: PathBuf,
    port: u16,
    /// Started with the crash drill armed, not yet fired.
    armed: bool,
}

impl Side {
    /// Kills the node (or collects it, if the drill stopped it) and starts it again, with the
    /// drill armed at its `drill`th channel write if given. Returns how many times the drill
    /// stopped it (it may also fire while the node starts: then it starts again plainly).
    fn restart(&mut self, chain: &NodeProc, drill: Option<u32>, logs: &mut String) -> usize {
        let mut fired = usize::from(self.node.exited());
        *logs += &self.node.log_text();
        let env: Vec<_> = drill
            .map(|n| ("CHANHUB_DEV_ABORT_AT_WRITE", n.to_string()))
            .into_iter()
            .collect();
        // The old process must be gone before the new one takes its port.
        self.node.kill();
        self.armed = drill.is_some();
        self.node = match try_start_follower_with_env(&self.dir, chain, self.port, &env) {
            Ok(n) => n,
            Err(log) => {
                *logs += &log;
                fired += 1;
                self.armed = false;
                start_follower(&self.dir, chain, self.port)
            }
        };
        fired
    }
}

fn configure(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("chanhub.toml"),
        "dev_api = true\ndev_manual_htlcs = true\nsync_interval_ms = 200\n",
    )
    .unwrap();
}

/// The test's view of what it asked for.
#[derive(Default)]
struct Ledger {
    preimages: HashMap<String, [u8; 32]>,
    /// Fulfills acknowledged (durable), in msat, by the direction the HTLC went.
    sure_a_to_b: u64,
    sure_b_to_a: u64,
    /// Fulfills whose answer was lost in a crash: they may or may not have happened.
    maybe_a_to_b: u64,
    maybe_b_to_a: u64,
    next: u64,
}

struct Driver {
    rt: tokio::runtime::Runtime,
    id: String,
    height: u32,
}

impl Driver {
    /// Adds an HTLC from `from` (errors are fine: the node may be down or reestablishing).
    fn add(&self, from: &ApiClient, ledger: &mut Ledger, amount_msat: u64) {
        ledger.next += 1;
        let preimage = sha256::Hash::hash(&ledger.next.to_be_bytes()).to_byte_array();
        let hash = hex::encode(sha256::Hash::hash(&preimage).to_byte_array());
        ledger.preimages.insert(hash.clone(), preimage);
        let body = json!({"amount_msat": amount_msat, "payment_hash": hash,
                          "cltv_expiry": self.height + 200});
        let path = format!("/v1/dev/channels/{}/add_htlc", self.id);
        let _ = self.rt.block_on(from.post(&path, body));
    }

    /// Settles every HTLC `at` received: mostly fulfilled, some failed.
    fn settle_received(&self, at: &ApiClient, at_is_a: bool, ledger: &mut Ledger) {
        let Ok(c) = self
            .rt
            .block_on(at.get(&format!("/v1/channels/{}", self.id)))
        else {
            return;
        };
        let mut rng = rand::thread_rng();
        for h in c["pending_htlcs"].as_array().unwrap() {
            if h["direction"] != "received" {
                continue;
            }
            let htlc_id = h["id"].as_u64().unwrap();
            let amount = h["amount_msat"].as_u64().unwrap();
            let preimage = ledger.preimages[h["payment_hash"].as_str().unwrap()];
            let fulfill = rng.gen_bool(0.7);
            let (path, body) = if fulfill {
                (
                    "fulfill",
                    json!({"htlc_id": htlc_id, "preimage": hex::encode(preimage)}),
                )
            } else {
                ("fail", json!({"htlc_id": htlc_id}))
            };
            let r = self
                .rt
                .block_on(at.post(&format!("/v1/dev/channels/{}/{path}", self.id), body));
            if !fulfill {
                continue;
            }
            // Received at A: it went B → A.
            let (sure, maybe) = if at_is_a {
                (&mut ledger.sure_b_to_a, &mut ledger.maybe_b_to_a)
            } else {
                (&mut ledger.sure_a_to_b, &mut ledger.maybe_a_to_b)
            };
            match r {
                Ok(_) => *sure += amount,
                // Refused as a duplicate (already settled before a crash) or lost: unknown.
                Err(_) => *maybe += amount,
            }
        }
    }

    fn channel(&self, n: &ApiClient) -> Option<Value> {
        self.rt
            .block_on(n.get(&format!("/v1/channels/{}", self.id)))
            .ok()
    }
}

fn signed_numbers(dir: &Path) -> Vec<u64> {
    let db = rusqlite::Connection::open(dir.join("chanhub.sqlite")).unwrap();
    let mut stmt = db
        .prepare("SELECT commitment_number FROM channel_signatures ORDER BY commitment_number")
        .unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, i64>(0)).unwrap();
    rows.map(|n| n.unwrap() as u64).collect()
}

#[test]
fn channel_survives_sigkill_of_either_node_during_updates() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    configure(&dir_a);
    configure(&dir_b);
    // The chain lives in a third node that is never killed: the embedded chain keeps recent
    // blocks in memory, and a SIGKILL of its host would roll the shared chain back.
    let chain = NodeProc::start(&tmp.path().join("chain"), &[]);
    let (a_port, b_port) = (free_port(), free_port());
    let a = start_follower(&dir_a, &chain, a_port);
    let b = start_follower(&dir_b, &chain, b_port);

    let addr = a.new_address();
    a.cli_json(&["chain", "mine", "1", "--address", &addr]);
    a.cli_json(&["chain", "mine", "100", "--address", &burn_address()]);
    let b_uri = format!("{}@127.0.0.1:{b_port}", b.json["node_id"].as_str().unwrap());
    let opened = a.cli_json(&[
        "open",
        &b_uri,
        &CAPACITY_SAT.to_string(),
        "--push-msat",
        &PUSH_MSAT.to_string(),
    ]);
    let id = opened["channel_id"].as_str().unwrap().to_string();
    a.cli_json(&["chain", "mine", "3", "--address", &burn_address()]);
    for n in [&a, &b] {
        wait("active", || {
            n.cli_json(&["channel", &id])["state"] == "active"
        });
    }
    let height = a.cli_json(&["info"])["block_height"].as_u64().unwrap() as u32;
    let driver = Driver {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        id: id.clone(),
        height,
    };
    let mut ledger = Ledger::default();
    let mut rng = rand::thread_rng();
    let mut logs = String::new();

    let crashes = crashes_wanted();
    let mut drilled = 0;
    let side = |node, dir: &Path, port| Side {
        node,
        dir: dir.to_path_buf(),
        port,
        armed: false,
    };
    let (mut sa, mut sb) = (side(a, &dir_a, a_port), side(b, &dir_b, b_port));
    for round in 0..crashes {
        let (ca, cb) = (client(&sa.node), client(&sb.node));
        // A burst of updates, then the kill lands while they are still in flight.
        for _ in 0..rng.gen_range(1..=6) {
            let from_a = rng.gen_bool(0.5);
            let from = if from_a { &ca } else { &cb };
            driver.add(from, &mut ledger, rng.gen_range(1_000..=2_000_000));
            if rng.gen_bool(0.3) {
                driver.settle_received(&ca, true, &mut ledger);
                driver.settle_received(&cb, false, &mut ledger);
            }
            if rng.gen_bool(0.1) {
                let body = json!({"feerate_per_kw": rng.gen_range(253..=2_500)});
                let path = format!("/v1/dev/channels/{id}/update_fee");
                let _ = driver.rt.block_on(ca.post(&path, body));
            }
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..40)));
        // Sometimes both go down at once; a node the drill stopped is restarted too. Half the
        // restarts arm the drill at one of the node's next 40 channel writes.
        let (kill_a, kill_b) = match rng.gen_range(0..5) {
            0 | 1 => (true, false),
            2 | 3 => (false, true),
            _ => (true, true),
        };
        for (kill, s) in [(kill_a, &mut sa), (kill_b, &mut sb)] {
            if kill || s.node.exited() {
                let drill = rng.gen_bool(0.5).then(|| rng.gen_range(1..=40));
                drilled += s.restart(&chain, drill, &mut logs);
            }
        }
        wait(&format!("reestablished after crash {round}"), || {
            // The drill may fire while the channel reestablishes.
            for s in [&mut sa, &mut sb] {
                if s.node.exited() {
                    drilled += s.restart(&chain, None, &mut logs);
                }
            }
            [&sa, &sb].iter().all(|s| {
                driver
                    .channel(&client(&s.node))
                    .is_some_and(|v| v["peer_connected"] == true && v["state"] == "active")
            })
        });
    }
    // A drill still armed would fire in what follows: restart those nodes plainly.
    for s in [&mut sa, &mut sb] {
        if s.armed || s.node.exited() {
            drilled += s.restart(&chain, None, &mut logs);
        }
    }
    let (a, b) = (sa.node, sb.node);
    wait("reestablished", || {
        [&a, &b].iter().all(|n| {
            driver
                .channel(&client(n))
                .is_some_and(|v| v["peer_connected"] == true && v["state"] == "active")
        })
    });

    // Settle everything still pending, then compare both views.
    let (ca, cb) = (client(&a), client(&b));
    wait("all HTLCs settled", || {
        driver.settle_received(&ca, true, &mut ledger);
        driver.settle_received(&cb, false, &mut ledger);
        let (Some(va), Some(vb)) = (driver.channel(&ca), driver.channel(&cb)) else {
            return false;
        };
        va["pending_htlcs"].as_array().unwrap().is_empty()
            && vb["pending_htlcs"].as_array().unwrap().is_empty()
            && va["local_msat"] == vb["remote_msat"]
            && va["remote_msat"] == vb["local_msat"]
    });
    let va = driver.channel(&ca).unwrap();
    let a_local = va["local_msat"].as_u64().unwrap();
    let b_local = va["remote_msat"].as_u64().unwrap();
    assert_eq!(a_local + b_local, CAPACITY_SAT * 1000, "value conserved");
    let net_low = PUSH_MSAT + ledger.sure_a_to_b - ledger.sure_b_to_a - ledger.maybe_b_to_a;
    let net_high = PUSH_MSAT + ledger.sure_a_to_b + ledger.maybe_a_to_b - ledger.sure_b_to_a;
    assert!(
        (net_low..=net_high).contains(&b_local),
        "B holds {b_local} msat, expected between {net_low} and {net_high}"
    );
    assert!(ledger.sure_a_to_b + ledger.sure_b_to_a > 0, "value moved");
    eprintln!("{drilled} of the crashes were drill aborts at a channel write");
    assert!(crashes < 10 || drilled > 0, "the drill fired");
    eprintln!(
        "{crashes} crashes; fulfilled A→B {} msat, B→A {} msat (uncertain {} / {})",
        ledger.sure_a_to_b, ledger.sure_b_to_a, ledger.maybe_a_to_b, ledger.maybe_b_to_a
    );

    // Close through the CLI; the channel ends closed on both sides.
    let closing = a.cli_json(&["close", &id]);
    assert_eq!(closing["channel_id"], id.as_str());
    wait("closing", || {
        b.cli_json(&["channel", &id])["state"] == "closing"
            && a.cli_json(&["channel", &id])["state"] == "closing"
    });
    a.cli_json(&["chain", "mine", "1", "--address", &burn_address()]);
    for n in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(60);
        while n.cli_json(&["channel", &id])["state"] != "closed" {
            assert!(Instant::now() < deadline, "not closed:\n{}", n.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let listed = a.cli_json(&["channels"]);
    assert_eq!(listed["channels"][0]["state"], "closed");

    logs += &a.log_text();
    logs += &b.log_text();
    assert!(
        !logs.contains("different signature"),
        "a second signature was attempted"
    );
    assert!(!logs.contains("panicked"), "a node panicked");
    b.stop();
    a.stop();
    chain.stop();
    // Each node signed each of the peer's commitment numbers exactly once, without gaps.
    for dir in [&dir_a, &dir_b] {
        let numbers = signed_numbers(dir);
        let want: Vec<u64> = (0..numbers.len() as u64).collect();
        assert_eq!(numbers, want);
        assert!(numbers.len() > crashes);
    }
}
