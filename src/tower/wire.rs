//! The tower's two messages, framed as BOLT 1 messages (2-byte type, payload, TLV extension)
//! over the BOLT 8 transport, after the usual `init` exchange. Both types are odd: a Lightning
//! node that is not a tower ignores them instead of closing the connection.
//!
//! ```text
//! client --tower_upload {hint, blob}-------------> tower     (601)
//! client <-tower_ack {hint, code, remaining?, message?}-- tower   (603), one per upload, in order
//! ```

use crate::wire::{DecodeError, Message, Reader, TlvStream, WireMessage, Writer};

use super::blob::{Hint, MAX_BLOB_LEN};

/// `tower_upload`: one revoked state's blob, keyed by its hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TowerUpload {
    pub hint: Hint,
    /// At most [`MAX_BLOB_LEN`] bytes (the decoder refuses more).
    pub blob: Vec<u8>,
    /// Unknown odd records, kept so the message re-encodes unchanged.
    pub extra_tlvs: TlvStream,
}

impl TowerUpload {
    pub fn new(hint: Hint, blob: Vec<u8>) -> Self {
        TowerUpload {
            hint,
            blob,
            extra_tlvs: TlvStream::new(),
        }
    }
}

impl WireMessage for TowerUpload {
    const TYPE: u16 = 601;

    fn write_payload(&self, w: &mut Writer) {
        w.put_bytes(&self.hint.0);
        w.put_u16_prefixed("blob", &self.blob);
        self.extra_tlvs.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let hint = Hint(r.read_array()?);
        let blob = r.read_u16_prefixed()?;
        if blob.len() > MAX_BLOB_LEN {
            return Err(DecodeError::InvalidValue(
                "blob longer than a tower accepts",
            ));
        }
        let blob = blob.to_vec();
        let extra_tlvs = TlvStream::read(r)?.into_unknown_odd()?;
        Ok(TowerUpload {
            hint,
            blob,
            extra_tlvs,
        })
    }
}

/// What the tower did with one upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// Stored (or replaced the client's earlier blob for the same hint).
    Stored,
    /// The client holds its maximum of blobs, or the tower its maximum of clients: nothing
    /// was stored. Retrying later helps only if the tower's operator raises the limit.
    QuotaExceeded,
    /// The blob is not one the tower can keep (empty, unknown version, too short).
    Invalid,
    /// The tower could not store it now (its database failed); retry later.
    Unavailable,
    /// A code this version does not know: treated as a refusal.
    Other(u16),
}

impl AckCode {
    pub fn to_u16(self) -> u16 {
        match self {
            AckCode::Stored => 0,
            AckCode::QuotaExceeded => 1,
            AckCode::Invalid => 2,
            AckCode::Unavailable => 3,
            AckCode::Other(c) => c,
        }
    }

    pub fn from_u16(c: u16) -> Self {
        match c {
            0 => AckCode::Stored,
            1 => AckCode::QuotaExceeded,
            2 => AckCode::Invalid,
            3 => AckCode::Unavailable,
            c => AckCode::Other(c),
        }
    }
}

/// `tower_ack`: the answer to one `tower_upload`, sent in the order the uploads arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TowerAck {
    pub hint: Hint,
    pub code: AckCode,
    /// How many more blobs this client may store (TLV 1).
    pub remaining: Option<u64>,
    /// Why, for people (TLV 3, UTF-8).
    pub message: Option<String>,
    pub extra_tlvs: TlvStream,
}

impl TowerAck {
    const TLV_REMAINING: u64 = 1;
    const TLV_MESSAGE: u64 = 3;
}

impl WireMessage for TowerAck {
    const TYPE: u16 = 603;

    fn write_payload(&self, w: &mut Writer) {
        w.put_bytes(&self.hint.0);
        w.put_u16(self.code.to_u16());
        let mut known = Vec::new();
        if let Some(n) = self.remaining {
            let mut v = Writer::new();
            v.put_tu64(n);
            known.push((Self::TLV_REMAINING, v.finish().unwrap_or_default()));
        }
        if let Some(m) = &self.message {
            known.push((Self::TLV_MESSAGE, m.as_bytes().to_vec()));
        }
        self.extra_tlvs.with_records(known).write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let hint = Hint(r.read_array()?);
        let code = AckCode::from_u16(r.read_u16()?);
        let mut tlvs = TlvStream::read(r)?;
        let remaining = tlvs.take_with(Self::TLV_REMAINING, |v| v.read_tu64())?;
        let message = tlvs
            .take(Self::TLV_MESSAGE)
            .map(|m| String::from_utf8(m).map_err(|_| DecodeError::InvalidValue("message")))
            .transpose()?;
        Ok(TowerAck {
            hint,
            code,
            remaining,
            message,
            extra_tlvs: tlvs.into_unknown_odd()?,
        })
    }
}

/// Any message on a tower connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TowerMessage {
    Upload(TowerUpload),
    Ack(TowerAck),
    /// A BOLT 1 message (`ping`, `warning`, an unknown odd type to skip, ...), boxed: the
    /// channel messages make the enum large and towers see few of them.
    Other(Box<Message>),
}

impl TowerMessage {
    /// Decodes a whole message. An unknown even type is an error, as BOLT 1 wants.
    pub fn decode(bytes: &[u8]) -> Result<TowerMessage, DecodeError> {
        let mut r = Reader::new(bytes);
        match r.read_u16()? {
            TowerUpload::TYPE => TowerUpload::decode(bytes).map(TowerMessage::Upload),
            TowerAck::TYPE => TowerAck::decode(bytes).map(TowerMessage::Ack),
            _ => Message::decode(bytes).map(|m| TowerMessage::Other(Box::new(m))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ack(code: AckCode) -> TowerAck {
        TowerAck {
            hint: Hint([7; 16]),
            code,
            remaining: Some(99_999),
            message: Some("ok".into()),
            extra_tlvs: TlvStream::new(),
        }
    }

    #[test]
    fn messages_have_the_documented_layout() {
        let up = TowerUpload::new(Hint([1; 16]), vec![0xaa, 0xbb]);
        let bytes = up.encode().unwrap();
        let mut want = vec![0x02, 0x59];
        want.extend([1; 16]);
        want.extend([0, 2, 0xaa, 0xbb]);
        assert_eq!(bytes, want);
        let bytes = ack(AckCode::QuotaExceeded).encode().unwrap();
        let mut want = vec![0x02, 0x5b];
        want.extend([7; 16]);
        want.extend([0, 1]);
        want.extend([1, 3, 0x01, 0x86, 0x9f]); // remaining = 99,999 as tu64
        want.extend([3, 2, b'o', b'k']);
        assert_eq!(bytes, want);
    }

    #[test]
    fn an_oversized_blob_is_refused_by_the_decoder() {
        let up = TowerUpload::new(Hint([1; 16]), vec![0; MAX_BLOB_LEN + 1]);
        let bytes = up.encode().unwrap();
        assert!(matches!(
            TowerMessage::decode(&bytes),
            Err(DecodeError::InvalidValue(_))
        ));
    }

    #[test]
    fn other_messages_follow_bolt1() {
        let ping = crate::wire::Ping::new(4, 0).encode().unwrap();
        assert!(matches!(
            TowerMessage::decode(&ping),
            Ok(TowerMessage::Other(m)) if matches!(*m, Message::Ping(_))
        ));
        assert!(matches!(
            TowerMessage::decode(&[0x02, 0x5d]),
            Ok(TowerMessage::Other(m)) if matches!(*m, Message::Unknown(_))
        ));
        assert_eq!(
            TowerMessage::decode(&[0x02, 0x5c]),
            Err(DecodeError::UnknownEvenMessage(604))
        );
        // An even TLV nobody defined in an upload is refused, an odd one kept.
        let mut bytes = TowerUpload::new(Hint([1; 16]), vec![]).encode().unwrap();
        bytes.extend([2, 0]);
        assert_eq!(
            TowerMessage::decode(&bytes),
            Err(DecodeError::UnknownEvenTlv(2))
        );
    }

    fn code() -> impl Strategy<Value = AckCode> {
        any::<u16>().prop_map(AckCode::from_u16)
    }

    proptest! {
        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = TowerMessage::decode(&bytes);
        }

        #[test]
        fn decoding_garbage_after_a_tower_type_never_panics(
            t in prop_oneof![Just(601u16), Just(603u16)],
            body in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let mut bytes = t.to_be_bytes().to_vec();
            bytes.extend(body);
            if let Ok(m) = TowerMessage::decode(&bytes) {
                // Whatever decodes re-encodes to the same bytes.
                let again = match m {
                    TowerMessage::Upload(u) => u.encode().unwrap(),
                    TowerMessage::Ack(a) => a.encode().unwrap(),
                    TowerMessage::Other(_) => unreachable!("a tower type"),
                };
                prop_assert_eq!(again, bytes);
            }
        }

        #[test]
        fn uploads_round_trip(
            hint in any::<[u8; 16]>(),
            blob in proptest::collection::vec(any::<u8>(), 0..2000),
        ) {
            let up = TowerUpload::new(Hint(hint), blob);
            let bytes = up.encode().unwrap();
            prop_assert_eq!(TowerMessage::decode(&bytes), Ok(TowerMessage::Upload(up)));
        }

        #[test]
        fn acks_round_trip(
            hint in any::<[u8; 16]>(),
            code in code(),
            remaining in proptest::option::of(any::<u64>()),
            message in proptest::option::of(".{0,40}"),
        ) {
            let a = TowerAck { hint: Hint(hint), code, remaining, message, extra_tlvs: TlvStream::new() };
            let bytes = a.encode().unwrap();
            prop_assert_eq!(TowerMessage::decode(&bytes), Ok(TowerMessage::Ack(a)));
        }
    }
}
