//! Measurement 1: a hub restarting over the history of N recorded payments.

use std::path::Path;
use std::time::{Duration, Instant};

use chanhub::store::DB_FILE;
use serde_json::{json, Value};

use crate::history;
use crate::hub::{self, Chain};
use crate::support::{
    address, mine, open, start_node, status_kib, token_of, wait_active, wait_synced, Node,
};

/// List calls timed per endpoint, and the time they may take in all.
const LIST_CALLS: usize = 20;
const LIST_BUDGET: Duration = Duration::from_secs(60);

/// The newest rows the list endpoints answer by default, and at most (`?limit=`).
const LIST_DEFAULT: u64 = 1000;
const LIST_MAX: u64 = 10_000;

pub async fn run(root: &Path, chain: &Chain, n: u64) -> Value {
    let hub = start_node(root, "hub", &chain.rpc, &chain.cookie);
    let peer = start_node(root, "peer", &chain.rpc, &chain.cookie);
    mine(&hub, 1, &address(&peer).await).await;
    mine(&hub, 100, &address(&hub).await).await;
    wait_synced(&peer).await;
    let channel = open(&peer, &hub, 1_000_000).await;
    mine(&hub, 3, &address(&hub).await).await;
    wait_active(&peer, &channel).await;
    wait_active(&hub, &channel).await;
    hub::remember(&hub, &peer).await;

    let mut hub = hub;
    hub::stop(&mut hub);
    eprintln!("scale: hub stopped; writing {n} recorded payments into its database");
    let generated = history::generate(&hub.proc.dir.join(DB_FILE), n).expect("history written");
    eprintln!(
        "scale: {:.1} s, {:.0} MiB; restarting the hub",
        generated.secs, generated.db_mib
    );

    let r = hub::restart(root, "hub", chain, hub).await;
    let active_secs = hub::wait_all_active(&r.node, 1, r.spawned).await;
    let rss_mib = status_kib(r.node.proc.child.id(), "VmRSS") / 1024.0;
    eprintln!(
        "scale: API after {:.2} s, channel active after {active_secs:.2} s",
        r.api_secs
    );

    // The lists answer the newest rows only (by default 1,000, at most 10,000), however long
    // the history: each is timed both ways.
    let mut lists = serde_json::Map::new();
    for (path, field, rows) in [
        ("/v1/payments", "payments", n / 2),
        ("/v1/forwards", "forwards", n),
        ("/v1/invoices", "invoices", n / 2),
    ] {
        for (query, limit) in [("", LIST_DEFAULT), ("?limit=10000", LIST_MAX)] {
            let url = format!("{path}{query}");
            let first = r.node.api.get(&url).await.expect("the list answers");
            let got = first[field].as_array().map_or(0, Vec::len) as u64;
            assert_eq!(got, rows.min(limit), "{url} lists {got} rows");
            let l = hub::latencies(&r.node.api, &url, LIST_CALLS, LIST_BUDGET).await;
            lists.insert(
                format!("{field}{query}"),
                json!({"rows": got, "calls": l.len(), "p50_ms": hub::p50_p99(&l).0}),
            );
        }
    }
    let metrics = metrics_latencies(&r.node, 5).await;
    json!({
        "payments": n,
        "metrics_p50_ms": hub::p50_p99(&metrics).0,
        "generate_secs": generated.secs,
        "db_mib": generated.db_mib,
        "restart_api_secs": r.api_secs,
        "restart_channel_active_secs": active_secs,
        "rss_after_restart_mib": rss_mib,
        "lists": lists,
        "hub_peak_rss_mib": status_kib(r.node.proc.child.id(), "VmHWM") / 1024.0,
    })
}

/// `GET /metrics` (Prometheus text, so not through the JSON client's `get`), `calls` times:
/// latencies in ms, sorted. Its counters aggregate the payment tables.
async fn metrics_latencies(node: &Node, calls: usize) -> Vec<f64> {
    let token = token_of(node);
    let mut out = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let (status, _) = node
            .api
            .raw(hyper::Method::GET, "/metrics", Some(&token), Vec::new())
            .await
            .expect("metrics answer");
        assert_eq!(status, 200, "GET /metrics");
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.sort_by(|a, b| a.total_cmp(b));
    out
}
