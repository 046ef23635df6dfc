//! Typed errors of the BOLT 8 transport. Any of them means the connection must be closed.

use thiserror::Error;

/// Why a handshake act was refused. `act` is 1, 2 or 3.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HandshakeError {
    #[error("act {act}: expected {expected} bytes, got {got}")]
    WrongLength {
        act: u8,
        expected: usize,
        got: usize,
    },
    #[error("act {act}: unsupported handshake version {version}")]
    BadVersion { act: u8, version: u8 },
    #[error("act {act}: invalid public key")]
    BadPublicKey { act: u8 },
    /// Act three's encrypted static key failed authentication.
    #[error("act 3: encrypted static key failed authentication")]
    BadCiphertext,
    #[error("act {act}: authentication tag mismatch")]
    BadTag { act: u8 },
}

/// Why an encrypted message could not be produced or read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    #[error("message of {0} bytes exceeds the 65535-byte limit")]
    MessageTooLarge(usize),
    #[error("length header failed authentication")]
    BadLengthTag,
    #[error("message body failed authentication")]
    BadBodyTag,
    /// A previous call failed; the stream is desynchronised and must not be read further.
    #[error("decryptor failed earlier; close the connection")]
    Failed,
}
