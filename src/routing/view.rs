//! What one payment's searches see: dense node indices (the graph's, then the few nodes only
//! our channels or the hints name), each node's incoming edges, and per channel direction
//! what this payment changes (avoided, a policy from a failure, liquidity in use or learned).
//!
//! Built once per [`super::find_route`] call, outside the search's inner loop; the loop reads
//! plain vectors and touches a hash map only for the few directions this payment or the
//! scorer knows something about.

use std::collections::HashMap;

use bitcoin::secp256k1::PublicKey;

use super::{direction, Constraints, LocalChannel, PolicyOverride, RouteParams, Scorer};
use crate::gossip::graph::{Channel, NetworkGraph, STALE_AFTER_SECS};
use crate::wire::ShortChannelId;

/// No slot: nothing known beyond the graph.
const NONE: u32 = u32::MAX;

/// An edge of the search: the channel a forwarder sends over towards the payee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeRef {
    /// A graph channel (index in the graph's channel vector) and the direction used.
    Graph(u32, u8),
    /// One of our channels (index in the `local` slice).
    Local(u32),
    /// One hop of a route hint (index in [`View`]'s hint edges).
    Hint(u32),
}

/// An edge's terms for this payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeInfo {
    /// The forwarding node (the edge's source).
    pub src: u32,
    /// The next node.
    pub dst: u32,
    pub scid: Option<ShortChannelId>,
    pub dir: u8,
    pub fee_base_msat: u32,
    pub fee_proportional_millionths: u32,
    pub cltv_expiry_delta: u16,
    pub htlc_minimum_msat: u64,
    /// The most an HTLC on it may carry now: its maximum, its capacity or learned liquidity
    /// less what our parts already use.
    pub bound_msat: u64,
    /// Its capacity, for the capacity-use penalty (graph channels only).
    pub capacity_msat: Option<u64>,
    /// Whether the scorer has something on it.
    pub scored: bool,
}

impl EdgeInfo {
    /// The fee its forwarder charges to send `amount` on (BOLT 7, rounded down); `None` on
    /// overflow.
    #[inline]
    pub fn fee_msat(&self, amount: u64) -> Option<u64> {
        let prop = u128::from(amount) * u128::from(self.fee_proportional_millionths) / 1_000_000;
        u64::try_from(prop)
            .ok()?
            .checked_add(u64::from(self.fee_base_msat))
    }
}

/// What this payment knows of one channel direction beyond the graph.
#[derive(Debug, Clone, Default)]
struct Adjust {
    avoid: bool,
    policy: Option<PolicyOverride>,
    /// Our parts' use: the constraints' in-flight amount plus the parts chosen in this call.
    used_msat: u64,
    /// The channel could not carry this much.
    max_liquidity_msat: Option<u64>,
    scored: bool,
}

/// One hop of a hint as an edge.
#[derive(Debug, Clone, Copy)]
struct HintEdge {
    src: u32,
    dst: u32,
    scid: ShortChannelId,
    dir: u8,
    fee_base_msat: u32,
    fee_proportional_millionths: u32,
    cltv_expiry_delta: u16,
    adjust: u32,
}

/// The per-query view; see the module docs.
pub struct View<'a> {
    pub graph: &'a NetworkGraph,
    pub local: &'a [LocalChannel],
    pub scorer: &'a Scorer,
    pub now_secs: u64,
    pub us: u32,
    pub payee: u32,
    graph_nodes: usize,
    /// Nodes not in the graph, indexed from `graph_nodes` on.
    extra_nodes: Vec<PublicKey>,
    /// Each graph node's channels (indices), compressed: node `i`'s are
    /// `adj[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<u32>,
    adj: Vec<u32>,
    /// Local and hint edges by destination node (few).
    extra_in: HashMap<u32, Vec<EdgeRef>>,
    has_extra_in: Vec<bool>,
    hints: Vec<HintEdge>,
    /// Per graph channel direction (`2 * index + dir`): an index into `adjusts`, or [`NONE`].
    slots: Vec<u32>,
    adjusts: Vec<Adjust>,
    keys: HashMap<(ShortChannelId, u8), u32>,
    /// Per local channel: what parts chosen in this call use.
    local_used: Vec<u64>,
    /// Per node: the scorer's penalty, or `u64::MAX` for a node to avoid.
    node_penalty: Vec<u64>,
}

impl<'a> View<'a> {
    pub fn new(
        us: &PublicKey,
        graph: &'a NetworkGraph,
        local: &'a [LocalChannel],
        params: &RouteParams,
        scorer: &'a Scorer,
        constraints: &Constraints,
        now_secs: u64,
    ) -> Self {
        let graph_nodes = graph.node_count();
        let channels = graph.channels_by_index();
        let mut offsets = vec![0u32; graph_nodes + 1];
        for c in channels {
            offsets[c.node1 as usize + 1] += 1;
            offsets[c.node2 as usize + 1] += 1;
        }
        for i in 0..graph_nodes {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut adj = vec![0u32; 2 * channels.len()];
        for (i, c) in channels.iter().enumerate() {
            for n in [c.node1, c.node2] {
                adj[fill[n as usize] as usize] = i as u32;
                fill[n as usize] += 1;
            }
        }
        let mut v = View {
            graph,
            local,
            scorer,
            now_secs,
            us: 0,
            payee: 0,
            graph_nodes,
            extra_nodes: Vec::new(),
            offsets,
            adj,
            extra_in: HashMap::new(),
            has_extra_in: Vec::new(),
            hints: Vec::new(),
            slots: vec![NONE; 2 * channels.len()],
            adjusts: Vec::new(),
            keys: HashMap::new(),
            local_used: vec![0; local.len()],
            node_penalty: Vec::new(),
        };
        v.us = v.intern(us);
        v.payee = v.intern(&params.payee);
        v.add_constraints(constraints);
        for (scid, dir) in scorer.channel_keys() {
            let a = v.adjust_for(scid, dir);
            v.adjusts[a as usize].scored = true;
        }
        v.add_hints(params);
        for (i, l) in local.iter().enumerate() {
            if !l.usable || l.peer == *us {
                continue;
            }
            let avoided = l.scid.is_some_and(|s| {
                constraints
                    .avoid_channels
                    .contains(&(s, direction(us, &l.peer)))
            });
            if avoided {
                continue;
            }
            let dst = v.intern(&l.peer);
            v.extra_in
                .entry(dst)
                .or_default()
                .push(EdgeRef::Local(i as u32));
        }
        // The widest of several channels to one peer first: equal costs keep the first.
        let local_ref = local;
        for edges in v.extra_in.values_mut() {
            edges.sort_by_key(|e| match e {
                EdgeRef::Local(i) => std::cmp::Reverse(local_ref[*i as usize].outbound_msat),
                _ => std::cmp::Reverse(0),
            });
        }
        let total = v.node_count();
        v.has_extra_in = vec![false; total];
        for n in v.extra_in.keys() {
            v.has_extra_in[*n as usize] = true;
        }
        v.node_penalty = vec![0; total];
        for (node, p) in scorer.node_penalties(now_secs) {
            if let Some(i) = v.index_of(&node) {
                v.node_penalty[i as usize] = p;
            }
        }
        for node in &constraints.avoid_nodes {
            if let Some(i) = v.index_of(node) {
                v.node_penalty[i as usize] = u64::MAX;
            }
        }
        v
    }

    fn add_constraints(&mut self, c: &Constraints) {
        for key in &c.avoid_channels {
            let a = self.adjust_for(key.0, key.1);
            self.adjusts[a as usize].avoid = true;
        }
        for (key, p) in &c.policy_overrides {
            let a = self.adjust_for(key.0, key.1);
            self.adjusts[a as usize].policy = Some(*p);
        }
        for (key, used) in &c.in_flight {
            let a = self.adjust_for(key.0, key.1);
            let u = &mut self.adjusts[a as usize].used_msat;
            *u = u.saturating_add(*used);
        }
        for (key, max) in &c.max_liquidity {
            let a = self.adjust_for(key.0, key.1);
            let m = &mut self.adjusts[a as usize].max_liquidity_msat;
            *m = Some(m.map_or(*max, |old| old.min(*max)));
        }
    }

    fn add_hints(&mut self, params: &RouteParams) {
        let us = self.node_id(self.us);
        for hint in &params.hints {
            for (i, hop) in hint.0.iter().enumerate() {
                let next = hint.0.get(i + 1).map_or(params.payee, |h| h.src_node_id);
                // We leave only on our own channels, and never pass through the payee.
                if hop.src_node_id == us || hop.src_node_id == params.payee {
                    continue;
                }
                if next == us || next == hop.src_node_id {
                    continue;
                }
                let src = self.intern(&hop.src_node_id);
                let dst = self.intern(&next);
                let dir = direction(&hop.src_node_id, &next);
                let adjust = self.adjust_for(hop.short_channel_id, dir);
                let at = self.hints.len() as u32;
                self.hints.push(HintEdge {
                    src,
                    dst,
                    scid: hop.short_channel_id,
                    dir,
                    fee_base_msat: hop.fee_base_msat,
                    fee_proportional_millionths: hop.fee_proportional_millionths,
                    cltv_expiry_delta: hop.cltv_expiry_delta,
                    adjust,
                });
                self.extra_in
                    .entry(dst)
                    .or_default()
                    .push(EdgeRef::Hint(at));
            }
        }
    }

    /// The adjustment record of a channel direction, created if new (and linked to the
    /// graph's channel when it has one).
    fn adjust_for(&mut self, scid: ShortChannelId, dir: u8) -> u32 {
        let dir = dir & 1;
        if let Some(a) = self.keys.get(&(scid, dir)) {
            return *a;
        }
        let a = self.adjusts.len() as u32;
        self.adjusts.push(Adjust::default());
        self.keys.insert((scid, dir), a);
        if let Some(i) = self.graph.channel_index(scid) {
            self.slots[2 * i as usize + usize::from(dir)] = a;
        }
        a
    }

    fn intern(&mut self, node: &PublicKey) -> u32 {
        if let Some(i) = self.index_of(node) {
            return i;
        }
        self.extra_nodes.push(*node);
        (self.graph_nodes + self.extra_nodes.len() - 1) as u32
    }

    fn index_of(&self, node: &PublicKey) -> Option<u32> {
        self.graph.node_index(node).or_else(|| {
            self.extra_nodes
                .iter()
                .position(|n| n == node)
                .map(|i| (self.graph_nodes + i) as u32)
        })
    }

    pub fn node_count(&self) -> usize {
        self.graph_nodes + self.extra_nodes.len()
    }

    pub fn node_id(&self, i: u32) -> PublicKey {
        let i = i as usize;
        match self.graph.nodes().get(i) {
            Some(n) => n.node_id,
            None => self.extra_nodes[i - self.graph_nodes],
        }
    }

    /// The node's penalty, `u64::MAX` if it is to be avoided.
    #[inline]
    pub fn node_penalty(&self, i: u32) -> u64 {
        self.node_penalty[i as usize]
    }

    /// The graph channels touching graph node `v`.
    #[inline]
    pub fn graph_in(&self, v: u32) -> &[u32] {
        let v = v as usize;
        if v >= self.graph_nodes {
            return &[];
        }
        &self.adj[self.offsets[v] as usize..self.offsets[v + 1] as usize]
    }

    /// Our channels and hint hops ending at `v`.
    #[inline]
    pub fn extra_in(&self, v: u32) -> &[EdgeRef] {
        if self.has_extra_in[v as usize] {
            self.extra_in.get(&v).map_or(&[], Vec::as_slice)
        } else {
            &[]
        }
    }

    /// Graph channel `c` used towards `v` (one of its ends): its terms, or `None` if it may
    /// not be used (spent, no or stale or disabled policy, avoided, or leaving from us).
    #[inline]
    pub fn graph_edge(&self, c: u32, v: u32) -> Option<(EdgeInfo, u8)> {
        let ch: &Channel = &self.graph.channels_by_index()[c as usize];
        if ch.spent_at.is_some() {
            return None;
        }
        // The forwarder is the other end; node_id_1's updates are direction 0.
        let (src, dir) = if ch.node2 == v {
            (ch.node1, 0u8)
        } else {
            (ch.node2, 1u8)
        };
        let p = ch.directions[usize::from(dir)].policy.as_ref()?;
        if u64::from(p.timestamp) + u64::from(STALE_AFTER_SECS) < self.now_secs {
            return None;
        }
        let capacity = ch.capacity_sat.saturating_mul(1000);
        let mut e = EdgeInfo {
            src,
            dst: v,
            scid: Some(ch.scid),
            dir,
            fee_base_msat: p.fee_base_msat,
            fee_proportional_millionths: p.fee_proportional_millionths,
            cltv_expiry_delta: p.cltv_expiry_delta,
            htlc_minimum_msat: p.htlc_minimum_msat,
            bound_msat: p.htlc_maximum_msat.min(capacity),
            capacity_msat: Some(capacity),
            scored: false,
        };
        let mut disabled = p.disabled;
        let slot = self.slots[2 * c as usize + usize::from(dir)];
        if slot != NONE {
            disabled = self.apply(&mut e, slot, capacity, disabled)?;
        }
        (!disabled).then_some((e, dir))
    }

    /// Applies this payment's adjustments; `None` if the direction is avoided. Returns the
    /// disabled flag (an override replaces the graph's).
    fn apply(&self, e: &mut EdgeInfo, slot: u32, total: u64, disabled: bool) -> Option<bool> {
        let a = &self.adjusts[slot as usize];
        if a.avoid {
            return None;
        }
        let mut disabled = disabled;
        let mut per_htlc = e.bound_msat;
        if let Some(p) = a.policy {
            e.fee_base_msat = p.fee_base_msat;
            e.fee_proportional_millionths = p.fee_proportional_millionths;
            e.cltv_expiry_delta = p.cltv_expiry_delta;
            e.htlc_minimum_msat = p.htlc_minimum_msat;
            per_htlc = p.htlc_maximum_msat;
            disabled = p.disabled;
        }
        let mut total = total;
        if let Some(m) = a.max_liquidity_msat {
            total = total.min(m.saturating_sub(1));
        }
        e.bound_msat = per_htlc.min(total.saturating_sub(a.used_msat));
        e.scored = a.scored;
        Some(disabled)
    }

    /// A hint hop's terms (its capacity unknown).
    pub fn hint_edge(&self, h: u32) -> Option<EdgeInfo> {
        let h = &self.hints[h as usize];
        let mut e = EdgeInfo {
            src: h.src,
            dst: h.dst,
            scid: Some(h.scid),
            dir: h.dir,
            fee_base_msat: h.fee_base_msat,
            fee_proportional_millionths: h.fee_proportional_millionths,
            cltv_expiry_delta: h.cltv_expiry_delta,
            htlc_minimum_msat: 0,
            bound_msat: u64::MAX,
            capacity_msat: None,
            scored: false,
        };
        let disabled = self.apply(&mut e, h.adjust, u64::MAX, false)?;
        (!disabled).then_some(e)
    }

    /// Our channel `i`: exact, no fee, no delta of ours.
    pub fn local_edge(&self, i: u32) -> EdgeInfo {
        let l = &self.local[i as usize];
        EdgeInfo {
            src: self.us,
            dst: self.index_of(&l.peer).unwrap_or(u32::MAX),
            scid: l.scid,
            dir: 0,
            fee_base_msat: 0,
            fee_proportional_millionths: 0,
            cltv_expiry_delta: 0,
            htlc_minimum_msat: l.htlc_minimum_msat,
            bound_msat: l.outbound_msat.saturating_sub(self.local_used[i as usize]),
            capacity_msat: None,
            scored: false,
        }
    }

    /// The terms of an edge used towards `dst`.
    pub fn edge(&self, e: EdgeRef, dst: u32) -> Option<EdgeInfo> {
        match e {
            EdgeRef::Graph(c, _) => self.graph_edge(c, dst).map(|(e, _)| e),
            EdgeRef::Local(i) => Some(self.local_edge(i)),
            EdgeRef::Hint(h) => self.hint_edge(h),
        }
    }

    /// Records that a chosen part sends `amount` over edge `e`, so later parts see less.
    pub fn reserve(&mut self, e: &EdgeInfo, r: EdgeRef, amount: u64) {
        match r {
            EdgeRef::Local(i) => {
                let u = &mut self.local_used[i as usize];
                *u = u.saturating_add(amount);
            }
            EdgeRef::Graph(..) | EdgeRef::Hint(_) => {
                if let Some(scid) = e.scid {
                    let a = self.adjust_for(scid, e.dir);
                    let u = &mut self.adjusts[a as usize].used_msat;
                    *u = u.saturating_add(amount);
                }
            }
        }
    }

    /// Whether any of our channels could be used at all.
    pub fn has_local_edges(&self) -> bool {
        self.extra_in
            .values()
            .flatten()
            .any(|e| matches!(e, EdgeRef::Local(_)))
    }
}
