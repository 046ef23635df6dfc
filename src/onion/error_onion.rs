//! Error onions: the failing hop encrypts a failure for the sender; every hop on the way back
//! adds a layer; the sender peels layer after layer until an HMAC matches, which names the hop.
//!
//! ```text
//! sender <--update_fail_htlc(reason)-- hop 0 <--(reason)-- hop 1 (failing: create)
//!   decrypt_failure(secrets)            forward_error_packet(secret_0)
//! ```
//!
//! The packet is `hmac(um) || u16 failure_len || failuremsg || u16 pad_len || pad`, XORed
//! with each hop's `ammag` stream.

use thiserror::Error;

use super::crypto::{apply_stream, ct_eq, hmac, SharedSecret};
use super::failure::OnionFailure;
use crate::wire::{DecodeError, Reader};

/// Padding target for failures that fit it: BOLT 4 asks for exactly 256 so older nodes can
/// parse the packet and the sender cannot tell failures apart by length.
pub const MIN_FAILURE_LEN: usize = 256;
/// Padding target for longer failures (those with a TLV extension), so they too share one
/// length. Longer still is sent unpadded.
pub const LONG_FAILURE_LEN: usize = 1024;
/// Upper bound of the packet: it travels in the u16-prefixed `reason` of `update_fail_htlc`.
pub const MAX_ERROR_PACKET_LEN: usize = u16::MAX as usize;
/// HMAC plus the two length fields.
const OVERHEAD: usize = 32 + 2 + 2;
/// Decryption keeps going to this many layers so its timing does not reveal the hop index.
const MAX_HOPS: usize = 20;

/// The encrypted failure as carried in `update_fail_htlc.reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPacket(pub Vec<u8>);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ErrorPacketError {
    /// The failure message does not fit the `reason` field.
    #[error("failure message is {0} bytes, too long for an error packet")]
    TooLong(usize),
    /// No hop's HMAC matches: some hop corrupted the packet, so nobody can be blamed exactly.
    #[error("no hop of the route authenticates this error packet")]
    Unattributable,
    /// Attribution data is always 920 bytes.
    #[error("attribution data is {0} bytes, not 920")]
    BadAttributionLength(usize),
}

/// `failure_len + pad_len` for a failure of `len` bytes.
fn padded_len(len: usize) -> usize {
    if len <= MIN_FAILURE_LEN {
        MIN_FAILURE_LEN
    } else {
        len.max(LONG_FAILURE_LEN)
    }
}

/// The failing hop's packet, before the `ammag` layer (the spec's `raw_error_packet`).
pub(crate) fn raw_error_packet(
    secret: &SharedSecret,
    msg: &[u8],
) -> Result<Vec<u8>, ErrorPacketError> {
    let total = padded_len(msg.len());
    if total + OVERHEAD > MAX_ERROR_PACKET_LEN {
        return Err(ErrorPacketError::TooLong(msg.len()));
    }
    let pad_len = total - msg.len();
    let mut packet = vec![0u8; 32];
    packet.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    packet.extend_from_slice(msg);
    packet.extend_from_slice(&(pad_len as u16).to_be_bytes());
    packet.resize(packet.len() + pad_len, 0);
    let mac = hmac(&secret.um(), &[&packet[32..]]);
    packet[..32].copy_from_slice(&mac);
    Ok(packet)
}

/// The failing hop builds the error packet with the shared secret of the HTLC's onion.
///
/// # Errors
/// [`ErrorPacketError::TooLong`] if the encoded failure cannot fit the `reason` field.
pub fn create_error_packet(
    secret: &SharedSecret,
    failure: &OnionFailure,
) -> Result<ErrorPacket, ErrorPacketError> {
    let mut packet = raw_error_packet(secret, &failure.encode())?;
    apply_stream(&secret.ammag(), &mut packet);
    Ok(ErrorPacket(packet))
}

/// A hop passing an error back adds its layer, with the secret of the incoming HTLC's onion.
pub fn forward_error_packet(secret: &SharedSecret, packet: &mut ErrorPacket) {
    apply_stream(&secret.ammag(), &mut packet.0);
}

/// What the sender learned from an error packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributedFailure {
    /// Index in the route of the hop that made the packet (0 = first hop).
    pub hop_index: usize,
    /// The failure, or why the authenticated message could not be decoded (the hop is to
    /// blame for that too).
    pub failure: Result<OnionFailure, DecodeError>,
    /// The `failure_code`, when the message has one even if its data did not decode, so the
    /// sender can still tell a permanent failure from a transient one.
    pub failure_code: Option<u16>,
}

/// The sender removes the layers with the route's secrets (in route order) and finds the hop
/// whose `um` HMAC matches.
///
/// # Errors
/// [`ErrorPacketError::Unattributable`] if no hop's HMAC matches.
pub fn decrypt_failure(
    route_secrets: &[SharedSecret],
    packet: &ErrorPacket,
) -> Result<AttributedFailure, ErrorPacketError> {
    let mut data = packet.0.clone();
    let mut found = None;
    let dummy = SharedSecret([0; 32]);
    for i in 0..MAX_HOPS.max(route_secrets.len()) {
        let secret = route_secrets.get(i).unwrap_or(&dummy);
        apply_stream(&secret.ammag(), &mut data);
        if found.is_some() || i >= route_secrets.len() || data.len() < 32 {
            continue;
        }
        let mut mac = [0u8; 32];
        mac.copy_from_slice(&data[..32]);
        if ct_eq(&mac, &hmac(&secret.um(), &[&data[32..]])) {
            found = Some((i, parse_body(&data[32..]), code_of(&data[32..])));
        }
    }
    found
        .map(|(hop_index, failure, failure_code)| AttributedFailure {
            hop_index,
            failure,
            failure_code,
        })
        .ok_or(ErrorPacketError::Unattributable)
}

/// The first two bytes of `failuremsg`, if the message is at least that long.
fn code_of(body: &[u8]) -> Option<u16> {
    let mut r = Reader::new(body);
    let msg = r.read_u16_prefixed().ok()?;
    Reader::new(msg).read_u16().ok()
}

/// `u16 failure_len || failuremsg || u16 pad_len || pad`, all of it.
fn parse_body(body: &[u8]) -> Result<OnionFailure, DecodeError> {
    let mut r = Reader::new(body);
    let msg = r.read_u16_prefixed()?;
    let pad = r.read_u16_prefixed()?;
    r.finish()?;
    if msg.len() + pad.len() < MIN_FAILURE_LEN {
        return Err(DecodeError::InvalidValue("failure padding"));
    }
    OnionFailure::decode(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onion::FailureMessage;

    fn secrets(n: u8) -> Vec<SharedSecret> {
        (1..=n).map(|i| SharedSecret([i; 32])).collect()
    }

    #[test]
    fn each_hop_is_attributed() {
        let route = secrets(5);
        for failing in 0..route.len() {
            let failure = OnionFailure::from(FailureMessage::UnknownNextPeer);
            let mut p = create_error_packet(&route[failing], &failure).unwrap();
            assert_eq!(p.0.len(), 32 + 2 + 256 + 2);
            for s in route[..failing].iter().rev() {
                forward_error_packet(s, &mut p);
            }
            let got = decrypt_failure(&route, &p).unwrap();
            assert_eq!(got.hop_index, failing);
            assert_eq!(got.failure, Ok(failure));
            assert_eq!(got.failure_code, Some(0x400a));
        }
    }

    #[test]
    fn corruption_is_unattributable() {
        let route = secrets(3);
        let mut p = create_error_packet(&route[2], &FailureMessage::MppTimeout.into()).unwrap();
        forward_error_packet(&route[1], &mut p);
        p.0[100] ^= 1;
        forward_error_packet(&route[0], &mut p);
        assert_eq!(
            decrypt_failure(&route, &p),
            Err(ErrorPacketError::Unattributable)
        );
        assert_eq!(
            decrypt_failure(&route, &ErrorPacket(vec![1, 2, 3])),
            Err(ErrorPacketError::Unattributable)
        );
    }

    #[test]
    fn an_undecodable_message_is_still_attributed_with_its_code() {
        let route = secrets(2);
        // temporary_channel_failure (0x1007) without its channel_update length.
        let raw = raw_error_packet(&route[1], &[0x10, 0x07]).unwrap();
        let mut p = ErrorPacket(raw);
        apply_stream(&route[1].ammag(), &mut p.0);
        forward_error_packet(&route[0], &mut p);
        let got = decrypt_failure(&route, &p).unwrap();
        assert_eq!(got.hop_index, 1);
        assert_eq!(got.failure, Err(DecodeError::ShortRead));
        assert_eq!(got.failure_code, Some(0x1007));
    }

    #[test]
    fn long_failures_pad_to_1024_and_oversized_are_refused() {
        let s = SharedSecret([7; 32]);
        let mut f = OnionFailure::from(FailureMessage::TemporaryNodeFailure);
        f.tlvs.insert(1, vec![0; 300]);
        assert_eq!(create_error_packet(&s, &f).unwrap().0.len(), 36 + 1024);
        f.tlvs.insert(1, vec![0; 70_000]);
        assert!(matches!(
            create_error_packet(&s, &f),
            Err(ErrorPacketError::TooLong(_))
        ));
    }
}
