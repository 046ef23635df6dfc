//! Property tests on small random graphs: whatever the graph and the limits, a route never
//! breaks a limit or a channel's terms; and with the soft costs off and the CLTV and hop
//! limits not binding, the path found costs exactly the least fee a brute force over every
//! simple path finds. Some payees are also reached through one-hop route hints.

use std::collections::HashMap;

use bitcoin::secp256k1::PublicKey;
use proptest::prelude::*;

use super::testkit::*;
use super::{
    direction, find_route, find_route_weighted, Constraints, CostWeights, LocalChannel, Path,
    RouteParams, Scorer,
};
use crate::wire::ShortChannelId;

/// (a, b, capacity sat, a's policy, b's policy).
type TestChannel = (u32, u32, u64, Option<P>, Option<P>);

#[derive(Debug, Clone)]
struct Case {
    nodes: u32,
    /// (a, b, capacity sat, a's policy, b's policy): nodes 1.. (we are node 0).
    channels: Vec<TestChannel>,
    /// (peer, outbound msat, peer's minimum).
    local: Vec<(u32, u64, u64)>,
    /// One-hop route hints to the payee: (forwarder, base, ppm, cltv).
    hints: Vec<(u32, u32, u32, u16)>,
    amount: u64,
}

fn policy() -> impl Strategy<Value = Option<P>> {
    let p = (
        0u32..3_000,
        0u32..5_000,
        1u16..200,
        0u64..2_000_000,
        1u64..6_000_000,
        prop::bool::weighted(0.1),
    )
        .prop_map(|(base, ppm, cltv, min, max, disabled)| P {
            base,
            ppm,
            cltv,
            min,
            max,
            disabled,
            timestamp: NOW as u32,
        });
    prop::option::weighted(0.9, p)
}

fn case() -> impl Strategy<Value = Case> {
    (3u32..8).prop_flat_map(|n| {
        let chan = (1..n, 1..n, 1u64..8_000, policy(), policy());
        // Our peers are never the payee: a direct channel is a test of its own.
        let loc = (1..n - 1, 0u64..8_000_000, 0u64..2_000);
        let hint = (1..n - 1, 0u32..3_000, 0u32..5_000, 1u16..200);
        (
            prop::collection::vec(chan, 0..24),
            prop::collection::vec(loc, 1..4),
            prop::collection::vec(hint, 0..3),
            1u64..6_000_000,
        )
            .prop_map(move |(channels, local, hints, amount)| Case {
                nodes: n,
                channels,
                local,
                hints,
                amount,
            })
    })
}

struct Built {
    us: PublicKey,
    payee: PublicKey,
    g: G,
    local: Vec<LocalChannel>,
    /// Directed graph edges: (from, to, scid, policy, capacity msat).
    edges: Vec<(u32, u32, ShortChannelId, P, u64)>,
}

fn build(c: &Case, clamp_min: Option<u64>) -> Built {
    let mut g = G::new();
    let mut edges = Vec::new();
    for (a, b, cap, pa, pb) in &c.channels {
        if a == b {
            continue;
        }
        let scid = g.channel(&node(*a), &node(*b), *cap);
        for (from, to, p) in [(a, b, pa), (b, a, pb)] {
            if let Some(mut p) = *p {
                if let Some(m) = clamp_min {
                    p.min = p.min.min(m);
                }
                g.policy(scid, &node(*from), &node(*to), p);
                edges.push((*from, *to, scid, p, cap * 1000));
            }
        }
    }
    for (i, (src, base, ppm, cltv)) in c.hints.iter().enumerate() {
        let p = P {
            base: *base,
            ppm: *ppm,
            cltv: *cltv,
            min: 0,
            max: u64::MAX,
            disabled: false,
            timestamp: NOW as u32,
        };
        edges.push((*src, c.nodes - 1, hint_scid(i), p, u64::MAX));
    }
    let local = c
        .local
        .iter()
        .enumerate()
        .map(|(i, (peer, out, min))| LocalChannel {
            htlc_minimum_msat: clamp_min.map_or(*min, |m| (*min).min(m)),
            ..local(i as u8 + 1, &node(*peer), *out)
        })
        .collect();
    Built {
        us: node(0),
        payee: node(c.nodes - 1),
        g,
        local,
        edges,
    }
}

fn hint_scid(i: usize) -> ShortChannelId {
    ShortChannelId::new(50_000 + i as u32, 1, 1).unwrap()
}

/// The case's hints, as an invoice carries them.
fn hints(c: &Case) -> Vec<crate::invoice::RouteHint> {
    c.hints
        .iter()
        .enumerate()
        .map(|(i, (src, base, ppm, cltv))| hint(&[(node(*src), hint_scid(i), *base, *ppm, *cltv)]))
        .collect()
}

fn fee(p: &P, amount: u64) -> u64 {
    u64::from(p.base) + amount * u64::from(p.ppm) / 1_000_000
}

/// The least fee of a single path within the limits, over every simple path.
fn brute_force(b: &Built, c: &Case, ps: &RouteParams) -> Option<u64> {
    let payee = c.nodes - 1;
    let mut best: Option<u64> = None;
    // Paths as lists of directed edge indices, from a peer of ours to the payee.
    fn walk(
        b: &Built,
        at: u32,
        payee: u32,
        seen: &mut Vec<u32>,
        path: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) {
        if at == payee {
            out.push(path.clone());
            return;
        }
        for (i, e) in b.edges.iter().enumerate() {
            if e.0 == at && !seen.contains(&e.1) && e.1 != 0 {
                seen.push(e.1);
                path.push(i);
                walk(b, e.1, payee, seen, path, out);
                path.pop();
                seen.pop();
            }
        }
    }
    for (l, lc) in c.local.iter().zip(&b.local) {
        let mut all = Vec::new();
        walk(b, l.0, payee, &mut vec![l.0], &mut Vec::new(), &mut all);
        'paths: for p in all {
            if p.len() + 1 > ps.max_hops {
                continue;
            }
            let mut amount = ps.amount_msat;
            let mut cltv = ps.final_cltv_delta;
            for &i in p.iter().rev() {
                let (_, _, _, pol, cap) = &b.edges[i];
                if pol.disabled || amount < pol.min || amount > pol.max.min(*cap) {
                    continue 'paths;
                }
                amount += fee(pol, amount);
                cltv += u32::from(pol.cltv);
            }
            if amount < lc.htlc_minimum_msat || amount > lc.outbound_msat {
                continue;
            }
            let f = amount - ps.amount_msat;
            if f > ps.max_fee_msat || cltv > ps.max_total_cltv_delta {
                continue;
            }
            best = Some(best.map_or(f, |x| x.min(f)));
        }
    }
    best
}

/// Every part within the limits and every channel's terms, all parts together within every
/// channel's capacity and our balances, summing to the amount.
fn check(b: &Built, ps: &RouteParams, paths: &[Path]) -> Result<(), TestCaseError> {
    prop_assert!(!paths.is_empty());
    let most = if ps.mpp { ps.max_parts } else { 1 };
    prop_assert!(paths.len() <= most);
    prop_assert_eq!(
        paths.iter().map(|p| p.amount_msat).sum::<u64>(),
        ps.amount_msat
    );
    prop_assert!(paths.iter().map(|p| p.fee_msat).sum::<u64>() <= ps.max_fee_msat);
    let mut used: HashMap<(ShortChannelId, u8), u64> = HashMap::new();
    let mut ours: HashMap<[u8; 32], u64> = HashMap::new();
    for p in paths {
        prop_assert!(p.forwarders.len() < ps.max_hops.min(20));
        prop_assert!(p.cltv_delta <= ps.max_total_cltv_delta);
        let nodes = p.nodes();
        prop_assert_eq!(*nodes.last().unwrap(), b.payee);
        prop_assert!(!nodes[..nodes.len() - 1].contains(&b.payee));
        prop_assert!(!nodes.contains(&b.us));
        let mut cltv = ps.final_cltv_delta;
        let mut amount = p.amount_msat;
        for (i, f) in p.forwarders.iter().enumerate().rev() {
            let next = nodes[i + 1];
            let e = b
                .edges
                .iter()
                .find(|e| e.2 == f.next_channel && node(e.0) == f.node_id && node(e.1) == next);
            let Some((_, _, _, pol, cap)) = e else {
                return Err(TestCaseError::fail("a channel the graph does not have"));
            };
            prop_assert!(!pol.disabled);
            prop_assert_eq!((f.fee_base_msat, f.cltv_expiry_delta), (pol.base, pol.cltv));
            prop_assert!(amount >= pol.min && amount <= pol.max);
            let u = used
                .entry((f.next_channel, direction(&f.node_id, &next)))
                .or_insert(0);
            *u += amount;
            prop_assert!(*u <= *cap);
            amount += fee(pol, amount);
            cltv += u32::from(pol.cltv);
        }
        prop_assert_eq!(cltv, p.cltv_delta);
        prop_assert_eq!(amount - p.amount_msat, p.fee_msat);
        let l = b
            .local
            .iter()
            .find(|l| l.channel_id == p.first_channel)
            .unwrap();
        prop_assert_eq!(l.peer, nodes[0]);
        prop_assert!(amount >= l.htlc_minimum_msat);
        let o = ours.entry(l.channel_id).or_insert(0);
        *o += amount;
        prop_assert!(*o <= l.outbound_msat);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn a_route_never_breaks_a_limit(
        c in case(),
        max_fee in 0u64..80_000,
        max_cltv in 40u32..700,
        max_hops in 1usize..8,
        mpp in any::<bool>(),
        max_parts in 1usize..5,
    ) {
        let b = build(&c, None);
        let ps = RouteParams {
            max_fee_msat: max_fee,
            max_total_cltv_delta: max_cltv,
            max_hops,
            mpp,
            max_parts,
            hints: hints(&c),
            ..params(&b.payee, c.amount)
        };
        let r = find_route(&b.us, &b.g.graph, &b.local, &ps, &Scorer::new(), &Constraints::default(), NOW);
        // A refusal is checked by the next property, where the limits that one label per
        // node cannot honour exactly (CLTV, hops) do not bind.
        if let Ok(paths) = r {
            check(&b, &ps, &paths)?;
        }
    }

    #[test]
    fn the_path_found_is_the_cheapest(c in case(), max_fee in 0u64..80_000) {
        let b = build(&c, Some(c.amount));
        let ps = RouteParams {
            max_fee_msat: max_fee,
            max_total_cltv_delta: u32::MAX,
            hints: hints(&c),
            ..params(&b.payee, c.amount)
        };
        let off = CostWeights { cltv_risk_ppb: 0, capacity_use_msat: 0, use_scorer: false };
        let r = find_route_weighted(&b.us, &b.g.graph, &b.local, &ps, &Scorer::new(), &Constraints::default(), NOW, &off);
        match (brute_force(&b, &c, &ps), r) {
            (Some(best), Ok(paths)) => {
                check(&b, &ps, &paths)?;
                prop_assert_eq!(paths[0].fee_msat, best);
            }
            (None, Err(_)) => {}
            (Some(best), Err(e)) => prop_assert!(false, "brute force found {} msat, we: {}", best, e),
            (None, Ok(p)) => prop_assert!(false, "no path exists, we found {:?}", p),
        }
    }
}
