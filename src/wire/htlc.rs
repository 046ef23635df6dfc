//! Adding and removing HTLCs (BOLT 2): `update_add_htlc`, `update_fulfill_htlc`,
//! `update_fail_htlc`, `update_fail_malformed_htlc`.

use bitcoin::secp256k1::PublicKey;

use super::codec::{Reader, Writer};
use super::error::DecodeError;
use super::message::WireMessage;
use super::tlv::{encode_value, TlvStream};
use super::types::{ChannelId, OnionPacket};

/// `update_add_htlc` (type 128).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateAddHtlc {
    pub channel_id: ChannelId,
    pub id: u64,
    pub amount_msat: u64,
    pub payment_hash: [u8; 32],
    pub cltv_expiry: u32,
    pub onion_routing_packet: OnionPacket,
    /// `blinding_point` (type 0; `path_key` in newer spec text): set when this HTLC travels a
    /// blinded route and the onion must be unwrapped with it.
    pub blinding_point: Option<PublicKey>,
    pub extra_tlvs: TlvStream,
}

impl UpdateAddHtlc {
    const TLV_BLINDING_POINT: u64 = 0;
    /// `extra_fee` (bLIPs 25 and 52; LDK's `skimmed_fee_msat`): what the forwarding LSP took
    /// from this HTLC, an 8-byte big-endian u64. Odd, so a peer that does not know it ignores
    /// it; kept in `extra_tlvs` so every other record survives untouched.
    pub const TLV_EXTRA_FEE: u64 = 65537;

    /// The `extra_fee` this HTLC carries, if any.
    ///
    /// # Errors
    /// The record is not 8 bytes.
    pub fn extra_fee_msat(&self) -> Result<Option<u64>, DecodeError> {
        match self.extra_tlvs.get(Self::TLV_EXTRA_FEE) {
            None => Ok(None),
            Some(v) => <[u8; 8]>::try_from(v)
                .map(|b| Some(u64::from_be_bytes(b)))
                .map_err(|_| {
                    if v.len() < 8 {
                        DecodeError::ShortRead
                    } else {
                        DecodeError::TrailingBytes(v.len() - 8)
                    }
                }),
        }
    }

    /// Sets (or with `None` removes) the `extra_fee` record.
    pub fn set_extra_fee_msat(&mut self, fee_msat: Option<u64>) {
        self.extra_tlvs.take(Self::TLV_EXTRA_FEE);
        if let Some(fee) = fee_msat {
            self.extra_tlvs
                .insert(Self::TLV_EXTRA_FEE, fee.to_be_bytes().to_vec());
        }
    }
}

impl WireMessage for UpdateAddHtlc {
    const TYPE: u16 = 128;

    fn write_payload(&self, w: &mut Writer) {
        self.channel_id.write(w);
        w.put_u64(self.id);
        w.put_u64(self.amount_msat);
        w.put_bytes(&self.payment_hash);
        w.put_u32(self.cltv_expiry);
        w.put_bytes(&self.onion_routing_packet.0[..]);
        let mut known = Vec::new();
        if let Some(point) = &self.blinding_point {
            let value = encode_value(w, |v| v.put_pubkey(point));
            known.push((Self::TLV_BLINDING_POINT, value));
        }
        self.extra_tlvs.with_records(known).write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let channel_id = ChannelId::read(r)?;
        let id = r.read_u64()?;
        let amount_msat = r.read_u64()?;
        let payment_hash = r.read_array()?;
        let cltv_expiry = r.read_u32()?;
        let onion_routing_packet = OnionPacket::read(r)?;
        let mut tlvs = TlvStream::read(r)?;
        let blinding_point = tlvs.take_with(Self::TLV_BLINDING_POINT, |v| v.read_pubkey())?;
        Ok(Self {
            channel_id,
            id,
            amount_msat,
            payment_hash,
            cltv_expiry,
            onion_routing_packet,
            blinding_point,
            extra_tlvs: tlvs.into_unknown_odd()?,
        })
    }
}

/// `update_fulfill_htlc` (type 130).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateFulfillHtlc {
    pub channel_id: ChannelId,
    pub id: u64,
    pub payment_preimage: [u8; 32],
    pub extra_tlvs: TlvStream,
}

impl WireMessage for UpdateFulfillHtlc {
    const TYPE: u16 = 130;

    fn write_payload(&self, w: &mut Writer) {
        self.channel_id.write(w);
        w.put_u64(self.id);
        w.put_bytes(&self.payment_preimage);
        self.extra_tlvs.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            channel_id: ChannelId::read(r)?,
            id: r.read_u64()?,
            payment_preimage: r.read_array()?,
            extra_tlvs: TlvStream::read(r)?.into_unknown_odd()?,
        })
    }
}

/// `update_fail_htlc` (type 131).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateFailHtlc {
    pub channel_id: ChannelId,
    pub id: u64,
    /// The encrypted failure onion, opaque to everyone but the payer.
    pub reason: Vec<u8>,
    pub extra_tlvs: TlvStream,
}

impl WireMessage for UpdateFailHtlc {
    const TYPE: u16 = 131;

    fn write_payload(&self, w: &mut Writer) {
        self.channel_id.write(w);
        w.put_u64(self.id);
        w.put_u16_prefixed("reason", &self.reason);
        self.extra_tlvs.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            channel_id: ChannelId::read(r)?,
            id: r.read_u64()?,
            reason: r.read_u16_prefixed()?.to_vec(),
            extra_tlvs: TlvStream::read(r)?.into_unknown_odd()?,
        })
    }
}

/// `update_fail_malformed_htlc` (type 135).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateFailMalformedHtlc {
    pub channel_id: ChannelId,
    pub id: u64,
    pub sha256_of_onion: [u8; 32],
    pub failure_code: u16,
    pub extra_tlvs: TlvStream,
}

impl UpdateFailMalformedHtlc {
    /// BOLT 4's BADONION flag, which every code sent in this message must carry.
    pub const BADONION: u16 = 0x8000;

    /// The receiver must fail the channel when this is false (BOLT 2); the codec keeps the code
    /// as sent so the channel layer can decide.
    pub fn has_badonion(&self) -> bool {
        self.failure_code & Self::BADONION != 0
    }
}

impl WireMessage for UpdateFailMalformedHtlc {
    const TYPE: u16 = 135;

    fn write_payload(&self, w: &mut Writer) {
        self.channel_id.write(w);
        w.put_u64(self.id);
        w.put_bytes(&self.sha256_of_onion);
        w.put_u16(self.failure_code);
        self.extra_tlvs.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            channel_id: ChannelId::read(r)?,
            id: r.read_u64()?,
            sha256_of_onion: r.read_array()?,
            failure_code: r.read_u16()?,
            extra_tlvs: TlvStream::read(r)?.into_unknown_odd()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::pk;
    use crate::wire::types::ONION_PACKET_LEN;

    fn add() -> UpdateAddHtlc {
        let mut onion = Box::new([0u8; ONION_PACKET_LEN]);
        onion[1] = 0x02;
        onion[ONION_PACKET_LEN - 1] = 0x77;
        UpdateAddHtlc {
            channel_id: ChannelId([1; 32]),
            id: 42,
            amount_msat: 100_000,
            payment_hash: [0xaa; 32],
            cltv_expiry: 800_000,
            onion_routing_packet: OnionPacket(onion),
            blinding_point: None,
            extra_tlvs: TlvStream::new(),
        }
    }

    #[test]
    fn update_add_htlc_layout() {
        let bytes = add().encode().unwrap();
        assert_eq!(bytes.len(), 2 + 32 + 8 + 8 + 32 + 4 + ONION_PACKET_LEN);
        assert_eq!(&bytes[..2], &[0, 128]);
        assert_eq!(UpdateAddHtlc::decode(&bytes).unwrap(), add());
    }

    #[test]
    fn extra_fee_is_an_odd_8_byte_record_that_round_trips() {
        let mut msg = add();
        assert_eq!(msg.extra_fee_msat(), Ok(None));
        msg.set_extra_fee_msat(Some(0x0102_0304_0506_0708));
        let bytes = msg.encode().unwrap();
        // The record at the end: type 65537 as a BigSize (0xfe + 4 bytes), length 8, value.
        assert_eq!(
            &bytes[bytes.len() - 14..],
            &[0xfe, 0, 1, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8]
        );
        let back = UpdateAddHtlc::decode(&bytes).unwrap();
        assert_eq!(back.extra_fee_msat(), Ok(Some(0x0102_0304_0506_0708)));
        assert_eq!(back, msg);
        assert_eq!(
            UpdateAddHtlc::TLV_EXTRA_FEE % 2,
            1,
            "odd: ignored by those who lack it"
        );
        let mut cleared = back.clone();
        cleared.set_extra_fee_msat(None);
        assert_eq!(cleared, add());
        // Another odd record beside it survives.
        msg.extra_tlvs.insert(65539, vec![9]);
        msg.set_extra_fee_msat(Some(5));
        let back = UpdateAddHtlc::decode(&msg.encode().unwrap()).unwrap();
        assert_eq!(back.extra_fee_msat(), Ok(Some(5)));
        assert_eq!(back.extra_tlvs.get(65539), Some(&[9u8][..]));
        // A record of the wrong size is an error to whoever reads it, not a panic.
        let mut short = add();
        short.extra_tlvs.insert(65537, vec![1]);
        assert_eq!(short.extra_fee_msat(), Err(DecodeError::ShortRead));
        short.extra_tlvs.insert(65537, vec![0; 9]);
        assert_eq!(short.extra_fee_msat(), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn blinding_point_is_parsed_and_kept() {
        let mut msg = add();
        msg.blinding_point = Some(pk(3));
        msg.extra_tlvs.insert(65537, vec![1]);
        let bytes = msg.encode().unwrap();
        let back = UpdateAddHtlc::decode(&bytes).unwrap();
        assert_eq!(back.blinding_point, Some(pk(3)));
        assert_eq!(back.extra_tlvs.get(65537), Some(&[1u8][..]));
        assert_eq!(back.encode().unwrap(), bytes);
        // A blinding point that is not a point fails the message.
        let mut bad = add().encode().unwrap();
        bad.extend([0, 33, 0x04]);
        bad.extend([0u8; 32]);
        assert_eq!(
            UpdateAddHtlc::decode(&bad),
            Err(DecodeError::InvalidPublicKey)
        );
    }

    #[test]
    fn a_garbage_onion_key_does_not_fail_decoding() {
        let mut msg = add();
        msg.onion_routing_packet.0[1] = 0x09;
        let back = UpdateAddHtlc::decode(&msg.encode().unwrap()).unwrap();
        assert_eq!(back.onion_routing_packet.public_key_bytes()[0], 0x09);
    }

    #[test]
    fn fail_and_fulfill_round_trip() {
        let fail = UpdateFailHtlc {
            channel_id: ChannelId([2; 32]),
            id: 7,
            reason: vec![0x55; 292],
            extra_tlvs: TlvStream::new(),
        };
        let bytes = fail.encode().unwrap();
        assert_eq!(&bytes[42..44], &292u16.to_be_bytes());
        assert_eq!(UpdateFailHtlc::decode(&bytes).unwrap(), fail);
        let fulfill = UpdateFulfillHtlc {
            channel_id: ChannelId([2; 32]),
            id: 7,
            payment_preimage: [9; 32],
            extra_tlvs: TlvStream::new(),
        };
        assert_eq!(
            UpdateFulfillHtlc::decode(&fulfill.encode().unwrap()).unwrap(),
            fulfill
        );
    }

    #[test]
    fn malformed_keeps_code_and_flags_badonion() {
        let m = UpdateFailMalformedHtlc {
            channel_id: ChannelId([2; 32]),
            id: 1,
            sha256_of_onion: [3; 32],
            failure_code: 0x8000 | 0x4000 | 5,
            extra_tlvs: TlvStream::new(),
        };
        assert!(m.has_badonion());
        let back = UpdateFailMalformedHtlc::decode(&m.encode().unwrap()).unwrap();
        assert_eq!(back, m);
        let no_flag = UpdateFailMalformedHtlc {
            failure_code: 5,
            ..m
        };
        assert!(!no_flag.has_badonion());
    }
}
