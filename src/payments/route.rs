//! Where a payment goes: straight to a peer we have a channel with, or through the first hop
//! of one of the invoice's route hints (the payee's hub). General pathfinding is not a hub's
//! job: its users are its peers, and other payees name their hub in their invoices.

use bitcoin::secp256k1::PublicKey;

use crate::invoice::RouteHint;
use crate::onion::ForwardingHop;

/// One of our channels, as routing needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OurChannel {
    pub channel_id: [u8; 32],
    pub peer: PublicKey,
    /// Connected and in normal operation.
    pub usable: bool,
    /// What we could offer now, roughly (our balance less the reserve); the channel checks
    /// the exact limits when the HTLC is added.
    pub outbound_msat: u64,
}

/// The chosen route: the channel to add the HTLC on, and the hops that forward it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub channel_id: [u8; 32],
    pub forwarders: Vec<ForwardingHop>,
}

/// Why there is no route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("the invoice is our own")]
    OwnInvoice,
    #[error("no usable channel to the payee or to any hop of its route hints")]
    NoChannel,
}

/// Picks a route for `amount_msat` to `payee`. Among candidate channels the one with the most
/// outbound liquidity wins; a direct channel beats a hint.
///
/// # Errors
/// [`RouteError`] when we cannot reach the payee at all.
pub fn find_route(
    us: &PublicKey,
    payee: &PublicKey,
    hints: &[RouteHint],
    channels: &[OurChannel],
) -> Result<Route, RouteError> {
    if payee == us {
        return Err(RouteError::OwnInvoice);
    }
    let best_to = |peer: &PublicKey| {
        channels
            .iter()
            .filter(|c| c.usable && c.peer == *peer)
            .max_by_key(|c| c.outbound_msat)
    };
    if let Some(c) = best_to(payee) {
        return Ok(Route {
            channel_id: c.channel_id,
            forwarders: Vec::new(),
        });
    }
    hints
        .iter()
        .filter(|h| !h.0.is_empty())
        .filter_map(|h| best_to(&h.0[0].src_node_id).map(|c| (c, h)))
        .max_by_key(|(c, _)| c.outbound_msat)
        .map(|(c, h)| Route {
            channel_id: c.channel_id,
            forwarders: h
                .0
                .iter()
                .map(|hop| ForwardingHop {
                    node_id: hop.src_node_id,
                    next_channel: hop.short_channel_id,
                    fee_base_msat: hop.fee_base_msat,
                    fee_proportional_millionths: hop.fee_proportional_millionths,
                    cltv_expiry_delta: hop.cltv_expiry_delta,
                })
                .collect(),
        })
        .ok_or(RouteError::NoChannel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoice::RouteHintHop;
    use crate::wire::ShortChannelId;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};

    fn key(b: u8) -> PublicKey {
        SecretKey::from_slice(&[b; 32])
            .unwrap()
            .public_key(&Secp256k1::new())
    }

    fn channel(id: u8, peer: PublicKey, usable: bool, outbound_msat: u64) -> OurChannel {
        OurChannel {
            channel_id: [id; 32],
            peer,
            usable,
            outbound_msat,
        }
    }

    fn hint(hub: PublicKey) -> RouteHint {
        RouteHint(vec![RouteHintHop {
            src_node_id: hub,
            short_channel_id: ShortChannelId(77),
            fee_base_msat: 1_000,
            fee_proportional_millionths: 100,
            cltv_expiry_delta: 40,
        }])
    }

    #[test]
    fn direct_channel_first_then_hints_then_nothing() {
        let (us, hub, bob) = (key(1), key(2), key(3));
        let to_hub = channel(1, hub, true, 500);
        let to_bob = channel(2, bob, true, 100);
        let direct = find_route(&us, &bob, &[hint(hub)], &[to_hub, to_bob]).unwrap();
        assert_eq!(direct.channel_id, [2; 32]);
        assert!(direct.forwarders.is_empty());

        let via = find_route(&us, &bob, &[hint(hub)], &[to_hub]).unwrap();
        assert_eq!(via.channel_id, [1; 32]);
        assert_eq!(via.forwarders.len(), 1);
        assert_eq!(via.forwarders[0].node_id, hub);
        assert_eq!(via.forwarders[0].next_channel, ShortChannelId(77));

        assert_eq!(
            find_route(&us, &bob, &[], &[to_hub]),
            Err(RouteError::NoChannel)
        );
        let down = channel(1, hub, false, 500);
        assert_eq!(
            find_route(&us, &bob, &[hint(hub)], &[down]),
            Err(RouteError::NoChannel)
        );
        assert_eq!(
            find_route(&us, &us, &[], &[to_hub]),
            Err(RouteError::OwnInvoice)
        );
    }

    #[test]
    fn the_channel_with_most_outbound_wins() {
        let (us, hub, bob) = (key(1), key(2), key(3));
        let small = channel(1, hub, true, 10);
        let big = channel(2, hub, true, 10_000);
        let r = find_route(&us, &bob, &[hint(hub)], &[small, big]).unwrap();
        assert_eq!(r.channel_id, [2; 32]);
    }
}
