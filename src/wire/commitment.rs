//! Committing to and revoking states (BOLT 2): `commitment_signed`, `revoke_and_ack`,
//! `update_fee`.

use bitcoin::secp256k1::{ecdsa::Signature, PublicKey};

use super::codec::{Reader, Writer};
use super::error::DecodeError;
use super::message::WireMessage;
use super::tlv::TlvStream;
use super::types::ChannelId;

/// `commitment_signed` (type 132).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentSigned {
    pub channel_id: ChannelId,
    pub signature: Signature,
    /// One per HTLC output of the new commitment, in output order.
    pub htlc_signatures: Vec<Signature>,
    pub extra_tlvs: TlvStream,
}

impl WireMessage for CommitmentSigned {
    const TYPE: u16 = 132;

    fn write_payload(&self, w: &mut Writer) {
        self.channel_id.write(w);
        w.put_signature(&self.signature);
        w.put_u16_count("htlc_signatures", self.htlc_signatures.len());
        for sig in &self.htlc_signatures {
            w.put_signature(sig);
        }
        self.extra_tlvs.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let channel_id = ChannelId::read(r)?;
        let signature = r.read_signature()?;
        let num_htlcs = usize::from(r.read_u16()?);
        // Check the count against the input before allocating, so a bogus count cannot make us
        // reserve memory the message does not back.
        if num_htlcs.saturating_mul(64) > r.remaining() {
            return Err(DecodeError::ShortRead);
        }
        let mut htlc_signatures = Vec::with_capacity(num_htlcs);
        for _ in 0..num_htlcs {
            htlc_signatures.push(r.read_signature()?);
        }
        Ok(Self {
            channel_id,
            signature,
            htlc_signatures,
            extra_tlvs: TlvStream::read(r)?.into_unknown_odd()?,
        })
    }
}

/// `revoke_and_ack` (type 133).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeAndAck {
    pub channel_id: ChannelId,
    /// The secret of the commitment being revoked; checked by the channel layer.
    pub per_commitment_secret: [u8; 32],
    pub next_per_commitment_point: PublicKey,
    pub extra_tlvs: TlvStream,
}

impl WireMessage for RevokeAndAck {
    const TYPE: u16 = 133;

    fn write_payload(&self, w: &mut Writer) {
        self.channel_id.write(w);
        w.put_bytes(&self.per_commitment_secret);
        w.put_pubkey(&self.next_per_commitment_point);
        self.extra_tlvs.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            channel_id: ChannelId::read(r)?,
            per_commitment_secret: r.read_array()?,
            next_per_commitment_point: r.read_pubkey()?,
            extra_tlvs: TlvStream::read(r)?.into_unknown_odd()?,
        })
    }
}

/// `update_fee` (type 134).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateFee {
    pub channel_id: ChannelId,
    pub feerate_per_kw: u32,
    pub extra_tlvs: TlvStream,
}

impl WireMessage for UpdateFee {
    const TYPE: u16 = 134;

    fn write_payload(&self, w: &mut Writer) {
        self.channel_id.write(w);
        w.put_u32(self.feerate_per_kw);
        self.extra_tlvs.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            channel_id: ChannelId::read(r)?,
            feerate_per_kw: r.read_u32()?,
            extra_tlvs: TlvStream::read(r)?.into_unknown_odd()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::{pk, sig};

    #[test]
    fn commitment_signed_counts_htlc_signatures() {
        let msg = CommitmentSigned {
            channel_id: ChannelId([1; 32]),
            signature: sig(1),
            htlc_signatures: vec![sig(2), sig(3), sig(4)],
            extra_tlvs: TlvStream::new(),
        };
        let bytes = msg.encode().unwrap();
        assert_eq!(bytes.len(), 2 + 32 + 64 + 2 + 3 * 64);
        assert_eq!(&bytes[98..100], &[0, 3]);
        assert_eq!(CommitmentSigned::decode(&bytes).unwrap(), msg);
    }

    #[test]
    fn commitment_signed_with_inflated_count_is_a_short_read() {
        let msg = CommitmentSigned {
            channel_id: ChannelId([1; 32]),
            signature: sig(1),
            htlc_signatures: vec![sig(2)],
            extra_tlvs: TlvStream::new(),
        };
        let mut bytes = msg.encode().unwrap();
        bytes[98..100].copy_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(
            CommitmentSigned::decode(&bytes),
            Err(DecodeError::ShortRead)
        );
    }

    #[test]
    fn revoke_and_update_fee_round_trip() {
        let raa = RevokeAndAck {
            channel_id: ChannelId([1; 32]),
            per_commitment_secret: [0x11; 32],
            next_per_commitment_point: pk(4),
            extra_tlvs: TlvStream::new(),
        };
        let bytes = raa.encode().unwrap();
        assert_eq!(bytes.len(), 2 + 32 + 32 + 33);
        assert_eq!(RevokeAndAck::decode(&bytes).unwrap(), raa);
        let fee = UpdateFee {
            channel_id: ChannelId([1; 32]),
            feerate_per_kw: 2500,
            extra_tlvs: TlvStream::new(),
        };
        let bytes = fee.encode().unwrap();
        assert_eq!(&bytes[34..], &2500u32.to_be_bytes());
        assert_eq!(UpdateFee::decode(&bytes).unwrap(), fee);
    }
}
