use super::*;
use crate::gossip::testkit::{key, node_announcement, pk, TestChannel, NOW};

fn add(g: &mut NetworkGraph, ch: &TestChannel) {
    let (_, bytes) = ch.announcement();
    assert!(g.add_channel(
        ch.scid,
        ch.node_id(0),
        ch.node_id(1),
        ch.capacity_sat,
        NOW,
        bytes
    ));
}

fn set_update(g: &mut NetworkGraph, ch: &TestChannel, dir: u8, ts: u32) {
    let (_, bytes) = ch.update(dir, ts);
    assert!(g.set_policy(ch.scid, Policy::from_update_bytes(bytes).unwrap()));
}

/// Every node's index entry and every channel's ends agree with the node table.
fn assert_consistent(g: &NetworkGraph) {
    for (i, n) in g.nodes().iter().enumerate() {
        assert_eq!(g.node_index(&n.node_id), Some(i as u32));
        assert!(!n.channels.is_empty());
        for scid in &n.channels {
            let c = g.channel(*scid).unwrap();
            assert!(c.node1 == i as u32 || c.node2 == i as u32);
        }
    }
    assert_eq!(g.channels().count(), g.channels_by_index().len());
    for (scid, c) in g.channels() {
        assert_eq!(c.scid, scid);
        assert!(g.nodes()[c.node1 as usize].channels.contains(&scid));
        assert!(g.nodes()[c.node2 as usize].channels.contains(&scid));
    }
}

#[test]
fn crc32c_check_vector() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b""), 0);
}

#[test]
fn policy_is_read_from_the_update_bytes_and_checksummed_without_signature_and_timestamp() {
    let ch = TestChannel::new(1, 2, 500);
    let (m, bytes) = ch.update(1, NOW);
    let p = Policy::from_update_bytes(bytes.clone()).unwrap();
    assert_eq!(p.timestamp, NOW);
    assert_eq!(p.direction(), 1);
    assert_eq!(p.fee_base_msat, m.fee_base_msat);
    assert_eq!(p.fee_proportional_millionths, 100);
    assert_eq!(p.cltv_expiry_delta, 40);
    assert_eq!(p.htlc_minimum_msat, 1);
    assert_eq!(p.htlc_maximum_msat, m.htlc_maximum_msat);
    assert!(!p.disabled);
    assert_eq!(&*p.bytes, &bytes[..]);
    // The same update at another time and re-signed has the same checksum; another fee not.
    let (_, later) = ch.update(1, NOW + 60);
    assert_eq!(
        Policy::from_update_bytes(later).unwrap().checksum,
        p.checksum
    );
    let mut u = ch.unsigned_update(1, NOW);
    u.fee_base_msat += 1;
    let (_, other) = ch.signed_update(1, u);
    assert_ne!(
        Policy::from_update_bytes(other).unwrap().checksum,
        p.checksum
    );
    // Independently: the CRC of chain_hash ‖ scid ‖ the fields after the timestamp.
    let mut expect = Vec::new();
    expect.extend_from_slice(&bytes[66..106]);
    expect.extend_from_slice(&bytes[110..]);
    assert_eq!(p.checksum, crc32c(&expect));
    assert!(Policy::from_update_bytes(bytes[..137].to_vec()).is_none());
    let (_, ann) = ch.announcement();
    assert!(Policy::from_update_bytes(ann).is_none(), "wrong type");
}

#[test]
fn announcement_ids_match_the_decoded_message() {
    let ch = TestChannel::new(3, 4, 600);
    let (a, bytes) = ch.announcement();
    let (scid, n1, n2) = announcement_ids(&bytes).unwrap();
    assert_eq!(scid, a.contents.short_channel_id);
    assert_eq!(n1, a.contents.node_id_1.serialize());
    assert_eq!(n2, a.contents.node_id_2.serialize());
    assert!(announcement_ids(&bytes[..300]).is_none());
    assert!(announcement_ids(&[]).is_none());
}

#[test]
fn removing_channels_drops_lonely_nodes_and_keeps_indices_consistent() {
    let mut g = NetworkGraph::new();
    let chans = [
        TestChannel::new(1, 2, 100),
        TestChannel::new(2, 3, 101),
        TestChannel::new(3, 4, 102),
        TestChannel::new(4, 5, 103),
    ];
    for c in &chans {
        add(&mut g, c);
    }
    assert!(!g.add_channel(
        chans[0].scid,
        chans[0].node_id(0),
        chans[0].node_id(1),
        1,
        NOW,
        vec![]
    ));
    assert_eq!((g.node_count(), g.channel_count()), (5, 4));
    assert_consistent(&g);
    let gone = g.remove_channel(chans[0].scid);
    assert_eq!(gone.len(), 1, "node 1 had only that channel");
    assert_consistent(&g);
    let gone = g.remove_channel(chans[3].scid);
    assert_eq!(gone.len(), 1);
    assert_consistent(&g);
    assert_eq!((g.node_count(), g.channel_count()), (3, 2));
    assert!(g.remove_channel(chans[3].scid).is_empty());
    g.remove_channel(chans[1].scid);
    g.remove_channel(chans[2].scid);
    assert_eq!((g.node_count(), g.channel_count()), (0, 0));
}

#[test]
fn channel_range_is_by_block_and_leaves_spent_channels_out() {
    let mut g = NetworkGraph::new();
    let a = TestChannel::new(1, 2, 100);
    let b = TestChannel::new(2, 3, 150);
    let c = TestChannel::new(3, 4, 200);
    for ch in [&a, &b, &c] {
        add(&mut g, ch);
    }
    set_update(&mut g, &b, 1, NOW);
    let r = g.channel_range(100, 200);
    assert_eq!(
        r.iter().map(|e| e.scid).collect::<Vec<_>>(),
        vec![a.scid, b.scid]
    );
    assert_eq!(r[1].timestamps, (0, NOW));
    assert_eq!(r[1].checksums.0, 0);
    assert_eq!(
        r[1].checksums.1,
        g.channel(b.scid).unwrap().directions[1]
            .policy
            .as_ref()
            .unwrap()
            .checksum
    );
    assert_eq!(g.channel_range(0, u32::MAX).len(), 3);
    assert!(g.channel_range(200, 200).is_empty());
    assert!(g.mark_spent(b.scid, 300));
    assert!(!g.mark_spent(b.scid, 301));
    assert_eq!(g.channel_range(0, u32::MAX).len(), 2);
    assert!(g.knows_channel(b.scid), "spent channels are still known");
    assert!(g.messages_for(b.scid, 0x1f).is_empty(), "but not relayed");
}

#[test]
fn messages_for_follow_the_flags_in_relay_order() {
    let mut g = NetworkGraph::new();
    let ch = TestChannel::new(1, 2, 100);
    add(&mut g, &ch);
    set_update(&mut g, &ch, 0, NOW);
    set_update(&mut g, &ch, 1, NOW + 1);
    let (_, na) = node_announcement(&ch.node_keys[1], NOW, "two");
    g.set_node_announcement(
        &ch.node_id(1),
        NodeInfo {
            timestamp: NOW,
            bytes: na.into(),
        },
    );
    let types = |flags| {
        g.messages_for(ch.scid, flags)
            .iter()
            .map(Message::msg_type)
            .collect::<Vec<_>>()
    };
    assert_eq!(types(0x1f), vec![256, 258, 258, 257]);
    assert_eq!(types(QUERY_FLAG_UPDATE_2), vec![258]);
    assert_eq!(
        types(QUERY_FLAG_NODE_1),
        Vec::<u16>::new(),
        "node 1 never announced"
    );
    assert_eq!(g.update_timestamps(ch.scid), Some((NOW, NOW + 1)));
    // Re-encoding gives back the stored bytes exactly.
    let msgs = g.messages_for(ch.scid, QUERY_FLAG_ANNOUNCEMENT);
    assert_eq!(msgs[0].encode().unwrap(), ch.announcement().1);
    assert!(g.knows_node(&ch.node_id(0)));
}

#[test]
fn messages_in_window_by_timestamp() {
    let mut g = NetworkGraph::new();
    let a = TestChannel::new(1, 2, 100);
    let b = TestChannel::new(1, 3, 101);
    add(&mut g, &a);
    add(&mut g, &b);
    set_update(&mut g, &a, 0, NOW);
    set_update(&mut g, &b, 0, NOW - 1000);
    let (_, na) = node_announcement(&key(1), NOW, "one");
    g.set_node_announcement(
        &pk(1),
        NodeInfo {
            timestamp: NOW,
            bytes: na.into(),
        },
    );
    let types: Vec<u16> = g
        .messages_in_window(NOW, 10)
        .iter()
        .map(Message::msg_type)
        .collect();
    // a's announcement and update, then node 1 (shared by both channels) once.
    assert_eq!(types, vec![256, 258, 257]);
    assert_eq!(g.messages_in_window(0, u32::MAX).len(), 5);
}

#[test]
fn spent_channels_are_forgotten_72_blocks_later() {
    let mut g = NetworkGraph::new();
    let a = TestChannel::new(1, 2, 100);
    add(&mut g, &a);
    set_update(&mut g, &a, 0, NOW);
    g.mark_spent(a.scid, 1000);
    assert!(g.prune(NOW, 1071).channels.is_empty());
    let p = g.prune(NOW, 1072);
    assert_eq!(p.channels, vec![a.scid]);
    assert_eq!(p.nodes.len(), 2);
    assert_eq!(g.node_count(), 0);
}

#[test]
fn channels_without_an_update_for_two_weeks_are_pruned() {
    let mut g = NetworkGraph::new();
    let fresh = TestChannel::new(1, 2, 100);
    let stale = TestChannel::new(2, 3, 101);
    let silent = TestChannel::new(3, 4, 102);
    add(&mut g, &fresh);
    add(&mut g, &stale);
    add(&mut g, &silent);
    set_update(&mut g, &fresh, 0, NOW - STALE_AFTER_SECS + 10);
    set_update(&mut g, &stale, 0, NOW - STALE_AFTER_SECS - 10);
    set_update(&mut g, &stale, 1, NOW - STALE_AFTER_SECS - 5);
    // `silent` was accepted at NOW with no update: kept for two weeks from then.
    assert_eq!(g.prune(NOW, 0).channels, vec![stale.scid]);
    assert_consistent(&g);
    assert_eq!(g.prune(NOW + 20, 0).channels, vec![fresh.scid]);
    assert_eq!(
        g.prune(NOW + STALE_AFTER_SECS + 1, 0).channels,
        vec![silent.scid]
    );
    assert_eq!(g.node_count(), 0);
}
