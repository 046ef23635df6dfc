//! Reconnection (BOLT 2): `channel_reestablish`.

use bitcoin::secp256k1::PublicKey;

use super::codec::{Reader, Writer};
use super::error::DecodeError;
use super::message::WireMessage;
use super::tlv::TlvStream;
use super::types::ChannelId;

/// `channel_reestablish` (type 136).
///
/// The last two fields were once optional (`option_data_loss_protect`); the spec now makes
/// them mandatory, and so do we: a message without them is a short read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelReestablish {
    pub channel_id: ChannelId,
    pub next_commitment_number: u64,
    pub next_revocation_number: u64,
    pub your_last_per_commitment_secret: [u8; 32],
    pub my_current_per_commitment_point: PublicKey,
    pub extra_tlvs: TlvStream,
}

impl WireMessage for ChannelReestablish {
    const TYPE: u16 = 136;

    fn write_payload(&self, w: &mut Writer) {
        self.channel_id.write(w);
        w.put_u64(self.next_commitment_number);
        w.put_u64(self.next_revocation_number);
        w.put_bytes(&self.your_last_per_commitment_secret);
        w.put_pubkey(&self.my_current_per_commitment_point);
        self.extra_tlvs.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            channel_id: ChannelId::read(r)?,
            next_commitment_number: r.read_u64()?,
            next_revocation_number: r.read_u64()?,
            your_last_per_commitment_secret: r.read_array()?,
            my_current_per_commitment_point: r.read_pubkey()?,
            extra_tlvs: TlvStream::read(r)?.into_unknown_odd()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::pk;

    fn msg() -> ChannelReestablish {
        ChannelReestablish {
            channel_id: ChannelId([8; 32]),
            next_commitment_number: 5,
            next_revocation_number: 4,
            your_last_per_commitment_secret: [0; 32],
            my_current_per_commitment_point: pk(2),
            extra_tlvs: TlvStream::new(),
        }
    }

    #[test]
    fn layout_and_round_trip() {
        let bytes = msg().encode().unwrap();
        assert_eq!(bytes.len(), 2 + 32 + 8 + 8 + 32 + 33);
        assert_eq!(&bytes[..2], &136u16.to_be_bytes());
        assert_eq!(&bytes[34..42], &5u64.to_be_bytes());
        assert_eq!(ChannelReestablish::decode(&bytes).unwrap(), msg());
    }

    #[test]
    fn pre_data_loss_protect_form_is_rejected() {
        let bytes = msg().encode().unwrap();
        assert_eq!(
            ChannelReestablish::decode(&bytes[..2 + 32 + 16]),
            Err(DecodeError::ShortRead)
        );
    }

    #[test]
    fn unknown_tlvs_follow_the_odd_even_rule() {
        let mut odd = msg();
        odd.extra_tlvs.insert(3, vec![0xee; 32]);
        let bytes = odd.encode().unwrap();
        assert_eq!(ChannelReestablish::decode(&bytes).unwrap(), odd);
        let mut even = msg().encode().unwrap();
        even.extend([0, 0]);
        assert_eq!(
            ChannelReestablish::decode(&even),
            Err(DecodeError::UnknownEvenTlv(0))
        );
    }
}
