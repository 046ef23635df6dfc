//! Backups and a safe restore, end to end on the embedded chain: alice backs up her node with
//! `chanhub backup`, pays on, stops, puts the old backup back with `chanhub restore` and
//! starts again. Her restored channel never broadcasts its (revoked) commitment; the hub sees
//! from her `channel_reestablish` that she lost state and closes with its latest commitment;
//! her monitor sweeps her latest balance from it. Both wallets are checked to the satoshi.

mod channels_support;

use std::path::{Path, PathBuf};

use chanhub::cli::{ClientCommand, Target};
use channels_support::*;
use serde_json::{json, Value};

const CAPACITY_SAT: u64 = 1_000_000;

/// Runs a `chanhub` command line (`chanhub ARGS...`) as the binary does, through the CLI's
/// parser and runner (the binary itself is shared by concurrent builds).
async fn chanhub(args: Vec<String>) -> Result<String, String> {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        command: ClientCommand,
    }
    let cli = Cli::try_parse_from(std::iter::once("chanhub".to_string()).chain(args))
        .map_err(|e| e.to_string())?;
    chanhub::cli::run(&cli.target, cli.command, false)
        .await
        .map(|o| o.text)
}

fn arg(p: &Path) -> String {
    p.display().to_string()
}

/// Mines a few blocks at a time until `cond` holds.
async fn mine_until(miner: &TestNode, what: &str, mut cond: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if cond().await {
            return;
        }
        miner.mine(6, &burn_address()).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    panic!("never happened: {what}");
}

async fn resolution_of(n: &TestNode, miner: &TestNode, id: &str) -> Value {
    let mut resolution = Value::Null;
    mine_until(miner, "the resolution is recorded", async || {
        resolution = n.channel(id).await["resolution"].clone();
        !resolution.is_null()
    })
    .await;
    resolution
}

/// A transaction from the chain `host` runs.
async fn raw_tx(host: &TestNode, txid: &str) -> bitcoin::Transaction {
    let rpc_url = format!("http://{}", host.node.node_json.chain_rpc_addr.unwrap());
    let cookie = host.node.node_json.chain_rpc_cookie.clone().unwrap();
    let txid = txid.to_string();
    let hex = tokio::task::spawn_blocking(move || {
        use bitcoincore_rpc::{Auth, Client, RpcApi};
        let c = Client::new(&rpc_url, Auth::CookieFile(cookie)).unwrap();
        c.call::<Value>("getrawtransaction", &[json!(txid)])
            .unwrap()
    })
    .await
    .unwrap();
    bitcoin::consensus::encode::deserialize_hex(hex.as_str().unwrap()).unwrap()
}

/// The one output of `kind` in a resolution record, which must be ours: its amount.
fn output(r: &Value, kind: &str) -> u64 {
    let outs: Vec<&Value> = r["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == kind)
        .collect();
    assert_eq!(outs.len(), 1, "one {kind} in {r:#}");
    assert_eq!(outs[0]["ours"], true, "{r:#}");
    outs[0]["amount_sat"].as_u64().unwrap()
}

/// Rows of `table` in a database file.
fn rows(db: &Path, table: &str) -> i64 {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

async fn restore_an_old_backup(channel_type: &str) {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    // The hub hosts the chain: alice is the one who stops and comes back.
    let hub = start_payments(&tmp.path().join("hub"), None).await;
    let alice_dir = tmp.path().join("alice");
    let alice = start_payments(&alice_dir, Some(&hub)).await;
    fund(&alice).await;
    // The hub keeps an on-chain reserve (anchors: CPFP of its commitment).
    fund(&hub).await;
    let id = open_active(&alice, &hub, CAPACITY_SAT, 0, channel_type).await;
    pay_hub(&alice, &hub, 100_000_000).await;

    // The backup, through the CLI, while alice runs.
    let file: PathBuf = tmp.path().join("backups").join("alice.sqlite");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let printed = chanhub(vec![
        "--datadir".into(),
        arg(&alice_dir),
        "backup".into(),
        arg(&file),
    ])
    .await
    .unwrap();
    assert!(printed.contains("1 open"), "{printed}");
    assert!(printed.contains(&arg(&file)), "{printed}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // A valid database of the running node: the same channels and payments as the API shows.
    let payments = alice.api.get("/v1/payments").await.unwrap()["payments"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(rows(&file, "channels"), 1);
    assert_eq!(rows(&file, "payments"), payments as i64);
    let leftovers: Vec<_> = std::fs::read_dir(&alice_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("backup"))
        .collect();
    assert!(leftovers.is_empty(), "temporary snapshot removed");

    // The channel moves on after the backup: both ways.
    pay_hub(&alice, &hub, 200_000_000).await;
    pay_hub(&hub, &alice, 50_000_000).await;
    // The payer sees success at the preimage; the commitments settle just after.
    let settled = |c: &Value| c["local_msat"] == 750_000_000 && c["pending_htlcs"] == json!([]);
    alice
        .wait_channel(&id, "alice's balance settles", settled)
        .await;
    hub.wait_channel(&id, "the hub's balance settles", |c| {
        c["remote_msat"] == 750_000_000 && c["pending_htlcs"] == json!([])
    })
    .await;
    let alice_latest_sat = 750_000;
    let alice_before = alice.confirmed_sat().await;
    let hub_before = hub.confirmed_sat().await;

    // A running node is never restored over.
    let e = chanhub(vec![
        "restore".into(),
        "--datadir".into(),
        arg(&alice_dir),
        arg(&file),
    ])
    .await
    .unwrap_err();
    assert!(e.contains("running"), "{e}");

    alice.node.shutdown().await;
    let printed = chanhub(vec![
        "restore".into(),
        "--datadir".into(),
        arg(&alice_dir),
        arg(&file),
    ])
    .await
    .unwrap();
    assert!(printed.contains("1 marked restored"), "{printed}");
    let alice = start_payments(&alice_dir, Some(&hub)).await;
    let _ = alice
        .api
        .post(
            "/v1/peers",
            json!({ "node_id": hub.id(), "addr": hub.peer_addr() }),
        )
        .await;

    // The old state is never put on chain: close --force is refused.
    let refused = alice
        .api
        .post(
            &format!("/v1/channels/{id}/close"),
            json!({ "force": true }),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("restored from a backup"), "{refused}");

    // The hub learns alice lost state and closes with its latest commitment.
    let closing = hub
        .wait_channel(&id, "the hub force closes", |c| {
            c["phase"] == "force_closing" || c["state"] == "closed"
        })
        .await;
    assert!(closing["local_msat"].as_u64().unwrap() / 1000 == CAPACITY_SAT - 750_000);

    let hub_res = resolution_of(&hub, &hub, &id).await;
    let alice_res = resolution_of(&alice, &hub, &id).await;
    assert_eq!(hub_res["spend"], "local", "{hub_res:#}");
    assert_eq!(alice_res["spend"], "remote_future", "{alice_res:#}");
    assert_eq!(alice_res["spend_txid"], hub_res["spend_txid"]);

    // To the satoshi. The hub's commitment pays alice her latest balance minus what the
    // opener (alice) pays: the commitment fee, and the two anchors on an anchors channel.
    let commitment = raw_tx(&hub, hub_res["spend_txid"].as_str().unwrap()).await;
    let commit_fee = CAPACITY_SAT
        - commitment
            .output
            .iter()
            .map(|o| o.value.to_sat())
            .sum::<u64>();
    let anchors = if channel_type == "anchors" { 660 } else { 0 };
    let to_remote = output(&alice_res, "to_remote");
    assert_eq!(to_remote, alice_latest_sat - commit_fee - anchors);
    assert_eq!(output(&hub_res, "to_local"), CAPACITY_SAT - 750_000);
    for (n, r, before) in [
        (&alice, &alice_res, alice_before),
        (&hub, &hub_res, hub_before),
    ] {
        let received = r["received_sat"].as_u64().unwrap();
        let fees = r["fees_sat"].as_u64().unwrap();
        n.wait_confirmed(before + received).await;
        assert!(fees < 2_000, "{r:#}");
    }
    let alice_fees = alice_res["fees_sat"].as_u64().unwrap();
    assert_eq!(
        alice_res["received_sat"].as_u64().unwrap() + alice_fees,
        to_remote,
        "{alice_res:#}"
    );
    for n in [alice, hub] {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_backup_restored_recovers_the_latest_balance_anchors() {
    restore_an_old_backup("anchors").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_backup_restored_recovers_the_latest_balance_static_remotekey() {
    restore_an_old_backup("static_remotekey").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_of_other_nodes_and_other_files_are_refused() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_payments(&tmp.path().join("hub"), None).await;
    let alice_dir = tmp.path().join("alice");
    let alice = start_payments(&alice_dir, Some(&hub)).await;
    // The API's answer is the snapshot itself, named after the height; the token is needed.
    let (status, body) = hub
        .api
        .raw(hyper::Method::GET, "/v1/backup", None, Vec::new())
        .await
        .unwrap();
    assert_eq!(status, 401, "{body}");
    let (headers, bytes) = get_backup(&hub).await;
    let height = hub.api.get("/v1/chain/info").await.unwrap()["wallet_synced_height"].clone();
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"chanhub-backup-{height}.sqlite\"")
    );
    assert_eq!(headers["content-length"], bytes.len().to_string());
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    let hub_file = tmp.path().join("hub.sqlite");
    chanhub(vec![
        "--datadir".into(),
        arg(&hub.dir),
        "backup".into(),
        arg(&hub_file),
    ])
    .await
    .unwrap();
    alice.node.shutdown().await;
    let e = chanhub(vec![
        "restore".into(),
        "--datadir".into(),
        arg(&alice_dir),
        arg(&hub_file),
    ])
    .await
    .unwrap_err();
    assert!(
        e.contains("is a backup of node") && e.contains(&hub.id()),
        "{e}"
    );
    let notes = tmp.path().join("notes.txt");
    std::fs::write(&notes, "this is not a database, it only looks like a file").unwrap();
    let e = chanhub(vec![
        "restore".into(),
        "--datadir".into(),
        arg(&alice_dir),
        arg(&notes),
    ])
    .await
    .unwrap_err();
    assert!(e.contains("not a SQLite database"), "{e}");
    // Nothing was installed: alice starts on her own database.
    let alice = start_payments(&alice_dir, Some(&hub)).await;
    assert_ne!(alice.id(), hub.id());
    for n in [alice, hub] {
        n.node.shutdown().await;
    }
}

/// `GET /v1/backup` with the token: the response headers and the body.
async fn get_backup(n: &TestNode) -> (std::collections::HashMap<String, String>, Vec<u8>) {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let token = std::fs::read_to_string(&n.node.node_json.api_token_file).unwrap();
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = hyper::Request::get(format!("http://{}/v1/backup", n.node.node_json.api_addr))
        .header("authorization", format!("Bearer {}", token.trim()))
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (headers, body)
}
