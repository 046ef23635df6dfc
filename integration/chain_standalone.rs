//! `chanhub regtest` as a process, driven by an independent bitcoind client library: it answers
//! `getblockchaininfo` as regtest, mines, keeps its chain across a SIGTERM restart, and stops
//! on the `stop` RPC.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bitcoincore_rpc::{Auth, Client, RpcApi};

struct Regtest {
    child: Child,
    client: Client,
}

fn read_node_json(dir: &Path) -> serde_json::Value {
    let path = dir.join("node.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Ok(v) = serde_json::from_str(&text) {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "node.json never appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start(dir: &Path) -> Regtest {
    let _ = std::fs::remove_file(dir.join("node.json"));
    let child = Command::new(env!("CARGO_BIN_EXE_chanhub"))
        .args(["regtest", "--datadir"])
        .arg(dir)
        .args([
            "--rpc-bind",
            "127.0.0.1:0",
            "--rpc-user",
            "alice",
            "--rpc-password",
            "s3cret",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn chanhub regtest");
    let info = read_node_json(dir);
    let url = format!("http://{}", info["rpc_addr"].as_str().expect("rpc_addr"));
    let cookie = info["cookie_path"].as_str().expect("cookie_path");
    assert!(Path::new(cookie).exists(), "cookie file written");
    let client = Client::new(&url, Auth::UserPass("alice".into(), "s3cret".into())).unwrap();
    Regtest { child, client }
}

fn terminate(mut r: Regtest) {
    // SIGTERM, like a service manager would; the chain must be flushed and kept.
    let pid = r.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = r.child.try_wait().unwrap() {
            assert!(status.success(), "clean exit on SIGTERM: {status}");
            return;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn regtest_command_serves_rpc_keeps_its_chain_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    let info = r.client.get_blockchain_info().unwrap();
    assert_eq!(info.chain, bitcoin::Network::Regtest);
    assert_eq!(info.blocks, 0);

    let addr = bitcoin::Address::p2wsh(
        &bitcoin::ScriptBuf::from_bytes(vec![0x51]),
        bitcoin::Network::Regtest,
    );
    let hashes = r.client.generate_to_address(12, &addr).unwrap();
    assert_eq!(r.client.get_block_count().unwrap(), 12);
    terminate(r);

    let r = start(dir.path());
    assert_eq!(r.client.get_block_count().unwrap(), 12);
    assert_eq!(r.client.get_best_block_hash().unwrap(), hashes[11]);
    // `stop` answers, then the process exits cleanly.
    let _: serde_json::Value = r.client.call("stop", &[]).unwrap();
    let mut child = r.child;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(Instant::now() < deadline, "did not stop on the stop RPC");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_killed_regtest_comes_back_at_its_tip() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = start(dir.path());
    let addr = bitcoin::Address::p2wsh(
        &bitcoin::ScriptBuf::from_bytes(vec![0x51]),
        bitcoin::Network::Regtest,
    );
    let hashes = r.client.generate_to_address(120, &addr).unwrap();
    // SIGKILL: no flush of the kernel's databases; the block files are all there is.
    r.child.kill().unwrap();
    r.child.wait().unwrap();
    let r = start(dir.path());
    assert_eq!(r.client.get_block_count().unwrap(), 120);
    assert_eq!(r.client.get_best_block_hash().unwrap(), hashes[119]);
    r.client.generate_to_address(1, &addr).unwrap();
    terminate(r);
    let r = start(dir.path());
    assert_eq!(r.client.get_block_count().unwrap(), 121);
    terminate(r);
}
