//! Identifiers and opaque blobs that several messages share.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::codec::{Reader, Writer};
use super::error::DecodeError;

/// A 32-byte channel identifier (`channel_id` or `temporary_channel_id`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ChannelId(pub [u8; 32]);

impl ChannelId {
    /// All zeroes: in `error` and `warning`, "every channel with this peer".
    pub const ALL: ChannelId = ChannelId([0; 32]);

    pub fn is_all(&self) -> bool {
        *self == Self::ALL
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self(r.read_array()?))
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.put_bytes(&self.0);
    }
}

impl fmt::Debug for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelId({})", hex::encode(self.0))
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A short channel id: block height (3 bytes), transaction index (3), output index (2).
///
/// Serialized (serde) as its `u64`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShortChannelId(pub u64);

impl ShortChannelId {
    /// `None` when a part is out of its range.
    pub fn new(block: u32, tx_index: u32, output: u16) -> Option<Self> {
        if block >= 1 << 24 || tx_index >= 1 << 24 {
            return None;
        }
        Some(Self(
            (u64::from(block) << 40) | (u64::from(tx_index) << 16) | u64::from(output),
        ))
    }

    pub fn block(&self) -> u32 {
        (self.0 >> 40) as u32
    }

    pub fn tx_index(&self) -> u32 {
        ((self.0 >> 16) & 0xff_ffff) as u32
    }

    pub fn output_index(&self) -> u16 {
        (self.0 & 0xffff) as u16
    }
}

impl fmt::Debug for ShortChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShortChannelId({})", self)
    }
}

impl fmt::Display for ShortChannelId {
    /// The conventional `BLOCKxTXxOUTPUT` form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{}x{}",
            self.block(),
            self.tx_index(),
            self.output_index()
        )
    }
}

/// Size of the onion in `update_add_htlc` (BOLT 4).
pub const ONION_PACKET_LEN: usize = 1366;

/// The 1366-byte onion of `update_add_htlc`, kept opaque.
///
/// It is deliberately not parsed here: a bad onion (e.g. an invalid ephemeral key) must be
/// answered with `update_fail_malformed_htlc`, not by failing the connection, so only the onion
/// processor may judge its contents.
#[derive(Clone, PartialEq, Eq)]
pub struct OnionPacket(pub Box<[u8; ONION_PACKET_LEN]>);

impl OnionPacket {
    pub fn version(&self) -> u8 {
        self.0[0]
    }

    /// The ephemeral public key, as sent (not validated).
    pub fn public_key_bytes(&self) -> &[u8] {
        &self.0[1..34]
    }

    pub fn hop_payloads(&self) -> &[u8] {
        &self.0[34..1334]
    }

    pub fn hmac(&self) -> &[u8] {
        &self.0[1334..]
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes = r.read_bytes(ONION_PACKET_LEN)?;
        let mut packet = Box::new([0u8; ONION_PACKET_LEN]);
        packet.copy_from_slice(bytes);
        Ok(Self(packet))
    }
}

impl fmt::Debug for OnionPacket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OnionPacket(v{}, key {}, hmac {})",
            self.version(),
            hex::encode(self.public_key_bytes()),
            hex::encode(self.hmac())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_channel_id_parts() {
        let scid = ShortChannelId::new(700_000, 1234, 1).unwrap();
        assert_eq!(
            (scid.block(), scid.tx_index(), scid.output_index()),
            (700_000, 1234, 1)
        );
        assert_eq!(scid.to_string(), "700000x1234x1");
        assert_eq!(ShortChannelId(0x226).to_string(), "0x0x550");
        assert_eq!(ShortChannelId::new(1 << 24, 0, 0), None);
    }

    #[test]
    fn short_channel_id_serde_is_the_u64() {
        let scid = ShortChannelId::new(16_000_000, 7, 1).unwrap();
        let json = serde_json::to_string(&scid).unwrap();
        assert_eq!(json, scid.0.to_string());
        assert_eq!(serde_json::from_str::<ShortChannelId>(&json).unwrap(), scid);
    }

    #[test]
    fn onion_parts_cover_the_packet() {
        let mut raw = [0u8; ONION_PACKET_LEN];
        raw[0] = 0;
        raw[1] = 2;
        raw[ONION_PACKET_LEN - 1] = 0xaa;
        let onion = OnionPacket::read(&mut Reader::new(&raw)).unwrap();
        assert_eq!(onion.public_key_bytes().len(), 33);
        assert_eq!(onion.public_key_bytes()[0], 2);
        assert_eq!(onion.hop_payloads().len(), 1300);
        assert_eq!(onion.hmac().len(), 32);
        assert_eq!(onion.hmac()[31], 0xaa);
    }
}
