//! Attribution data (attributable failures): each hop on the way back adds its hold time and
//! truncated HMACs, so the sender can tell which hop failed or corrupted a failure, and how
//! long each hop held the HTLC, on failure and on success alike.
//!
//! Layout, 920 bytes, obfuscated per hop with the `ammagext` stream:
//!
//! ```text
//! hold_times: 20 x u32 (100 ms units)        slot 0 = the newest hop, then the ones after it
//! hmacs:      210 x 4 bytes, in blocks       block 0: 20 HMACs of the newest hop,
//!                                            block 1: 19 of the hop after it, ... block 19: 1
//! ```
//!
//! A hop does not know its index in the route, so it writes one HMAC per possible index `a`
//! (block 0, entry `a`): each covers the message it received, the hold times of itself and the
//! `19 - a` slots after it, and the matching HMAC of every hop after it. When a hop passes data
//! on, it shifts every block down one and drops each block's first entry, which assumed an
//! index the hop now knows to be impossible.

use super::crypto::{apply_stream, derive_key, hmac, SharedSecret};
use super::error_onion::{raw_error_packet, ErrorPacket, ErrorPacketError};
use super::failure::OnionFailure;

const MAX_HOPS: usize = 20;
const HOLD_TIME_LEN: usize = 4;
const MAC_LEN: usize = 4;
const HOLD_TIMES_LEN: usize = MAX_HOPS * HOLD_TIME_LEN;
/// 20 + 19 + ... + 1.
const MAC_COUNT: usize = MAX_HOPS * (MAX_HOPS + 1) / 2;
/// Size of the `attribution_data` field.
pub const ATTRIBUTION_DATA_LEN: usize = HOLD_TIMES_LEN + MAC_COUNT * MAC_LEN;

/// The `attribution_data` of `update_fail_htlc` or `update_fulfill_htlc`.
#[derive(Clone, PartialEq, Eq)]
pub struct AttributionData(Box<[u8; ATTRIBUTION_DATA_LEN]>);

impl std::fmt::Debug for AttributionData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AttributionData({})",
            hex::encode(&self.0[..HOLD_TIMES_LEN])
        )
    }
}

/// Index of the first HMAC of block `k`.
fn block_start(k: usize) -> usize {
    k * MAX_HOPS - k * k.saturating_sub(1) / 2
}

impl AttributionData {
    fn empty() -> Self {
        Self(Box::new([0; ATTRIBUTION_DATA_LEN]))
    }

    /// # Errors
    /// [`ErrorPacketError::BadAttributionLength`] unless `bytes` is exactly 920 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ErrorPacketError> {
        let arr: [u8; ATTRIBUTION_DATA_LEN] = bytes
            .try_into()
            .map_err(|_| ErrorPacketError::BadAttributionLength(bytes.len()))?;
        Ok(Self(Box::new(arr)))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0[..]
    }

    fn mac(&self, idx: usize) -> &[u8] {
        let start = HOLD_TIMES_LEN + idx * MAC_LEN;
        &self.0[start..start + MAC_LEN]
    }

    fn hold_time(&self, slot: usize) -> u32 {
        let s = slot * HOLD_TIME_LEN;
        u32::from_be_bytes([self.0[s], self.0[s + 1], self.0[s + 2], self.0[s + 3]])
    }

    fn crypt(&mut self, secret: &SharedSecret) {
        apply_stream(&derive_key(b"ammagext", secret), &mut self.0[..]);
    }

    /// The HMAC the hop of block 0 computes for the assumption that it is at route `index`.
    fn expected_mac(&self, secret: &SharedSecret, message: &[u8], index: usize) -> [u8; MAC_LEN] {
        let after = MAX_HOPS - 1 - index;
        let mut downstream = Vec::with_capacity(after * MAC_LEN);
        for j in 0..after {
            downstream.extend_from_slice(self.mac(block_start(j + 1) + index));
        }
        let full = hmac(
            &secret.um(),
            &[message, &self.0[..(after + 1) * HOLD_TIME_LEN], &downstream],
        );
        [full[0], full[1], full[2], full[3]]
    }

    /// Makes room for a new hop: hold times and blocks move down one; each block loses its
    /// first entry and the last block falls off.
    fn shift_right(&mut self) {
        let old = self.clone();
        self.0[HOLD_TIME_LEN..HOLD_TIMES_LEN]
            .copy_from_slice(&old.0[..HOLD_TIMES_LEN - HOLD_TIME_LEN]);
        for k in (1..MAX_HOPS).rev() {
            let from = HOLD_TIMES_LEN + (block_start(k - 1) + 1) * MAC_LEN;
            let to = HOLD_TIMES_LEN + block_start(k) * MAC_LEN;
            let len = (MAX_HOPS - k) * MAC_LEN;
            self.0[to..to + len].copy_from_slice(&old.0[from..from + len]);
        }
    }

    /// The sender's inverse of [`Self::shift_right`], to read the next hop's block as block 0.
    /// The entries a shift dropped are not needed again, so their slots keep stale bytes.
    fn shift_left(&mut self) {
        let old = self.clone();
        self.0[..HOLD_TIMES_LEN - HOLD_TIME_LEN]
            .copy_from_slice(&old.0[HOLD_TIME_LEN..HOLD_TIMES_LEN]);
        for k in 1..MAX_HOPS {
            let from = HOLD_TIMES_LEN + block_start(k) * MAC_LEN;
            let to = HOLD_TIMES_LEN + (block_start(k - 1) + 1) * MAC_LEN;
            let len = (MAX_HOPS - k) * MAC_LEN;
            self.0[to..to + len].copy_from_slice(&old.0[from..from + len]);
        }
    }

    /// This hop's part: hold time in slot 0, one HMAC per possible index, then its layer.
    fn add_hop(&mut self, secret: &SharedSecret, message: &[u8], hold_time: u32) {
        self.0[..HOLD_TIME_LEN].copy_from_slice(&hold_time.to_be_bytes());
        for index in 0..MAX_HOPS {
            let mac = self.expected_mac(secret, message, index);
            let at = HOLD_TIMES_LEN + index * MAC_LEN;
            self.0[at..at + MAC_LEN].copy_from_slice(&mac);
        }
        self.crypt(secret);
    }
}

/// The failing hop: the error packet and its attribution data. `hold_time` is how long the
/// HTLC was held, in 100 ms units.
///
/// # Errors
/// As [`super::create_error_packet`].
pub fn create_attributed_error(
    secret: &SharedSecret,
    failure: &OnionFailure,
    hold_time: u32,
) -> Result<(ErrorPacket, AttributionData), ErrorPacketError> {
    let mut packet = raw_error_packet(secret, &failure.encode())?;
    let mut ad = AttributionData::empty();
    ad.add_hop(secret, &packet, hold_time);
    apply_stream(&secret.ammag(), &mut packet);
    Ok((ErrorPacket(packet), ad))
}

/// A hop passing a failure back: its HMACs cover the packet as received; then it adds its
/// `ammag` layer. Without downstream attribution data it starts fresh, so the sender still
/// learns about the hops up to here.
pub fn forward_attributed_error(
    secret: &SharedSecret,
    packet: &mut ErrorPacket,
    attribution: Option<AttributionData>,
    hold_time: u32,
) -> AttributionData {
    let ad = with_hop(secret, &packet.0, attribution, hold_time);
    apply_stream(&secret.ammag(), &mut packet.0);
    ad
}

/// A hop passing a fulfill back (the final hop passes `None`): the same, with an empty
/// message.
pub fn attribute_fulfill(
    secret: &SharedSecret,
    attribution: Option<AttributionData>,
    hold_time: u32,
) -> AttributionData {
    with_hop(secret, &[], attribution, hold_time)
}

fn with_hop(
    secret: &SharedSecret,
    message: &[u8],
    attribution: Option<AttributionData>,
    hold_time: u32,
) -> AttributionData {
    let mut ad = match attribution {
        Some(mut ad) => {
            ad.shift_right();
            ad
        }
        None => AttributionData::empty(),
    };
    ad.add_hop(secret, message, hold_time);
    ad
}

/// What the sender learns from attribution data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// Hold times (100 ms units) of the hops whose HMAC verified, in route order.
    pub hold_times: Vec<u32>,
    /// The first hop whose HMAC did not verify: it or its link to the previous hop tampered
    /// with the data. `None` if every hop up to the source verified.
    pub first_invalid: Option<usize>,
}

/// The sender reads the hold times of a fulfilled HTLC.
pub fn read_fulfill_attribution(
    route_secrets: &[SharedSecret],
    ad: &AttributionData,
) -> Attribution {
    let mut ad = ad.clone();
    let mut hold_times = Vec::new();
    for (i, secret) in route_secrets.iter().enumerate().take(MAX_HOPS) {
        ad.crypt(secret);
        if ad.expected_mac(secret, &[], i) != ad.mac(i) {
            return Attribution {
                hold_times,
                first_invalid: Some(i),
            };
        }
        hold_times.push(ad.hold_time(0));
        ad.shift_left();
    }
    Attribution {
        hold_times,
        first_invalid: None,
    }
}

/// The sender decrypts a failure and checks its attribution: the failure as
/// [`super::decrypt_failure`] finds it, and the attribution up to the failing hop.
pub fn read_failure_attribution(
    route_secrets: &[SharedSecret],
    packet: &ErrorPacket,
    ad: &AttributionData,
) -> (
    Result<super::AttributedFailure, ErrorPacketError>,
    Attribution,
) {
    let failure = super::decrypt_failure(route_secrets, packet);
    let last = failure
        .as_ref()
        .map(|f| f.hop_index)
        .unwrap_or(route_secrets.len().saturating_sub(1));
    let mut data = packet.0.clone();
    let mut ad = ad.clone();
    let mut hold_times = Vec::new();
    let mut first_invalid = None;
    for (i, secret) in route_secrets
        .iter()
        .enumerate()
        .take((last + 1).min(MAX_HOPS))
    {
        apply_stream(&secret.ammag(), &mut data);
        ad.crypt(secret);
        if ad.expected_mac(secret, &data, i) != ad.mac(i) {
            first_invalid = Some(i);
            break;
        }
        hold_times.push(ad.hold_time(0));
        ad.shift_left();
    }
    (
        failure,
        Attribution {
            hold_times,
            first_invalid,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onion::FailureMessage;

    fn route() -> Vec<SharedSecret> {
        (1..=4u8).map(|i| SharedSecret([i; 32])).collect()
    }

    fn fail_at(route: &[SharedSecret], failing: usize) -> (ErrorPacket, AttributionData) {
        let f = OnionFailure::from(FailureMessage::TemporaryChannelFailure {
            channel_update: None,
        });
        create_attributed_error(&route[failing], &f, 10 + failing as u32).unwrap()
    }

    #[test]
    fn blocks_tile_the_hmac_area() {
        assert_eq!(block_start(0), 0);
        assert_eq!(block_start(1), 20);
        assert_eq!(block_start(2), 39);
        assert_eq!(block_start(19) + 1, MAC_COUNT);
        assert_eq!(ATTRIBUTION_DATA_LEN, 920);
    }

    #[test]
    fn tampering_is_pinned_to_the_link_where_it_happened() {
        let route = route();
        let (mut packet, ad) = fail_at(&route, 3);
        let ad = forward_attributed_error(&route[2], &mut packet, Some(ad), 12);
        let mut ad = forward_attributed_error(&route[1], &mut packet, Some(ad), 11);
        // Between hop 0 and hop 1 someone flips a bit of hop 1's hold time.
        ad.0[3] ^= 1;
        let ad = forward_attributed_error(&route[0], &mut packet, Some(ad), 10);
        let (failure, attribution) = read_failure_attribution(&route, &packet, &ad);
        assert_eq!(failure.unwrap().hop_index, 3);
        assert_eq!(
            attribution,
            Attribution {
                hold_times: vec![10],
                first_invalid: Some(1)
            }
        );
    }

    #[test]
    fn a_hop_without_attribution_support_ends_the_verified_prefix() {
        let route = route();
        let (mut packet, _) = fail_at(&route, 3);
        // Hop 2 drops the attribution data; hop 1 starts afresh.
        crate::onion::forward_error_packet(&route[2], &mut packet);
        let ad = forward_attributed_error(&route[1], &mut packet, None, 11);
        let ad = forward_attributed_error(&route[0], &mut packet, Some(ad), 10);
        let (failure, attribution) = read_failure_attribution(&route, &packet, &ad);
        assert_eq!(failure.unwrap().hop_index, 3);
        assert_eq!(
            attribution,
            Attribution {
                hold_times: vec![10, 11],
                first_invalid: Some(2)
            }
        );
    }

    #[test]
    fn fulfill_hold_times_round_trip_and_length_is_checked() {
        let route = route();
        let mut ad = None;
        for (i, s) in route.iter().enumerate().rev() {
            ad = Some(attribute_fulfill(s, ad, 100 + i as u32));
        }
        let ad = ad.unwrap();
        let again = AttributionData::from_bytes(ad.as_bytes()).unwrap();
        assert_eq!(
            read_fulfill_attribution(&route, &again),
            Attribution {
                hold_times: vec![100, 101, 102, 103],
                first_invalid: None
            }
        );
        assert_eq!(
            AttributionData::from_bytes(&[0; 919]),
            Err(ErrorPacketError::BadAttributionLength(919))
        );
    }
}
