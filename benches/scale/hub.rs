//! Stopping a node and starting it again on the same ports, timed; API latency probes.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chanhub::api::client::ApiClient;
use serde_json::json;

use crate::support::{node_of, percentile, spawn_node, Node};

/// Where the chain's RPC is, for every node started.
pub struct Chain {
    pub rpc: String,
    pub cookie: String,
}

/// Stops `node` with SIGTERM and waits for it to exit.
pub fn stop(node: &mut Node) {
    let pid = node.proc.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM {pid}");
    node.proc.child.wait().expect("the node exits");
}

/// How long a restart took, from spawning the process.
pub struct Restart {
    pub node: Node,
    pub spawned: Instant,
    pub api_secs: f64,
}

/// Starts the node of `ROOT/NAME` again on `old`'s peer and API ports (peers remember the
/// address) and returns once `GET /v1/info` answers.
pub async fn restart(root: &Path, name: &str, chain: &Chain, old: Node) -> Restart {
    let (listen, api) = (old.peer_addr.clone(), old.api_addr.clone());
    let dir = old.proc.dir.clone();
    drop(old);
    // A node that stops cleanly removes it; one that did not would be read as started.
    let _ = std::fs::remove_file(dir.join("node.json"));
    let token = std::fs::read_to_string(dir.join("api-token")).expect("the API token");
    let spawned = Instant::now();
    let child = spawn_node(root, name, &chain.rpc, &chain.cookie, &listen, &api, "info");
    let client = ApiClient::new(&api, &token);
    loop {
        if client.get("/v1/info").await.is_ok() {
            break;
        }
        assert!(
            spawned.elapsed() < Duration::from_secs(600),
            "{name} never answered after a restart"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let api_secs = spawned.elapsed().as_secs_f64();
    Restart {
        node: node_of(dir, child),
        spawned,
        api_secs,
    }
}

/// How many of the node's channels are `active`, and how many it has.
pub async fn active_channels(node: &Node) -> (usize, usize) {
    let Ok(list) = node.api.get("/v1/channels").await else {
        return (0, 0);
    };
    let all = list["channels"].as_array().cloned().unwrap_or_default();
    let active = all.iter().filter(|c| c["state"] == "active").count();
    (active, all.len())
}

/// Waits until at least `want` channels of `node` are active; seconds since `since`.
pub async fn wait_all_active(node: &Node, want: usize, since: Instant) -> f64 {
    loop {
        if active_channels(node).await.0 >= want {
            return since.elapsed().as_secs_f64();
        }
        assert!(
            since.elapsed() < Duration::from_secs(900),
            "channels never all active again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Makes `hub` remember `peer` (listening address), so the hub redials it after a restart
/// instead of waiting for the peer's backoff.
pub async fn remember(hub: &Node, peer: &Node) {
    hub.api
        .post(
            "/v1/peers",
            json!({"node_id": peer.id, "addr": peer.peer_addr}),
        )
        .await
        .expect("the hub connects to its peer");
}

/// Latencies of `GET path`, in ms, sorted: `calls` calls, or fewer once `budget` is spent
/// (at least 3).
pub async fn latencies(api: &ApiClient, path: &str, calls: usize, budget: Duration) -> Vec<f64> {
    let start = Instant::now();
    let mut out = Vec::with_capacity(calls);
    for k in 0..calls {
        if k >= 3 && start.elapsed() > budget {
            break;
        }
        let t = Instant::now();
        api.get(path).await.expect("the API answers");
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.sort_by(|a, b| a.total_cmp(b));
    out
}

/// p50 and p99 of sorted latencies.
pub fn p50_p99(sorted: &[f64]) -> (f64, f64) {
    (percentile(sorted, 50.0), percentile(sorted, 99.0))
}
