//! BOLT 7 gossip queries: `query_short_channel_ids` (261), `reply_short_channel_ids_end`
//! (262), `query_channel_range` (263), `reply_channel_range` (264) and
//! `gossip_timestamp_filter` (265).
//!
//! Arrays of short channel ids, timestamps and flags are "encoded": one encoding byte, then the
//! data. Only encoding 0 (uncompressed) is allowed; zlib (1) is deprecated and refused, as
//! every current implementation does.

use bitcoin::constants::ChainHash;

use super::bigsize;
use super::codec::{Reader, Writer};
use super::error::DecodeError;
use super::message::WireMessage;
use super::tlv::{encode_value, TlvStream};
use super::types::ShortChannelId;

const ENCODING_UNCOMPRESSED: u8 = 0;

/// `query_option` bit 0 of `query_channel_range`: send each channel's update timestamps.
pub const QUERY_OPTION_TIMESTAMPS: u64 = 1 << 0;
/// `query_option` bit 1: send each channel's update checksums.
pub const QUERY_OPTION_CHECKSUMS: u64 = 1 << 1;

/// `query_flags` bits of `query_short_channel_ids`: which messages of a channel to send.
pub const QUERY_FLAG_ANNOUNCEMENT: u64 = 1 << 0;
pub const QUERY_FLAG_UPDATE_1: u64 = 1 << 1;
pub const QUERY_FLAG_UPDATE_2: u64 = 1 << 2;
pub const QUERY_FLAG_NODE_1: u64 = 1 << 3;
pub const QUERY_FLAG_NODE_2: u64 = 1 << 4;

/// Reads an encoding byte and checks it is the uncompressed one. The byte is always there,
/// even before an empty array (every implementation writes it, and LDK refuses a field
/// without it); accepting an empty field would also make decoding non-canonical.
fn encoded_body(bytes: &[u8]) -> Result<&[u8], DecodeError> {
    match bytes.split_first() {
        Some((&ENCODING_UNCOMPRESSED, rest)) => Ok(rest),
        _ => Err(DecodeError::InvalidValue("encoding_type")),
    }
}

fn decode_scids(bytes: &[u8]) -> Result<Vec<ShortChannelId>, DecodeError> {
    let body = encoded_body(bytes)?;
    if body.len() % 8 != 0 {
        return Err(DecodeError::InvalidValue("encoded_short_ids"));
    }
    Ok(body
        .chunks_exact(8)
        .map(|c| ShortChannelId(u64::from_be_bytes(c.try_into().unwrap_or([0; 8]))))
        .collect())
}

fn encode_scids(scids: &[ShortChannelId]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 8 * scids.len());
    out.push(ENCODING_UNCOMPRESSED);
    for s in scids {
        out.extend_from_slice(&s.0.to_be_bytes());
    }
    out
}

fn decode_u32_pairs(bytes: &[u8], field: &'static str) -> Result<Vec<(u32, u32)>, DecodeError> {
    if bytes.len() % 8 != 0 {
        return Err(DecodeError::InvalidValue(field));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| {
            let a = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            let b = u32::from_be_bytes([c[4], c[5], c[6], c[7]]);
            (a, b)
        })
        .collect())
}

fn put_u32_pairs(w: &mut Writer, pairs: &[(u32, u32)]) {
    for (a, b) in pairs {
        w.put_u32(*a);
        w.put_u32(*b);
    }
}

/// `query_short_channel_ids` (type 261): "send me everything about these channels".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryShortChannelIds {
    pub chain_hash: ChainHash,
    pub short_channel_ids: Vec<ShortChannelId>,
    /// One flag set per id ([`QUERY_FLAG_ANNOUNCEMENT`]…); absent means everything.
    pub query_flags: Option<Vec<u64>>,
    pub extra_tlvs: TlvStream,
}

impl QueryShortChannelIds {
    const TLV_QUERY_FLAGS: u64 = 1;
}

impl WireMessage for QueryShortChannelIds {
    const TYPE: u16 = 261;

    fn write_payload(&self, w: &mut Writer) {
        w.put_bytes(&self.chain_hash.to_bytes());
        w.put_u16_prefixed("encoded_short_ids", &encode_scids(&self.short_channel_ids));
        let mut known = Vec::new();
        if let Some(flags) = &self.query_flags {
            known.push((
                Self::TLV_QUERY_FLAGS,
                encode_value(w, |v| {
                    v.put_u8(ENCODING_UNCOMPRESSED);
                    for f in flags {
                        bigsize::write(v, *f);
                    }
                }),
            ));
        }
        self.extra_tlvs.with_records(known).write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let chain_hash = ChainHash::from(r.read_array::<32>()?);
        let short_channel_ids = decode_scids(r.read_u16_prefixed()?)?;
        let mut tlvs = TlvStream::read(r)?;
        let query_flags = tlvs.take_with(Self::TLV_QUERY_FLAGS, |v| {
            let encoding = v.read_u8()?;
            if encoding != ENCODING_UNCOMPRESSED {
                return Err(DecodeError::InvalidValue("encoding_type"));
            }
            let mut flags = Vec::new();
            while !v.is_empty() {
                flags.push(bigsize::read(v)?);
            }
            Ok(flags)
        })?;
        if let Some(f) = &query_flags {
            if f.len() != short_channel_ids.len() {
                return Err(DecodeError::InvalidValue("encoded_query_flags"));
            }
        }
        Ok(Self {
            chain_hash,
            short_channel_ids,
            query_flags,
            extra_tlvs: tlvs.into_unknown_odd()?,
        })
    }
}

/// `reply_short_channel_ids_end` (type 262): the answer to a `query_short_channel_ids` is
/// complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyShortChannelIdsEnd {
    pub chain_hash: ChainHash,
    /// 0 when the sender lacks up-to-date information for this chain.
    pub full_information: u8,
    pub excess_data: Vec<u8>,
}

impl WireMessage for ReplyShortChannelIdsEnd {
    const TYPE: u16 = 262;

    fn write_payload(&self, w: &mut Writer) {
        w.put_bytes(&self.chain_hash.to_bytes());
        w.put_u8(self.full_information);
        w.put_bytes(&self.excess_data);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            chain_hash: ChainHash::from(r.read_array::<32>()?),
            full_information: r.read_u8()?,
            excess_data: r.read_rest().to_vec(),
        })
    }
}

/// `query_channel_range` (type 263): "which channels funded in these blocks do you know?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryChannelRange {
    pub chain_hash: ChainHash,
    pub first_blocknum: u32,
    pub number_of_blocks: u32,
    /// [`QUERY_OPTION_TIMESTAMPS`] / [`QUERY_OPTION_CHECKSUMS`].
    pub query_option: Option<u64>,
    pub extra_tlvs: TlvStream,
}

impl QueryChannelRange {
    const TLV_QUERY_OPTION: u64 = 1;

    /// The last block of the range, saturating (a peer may ask up to `u32::MAX`).
    pub fn end_blocknum(&self) -> u32 {
        self.first_blocknum.saturating_add(self.number_of_blocks)
    }
}

impl WireMessage for QueryChannelRange {
    const TYPE: u16 = 263;

    fn write_payload(&self, w: &mut Writer) {
        w.put_bytes(&self.chain_hash.to_bytes());
        w.put_u32(self.first_blocknum);
        w.put_u32(self.number_of_blocks);
        let mut known = Vec::new();
        if let Some(o) = self.query_option {
            known.push((
                Self::TLV_QUERY_OPTION,
                encode_value(w, |v| bigsize::write(v, o)),
            ));
        }
        self.extra_tlvs.with_records(known).write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let chain_hash = ChainHash::from(r.read_array::<32>()?);
        let first_blocknum = r.read_u32()?;
        let number_of_blocks = r.read_u32()?;
        let mut tlvs = TlvStream::read(r)?;
        let query_option = tlvs.take_with(Self::TLV_QUERY_OPTION, bigsize::read)?;
        Ok(Self {
            chain_hash,
            first_blocknum,
            number_of_blocks,
            query_option,
            extra_tlvs: tlvs.into_unknown_odd()?,
        })
    }
}

/// `reply_channel_range` (type 264): one part of the answer to a `query_channel_range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyChannelRange {
    pub chain_hash: ChainHash,
    pub first_blocknum: u32,
    pub number_of_blocks: u32,
    /// 0 when the sender lacks up-to-date information for this chain.
    pub sync_complete: u8,
    /// In ascending order.
    pub short_channel_ids: Vec<ShortChannelId>,
    /// Per id: the timestamps of the `channel_update` of `node_id_1` and of `node_id_2` (0 for
    /// none).
    pub timestamps: Option<Vec<(u32, u32)>>,
    /// Per id: the checksums of both updates (CRC32C of the update without signature and
    /// timestamp; 0 for none).
    pub checksums: Option<Vec<(u32, u32)>>,
    pub extra_tlvs: TlvStream,
}

impl ReplyChannelRange {
    const TLV_TIMESTAMPS: u64 = 1;
    const TLV_CHECKSUMS: u64 = 3;

    /// The most ids one reply carries with their timestamps (24 bytes each with checksums
    /// too: then fewer fit, see `gossip::range::ids_per_reply`). BOLT 7 leaves the split to
    /// the sender.
    pub const MAX_IDS_PER_REPLY: usize = 3200;
}

impl WireMessage for ReplyChannelRange {
    const TYPE: u16 = 264;

    fn write_payload(&self, w: &mut Writer) {
        w.put_bytes(&self.chain_hash.to_bytes());
        w.put_u32(self.first_blocknum);
        w.put_u32(self.number_of_blocks);
        w.put_u8(self.sync_complete);
        w.put_u16_prefixed("encoded_short_ids", &encode_scids(&self.short_channel_ids));
        let mut known = Vec::new();
        if let Some(t) = &self.timestamps {
            known.push((
                Self::TLV_TIMESTAMPS,
                encode_value(w, |v| {
                    v.put_u8(ENCODING_UNCOMPRESSED);
                    put_u32_pairs(v, t);
                }),
            ));
        }
        if let Some(c) = &self.checksums {
            known.push((
                Self::TLV_CHECKSUMS,
                encode_value(w, |v| put_u32_pairs(v, c)),
            ));
        }
        self.extra_tlvs.with_records(known).write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let chain_hash = ChainHash::from(r.read_array::<32>()?);
        let first_blocknum = r.read_u32()?;
        let number_of_blocks = r.read_u32()?;
        let sync_complete = r.read_u8()?;
        let short_channel_ids = decode_scids(r.read_u16_prefixed()?)?;
        let mut tlvs = TlvStream::read(r)?;
        let timestamps = tlvs.take_with(Self::TLV_TIMESTAMPS, |v| {
            let body = encoded_body(v.read_rest())?;
            decode_u32_pairs(body, "encoded_timestamps")
        })?;
        let checksums = tlvs.take_with(Self::TLV_CHECKSUMS, |v| {
            decode_u32_pairs(v.read_rest(), "checksums")
        })?;
        for (field, list) in [
            ("timestamps_tlv", &timestamps),
            ("checksums_tlv", &checksums),
        ] {
            if list
                .as_ref()
                .is_some_and(|l| l.len() != short_channel_ids.len())
            {
                return Err(DecodeError::InvalidValue(field));
            }
        }
        Ok(Self {
            chain_hash,
            first_blocknum,
            number_of_blocks,
            sync_complete,
            short_channel_ids,
            timestamps,
            checksums,
            extra_tlvs: tlvs.into_unknown_odd()?,
        })
    }
}

/// `gossip_timestamp_filter` (type 265): "relay me gossip with timestamps in this window".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipTimestampFilter {
    pub chain_hash: ChainHash,
    pub first_timestamp: u32,
    pub timestamp_range: u32,
    pub excess_data: Vec<u8>,
}

impl GossipTimestampFilter {
    /// Whether a message with `timestamp` passes the filter.
    pub fn admits(&self, timestamp: u32) -> bool {
        timestamp >= self.first_timestamp
            && u64::from(timestamp)
                < u64::from(self.first_timestamp) + u64::from(self.timestamp_range)
    }
}

impl WireMessage for GossipTimestampFilter {
    const TYPE: u16 = 265;

    fn write_payload(&self, w: &mut Writer) {
        w.put_bytes(&self.chain_hash.to_bytes());
        w.put_u32(self.first_timestamp);
        w.put_u32(self.timestamp_range);
        w.put_bytes(&self.excess_data);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            chain_hash: ChainHash::from(r.read_array::<32>()?),
            first_timestamp: r.read_u32()?,
            timestamp_range: r.read_u32()?,
            excess_data: r.read_rest().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scids() -> Vec<ShortChannelId> {
        vec![
            ShortChannelId::new(100, 1, 0).unwrap(),
            ShortChannelId::new(101, 7, 1).unwrap(),
        ]
    }

    #[test]
    fn query_short_channel_ids_layout_and_flags() {
        let q = QueryShortChannelIds {
            chain_hash: ChainHash::REGTEST,
            short_channel_ids: scids(),
            query_flags: Some(vec![QUERY_FLAG_ANNOUNCEMENT, 0x1f]),
            extra_tlvs: TlvStream::new(),
        };
        let bytes = q.encode().unwrap();
        // type, chain, len(17), encoding 0, two ids, tlv(1, len 3, 0, 0x01, 0x1f)
        assert_eq!(&bytes[34..37], &[0, 17, 0]);
        assert_eq!(&bytes[53..], &[1, 3, 0, 1, 0x1f]);
        assert_eq!(QueryShortChannelIds::decode(&bytes).unwrap(), q);
    }

    #[test]
    fn zlib_and_ragged_encodings_are_refused() {
        let mut bytes = QueryShortChannelIds {
            chain_hash: ChainHash::REGTEST,
            short_channel_ids: scids(),
            query_flags: None,
            extra_tlvs: TlvStream::new(),
        }
        .encode()
        .unwrap();
        bytes[36] = 1;
        assert_eq!(
            QueryShortChannelIds::decode(&bytes),
            Err(DecodeError::InvalidValue("encoding_type"))
        );
        bytes[36] = 0;
        bytes[35] = 16; // one byte short of two ids
        bytes.truncate(bytes.len() - 1);
        assert!(QueryShortChannelIds::decode(&bytes).is_err());
    }

    #[test]
    fn flags_must_match_the_ids() {
        let q = QueryShortChannelIds {
            chain_hash: ChainHash::REGTEST,
            short_channel_ids: scids(),
            query_flags: Some(vec![1]),
            extra_tlvs: TlvStream::new(),
        };
        let bytes = q.encode().unwrap();
        assert!(QueryShortChannelIds::decode(&bytes).is_err());
    }

    #[test]
    fn reply_channel_range_with_timestamps_and_checksums() {
        let r = ReplyChannelRange {
            chain_hash: ChainHash::REGTEST,
            first_blocknum: 100,
            number_of_blocks: 2,
            sync_complete: 1,
            short_channel_ids: scids(),
            timestamps: Some(vec![(5, 6), (0, 7)]),
            checksums: Some(vec![(1, 2), (3, 4)]),
            extra_tlvs: TlvStream::new(),
        };
        let bytes = r.encode().unwrap();
        assert_eq!(ReplyChannelRange::decode(&bytes).unwrap(), r);
        let bare = ReplyChannelRange {
            timestamps: None,
            checksums: None,
            short_channel_ids: Vec::new(),
            ..r
        };
        let bytes = bare.encode().unwrap();
        assert_eq!(ReplyChannelRange::decode(&bytes).unwrap(), bare);
    }

    #[test]
    fn query_channel_range_and_filter() {
        let q = QueryChannelRange {
            chain_hash: ChainHash::REGTEST,
            first_blocknum: u32::MAX - 1,
            number_of_blocks: 10,
            query_option: Some(QUERY_OPTION_TIMESTAMPS | QUERY_OPTION_CHECKSUMS),
            extra_tlvs: TlvStream::new(),
        };
        assert_eq!(q.end_blocknum(), u32::MAX);
        let bytes = q.encode().unwrap();
        assert_eq!(&bytes[bytes.len() - 3..], &[1, 1, 3]);
        assert_eq!(QueryChannelRange::decode(&bytes).unwrap(), q);
        let f = GossipTimestampFilter {
            chain_hash: ChainHash::REGTEST,
            first_timestamp: u32::MAX - 5,
            timestamp_range: u32::MAX,
            excess_data: Vec::new(),
        };
        assert!(f.admits(u32::MAX));
        assert!(!f.admits(3));
        assert_eq!(
            GossipTimestampFilter::decode(&f.encode().unwrap()).unwrap(),
            f
        );
        let e = ReplyShortChannelIdsEnd {
            chain_hash: ChainHash::REGTEST,
            full_information: 1,
            excess_data: Vec::new(),
        };
        assert_eq!(
            ReplyShortChannelIdsEnd::decode(&e.encode().unwrap()).unwrap(),
            e
        );
    }
}
