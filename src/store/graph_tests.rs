use super::*;
use crate::gossip::testkit::{node_announcement, TestChannel, CHAIN, NOW};
use crate::gossip::validate::{FundingCheck, Validator, Verdict};
use crate::gossip::view::{ChannelView, NodeView};
use crate::gossip::GraphQuery;
use crate::store::Store;
use rusqlite::params;

fn txid(scid: ShortChannelId) -> bitcoin::Txid {
    use bitcoin::hashes::Hash;
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&scid.0.to_be_bytes());
    bitcoin::Txid::from_byte_array(b)
}

/// The graph as the API and the relay see it, independent of index order.
fn snapshot(g: &NetworkGraph) -> (Vec<ChannelView>, Vec<NodeView>, Vec<Vec<u8>>) {
    let channels = g
        .channels()
        .map(|(s, c)| ChannelView::of(g, s, c))
        .collect();
    let mut nodes: Vec<NodeView> = g.nodes().iter().map(NodeView::of).collect();
    nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    let mut msgs: Vec<Vec<u8>> = g
        .channels()
        .flat_map(|(s, _)| g.messages_for(s, 0x1f))
        .map(|m| m.encode().unwrap())
        .collect();
    msgs.sort();
    (channels, nodes, msgs)
}

/// A small graph built through the validator; returns it and every change it made.
fn build() -> (NetworkGraph, Vec<GraphChange>) {
    let mut v = Validator::new(CHAIN);
    let mut g = NetworkGraph::new();
    let mut changes = Vec::new();
    let chans = [
        TestChannel::new(1, 2, 500),
        TestChannel::new(2, 3, 501),
        TestChannel::new(3, 4, 502),
    ];
    let peer = crate::gossip::testkit::pk(99);
    for ch in &chans {
        let (a, b) = ch.announcement();
        assert!(matches!(
            v.channel_announcement(&g, &peer, a, b),
            Verdict::CheckFunding(_)
        ));
        let out = ch.funding();
        let check = FundingCheck::Unspent {
            txid: txid(ch.scid),
            script_pubkey: out.script_pubkey,
            amount_sat: out.value.to_sat(),
        };
        let Some((_, Verdict::Accepted(c))) = v.funding_checked(&mut g, ch.scid, check, NOW) else {
            panic!()
        };
        changes.extend(c);
        for dir in 0..2 {
            let (m, b) = ch.update(dir, NOW + u32::from(dir));
            let Verdict::Accepted(c) = v.channel_update(&mut g, m, b, NOW) else {
                panic!()
            };
            changes.extend(c);
        }
    }
    let (m, b) = node_announcement(&chans[0].node_keys[0], NOW, "alpha");
    let Verdict::Accepted(c) = v.node_announcement(&mut g, m, b, NOW) else {
        panic!()
    };
    changes.extend(c);
    // A newer update replaces the row.
    let (m, b) = chans[1].update(0, NOW + 10);
    let Verdict::Accepted(c) = v.channel_update(&mut g, m, b, NOW) else {
        panic!()
    };
    changes.extend(c);
    changes.extend(v.funding_spent(&mut g, chans[2].scid, 800));
    (g, changes)
}

#[test]
fn the_graph_survives_a_reopen_without_reverification() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::store::DB_FILE);
    let (g, changes) = build();
    {
        let store = Store::open(&path).unwrap();
        let before = store.commits();
        store.write_blocking(|c| apply(c, &changes)).unwrap();
        assert_eq!(store.commits() - before, 1, "one transaction for the batch");
    }
    let store = Store::open(&path).unwrap();
    let (loaded, report) = store.blocking(load).unwrap();
    assert_eq!(
        report,
        LoadReport {
            channels: 3,
            updates: 6,
            nodes: 1,
            skipped: 0
        }
    );
    assert_eq!(snapshot(&loaded), snapshot(&g));
    assert_eq!(
        loaded
            .channel(TestChannel::new(3, 4, 502).scid)
            .unwrap()
            .spent_at,
        Some(800)
    );
    assert_eq!(
        loaded.channel_range(0, u32::MAX),
        g.channel_range(0, u32::MAX)
    );

    // Forgetting deletes the channel, its updates (cascade) and the node row.
    let mut g = loaded;
    let mut v = Validator::new(CHAIN);
    let forgotten = v.prune(&mut g, NOW, 872);
    assert_eq!(forgotten.len(), 2, "the spent channel and node 4");
    store.write_blocking(|c| apply(c, &forgotten)).unwrap();
    let (again, _) = store.blocking(load).unwrap();
    assert_eq!(snapshot(&again), snapshot(&g));
    let updates: i64 = store
        .blocking(|c| Ok(c.query_row("SELECT count(*) FROM graph_updates", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(updates, 4);
    // The outpoints to watch: the two unspent channels'.
    let watched = store.blocking(funding_outpoints).unwrap();
    let expect: Vec<_> = [
        TestChannel::new(1, 2, 500).scid,
        TestChannel::new(2, 3, 501).scid,
    ]
    .into_iter()
    .map(|s| {
        (
            s,
            bitcoin::OutPoint::new(txid(s), u32::from(s.output_index())),
        )
    })
    .collect();
    assert_eq!(watched, expect);
}

#[test]
fn rows_that_do_not_decode_are_skipped() {
    let store = Store::open_in_memory().unwrap();
    let (g, changes) = build();
    store.write_blocking(|c| apply(c, &changes)).unwrap();
    let scid = TestChannel::new(1, 2, 500).scid;
    store
        .write_blocking(|c| {
            // A channel whose bytes are garbage, one whose scid does not match its bytes, an
            // update cut short, a node announcement for a node without a channel.
            c.execute(
                "INSERT INTO graph_channels (scid, announcement, capacity_sat, funding_txid,
                                             added_at)
                 VALUES (1, x'0100ff', 5, zeroblob(32), 0), (2, ?1, 5, zeroblob(32), 0)",
                params![TestChannel::new(7, 8, 900).announcement().1],
            )?;
            c.execute(
                "UPDATE graph_updates SET message = substr(message, 1, 100)
                 WHERE scid = ?1 AND direction = 1",
                params![scid.0 as i64],
            )?;
            let (_, b) = node_announcement(&crate::gossip::testkit::key(55), NOW, "x");
            c.execute(
                "INSERT INTO graph_nodes (node_id, timestamp, announcement) VALUES (?1, ?2, ?3)",
                params![crate::gossip::testkit::pk(55).serialize().to_vec(), NOW, b],
            )?;
            Ok(())
        })
        .unwrap();
    let (loaded, report) = store.blocking(load).unwrap();
    assert_eq!(report.channels, 3);
    assert_eq!(report.updates, 5);
    assert_eq!(report.skipped, 4);
    assert_eq!(loaded.channel_count(), g.channel_count());
    assert_eq!(loaded.update_timestamps(scid), Some((NOW, 0)));
}

#[test]
fn a_version_8_database_gains_the_graph_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::store::DB_FILE);
    {
        let c = Connection::open(&path).unwrap();
        for script in &crate::store::schema::MIGRATIONS[..8] {
            c.execute_batch(script).unwrap();
        }
        c.pragma_update(None, "user_version", 8).unwrap();
        crate::store::meta::set(&c, "node_id", b"kept").unwrap();
    }
    let store = Store::open(&path).unwrap();
    store
        .blocking(|c| {
            let v: u32 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
            assert_eq!(v, crate::store::schema::CURRENT_VERSION);
            assert_eq!(
                crate::store::meta::get(c, "node_id")?,
                Some(b"kept".to_vec())
            );
            let (g, report) = load(c)?;
            assert_eq!(g.channel_count(), 0);
            assert_eq!(report, LoadReport::default());
            Ok(())
        })
        .unwrap();
}
