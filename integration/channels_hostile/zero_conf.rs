//! A peer the hub trusts with zero-conf opens a channel whose funding it never broadcasts: the
//! channel is in use at once, and after 2016 blocks with no funding the hub gives it up
//! (aborted, `funding_lost` unconfirmed, an `error` to the peer) rather than wait for ever.

use std::time::{Duration, Instant};

use serde_json::json;

use super::channels_support as cs;
use super::peers_support::secret;
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_fundee_a_zero_conf_funding_never_seen_is_given_up_after_2016_blocks() {
    cs::init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let mut config = cs::node_config(
        &tmp.path().join("hub"),
        None,
        "127.0.0.1:0".parse().unwrap(),
        false,
    );
    let funder = secret(0x41).public_key(&bitcoin::secp256k1::Secp256k1::new());
    config.zeroconf_peers = vec![funder];
    let hub = cs::start_config(config).await;
    let (addr, hub_id) = (hub.peer_addr(), hub.id().parse().unwrap());
    let mut peer =
        tokio::task::spawn_blocking(move || funder_never_broadcasting(&addr, hub_id, true))
            .await
            .unwrap();
    let list = hub.api.get("/v1/channels").await.unwrap();
    let id = list["channels"][0]["channel_id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = hub
        .wait_channel(&id, "in use before any confirmation", |c| {
            c["state"] == "active"
        })
        .await;
    assert_eq!(c["zero_conf"], true);
    // The count starts at the first block the hub sees with the channel signed.
    hub.mine(1, &cs::burn_address()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for n in [1000, 1000, 15] {
        hub.mine(n, &cs::burn_address()).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(hub.channel(&id).await["state"], "active", "given up early");
    hub.mine(1, &cs::burn_address()).await;
    let c = hub
        .wait_channel(&id, "given up", |c| c["state"] == "closed")
        .await;
    assert_eq!(c["phase"], "aborted");
    assert_eq!(
        c["funding_lost"],
        json!({ "reason": "unconfirmed", "blocks": 2016 })
    );
    let deadline = Instant::now() + cs::PATIENCE;
    let said = tokio::task::spawn_blocking(move || loop {
        assert!(Instant::now() < deadline, "no error");
        match peer.recv() {
            Some(chanhub::wire::Message::Error(e)) => {
                break e.0.printable_data().unwrap().to_string()
            }
            Some(_) => continue,
            None => panic!("connection closed"),
        }
    })
    .await
    .unwrap();
    assert!(said.contains("2016 blocks"), "{said}");
    // Kept, closed: no event of a double spend, nothing for the balance.
    let b = hub.api.get("/v1/balance").await.unwrap();
    assert_eq!(b["channels_local_msat"], 0);
}
