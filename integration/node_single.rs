//! One `chanhub node` on its own embedded regtest chain, driven through the real binary.

mod common;

use common::*;

#[test]
fn first_start_then_restart_keeps_identity_addresses_and_balance() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let node = NodeProc::start(&dir, &[]);

    // First start made the secrets owner-only, and the database.
    for f in ["seed", "api-token", "api-token-invoice"] {
        assert!(dir.join(f).exists(), "{f}");
        #[cfg(unix)]
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    assert!(dir.join("chanhub.sqlite").exists());
    let info = node.cli_json(&["info"]);
    let node_id = info["node_id"].as_str().unwrap().to_string();
    assert_eq!(node.json["node_id"], node_id.as_str());
    assert_eq!(node.json["peer_addr"], info["peer_addr"]);
    assert_eq!(info["network"], "regtest");
    assert!(node.json["api_addr"].as_str().is_some());
    // The peer port is really bound.
    std::net::TcpStream::connect(node.json["peer_addr"].as_str().unwrap()).unwrap();

    // Mine one block to us and mature it with blocks to someone else: exactly 50 BTC.
    let a1 = node.new_address();
    let mined = node.cli_json(&["chain", "mine", "1", "--address", &a1]);
    assert_eq!(mined["block_height"], 1);
    node.cli_json(&["chain", "mine", "100", "--address", &burn_address()]);
    assert_eq!(node.balance(), (50 * COIN, 0));

    // Pay someone else 1 BTC: the change is unconfirmed until the next block.
    let sent = node.cli_json(&["send", &burn_address(), &COIN.to_string()]);
    let txid = sent["txid"].as_str().unwrap().to_string();
    let fee = node.fee_of(&txid);
    assert_eq!(node.balance(), (0, 49 * COIN - fee));
    node.cli_json(&["chain", "mine", "1", "--address", &burn_address()]);
    assert_eq!(node.balance(), (49 * COIN - fee, 0));
    let a2 = node.new_address();
    let txs_before = node.cli_json(&["transactions"]);
    node.stop();

    let node = NodeProc::start(&dir, &[]);
    assert_eq!(node.cli_json(&["info"])["node_id"], node_id.as_str());
    assert_eq!(node.cli_json(&["info"])["block_height"], 102);
    assert_eq!(node.balance(), (49 * COIN - fee, 0));
    assert_eq!(node.cli_json(&["transactions"]), txs_before);
    // Addresses handed out before the restart are not handed out again.
    let a3 = node.new_address();
    assert!(a3 != a1 && a3 != a2);
    node.stop();
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    NodeProc::start(&dir, &[]).stop();
    {
        let db = rusqlite::Connection::open(dir.join("chanhub.sqlite")).unwrap();
        db.pragma_update(None, "user_version", 999).unwrap();
    }
    let out = std::process::Command::new(BIN)
        .args(["node", "--datadir"])
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0", "--api", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("schema version 999, newer than this chanhub supports"),
        "{err}"
    );
    assert!(!dir.join("node.json").exists());
}

#[test]
fn a_channel_state_that_cannot_load_stops_the_node_with_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let node = NodeProc::start(&dir, &[]);
    let node_id = node.json["node_id"].as_str().unwrap().to_string();
    node.stop();
    {
        // A channel row whose state is not a channel state (a damaged or foreign database).
        let db = rusqlite::Connection::open(dir.join("chanhub.sqlite")).unwrap();
        db.execute(
            "INSERT INTO channels (key_index, channel_id, temporary_channel_id, peer_node_id,
             phase, funding_txid, state, updated_at)
             VALUES (7, zeroblob(32), zeroblob(32), ?1, 'normal', NULL, '{\"not\": 1}', 0)",
            [hex::decode(&node_id).unwrap()],
        )
        .unwrap();
    }
    let log = dir.with_extension("fail.log");
    let mut child = std::process::Command::new(BIN)
        .args(["node", "--datadir"])
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0", "--api", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the node kept running without its channel manager:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "{status}:\n{text}");
    assert!(
        text.contains("cannot load channels; the node stops"),
        "{text}"
    );
    assert!(
        text.contains("the channel manager stopped unexpectedly"),
        "{text}"
    );
    assert!(!dir.join("node.json").exists(), "node.json removed");
}

#[test]
fn a_second_node_on_the_same_datadir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let node = NodeProc::start(&dir, &[]);
    let out = std::process::Command::new(BIN)
        .args(["node", "--datadir"])
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0", "--api", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use by another process") || err.contains("lock"),
        "{err}"
    );
    // The first node is unharmed.
    assert!(node.cli_json(&["info"])["node_id"].is_string());
    node.stop();
}

#[test]
fn cli_reports_failures_with_a_message_and_nonzero_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");

    // No node running there yet.
    let out = cli(&["--datadir", dir.to_str().unwrap()], &["info"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no running node"));

    let node = NodeProc::start(&dir, &[]);
    let check = |args: &[&str], needle: &str| {
        let out = node.cli(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    check(&["send", "not-an-address", "1000"], "invalid address");
    check(
        &["send", "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "1000"],
        "this node runs on regtest",
    );
    check(&["send", &burn_address(), "1000"], "insufficient funds");
    check(&["send", &burn_address(), "10"], "dust");
    check(
        &["send", &burn_address(), "1000", "--feerate", "0.1"],
        "fee rate",
    );
    check(&["chain", "mine", "0"], "blocks must be between");

    // The API with a wrong token, through --api/--token-file.
    let bad = tmp.path().join("bad-token");
    std::fs::write(&bad, "wrong\n").unwrap();
    let api = format!("http://{}", node.json["api_addr"].as_str().unwrap());
    let out = cli(
        &["--api", &api, "--token-file", bad.to_str().unwrap()],
        &["balance"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unauthorized"));
    let good = dir.join("api-token");
    let out = cli(
        &["--api", &api, "--token-file", good.to_str().unwrap()],
        &["balance"],
    );
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("confirmed") && table.contains(" sat"),
        "{table}"
    );
    // The shop's token bills but cannot look at the money.
    let shop = dir.join("api-token-invoice");
    let shop_args = [
        "--api",
        api.as_str(),
        "--token-file",
        shop.to_str().unwrap(),
    ];
    let out = cli(
        &shop_args,
        &["invoice", "--amount-msat", "5000", "shop order 7"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("lnbcrt"));
    let out = cli(&shop_args, &["balance"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("forbidden"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    node.stop();
}

#[test]
fn the_seed_alone_finds_the_coins_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let node = NodeProc::start(&dir, &[]);
    let node_id = node.json["node_id"].clone();
    // Coins on addresses 0, 15 and 30: 30 lies beyond the first gap-limit window (0..20) and
    // is only found because 15 moves the window.
    let mut addrs = Vec::new();
    for _ in 0..31 {
        addrs.push(node.new_address());
    }
    node.cli_json(&["chain", "mine", "1", "--address", &addrs[0]]);
    node.cli_json(&["chain", "mine", "100", "--address", &burn_address()]);
    let t1 = node.cli_json(&["send", &addrs[15], "1000000"])["txid"].clone();
    let t2 = node.cli_json(&["send", &addrs[30], "2000000"])["txid"].clone();
    node.cli_json(&["chain", "mine", "1", "--address", &burn_address()]);
    let fees = node.fee_of(t1.as_str().unwrap()) + node.fee_of(t2.as_str().unwrap());
    assert_eq!(node.balance(), (50 * COIN - fees, 0));
    node.stop();

    // Lose the database; keep the seed (and the chain this node runs).
    for f in [
        "chanhub.sqlite",
        "chanhub.sqlite-wal",
        "chanhub.sqlite-shm",
        "api-token",
    ] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let node = NodeProc::start(&dir, &[]);
    assert_eq!(node.json["node_id"], node_id);
    assert_eq!(node.balance(), (50 * COIN - fees, 0));
    let txs = node.cli_json(&["transactions"]);
    assert_eq!(
        txs["transactions"].as_array().unwrap().len(),
        3,
        "coinbase and two payments: {txs}"
    );
    let fresh = node.new_address();
    assert!(
        !addrs.contains(&fresh),
        "used addresses are not handed out again"
    );
    node.stop();
}
