//! Channel establishment (BOLT 2): `open_channel`, `accept_channel`, `funding_created`,
//! `funding_signed`, `channel_ready`.

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{ecdsa::Signature, PublicKey};
use bitcoin::{ScriptBuf, Txid};

use super::codec::{Reader, Writer};
use super::error::DecodeError;
use super::features::Features;
use super::message::WireMessage;
use super::tlv::{encode_value, TlvStream};
use super::types::{ChannelId, ShortChannelId};

/// The six points each side contributes when opening a channel, in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPoints {
    pub funding_pubkey: PublicKey,
    pub revocation_basepoint: PublicKey,
    pub payment_basepoint: PublicKey,
    pub delayed_payment_basepoint: PublicKey,
    pub htlc_basepoint: PublicKey,
    pub first_per_commitment_point: PublicKey,
}

impl ChannelPoints {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            funding_pubkey: r.read_pubkey()?,
            revocation_basepoint: r.read_pubkey()?,
            payment_basepoint: r.read_pubkey()?,
            delayed_payment_basepoint: r.read_pubkey()?,
            htlc_basepoint: r.read_pubkey()?,
            first_per_commitment_point: r.read_pubkey()?,
        })
    }

    fn write(&self, w: &mut Writer) {
        for pk in [
            &self.funding_pubkey,
            &self.revocation_basepoint,
            &self.payment_basepoint,
            &self.delayed_payment_basepoint,
            &self.htlc_basepoint,
            &self.first_per_commitment_point,
        ] {
            w.put_pubkey(pk);
        }
    }
}

/// The TLV extension shared by `open_channel` and `accept_channel`.
///
/// `upfront_shutdown_script` is type 0 so that the pre-TLV layout (a u16 length then the
/// script) is byte-for-byte the same record for any script shorter than 253 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenTlvs {
    /// `Some(empty)` means "no upfront script", which the spec lets a sender state explicitly.
    pub upfront_shutdown_script: Option<ScriptBuf>,
    pub channel_type: Option<Features>,
    pub extra_tlvs: TlvStream,
}

impl OpenTlvs {
    const UPFRONT_SHUTDOWN_SCRIPT: u64 = 0;
    const CHANNEL_TYPE: u64 = 1;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut tlvs = TlvStream::read(r)?;
        let upfront_shutdown_script = tlvs
            .take(Self::UPFRONT_SHUTDOWN_SCRIPT)
            .map(ScriptBuf::from_bytes);
        let channel_type = tlvs
            .take(Self::CHANNEL_TYPE)
            .map(|v| Features::from_wire_bytes(&v));
        Ok(Self {
            upfront_shutdown_script,
            channel_type,
            extra_tlvs: tlvs.into_unknown_odd()?,
        })
    }

    fn write(&self, w: &mut Writer) {
        let mut known = Vec::new();
        if let Some(script) = &self.upfront_shutdown_script {
            known.push((Self::UPFRONT_SHUTDOWN_SCRIPT, script.to_bytes()));
        }
        if let Some(ct) = &self.channel_type {
            known.push((Self::CHANNEL_TYPE, ct.to_wire_bytes()));
        }
        self.extra_tlvs.with_records(known).write(w);
    }
}

/// `open_channel` (type 32).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenChannel {
    pub chain_hash: ChainHash,
    pub temporary_channel_id: ChannelId,
    pub funding_satoshis: u64,
    pub push_msat: u64,
    pub dust_limit_satoshis: u64,
    pub max_htlc_value_in_flight_msat: u64,
    pub channel_reserve_satoshis: u64,
    pub htlc_minimum_msat: u64,
    pub feerate_per_kw: u32,
    pub to_self_delay: u16,
    pub max_accepted_htlcs: u16,
    pub points: ChannelPoints,
    /// Bit 0 is `announce_channel`; other bits are undefined and ignored by receivers.
    pub channel_flags: u8,
    pub tlvs: OpenTlvs,
}

impl OpenChannel {
    pub const ANNOUNCE_CHANNEL: u8 = 1;

    pub fn announce_channel(&self) -> bool {
        self.channel_flags & Self::ANNOUNCE_CHANNEL != 0
    }
}

impl WireMessage for OpenChannel {
    const TYPE: u16 = 32;

    fn write_payload(&self, w: &mut Writer) {
        w.put_bytes(&self.chain_hash.to_bytes());
        self.temporary_channel_id.write(w);
        w.put_u64(self.funding_satoshis);
        w.put_u64(self.push_msat);
        w.put_u64(self.dust_limit_satoshis);
        w.put_u64(self.max_htlc_value_in_flight_msat);
        w.put_u64(self.channel_reserve_satoshis);
        w.put_u64(self.htlc_minimum_msat);
        w.put_u32(self.feerate_per_kw);
        w.put_u16(self.to_self_delay);
        w.put_u16(self.max_accepted_htlcs);
        self.points.write(w);
        w.put_u8(self.channel_flags);
        self.tlvs.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            chain_hash: ChainHash::from(r.read_array::<32>()?),
            temporary_channel_id: ChannelId::read(r)?,
            funding_satoshis: r.read_u64()?,
            push_msat: r.read_u64()?,
            dust_limit_satoshis: r.read_u64()?,
            max_htlc_value_in_flight_msat: r.read_u64()?,
            channel_reserve_satoshis: r.read_u64()?,
            htlc_minimum_msat: r.read_u64()?,
            feerate_per_kw: r.read_u32()?,
            to_self_delay: r.read_u16()?,
            max_accepted_htlcs: r.read_u16()?,
            points: ChannelPoints::read(r)?,
            channel_flags: r.read_u8()?,
            tlvs: OpenTlvs::read(r)?,
        })
    }
}

/// `accept_channel` (type 33).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptChannel {
    pub temporary_channel_id: ChannelId,
    pub dust_limit_satoshis: u64,
    pub max_htlc_value_in_flight_msat: u64,
    pub channel_reserve_satoshis: u64,
    pub htlc_minimum_msat: u64,
    pub minimum_depth: u32,
    pub to_self_delay: u16,
    pub max_accepted_htlcs: u16,
    pub points: ChannelPoints,
    pub tlvs: OpenTlvs,
}

impl WireMessage for AcceptChannel {
    const TYPE: u16 = 33;

    fn write_payload(&self, w: &mut Writer) {
        self.temporary_channel_id.write(w);
        w.put_u64(self.dust_limit_satoshis);
        w.put_u64(self.max_htlc_value_in_flight_msat);
        w.put_u64(self.channel_reserve_satoshis);
        w.put_u64(self.htlc_minimum_msat);
        w.put_u32(self.minimum_depth);
        w.put_u16(self.to_self_delay);
        w.put_u16(self.max_accepted_htlcs);
        self.points.write(w);
        self.tlvs.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            temporary_channel_id: ChannelId::read(r)?,
            dust_limit_satoshis: r.read_u64()?,
            max_htlc_value_in_flight_msat: r.read_u64()?,
            channel_reserve_satoshis: r.read_u64()?,
            htlc_minimum_msat: r.read_u64()?,
            minimum_depth: r.read_u32()?,
            to_self_delay: r.read_u16()?,
            max_accepted_htlcs: r.read_u16()?,
            points: ChannelPoints::read(r)?,
            tlvs: OpenTlvs::read(r)?,
        })
    }
}

/// `funding_created` (type 34).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingCreated {
    pub temporary_channel_id: ChannelId,
    pub funding_txid: Txid,
    pub funding_output_index: u16,
    pub signature: Signature,
    pub extra_tlvs: TlvStream,
}

impl WireMessage for FundingCreated {
    const TYPE: u16 = 34;

    fn write_payload(&self, w: &mut Writer) {
        self.temporary_channel_id.write(w);
        w.put_txid(&self.funding_txid);
        w.put_u16(self.funding_output_index);
        w.put_signature(&self.signature);
        self.extra_tlvs.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            temporary_channel_id: ChannelId::read(r)?,
            funding_txid: r.read_txid()?,
            funding_output_index: r.read_u16()?,
            signature: r.read_signature()?,
            extra_tlvs: TlvStream::read(r)?.into_unknown_odd()?,
        })
    }
}

/// `funding_signed` (type 35).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingSigned {
    pub channel_id: ChannelId,
    pub signature: Signature,
    pub extra_tlvs: TlvStream,
}

impl WireMessage for FundingSigned {
    const TYPE: u16 = 35;

    fn write_payload(&self, w: &mut Writer) {
        self.channel_id.write(w);
        w.put_signature(&self.signature);
        self.extra_tlvs.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            channel_id: ChannelId::read(r)?,
            signature: r.read_signature()?,
            extra_tlvs: TlvStream::read(r)?.into_unknown_odd()?,
        })
    }
}

/// `channel_ready` (type 36), formerly `funding_locked`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelReady {
    pub channel_id: ChannelId,
    pub second_per_commitment_point: PublicKey,
    /// `short_channel_id` (type 1): an alias the peer should use in routing hints.
    pub short_channel_id_alias: Option<ShortChannelId>,
    pub extra_tlvs: TlvStream,
}

impl ChannelReady {
    const TLV_SHORT_CHANNEL_ID: u64 = 1;
}

impl WireMessage for ChannelReady {
    const TYPE: u16 = 36;

    fn write_payload(&self, w: &mut Writer) {
        self.channel_id.write(w);
        w.put_pubkey(&self.second_per_commitment_point);
        let mut known = Vec::new();
        if let Some(alias) = self.short_channel_id_alias {
            let value = encode_value(w, |v| v.put_u64(alias.0));
            known.push((Self::TLV_SHORT_CHANNEL_ID, value));
        }
        self.extra_tlvs.with_records(known).write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let channel_id = ChannelId::read(r)?;
        let second_per_commitment_point = r.read_pubkey()?;
        let mut tlvs = TlvStream::read(r)?;
        let short_channel_id_alias = tlvs
            .take_with(Self::TLV_SHORT_CHANNEL_ID, |v| v.read_u64())?
            .map(ShortChannelId);
        Ok(Self {
            channel_id,
            second_per_commitment_point,
            short_channel_id_alias,
            extra_tlvs: tlvs.into_unknown_odd()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::{pk, sig};
    use bitcoin::hashes::Hash;

    fn points() -> ChannelPoints {
        ChannelPoints {
            funding_pubkey: pk(1),
            revocation_basepoint: pk(2),
            payment_basepoint: pk(3),
            delayed_payment_basepoint: pk(4),
            htlc_basepoint: pk(5),
            first_per_commitment_point: pk(6),
        }
    }

    fn open() -> OpenChannel {
        OpenChannel {
            chain_hash: ChainHash::BITCOIN,
            temporary_channel_id: ChannelId([7; 32]),
            funding_satoshis: 1_000_000,
            push_msat: 0,
            dust_limit_satoshis: 354,
            max_htlc_value_in_flight_msat: 990_000_000,
            channel_reserve_satoshis: 10_000,
            htlc_minimum_msat: 1,
            feerate_per_kw: 253,
            to_self_delay: 144,
            max_accepted_htlcs: 483,
            points: points(),
            channel_flags: 1,
            tlvs: OpenTlvs::default(),
        }
    }

    #[test]
    fn open_channel_fixed_part_is_321_bytes() {
        let bytes = open().encode().unwrap();
        // type + chain_hash + id + 6*u64 + u32 + 2*u16 + 6 points + flags
        assert_eq!(bytes.len(), 2 + 32 + 32 + 48 + 4 + 4 + 6 * 33 + 1);
        assert_eq!(&bytes[..2], &[0, 32]);
        // Genesis hash in internal byte order, as the spec's chain_hash.
        assert_eq!(
            hex::encode(&bytes[2..34]),
            "6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000"
        );
        let back = OpenChannel::decode(&bytes).unwrap();
        assert_eq!(back, open());
        assert!(back.announce_channel());
    }

    #[test]
    fn legacy_upfront_script_layout_is_the_type_zero_record() {
        let script = hex::decode("0014").unwrap().into_iter().chain([9u8; 20]);
        let script: Vec<u8> = script.collect();
        let mut legacy = open().encode().unwrap();
        legacy.extend((script.len() as u16).to_be_bytes());
        legacy.extend(&script);
        let decoded = OpenChannel::decode(&legacy).unwrap();
        assert_eq!(
            decoded.tlvs.upfront_shutdown_script,
            Some(ScriptBuf::from_bytes(script))
        );
        assert_eq!(decoded.encode().unwrap(), legacy);
    }

    #[test]
    fn open_tlvs_round_trip_in_type_order() {
        let mut msg = open();
        msg.tlvs.upfront_shutdown_script = Some(ScriptBuf::new());
        msg.tlvs.channel_type = Some(Features::channel_type_anchors());
        msg.tlvs.extra_tlvs.insert(7, vec![1, 2, 3]);
        let bytes = msg.encode().unwrap();
        let tail = &bytes[321..];
        // type 0 empty, type 1 = 0x400000 (bits 12, 22), type 7.
        assert_eq!(hex::encode(tail), "000001034010000703010203");
        assert_eq!(OpenChannel::decode(&bytes).unwrap(), msg);
    }

    #[test]
    fn accept_channel_rejects_unknown_even_tlv_and_bad_points() {
        let accept = AcceptChannel {
            temporary_channel_id: ChannelId([1; 32]),
            dust_limit_satoshis: 546,
            max_htlc_value_in_flight_msat: 5,
            channel_reserve_satoshis: 1000,
            htlc_minimum_msat: 0,
            minimum_depth: 3,
            to_self_delay: 720,
            max_accepted_htlcs: 30,
            points: points(),
            tlvs: OpenTlvs::default(),
        };
        let bytes = accept.encode().unwrap();
        assert_eq!(AcceptChannel::decode(&bytes).unwrap(), accept);
        let mut even = bytes.clone();
        even.extend([2, 0]);
        assert_eq!(
            AcceptChannel::decode(&even),
            Err(DecodeError::UnknownEvenTlv(2))
        );
        // Corrupt the funding pubkey's prefix byte.
        let mut bad = bytes;
        let funding_at = 2 + 32 + 32 + 4 + 4;
        bad[funding_at] = 0x05;
        assert_eq!(
            AcceptChannel::decode(&bad),
            Err(DecodeError::InvalidPublicKey)
        );
    }

    #[test]
    fn funding_messages_round_trip() {
        let created = FundingCreated {
            temporary_channel_id: ChannelId([3; 32]),
            funding_txid: Txid::from_byte_array([0xab; 32]),
            funding_output_index: 1,
            signature: sig(1),
            extra_tlvs: TlvStream::new(),
        };
        let bytes = created.encode().unwrap();
        assert_eq!(bytes.len(), 2 + 32 + 32 + 2 + 64);
        assert_eq!(FundingCreated::decode(&bytes).unwrap(), created);
        let signed = FundingSigned {
            channel_id: ChannelId([4; 32]),
            signature: sig(2),
            extra_tlvs: TlvStream::new(),
        };
        assert_eq!(
            FundingSigned::decode(&signed.encode().unwrap()).unwrap(),
            signed
        );
    }

    #[test]
    fn signature_out_of_range_is_rejected() {
        let signed = FundingSigned {
            channel_id: ChannelId([4; 32]),
            signature: sig(2),
            extra_tlvs: TlvStream::new(),
        };
        let mut bytes = signed.encode().unwrap();
        // r = 0xff..ff is above the curve order.
        bytes[34..66].fill(0xff);
        assert_eq!(
            FundingSigned::decode(&bytes),
            Err(DecodeError::InvalidSignature)
        );
    }

    #[test]
    fn channel_ready_alias() {
        let ready = ChannelReady {
            channel_id: ChannelId([5; 32]),
            second_per_commitment_point: pk(9),
            short_channel_id_alias: ShortChannelId::new(16_000_000, 1, 0),
            extra_tlvs: TlvStream::new(),
        };
        let bytes = ready.encode().unwrap();
        assert_eq!(&bytes[bytes.len() - 10..bytes.len() - 8], &[1, 8]);
        assert_eq!(ChannelReady::decode(&bytes).unwrap(), ready);
        // An alias of the wrong size is malformed.
        let mut short = bytes[..bytes.len() - 10].to_vec();
        short.extend([1, 7, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(ChannelReady::decode(&short), Err(DecodeError::ShortRead));
    }
}
