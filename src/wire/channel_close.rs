//! Mutual close (BOLT 2): `shutdown` and `closing_signed`.

use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::ScriptBuf;

use super::codec::{Reader, Writer};
use super::error::DecodeError;
use super::message::WireMessage;
use super::tlv::{encode_value, TlvStream};
use super::types::ChannelId;

/// `shutdown` (type 38).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shutdown {
    pub channel_id: ChannelId,
    /// Where the sender's funds go. Whether the script form is acceptable
    /// (`option_shutdown_anysegwit`, upfront commitment) is the channel layer's call.
    pub scriptpubkey: ScriptBuf,
    pub extra_tlvs: TlvStream,
}

impl WireMessage for Shutdown {
    const TYPE: u16 = 38;

    fn write_payload(&self, w: &mut Writer) {
        self.channel_id.write(w);
        w.put_script_u16("scriptpubkey", &self.scriptpubkey);
        self.extra_tlvs.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            channel_id: ChannelId::read(r)?,
            scriptpubkey: ScriptBuf::from_bytes(r.read_u16_prefixed()?.to_vec()),
            extra_tlvs: TlvStream::read(r)?.into_unknown_odd()?,
        })
    }
}

/// The range of closing fees the sender accepts (`fee_range`, type 1 of `closing_signed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeRange {
    pub min_fee_satoshis: u64,
    pub max_fee_satoshis: u64,
}

/// `closing_signed` (type 39).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosingSigned {
    pub channel_id: ChannelId,
    pub fee_satoshis: u64,
    pub signature: Signature,
    pub fee_range: Option<FeeRange>,
    pub extra_tlvs: TlvStream,
}

impl ClosingSigned {
    const TLV_FEE_RANGE: u64 = 1;
}

impl WireMessage for ClosingSigned {
    const TYPE: u16 = 39;

    fn write_payload(&self, w: &mut Writer) {
        self.channel_id.write(w);
        w.put_u64(self.fee_satoshis);
        w.put_signature(&self.signature);
        let mut known = Vec::new();
        if let Some(range) = self.fee_range {
            let value = encode_value(w, |v| {
                v.put_u64(range.min_fee_satoshis);
                v.put_u64(range.max_fee_satoshis);
            });
            known.push((Self::TLV_FEE_RANGE, value));
        }
        self.extra_tlvs.with_records(known).write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let channel_id = ChannelId::read(r)?;
        let fee_satoshis = r.read_u64()?;
        let signature = r.read_signature()?;
        let mut tlvs = TlvStream::read(r)?;
        let fee_range = tlvs.take_with(Self::TLV_FEE_RANGE, |v| {
            Ok(FeeRange {
                min_fee_satoshis: v.read_u64()?,
                max_fee_satoshis: v.read_u64()?,
            })
        })?;
        Ok(Self {
            channel_id,
            fee_satoshis,
            signature,
            fee_range,
            extra_tlvs: tlvs.into_unknown_odd()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::sig;

    #[test]
    fn shutdown_carries_a_length_prefixed_script() {
        let script = ScriptBuf::from_bytes(vec![0x51, 0x20]);
        let msg = Shutdown {
            channel_id: ChannelId([1; 32]),
            scriptpubkey: script,
            extra_tlvs: TlvStream::new(),
        };
        let bytes = msg.encode().unwrap();
        assert_eq!(&bytes[34..], &[0, 2, 0x51, 0x20]);
        assert_eq!(Shutdown::decode(&bytes).unwrap(), msg);
        assert_eq!(
            Shutdown::decode(&bytes[..bytes.len() - 1]),
            Err(DecodeError::ShortRead)
        );
    }

    #[test]
    fn closing_signed_fee_range() {
        let msg = ClosingSigned {
            channel_id: ChannelId([1; 32]),
            fee_satoshis: 1000,
            signature: sig(5),
            fee_range: Some(FeeRange {
                min_fee_satoshis: 500,
                max_fee_satoshis: 2000,
            }),
            extra_tlvs: TlvStream::new(),
        };
        let bytes = msg.encode().unwrap();
        let tlv = &bytes[2 + 32 + 8 + 64..];
        assert_eq!(
            hex::encode(tlv),
            "0110".to_string() + "00000000000001f4" + "00000000000007d0"
        );
        assert_eq!(ClosingSigned::decode(&bytes).unwrap(), msg);
        // A fee_range of the wrong length is malformed.
        let mut long = bytes[..2 + 32 + 8 + 64].to_vec();
        long.extend(hex::decode("0111").unwrap());
        long.extend([0u8; 17]);
        assert_eq!(
            ClosingSigned::decode(&long),
            Err(DecodeError::TrailingBytes(1))
        );
    }
}
