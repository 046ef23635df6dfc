//! One search: Dijkstra backwards from the payee, as LDK and LND do, so each node's label
//! knows exactly what the HTLC reaching it must carry (the payee's amount plus the fees of
//! every forwarder after it) and the CLTV delta still ahead.
//!
//! A node's label is final when popped; the search stops when it pops us. Only our own
//! channels leave from us, and no path passes through the payee or back through us. With the
//! soft costs off, a cheaper label always carries less, so upstream fees are never higher
//! for it and the first label to reach us is the cheapest path (the property tests check this
//! against brute force).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::view::{EdgeInfo, EdgeRef, View};
use super::CostWeights;

/// Limits one search honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// What the payee must receive on this path.
    pub amount_msat: u64,
    /// The most this path may pay in fees.
    pub fee_budget_msat: u64,
    pub final_cltv_delta: u32,
    pub max_cltv: u32,
    /// Channels, ours included.
    pub max_hops: usize,
}

#[derive(Debug, Clone, Copy)]
struct Label {
    cost: u64,
    /// What the HTLC reaching this node carries.
    amount: u64,
    /// The CLTV delta from this node's incoming HTLC to the payee's.
    cltv: u32,
    /// Channels from this node to the payee.
    hops: u16,
    next: EdgeRef,
    next_node: u32,
    epoch: u32,
    done: bool,
}

const EMPTY: Label = Label {
    cost: 0,
    amount: 0,
    cltv: 0,
    hops: 0,
    next: EdgeRef::Local(0),
    next_node: u32::MAX,
    epoch: 0,
    done: false,
};

/// Vectors reused by every search of one payment: labels are valid only for the current
/// epoch, so nothing is cleared between searches.
#[derive(Default)]
pub struct Scratch {
    labels: Vec<Label>,
    heap: BinaryHeap<Reverse<(u64, u32)>>,
    epoch: u32,
}

impl Scratch {
    fn begin(&mut self, nodes: usize) {
        if self.labels.len() < nodes {
            self.labels.resize(nodes, EMPTY);
        }
        self.heap.clear();
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.labels.iter_mut().for_each(|l| l.epoch = 0);
            self.epoch = 1;
        }
    }
}

/// A path found: its edges from us to the payee, each with its terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub edges: Vec<(EdgeRef, EdgeInfo)>,
}

/// The cheapest path for `limits.amount_msat` within the limits, if any.
pub fn search(view: &View, s: &mut Scratch, limits: &Limits, w: &CostWeights) -> Option<Found> {
    s.begin(view.node_count());
    let epoch = s.epoch;
    let (us, payee) = (view.us, view.payee);
    s.labels[payee as usize] = Label {
        amount: limits.amount_msat,
        cltv: limits.final_cltv_delta,
        epoch,
        ..EMPTY
    };
    if limits.final_cltv_delta > limits.max_cltv {
        return None;
    }
    s.heap.push(Reverse((0, payee)));
    while let Some(Reverse((cost, v))) = s.heap.pop() {
        let lv = s.labels[v as usize];
        if lv.done || cost > lv.cost {
            continue;
        }
        s.labels[v as usize].done = true;
        if v == us {
            return build(view, s);
        }
        for &c in view.graph_in(v) {
            if let Some((e, dir)) = view.graph_edge(c, v) {
                // We leave only on our own channels (they replace the graph's copy).
                if e.src != us {
                    relax(view, s, &lv, v, EdgeRef::Graph(c, dir), &e, limits, w);
                }
            }
        }
        for &r in view.extra_in(v) {
            if let Some(e) = view.edge(r, v) {
                relax(view, s, &lv, v, r, &e, limits, w);
            }
        }
    }
    None
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn relax(
    view: &View,
    s: &mut Scratch,
    lv: &Label,
    v: u32,
    r: EdgeRef,
    e: &EdgeInfo,
    limits: &Limits,
    w: &CostWeights,
) {
    let u = e.src;
    if u == view.payee {
        return;
    }
    let from_us = u == view.us;
    let amount = lv.amount;
    if amount < e.htlc_minimum_msat || amount > e.bound_msat {
        return;
    }
    let hops = usize::from(lv.hops) + 1;
    // A forwarder still needs one of our channels before it.
    if hops + usize::from(!from_us) > limits.max_hops {
        return;
    }
    let mut cost = lv.cost;
    let (amount_u, cltv_u) = if from_us {
        (amount, lv.cltv)
    } else {
        let penalty = view.node_penalty(u);
        if penalty == u64::MAX {
            return;
        }
        let Some(fee) = e.fee_msat(amount) else {
            return;
        };
        let Some(amount_u) = amount.checked_add(fee) else {
            return;
        };
        if amount_u - limits.amount_msat > limits.fee_budget_msat {
            return;
        }
        let cltv_u = lv.cltv.saturating_add(u32::from(e.cltv_expiry_delta));
        if cltv_u > limits.max_cltv {
            return;
        }
        let risk =
            u128::from(amount) * u128::from(e.cltv_expiry_delta) * u128::from(w.cltv_risk_ppb)
                / 1_000_000_000;
        cost = cost
            .saturating_add(fee)
            .saturating_add(u64::try_from(risk).unwrap_or(u64::MAX));
        if w.use_scorer {
            cost = cost.saturating_add(penalty);
        }
        (amount_u, cltv_u)
    };
    if w.use_scorer && e.scored {
        if let Some(scid) = e.scid {
            let p = view
                .scorer
                .channel_penalty_msat(scid, e.dir, amount, view.now_secs);
            cost = cost.saturating_add(p);
        }
    }
    if let Some(cap) = e.capacity_msat.filter(|c| *c > 0) {
        let p = u128::from(w.capacity_use_msat) * u128::from(amount) / u128::from(cap);
        cost = cost.saturating_add(u64::try_from(p).unwrap_or(u64::MAX));
    }
    let lu = &mut s.labels[u as usize];
    if lu.epoch == s.epoch && (lu.done || lu.cost <= cost) {
        return;
    }
    *lu = Label {
        cost,
        amount: amount_u,
        cltv: cltv_u,
        hops: hops as u16,
        next: r,
        next_node: v,
        epoch: s.epoch,
        done: false,
    };
    s.heap.push(Reverse((cost, u)));
}

/// Follows the labels from us to the payee.
fn build(view: &View, s: &Scratch) -> Option<Found> {
    let mut edges = Vec::new();
    let mut node = view.us;
    while node != view.payee {
        let l = &s.labels[node as usize];
        if l.epoch != s.epoch || edges.len() > usize::from(u16::MAX) {
            return None;
        }
        let e = view.edge(l.next, l.next_node)?;
        edges.push((l.next, e));
        node = l.next_node;
    }
    Some(Found { edges })
}
