//! Multi-part: splitting when one path cannot carry the amount.

use std::collections::HashMap;

use super::testkit::*;
use super::{find_route, Constraints, Path, RouteError, Scorer};

type Usage = (
    HashMap<[u8; 32], u64>,
    HashMap<(crate::wire::ShortChannelId, u8), u64>,
);

/// What each of our channels and each graph channel direction carries over all parts.
fn usage(paths: &[Path]) -> Usage {
    let mut ours = HashMap::new();
    let mut graph = HashMap::new();
    for p in paths {
        *ours.entry(p.first_channel).or_insert(0) += p.first_hop_amount_msat();
        for (c, amount) in p.channels().into_iter().zip(p.forwarded_amounts()) {
            *graph.entry(c).or_insert(0) += amount;
        }
    }
    (ours, graph)
}

#[test]
fn our_channels_split_the_amount_exactly_within_each_balance() {
    // Three direct channels to the payee, none big enough alone.
    let (us, z) = (node(0), node(3));
    let g = G::new();
    let ls = vec![
        local(1, &z, 400_000),
        local(2, &z, 700_000),
        local(3, &z, 300_000),
    ];
    let mut ps = params(&z, 1_200_000);
    assert!(matches!(
        route(&us, &g, &ls, &ps),
        Err(RouteError::NoRoute(_))
    ));
    ps.mpp = true;
    let parts = route(&us, &g, &ls, &ps).unwrap();
    assert!(parts.len() >= 2);
    assert_eq!(parts.iter().map(|p| p.amount_msat).sum::<u64>(), 1_200_000);
    let (ours, _) = usage(&parts);
    for l in &ls {
        assert!(ours.get(&l.channel_id).copied().unwrap_or(0) <= l.outbound_msat);
    }
    // More than all of them together: no.
    ps.amount_msat = 1_400_001;
    assert!(route(&us, &g, &ls, &ps).is_err());
    ps.amount_msat = 1_400_000;
    let parts = route(&us, &g, &ls, &ps).unwrap();
    assert_eq!(parts.iter().map(|p| p.amount_msat).sum::<u64>(), 1_400_000);
}

#[test]
fn graph_bottlenecks_split_across_paths_and_fees_stay_within_the_budget() {
    // us → A → Z (A–Z carries 3,000 sat), us → B → Z (B–Z carries 2,000 sat).
    let (us, a, b, z) = (node(0), node(1), node(2), node(3));
    let mut g = G::new();
    let az = g.both(&a, &z, 3_000, P::fee(100, 1_000));
    let bz = g.both(&b, &z, 2_000, P::fee(200, 1_000));
    let ls = vec![local(1, &a, u64::MAX), local(2, &b, u64::MAX)];
    let mut ps = params(&z, 4_500_000);
    ps.mpp = true;
    let parts = route(&us, &g, &ls, &ps).unwrap();
    assert_eq!(parts.iter().map(|p| p.amount_msat).sum::<u64>(), 4_500_000);
    let (_, graph) = usage(&parts);
    assert!(graph[&(az, super::direction(&a, &z))] <= 3_000_000);
    assert!(
        graph
            .get(&(bz, super::direction(&b, &z)))
            .copied()
            .unwrap_or(0)
            <= 2_000_000
    );
    let fees: u64 = parts.iter().map(|p| p.fee_msat).sum();
    // Each part's fee is its forwarder's fee on what it sends on.
    for p in &parts {
        let f = &p.forwarders[0];
        assert_eq!(p.fee_msat, f.fee_msat(p.amount_msat).unwrap());
    }
    ps.max_fee_msat = fees;
    assert!(route(&us, &g, &ls, &ps).is_ok());
    ps.max_fee_msat = 300 + 4_500 - 1;
    assert!(
        route(&us, &g, &ls, &ps).is_err(),
        "two parts cost at least 4,800 msat"
    );
    // One part for what one path carries.
    ps.max_fee_msat = 1_000_000;
    ps.amount_msat = 2_500_000;
    assert_eq!(route(&us, &g, &ls, &ps).unwrap().len(), 1);
}

#[test]
fn max_parts_and_the_payments_own_parts_in_flight() {
    let (us, z) = (node(0), node(3));
    let g = G::new();
    let ls: Vec<_> = (1..=5).map(|i| local(i, &z, 100_000)).collect();
    let mut ps = params(&z, 500_000);
    ps.mpp = true;
    assert_eq!(route(&us, &g, &ls, &ps).unwrap().len(), 5);
    ps.max_parts = 4;
    assert!(matches!(
        route(&us, &g, &ls, &ps),
        Err(RouteError::NoRoute(_))
    ));

    // A hint's channel with 600,000 msat of our parts already in flight on it.
    let (a, x) = (node(1), crate::wire::ShortChannelId::new(9, 9, 9).unwrap());
    let ls = vec![local(1, &a, u64::MAX)];
    let mut ps = params(&z, 500_000);
    ps.hints = vec![hint(&[(a, x, 0, 0, 40)])];
    let mut c = Constraints::default();
    c.max_liquidity
        .insert((x, super::direction(&a, &z)), 1_000_001);
    c.in_flight.insert((x, super::direction(&a, &z)), 600_000);
    let r = find_route(&us, &g.graph, &ls, &ps, &Scorer::new(), &c, NOW);
    assert!(r.is_err(), "400,000 msat left on it");
    ps.amount_msat = 400_000;
    let r = find_route(&us, &g.graph, &ls, &ps, &Scorer::new(), &c, NOW);
    assert_eq!(r.unwrap()[0].amount_msat, 400_000);
}

#[test]
fn parts_on_a_shared_channel_never_exceed_it() {
    // Both of our channels lead to A; A–Z is the bottleneck for everything.
    let (us, a, z) = (node(0), node(1), node(3));
    let mut g = G::new();
    g.both(&a, &z, 1_000, P::fee(0, 0));
    let ls = vec![local(1, &a, 600_000), local(2, &a, 600_000)];
    let mut ps = params(&z, 1_000_000);
    ps.mpp = true;
    let parts = route(&us, &g, &ls, &ps).unwrap();
    assert_eq!(parts.iter().map(|p| p.amount_msat).sum::<u64>(), 1_000_000);
    ps.amount_msat = 1_000_001;
    assert!(route(&us, &g, &ls, &ps).is_err());
}
