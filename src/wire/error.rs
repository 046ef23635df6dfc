//! Typed errors for the wire codecs.

use thiserror::Error;

/// Why a byte string is not a valid encoding.
///
/// Every decoder in [`crate::wire`] reports malformed input through this type; none of them
/// panics on any input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended before a field was complete.
    #[error("unexpected end of input")]
    ShortRead,
    /// A BigSize used more bytes than its value needs.
    #[error("bigsize is not canonical")]
    NonCanonicalBigSize,
    /// A truncated integer (`tu16`/`tu32`/`tu64`) had a leading zero byte or was too long.
    #[error("truncated integer is not minimally encoded")]
    NonMinimalTruncatedInt,
    /// A fixed-size value had bytes left over after it (e.g. a TLV value longer than its type).
    #[error("{0} unexpected trailing bytes")]
    TrailingBytes(usize),
    /// TLV types were not strictly increasing.
    #[error("tlv type {next} follows type {prev}: types must be strictly increasing")]
    TlvOutOfOrder { prev: u64, next: u64 },
    /// The same TLV type appeared twice.
    #[error("duplicate tlv type {0}")]
    DuplicateTlv(u64),
    /// A TLV record declared a length past the end of the stream.
    #[error("tlv type {typ} declares length {len} but only {remaining} bytes remain")]
    TlvLengthOverflow {
        typ: u64,
        len: u64,
        remaining: usize,
    },
    /// An even TLV type the namespace does not define ("it's ok to be odd").
    #[error("unknown even tlv type {0}")]
    UnknownEvenTlv(u64),
    /// An even message type we do not know.
    #[error("unknown even message type {0}")]
    UnknownEvenMessage(u16),
    /// A message of one type was decoded as another.
    #[error("expected message type {expected}, got {got}")]
    UnexpectedMessageType { expected: u16, got: u16 },
    /// A point that is not a valid compressed secp256k1 public key.
    #[error("invalid public key")]
    InvalidPublicKey,
    /// A 64-byte compact ECDSA signature whose r or s is out of range.
    #[error("invalid signature")]
    InvalidSignature,
    /// A field whose value the spec forbids.
    #[error("invalid value for {0}")]
    InvalidValue(&'static str),
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// A variable-length field does not fit its 2-byte length prefix.
    #[error("{field} is {len} bytes, more than a u16 length prefix allows")]
    FieldTooLong { field: &'static str, len: usize },
    /// The whole message (type included) exceeds the transport's 65535-byte limit.
    #[error("message is {0} bytes, more than the 65535-byte limit")]
    MessageTooLarge(usize),
}
