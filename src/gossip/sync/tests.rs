//! Unit tests of sync and relay, against in-memory graphs.

mod fake;
mod props;

use std::collections::VecDeque;

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::PublicKey;
use bitcoin::Network;

use super::*;
use crate::gossip::range::{ids_per_reply, RangeCollector};
use crate::wire::gossip_queries::{
    QUERY_FLAG_NODE_1, QUERY_FLAG_NODE_2, QUERY_FLAG_UPDATE_2, QUERY_OPTION_CHECKSUMS,
    QUERY_OPTION_TIMESTAMPS,
};
use crate::wire::{
    QueryChannelRange, QueryShortChannelIds, ReplyChannelRange, ReplyShortChannelIdsEnd,
    ShortChannelId, TlvStream, WireMessage,
};
use fake::{announcement, chain, node, pk, scid, update, FakeGraph};

const NOW: u64 = 1_700_000_000;
const T: u32 = NOW as u32;

fn gq() -> Features {
    let mut f = Features::empty();
    f.set_optional(Feature::GossipQueries);
    f
}

fn cfg() -> SyncConfig {
    SyncConfig {
        flush_interval_secs: 1,
        ..SyncConfig::default()
    }
}

fn sends(actions: &[Action], to: &PublicKey) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(p, m) if p == to => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn filter(first: u32, range: u32) -> Message {
    Message::GossipTimestampFilter(GossipTimestampFilter {
        chain_hash: chain(),
        first_timestamp: first,
        timestamp_range: range,
        excess_data: Vec::new(),
    })
}

fn range_query(first: u32, n: u32, options: Option<u64>) -> QueryChannelRange {
    QueryChannelRange {
        chain_hash: chain(),
        first_blocknum: first,
        number_of_blocks: n,
        query_option: options,
        extra_tlvs: TlvStream::default(),
    }
}

fn scid_query(ids: Vec<ShortChannelId>) -> Message {
    Message::QueryShortChannelIds(QueryShortChannelIds {
        chain_hash: chain(),
        short_channel_ids: ids,
        query_flags: None,
        extra_tlvs: TlvStream::default(),
    })
}

/// A graph of `n` channels over a few blocks, the 25 first in one block, with both updates
/// and the nodes' announcements.
fn graph(n: u32) -> FakeGraph {
    graph_at(n, T)
}

/// [`graph`], with every timestamp a little before `t`.
fn graph_at(n: u32, t: u32) -> FakeGraph {
    let mut g = FakeGraph::default();
    for i in 0..n {
        let s = if i < 25 {
            scid(100, i)
        } else {
            scid(100 + i / 3, i)
        };
        g.add(s, i, i + 1, t - 100 + i % 50, t - 200);
    }
    g
}

/// Every reply of a range query, answered by a core over `g`.
fn answer_range(g: &FakeGraph, q: QueryChannelRange, config: SyncConfig) -> Vec<ReplyChannelRange> {
    let mut core = GossipSync::new(chain(), config, NOW);
    let peer = pk(900);
    core.peer_connected(peer, &Features::empty(), NOW);
    let mut out = sends(
        &core.on_message(peer, &Message::QueryChannelRange(q), g, NOW),
        &peer,
    );
    for i in 1..1000 {
        out.extend(sends(&core.tick(NOW + i, g), &peer));
    }
    out.into_iter()
        .map(|m| match m {
            Message::ReplyChannelRange(r) => r,
            other => panic!("not a range reply: {other:?}"),
        })
        .collect()
}

#[test]
fn range_answer_splits_over_many_parts_that_cover_the_query() {
    let g = graph(95);
    let config = SyncConfig {
        max_ids_per_reply: 10,
        ..cfg()
    };
    let q = range_query(0, u32::MAX, Some(QUERY_OPTION_TIMESTAMPS));
    let parts = answer_range(&g, q.clone(), config.clone());
    assert!(parts.len() >= 10, "{} parts", parts.len());
    let mut collector = RangeCollector::new(&q);
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        assert!(p.short_channel_ids.len() <= 10);
        assert_eq!(p.sync_complete, u8::from(last));
        assert_eq!(
            p.timestamps.as_ref().map(Vec::len),
            Some(p.short_channel_ids.len())
        );
        assert_eq!(collector.on_reply(p, 1000, 1000), Ok(last), "part {i}");
    }
    let listed: Vec<_> = collector.listed.iter().map(|(s, _)| *s).collect();
    let expected: Vec<_> = g.channels.keys().copied().collect();
    assert_eq!(listed, expected);
    assert_eq!(
        collector.listed[0].1,
        Some(g.update_timestamps(expected[0]).unwrap())
    );
}

#[test]
fn range_answer_over_an_empty_range_is_one_complete_part() {
    let parts = answer_range(&graph(5), range_query(500_000, 10, None), cfg());
    assert_eq!(parts.len(), 1);
    assert_eq!(
        (parts[0].first_blocknum, parts[0].number_of_blocks),
        (500_000, 10)
    );
    assert_eq!(parts[0].sync_complete, 1);
    assert!(parts[0].short_channel_ids.is_empty() && parts[0].timestamps.is_none());
}

#[test]
fn range_answer_with_checksums_fits_in_a_message() {
    let g = graph(3000);
    let options = QUERY_OPTION_TIMESTAMPS | QUERY_OPTION_CHECKSUMS;
    let parts = answer_range(&g, range_query(0, u32::MAX, Some(options)), cfg());
    assert_eq!(parts.len(), 2);
    assert_eq!(
        parts[0].short_channel_ids.len(),
        ids_per_reply(options, usize::MAX)
    );
    for p in &parts {
        assert!(p.checksums.is_some());
        p.encode().expect("a part fits in a message");
    }
}

#[test]
fn queries_for_another_chain_get_incomplete_answers() {
    let g = graph(5);
    let other = ChainHash::using_genesis_block(Network::Bitcoin);
    let mut q = range_query(0, 1000, None);
    q.chain_hash = other;
    let parts = answer_range(&g, q, cfg());
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].sync_complete, 0);
    assert_eq!(parts[0].chain_hash, other);
    assert!(parts[0].short_channel_ids.is_empty());

    let mut core = GossipSync::new(chain(), cfg(), NOW);
    let peer = pk(900);
    core.peer_connected(peer, &Features::empty(), NOW);
    let q = Message::QueryShortChannelIds(QueryShortChannelIds {
        chain_hash: other,
        short_channel_ids: g.channels.keys().copied().collect(),
        query_flags: None,
        extra_tlvs: TlvStream::default(),
    });
    let out = sends(&core.on_message(peer, &q, &g, NOW), &peer);
    assert_eq!(
        out,
        vec![Message::ReplyShortChannelIdsEnd(ReplyShortChannelIdsEnd {
            chain_hash: other,
            full_information: 0,
            excess_data: Vec::new(),
        })]
    );
}

#[test]
fn scid_query_answer_sends_each_node_once_then_ends() {
    let mut g = FakeGraph::default();
    // Node 1 has two channels.
    g.add(scid(10, 0), 1, 2, T, T);
    g.add(scid(10, 1), 1, 3, T, 0);
    let mut core = GossipSync::new(chain(), cfg(), NOW);
    let peer = pk(900);
    core.peer_connected(peer, &Features::empty(), NOW);
    let out = sends(
        &core.on_message(
            peer,
            &scid_query(vec![scid(10, 0), scid(10, 1), scid(11, 0)]),
            &g,
            NOW,
        ),
        &peer,
    );
    let kinds: Vec<u16> = out.iter().map(Message::msg_type).collect();
    // ann, 2 updates, 2 nodes; ann, 1 update, 1 new node; nothing for the unknown; end.
    assert_eq!(kinds, vec![256, 258, 258, 257, 257, 256, 258, 257, 262]);
    assert!(matches!(
        out.last(),
        Some(Message::ReplyShortChannelIdsEnd(e)) if e.full_information == 1
    ));
}

#[test]
fn a_peer_flooding_queries_is_paced_and_bounded() {
    let g = graph(400);
    let config = SyncConfig {
        max_messages_per_tick: 50,
        ..cfg()
    };
    let mut core = GossipSync::new(chain(), config, NOW);
    let peer = pk(900);
    core.peer_connected(peer, &gq(), NOW);
    let ids: Vec<_> = g.channels.keys().copied().collect();
    let first = core.on_message(peer, &scid_query(ids.clone()), &g, NOW);
    assert!(sends(&first, &peer).len() <= 50 + 1);
    // A second query before the end of the first one ends the connection.
    let again = core.on_message(peer, &scid_query(ids.clone()), &g, NOW);
    assert_eq!(
        again,
        vec![Action::Disconnect(peer, SyncFault::ScidQueryOverlap)]
    );
    let range = Message::QueryChannelRange(range_query(0, u32::MAX, None));
    core.on_message(peer, &range, &g, NOW);
    let again = core.on_message(peer, &range, &g, NOW);
    assert_eq!(
        again,
        vec![Action::Disconnect(peer, SyncFault::RangeQueryOverlap)]
    );
    // The answers trickle out at the per-tick rate, and all arrive, end last.
    let mut all = sends(&first, &peer);
    for i in 1..200 {
        let out = sends(&core.tick(NOW + i, &g), &peer);
        assert!(out.len() <= 50, "tick {i}: {}", out.len());
        all.extend(out);
    }
    let ends = all.iter().filter(|m| m.msg_type() == 262).count();
    let anns = all.iter().filter(|m| m.msg_type() == 256).count();
    assert_eq!((ends, anns), (1, 400));
    // Once answered, a new query is fine.
    let next = core.on_message(peer, &scid_query(ids[..1].to_vec()), &g, NOW + 300);
    assert!(!next.iter().any(|a| matches!(a, Action::Disconnect(..))));
}

#[test]
fn graph_lookups_per_tick_are_bounded() {
    // A query for unknown channels produces nothing to send, but each costs a lookup.
    let g = graph(3);
    let config = SyncConfig {
        max_lookups_per_tick: 100,
        ..cfg()
    };
    let mut core = GossipSync::new(chain(), config, NOW);
    let peer = pk(900);
    core.peer_connected(peer, &gq(), NOW);
    let unknown: Vec<_> = (0..450).map(|i| scid(900_000, i)).collect();
    let mut ended_at = None;
    let first = core.on_message(peer, &scid_query(unknown), &g, NOW);
    assert!(sends(&first, &peer).is_empty());
    for i in 1..10 {
        if sends(&core.tick(NOW + i, &g), &peer)
            .iter()
            .any(|m| m.msg_type() == 262)
        {
            ended_at = Some(i);
            break;
        }
    }
    assert_eq!(ended_at, Some(4));
}

/// Two cores over two graphs, wired to each other: each side's sends are delivered to the
/// other; gossip goes through the receiving graph's validator, and what it takes is handed to
/// that side's relay.
struct Pair {
    a: (PublicKey, GossipSync, FakeGraph),
    b: (PublicKey, GossipSync, FakeGraph),
    faults: Vec<Action>,
}

impl Pair {
    fn new(ga: FakeGraph, gb: FakeGraph) -> (Self, VecDeque<(bool, Action)>) {
        let (ia, ib) = (pk(500), pk(501));
        let mut a = GossipSync::new(chain(), cfg(), NOW);
        let mut b = GossipSync::new(chain(), cfg(), NOW);
        let mut q = VecDeque::new();
        q.extend(
            a.peer_connected(ib, &gq(), NOW)
                .into_iter()
                .map(|x| (true, x)),
        );
        q.extend(
            b.peer_connected(ia, &gq(), NOW)
                .into_iter()
                .map(|x| (false, x)),
        );
        (
            Self {
                a: (ia, a, ga),
                b: (ib, b, gb),
                faults: Vec::new(),
            },
            q,
        )
    }

    /// Delivers actions (`true`: from A) until none are left, ticking while anything moves.
    fn run(&mut self, mut q: VecDeque<(bool, Action)>, ticks: u64) {
        for t in 0..ticks {
            while let Some((from_a, action)) = q.pop_front() {
                let (from, to) = if from_a {
                    (&self.a, &mut self.b)
                } else {
                    (&self.b, &mut self.a)
                };
                let sender = from.0;
                match action {
                    Action::Send(_, m) => {
                        if to.2.apply(&m) {
                            to.1.on_accepted(Some(sender), m.clone());
                        }
                        let out = to.1.on_message(sender, &m, &to.2, NOW + t);
                        q.extend(out.into_iter().map(|x| (!from_a, x)));
                    }
                    other => self.faults.push(other),
                }
            }
            q.extend(
                self.a
                    .1
                    .tick(NOW + t, &self.a.2)
                    .into_iter()
                    .map(|x| (true, x)),
            );
            q.extend(
                self.b
                    .1
                    .tick(NOW + t, &self.b.2)
                    .into_iter()
                    .map(|x| (false, x)),
            );
        }
    }
}

#[test]
fn two_graphs_sync_through_the_core_until_they_agree() {
    // Older than the filters' backlog: only the sync's queries can carry it.
    let ga = graph_at(120, T - 100_000);
    // B knows a few channels, some with an older update, and one A does not know.
    let mut gb = FakeGraph::default();
    for (s, c) in ga.channels.iter().take(10) {
        gb.apply(&Message::ChannelAnnouncement(c.ann.clone()));
        if let Some(u) = &c.updates[0] {
            let mut old = u.clone();
            old.timestamp -= 1000;
            gb.apply(&Message::ChannelUpdate(old));
        }
        let _ = s;
    }
    gb.add(scid(5000, 1), 800, 801, T - 90_000, T - 90_000);
    let config_ids = ga.channels.len();
    let (mut pair, q) = Pair::new(ga.clone(), gb);
    pair.run(q, 30);
    assert!(pair.faults.is_empty(), "{:?}", pair.faults);
    let (ga2, gb2) = (&pair.a.2, &pair.b.2);
    assert_eq!(gb2.channels.len(), config_ids + 1);
    assert_eq!(ga2.channels, gb2.channels);
    assert_eq!(ga2.nodes, gb2.nodes);
    assert_eq!(pair.a.1.stats().syncs_completed, 1);
    assert_eq!(pair.b.1.stats().syncs_completed, 1);
    assert!(!pair.a.1.is_syncing(&pair.b.0));
}

#[test]
fn sync_asks_only_for_missing_channels_and_newer_updates() {
    let mut ours = FakeGraph::default();
    ours.add(scid(10, 0), 1, 2, T, T);
    ours.add(scid(10, 1), 1, 3, T, T - 50);
    let mut core = GossipSync::new(chain(), cfg(), NOW);
    let peer = pk(900);
    let out = sends(&core.peer_connected(peer, &gq(), NOW), &peer);
    assert!(matches!(&out[0], Message::GossipTimestampFilter(f)
        if f.first_timestamp == T - 3600 && f.timestamp_range == u32::MAX - (T - 3600)));
    let Message::QueryChannelRange(q) = &out[1] else {
        panic!("no range query: {out:?}");
    };
    assert_eq!((q.first_blocknum, q.number_of_blocks), (0, u32::MAX));
    assert_eq!(q.query_option, Some(QUERY_OPTION_TIMESTAMPS));
    let reply = Message::ReplyChannelRange(ReplyChannelRange {
        chain_hash: chain(),
        first_blocknum: 0,
        number_of_blocks: u32::MAX,
        sync_complete: 1,
        short_channel_ids: vec![scid(10, 0), scid(10, 1), scid(11, 0)],
        timestamps: Some(vec![(T, T), (T, T - 10), (1, 1)]),
        checksums: None,
        extra_tlvs: TlvStream::default(),
    });
    let out = sends(&core.on_message(peer, &reply, &ours, NOW), &peer);
    let [Message::QueryShortChannelIds(q)] = &out[..] else {
        panic!("no id query: {out:?}");
    };
    assert_eq!(q.short_channel_ids, vec![scid(10, 1), scid(11, 0)]);
    // A newer update brings its nodes along; an unknown channel, everything.
    assert_eq!(
        q.query_flags,
        Some(vec![
            QUERY_FLAG_UPDATE_2 | QUERY_FLAG_NODE_1 | QUERY_FLAG_NODE_2,
            0x1f
        ])
    );
    // Done after the end; an extra end is unsolicited.
    let end = Message::ReplyShortChannelIdsEnd(ReplyShortChannelIdsEnd {
        chain_hash: chain(),
        full_information: 1,
        excess_data: Vec::new(),
    });
    assert!(core.on_message(peer, &end, &ours, NOW).is_empty());
    assert_eq!(core.stats().syncs_completed, 1);
    assert_eq!(
        core.on_message(peer, &end, &ours, NOW),
        vec![Action::Penalise(peer, SyncFault::Unsolicited)]
    );
}

#[test]
fn sync_queries_go_in_chunks_one_at_a_time() {
    let config = SyncConfig {
        query_chunk: 2,
        ..cfg()
    };
    let mut core = GossipSync::new(chain(), config, NOW);
    let peer = pk(900);
    core.peer_connected(peer, &gq(), NOW);
    let ids: Vec<_> = (0..5).map(|i| scid(10, i)).collect();
    let reply = Message::ReplyChannelRange(ReplyChannelRange {
        chain_hash: chain(),
        first_blocknum: 0,
        number_of_blocks: u32::MAX,
        sync_complete: 1,
        short_channel_ids: ids.clone(),
        timestamps: None,
        checksums: None,
        extra_tlvs: TlvStream::default(),
    });
    let g = FakeGraph::default();
    let end = Message::ReplyShortChannelIdsEnd(ReplyShortChannelIdsEnd {
        chain_hash: chain(),
        full_information: 1,
        excess_data: Vec::new(),
    });
    let mut asked = Vec::new();
    let mut out = sends(&core.on_message(peer, &reply, &g, NOW), &peer);
    while let Some(Message::QueryShortChannelIds(q)) = out.pop() {
        assert!(out.is_empty());
        assert!(q.short_channel_ids.len() <= 2);
        asked.extend(q.short_channel_ids);
        // Nothing more is asked before the end arrives.
        assert!(sends(&core.tick(NOW + 1, &g), &peer).is_empty());
        out = sends(&core.on_message(peer, &end, &g, NOW), &peer);
    }
    assert_eq!(asked, ids);
    assert_eq!(core.stats().syncs_completed, 1);
}

#[test]
fn only_a_few_gossip_queries_peers_become_sync_peers() {
    let g = FakeGraph::default();
    let mut core = GossipSync::new(chain(), cfg(), NOW);
    let mut range_queries = 0;
    for i in 0..5 {
        let out = core.peer_connected(pk(i), &gq(), NOW);
        assert!(matches!(
            &sends(&out, &pk(i))[0],
            Message::GossipTimestampFilter(_)
        ));
        range_queries += out
            .iter()
            .filter(|a| matches!(a, Action::Send(_, Message::QueryChannelRange(_))))
            .count();
    }
    assert_eq!(range_queries, 3);
    // gossip_queries is ASSUMED (BOLT 9): a peer that leaves its bits unset still gets our
    // filter (the sync slots are full).
    let out = core.peer_connected(pk(10), &Features::empty(), NOW);
    assert!(matches!(
        &sends(&out, &pk(10))[..],
        [Message::GossipTimestampFilter(_)]
    ));
    // A sync peer leaves: another takes its slot at the next tick.
    let syncing: Vec<_> = (0..5).filter(|i| core.is_syncing(&pk(*i))).collect();
    core.peer_disconnected(&pk(syncing[0]));
    let out = core.tick(NOW + 1, &g);
    let started: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            Action::Send(p, Message::QueryChannelRange(_)) => Some(*p),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), 1);
    assert!(!syncing.contains(&(0..5).find(|i| pk(*i) == started[0]).unwrap()));
}

#[test]
fn a_silent_sync_peer_is_replaced_after_the_timeout() {
    let g = FakeGraph::default();
    let config = SyncConfig {
        max_sync_peers: 1,
        sync_timeout_secs: 10,
        ..cfg()
    };
    let mut core = GossipSync::new(chain(), config, NOW);
    core.peer_connected(pk(1), &gq(), NOW);
    core.peer_connected(pk(2), &gq(), NOW);
    let first = if core.is_syncing(&pk(1)) {
        pk(1)
    } else {
        pk(2)
    };
    let second = if first == pk(1) { pk(2) } else { pk(1) };
    assert!(!core.is_syncing(&second));
    assert!(core.tick(NOW + 9, &g).is_empty());
    let out = core.tick(NOW + 10, &g);
    assert!(matches!(
        &sends(&out, &second)[..],
        [Message::QueryChannelRange(_)]
    ));
    assert!(!core.is_syncing(&first));
    assert_eq!(core.stats().syncs_abandoned, 1);
    // Its late answer is ignored, not penalised.
    let late = Message::ReplyChannelRange(part(0, u32::MAX, vec![scid(10, 0)]));
    assert!(core.on_message(first, &late, &g, NOW + 11).is_empty());
}

/// A core with one sync peer (pk(1)) that has sent its range query.
fn syncing_core() -> (GossipSync, PublicKey) {
    let mut core = GossipSync::new(chain(), cfg(), NOW);
    core.peer_connected(pk(1), &gq(), NOW);
    (core, pk(1))
}

fn part(first: u32, n: u32, ids: Vec<ShortChannelId>) -> ReplyChannelRange {
    ReplyChannelRange {
        chain_hash: chain(),
        first_blocknum: first,
        number_of_blocks: n,
        sync_complete: 0,
        short_channel_ids: ids,
        timestamps: None,
        checksums: None,
        extra_tlvs: TlvStream::default(),
    }
}

#[test]
fn malformed_or_contradictory_range_replies_penalise_the_peer() {
    let g = FakeGraph::default();
    let mut wrong_chain = part(0, u32::MAX, vec![]);
    wrong_chain.chain_hash = ChainHash::using_genesis_block(Network::Bitcoin);
    let cases: Vec<(Vec<ReplyChannelRange>, SyncFault)> = vec![
        (vec![wrong_chain], SyncFault::WrongChain),
        // The first part must start at or before the queried first block.
        (vec![part(1, 100, vec![])], SyncFault::RangeNotCovered),
        // Parts never go back.
        (
            vec![
                part(0, 200, vec![]),
                part(150, 10, vec![]),
                part(100, 10, vec![]),
            ],
            SyncFault::RangeNotCovered,
        ),
        (
            vec![part(0, 100, vec![scid(150, 0)])],
            SyncFault::IdOutsideRange,
        ),
        (
            vec![part(0, 200, vec![scid(150, 0), scid(120, 0)])],
            SyncFault::IdsNotAscending,
        ),
        (
            vec![
                part(0, 200, vec![scid(150, 0)]),
                part(150, 10, vec![scid(150, 0)]),
            ],
            SyncFault::IdsNotAscending,
        ),
    ];
    for (parts, fault) in cases {
        let (mut core, peer) = syncing_core();
        let mut got = Vec::new();
        for p in parts {
            got = core.on_message(peer, &Message::ReplyChannelRange(p), &g, NOW);
        }
        assert_eq!(got, vec![Action::Penalise(peer, fault)]);
        assert!(!core.is_syncing(&peer));
        assert_eq!(core.stats().syncs_abandoned, 1);
        // Later replies are unsolicited.
        let more = Message::ReplyChannelRange(part(0, u32::MAX, vec![]));
        assert_eq!(
            core.on_message(peer, &more, &g, NOW),
            vec![Action::Penalise(peer, SyncFault::Unsolicited)]
        );
    }
}

#[test]
fn a_peer_cannot_make_us_hold_too_many_parts_or_ids() {
    let g = FakeGraph::default();
    let config = SyncConfig {
        max_range_parts: 4,
        max_range_ids: 5,
        ..cfg()
    };
    let mut core = GossipSync::new(chain(), config.clone(), NOW);
    let peer = pk(1);
    core.peer_connected(peer, &gq(), NOW);
    let mut last = Vec::new();
    for _ in 0..5 {
        last = core.on_message(
            peer,
            &Message::ReplyChannelRange(part(0, 1, vec![])),
            &g,
            NOW,
        );
    }
    assert_eq!(last, vec![Action::Penalise(peer, SyncFault::TooManyParts)]);

    let mut core = GossipSync::new(chain(), config, NOW);
    core.peer_connected(peer, &gq(), NOW);
    let ids = (0..6).map(|i| scid(10, i)).collect();
    let out = core.on_message(
        peer,
        &Message::ReplyChannelRange(part(0, 100, ids)),
        &g,
        NOW,
    );
    assert_eq!(out, vec![Action::Penalise(peer, SyncFault::TooManyIds)]);
}

#[test]
fn unsolicited_replies_penalise() {
    let g = FakeGraph::default();
    let mut core = GossipSync::new(chain(), cfg(), NOW);
    let peer = pk(1);
    core.peer_connected(peer, &Features::empty(), NOW);
    let end = Message::ReplyShortChannelIdsEnd(ReplyShortChannelIdsEnd {
        chain_hash: chain(),
        full_information: 1,
        excess_data: Vec::new(),
    });
    assert_eq!(
        core.on_message(peer, &end, &g, NOW),
        vec![Action::Penalise(peer, SyncFault::Unsolicited)]
    );
    // Still waiting for range parts: an end is out of place.
    let (mut core, peer) = syncing_core();
    assert_eq!(
        core.on_message(peer, &end, &g, NOW),
        vec![Action::Penalise(peer, SyncFault::Unsolicited)]
    );
}

/// A core with peers 1..=n, each having sent a filter admitting everything.
fn relay_core(config: SyncConfig, n: u32) -> GossipSync {
    let g = FakeGraph::default();
    let mut core = GossipSync::new(chain(), config, NOW);
    for i in 1..=n {
        core.peer_connected(pk(i), &Features::empty(), NOW);
        core.on_message(pk(i), &filter(0, u32::MAX), &g, NOW);
    }
    core
}

#[test]
fn relay_waits_for_the_stagger() {
    let g = FakeGraph::default();
    let config = SyncConfig {
        flush_interval_secs: 5,
        ..cfg()
    };
    let mut core = relay_core(config, 1);
    core.on_accepted(Some(pk(9)), Message::NodeAnnouncement(node(9, T)));
    for t in 0..5 {
        assert!(core.tick(NOW + t, &g).is_empty(), "second {t}");
    }
    assert_eq!(sends(&core.tick(NOW + 5, &g), &pk(1)).len(), 1);
    // The next batch waits for the next flush, five seconds later.
    core.on_accepted(Some(pk(9)), Message::NodeAnnouncement(node(9, T + 1)));
    assert!(core.tick(NOW + 6, &g).is_empty());
    assert!(core.tick(NOW + 9, &g).is_empty());
    assert_eq!(sends(&core.tick(NOW + 10, &g), &pk(1)).len(), 1);
}

#[test]
fn relay_never_sends_back_to_the_origin() {
    let g = FakeGraph::default();
    let mut core = relay_core(cfg(), 3);
    core.on_accepted(Some(pk(2)), Message::NodeAnnouncement(node(9, T)));
    let out = core.tick(NOW + 1, &g);
    assert_eq!(sends(&out, &pk(1)).len(), 1);
    assert!(sends(&out, &pk(2)).is_empty());
    assert_eq!(sends(&out, &pk(3)).len(), 1);
}

#[test]
fn relay_follows_each_peers_timestamp_filter() {
    let g = FakeGraph::default();
    let mut core = GossipSync::new(chain(), cfg(), NOW);
    let (wide, narrow, none, plain) = (pk(1), pk(2), pk(3), pk(4));
    for p in [wide, narrow, none] {
        core.peer_connected(p, &gq(), NOW);
    }
    core.peer_connected(plain, &Features::empty(), NOW);
    core.on_message(wide, &filter(T - 100, 200), &g, NOW);
    core.on_message(narrow, &filter(T + 50, 10), &g, NOW);
    core.on_message(none, &filter(u32::MAX, 0), &g, NOW);
    core.on_accepted(Some(pk(9)), Message::NodeAnnouncement(node(9, T)));
    // Our own gossip goes to every peer, filter or not.
    core.on_accepted(None, Message::NodeAnnouncement(node(8, T - 10_000)));
    let out = core.tick(NOW + 1, &g);
    let count = |p: &PublicKey| sends(&out, p).len();
    assert_eq!(
        (count(&wide), count(&narrow), count(&none), count(&plain)),
        (2, 1, 1, 1)
    );
    // A filter for another chain turns relay off.
    let other = GossipTimestampFilter {
        chain_hash: ChainHash::using_genesis_block(Network::Bitcoin),
        first_timestamp: 0,
        timestamp_range: u32::MAX,
        excess_data: Vec::new(),
    };
    core.on_message(
        wide,
        &Message::GossipTimestampFilter(other.clone()),
        &g,
        NOW,
    );
    core.on_accepted(Some(pk(9)), Message::NodeAnnouncement(node(9, T + 1)));
    assert!(sends(&core.tick(NOW + 2, &g), &wide).is_empty());
}

#[test]
fn an_announcement_waits_for_its_first_update_and_goes_before_it() {
    let g = FakeGraph::default();
    let mut core = relay_core(cfg(), 1);
    let s = scid(10, 0);
    core.on_accepted(
        Some(pk(9)),
        Message::ChannelAnnouncement(announcement(s, 1, 2)),
    );
    assert!(core.tick(NOW + 1, &g).is_empty());
    core.on_accepted(Some(pk(9)), Message::ChannelUpdate(update(s, 1, T)));
    core.on_accepted(Some(pk(9)), Message::ChannelUpdate(update(s, 1, T + 5)));
    let out = sends(&core.tick(NOW + 2, &g), &pk(1));
    // The newer update replaced the older one in the batch.
    assert_eq!(
        out,
        vec![
            Message::ChannelAnnouncement(announcement(s, 1, 2)),
            Message::ChannelUpdate(update(s, 1, T + 5)),
        ]
    );
}

#[test]
fn a_full_relay_queue_drops_the_oldest_and_counts() {
    let g = FakeGraph::default();
    let config = SyncConfig {
        relay_queue_cap: 5,
        max_messages_per_tick: 3,
        ..cfg()
    };
    let mut core = relay_core(config, 1);
    for n in 0..8 {
        core.on_accepted(Some(pk(9)), Message::NodeAnnouncement(node(100 + n, T)));
    }
    let out = sends(&core.tick(NOW + 1, &g), &pk(1));
    // Three per tick; the three oldest were dropped.
    assert_eq!(out.len(), 3);
    assert_eq!(out[0], Message::NodeAnnouncement(node(103, T)));
    assert_eq!(core.peer_dropped(&pk(1)), Some(3));
    assert_eq!(core.stats().relay_dropped, 3);
    let out = sends(&core.tick(NOW + 1, &g), &pk(1));
    assert_eq!(out.len(), 2);
    assert_eq!(out[1], Message::NodeAnnouncement(node(107, T)));
}

#[test]
fn a_filter_dumps_the_gossip_in_its_window() {
    let mut g = FakeGraph::default();
    g.add(scid(10, 0), 1, 2, T - 10, 0);
    g.add(scid(10, 1), 1, 3, T - 5000, T - 5000);
    g.add(scid(11, 0), 4, 5, T - 5000, T - 20);
    let mut core = GossipSync::new(chain(), cfg(), NOW);
    let peer = pk(900);
    core.peer_connected(peer, &gq(), NOW);
    let out = sends(
        &core.on_message(peer, &filter(T - 1000, 2000), &g, NOW),
        &peer,
    );
    // Each channel's announcement, its update in the window, then its nodes (in the
    // announcement's order, each once).
    let channel = |s: ShortChannelId, direction: u8, ts: u32| {
        let a = &g.channels[&s].ann;
        vec![
            Message::ChannelAnnouncement(a.clone()),
            Message::ChannelUpdate(update(s, direction, ts)),
            Message::NodeAnnouncement(g.nodes[&a.contents.node_id_1].clone()),
            Message::NodeAnnouncement(g.nodes[&a.contents.node_id_2].clone()),
        ]
    };
    let mut expected = channel(scid(10, 0), 0, T - 10);
    expected.extend(channel(scid(11, 0), 1, T - 20));
    assert_eq!(out, expected);
    // A filter in the future dumps nothing.
    assert!(sends(&core.on_message(peer, &filter(T + 10, 100), &g, NOW), &peer).is_empty());
    assert!(sends(&core.tick(NOW + 1, &g), &peer).is_empty());
}

fn end_msg() -> Message {
    Message::ReplyShortChannelIdsEnd(ReplyShortChannelIdsEnd {
        chain_hash: chain(),
        full_information: 1,
        excess_data: Vec::new(),
    })
}

#[test]
fn requested_channels_are_asked_one_query_at_a_time() {
    let g = FakeGraph::default();
    let config = SyncConfig {
        max_sync_peers: 0,
        ..cfg()
    };
    let mut core = GossipSync::new(chain(), config, NOW);
    let peer = pk(1);
    core.peer_connected(peer, &gq(), NOW);
    let out = sends(
        &core.request_channels(peer, &[scid(10, 0), scid(10, 1)]),
        &peer,
    );
    let [Message::QueryShortChannelIds(q)] = &out[..] else {
        panic!("no query: {out:?}");
    };
    assert_eq!(q.short_channel_ids, vec![scid(10, 0), scid(10, 1)]);
    assert_eq!(q.query_flags, Some(vec![0x1f, 0x1f]));
    // Queued while the first query runs, sent after its end.
    assert!(core.request_channels(peer, &[scid(11, 0)]).is_empty());
    let out = sends(&core.on_message(peer, &end_msg(), &g, NOW), &peer);
    assert!(matches!(&out[..], [Message::QueryShortChannelIds(q)]
        if q.short_channel_ids == vec![scid(11, 0)]));
    assert!(core.on_message(peer, &end_msg(), &g, NOW).is_empty());
    assert_eq!(
        core.on_message(peer, &end_msg(), &g, NOW),
        vec![Action::Penalise(peer, SyncFault::Unsolicited)]
    );
    // gossip_queries is ASSUMED: a peer without its bits is asked too.
    core.peer_connected(pk(2), &Features::empty(), NOW);
    let out = sends(&core.request_channels(pk(2), &[scid(10, 0)]), &pk(2));
    assert!(
        out.iter()
            .any(|m| matches!(m, Message::QueryShortChannelIds(_))),
        "{out:?}"
    );
}

#[test]
fn requested_channels_wait_for_the_sync_with_that_peer() {
    let g = FakeGraph::default();
    let (mut core, peer) = syncing_core();
    assert!(core.request_channels(peer, &[scid(20, 0)]).is_empty());
    let reply = Message::ReplyChannelRange(part(0, u32::MAX, vec![scid(10, 0)]));
    let out = sends(&core.on_message(peer, &reply, &g, NOW), &peer);
    assert!(matches!(&out[..], [Message::QueryShortChannelIds(q)]
        if q.short_channel_ids == vec![scid(10, 0)]));
    // The sync's last end: now the requested channel is asked.
    let out = sends(&core.on_message(peer, &end_msg(), &g, NOW), &peer);
    assert!(matches!(&out[..], [Message::QueryShortChannelIds(q)]
        if q.short_channel_ids == vec![scid(20, 0)]));
    assert_eq!(core.stats().syncs_completed, 1);
}

#[test]
fn a_dump_walks_a_graph_larger_than_one_chunk() {
    let g = graph(2500);
    let mut core = GossipSync::new(chain(), cfg(), NOW);
    let peer = pk(9000);
    core.peer_connected(peer, &Features::empty(), NOW);
    let mut out = sends(&core.on_message(peer, &filter(0, u32::MAX), &g, NOW), &peer);
    for i in 1..100 {
        out.extend(sends(&core.tick(NOW + i, &g), &peer));
    }
    let count = |t: u16| out.iter().filter(|m| m.msg_type() == t).count();
    assert_eq!((count(256), count(258), count(257)), (2500, 5000, 2501));
}

#[test]
fn the_batch_and_the_waiting_announcements_are_bounded() {
    let g = FakeGraph::default();
    let config = SyncConfig {
        max_batch: 3,
        max_waiting_announcements: 2,
        ..cfg()
    };
    let mut core = relay_core(config, 1);
    for n in 0..5 {
        core.on_accepted(Some(pk(9)), Message::NodeAnnouncement(node(100 + n, T)));
    }
    assert_eq!(sends(&core.tick(NOW + 1, &g), &pk(1)).len(), 3);
    assert_eq!(core.stats().batch_dropped, 2);
    // Three announcements wait for updates with room for two: the oldest is dropped.
    for tx in 0..3 {
        let s = scid(10, tx);
        core.on_accepted(
            Some(pk(9)),
            Message::ChannelAnnouncement(announcement(s, 1, 2)),
        );
    }
    for tx in 0..3 {
        core.on_accepted(
            Some(pk(9)),
            Message::ChannelUpdate(update(scid(10, tx), 0, T)),
        );
    }
    let out = sends(&core.tick(NOW + 2, &g), &pk(1));
    let kinds: Vec<u16> = out.iter().map(Message::msg_type).collect();
    // The batch holds three: the lone update of the dropped one, then an announcement and its
    // update; the last pair did not fit.
    assert_eq!(kinds, vec![258, 256, 258]);
    assert_eq!(core.stats().batch_dropped, 2 + 1 + 2);
}

#[test]
fn requested_channels_per_peer_are_bounded() {
    let config = SyncConfig {
        max_sync_peers: 0,
        max_requested: 2,
        query_chunk: 10,
        ..cfg()
    };
    let mut core = GossipSync::new(chain(), config, NOW);
    let peer = pk(1);
    core.peer_connected(peer, &gq(), NOW);
    let ids: Vec<_> = (0..5).map(|i| scid(10, i)).collect();
    let out = sends(&core.request_channels(peer, &ids), &peer);
    assert!(matches!(&out[..], [Message::QueryShortChannelIds(q)]
        if q.short_channel_ids == ids[..2]));
}

#[test]
fn only_the_final_part_reaches_the_end_of_the_queried_range() {
    let mut g = FakeGraph::default();
    for tx in 0..5 {
        g.add(scid(99, tx), tx, tx + 1, T, T);
    }
    for tx in 0..8 {
        g.add(scid(100, tx), tx, tx + 1, T, T);
    }
    let config = SyncConfig {
        max_ids_per_reply: 10,
        ..cfg()
    };
    let q = range_query(0, 101, None);
    let parts = answer_range(&g, q.clone(), config);
    let ranges: Vec<_> = parts
        .iter()
        .map(|p| {
            (
                p.first_blocknum,
                p.number_of_blocks,
                p.short_channel_ids.len(),
            )
        })
        .collect();
    // The first part cannot take block 100's channels: ending at 101 would make it the last.
    assert_eq!(ranges, vec![(0, 100, 5), (99, 2, 8)]);
    let mut collector = RangeCollector::new(&q);
    assert_eq!(collector.on_reply(&parts[0], 10, 100), Ok(false));
    assert_eq!(collector.on_reply(&parts[1], 10, 100), Ok(true));
    assert_eq!(collector.listed.len(), 13);
}

#[test]
fn a_flood_of_filters_shares_one_budget_per_tick() {
    let g = graph(300);
    let config = SyncConfig {
        max_messages_per_tick: 40,
        max_lookups_per_tick: 30,
        ..cfg()
    };
    let mut core = GossipSync::new(chain(), config, NOW);
    let peer = pk(9000);
    core.peer_connected(peer, &Features::empty(), NOW);
    let mut sent = 0;
    for _ in 0..100 {
        let out = core.on_message(peer, &filter(0, u32::MAX), &g, NOW);
        sent += sends(&out, &peer).len();
    }
    // Each new filter restarts the dump, but all of them between two ticks share one budget.
    assert!(sent <= 40, "{sent} sent");
    let out = sends(&core.tick(NOW + 1, &g), &peer);
    assert!(out.len() <= 40);
}
