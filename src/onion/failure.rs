//! Failure messages: what a hop tells the sender when it cannot forward or accept an HTLC.
//!
//! A message is a 2-byte `failure_code`, its fixed data, then an optional TLV stream. The top
//! bits of the code are flags: [`BADONION`] (the onion was unreadable), [`PERM`] (do not
//! retry), [`NODE`] (the node, not one channel), [`UPDATE`] (a `channel_update` is enclosed).

use super::crypto::sha256;
use crate::wire::{bigsize, DecodeError, Reader, TlvStream, Writer};

pub const BADONION: u16 = 0x8000;
pub const PERM: u16 = 0x4000;
pub const NODE: u16 = 0x2000;
pub const UPDATE: u16 = 0x1000;

/// A `channel_update` message as carried in a failure (with its 0x0102 type prefix), kept
/// opaque: gossip is not parsed here, and the sender treats it as a hint only.
pub type ChannelUpdateBytes = Vec<u8>;

/// Every failure of BOLT 4, plus [`FailureMessage::Unknown`] for codes we do not know.
///
/// Where BOLT 4 makes the `channel_update` mandatory we still accept and send an empty one
/// (`None`): a private channel of the hub has no update to give.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureMessage {
    InvalidRealm,
    TemporaryNodeFailure,
    PermanentNodeFailure,
    RequiredNodeFeatureMissing,
    InvalidOnionVersion {
        sha256_of_onion: [u8; 32],
    },
    InvalidOnionHmac {
        sha256_of_onion: [u8; 32],
    },
    InvalidOnionKey {
        sha256_of_onion: [u8; 32],
    },
    TemporaryChannelFailure {
        channel_update: Option<ChannelUpdateBytes>,
    },
    PermanentChannelFailure,
    RequiredChannelFeatureMissing,
    UnknownNextPeer,
    AmountBelowMinimum {
        htlc_msat: u64,
        channel_update: Option<ChannelUpdateBytes>,
    },
    FeeInsufficient {
        htlc_msat: u64,
        channel_update: Option<ChannelUpdateBytes>,
    },
    IncorrectCltvExpiry {
        cltv_expiry: u32,
        channel_update: Option<ChannelUpdateBytes>,
    },
    ExpiryTooSoon {
        channel_update: Option<ChannelUpdateBytes>,
    },
    IncorrectOrUnknownPaymentDetails {
        htlc_msat: u64,
        height: u32,
    },
    FinalIncorrectCltvExpiry {
        cltv_expiry: u32,
    },
    FinalIncorrectHtlcAmount {
        incoming_htlc_amt: u64,
    },
    ChannelDisabled {
        disabled_flags: u16,
        channel_update: Option<ChannelUpdateBytes>,
    },
    ExpiryTooFar,
    InvalidOnionPayload {
        typ: u64,
        offset: u16,
    },
    MppTimeout,
    InvalidOnionBlinding {
        sha256_of_onion: [u8; 32],
    },
    /// A code this version does not know: its data cannot be told apart from a TLV stream,
    /// so it is kept whole.
    Unknown {
        code: u16,
        data: Vec<u8>,
    },
}

use FailureMessage as F;

impl FailureMessage {
    pub fn code(&self) -> u16 {
        match self {
            F::InvalidRealm => PERM | 1,
            F::TemporaryNodeFailure => NODE | 2,
            F::PermanentNodeFailure => PERM | NODE | 2,
            F::RequiredNodeFeatureMissing => PERM | NODE | 3,
            F::InvalidOnionVersion { .. } => BADONION | PERM | 4,
            F::InvalidOnionHmac { .. } => BADONION | PERM | 5,
            F::InvalidOnionKey { .. } => BADONION | PERM | 6,
            F::TemporaryChannelFailure { .. } => UPDATE | 7,
            F::PermanentChannelFailure => PERM | 8,
            F::RequiredChannelFeatureMissing => PERM | 9,
            F::UnknownNextPeer => PERM | 10,
            F::AmountBelowMinimum { .. } => UPDATE | 11,
            F::FeeInsufficient { .. } => UPDATE | 12,
            F::IncorrectCltvExpiry { .. } => UPDATE | 13,
            F::ExpiryTooSoon { .. } => UPDATE | 14,
            F::IncorrectOrUnknownPaymentDetails { .. } => PERM | 15,
            F::FinalIncorrectCltvExpiry { .. } => 18,
            F::FinalIncorrectHtlcAmount { .. } => 19,
            F::ChannelDisabled { .. } => UPDATE | 20,
            F::ExpiryTooFar => 21,
            F::InvalidOnionPayload { .. } => PERM | 22,
            F::MppTimeout => 23,
            F::InvalidOnionBlinding { .. } => BADONION | PERM | 24,
            F::Unknown { code, .. } => *code,
        }
    }

    /// The BOLT 4 name, for logs and for people reading why a payment failed.
    pub fn name(&self) -> &'static str {
        match self {
            F::InvalidRealm => "invalid_realm",
            F::TemporaryNodeFailure => "temporary_node_failure",
            F::PermanentNodeFailure => "permanent_node_failure",
            F::RequiredNodeFeatureMissing => "required_node_feature_missing",
            F::InvalidOnionVersion { .. } => "invalid_onion_version",
            F::InvalidOnionHmac { .. } => "invalid_onion_hmac",
            F::InvalidOnionKey { .. } => "invalid_onion_key",
            F::TemporaryChannelFailure { .. } => "temporary_channel_failure",
            F::PermanentChannelFailure => "permanent_channel_failure",
            F::RequiredChannelFeatureMissing => "required_channel_feature_missing",
            F::UnknownNextPeer => "unknown_next_peer",
            F::AmountBelowMinimum { .. } => "amount_below_minimum",
            F::FeeInsufficient { .. } => "fee_insufficient",
            F::IncorrectCltvExpiry { .. } => "incorrect_cltv_expiry",
            F::ExpiryTooSoon { .. } => "expiry_too_soon",
            F::IncorrectOrUnknownPaymentDetails { .. } => "incorrect_or_unknown_payment_details",
            F::FinalIncorrectCltvExpiry { .. } => "final_incorrect_cltv_expiry",
            F::FinalIncorrectHtlcAmount { .. } => "final_incorrect_htlc_amount",
            F::ChannelDisabled { .. } => "channel_disabled",
            F::ExpiryTooFar => "expiry_too_far",
            F::InvalidOnionPayload { .. } => "invalid_onion_payload",
            F::MppTimeout => "mpp_timeout",
            F::InvalidOnionBlinding { .. } => "invalid_onion_blinding",
            F::Unknown { .. } => "unknown_failure",
        }
    }

    /// Retrying the same route cannot succeed.
    pub fn is_permanent(&self) -> bool {
        self.code() & PERM != 0
    }

    /// The whole node failed, not one of its channels.
    pub fn is_node_failure(&self) -> bool {
        self.code() & NODE != 0
    }

    /// The enclosed `channel_update`, when the failure carries a non-empty one.
    pub fn channel_update(&self) -> Option<&[u8]> {
        match self {
            F::TemporaryChannelFailure { channel_update }
            | F::AmountBelowMinimum { channel_update, .. }
            | F::FeeInsufficient { channel_update, .. }
            | F::IncorrectCltvExpiry { channel_update, .. }
            | F::ExpiryTooSoon { channel_update }
            | F::ChannelDisabled { channel_update, .. } => channel_update.as_deref(),
            _ => None,
        }
    }

    fn write_data(&self, w: &mut Writer) {
        let update = |w: &mut Writer, u: &Option<ChannelUpdateBytes>| {
            w.put_u16_prefixed("channel_update", u.as_deref().unwrap_or(&[]))
        };
        match self {
            F::InvalidOnionVersion { sha256_of_onion }
            | F::InvalidOnionHmac { sha256_of_onion }
            | F::InvalidOnionKey { sha256_of_onion }
            | F::InvalidOnionBlinding { sha256_of_onion } => w.put_bytes(sha256_of_onion),
            F::TemporaryChannelFailure { channel_update } | F::ExpiryTooSoon { channel_update } => {
                update(w, channel_update)
            }
            F::AmountBelowMinimum {
                htlc_msat,
                channel_update,
            }
            | F::FeeInsufficient {
                htlc_msat,
                channel_update,
            } => {
                w.put_u64(*htlc_msat);
                update(w, channel_update);
            }
            F::IncorrectCltvExpiry {
                cltv_expiry,
                channel_update,
            } => {
                w.put_u32(*cltv_expiry);
                update(w, channel_update);
            }
            F::IncorrectOrUnknownPaymentDetails { htlc_msat, height } => {
                w.put_u64(*htlc_msat);
                w.put_u32(*height);
            }
            F::FinalIncorrectCltvExpiry { cltv_expiry } => w.put_u32(*cltv_expiry),
            F::FinalIncorrectHtlcAmount { incoming_htlc_amt } => w.put_u64(*incoming_htlc_amt),
            F::ChannelDisabled {
                disabled_flags,
                channel_update,
            } => {
                w.put_u16(*disabled_flags);
                update(w, channel_update);
            }
            F::InvalidOnionPayload { typ, offset } => {
                bigsize::write(w, *typ);
                w.put_u16(*offset);
            }
            F::Unknown { data, .. } => w.put_bytes(data),
            F::InvalidRealm
            | F::TemporaryNodeFailure
            | F::PermanentNodeFailure
            | F::RequiredNodeFeatureMissing
            | F::PermanentChannelFailure
            | F::RequiredChannelFeatureMissing
            | F::UnknownNextPeer
            | F::ExpiryTooFar
            | F::MppTimeout => {}
        }
    }

    fn read_data(code: u16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let update = |r: &mut Reader<'_>| -> Result<Option<ChannelUpdateBytes>, DecodeError> {
            let bytes = r.read_u16_prefixed()?;
            Ok((!bytes.is_empty()).then(|| bytes.to_vec()))
        };
        Ok(match code {
            c if c == PERM | 1 => F::InvalidRealm,
            c if c == NODE | 2 => F::TemporaryNodeFailure,
            c if c == PERM | NODE | 2 => F::PermanentNodeFailure,
            c if c == PERM | NODE | 3 => F::RequiredNodeFeatureMissing,
            c if c == BADONION | PERM | 4 => F::InvalidOnionVersion {
                sha256_of_onion: r.read_array()?,
            },
            c if c == BADONION | PERM | 5 => F::InvalidOnionHmac {
                sha256_of_onion: r.read_array()?,
            },
            c if c == BADONION | PERM | 6 => F::InvalidOnionKey {
                sha256_of_onion: r.read_array()?,
            },
            c if c == UPDATE | 7 => F::TemporaryChannelFailure {
                channel_update: update(r)?,
            },
            c if c == PERM | 8 => F::PermanentChannelFailure,
            c if c == PERM | 9 => F::RequiredChannelFeatureMissing,
            c if c == PERM | 10 => F::UnknownNextPeer,
            c if c == UPDATE | 11 => F::AmountBelowMinimum {
                htlc_msat: r.read_u64()?,
                channel_update: update(r)?,
            },
            c if c == UPDATE | 12 => F::FeeInsufficient {
                htlc_msat: r.read_u64()?,
                channel_update: update(r)?,
            },
            c if c == UPDATE | 13 => F::IncorrectCltvExpiry {
                cltv_expiry: r.read_u32()?,
                channel_update: update(r)?,
            },
            c if c == UPDATE | 14 => F::ExpiryTooSoon {
                channel_update: update(r)?,
            },
            c if c == PERM | 15 => F::IncorrectOrUnknownPaymentDetails {
                htlc_msat: r.read_u64()?,
                height: r.read_u32()?,
            },
            18 => F::FinalIncorrectCltvExpiry {
                cltv_expiry: r.read_u32()?,
            },
            19 => F::FinalIncorrectHtlcAmount {
                incoming_htlc_amt: r.read_u64()?,
            },
            c if c == UPDATE | 20 => F::ChannelDisabled {
                disabled_flags: r.read_u16()?,
                channel_update: update(r)?,
            },
            21 => F::ExpiryTooFar,
            c if c == PERM | 22 => F::InvalidOnionPayload {
                typ: bigsize::read(r)?,
                offset: r.read_u16()?,
            },
            23 => F::MppTimeout,
            c if c == BADONION | PERM | 24 => F::InvalidOnionBlinding {
                sha256_of_onion: r.read_array()?,
            },
            code => F::Unknown {
                code,
                data: r.read_rest().to_vec(),
            },
        })
    }
}

/// A failure message with its optional TLV extension, as carried in `failuremsg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnionFailure {
    pub message: FailureMessage,
    /// Records after the fixed fields; no type is defined yet, so only odd ones are sent.
    pub tlvs: TlvStream,
}

impl From<FailureMessage> for OnionFailure {
    fn from(message: FailureMessage) -> Self {
        Self {
            message,
            tlvs: TlvStream::new(),
        }
    }
}

impl OnionFailure {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.put_u16(self.message.code());
        self.message.write_data(&mut w);
        self.tlvs.write(&mut w);
        // Only a channel_update over 65535 bytes can overflow; it would be sent empty.
        match w.finish() {
            Ok(bytes) => bytes,
            Err(_) => {
                let mut w = Writer::new();
                w.put_u16(self.message.code());
                w.finish().unwrap_or_default()
            }
        }
    }

    /// # Errors
    /// A short or malformed message, or a TLV extension that is not a valid stream (unknown
    /// even types in it are refused, as everywhere).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let code = r.read_u16()?;
        let message = FailureMessage::read_data(code, &mut r)?;
        let tlvs = TlvStream::read(&mut r)?.into_unknown_odd()?;
        Ok(Self { message, tlvs })
    }
}

/// The hash that `update_fail_malformed_htlc` and the `BADONION` failures carry.
pub fn sha256_of_onion(packet: &crate::wire::OnionPacket) -> [u8; 32] {
    sha256(&[&packet.0[..]])
}

/// The failure the previous hop returns for an `update_fail_malformed_htlc` it received:
/// BOLT 2 makes it the given code with `sha256_of_onion` as data. `None` if the `BADONION` bit
/// is not set, which is a protocol violation by the peer (the channel layer fails the channel).
pub fn failure_from_malformed(
    failure_code: u16,
    sha256_of_onion: [u8; 32],
) -> Option<FailureMessage> {
    if failure_code & BADONION == 0 {
        return None;
    }
    let mut r = Reader::new(&sha256_of_onion);
    let message = FailureMessage::read_data(failure_code, &mut r).ok()?;
    // A known BADONION code carries exactly the hash; an unknown one keeps it as its data.
    r.finish().ok().map(|()| message)
}

#[cfg(test)]
#[path = "failure_tests.rs"]
mod tests;
