//! Channels between two in-process nodes over real sockets on one embedded chain: open through
//! the API, random updates both ways, cooperative close with the wallets checked to the
//! satoshi; restarts in the middle of a channel.
//!
//! `CHANHUB_CHANNEL_UPDATES` sets the number of updates of the long run (default 1,000,
//! about 15 s in a debug build).

mod channels_support;
#[path = "channels/jit.rs"]
mod jit;
mod peers_support;

use bitcoin::constants::ChainHash;
use chanhub::keys::{KeysManager, Seed};
use chanhub::wire::{ChannelReestablish, Message};
use channels_support::*;
use peers_support::RawPeer;
use serde_json::json;

const CAPACITY_SAT: u64 = 1_000_000;
const PUSH_MSAT: u64 = 300_000_000;

fn updates_wanted() -> usize {
    std::env::var("CHANHUB_CHANNEL_UPDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn initial() -> Expected {
    Expected {
        a_msat: CAPACITY_SAT * 1000 - PUSH_MSAT,
        b_msat: PUSH_MSAT,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_update_both_ways_and_close_cooperatively() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let a = start(&tmp.path().join("a"), None).await;
    let b = start(&tmp.path().join("b"), Some(&a)).await;
    fund(&a).await;

    for (n, channel_type) in ["anchors", "static_remotekey"].into_iter().enumerate() {
        let id = open_active(&a, &b, CAPACITY_SAT, PUSH_MSAT, channel_type).await;
        let c = b.channel(&id).await;
        assert_eq!(c["local_msat"], PUSH_MSAT);
        assert_eq!(c["peer_node_id"], a.id());
        let bal = a.api.get("/v1/balance").await.unwrap();
        assert_eq!(bal["channels_local_msat"], CAPACITY_SAT * 1000 - PUSH_MSAT);

        let mut traffic = Traffic::new(&id, initial());
        // The long run on the first channel; a shorter one shows the other type works.
        let want = if n == 0 { updates_wanted() } else { 40 };
        let started = std::time::Instant::now();
        while traffic.updates < want {
            traffic.round(&a, &b).await;
        }
        traffic.settle(&a, &b).await;
        eprintln!(
            "{channel_type}: {} updates ({} update_fee) in {:?}",
            traffic.updates,
            traffic.fee_updates,
            started.elapsed()
        );
        // Each side signed each of the peer's commitment numbers once, without gaps.
        for node in [&a, &b] {
            let numbers = node
                .node
                .channels()
                .signed_commitment_numbers(traffic.channel_id)
                .await
                .unwrap();
            let want: Vec<u64> = (0..numbers.len() as u64).collect();
            assert_eq!(numbers, want);
            assert!(numbers.len() > 10);
        }
        close_and_check(&a, &b, &traffic, n == 0).await;
    }
    b.node.shutdown().await;
    a.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_resume_after_clean_restarts_of_both_nodes() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let a = start(&dir_a, None).await;
    let b = start(&dir_b, Some(&a)).await;
    fund(&a).await;
    let id = open_active(&a, &b, CAPACITY_SAT, PUSH_MSAT, "anchors").await;
    let mut traffic = Traffic::new(&id, initial());
    for _ in 0..5 {
        traffic.round(&a, &b).await;
    }
    traffic.settle(&a, &b).await;

    // Both down; the follower comes back on the chain node's new RPC port, on its old peer
    // address (A, the opener, remembers it).
    let b_addr = b.node.node_json.peer_addr;
    b.node.shutdown().await;
    a.node.shutdown().await;
    let a = start(&dir_a, None).await;
    let b = start_on(&dir_b, Some(&a), b_addr).await;
    // A redials B (it opened to B's address); both reestablish.
    for n in [&a, &b] {
        n.wait_channel(&id, "reestablished", |c| {
            c["state"] == "active" && c["peer_connected"] == true
        })
        .await;
    }
    traffic.settle(&a, &b).await;
    for _ in 0..5 {
        traffic.round(&a, &b).await;
    }
    traffic.settle(&a, &b).await;

    // Only B restarts this time, while A stays up.
    b.node.shutdown().await;
    let b = start_on(&dir_b, Some(&a), b_addr).await;
    b.wait_channel(&id, "reestablished", |c| c["peer_connected"] == true)
        .await;
    for _ in 0..5 {
        traffic.round(&a, &b).await;
    }
    traffic.settle(&a, &b).await;
    close_and_check(&a, &b, &traffic, false).await;
    b.node.shutdown().await;
    a.node.shutdown().await;
}

/// The first `channel_reestablish` the node sends on a connection (skipping its other
/// messages), or `None` if it sends none before going quiet.
fn reestablish_on(peer: &mut RawPeer) -> Option<ChannelReestablish> {
    loop {
        match peer.recv()? {
            Message::ChannelReestablish(r) => return Some(r),
            _ => continue,
        }
    }
}

/// BOLT 2 reestablishes on every connection. A second connection of the same node replaces
/// the first, which may have died before the peer read a word of ours (the peer dialled twice
/// at start, say): the channel must reestablish on the newer one too, or both sides wait
/// forever for each other's `channel_reestablish`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacing_connection_gets_its_own_reestablish() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    // B runs the chain: A restarts below.
    let b = start(&dir_b, None).await;
    let a = start(&dir_a, Some(&b)).await;
    fund(&a).await;
    let id = open_active(&a, &b, CAPACITY_SAT, PUSH_MSAT, "anchors").await;
    let mut traffic = Traffic::new(&id, initial());
    traffic.round(&a, &b).await;
    traffic.settle(&a, &b).await;

    // A goes down; a raw peer with A's node key stands in for it, twice over, without
    // ever answering: B reestablishes on each connection, the same numbers each time.
    a.node.shutdown().await;
    b.wait_channel(&id, "b notices", |c| c["peer_connected"] == false)
        .await;
    let (seed, _) = Seed::load_or_create(&dir_a).unwrap();
    let key = *KeysManager::new(&seed, bitcoin::Network::Regtest).node_secret();
    let (addr, node) = (b.peer_addr(), b.id().parse().unwrap());
    let (first, second) = tokio::task::spawn_blocking(move || {
        let mut first = RawPeer::connect_as(&addr, node, key, ChainHash::REGTEST);
        let on_first = reestablish_on(&mut first).expect("a reestablish on the first connection");
        let mut second = RawPeer::connect_as(&addr, node, key, ChainHash::REGTEST);
        let on_second = reestablish_on(&mut second).expect("a reestablish on the newer one");
        // The first connection is closed for the newer one.
        assert!(first
            .until_closed()
            .iter()
            .all(|m| !matches!(m, Message::ChannelReestablish(_))));
        (on_first, on_second)
    })
    .await
    .unwrap();
    assert_eq!(hex::encode(first.channel_id.0), id);
    assert_eq!(first, second);

    // A itself comes back: the channel resumes and moves.
    let a = start(&dir_a, Some(&b)).await;
    for n in [&a, &b] {
        n.wait_channel(&id, "reestablished", |c| c["peer_connected"] == true)
            .await;
    }
    traffic.round(&a, &b).await;
    traffic.settle(&a, &b).await;
    close_and_check(&a, &b, &traffic, true).await;
    b.node.shutdown().await;
    a.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_close_puts_our_commitment_on_chain_and_the_peer_follows() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let a = start(&tmp.path().join("a"), None).await;
    let b = start(&tmp.path().join("b"), Some(&a)).await;
    fund(&a).await;
    let id = open_active(&a, &b, CAPACITY_SAT, PUSH_MSAT, "anchors").await;
    let mut traffic = Traffic::new(&id, initial());
    traffic.round(&a, &b).await;
    traffic.settle(&a, &b).await;

    let closed = a
        .api
        .post(
            &format!("/v1/channels/{id}/close"),
            json!({ "force": true }),
        )
        .await
        .unwrap();
    assert_eq!(closed["state"], "closing");
    assert_eq!(closed["phase"], "force_closing");
    // The peer hears our `error` and fails the channel too; both commitments spend the same
    // funding output, and whichever confirms closes the channel on both sides.
    let c = b
        .wait_channel(&id, "peer failed the channel", |c| c["state"] == "closing")
        .await;
    assert_eq!(c["phase"], "force_closing");
    a.mine(1, &burn_address()).await;
    for n in [&a, &b] {
        n.wait_channel(&id, "closed", |c| c["state"] == "closed")
            .await;
    }
    let again = a
        .api
        .post(
            &format!("/v1/channels/{id}/close"),
            json!({ "force": true }),
        )
        .await
        .unwrap_err();
    assert!(again.to_string().contains("channel_refused"), "{again}");
    for n in [a, b] {
        n.node.shutdown().await;
    }
}

/// An anchors channel's commitment and HTLC transactions are fee-bumped from a wallet coin:
/// the hub refuses to open one that would leave less than the on-chain reserve (25,000 sat
/// per anchors channel) in its wallet, before anything is sent; static_remotekey needs none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anchors_open_keeps_the_on_chain_reserve() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let a = start(&tmp.path().join("a"), None).await;
    let b = start(&tmp.path().join("b"), Some(&a)).await;
    fund(&a).await;
    let to_b = b.new_address().await;
    a.api
        .post(
            "/v1/onchain/send",
            json!({ "address": to_b, "amount_sat": 120_000 }),
        )
        .await
        .unwrap();
    a.mine(1, &burn_address()).await;
    b.wait_confirmed(120_000).await;

    let open = |channel_type: &str| {
        b.api.post(
            "/v1/channels",
            json!({
                "node_id": a.id(), "addr": a.peer_addr(), "capacity_sat": 100_000,
                "channel_type": channel_type,
            }),
        )
    };
    let err = open("anchors").await.unwrap_err().to_string();
    assert!(
        err.contains("invalid_channel_parameters") && err.contains("on-chain reserve"),
        "{err}"
    );
    let listed = b.api.get("/v1/channels").await.unwrap();
    assert_eq!(
        listed["channels"].as_array().unwrap().len(),
        0,
        "nothing opened"
    );
    let opened = open("static_remotekey").await.unwrap();
    assert_eq!(opened["channel_id"].as_str().unwrap().len(), 64);
}

/// `"announce": true` needs the node to have an address to announce (400 otherwise, nothing
/// opened); with one, `announce_channel` reaches the peer and both sides show the channel as
/// announced; a private open stays private.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_opens_need_an_address_and_show_on_both_sides() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let a = start_config(chanhub::config::NodeConfig {
        announce_addrs: vec!["203.0.113.7:9735".parse().unwrap()],
        ..node_config(&dir, None, "127.0.0.1:0".parse().unwrap(), false)
    })
    .await;
    let b = start(&tmp.path().join("b"), Some(&a)).await;
    fund(&a).await;

    let err = b
        .api
        .post(
            "/v1/channels",
            json!({ "node_id": a.id(), "addr": a.peer_addr(), "capacity_sat": 100_000, "announce": true }),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid_request") && err.contains("--announce-addr"),
        "{err}"
    );
    let listed = b.api.get("/v1/channels").await.unwrap();
    assert_eq!(listed["channels"], json!([]), "nothing opened");

    for announce in [true, false] {
        let opened = a
            .api
            .post(
                "/v1/channels",
                json!({
                    "node_id": b.id(), "addr": b.peer_addr(), "capacity_sat": 200_000,
                    "channel_type": "static_remotekey", "announce": announce,
                }),
            )
            .await
            .unwrap();
        let id = opened["channel_id"].as_str().unwrap();
        assert_eq!(a.channel(id).await["announce"], announce);
        assert_eq!(b.channel(id).await["announce"], announce, "the acceptor");
    }
    b.node.shutdown().await;
    a.node.shutdown().await;
}

/// Sets what the embedded chain's `estimatesmartfee` answers (sat/vB) and mines a block.
async fn set_fee_estimate(chain: &TestNode, sat_per_vb: u32) {
    let url = format!("http://{}", chain.node.node_json.chain_rpc_addr.unwrap());
    let cookie = chain.node.node_json.chain_rpc_cookie.clone().unwrap();
    tokio::task::spawn_blocking(move || {
        use bitcoincore_rpc::RpcApi;
        let c =
            bitcoincore_rpc::Client::new(&url, bitcoincore_rpc::Auth::CookieFile(cookie)).unwrap();
        c.call::<serde_json::Value>("setfeeestimate", &[json!(sat_per_vb)])
            .unwrap();
    })
    .await
    .unwrap();
    chain.mine(1, &burn_address()).await;
}

/// The opener's commitment feerate follows the chain's estimate on new blocks, on both channel
/// types, with hysteresis: up past +20 %, down past half.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openers_commitment_feerate_follows_the_estimate() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let a = start(&tmp.path().join("a"), None).await;
    let b = start(&tmp.path().join("b"), Some(&a)).await;
    fund(&a).await;
    let ids = [
        open_active(&a, &b, CAPACITY_SAT, PUSH_MSAT, "anchors").await,
        open_active(&a, &b, CAPACITY_SAT, PUSH_MSAT, "static_remotekey").await,
    ];
    let feerate = |want: u64| move |c: &serde_json::Value| c["feerate_per_kw"] == want;
    for id in &ids {
        assert_eq!(a.channel(id).await["feerate_per_kw"], 253);
    }
    // 20 sat/vB = 5,000 sat/kw: both sides' commitments move there.
    set_fee_estimate(&a, 20).await;
    for id in &ids {
        for n in [&a, &b] {
            n.wait_channel(id, "the feerate rose", feerate(5_000)).await;
        }
    }
    // 12 sat/vB = 3,000 sat/kw is not below half: nothing moves.
    set_fee_estimate(&a, 12).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    for id in &ids {
        assert_eq!(a.channel(id).await["feerate_per_kw"], 5_000);
    }
    // 4 sat/vB = 1,000 sat/kw is: down it goes.
    set_fee_estimate(&a, 4).await;
    for id in &ids {
        for n in [&a, &b] {
            n.wait_channel(id, "the feerate fell", feerate(1_000)).await;
        }
    }
    // The channels still pay.
    let mut traffic = Traffic::new(&ids[1], initial());
    traffic.round(&a, &b).await;
    traffic.settle(&a, &b).await;
}
