//! Process helpers the end-to-end benchmarks share: a regtest chain and nodes as separate
//! `chanhub` processes, driven through the HTTP API.

// Each bench binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chanhub::api::client::ApiClient;
use serde_json::{json, Value};

/// A child process killed when dropped, so a failed run leaves nothing behind.
pub struct Proc {
    pub child: Child,
    pub dir: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_chanhub")
}

/// Waits for `DIR/node.json` and returns it.
pub fn node_json(dir: &Path) -> Value {
    let path = dir.join("node.json");
    for _ in 0..2400 {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                return v;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} did not appear", path.display());
}

pub fn start_chain(root: &Path) -> (Proc, String, String) {
    let dir = root.join("chain");
    let child = Command::new(bin())
        .args(["regtest", "--datadir"])
        .arg(&dir)
        .args(["--rpc-bind", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chanhub regtest starts");
    let j = node_json(&dir);
    let rpc = j["rpc_addr"].as_str().unwrap().to_string();
    let cookie = j["cookie_path"].as_str().unwrap().to_string();
    (Proc { child, dir }, rpc, cookie)
}

pub struct Node {
    pub proc: Proc,
    pub api: ApiClient,
    pub id: String,
    pub peer_addr: String,
    pub api_addr: String,
}

pub fn start_node(root: &Path, name: &str, rpc: &str, cookie: &str) -> Node {
    let child = spawn_node(
        root,
        name,
        rpc,
        cookie,
        "127.0.0.1:0",
        "127.0.0.1:0",
        "warn",
    );
    node_of(root.join(name), child)
}

/// Spawns `chanhub node` in `ROOT/NAME` without waiting for it; its log (at `log` level) is
/// appended to `ROOT/NAME.log`.
pub fn spawn_node(
    root: &Path,
    name: &str,
    rpc: &str,
    cookie: &str,
    listen: &str,
    api: &str,
    log: &str,
) -> Child {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join(format!("{name}.log")))
        .unwrap();
    Command::new(bin())
        .args(["node", "--datadir"])
        .arg(&dir)
        .args(["--listen", listen, "--api", api])
        .args(["--bitcoind-rpc", &format!("http://{rpc}")])
        .args(["--bitcoind-cookie", cookie])
        .env("CHANHUB_LOG", log)
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("chanhub node starts")
}

/// The node spawned in `dir`, once it wrote `node.json`.
pub fn node_of(dir: PathBuf, child: Child) -> Node {
    let j = node_json(&dir);
    let token = std::fs::read_to_string(dir.join("api-token")).unwrap();
    let api_addr = j["api_addr"].as_str().unwrap().to_string();
    Node {
        proc: Proc { child, dir },
        api: ApiClient::new(&api_addr, &token),
        id: j["node_id"].as_str().unwrap().to_string(),
        peer_addr: j["peer_addr"].as_str().unwrap().to_string(),
        api_addr,
    }
}

pub async fn mine(node: &Node, blocks: u32, address: &str) {
    node.api
        .post(
            "/v1/chain/mine",
            json!({"blocks": blocks, "address": address}),
        )
        .await
        .expect("mine");
}

pub async fn address(node: &Node) -> String {
    node.api
        .post("/v1/onchain/address", json!({}))
        .await
        .unwrap()["address"]
        .as_str()
        .unwrap()
        .to_string()
}

pub async fn wait_active(node: &Node, channel_id: &str) {
    for _ in 0..2400 {
        let c = node
            .api
            .get(&format!("/v1/channels/{channel_id}"))
            .await
            .unwrap();
        if c["state"] == "active" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("channel {channel_id} never became active");
}

pub async fn open(from: &Node, to: &Node, capacity_sat: u64) -> String {
    let r = from
        .api
        .post(
            "/v1/channels",
            json!({"node_id": to.id, "addr": to.peer_addr, "capacity_sat": capacity_sat}),
        )
        .await
        .expect("open");
    r["channel_id"].as_str().unwrap().to_string()
}

pub async fn wait_synced(node: &Node) {
    for _ in 0..2400 {
        let info = node.api.get("/v1/chain/info").await.unwrap();
        if info["wallet_synced_height"] == info["block_height"] {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("a node's wallet never caught up with the chain");
}

pub fn token_of(node: &Node) -> String {
    std::fs::read_to_string(node.proc.dir.join("api-token"))
        .unwrap()
        .trim()
        .to_string()
}

/// The value at percentile `p` (0..=100) of `sorted`, nearest rank; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A `/proc/PID/status` field in KiB (`VmRSS`, `VmHWM`); 0 when unreadable.
pub fn status_kib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
}
