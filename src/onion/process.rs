//! Peeling an onion at a hop: check it, decrypt this hop's payload, and prepare the packet for
//! the next hop.
//!
//! ```text
//! prev --update_add_htlc(onion)--> us
//!   unreadable (version, key, HMAC) --> update_fail_malformed_htlc(sha256_of_onion, code)
//!   bad payload                     --> update_fail_htlc(error onion: invalid_onion_payload)
//!   forward                         --> next: update_add_htlc(next_packet)
//!   final                           --> the invoice registry decides
//! ```

use bitcoin::secp256k1::{PublicKey, SecretKey};
use thiserror::Error;

use super::crypto::{apply_stream, blind_point, ct_eq, hmac, SharedSecret};
use super::failure::{sha256_of_onion, FailureMessage};
use super::packet::{HMAC_LEN, HOP_PAYLOADS_LEN, ONION_VERSION};
use super::payload::{FinalPayload, ForwardPayload, HopPayload};
use crate::wire::types::ONION_PACKET_LEN;
use crate::wire::{bigsize, OnionPacket, Reader};

/// Which check an unreadable onion failed. The previous hop, not the sender, must wrap these
/// in an error onion, because we cannot derive a shared secret it would share with the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedKind {
    Version,
    Key,
    Hmac,
}

/// An onion we cannot read: answered with `update_fail_malformed_htlc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedOnion {
    pub kind: MalformedKind,
    /// SHA256 of the whole 1366-byte packet as received.
    pub sha256_of_onion: [u8; 32],
}

impl MalformedOnion {
    /// The `BADONION` failure for the error onion, and its code for
    /// `update_fail_malformed_htlc`.
    pub fn failure(&self) -> FailureMessage {
        let sha256_of_onion = self.sha256_of_onion;
        match self.kind {
            MalformedKind::Version => FailureMessage::InvalidOnionVersion { sha256_of_onion },
            MalformedKind::Key => FailureMessage::InvalidOnionKey { sha256_of_onion },
            MalformedKind::Hmac => FailureMessage::InvalidOnionHmac { sha256_of_onion },
        }
    }

    pub fn failure_code(&self) -> u16 {
        self.failure().code()
    }
}

/// Why a hop refuses an onion.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProcessError {
    /// Unreadable: reply with `update_fail_malformed_htlc`.
    #[error("malformed onion ({:?})", .0.kind)]
    Malformed(MalformedOnion),
    /// Readable and authentic, but the payload is not acceptable: reply with
    /// `update_fail_htlc` carrying an error onion made with `shared_secret`.
    #[error("onion rejected: {failure:?}")]
    Rejected {
        shared_secret: SharedSecret,
        failure: FailureMessage,
    },
}

/// One layer removed, before the payload is interpreted.
#[derive(Debug, Clone)]
pub struct Peeled {
    /// Keep it with the HTLC: errors for this HTLC are encrypted with it, and it is the
    /// replay-protection key.
    pub shared_secret: SharedSecret,
    /// This hop's raw TLV payload.
    pub payload: Vec<u8>,
    /// The packet for the next hop; `None` when the next HMAC is all zeroes (we are final).
    pub next_packet: Option<OnionPacket>,
}

/// What a hop learned from a valid onion.
#[derive(Debug, Clone)]
pub enum Processed {
    Forward {
        shared_secret: SharedSecret,
        payload: ForwardPayload,
        next_packet: OnionPacket,
    },
    Final {
        shared_secret: SharedSecret,
        payload: FinalPayload,
    },
}

impl Processed {
    pub fn shared_secret(&self) -> &SharedSecret {
        match self {
            Processed::Forward { shared_secret, .. } | Processed::Final { shared_secret, .. } => {
                shared_secret
            }
        }
    }
}

/// Removes our layer with our node key, checking the packet HMAC against `associated_data`
/// (the HTLC's payment hash).
///
/// # Errors
/// [`ProcessError::Malformed`] for a bad version, key or HMAC; [`ProcessError::Rejected`] with
/// `invalid_onion_payload` if the payload framing is invalid.
pub fn peel(
    node_key: &SecretKey,
    packet: &OnionPacket,
    associated_data: &[u8; 32],
) -> Result<Peeled, ProcessError> {
    let malformed = |kind| {
        ProcessError::Malformed(MalformedOnion {
            kind,
            sha256_of_onion: sha256_of_onion(packet),
        })
    };
    if packet.version() != ONION_VERSION {
        return Err(malformed(MalformedKind::Version));
    }
    let ephemeral = PublicKey::from_slice(packet.public_key_bytes())
        .map_err(|_| malformed(MalformedKind::Key))?;
    let shared_secret = SharedSecret::new(&ephemeral, node_key);
    let expected = hmac(
        &shared_secret.mu(),
        &[packet.hop_payloads(), associated_data],
    );
    let mut got = [0u8; HMAC_LEN];
    got.copy_from_slice(packet.hmac());
    if !ct_eq(&expected, &got) {
        return Err(malformed(MalformedKind::Hmac));
    }

    // Our payload may reach past the 1300 bytes we were given; the zero extension decrypts
    // to exactly the filler the sender computed for the next hop.
    let mut buf = vec![0u8; 2 * HOP_PAYLOADS_LEN];
    buf[..HOP_PAYLOADS_LEN].copy_from_slice(packet.hop_payloads());
    apply_stream(&shared_secret.rho(), &mut buf);

    let rejected = |failure| ProcessError::Rejected {
        shared_secret,
        failure,
    };
    let bad_framing = || rejected(FailureMessage::InvalidOnionPayload { typ: 0, offset: 0 });
    let mut r = Reader::new(&buf);
    let len = bigsize::read(&mut r).map_err(|_| bad_framing())?;
    let prefix = bigsize::encoded_len(len);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (2..=HOP_PAYLOADS_LEN - HMAC_LEN - prefix).contains(l))
        .ok_or_else(bad_framing)?;
    let payload = buf[prefix..prefix + len].to_vec();
    let mut next_hmac = [0u8; HMAC_LEN];
    next_hmac.copy_from_slice(&buf[prefix + len..prefix + len + HMAC_LEN]);

    let next_packet = if next_hmac == [0u8; HMAC_LEN] {
        None
    } else {
        let next_key = blind_point(&ephemeral, &shared_secret).map_err(|_| bad_framing())?;
        let start = prefix + len + HMAC_LEN;
        let mut raw = Box::new([0u8; ONION_PACKET_LEN]);
        raw[0] = ONION_VERSION;
        raw[1..34].copy_from_slice(&next_key.serialize());
        raw[34..34 + HOP_PAYLOADS_LEN].copy_from_slice(&buf[start..start + HOP_PAYLOADS_LEN]);
        raw[34 + HOP_PAYLOADS_LEN..].copy_from_slice(&next_hmac);
        Some(OnionPacket(raw))
    };
    Ok(Peeled {
        shared_secret,
        payload,
        next_packet,
    })
}

/// Peels the onion of an incoming HTLC and decodes our payload.
///
/// Policy (fees, CLTV deltas, amounts, the invoice) is the caller's to check against the
/// returned payload; this only establishes what the sender asked of us.
///
/// # Errors
/// As [`peel`], plus `invalid_onion_payload` when the payload does not fit our position.
pub fn process_onion(
    node_key: &SecretKey,
    packet: &OnionPacket,
    payment_hash: &[u8; 32],
) -> Result<Processed, ProcessError> {
    let peeled = peel(node_key, packet, payment_hash)?;
    let shared_secret = peeled.shared_secret;
    let is_final = peeled.next_packet.is_none();
    let payload = HopPayload::decode(&peeled.payload, is_final).map_err(|failure| {
        ProcessError::Rejected {
            shared_secret,
            failure,
        }
    })?;
    Ok(match (payload, peeled.next_packet) {
        (HopPayload::Forward(payload), Some(next_packet)) => Processed::Forward {
            shared_secret,
            payload,
            next_packet,
        },
        (HopPayload::Final(payload), _) => Processed::Final {
            shared_secret,
            payload,
        },
        // decode() returns Forward only when is_final is false, i.e. a next packet exists.
        (HopPayload::Forward(_), None) => {
            return Err(ProcessError::Rejected {
                shared_secret,
                failure: FailureMessage::InvalidOnionPayload { typ: 0, offset: 0 },
            })
        }
    })
}
