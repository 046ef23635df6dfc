//! The payer's reading of a failure's `channel_update`: used only when it is the erring
//! node's, and newer than what the graph holds.

use super::*;
use crate::gossip::graph::{NetworkGraph, Policy};
use crate::gossip::testkit::{TestChannel, NOW};
use crate::onion::FailureMessage;

fn graph_with(c: &TestChannel, known_timestamp: Option<u32>) -> SharedGraph {
    let mut g = NetworkGraph::new();
    let (_, ann) = c.announcement();
    assert!(g.add_channel(c.scid, c.node_id(0), c.node_id(1), c.capacity_sat, 1, ann));
    if let Some(t) = known_timestamp {
        let (_, bytes) = c.update(0, t);
        assert!(g.set_policy(c.scid, Policy::from_update_bytes(bytes).unwrap()));
    }
    std::sync::Arc::new(std::sync::RwLock::new(g))
}

fn failure(update: Vec<u8>) -> FailureMessage {
    FailureMessage::FeeInsufficient {
        htlc_msat: 1_000,
        channel_update: Some(update),
    }
}

#[test]
fn a_newer_update_signed_by_the_erring_node_is_read() {
    let c = TestChannel::new(1, 2, 500);
    let graph = graph_with(&c, Some(NOW - 10));
    let mut u = c.unsigned_update(0, NOW);
    u.fee_base_msat = 7_777;
    let (_, bytes) = c.signed_update(0, u);
    let got = checked_update(&failure(bytes), &c.node_id(0), &graph).unwrap();
    assert_eq!(got.fee_base_msat, 7_777);
    assert_eq!(got.cltv_expiry_delta, 40);
    assert!(!got.disabled);
    // Read for this payment only: the graph still holds what it had.
    let g = graph.read().unwrap();
    let known = g.channel(c.scid).unwrap().directions[0]
        .policy
        .as_ref()
        .unwrap();
    assert_eq!(known.timestamp, NOW - 10);
}

#[test]
fn an_update_from_another_signer_or_not_newer_is_ignored() {
    let c = TestChannel::new(1, 2, 500);
    let graph = graph_with(&c, Some(NOW));
    let (_, bytes) = c.update(0, NOW + 5);
    // Signed by node 0's key, claimed by node 1: not the erring node's word.
    assert!(checked_update(&failure(bytes.clone()), &c.node_id(1), &graph).is_none());
    // Not newer than the graph's.
    let (_, same) = c.update(0, NOW);
    assert!(checked_update(&failure(same), &c.node_id(0), &graph).is_none());
    // Garbage, or no update at all.
    assert!(checked_update(&failure(vec![1, 2, 3]), &c.node_id(0), &graph).is_none());
    let bare = FailureMessage::TemporaryChannelFailure {
        channel_update: None,
    };
    assert!(checked_update(&bare, &c.node_id(0), &graph).is_none());
    // A channel the graph does not know (a private one): its signer's word is enough.
    let empty: SharedGraph = Default::default();
    assert!(checked_update(&failure(bytes), &c.node_id(0), &empty).is_some());
}

#[test]
fn the_hops_of_an_attempt_are_walked_back_from_the_payee() {
    let c = TestChannel::new(1, 2, 500);
    let hub = c.node_id(0);
    let payee = c.node_id(1);
    let path = Path {
        first_channel: [1; 32],
        forwarders: vec![crate::onion::ForwardingHop {
            node_id: hub,
            next_channel: c.scid,
            fee_base_msat: 1_000,
            fee_proportional_millionths: 100,
            cltv_expiry_delta: 40,
        }],
        payee,
        amount_msat: 5_000_000,
        fee_msat: 1_500,
        cltv_delta: 61,
    };
    let recipient = Recipient {
        node_id: payee,
        amount_msat: 5_000_000,
        final_cltv_expiry: 800_021,
        payment_secret: None,
        total_msat: 5_000_000,
        payment_metadata: None,
        keysend_preimage: None,
    };
    let hops = attempt_hops(&path, None, &recipient);
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[0].node_id, hub);
    assert_eq!(hops[0].short_channel_id, None, "our private channel");
    assert_eq!(
        (hops[0].amount_msat, hops[0].cltv_expiry),
        (5_001_500, 800_061)
    );
    assert_eq!(hops[1].node_id, payee);
    assert_eq!(hops[1].short_channel_id, Some(c.scid.to_string()));
    assert_eq!(
        (hops[1].amount_msat, hops[1].cltv_expiry),
        (5_000_000, 800_021)
    );
}
