//! Measurement 2: a hub with K channels from P peers: memory per channel, restart time, and
//! API latency idle and under a payment load.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};

use crate::hub::{self, Chain};
use crate::support::{address, mine, open, start_node, status_kib, wait_active, wait_synced, Node};

/// Each peer opens this many channels between blocks, so no unconfirmed chain grows long.
const OPENS_PER_BLOCK: usize = 25;
const PEER_CAPACITY_SAT: u64 = 100_000;
const PAYEE_CAPACITY_SAT: u64 = 16_000_000;
const AMOUNT_MSAT: u64 = 10_000;
/// Payments in flight per peer during the load.
const IN_FLIGHT_PER_PEER: usize = 2;

pub struct Params {
    pub channels: usize,
    pub peers: usize,
    pub load_secs: u64,
}

pub async fn run(root: &Path, chain: &Chain, p: &Params) -> Value {
    let hub = start_node(root, "hub", &chain.rpc, &chain.cookie);
    let payee = start_node(root, "payee", &chain.rpc, &chain.cookie);
    let peers: Vec<Node> = (0..p.peers)
        .map(|i| start_node(root, &format!("peer{i}"), &chain.rpc, &chain.cookie))
        .collect();
    // Peer i opens share(i) channels, each funded by a coinbase of its own.
    let share = |i: usize| p.channels / p.peers + usize::from(i < p.channels % p.peers);
    for (i, peer) in peers.iter().enumerate() {
        mine(&hub, share(i) as u32, &address(peer).await).await;
    }
    let hub_addr = address(&hub).await;
    mine(&hub, 101, &hub_addr).await;
    for n in peers.iter().chain([&hub, &payee]) {
        wait_synced(n).await;
    }
    let to_payee = open(&hub, &payee, PAYEE_CAPACITY_SAT).await;
    mine(&hub, 3, &hub_addr).await;
    wait_active(&hub, &to_payee).await;
    for n in peers.iter().chain([&payee]) {
        hub::remember(&hub, n).await;
    }
    let hub_pid = hub.proc.child.id();
    let rss_before = status_kib(hub_pid, "VmRSS");

    eprintln!(
        "scale: opening {} channels from {} peers",
        p.channels, p.peers
    );
    let t = Instant::now();
    let most = share(0);
    for first in (0..most).step_by(OPENS_PER_BLOCK) {
        join_all(peers.iter().enumerate().map(|(i, peer)| {
            let hub = &hub;
            async move {
                for _ in first..(first + OPENS_PER_BLOCK).min(share(i)) {
                    open(peer, hub, PEER_CAPACITY_SAT).await;
                }
            }
        }))
        .await;
        mine(&hub, 1, &hub_addr).await;
    }
    let open_secs = t.elapsed().as_secs_f64();
    mine(&hub, 3, &hub_addr).await;
    let all = p.channels + 1;
    hub::wait_all_active(&hub, all, t).await;
    let active_secs = t.elapsed().as_secs_f64();
    let rss_after = status_kib(hub_pid, "VmRSS");
    eprintln!("scale: {all} channels active after {active_secs:.1} s; idle latencies");

    let info_idle = hub::latencies(&hub.api, "/v1/info", 200, Duration::from_secs(20)).await;
    let list_idle = hub::latencies(&hub.api, "/v1/channels", 100, Duration::from_secs(30)).await;
    wait_for_route_hints(&payee).await;
    eprintln!("scale: {} s of payments", p.load_secs);
    let (load, info_busy, list_busy) = under_load(&hub, &peers, &payee, p.load_secs).await;

    let mut hub = hub;
    hub::stop(&mut hub);
    let r = hub::restart(root, "hub", chain, hub).await;
    let restart_active = hub::wait_all_active(&r.node, all, r.spawned).await;
    let rss_restarted = status_kib(r.node.proc.child.id(), "VmRSS");
    let ms = |l: &[f64]| {
        let (p50, p99) = hub::p50_p99(l);
        json!({"p50_ms": p50, "p99_ms": p99, "calls": l.len()})
    };
    json!({
        "channels": p.channels,
        "peers": p.peers,
        "open_secs": open_secs,
        "all_active_secs": active_secs,
        "hub_rss_before_mib": rss_before / 1024.0,
        "hub_rss_after_mib": rss_after / 1024.0,
        "hub_rss_after_restart_mib": rss_restarted / 1024.0,
        "kib_per_channel": (rss_after - rss_before) / p.channels as f64,
        "restart_api_secs": r.api_secs,
        "restart_all_active_secs": restart_active,
        "info_idle": ms(&info_idle),
        "channels_idle": ms(&list_idle),
        "info_under_load": ms(&info_busy),
        "channels_under_load": ms(&list_busy),
        "load": load,
    })
}

/// The payee's invoices carry a route hint once the hub's `channel_update` reached it.
async fn wait_for_route_hints(payee: &Node) {
    for _ in 0..2400 {
        let inv = payee
            .api
            .post(
                "/v1/invoices",
                json!({"amount_msat": 1000, "description": "hint"}),
            )
            .await
            .expect("an invoice");
        if inv["route_hints"].as_array().is_some_and(|h| !h.is_empty()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the payee's invoices never had a route hint");
}

/// Every peer pays the payee through the hub, a few payments in flight, for `secs`, while
/// `GET /v1/info` and `GET /v1/channels` are timed on the hub. Returns the load's figures
/// and the two latency lists (ms, sorted).
async fn under_load(
    hub: &Node,
    peers: &[Node],
    payee: &Node,
    secs: u64,
) -> (Value, Vec<f64>, Vec<f64>) {
    let stop = AtomicBool::new(false);
    let (ok, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let payers = peers
        .iter()
        .flat_map(|peer| (0..IN_FLIGHT_PER_PEER).map(move |_| peer));
    let payers = join_all(payers.map(|peer| async {
        while Instant::now() < deadline {
            let inv = payee
                .api
                .post(
                    "/v1/invoices",
                    json!({"amount_msat": AMOUNT_MSAT, "description": "load"}),
                )
                .await
                .expect("an invoice");
            let r = peer
                .api
                .post(
                    "/v1/payments",
                    json!({"bolt11": inv["bolt11"], "wait": true}),
                )
                .await;
            match r {
                Ok(p) if p["status"] == "succeeded" => ok.fetch_add(1, Ordering::Relaxed),
                other => {
                    if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("scale: a payment failed: {other:?}");
                    }
                    0
                }
            };
        }
    }));
    let probe = async {
        let (mut info, mut list) = (Vec::new(), Vec::new());
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            let t = Instant::now();
            hub.api.get("/v1/info").await.expect("info answers");
            info.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            hub.api.get("/v1/channels").await.expect("the list answers");
            list.push(t.elapsed().as_secs_f64() * 1000.0);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (info, list)
    };
    let (_, (mut info, mut list)) = futures::join!(
        async {
            payers.await;
            stop.store(true, Ordering::Relaxed);
        },
        probe
    );
    let elapsed = start.elapsed().as_secs_f64();
    info.sort_by(|a, b| a.total_cmp(b));
    list.sort_by(|a, b| a.total_cmp(b));
    let (ok, failed) = (ok.into_inner(), failed.into_inner());
    let load = json!({
        "seconds": elapsed,
        "in_flight": peers.len() * IN_FLIGHT_PER_PEER,
        "succeeded": ok,
        "failed": failed,
        "payments_per_sec": ok as f64 / elapsed,
    });
    (load, info, list)
}
