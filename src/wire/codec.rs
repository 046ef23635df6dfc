//! Bounds-checked reading and length-checked writing of BOLT fundamental types.
//!
//! [`Reader`] never indexes past its input: every read either returns the bytes or
//! [`DecodeError::ShortRead`]. [`Writer`] records the first field that overflows its length
//! prefix instead of truncating it silently; [`Writer::finish`] reports it.

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{ecdsa::Signature, PublicKey};
use bitcoin::{ScriptBuf, Txid};

use super::error::{DecodeError, EncodeError};

/// A cursor over an input slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::ShortRead);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Everything left, consuming it.
    pub fn read_rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.read_bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub fn read_u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.read_array()?))
    }

    pub fn read_u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.read_array()?))
    }

    pub fn read_u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.read_array()?))
    }

    pub fn read_u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.read_array()?))
    }

    /// A `u16` length followed by that many bytes.
    pub fn read_u16_prefixed(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.read_u16()?;
        self.read_bytes(usize::from(len))
    }

    /// A truncated `tu64` that fills the rest of the input (its length comes from the
    /// enclosing TLV record). Leading zero bytes are rejected so each value has one encoding.
    pub fn read_tu64(&mut self) -> Result<u64, DecodeError> {
        let bytes = self.read_rest();
        if bytes.len() > 8 || bytes.first() == Some(&0) {
            return Err(DecodeError::NonMinimalTruncatedInt);
        }
        Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// A truncated `tu32`, like [`Reader::read_tu64`] but at most 4 bytes.
    pub fn read_tu32(&mut self) -> Result<u32, DecodeError> {
        if self.remaining() > 4 {
            return Err(DecodeError::NonMinimalTruncatedInt);
        }
        let v = self.read_tu64()?;
        u32::try_from(v).map_err(|_| DecodeError::NonMinimalTruncatedInt)
    }

    pub fn read_pubkey(&mut self) -> Result<PublicKey, DecodeError> {
        let bytes: [u8; 33] = self.read_array()?;
        PublicKey::from_slice(&bytes).map_err(|_| DecodeError::InvalidPublicKey)
    }

    /// A 64-byte compact ECDSA signature (r and s, big-endian), as every BOLT uses.
    pub fn read_signature(&mut self) -> Result<Signature, DecodeError> {
        let bytes: [u8; 64] = self.read_array()?;
        Signature::from_compact(&bytes).map_err(|_| DecodeError::InvalidSignature)
    }

    /// A txid in its internal byte order, as it appears in a serialized transaction.
    pub fn read_txid(&mut self) -> Result<Txid, DecodeError> {
        Ok(Txid::from_byte_array(self.read_array()?))
    }

    /// Succeeds only if the whole input was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// An output buffer that remembers the first length overflow.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
    overflow: Option<EncodeError>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn put_bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn put_u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn put_u16(&mut self, v: u16) {
        self.put_bytes(&v.to_be_bytes());
    }

    pub fn put_u32(&mut self, v: u32) {
        self.put_bytes(&v.to_be_bytes());
    }

    pub fn put_u64(&mut self, v: u64) {
        self.put_bytes(&v.to_be_bytes());
    }

    /// A `u16` length then the bytes. A field too long for the prefix is recorded as an error
    /// (and written with an empty body) rather than truncated.
    pub fn put_u16_prefixed(&mut self, field: &'static str, bytes: &[u8]) {
        match u16::try_from(bytes.len()) {
            Ok(len) => {
                self.put_u16(len);
                self.put_bytes(bytes);
            }
            Err(_) => {
                self.fail(EncodeError::FieldTooLong {
                    field,
                    len: bytes.len(),
                });
                self.put_u16(0);
            }
        }
    }

    /// A `u16` count then the items, for arrays such as `htlc_signatures`.
    pub fn put_u16_count(&mut self, field: &'static str, count: usize) {
        match u16::try_from(count) {
            Ok(n) => self.put_u16(n),
            Err(_) => {
                self.fail(EncodeError::FieldTooLong { field, len: count });
                self.put_u16(0);
            }
        }
    }

    /// The minimal big-endian encoding of `v` (no leading zero bytes; zero is empty).
    pub fn put_tu64(&mut self, v: u64) {
        let bytes = v.to_be_bytes();
        let skip = (v.leading_zeros() / 8) as usize;
        self.put_bytes(bytes.get(skip..).unwrap_or(&[]));
    }

    pub fn put_tu32(&mut self, v: u32) {
        self.put_tu64(u64::from(v));
    }

    pub fn put_pubkey(&mut self, pk: &PublicKey) {
        self.put_bytes(&pk.serialize());
    }

    pub fn put_signature(&mut self, sig: &Signature) {
        self.put_bytes(&sig.serialize_compact());
    }

    pub fn put_txid(&mut self, txid: &Txid) {
        self.put_bytes(txid.as_byte_array());
    }

    pub fn put_script_u16(&mut self, field: &'static str, script: &ScriptBuf) {
        self.put_u16_prefixed(field, script.as_bytes());
    }

    pub(crate) fn fail(&mut self, err: EncodeError) {
        if self.overflow.is_none() {
            self.overflow = Some(err);
        }
    }

    /// The bytes, or the first overflow recorded while writing.
    pub fn finish(self) -> Result<Vec<u8>, EncodeError> {
        match self.overflow {
            Some(err) => Err(err),
            None => Ok(self.buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_never_reads_past_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.read_u16(), Ok(0x0102));
        assert_eq!(r.read_u16(), Err(DecodeError::ShortRead));
        // A failed read consumes nothing.
        assert_eq!(r.read_u8(), Ok(3));
        assert!(r.is_empty());
        assert_eq!(r.read_bytes(usize::MAX), Err(DecodeError::ShortRead));
    }

    #[test]
    fn truncated_ints_round_trip_minimally() {
        for v in [0u64, 1, 0xff, 0x100, 0xffff_ffff, 1 << 40, u64::MAX] {
            let mut w = Writer::new();
            w.put_tu64(v);
            let bytes = w.finish().unwrap();
            assert_eq!(bytes.len(), 8 - (v.leading_zeros() / 8) as usize);
            assert_eq!(Reader::new(&bytes).read_tu64(), Ok(v));
        }
        assert_eq!(
            Reader::new(&[0, 1]).read_tu64(),
            Err(DecodeError::NonMinimalTruncatedInt)
        );
        assert_eq!(
            Reader::new(&[1, 0, 0, 0, 0]).read_tu32(),
            Err(DecodeError::NonMinimalTruncatedInt)
        );
        assert_eq!(Reader::new(&[1, 0, 0, 0]).read_tu32(), Ok(1 << 24));
    }

    #[test]
    fn overlong_prefixed_field_is_an_error_not_a_truncation() {
        let mut w = Writer::new();
        w.put_u16_prefixed("data", &vec![0u8; 70_000]);
        assert_eq!(
            w.finish(),
            Err(EncodeError::FieldTooLong {
                field: "data",
                len: 70_000
            })
        );
    }
}
