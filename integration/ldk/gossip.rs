//! BOLT 7 with LDK: an LDK wallet opens an announced channel to the hub; after 6 blocks each
//! side announces it, and each learns the other's `channel_announcement`, `channel_update`
//! and `node_announcement`. The graphs agree.

use super::*;

/// LDK rebroadcasts its node announcement at most every 30 s once it has a public channel, and
/// its other gossip is on timers too: what a test waits for gossip to carry.
pub(super) const GOSSIP_PATIENCE: Duration = Duration::from_secs(150);

/// Waits up to [`GOSSIP_PATIENCE`] for `cond`.
pub(super) async fn wait_long<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + GOSSIP_PATIENCE;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldk_and_the_hub_learn_each_others_announcements() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let chain = start_payments(&tmp.path().join("chain"), None).await;
    let mut config = node_config(
        &tmp.path().join("hub"),
        Some(&chain),
        "127.0.0.1:0".parse().unwrap(),
        false,
    );
    config.alias = "interop-hub".into();
    config.color = [0x12, 0x34, 0x56];
    // The port is chosen at bind time: announce a fixed one.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    config.listen = format!("127.0.0.1:{port}").parse().unwrap();
    config.announce_addrs = vec![format!("127.0.0.1:{port}").parse().unwrap()];
    let hub = start_config(config).await;
    let w = start_ldk(
        "gossiper",
        &tmp.path().join("gossiper"),
        &chain,
        LdkChannels::Anchors,
    );
    fund_ldk(&chain, &[&w]).await;

    let hub_id: bitcoin::secp256k1::PublicKey = hub.id().parse().unwrap();
    w.node
        .open_announced_channel(
            hub_id,
            hub.peer_addr().parse().unwrap(),
            400_000,
            None,
            None,
        )
        .expect("ldk opens an announced channel");
    let id = w
        .expect_event("ChannelPending", |e| match e {
            Event::ChannelPending { channel_id, .. } => Some(channel_id.to_string()),
            _ => None,
        })
        .await;
    hub.wait_channel(&id, "the hub records an announced channel", |c| {
        c["announce"] == true
    })
    .await;
    chain.mine(6, &burn_address()).await;
    hub.wait_channel(&id, "active", |c| c["state"] == "active")
        .await;

    // The hub's graph: the channel, both directions, and LDK's node announcement.
    let ldk_id = w.id().to_string();
    wait_long("the hub learns LDK's announcements", || async {
        let Ok(n) = hub.api.get(&format!("/v1/graph/nodes/{ldk_id}")).await else {
            return false;
        };
        let Some(scid) = n["channels"][0].as_u64() else {
            return false;
        };
        let Ok(c) = hub.api.get(&format!("/v1/graph/channels/{scid}")).await else {
            return false;
        };
        n["alias"] == "gossiper" && !c["node1_policy"].is_null() && !c["node2_policy"].is_null()
    })
    .await;
    let g = hub.api.get("/v1/graph").await.unwrap();
    assert_eq!(g["channel_count"], 1);
    assert_eq!(g["node"]["alias"], "interop-hub");
    let ours = g["channels"][0].clone();
    let scid = ours["short_channel_id"].as_u64().unwrap();
    assert_eq!(ours["capacity_sat"], 400_000);

    // LDK's graph: the same channel, both directions, and the hub's node announcement.
    let graph = w.node.network_graph();
    wait_long("LDK learns the hub's announcements", || async {
        let Some(c) = graph.channel(scid) else {
            return false;
        };
        let hub_node = graph
            .list_nodes()
            .into_iter()
            .find(|n| n.as_slice() == hub_id.serialize().as_slice())
            .and_then(|n| graph.node(&n));
        let alias = hub_node
            .and_then(|n| n.announcement_info)
            .map(|a| a.alias().to_string());
        c.one_to_two.is_some() && c.two_to_one.is_some() && alias.as_deref() == Some("interop-hub")
    })
    .await;

    // The graphs agree on the channel's ends, capacity and each side's fees.
    let c = graph.channel(scid).unwrap();
    assert_eq!(c.capacity_sats, Some(400_000));
    let theirs = hub
        .api
        .get(&format!("/v1/graph/channels/{scid}"))
        .await
        .unwrap();
    assert_eq!(hex::encode(c.node_one.as_slice()), theirs["node1"]);
    assert_eq!(hex::encode(c.node_two.as_slice()), theirs["node2"]);
    for (ldk, ours) in [
        (c.one_to_two.as_ref().unwrap(), &theirs["node1_policy"]),
        (c.two_to_one.as_ref().unwrap(), &theirs["node2_policy"]),
    ] {
        assert_eq!(u64::from(ldk.fees.base_msat), ours["fee_base_msat"]);
        assert_eq!(
            u64::from(ldk.fees.proportional_millionths),
            ours["fee_proportional_millionths"]
        );
        assert_eq!(u64::from(ldk.cltv_expiry_delta), ours["cltv_expiry_delta"]);
    }
    w.node.stop().unwrap();
}
