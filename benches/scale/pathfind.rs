//! Measurement 4: pathfinding on the graph of measurement 3 (the same generator, built in
//! memory here). Each query picks a random payer, whose graph channels become its own (half
//! their capacity outbound), a random payee and amount, and times `routing::find_route`
//! (multi-part allowed, a scorer holding 5,000 channel and 500 node penalties), the per-query
//! view included; then a fifth as many payments too big for any one channel, which must split.

use std::collections::HashMap;
use std::time::Instant;

use bitcoin::secp256k1::PublicKey;
use serde_json::{json, Value};

use chanhub::gossip::graph::{announcement_ids, NetworkGraph, Policy};
use chanhub::gossip::validate::GraphChange;
use chanhub::routing::{find_route, Constraints, LocalChannel, RouteParams, Scorer};

use super::graph::{generate, Params, NOW};

pub struct Query {
    pub queries: usize,
}

/// The graph the changes describe, as the store's load would build it.
fn build(changes: Vec<GraphChange>) -> NetworkGraph {
    let mut g = NetworkGraph::new();
    let mut keys: HashMap<[u8; 33], PublicKey> = HashMap::new();
    let mut key = |b: [u8; 33]| {
        *keys
            .entry(b)
            .or_insert_with(|| PublicKey::from_slice(&b).expect("a key"))
    };
    for c in changes {
        match c {
            GraphChange::Channel {
                capacity_sat,
                added_at,
                announcement,
                ..
            } => {
                let (scid, a, b) = announcement_ids(&announcement).expect("an announcement");
                g.add_channel(scid, key(a), key(b), capacity_sat, added_at, announcement);
            }
            GraphChange::Update { scid, bytes, .. } => {
                let p = Policy::from_update_bytes(bytes).expect("an update");
                g.set_policy(scid, p);
            }
            _ => {}
        }
    }
    g
}

/// xorshift, as the generator.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Latencies (ms, sorted) and what was found, for `queries` queries of `low..high` sat.
struct Measured {
    times: Vec<f64>,
    found: usize,
    parts: usize,
    hops: usize,
}

fn measure(
    g: &NetworkGraph,
    scorer: &Scorer,
    rng: &mut Rng,
    queries: usize,
    low: u64,
    high: u64,
) -> Measured {
    let nodes = g.nodes();
    let constraints = Constraints::default();
    let mut m = Measured {
        times: Vec::with_capacity(queries),
        found: 0,
        parts: 0,
        hops: 0,
    };
    for _ in 0..queries {
        let payer = rng.below(nodes.len() as u64) as usize;
        let mut payee = rng.below(nodes.len() as u64) as usize;
        if payee == payer {
            payee = (payer + 1) % nodes.len();
        }
        let us = nodes[payer].node_id;
        let local: Vec<LocalChannel> = nodes[payer]
            .channels
            .iter()
            .enumerate()
            .filter_map(|(i, scid)| {
                let c = g.channel(*scid)?;
                let (a, b) = g.ends(c);
                let peer = if *a == us { *b } else { *a };
                let mut id = [0u8; 32];
                id[..8].copy_from_slice(&(i as u64).to_be_bytes());
                Some(LocalChannel {
                    channel_id: id,
                    peer,
                    scid: Some(*scid),
                    usable: true,
                    outbound_msat: c.capacity_sat * 1000 / 2,
                    htlc_minimum_msat: 1,
                })
            })
            .collect();
        let amount_msat = (low + rng.below(high - low)) * 1000;
        let params = RouteParams {
            payee: nodes[payee].node_id,
            amount_msat,
            final_cltv_delta: 40,
            max_fee_msat: amount_msat / 50 + 50_000,
            max_total_cltv_delta: 2016,
            hints: Vec::new(),
            max_hops: 20,
            mpp: true,
            max_parts: 16,
        };
        let started = Instant::now();
        let r = find_route(
            &us,
            g,
            &local,
            &params,
            scorer,
            &constraints,
            u64::from(NOW),
        );
        m.times.push(started.elapsed().as_secs_f64() * 1000.0);
        if let Ok(paths) = r {
            m.found += 1;
            m.parts += paths.len();
            m.hops += paths.iter().map(|p| p.forwarders.len() + 1).sum::<usize>();
        }
    }
    m.times.sort_by(f64::total_cmp);
    m
}

pub fn run(p: &Params, q: &Query) -> Value {
    let started = Instant::now();
    let g = build(generate(p));
    let build_secs = started.elapsed().as_secs_f64();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    // A scorer with history: failures on 5,000 channel directions and 500 nodes in the last
    // hours, so the searches look penalties up as a busy node's would.
    let mut scorer = Scorer::new();
    let channels = g.channels_by_index();
    for _ in 0..5_000 {
        let c = &channels[rng.below(channels.len() as u64) as usize];
        let at = u64::from(NOW) - rng.below(6 * 3600);
        scorer.channel_failed(c.scid, rng.below(2) as u8, 1_000 * rng.below(1_000_000), at);
    }
    for _ in 0..500 {
        let n = &g.nodes()[rng.below(g.node_count() as u64) as usize];
        scorer.node_failed(&n.node_id, u64::from(NOW) - rng.below(6 * 3600));
    }
    // 1,000 to 300,000 sat: one path carries it (channels carry up to 1,000,000 sat).
    let one = measure(&g, &scorer, &mut rng, q.queries, 1_000, 300_000);
    // 1,200,000 to 3,000,000 sat: more than any channel, so split.
    let split = measure(
        &g,
        &scorer,
        &mut rng,
        (q.queries / 5).max(1),
        1_200_000,
        3_000_000,
    );
    json!({
        "nodes": g.node_count(),
        "channels": g.channel_count(),
        "build_secs": build_secs,
        "queries": q.queries,
        "found": one.found,
        "mean_parts": one.parts as f64 / one.found.max(1) as f64,
        "mean_hops": one.hops as f64 / one.parts.max(1) as f64,
        "pathfind_p50_ms": percentile(&one.times, 0.5),
        "pathfind_p99_ms": percentile(&one.times, 0.99),
        "pathfind_max_ms": one.times.last().copied().unwrap_or(0.0),
        "mpp_queries": split.times.len(),
        "mpp_found": split.found,
        "mpp_mean_parts": split.parts as f64 / split.found.max(1) as f64,
        "pathfind_mpp_p50_ms": percentile(&split.times, 0.5),
        "pathfind_mpp_p99_ms": percentile(&split.times, 0.99),
        "pathfind_mpp_max_ms": split.times.last().copied().unwrap_or(0.0),
    })
}

pub fn print(r: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    println!(
        "pathfinding on {} nodes and {} channels (generated in {:.1} s)",
        r["nodes"],
        r["channels"],
        f(&r["build_secs"])
    );
    println!(
        "  find_route     p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} queries",
        f(&r["pathfind_p50_ms"]),
        f(&r["pathfind_p99_ms"]),
        f(&r["pathfind_max_ms"]),
        r["queries"]
    );
    println!(
        "  routes         {} found, {:.2} parts and {:.1} channels per part on average",
        r["found"],
        f(&r["mean_parts"]),
        f(&r["mean_hops"])
    );
    println!(
        "  split payments p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} queries; {} found, \
         {:.1} parts on average",
        f(&r["pathfind_mpp_p50_ms"]),
        f(&r["pathfind_mpp_p99_ms"]),
        f(&r["pathfind_mpp_max_ms"]),
        r["mpp_queries"],
        r["mpp_found"],
        f(&r["mpp_mean_parts"])
    );
}
