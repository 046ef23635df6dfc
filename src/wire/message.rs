//! The message layer of BOLT 1: a 2-byte type, then the payload.
//!
//! [`Message::decode`] applies the "it's ok to be odd" rule to message types: an unknown odd
//! type decodes to [`Message::Unknown`] for the caller to skip, an unknown even type is an
//! error that must end the connection.

use super::channel_close::{ClosingSigned, Shutdown};
use super::channel_open::{
    AcceptChannel, ChannelReady, FundingCreated, FundingSigned, OpenChannel,
};
use super::channel_update::ChannelUpdate;
use super::codec::{Reader, Writer};
use super::commitment::{CommitmentSigned, RevokeAndAck, UpdateFee};
use super::error::{DecodeError, EncodeError};
use super::gossip::{AnnouncementSignatures, ChannelAnnouncement, NodeAnnouncement};
use super::gossip_queries::{
    GossipTimestampFilter, QueryChannelRange, QueryShortChannelIds, ReplyChannelRange,
    ReplyShortChannelIdsEnd,
};
use super::htlc::{UpdateAddHtlc, UpdateFailHtlc, UpdateFailMalformedHtlc, UpdateFulfillHtlc};
use super::reestablish::ChannelReestablish;
use super::setup::{ErrorMessage, Init, Ping, Pong, Warning};
use super::types::ChannelId;

/// Largest encoded message (type included): the transport's length header is a u16.
pub const MAX_MESSAGE_LEN: usize = 65535;

/// A message with a fixed type and a payload codec.
pub trait WireMessage: Sized {
    const TYPE: u16;

    fn write_payload(&self, w: &mut Writer);

    /// Reads the payload, trailing TLV extension included; consumes the whole input.
    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Type and payload, ready for the transport.
    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut w = Writer::new();
        w.put_u16(Self::TYPE);
        self.write_payload(&mut w);
        finish_message(w)
    }

    /// Decodes a whole message that must be of this type.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let got = r.read_u16()?;
        if got != Self::TYPE {
            return Err(DecodeError::UnexpectedMessageType {
                expected: Self::TYPE,
                got,
            });
        }
        Self::read_payload(&mut r)
    }
}

fn finish_message(w: Writer) -> Result<Vec<u8>, EncodeError> {
    let bytes = w.finish()?;
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(EncodeError::MessageTooLarge(bytes.len()));
    }
    Ok(bytes)
}

/// A message kept as raw bytes: its type and the payload after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    pub msg_type: u16,
    pub payload: Vec<u8>,
}

impl RawMessage {
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut w = Writer::new();
        w.put_u16(self.msg_type);
        w.put_bytes(&self.payload);
        finish_message(w)
    }
}

macro_rules! messages {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// Every message chanhub understands, plus the raw fallback for unknown odd types.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Message {
            $($variant($ty),)*
            /// An unknown odd type: skip it.
            Unknown(RawMessage),
        }

        impl Message {
            /// The types with a decoder here, in declaration order.
            pub const DECODED_TYPES: &'static [u16] = &[$(<$ty as WireMessage>::TYPE),*];

            pub fn msg_type(&self) -> u16 {
                match self {
                    $(Message::$variant(_) => <$ty as WireMessage>::TYPE,)*
                    Message::Unknown(raw) => raw.msg_type,
                }
            }

            /// Decodes a whole message (type included).
            pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
                let mut r = Reader::new(bytes);
                let msg_type = r.read_u16()?;
                $(
                    if msg_type == <$ty as WireMessage>::TYPE {
                        return <$ty as WireMessage>::read_payload(&mut r).map(Message::$variant);
                    }
                )*
                let raw = RawMessage { msg_type, payload: r.read_rest().to_vec() };
                if msg_type % 2 == 1 {
                    Ok(Message::Unknown(raw))
                } else {
                    Err(DecodeError::UnknownEvenMessage(msg_type))
                }
            }

            pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
                match self {
                    $(Message::$variant(m) => m.encode(),)*
                    Message::Unknown(raw) => raw.encode(),
                }
            }
        }

        $(
            impl From<$ty> for Message {
                fn from(m: $ty) -> Self {
                    Message::$variant(m)
                }
            }
        )*
    };
}

messages! {
    Warning(Warning),
    Init(Init),
    Error(ErrorMessage),
    Ping(Ping),
    Pong(Pong),
    OpenChannel(OpenChannel),
    AcceptChannel(AcceptChannel),
    FundingCreated(FundingCreated),
    FundingSigned(FundingSigned),
    ChannelReady(ChannelReady),
    Shutdown(Shutdown),
    ClosingSigned(ClosingSigned),
    UpdateAddHtlc(UpdateAddHtlc),
    UpdateFulfillHtlc(UpdateFulfillHtlc),
    UpdateFailHtlc(UpdateFailHtlc),
    CommitmentSigned(CommitmentSigned),
    RevokeAndAck(RevokeAndAck),
    UpdateFee(UpdateFee),
    UpdateFailMalformedHtlc(UpdateFailMalformedHtlc),
    ChannelReestablish(ChannelReestablish),
    ChannelUpdate(ChannelUpdate),
    ChannelAnnouncement(ChannelAnnouncement),
    NodeAnnouncement(NodeAnnouncement),
    AnnouncementSignatures(AnnouncementSignatures),
    QueryShortChannelIds(QueryShortChannelIds),
    ReplyShortChannelIdsEnd(ReplyShortChannelIdsEnd),
    QueryChannelRange(QueryChannelRange),
    ReplyChannelRange(ReplyChannelRange),
    GossipTimestampFilter(GossipTimestampFilter),
}

impl Message {
    /// The channel a BOLT 2 message is about (the temporary id before funding), for routing it
    /// to its channel; `None` for connection-level messages and for `channel_update`, which
    /// names its channel by `short_channel_id` (real or alias) only. For `error` and `warning`,
    /// [`ChannelId::ALL`] means every channel.
    pub fn channel_id(&self) -> Option<ChannelId> {
        Some(match self {
            Message::Warning(m) => m.0.channel_id,
            Message::Error(m) => m.0.channel_id,
            Message::OpenChannel(m) => m.temporary_channel_id,
            Message::AcceptChannel(m) => m.temporary_channel_id,
            Message::FundingCreated(m) => m.temporary_channel_id,
            Message::FundingSigned(m) => m.channel_id,
            Message::ChannelReady(m) => m.channel_id,
            Message::Shutdown(m) => m.channel_id,
            Message::ClosingSigned(m) => m.channel_id,
            Message::UpdateAddHtlc(m) => m.channel_id,
            Message::UpdateFulfillHtlc(m) => m.channel_id,
            Message::UpdateFailHtlc(m) => m.channel_id,
            Message::CommitmentSigned(m) => m.channel_id,
            Message::RevokeAndAck(m) => m.channel_id,
            Message::UpdateFee(m) => m.channel_id,
            Message::UpdateFailMalformedHtlc(m) => m.channel_id,
            Message::ChannelReestablish(m) => m.channel_id,
            Message::AnnouncementSignatures(m) => m.channel_id,
            Message::Init(_)
            | Message::Ping(_)
            | Message::Pong(_)
            | Message::ChannelUpdate(_)
            | Message::ChannelAnnouncement(_)
            | Message::NodeAnnouncement(_)
            | Message::QueryShortChannelIds(_)
            | Message::ReplyShortChannelIdsEnd(_)
            | Message::QueryChannelRange(_)
            | Message::ReplyChannelRange(_)
            | Message::GossipTimestampFilter(_)
            | Message::Unknown(_) => return None,
        })
    }
}

impl Message {
    /// A BOLT 7 message the gossip layer handles (`announcement_signatures` is not one: it
    /// belongs to a channel).
    pub fn is_gossip(&self) -> bool {
        matches!(
            self,
            Message::ChannelAnnouncement(_)
                | Message::NodeAnnouncement(_)
                | Message::ChannelUpdate(_)
                | Message::QueryShortChannelIds(_)
                | Message::ReplyShortChannelIdsEnd(_)
                | Message::QueryChannelRange(_)
                | Message::ReplyChannelRange(_)
                | Message::GossipTimestampFilter(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::setup::Diagnostic;
    use crate::wire::tlv::TlvStream;

    #[test]
    fn types_are_the_spec_numbers_and_distinct() {
        assert_eq!(
            Message::DECODED_TYPES,
            &[
                1, 16, 17, 18, 19, 32, 33, 34, 35, 36, 38, 39, 128, 130, 131, 132, 133, 134, 135,
                136, 258, 256, 257, 259, 261, 262, 263, 264, 265
            ]
        );
    }

    #[test]
    fn unknown_odd_is_returned_for_skipping() {
        let bytes = [0x80, 0x01, 1, 2, 3];
        let m = Message::decode(&bytes).unwrap();
        assert_eq!(
            m,
            Message::Unknown(RawMessage {
                msg_type: 0x8001,
                payload: vec![1, 2, 3]
            })
        );
        assert_eq!(m.encode().unwrap(), bytes);
    }

    #[test]
    fn unknown_even_is_an_error() {
        for t in [0u16, 2, 64, 260, 0x8000, 0xfffe] {
            let bytes = t.to_be_bytes();
            assert_eq!(
                Message::decode(&bytes),
                Err(DecodeError::UnknownEvenMessage(t))
            );
        }
    }

    #[test]
    fn every_gossip_type_is_decoded_and_malformed_gossip_is_an_error() {
        for t in [256u16, 257, 258, 259, 261, 262, 263, 264, 265] {
            assert!(Message::DECODED_TYPES.contains(&t), "type {t}");
            let mut bytes = t.to_be_bytes().to_vec();
            bytes.push(0xaa);
            assert_eq!(Message::decode(&bytes), Err(DecodeError::ShortRead));
        }
    }

    #[test]
    fn empty_or_one_byte_input_is_a_short_read() {
        assert_eq!(Message::decode(&[]), Err(DecodeError::ShortRead));
        assert_eq!(Message::decode(&[0x10]), Err(DecodeError::ShortRead));
    }

    #[test]
    fn oversize_message_is_refused_at_encode() {
        let warning = Warning(Diagnostic {
            channel_id: ChannelId::ALL,
            data: vec![b'x'; 65535 - 2 - 32 - 2],
            extra_tlvs: TlvStream::new(),
        });
        assert_eq!(warning.encode().unwrap().len(), MAX_MESSAGE_LEN);
        let mut big = warning.clone();
        big.0.data.push(b'x');
        assert_eq!(
            Message::from(big).encode(),
            Err(EncodeError::MessageTooLarge(65536))
        );
    }

    #[test]
    fn typed_decode_checks_the_type() {
        let ping = crate::wire::setup::Ping::new(1, 0).encode().unwrap();
        assert_eq!(
            Pong::decode(&ping),
            Err(DecodeError::UnexpectedMessageType {
                expected: 19,
                got: 18
            })
        );
        let m = Message::decode(&ping).unwrap();
        assert_eq!(m.channel_id(), None);
        assert_eq!(m.msg_type(), 18);
    }
}
