//! Graphs for the pathfinding tests, built directly (the graph checks no signature, so the
//! updates are unsigned bytes at the right offsets).

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};

use super::{find_route, Constraints, LocalChannel, Path, RouteError, RouteParams, Scorer};
use crate::gossip::graph::{NetworkGraph, Policy};
use crate::invoice::{RouteHint, RouteHintHop};
use crate::wire::ShortChannelId;

pub const NOW: u64 = 1_700_000_000;

pub fn node(i: u32) -> PublicKey {
    let mut b = [0u8; 32];
    b[28..].copy_from_slice(&(i + 1).to_be_bytes());
    b[0] = 3;
    SecretKey::from_slice(&b)
        .unwrap()
        .public_key(&Secp256k1::new())
}

/// A direction's policy, as a test writes it.
#[derive(Debug, Clone, Copy)]
pub struct P {
    pub base: u32,
    pub ppm: u32,
    pub cltv: u16,
    pub min: u64,
    pub max: u64,
    pub disabled: bool,
    pub timestamp: u32,
}

impl Default for P {
    fn default() -> Self {
        Self {
            base: 1_000,
            ppm: 100,
            cltv: 40,
            min: 1,
            max: 1_000_000_000,
            disabled: false,
            timestamp: NOW as u32,
        }
    }
}

impl P {
    pub fn fee(base: u32, ppm: u32) -> Self {
        Self {
            base,
            ppm,
            ..Self::default()
        }
    }
}

/// An encoded `channel_update` (type included, signature zero) carrying `p`.
pub fn update_bytes(scid: ShortChannelId, dir: u8, p: &P) -> Vec<u8> {
    let mut b = Vec::with_capacity(138);
    b.extend_from_slice(&258u16.to_be_bytes());
    b.extend_from_slice(&[0u8; 64]);
    b.extend_from_slice(&[6u8; 32]);
    b.extend_from_slice(&scid.0.to_be_bytes());
    b.extend_from_slice(&p.timestamp.to_be_bytes());
    b.push(1);
    b.push(dir | if p.disabled { 2 } else { 0 });
    b.extend_from_slice(&p.cltv.to_be_bytes());
    b.extend_from_slice(&p.min.to_be_bytes());
    b.extend_from_slice(&p.base.to_be_bytes());
    b.extend_from_slice(&p.ppm.to_be_bytes());
    b.extend_from_slice(&p.max.to_be_bytes());
    b
}

/// A graph under construction.
#[derive(Default)]
pub struct G {
    pub graph: NetworkGraph,
    next: u32,
}

impl G {
    pub fn new() -> Self {
        Self::default()
    }

    /// A channel between `a` and `b` of `capacity_sat`, with no policy yet.
    pub fn channel(&mut self, a: &PublicKey, b: &PublicKey, capacity_sat: u64) -> ShortChannelId {
        self.next += 1;
        let scid = ShortChannelId::new(100 + self.next, self.next, 0).unwrap();
        let (n1, n2) = if a.serialize() < b.serialize() {
            (a, b)
        } else {
            (b, a)
        };
        assert!(self
            .graph
            .add_channel(scid, *n1, *n2, capacity_sat, NOW as u32, Vec::new()));
        scid
    }

    /// Sets the policy `from` forwards with over `scid` towards its other end `to`.
    pub fn policy(&mut self, scid: ShortChannelId, from: &PublicKey, to: &PublicKey, p: P) {
        let dir = super::direction(from, to);
        let policy = Policy::from_update_bytes(update_bytes(scid, dir, &p)).unwrap();
        assert!(self.graph.set_policy(scid, policy));
    }

    /// A channel with the same policy both ways.
    pub fn both(
        &mut self,
        a: &PublicKey,
        b: &PublicKey,
        capacity_sat: u64,
        p: P,
    ) -> ShortChannelId {
        let scid = self.channel(a, b, capacity_sat);
        self.policy(scid, a, b, p);
        self.policy(scid, b, a, p);
        scid
    }
}

pub fn local(id: u8, peer: &PublicKey, outbound_msat: u64) -> LocalChannel {
    LocalChannel {
        channel_id: [id; 32],
        peer: *peer,
        scid: None,
        usable: true,
        outbound_msat,
        htlc_minimum_msat: 1,
    }
}

pub fn params(payee: &PublicKey, amount_msat: u64) -> RouteParams {
    RouteParams {
        payee: *payee,
        amount_msat,
        final_cltv_delta: 40,
        max_fee_msat: 1_000_000_000,
        max_total_cltv_delta: 2016,
        hints: Vec::new(),
        max_hops: 20,
        mpp: false,
        max_parts: 16,
    }
}

pub fn hint(hops: &[(PublicKey, ShortChannelId, u32, u32, u16)]) -> RouteHint {
    RouteHint(
        hops.iter()
            .map(|(n, scid, base, ppm, cltv)| RouteHintHop {
                src_node_id: *n,
                short_channel_id: *scid,
                fee_base_msat: *base,
                fee_proportional_millionths: *ppm,
                cltv_expiry_delta: *cltv,
            })
            .collect(),
    )
}

/// A route with no scorer history and no constraints.
pub fn route(
    us: &PublicKey,
    g: &G,
    local: &[LocalChannel],
    params: &RouteParams,
) -> Result<Vec<Path>, RouteError> {
    find_route(
        us,
        &g.graph,
        local,
        params,
        &Scorer::new(),
        &Constraints::default(),
        NOW,
    )
}

/// The one path of a single-part route.
pub fn single(r: Result<Vec<Path>, RouteError>) -> Path {
    let mut paths = r.expect("a route");
    assert_eq!(paths.len(), 1, "one part");
    paths.remove(0)
}

/// The forwarders' node ids.
pub fn via(p: &Path) -> Vec<PublicKey> {
    p.forwarders.iter().map(|f| f.node_id).collect()
}
