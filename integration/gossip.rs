//! BOLT 7 between `chanhub node` processes on one embedded chain, through the CLI: two hubs
//! announce the channel between them, a third node that shares no channel with them learns
//! both announcements and both directions' updates by gossip alone, keeps them across a
//! restart, and hears a policy change relayed.

mod common;

use common::*;
use serde_json::Value;

/// Gossip goes out every second (the stagger is 60 s by default).
fn configure(dir: &std::path::Path, alias: &str, color: &str, port: u16) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("chanhub.toml"),
        format!(
            "alias = \"{alias}\"\ncolor = \"{color}\"\nannounce_addr = [\"127.0.0.1:{port}\"]\n\
             sync_interval_ms = 200\n[gossip]\nstagger_secs = 1\n"
        ),
    )
    .unwrap();
}

fn graph(n: &NodeProc) -> Value {
    n.cli_json(&["graph"])
}

fn id(n: &NodeProc) -> String {
    n.json["node_id"].as_str().unwrap().to_string()
}

/// Both directions' policies of `scid` as `n` knows them.
fn policies(n: &NodeProc, scid: &str) -> (Value, Value) {
    let c = n.cli_json(&["graph", "channel", scid]);
    (c["node1_policy"].clone(), c["node2_policy"].clone())
}

#[test]
fn two_hubs_announce_and_a_third_node_learns_the_graph_by_gossip_alone() {
    let mut tmp = tempfile::tempdir().unwrap();
    if std::env::var_os("CHANHUB_KEEP_TEST_DIR").is_some() {
        tmp.disable_cleanup(true);
        eprintln!("test directory: {}", tmp.path().display());
    }
    let (dir_a, dir_b, dir_c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let (port_a, port_b, port_c) = (free_port(), free_port(), free_port());
    configure(&dir_a, "hub-a", "#aa0000", port_a);
    configure(&dir_b, "hub-b", "#00bb00", port_b);
    configure(&dir_c, "watcher", "#0000cc", port_c);
    let a = NodeProc::start(&dir_a, &["--listen", &format!("127.0.0.1:{port_a}")]);
    let b = start_follower(&dir_b, &a, port_b);
    let c = start_follower(&dir_c, &a, port_c);

    let addr = a.new_address();
    a.cli_json(&["chain", "mine", "1", "--address", &addr]);
    a.cli_json(&["chain", "mine", "100", "--address", &burn_address()]);
    let b_uri = format!("{}@127.0.0.1:{port_b}", id(&b));
    let opened = a.cli_json(&["open", &b_uri, "500000", "--announce"]);
    let channel_id = opened["channel_id"].as_str().unwrap().to_string();
    assert_eq!(a.cli_json(&["channel", &channel_id])["announce"], true);
    // Ready at 3 confirmations; announced at 6.
    a.cli_json(&["chain", "mine", "6", "--address", &burn_address()]);

    // Each hub assembles the announcement with the other's signatures and learns the other's
    // update and node announcement from it.
    let mut scid = String::new();
    for hub in [&a, &b] {
        wait("the hub's own public channel in its graph", || {
            let g = graph(hub);
            g["channel_count"] == 1 && g["node_count"] == 2 && g["announced_node_count"] == 2
        });
        let g = graph(hub);
        assert_eq!(g["node"]["node_id"], id(hub));
        let ours = &g["channels"][0];
        scid = ours["short_channel_id"].as_u64().unwrap().to_string();
        assert_eq!(ours["capacity_sat"], 500_000);
        wait("both directions' updates", || {
            let (p1, p2) = policies(hub, &scid);
            !p1.is_null() && !p2.is_null()
        });
    }
    // The channel JSON names the real scid once public; `BLOCKxTXxOUT` finds it too.
    let by_str = a.cli_json(&["graph", "channel", &scid])["short_channel_id_str"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        a.cli_json(&["graph", "channel", &by_str])["short_channel_id"]
            .as_u64()
            .unwrap()
            .to_string(),
        scid
    );

    // The third node knows nobody's channels: it connects to A only, and learns everything.
    assert_eq!(graph(&c)["channel_count"], 0);
    c.cli_json(&["connect", &format!("{}@127.0.0.1:{port_a}", id(&a))]);
    wait("the watcher learns the channel and both nodes", || {
        let g = graph(&c);
        g["channel_count"] == 1 && g["announced_node_count"] == 2
    });
    wait("and both directions' updates", || {
        let (p1, p2) = policies(&c, &scid);
        !p1.is_null() && !p2.is_null()
    });
    let node_b = c.cli_json(&["graph", "node", &id(&b)]);
    assert_eq!(node_b["alias"], "hub-b");
    assert_eq!(node_b["color"], "#00bb00");
    assert_eq!(node_b["addresses"][0], format!("127.0.0.1:{port_b}"));
    assert_eq!(c.cli_json(&["graph", "node", &id(&a)])["alias"], "hub-a");

    // B raises its fee: the new update reaches the watcher through A.
    b.cli_json(&["policy", "--ppm", "777"]);
    wait("the relayed policy change", || {
        let (p1, p2) = policies(&c, &scid);
        [p1, p2]
            .iter()
            .any(|p| p["fee_proportional_millionths"] == 777)
    });

    // The graph survives a restart: it is there before any peer reconnects.
    let before = graph(&c);
    c.stop();
    let c = start_follower(&dir_c, &a, port_c);
    let after = graph(&c);
    assert_eq!(after["channel_count"], before["channel_count"]);
    assert_eq!(
        after["announced_node_count"],
        before["announced_node_count"]
    );
    let (p1, p2) = policies(&c, &scid);
    assert!([p1, p2]
        .iter()
        .any(|p| p["fee_proportional_millionths"] == 777));
}
