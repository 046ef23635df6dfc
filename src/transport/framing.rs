//! Encrypted messages after the handshake (BOLT 8 "Lightning Message Specification").
//!
//! Each message is `encrypt(len: u16) || encrypt(body)`, i.e. an 18-byte header then the body
//! plus a 16-byte tag. Each direction has its own key and counter; every encryption uses one
//! nonce, and after 1000 nonces the key is rotated through HKDF with that direction's chaining
//! key, so a key never protects more than 500 messages.

use bitcoin::secp256k1::PublicKey;
use bytes::{Buf, BytesMut};

use super::crypto::{decrypt_with_ad, encrypt_with_ad, hkdf2, MAC_LEN};
use super::error::TransportError;

/// Encrypted length prefix: 2 bytes plus tag.
pub const LENGTH_HEADER_LEN: usize = 2 + MAC_LEN;
/// Largest plaintext message.
pub const MAX_MESSAGE_LEN: usize = 65535;
/// Nonces used under one key before it is rotated.
const ROTATE_AFTER: u64 = 1000;

/// One direction's key, nonce counter and chaining key.
#[derive(Clone)]
struct CipherState {
    ck: [u8; 32],
    k: [u8; 32],
    n: u64,
}

impl CipherState {
    fn encrypt(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let out = encrypt_with_ad(&self.k, self.n, &[], plaintext);
        self.advance();
        out
    }

    fn decrypt(&mut self, input: &[u8]) -> Option<Vec<u8>> {
        let out = decrypt_with_ad(&self.k, self.n, &[], input)?;
        self.advance();
        Some(out)
    }

    fn advance(&mut self) {
        self.n += 1;
        if self.n == ROTATE_AFTER {
            let (ck, k) = hkdf2(&self.ck, &self.k);
            self.ck = ck;
            self.k = k;
            self.n = 0;
        }
    }
}

/// The sending half.
#[derive(Clone)]
pub struct Encryptor {
    cipher: CipherState,
}

impl Encryptor {
    /// The bytes to write for one message.
    pub fn encrypt(&mut self, message: &[u8]) -> Result<Vec<u8>, TransportError> {
        let len = u16::try_from(message.len())
            .map_err(|_| TransportError::MessageTooLarge(message.len()))?;
        let mut out = self.cipher.encrypt(&len.to_be_bytes());
        out.extend(self.cipher.encrypt(message));
        Ok(out)
    }
}

/// What the decryptor can do with what it has been given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecryptStep {
    /// At least this many more bytes are needed before the next message can be produced.
    NeedMore(usize),
    /// One complete, authenticated message (type and payload).
    Message(Vec<u8>),
}

/// The receiving half, suited to a streaming reader: [`Decryptor::push`] whatever arrived,
/// then call [`Decryptor::next_message`] until it asks for more.
pub struct Decryptor {
    cipher: CipherState,
    buf: BytesMut,
    /// Body length from a header already decrypted (its nonce is spent).
    pending_len: Option<usize>,
    failed: bool,
}

impl Decryptor {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered and not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next message, or how many more bytes it needs. After an error every later call
    /// fails too: the stream cannot be resynchronised.
    pub fn next_message(&mut self) -> Result<DecryptStep, TransportError> {
        if self.failed {
            return Err(TransportError::Failed);
        }
        let step = self.step();
        if step.is_err() {
            self.failed = true;
        }
        step
    }

    fn step(&mut self) -> Result<DecryptStep, TransportError> {
        let body_len = match self.pending_len {
            Some(len) => len,
            None => {
                let Some(header) = self.buf.get(..LENGTH_HEADER_LEN) else {
                    return Ok(DecryptStep::NeedMore(
                        LENGTH_HEADER_LEN.saturating_sub(self.buf.len()),
                    ));
                };
                let plain = self
                    .cipher
                    .decrypt(header)
                    .ok_or(TransportError::BadLengthTag)?;
                let len_bytes: [u8; 2] = plain
                    .as_slice()
                    .try_into()
                    .map_err(|_| TransportError::BadLengthTag)?;
                self.buf.advance(LENGTH_HEADER_LEN);
                let len = usize::from(u16::from_be_bytes(len_bytes));
                self.pending_len = Some(len);
                len
            }
        };
        let needed = body_len + MAC_LEN;
        let Some(body) = self.buf.get(..needed) else {
            return Ok(DecryptStep::NeedMore(needed.saturating_sub(self.buf.len())));
        };
        let message = self
            .cipher
            .decrypt(body)
            .ok_or(TransportError::BadBodyTag)?;
        self.buf.advance(needed);
        self.pending_len = None;
        Ok(DecryptStep::Message(message))
    }
}

/// An established connection's two halves and the peer's identity.
pub struct Transport {
    pub encryptor: Encryptor,
    pub decryptor: Decryptor,
    /// The peer's node id (its static key).
    pub remote_static: PublicKey,
}

impl Transport {
    /// Both directions start with the handshake's final chaining key.
    pub(crate) fn new(ck: [u8; 32], sk: [u8; 32], rk: [u8; 32], remote_static: PublicKey) -> Self {
        Self {
            encryptor: Encryptor {
                cipher: CipherState { ck, k: sk, n: 0 },
            },
            decryptor: Decryptor {
                cipher: CipherState { ck, k: rk, n: 0 },
                buf: BytesMut::new(),
                pending_len: None,
                failed: false,
            },
            remote_static,
        }
    }

    /// For the read and write tasks of a connection.
    pub fn split(self) -> (Encryptor, Decryptor) {
        (self.encryptor, self.decryptor)
    }
}
