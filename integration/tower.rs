//! The watchtower end to end: `chanhub tower` run as users run it (a process following the
//! chain over RPC), a hub that uploads every revoked state to it, and a cheater who waits for
//! the hub to go offline.

mod channels_support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::{Transaction, Txid};
use chanhub::tower::blob::{seal, Hint};
use chanhub::tower::conn::Conn;
use chanhub::tower::wire::{AckCode, TowerAck, TowerMessage, TowerUpload};
use chanhub::tower::{TowerAddr, TowerJson};
use chanhub::wire::WireMessage;
use channels_support::*;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_chanhub");
const CAPACITY_SAT: u64 = 1_000_000;

/// A running `chanhub tower`.
struct TowerProc {
    dir: PathBuf,
    json: TowerJson,
    child: Child,
    log: PathBuf,
}

impl TowerProc {
    /// Starts a tower on `dir` following `chain`'s embedded chain, listening on `port` (0:
    /// any), and waits for its tower.json.
    fn start(dir: &Path, chain: &TestNode, port: u16, extra: &[&str]) -> TowerProc {
        let log = dir.with_extension("log");
        let rpc = format!("http://{}", chain.node.node_json.chain_rpc_addr.unwrap());
        let cookie = chain.node.node_json.chain_rpc_cookie.clone().unwrap();
        let child = Command::new(BIN)
            .args(["tower", "--datadir"])
            .arg(dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--bitcoind-rpc", &rpc])
            .arg("--bitcoind-cookie")
            .arg(&cookie)
            .args(extra)
            .env("CHANHUB_LOG", "info")
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut child = child;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "tower exited early ({status}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if let Ok(json) = TowerJson::read(dir) {
                if json.pid == child.id() {
                    return TowerProc {
                        dir: dir.to_path_buf(),
                        json,
                        child,
                        log,
                    };
                }
            }
            assert!(Instant::now() < deadline, "tower.json did not appear");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn addr(&self) -> TowerAddr {
        format!("{}@{}", self.json.node_id, self.json.listen_addr)
            .parse()
            .unwrap()
    }

    fn id(&self) -> PublicKey {
        self.json.node_id.parse().unwrap()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then a clean exit that removes tower.json.
    fn stop(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "unclean exit:\n{}", self.log_text());
                break;
            }
            assert!(Instant::now() < deadline, "tower did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!self.dir.join("tower.json").exists(), "tower.json removed");
    }
}

impl Drop for TowerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A payments node following `chain_of`'s chain, uploading to `tower`.
async fn start_hub(dir: &Path, chain_of: &TestNode, tower: &TowerAddr) -> TestNode {
    let mut config = node_config(dir, Some(chain_of), "127.0.0.1:0".parse().unwrap(), false);
    config.watchtower = Some(tower.clone());
    start_config(config).await
}

/// A blocking RPC client on `n`'s embedded chain.
fn rpc(n: &TestNode) -> bitcoincore_rpc::Client {
    let url = format!("http://{}", n.node.node_json.chain_rpc_addr.unwrap());
    let cookie = n.node.node_json.chain_rpc_cookie.clone().unwrap();
    bitcoincore_rpc::Client::new(&url, bitcoincore_rpc::Auth::CookieFile(cookie)).unwrap()
}

/// The confirmed transactions spending an output of `txid`, with their block height.
async fn spends_of(chain: &TestNode, txid: Txid) -> Vec<(Transaction, u64)> {
    let c = rpc(chain);
    tokio::task::spawn_blocking(move || {
        use bitcoincore_rpc::RpcApi;
        let tip = c.get_block_count().unwrap();
        let mut out = Vec::new();
        for h in tip.saturating_sub(30)..=tip {
            let block = c.get_block(&c.get_block_hash(h).unwrap()).unwrap();
            for tx in block.txdata {
                if tx.input.iter().any(|i| i.previous_output.txid == txid) {
                    out.push((tx, h));
                }
            }
        }
        out
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tower_punishes_a_cheater_while_the_hub_is_offline() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    // alice hosts the chain: the hub is the one that disappears. She holds the HTLC the hub
    // offers her (the router leaves it to the test).
    let alice = start(&tmp.path().join("alice"), None).await;
    // The tower's id comes from its seed: start it once to learn it, on a port it keeps.
    let tower_dir = tmp.path().join("tower");
    let port = free_port();
    let tower = TowerProc::start(&tower_dir, &alice, port, &[]);
    let tower_addr = tower.addr();
    let log = tower.log_text();
    assert!(log.contains("every client will be refused"), "{log}");
    tower.stop();

    // The tower is down while the channel works: the uploads wait in the hub's store.
    let hub_dir = tmp.path().join("hub");
    let hub = start_hub(&hub_dir, &alice, &tower_addr).await;
    fund(&alice).await;
    let id = open_active(&alice, &hub, CAPACITY_SAT, 100_000_000, "anchors").await;
    // HTLCs in both directions: the hub offers alice 50,000 sat she holds, and alice pays the
    // hub 400,000 sat, so her previous commitment has HTLCs in flight.
    let height = alice.api.get("/v1/chain/info").await.unwrap()["block_height"]
        .as_u64()
        .unwrap() as u32;
    hub.node
        .channels()
        .command(
            hex::decode(&id).unwrap().try_into().unwrap(),
            chanhub::channel::Command::AddHtlc {
                amount_msat: 50_000_000,
                payment_hash: bitcoin::hashes::sha256::Hash::hash(b"held").to_byte_array(),
                cltv_expiry: height + 500,
                onion: vec![0; chanhub::wire::types::ONION_PACKET_LEN],
                extra_fee_msat: None,
            },
        )
        .await
        .unwrap();
    let one_pending = |c: &serde_json::Value| c["pending_htlcs"].as_array().unwrap().len() == 1;
    alice
        .wait_channel(&id, "alice holds the hub's HTLC", one_pending)
        .await;
    pay_hub(&alice, &hub, 400_000_000).await;
    let a = alice
        .wait_channel(&id, "settled at alice", one_pending)
        .await;
    hub.wait_channel(&id, "the hub has alice's latest commitment", |c| {
        one_pending(c) && c["remote_commitment_number"] == a["local_commitment_number"]
    })
    .await;
    // alice revoked every commitment below her current one: one upload each, all waiting.
    let queued = hub.node.tower_backlog().await.unwrap();
    assert_eq!(queued, a["local_commitment_number"].as_u64().unwrap());
    assert!(queued >= 2);
    // ... across a restart of the hub ...
    hub.node.shutdown().await;
    let hub = start_hub(&hub_dir, &alice, &tower_addr).await;
    assert_eq!(hub.node.tower_backlog().await.unwrap(), queued);
    // ... and reach the tower once it is back, now that it serves the hub.
    let tower = TowerProc::start(
        &tower_dir,
        &alice,
        port,
        &["--authorized-client", &hub.id()],
    );
    assert_eq!(tower.addr(), tower_addr, "the same key and address");
    let deadline = Instant::now() + PATIENCE;
    while hub.node.tower_backlog().await.unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "uploads never drained:\n{}",
            tower.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let alice_before = alice.confirmed_sat().await;
    let hub_before = hub.confirmed_sat().await;

    // The hub goes offline; alice broadcasts her revoked commitment.
    hub.node.shutdown().await;
    let cheat = alice
        .api
        .post(&format!("/v1/dev/channels/{id}/cheat"), json!({}))
        .await
        .unwrap();
    let cheat_txid: Txid = cheat["txid"].as_str().unwrap().parse().unwrap();
    let c = rpc(&alice);
    let cheat_tx = tokio::task::spawn_blocking(move || {
        use bitcoincore_rpc::RpcApi;
        c.get_raw_transaction(&cheat_txid, None).unwrap()
    })
    .await
    .unwrap();

    // Blocks come; the tower sees the breach and its justice transaction confirms.
    let deadline = Instant::now() + PATIENCE;
    let (justice, justice_height) = loop {
        alice.mine(1, &burn_address()).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        let spends = spends_of(&alice, cheat_txid).await;
        if let Some(s) = spends.into_iter().next() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the tower never acted:\n{}",
            tower.log_text()
        );
    };
    let log = tower.log_text();
    assert!(log.contains("breach detected"), "{log}");
    assert!(log.contains("justice transaction broadcast"), "{log}");

    // To the satoshi: every output of the revoked commitment but the anchors and the hub's
    // own to_remote (nobody else can take it: the hub sweeps it when back), into one output.
    let mut taken: Vec<u32> = justice
        .input
        .iter()
        .map(|i| {
            assert_eq!(i.previous_output.txid, cheat_txid);
            i.previous_output.vout
        })
        .collect();
    taken.sort();
    let not_anchors: Vec<u32> = (0..cheat_tx.output.len() as u32)
        .filter(|v| cheat_tx.output[*v as usize].value.to_sat() != 330)
        .collect();
    let left: Vec<u32> = not_anchors
        .iter()
        .copied()
        .filter(|v| !taken.contains(v))
        .collect();
    assert_eq!(left.len(), 1, "only the hub's to_remote is left: {taken:?}");
    assert!(
        taken.len() >= 3,
        "to_local and both HTLC outputs: {taken:?}"
    );
    let to_remote = cheat_tx.output[left[0] as usize].value.to_sat();
    assert_eq!(justice.output.len(), 1);
    let paid = justice.output[0].value.to_sat();
    let claimed: u64 = taken
        .iter()
        .map(|v| cheat_tx.output[*v as usize].value.to_sat())
        .sum();
    assert!(
        claimed - paid < 5_000,
        "a justice fee of {} sat",
        claimed - paid
    );
    assert!(
        claimed + to_remote > CAPACITY_SAT - 10_000,
        "the cheater's whole side and the HTLCs: {claimed}"
    );

    // A few more blocks: the cheater's delayed output would have matured; she got nothing.
    alice.mine(6, &burn_address()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        alice.confirmed_sat().await,
        alice_before,
        "the cheater got nothing back"
    );

    // The hub comes back: it finds the revoked outputs already taken by the tower's justice
    // transaction and sweeps its to_remote. Its wallet gains exactly what its record says:
    // the justice output and the swept to_remote.
    let hub = start_hub(&hub_dir, &alice, &tower.addr()).await;
    let deadline = Instant::now() + PATIENCE;
    let res = loop {
        let r = hub.channel(&id).await["resolution"].clone();
        if !r.is_null() {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the hub never resolved the channel"
        );
        alice.mine(1, &burn_address()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(res["spend"], "revoked", "{res:#}");
    let justice_txid = justice.compute_txid().to_string();
    for o in res["outputs"].as_array().unwrap() {
        assert_eq!(o["ours"], true, "{res:#}");
        if o["kind"] != "to_remote" {
            assert_eq!(o["spent_by"], justice_txid.as_str(), "{res:#}");
        }
    }
    let received = res["received_sat"].as_u64().unwrap();
    assert!(received > paid && received < paid + to_remote, "{res:#}");
    assert_eq!(hub.confirmed_sat().await, hub_before + received);
    let listed = hub.api.get("/v1/onchain/transactions").await.unwrap();
    let entry = listed["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["txid"] == justice_txid.as_str())
        .unwrap_or_else(|| panic!("the justice transaction is the hub wallet's: {listed:#}"));
    assert_eq!(entry["received_sat"], paid);
    assert_eq!(entry["block_height"], justice_height);

    hub.node.shutdown().await;
    tower.stop();
    alice.node.shutdown().await;
}

/// A port nobody listens on now, for a tower that must keep its address across restarts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn key(b: u8) -> SecretKey {
    SecretKey::from_slice(&[b; 32]).unwrap()
}

/// A well-formed blob (for a made-up commitment).
fn some_blob(n: u8) -> (Hint, Vec<u8>) {
    let breach = Txid::from_byte_array([n; 32]);
    let tx = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![],
        output: vec![],
    };
    (Hint::of(&breach), seal(&breach, &tx).unwrap())
}

async fn upload(c: &mut Conn<tokio::net::TcpStream>, n: u8) -> TowerAck {
    let (hint, blob) = some_blob(n);
    c.send(&TowerUpload::new(hint, blob).encode().unwrap())
        .await
        .unwrap();
    match TowerMessage::decode(&c.recv().await.unwrap()).unwrap() {
        TowerMessage::Ack(a) => {
            assert_eq!(a.hint, hint);
            a
        }
        other => panic!("{other:?}"),
    }
}

/// The warning a refused client reads right after `init`; then the tower hangs up.
async fn refusal(mut c: Conn<tokio::net::TcpStream>) -> String {
    let m = tokio::time::timeout(Duration::from_secs(10), c.recv())
        .await
        .unwrap()
        .unwrap();
    let text = match TowerMessage::decode(&m).unwrap() {
        TowerMessage::Other(m) => match *m {
            chanhub::wire::Message::Warning(w) => w.0.printable_data().unwrap().to_string(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    assert!(c.recv().await.is_err(), "closed after the warning");
    text
}

/// A well-formed blob for a made-up commitment, whose justice transaction carries `pad`
/// bytes of output script (its size steps by 1 KiB).
fn padded_blob(n: u8, pad: usize) -> (Hint, Vec<u8>) {
    let breach = Txid::from_byte_array([n; 32]);
    let tx = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![],
        output: vec![bitcoin::TxOut {
            value: bitcoin::Amount::ZERO,
            script_pubkey: bitcoin::ScriptBuf::from(vec![0x6a; pad]),
        }],
    };
    (Hint::of(&breach), seal(&breach, &tx).unwrap())
}

async fn upload_blob(
    c: &mut Conn<tokio::net::TcpStream>,
    (hint, blob): (Hint, Vec<u8>),
) -> TowerAck {
    c.send(&TowerUpload::new(hint, blob).encode().unwrap())
        .await
        .unwrap();
    match TowerMessage::decode(&c.recv().await.unwrap()).unwrap() {
        TowerMessage::Ack(a) => {
            assert_eq!(a.hint, hint);
            a
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tower_serves_only_its_clients_within_their_quotas() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let chain = start(&tmp.path().join("chain"), None).await;
    let secp = Secp256k1::new();
    let clients = tmp.path().join("clients");
    std::fs::write(
        &clients,
        format!(
            "# who this tower serves\n{}  # the hub\n\n{}\n",
            key(1).public_key(&secp),
            key(2).public_key(&secp)
        ),
    )
    .unwrap();
    let tower = TowerProc::start(
        &tmp.path().join("tower"),
        &chain,
        0,
        &[
            "--max-blobs-per-client",
            "2",
            "--max-clients",
            "1",
            "--max-bytes-per-client",
            "3000",
            "--authorized-clients-file",
            clients.to_str().unwrap(),
        ],
    );
    let addr = tower.json.listen_addr.to_string();
    let regtest = bitcoin::constants::ChainHash::REGTEST;
    let patience = Duration::from_secs(10);

    // A client that does not know the tower's key cannot even finish the handshake.
    let wrong = key(9).public_key(&secp);
    assert!(Conn::connect(&addr, key(1), wrong, regtest, patience)
        .await
        .is_err());
    // Nor can one that speaks something else: the tower closes on it.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(&[0u8; 50]).await.unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(patience, s.read(&mut buf)).await;
        assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
    }
    // A client on another chain is refused in init.
    assert!(Conn::connect(
        &addr,
        key(1),
        tower.id(),
        bitcoin::constants::ChainHash::BITCOIN,
        patience
    )
    .await
    .is_err());
    // A client not on the list learns why, and nothing of it is kept.
    let stranger = Conn::connect(&addr, key(3), tower.id(), regtest, patience)
        .await
        .unwrap();
    let why = refusal(stranger).await;
    assert_eq!(
        why,
        format!(
            "this tower does not serve node {}: it is not on the tower's list of authorized clients",
            key(3).public_key(&secp)
        )
    );

    // A listed client gets two blobs stored, then a clear refusal; first its bytes.
    let mut a = Conn::connect(&addr, key(1), tower.id(), regtest, patience)
        .await
        .unwrap();
    let ack = upload(&mut a, 1).await;
    assert_eq!((ack.code, ack.remaining), (AckCode::Stored, Some(1)));
    let big = padded_blob(2, 1500);
    assert_eq!(big.1.len(), 2077);
    let ack = upload_blob(&mut a, big).await;
    assert_eq!(ack.code, AckCode::QuotaExceeded);
    assert_eq!(
        ack.message.as_deref(),
        Some("this tower keeps at most 3000 bytes of blobs per client; you hold 1053 and this blob is 2077")
    );
    let ack = upload(&mut a, 2).await;
    assert_eq!((ack.code, ack.remaining), (AckCode::Stored, Some(0)));
    let ack = upload(&mut a, 3).await;
    assert_eq!(ack.code, AckCode::QuotaExceeded);
    assert_eq!(
        ack.message.as_deref(),
        Some("this tower keeps at most 2 blobs per client and you hold 2")
    );
    // Replacing a blob it holds is still allowed.
    assert_eq!(upload(&mut a, 2).await.code, AckCode::Stored);
    // A second client is one too many.
    let mut b = Conn::connect(&addr, key(2), tower.id(), regtest, patience)
        .await
        .unwrap();
    let ack = upload(&mut b, 1).await;
    assert_eq!(ack.code, AckCode::QuotaExceeded);
    assert_eq!(
        ack.message.as_deref(),
        Some("this tower serves at most 1 clients")
    );
    // Refusals end nothing: the first client is still served.
    assert_eq!(upload(&mut a, 1).await.code, AckCode::Stored);
    let log = tower.log_text();
    assert!(log.contains("client over its quota"), "{log}");
    assert!(log.contains("client over its byte quota"), "{log}");
    assert!(log.contains("connection refused in setup"), "{log}");
    assert!(log.contains("client not authorized; refused"), "{log}");
    assert!(log.contains("serves=2 authorized clients"), "{log}");
    tower.stop();

    // --public serves anyone; with neither a list nor --public, nobody is.
    let public = TowerProc::start(&tmp.path().join("public"), &chain, 0, &["--public"]);
    let addr = public.json.listen_addr.to_string();
    let mut c = Conn::connect(&addr, key(3), public.id(), regtest, patience)
        .await
        .unwrap();
    assert_eq!(upload(&mut c, 1).await.code, AckCode::Stored);
    public.stop();
    let closed = TowerProc::start(&tmp.path().join("closed"), &chain, 0, &[]);
    let addr = closed.json.listen_addr.to_string();
    let c = Conn::connect(&addr, key(1), closed.id(), regtest, patience)
        .await
        .unwrap();
    assert!(refusal(c).await.contains("not on the tower's list"));
    let log = closed.log_text();
    assert!(log.contains("every client will be refused"), "{log}");
    closed.stop();
    chain.node.shutdown().await;
}

/// How many lines of `log` contain `what`.
fn lines_with(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}

/// Waits until the tower's log has at least `n` lines containing `what`.
async fn wait_log(tower: &TowerProc, what: &str, n: usize) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let log = tower.log_text();
        if lines_with(&log, what) >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waiting for {n} {what:?}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_blobs_cost_their_client_idle_clients_are_forgotten_and_rebroadcasts_are_capped() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let chain = start(&tmp.path().join("chain"), None).await;
    fund(&chain).await;
    let tower = TowerProc::start(
        &tmp.path().join("tower"),
        &chain,
        0,
        &[
            "--public",
            "--max-clients",
            "4",
            "--max-bad-blobs-per-client",
            "1",
            "--forget-idle-clients-after",
            "5s",
            "--max-rebroadcasts-per-block",
            "1",
        ],
    );
    let addr = tower.json.listen_addr.to_string();
    let regtest = bitcoin::constants::ChainHash::REGTEST;
    let patience = Duration::from_secs(10);
    let connect = |k: u8| Conn::connect(&addr, key(k), tower.id(), regtest, patience);

    // A transaction waits in the mempool; four clients hold blobs under its hint.
    let sent = chain
        .api
        .post(
            "/v1/onchain/send",
            json!({"address": burn_address(), "amount_sat": 100_000}),
        )
        .await
        .unwrap();
    let t: Txid = sent["txid"].as_str().unwrap().parse().unwrap();
    let spending = |outpoint: bitcoin::OutPoint| Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: outpoint,
            ..Default::default()
        }],
        output: vec![bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(1_000),
            script_pubkey: bitcoin::ScriptBuf::new(),
        }],
    };
    // Client 1's blob holds a transaction that spends something else: a bad blob.
    let stray = spending(bitcoin::OutPoint::new(Txid::from_byte_array([5; 32]), 0));
    let mut c1 = connect(1).await.unwrap();
    let ack = upload_blob(&mut c1, (Hint::of(&t), seal(&t, &stray).unwrap())).await;
    assert_eq!(ack.code, AckCode::Stored);
    // Clients 2 to 4 hold transactions that spend it, but outputs it does not have: the
    // chain refuses them at every block, and the tower tries again.
    let mut justice = Vec::new();
    for k in 2..=4u8 {
        let j = spending(bitcoin::OutPoint::new(t, 90 + u32::from(k)));
        justice.push(j.compute_txid().to_string());
        let mut c = connect(k).await.unwrap();
        let ack = upload_blob(&mut c, (Hint::of(&t), seal(&t, &j).unwrap())).await;
        assert_eq!(ack.code, AckCode::Stored);
    }
    let mut c5 = connect(5).await.unwrap();
    assert_eq!(
        upload(&mut c5, 1).await.code,
        AckCode::QuotaExceeded,
        "four clients"
    );

    chain.mine(1, &burn_address()).await;
    wait_log(&tower, "breach detected", 3).await;
    wait_log(&tower, "bad blob was dropped", 1).await;
    // Client 1 crossed its limit of bad blobs: it is refused, on its open connection at its
    // next upload, and at once when it connects again.
    c1.send(
        &TowerUpload::new(Hint([7; 16]), some_blob(7).1)
            .encode()
            .unwrap(),
    )
    .await
    .unwrap();
    let why = refusal(c1).await;
    assert!(why.contains("no longer serves"), "{why}");
    let why = refusal(connect(1).await.unwrap()).await;
    assert!(
        why.contains("1 of its blobs held nothing that spends"),
        "{why}"
    );

    // One justice transaction tried per block, each in turn.
    const REFUSED: &str = "justice transaction refused";
    wait_log(&tower, REFUSED, 1).await;
    for n in 2..=4 {
        chain.mine(1, &burn_address()).await;
        wait_log(&tower, REFUSED, n).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = tower.log_text();
    assert_eq!(lines_with(&log, REFUSED), 4, "{log}");
    for j in &justice {
        assert!(
            log.lines()
                .any(|l| l.contains(REFUSED) && l.contains(j.as_str())),
            "{j} had its turn:\n{log}"
        );
    }
    assert!(log.contains("wait for the next block"), "{log}");

    // Client 1 holds no blob any more: after 5 s it is forgotten, and its slot is free.
    wait_log(&tower, "forgot clients that held no blob", 1).await;
    let mut c5 = connect(5).await.unwrap();
    assert_eq!(upload(&mut c5, 1).await.code, AckCode::Stored);
    tower.stop();
    chain.node.shutdown().await;
}
