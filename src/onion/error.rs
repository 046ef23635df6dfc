//! Why an onion cannot be built.

use thiserror::Error;

/// The sender's route or payloads cannot be made into a packet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OnionError {
    /// A route needs at least the final hop.
    #[error("the route has no hops")]
    EmptyRoute,
    /// Payload lengths 0 and 1 are reserved by BOLT 4 (0 was the legacy format).
    #[error("hop {index}: a payload must be at least 2 bytes, got {len}")]
    PayloadTooShort { index: usize, len: usize },
    /// The framed payloads (length prefix, payload, HMAC) exceed the 1300-byte field.
    #[error("hop payloads need {needed} bytes, more than the {available} the packet holds")]
    PayloadsTooLarge { needed: usize, available: usize },
    /// Amounts or CLTV values along the route overflow.
    #[error("route amounts or cltv values overflow")]
    RouteOverflow,
    /// Blinding produced an invalid key: negligible for honest keys, possible for crafted ones.
    #[error("ephemeral key blinding produced an invalid key")]
    InvalidBlinding,
}
