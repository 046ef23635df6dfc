//! Building an onion: the sender wraps one payload per hop in layers only that hop can remove.
//!
//! ```text
//! sender --update_add_htlc(onion)--> hop 0 --(peeled onion)--> hop 1 ... --> final hop
//! ```
//!
//! `hop_payloads` holds, for each hop, `bigsize(len) || payload || hmac`, where `hmac` protects
//! the packet the *next* hop will receive (all zeroes for the final hop). The 1300 bytes start
//! as pseudo-random padding so an observer cannot tell the route's length, and the "filler"
//! makes the tail of each peeled packet match what the sender's HMACs committed to.

use bitcoin::secp256k1::{PublicKey, SecretKey};

use super::crypto::{self, hmac, stream, HopKeys, SharedSecret};
use super::error::OnionError;
use crate::wire::types::ONION_PACKET_LEN;
use crate::wire::{bigsize, OnionPacket};

/// The `hop_payloads` field length.
pub const HOP_PAYLOADS_LEN: usize = 1300;
/// Length of each HMAC in the packet.
pub const HMAC_LEN: usize = 32;
/// The only packet version defined.
pub const ONION_VERSION: u8 = 0;

/// One hop of the route as the sender sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnionHop {
    /// The hop's node id, with which the sender derives its shared secret.
    pub node_id: PublicKey,
    /// The hop's encoded TLV payload, without the length prefix (see
    /// [`super::HopPayload::encode`]).
    pub payload: Vec<u8>,
}

/// A built onion and the secrets the sender needs later to read an error onion.
#[derive(Debug, Clone)]
pub struct SentOnion {
    /// The packet for the first hop's `update_add_htlc`.
    pub packet: OnionPacket,
    /// One per hop, in route order; pass them to [`super::decrypt_failure`].
    pub shared_secrets: Vec<SharedSecret>,
}

/// Bytes a hop occupies in `hop_payloads`.
fn framed_len(payload: &[u8]) -> usize {
    bigsize::encoded_len(payload.len() as u64) + payload.len() + HMAC_LEN
}

/// Builds the onion for `route` with `session_key` (fresh and random for every HTLC), bound to
/// `associated_data` (the payment hash), so it cannot be reused for another HTLC.
///
/// # Errors
/// An empty route, a payload shorter than 2 bytes, payloads that do not fit 1300 bytes, or
/// (for crafted keys only) an invalid blinded key.
pub fn construct_onion(
    session_key: &SecretKey,
    route: &[OnionHop],
    associated_data: &[u8; 32],
) -> Result<SentOnion, OnionError> {
    if route.is_empty() {
        return Err(OnionError::EmptyRoute);
    }
    let mut needed = 0usize;
    for (index, hop) in route.iter().enumerate() {
        if hop.payload.len() < 2 {
            return Err(OnionError::PayloadTooShort {
                index,
                len: hop.payload.len(),
            });
        }
        needed = needed.saturating_add(framed_len(&hop.payload));
    }
    if needed > HOP_PAYLOADS_LEN {
        return Err(OnionError::PayloadsTooLarge {
            needed,
            available: HOP_PAYLOADS_LEN,
        });
    }
    let node_ids: Vec<PublicKey> = route.iter().map(|h| h.node_id).collect();
    let keys = crypto::hop_keys(session_key, &node_ids)?;
    let filler = filler(route, &keys);

    // Initial padding from the session key, as the spec prescribes, so vectors reproduce.
    let pad_key = hmac(b"pad", &[&session_key.secret_bytes()]);
    let mut payloads = stream(&pad_key, HOP_PAYLOADS_LEN);
    let mut next_hmac = [0u8; HMAC_LEN];
    for (i, (hop, k)) in route.iter().zip(&keys).enumerate().rev() {
        let shift = framed_len(&hop.payload);
        payloads.copy_within(0..HOP_PAYLOADS_LEN - shift, shift);
        let mut frame = Vec::with_capacity(shift);
        let mut w = crate::wire::Writer::new();
        bigsize::write(&mut w, hop.payload.len() as u64);
        // A bigsize never has a u16 prefix to overflow.
        frame.extend_from_slice(&w.finish().unwrap_or_default());
        frame.extend_from_slice(&hop.payload);
        frame.extend_from_slice(&next_hmac);
        payloads[..shift].copy_from_slice(&frame);
        crypto::apply_stream(&k.shared_secret.rho(), &mut payloads);
        if i == route.len() - 1 {
            let start = HOP_PAYLOADS_LEN - filler.len();
            payloads[start..].copy_from_slice(&filler);
        }
        next_hmac = hmac(&k.shared_secret.mu(), &[&payloads, associated_data]);
    }

    let mut raw = Box::new([0u8; ONION_PACKET_LEN]);
    raw[0] = ONION_VERSION;
    raw[1..34].copy_from_slice(&keys[0].ephemeral.serialize());
    raw[34..34 + HOP_PAYLOADS_LEN].copy_from_slice(&payloads);
    raw[34 + HOP_PAYLOADS_LEN..].copy_from_slice(&next_hmac);
    Ok(SentOnion {
        packet: OnionPacket(raw),
        shared_secrets: keys.iter().map(|k| k.shared_secret).collect(),
    })
}

/// The bytes that each hop's peeling shifts into the packet's tail, as the final hop's
/// HMAC must see them.
///
/// Peeling at hop `i` appends `framed_len(i)` zero bytes, XORs the 1300+len bytes with hop
/// `i`'s stream and drops the first `framed_len(i)`. Replaying that on the tail alone: the
/// filler so far sits at the end of the 1300 bytes, the new zeroes right after it.
fn filler(route: &[OnionHop], keys: &[HopKeys]) -> Vec<u8> {
    let mut filler: Vec<u8> = Vec::new();
    for (hop, k) in route.iter().zip(keys).take(route.len() - 1) {
        let shift = framed_len(&hop.payload);
        let start = HOP_PAYLOADS_LEN - filler.len();
        filler.resize(filler.len() + shift, 0);
        let s = stream(&k.shared_secret.rho(), HOP_PAYLOADS_LEN + shift);
        for (f, x) in filler.iter_mut().zip(&s[start..]) {
            *f ^= x;
        }
    }
    filler
}
