//! BOLT 8 transport: the Noise_XK handshake and encrypted message framing.
//!
//! Pure state machines with no I/O. A connection runs [`InitiatorHandshake`] or
//! [`ResponderHandshake`] by exchanging fixed-size acts ([`ACT_ONE_LEN`], [`ACT_TWO_LEN`],
//! [`ACT_THREE_LEN`] bytes), then gets a [`Transport`] whose [`Encryptor`] turns messages into
//! bytes and whose [`Decryptor`] turns a byte stream back into messages.

mod crypto;
pub mod error;
pub mod framing;
pub mod handshake;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod vectors;

pub use error::{HandshakeError, TransportError};
pub use framing::{
    DecryptStep, Decryptor, Encryptor, Transport, LENGTH_HEADER_LEN, MAX_MESSAGE_LEN,
};
pub use handshake::{
    InitiatorHandshake, ResponderActThree, ResponderHandshake, ACT_ONE_LEN, ACT_THREE_LEN,
    ACT_TWO_LEN,
};
