//! Helpers for the node tests: run the real `chanhub` binary on a temporary data directory,
//! read its node.json, drive it through the CLI.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{Address, CompressedPublicKey, Network};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_chanhub");
pub const COIN: u64 = 100_000_000;

/// A regtest address nobody in the tests owns, to mine blocks away from the wallets.
pub fn burn_address() -> String {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[0x42; 32]).unwrap();
    let pk = CompressedPublicKey(sk.public_key(&secp));
    Address::p2wpkh(&pk, Network::Regtest).to_string()
}

/// A running `chanhub node`.
pub struct NodeProc {
    pub dir: PathBuf,
    pub json: Value,
    child: Child,
    log: PathBuf,
}

impl NodeProc {
    /// Starts a node on `dir` with OS-chosen ports (unless `extra` names `--listen`) and
    /// waits for its node.json.
    pub fn start(dir: &Path, extra: &[&str]) -> NodeProc {
        Self::try_start_with_env(dir, extra, &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`NodeProc::start`] with environment variables for the node (a crash drill, which may
    /// stop it before it is up: then the error has its log).
    pub fn try_start_with_env(
        dir: &Path,
        extra: &[&str],
        env: &[(&str, String)],
    ) -> Result<NodeProc, String> {
        let log = dir.with_extension("log");
        let listen: &[&str] = if extra.contains(&"--listen") {
            &[]
        } else {
            &["--listen", "127.0.0.1:0"]
        };
        let child = Command::new(BIN)
            .args(["node", "--datadir"])
            .arg(dir)
            .args(listen)
            .args(["--api", "127.0.0.1:0"])
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut node = NodeProc {
            dir: dir.to_path_buf(),
            json: Value::Null,
            child,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = node.child.try_wait().unwrap() {
                return Err(format!(
                    "node exited early ({status}):\n{}",
                    node.log_text()
                ));
            }
            if let Ok(text) = std::fs::read_to_string(dir.join("node.json")) {
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    if v["pid"] == node.child.id() {
                        node.json = v;
                        return Ok(node);
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "node.json did not appear:\n{}",
                node.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, and waits for the process to be gone (a crash; dropping does the same).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process has ended by itself (a crash drill's abort).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "unclean exit {status}:\n{}",
                    self.log_text()
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node did not stop:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            !self.dir.join("node.json").exists(),
            "node.json removed at shutdown"
        );
    }

    /// Runs `chanhub --datadir DIR args…`.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli(&["--datadir", self.dir.to_str().unwrap()], args)
    }

    /// Runs a CLI command with `--json`, asserting success.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.cli(&a);
        assert!(
            out.status.success(),
            "chanhub {args:?} failed: {}\nnode log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn balance(&self) -> (u64, u64) {
        let b = self.cli_json(&["balance"]);
        (
            b["onchain_confirmed_sat"].as_u64().unwrap(),
            b["onchain_unconfirmed_sat"].as_u64().unwrap(),
        )
    }

    pub fn new_address(&self) -> String {
        self.cli_json(&["newaddress"])["address"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Fee of one of the wallet's transactions.
    pub fn fee_of(&self, txid: &str) -> u64 {
        let txs = self.cli_json(&["transactions"]);
        txs["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["txid"] == txid)
            .unwrap_or_else(|| panic!("{txid} not in the wallet"))["fee_sat"]
            .as_u64()
            .unwrap()
    }

    /// Polls until the balance is `want` (another node's blocks arrive by polling).
    pub fn wait_balance(&self, want: (u64, u64)) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let b = self.balance();
            if b == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "balance {b:?}, expected {want:?}\nnode log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        // A failing test must not leave a daemon behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on now, for a node that must keep its address across restarts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A node on `dir` (configured beforehand) following `chain`'s embedded chain, its peer port
/// on `port`.
pub fn start_follower(dir: &Path, chain: &NodeProc, port: u16) -> NodeProc {
    try_start_follower_with_env(dir, chain, port, &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// [`start_follower`] with environment variables for the node (a crash drill, which may stop
/// it before it is up: then the error has its log).
pub fn try_start_follower_with_env(
    dir: &Path,
    chain: &NodeProc,
    port: u16,
    env: &[(&str, String)],
) -> Result<NodeProc, String> {
    let rpc = format!("http://{}", chain.json["chain_rpc_addr"].as_str().unwrap());
    let cookie = chain.json["chain_rpc_cookie"].as_str().unwrap().to_string();
    let listen = format!("127.0.0.1:{port}");
    NodeProc::try_start_with_env(
        dir,
        &[
            "--bitcoind-rpc",
            &rpc,
            "--bitcoind-cookie",
            &cookie,
            "--listen",
            &listen,
        ],
        env,
    )
}

/// An API client for a running node.
pub fn client(n: &NodeProc) -> chanhub::api::client::ApiClient {
    let token = std::fs::read_to_string(n.json["api_token_file"].as_str().unwrap()).unwrap();
    chanhub::api::client::ApiClient::new(n.json["api_addr"].as_str().unwrap(), &token)
}

/// A temporary directory, kept (and named) when `CHANHUB_KEEP_TEST_DIR` is set.
pub fn test_dir() -> tempfile::TempDir {
    let mut tmp = tempfile::tempdir().unwrap();
    if std::env::var_os("CHANHUB_KEEP_TEST_DIR").is_some() {
        tmp.disable_cleanup(true);
        eprintln!("test directory: {}", tmp.path().display());
    }
    tmp
}

/// Polls `cond` every 100 ms for up to 90 s.
pub fn wait(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `chanhub pre… args…`.
pub fn cli(pre: &[&str], args: &[&str]) -> Output {
    Command::new(BIN).args(pre).args(args).output().unwrap()
}

#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
