//! Pathfinding, pure: from our channels, the network graph and an invoice's route hints to
//! the paths a payment takes, one or several (multi-part).
//!
//! - [`find_route`]: the entry point; one path when one can carry the amount, else (when the
//!   payee accepts multi-part payments) a split across paths sized by their bottlenecks.
//! - [`search`]: one Dijkstra search backwards from the payee over dense node indices.
//! - [`view`]: what the search sees of an edge: the graph's channels, ours and the hints,
//!   with this payment's [`Constraints`] applied.
//! - [`split`]: liquidity-aware splitting of one payment into parts.
//! - [`scorer`]: penalties learned from failures, decaying with time, persisted by the node.
//!
//! Fees are charged by each forwarder on its outgoing channel, never by us. The cost a search
//! minimises is the fee plus a risk cost of the CLTV locked, the scorer's penalties and a
//! small penalty for using much of a channel's capacity (see [`CostWeights`]).

use std::collections::{HashMap, HashSet};

use bitcoin::secp256k1::PublicKey;

use crate::invoice::RouteHint;
use crate::onion::ForwardingHop;
use crate::wire::ShortChannelId;

pub mod scorer;
pub mod search;
pub mod split;
pub mod view;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests_limits;
#[cfg(test)]
mod tests_mpp;
#[cfg(test)]
mod tests_paths;
#[cfg(test)]
mod tests_props;
#[cfg(test)]
mod tests_scorer;

pub use scorer::{PenaltyEntry, PenaltyKey, Scorer};

use crate::gossip::graph::NetworkGraph;

/// The most channels a path may have, ours included: the onion's limit in practice.
pub const MAX_HOPS: usize = 20;

/// One of our channels, known exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalChannel {
    pub channel_id: [u8; 32],
    pub peer: PublicKey,
    /// Its real scid if announced, so the graph's copy of it is not used twice.
    pub scid: Option<ShortChannelId>,
    /// Connected and in normal operation.
    pub usable: bool,
    /// The most one HTLC on it may carry now (exact: reserves and HTLCs in flight deducted).
    pub outbound_msat: u64,
    /// The peer's `htlc_minimum_msat`.
    pub htlc_minimum_msat: u64,
}

/// What one payment asks of its route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteParams {
    pub payee: PublicKey,
    /// What the payee must receive in total.
    pub amount_msat: u64,
    /// The payee's `min_final_cltv_expiry_delta` plus our margin.
    pub final_cltv_delta: u32,
    /// Over all parts together.
    pub max_fee_msat: u64,
    /// The first hop's expiry above the tip, at most.
    pub max_total_cltv_delta: u32,
    pub hints: Vec<RouteHint>,
    /// Channels on a path, ours included (at most [`MAX_HOPS`]).
    pub max_hops: usize,
    /// The payee accepts multi-part payments (`basic_mpp`).
    pub mpp: bool,
    pub max_parts: usize,
}

/// A policy from a `channel_update` inside a BOLT 4 failure, used for this payment's retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyOverride {
    pub fee_base_msat: u32,
    pub fee_proportional_millionths: u32,
    pub cltv_expiry_delta: u16,
    pub htlc_minimum_msat: u64,
    pub htlc_maximum_msat: u64,
    pub disabled: bool,
}

/// What one payment has learned so far, applied on top of the graph for its retries only.
/// Keys are (scid, direction), direction per BOLT 7: 0 when the forwarding node is the lesser
/// node id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints {
    pub avoid_channels: HashSet<(ShortChannelId, u8)>,
    pub avoid_nodes: HashSet<PublicKey>,
    pub policy_overrides: HashMap<(ShortChannelId, u8), PolicyOverride>,
    /// Msat our own pending parts already use on graph or hint channels.
    pub in_flight: HashMap<(ShortChannelId, u8), u64>,
    /// Learned this payment: the channel could not carry this much (our parts in flight on it
    /// at the time included), so it is assumed to carry at most one msat less.
    pub max_liquidity: HashMap<(ShortChannelId, u8), u64>,
}

/// One part of a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// Our channel it leaves on.
    pub first_channel: [u8; 32],
    /// The nodes after us that forward, each with the policy of its outgoing channel (what
    /// [`crate::onion::build_payment_onion`] takes).
    pub forwarders: Vec<ForwardingHop>,
    pub payee: PublicKey,
    /// Delivered to the payee by this part.
    pub amount_msat: u64,
    /// This part's fees.
    pub fee_msat: u64,
    /// The forwarders' deltas plus the final delta: the first hop's expiry above the tip.
    pub cltv_delta: u32,
}

impl Path {
    /// The graph or hint channels after our own, with their direction.
    pub fn channels(&self) -> Vec<(ShortChannelId, u8)> {
        let nodes = self.nodes();
        self.forwarders
            .iter()
            .zip(nodes.iter().skip(1))
            .map(|(f, next)| (f.next_channel, direction(&f.node_id, next)))
            .collect()
    }

    /// The forwarders, then the payee.
    pub fn nodes(&self) -> Vec<PublicKey> {
        self.forwarders
            .iter()
            .map(|f| f.node_id)
            .chain(std::iter::once(self.payee))
            .collect()
    }

    /// The amount each forwarder sends on over its outgoing channel, in path order.
    pub fn forwarded_amounts(&self) -> Vec<u64> {
        let mut out = vec![0; self.forwarders.len()];
        let mut amount = self.amount_msat;
        for (i, f) in self.forwarders.iter().enumerate().rev() {
            out[i] = amount;
            amount = amount.saturating_add(f.fee_msat(amount).unwrap_or(u64::MAX));
        }
        out
    }

    /// What the HTLC on our own channel carries: the amount plus every fee.
    pub fn first_hop_amount_msat(&self) -> u64 {
        self.amount_msat.saturating_add(self.fee_msat)
    }
}

/// BOLT 7's direction of a channel used by `from` towards `to`: 0 when `from` is the lesser
/// node id.
pub fn direction(from: &PublicKey, to: &PublicKey) -> u8 {
    u8::from(from.serialize() > to.serialize())
}

/// Why there is no route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("the payee is this node")]
    OwnPayee,
    #[error("invalid route parameters: {0}")]
    InvalidParams(String),
    #[error("no route: {0}")]
    NoRoute(String),
    #[error("the cheapest route costs {fee_msat} msat in fees, more than the {max_fee_msat} msat allowed")]
    TooExpensive { fee_msat: u64, max_fee_msat: u64 },
    #[error("the shortest route locks funds for {cltv} blocks, more than the {max} allowed")]
    TooLong { cltv: u32, max: u32 },
}

/// How the search weighs risk against fees. [`CostWeights::default`] is what
/// [`find_route`] uses; the property tests turn the soft costs off to compare with brute force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostWeights {
    /// Cost of locking one msat for one block, in billionths of a msat.
    pub cltv_risk_ppb: u64,
    /// Cost of using a whole channel's capacity; less in proportion.
    pub capacity_use_msat: u64,
    /// Whether the scorer's penalties count.
    pub use_scorer: bool,
}

/// The CLTV risk: a msat locked for one block costs this many billionths of a msat (LND
/// uses the same order): 1,000,000 sat for 144 blocks costs about 2 sat.
pub const CLTV_RISK_PPB: u64 = 15;
/// Using a channel's whole capacity costs this much; half its capacity half of it.
pub const CAPACITY_USE_PENALTY_MSAT: u64 = 5_000;

impl Default for CostWeights {
    fn default() -> Self {
        Self {
            cltv_risk_ppb: CLTV_RISK_PPB,
            capacity_use_msat: CAPACITY_USE_PENALTY_MSAT,
            use_scorer: true,
        }
    }
}

/// The paths for a payment: one when one can carry the whole amount, else, if `params.mpp`,
/// at most `params.max_parts` parts whose amounts sum exactly to `params.amount_msat` and
/// whose fees together stay within `params.max_fee_msat`.
///
/// # Errors
/// [`RouteError`], saying why.
pub fn find_route(
    us: &PublicKey,
    graph: &NetworkGraph,
    local: &[LocalChannel],
    params: &RouteParams,
    scorer: &Scorer,
    constraints: &Constraints,
    now_secs: u64,
) -> Result<Vec<Path>, RouteError> {
    find_route_weighted(
        us,
        graph,
        local,
        params,
        scorer,
        constraints,
        now_secs,
        &CostWeights::default(),
    )
}

/// [`find_route`] with explicit cost weights.
///
/// # Errors
/// As [`find_route`].
#[allow(clippy::too_many_arguments)]
pub fn find_route_weighted(
    us: &PublicKey,
    graph: &NetworkGraph,
    local: &[LocalChannel],
    params: &RouteParams,
    scorer: &Scorer,
    constraints: &Constraints,
    now_secs: u64,
    weights: &CostWeights,
) -> Result<Vec<Path>, RouteError> {
    if params.payee == *us {
        return Err(RouteError::OwnPayee);
    }
    if params.amount_msat == 0 {
        return Err(RouteError::InvalidParams("the amount is zero".into()));
    }
    if params.max_hops == 0 || params.max_parts == 0 {
        return Err(RouteError::InvalidParams(
            "max_hops and max_parts must be at least 1".into(),
        ));
    }
    let mut view = view::View::new(us, graph, local, params, scorer, constraints, now_secs);
    split::route(&mut view, params, weights)
}
