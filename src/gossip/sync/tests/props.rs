//! Properties of the range answer and of the reply checks, over random graphs and parts.

use proptest::prelude::*;

use super::fake::{scid, FakeGraph};
use super::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever the graph, the queried blocks and the part size, our parts pass our own
    /// checks (the final one alone reaching the queried end) and list the graph's channels in
    /// the queried blocks, each once.
    #[test]
    fn range_parts_always_cover_and_list_each_channel_once(
        ids in proptest::collection::btree_set((0u32..60, 0u32..40), 0..200),
        first in 0u32..70,
        n in 1u32..80,
        limit in 1usize..30,
        options in 0u64..4,
    ) {
        let mut g = FakeGraph::default();
        for (block, tx) in &ids {
            g.add(scid(*block, *tx), *tx, *tx + 1, T, T);
        }
        let config = SyncConfig { max_ids_per_reply: limit, ..cfg() };
        let q = range_query(first, n, Some(options));
        let parts = answer_range(&g, q.clone(), config);
        let mut collector = RangeCollector::new(&q);
        for (i, p) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            prop_assert!(p.short_channel_ids.len() <= limit);
            prop_assert_eq!(p.sync_complete, u8::from(last));
            prop_assert_eq!(collector.on_reply(p, usize::MAX, usize::MAX), Ok(last));
        }
        let listed: Vec<_> = collector.listed.iter().map(|(s, _)| *s).collect();
        let expected: Vec<_> = g
            .channels
            .keys()
            .filter(|s| s.block() >= first && s.block() < first + n)
            .copied()
            .collect();
        // Only when the range's last block alone holds more channels than a part are some
        // of them left out (see `RangeAnswer::next_part`).
        let in_last = expected.iter().filter(|s| s.block() == first + n - 1).count();
        if in_last <= limit {
            prop_assert_eq!(listed, expected);
        } else {
            prop_assert_eq!(listed.len(), expected.len() - in_last + limit);
            prop_assert!(listed.iter().all(|s| expected.contains(s)));
        }
    }

    /// Random parts never make the checks panic, and a rejected part costs the peer.
    #[test]
    fn random_range_replies_never_panic(
        parts in proptest::collection::vec(
            (any::<u32>(), any::<u32>(), proptest::collection::vec(any::<u64>(), 0..8)),
            0..12,
        ),
    ) {
        let g = FakeGraph::default();
        let (mut core, peer) = syncing_core();
        for (first, n, ids) in parts {
            let mut ids: Vec<_> = ids.into_iter().map(ShortChannelId).collect();
            ids.sort();
            let reply = Message::ReplyChannelRange(part(first, n, ids));
            for a in core.on_message(peer, &reply, &g, NOW) {
                prop_assert!(matches!(
                    a,
                    Action::Penalise(..) | Action::Send(_, Message::QueryShortChannelIds(_))
                ));
            }
        }
    }
}
