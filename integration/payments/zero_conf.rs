//! Zero-conf channels: the hub opens a channel to a new wallet that trusts it
//! (`zeroconf_peers`), and both pay over it before its funding has a single confirmation. A
//! wallet that does not list the hub refuses the same open.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_conf_channel_pays_both_ways_before_its_funding_confirms() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_payments(&tmp.path().join("hub"), None).await;
    fund(&hub).await;
    let mut config = node_config(
        &tmp.path().join("wallet"),
        Some(&hub),
        "127.0.0.1:0".parse().unwrap(),
        false,
    );
    config.zeroconf_peers = vec![hub.id().parse().unwrap()];
    let wallet = start_config(config).await;
    let stranger = start_payments(&tmp.path().join("stranger"), Some(&hub)).await;

    // The stranger does not trust the hub with zero-conf: refused, nothing opened.
    let refused = hub
        .api
        .post(
            "/v1/channels",
            json!({ "node_id": stranger.id(), "addr": stranger.peer_addr(),
                    "capacity_sat": 500_000, "zero_conf": true }),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("option_zeroconf"), "{refused}");

    let height = hub.api.get("/v1/info").await.unwrap()["block_height"].clone();
    let opened = hub
        .api
        .post(
            "/v1/channels",
            json!({ "node_id": wallet.id(), "addr": wallet.peer_addr(),
                    "capacity_sat": 500_000, "zero_conf": true }),
        )
        .await
        .expect("a trusting wallet accepts");
    let id = opened["channel_id"].as_str().unwrap().to_string();
    for n in [&hub, &wallet] {
        let c = n
            .wait_channel(&id, "active with no confirmation", |c| {
                c["state"] == "active"
            })
            .await;
        assert_eq!(
            (c["zero_conf"].clone(), c["scid_alias"].clone()),
            (json!(true), json!(true))
        );
    }
    // Paid and paid back while the funding waits in the mempool.
    pay_hub(&hub, &wallet, 120_000_000).await;
    pay_hub(&wallet, &hub, 20_000_000).await;
    assert_eq!(
        hub.api.get("/v1/info").await.unwrap()["block_height"],
        height,
        "no block was mined"
    );
    let txid = opened["funding_txid"].as_str().unwrap();
    let info = hub.api.get("/v1/onchain/transactions").await.unwrap();
    let funding = info["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["txid"] == txid)
        .expect("the hub's funding transaction");
    assert_eq!(funding["confirmations"], 0, "{funding}");
    let c = wallet.channel(&id).await;
    assert_eq!(c["local_msat"], 100_000_000u64);

    // Confirmed later, the channel just goes on.
    hub.mine(1, &burn_address()).await;
    pay_hub(&hub, &wallet, 1_000_000).await;
    for n in [stranger, wallet, hub] {
        n.node.shutdown().await;
    }
}
