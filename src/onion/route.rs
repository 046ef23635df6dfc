//! From a route to an onion: the amounts and CLTV values each hop must see, computed backwards
//! from the payee, as the sender of a payment needs them.
//!
//! ```text
//! alice --(amt + fee_hub, cltv + delta_hub)--> hub --(amt, cltv)--> bob
//!          hub's payload: forward amt, cltv over scid(hub->bob)
//!          bob's payload: amt, cltv, payment_data
//! ```

use bitcoin::secp256k1::{PublicKey, SecretKey};

use super::error::OnionError;
use super::packet::{construct_onion, OnionHop, SentOnion};
use super::payload::{FinalPayload, ForwardPayload, HopPayload, PaymentData, PaymentSecret};
use crate::bolt3::PaymentHash;
use crate::wire::{ShortChannelId, TlvStream};

/// A node that forwards the payment, with the policy of the channel it forwards over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardingHop {
    pub node_id: PublicKey,
    /// The channel from this node to the next one on the route.
    pub next_channel: ShortChannelId,
    pub fee_base_msat: u32,
    pub fee_proportional_millionths: u32,
    pub cltv_expiry_delta: u16,
}

impl ForwardingHop {
    /// BOLT 7: `fee_base_msat + amount_to_forward * fee_proportional_millionths / 1_000_000`,
    /// rounded down.
    pub fn fee_msat(&self, amount_to_forward: u64) -> Option<u64> {
        let prop = u128::from(amount_to_forward) * u128::from(self.fee_proportional_millionths)
            / 1_000_000;
        u64::try_from(prop)
            .ok()?
            .checked_add(u64::from(self.fee_base_msat))
    }
}

/// What the payee is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub node_id: PublicKey,
    /// The amount of this HTLC at the payee.
    pub amount_msat: u64,
    /// The absolute `cltv_expiry` of the HTLC at the payee: current height plus the invoice's
    /// `min_final_cltv_expiry_delta` (plus any margin the sender adds).
    pub final_cltv_expiry: u32,
    pub payment_secret: Option<PaymentSecret>,
    /// The whole payment, for multi-part; equal to `amount_msat` otherwise.
    pub total_msat: u64,
    pub payment_metadata: Option<Vec<u8>>,
    /// A spontaneous (keysend) payment: the preimage, for the payee only.
    pub keysend_preimage: Option<[u8; 32]>,
}

/// An onion ready for the first hop's `update_add_htlc`.
#[derive(Debug, Clone)]
pub struct PaymentOnion {
    pub onion: SentOnion,
    /// `amount_msat` of the HTLC to the first hop: the payee's amount plus every fee.
    pub first_hop_amount_msat: u64,
    /// `cltv_expiry` of the HTLC to the first hop.
    pub first_hop_cltv_expiry: u32,
    /// Total fees paid to the forwarding hops.
    pub fee_msat: u64,
}

/// Builds the payloads for `forwarders` (in route order, possibly none for a direct payment)
/// and `recipient`, and the onion carrying them.
///
/// # Errors
/// [`OnionError::RouteOverflow`] if amounts or CLTV values overflow, and the errors of
/// [`construct_onion`].
pub fn build_payment_onion(
    session_key: &SecretKey,
    forwarders: &[ForwardingHop],
    recipient: &Recipient,
    payment_hash: &PaymentHash,
) -> Result<PaymentOnion, OnionError> {
    let mut hops = Vec::with_capacity(forwarders.len() + 1);
    hops.push(OnionHop {
        node_id: recipient.node_id,
        payload: HopPayload::Final(
            FinalPayload {
                amt_to_forward: recipient.amount_msat,
                outgoing_cltv_value: recipient.final_cltv_expiry,
                payment_data: recipient.payment_secret.map(|payment_secret| PaymentData {
                    payment_secret,
                    total_msat: recipient.total_msat,
                }),
                payment_metadata: recipient.payment_metadata.clone(),
                extra: TlvStream::new(),
            }
            .with_keysend(recipient.keysend_preimage),
        )
        .encode(),
    });
    // Walk back from the payee: each forwarder is told what the next HTLC must carry, and the
    // HTLC it receives carries that plus its fee and delta.
    let mut amount = recipient.amount_msat;
    let mut cltv = recipient.final_cltv_expiry;
    for hop in forwarders.iter().rev() {
        hops.push(OnionHop {
            node_id: hop.node_id,
            payload: HopPayload::Forward(ForwardPayload {
                short_channel_id: hop.next_channel,
                amt_to_forward: amount,
                outgoing_cltv_value: cltv,
                extra: TlvStream::new(),
            })
            .encode(),
        });
        amount = hop
            .fee_msat(amount)
            .and_then(|fee| amount.checked_add(fee))
            .ok_or(OnionError::RouteOverflow)?;
        cltv = cltv
            .checked_add(u32::from(hop.cltv_expiry_delta))
            .ok_or(OnionError::RouteOverflow)?;
    }
    hops.reverse();
    let onion = construct_onion(session_key, &hops, &payment_hash.0)?;
    Ok(PaymentOnion {
        onion,
        first_hop_amount_msat: amount,
        first_hop_cltv_expiry: cltv,
        fee_msat: amount - recipient.amount_msat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onion::crypto::secp;
    use crate::onion::{process_onion, Processed};

    fn key(i: u8) -> SecretKey {
        SecretKey::from_slice(&[i; 32]).unwrap()
    }

    #[test]
    fn alice_pays_bob_through_the_hub() {
        let (hub, bob) = (key(2), key(3));
        let scid = ShortChannelId::new(800_000, 1, 0).unwrap();
        let forwarders = [ForwardingHop {
            node_id: hub.public_key(secp()),
            next_channel: scid,
            fee_base_msat: 1000,
            fee_proportional_millionths: 100,
            cltv_expiry_delta: 40,
        }];
        let recipient = Recipient {
            node_id: bob.public_key(secp()),
            amount_msat: 5_000_000,
            final_cltv_expiry: 800_040,
            payment_secret: Some(PaymentSecret([9; 32])),
            total_msat: 5_000_000,
            payment_metadata: None,
            keysend_preimage: None,
        };
        let hash = PaymentHash([1; 32]);
        let p = build_payment_onion(&key(1), &forwarders, &recipient, &hash).unwrap();
        // 1000 + 5_000_000 * 100 / 1_000_000 = 1500.
        assert_eq!(p.fee_msat, 1500);
        assert_eq!(p.first_hop_amount_msat, 5_001_500);
        assert_eq!(p.first_hop_cltv_expiry, 800_080);

        let Processed::Forward {
            payload,
            next_packet,
            ..
        } = process_onion(&hub, &p.onion.packet, &hash.0).unwrap()
        else {
            panic!("the hub forwards")
        };
        assert_eq!(payload.short_channel_id, scid);
        assert_eq!(payload.amt_to_forward, 5_000_000);
        assert_eq!(payload.outgoing_cltv_value, 800_040);
        let Processed::Final { payload, .. } = process_onion(&bob, &next_packet, &hash.0).unwrap()
        else {
            panic!("bob is final")
        };
        assert_eq!(payload.amt_to_forward, 5_000_000);
        assert_eq!(payload.outgoing_cltv_value, 800_040);
        assert_eq!(
            payload.payment_data,
            Some(PaymentData {
                payment_secret: PaymentSecret([9; 32]),
                total_msat: 5_000_000
            })
        );
    }

    #[test]
    fn a_keysend_preimage_reaches_the_payee_only() {
        let (hub, bob) = (key(2), key(3));
        let forwarders = [ForwardingHop {
            node_id: hub.public_key(secp()),
            next_channel: ShortChannelId(5),
            fee_base_msat: 0,
            fee_proportional_millionths: 0,
            cltv_expiry_delta: 40,
        }];
        let recipient = Recipient {
            node_id: bob.public_key(secp()),
            amount_msat: 7_000,
            final_cltv_expiry: 500,
            payment_secret: None,
            total_msat: 7_000,
            payment_metadata: None,
            keysend_preimage: Some([42; 32]),
        };
        let hash = PaymentHash([1; 32]);
        let p = build_payment_onion(&key(1), &forwarders, &recipient, &hash).unwrap();
        let Processed::Forward {
            payload,
            next_packet,
            ..
        } = process_onion(&hub, &p.onion.packet, &hash.0).unwrap()
        else {
            panic!("the hub forwards")
        };
        assert!(payload.extra.is_empty(), "the hub sees no preimage");
        let Processed::Final { payload, .. } = process_onion(&bob, &next_packet, &hash.0).unwrap()
        else {
            panic!("bob is final")
        };
        assert_eq!(payload.keysend_preimage(), Ok(Some([42; 32])));
        assert_eq!(payload.payment_data, None);
    }

    #[test]
    fn direct_payment_and_overflow() {
        let recipient = Recipient {
            node_id: key(3).public_key(secp()),
            amount_msat: u64::MAX - 10,
            final_cltv_expiry: 100,
            payment_secret: None,
            total_msat: u64::MAX - 10,
            payment_metadata: None,
            keysend_preimage: None,
        };
        let hash = PaymentHash([1; 32]);
        let direct = build_payment_onion(&key(1), &[], &recipient, &hash).unwrap();
        assert_eq!(direct.first_hop_amount_msat, u64::MAX - 10);
        assert_eq!(direct.fee_msat, 0);
        let hop = ForwardingHop {
            node_id: key(2).public_key(secp()),
            next_channel: ShortChannelId(1),
            fee_base_msat: 11,
            fee_proportional_millionths: 0,
            cltv_expiry_delta: 1,
        };
        assert_eq!(
            build_payment_onion(&key(1), &[hop], &recipient, &hash).unwrap_err(),
            OnionError::RouteOverflow
        );
    }
}
