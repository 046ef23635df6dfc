//! TLV streams (BOLT 1): `type` and `length` as BigSize, then `length` bytes of value.
//!
//! [`TlvStream`] checks only what holds for every namespace: canonical BigSizes, lengths within
//! the input, strictly increasing types. What a type *means*, and whether an unknown type is
//! acceptable, belongs to the namespace: a message decoder [`TlvStream::take`]s the types it
//! knows and then calls [`TlvStream::into_unknown_odd`], which rejects any even type left
//! ("it's ok to be odd") and returns the odd ones so they can be kept and re-sent verbatim.

use super::bigsize;
use super::codec::{Reader, Writer};
use super::error::DecodeError;

/// One record: a type and its raw value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlvRecord {
    pub typ: u64,
    pub value: Vec<u8>,
}

/// A well-formed TLV stream: records sorted by strictly increasing type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlvStream {
    records: Vec<TlvRecord>,
}

impl TlvStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes `bytes` as one whole stream.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::read(&mut Reader::new(bytes))
    }

    /// Reads a stream that runs to the end of `r` (TLV streams are always last in a message).
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut records: Vec<TlvRecord> = Vec::new();
        while !r.is_empty() {
            let typ = bigsize::read(r)?;
            if let Some(prev) = records.last() {
                if typ == prev.typ {
                    return Err(DecodeError::DuplicateTlv(typ));
                }
                if typ < prev.typ {
                    return Err(DecodeError::TlvOutOfOrder {
                        prev: prev.typ,
                        next: typ,
                    });
                }
            }
            let len = bigsize::read(r)?;
            let remaining = r.remaining();
            let len_usize = usize::try_from(len)
                .ok()
                .filter(|l| *l <= remaining)
                .ok_or(DecodeError::TlvLengthOverflow {
                    typ,
                    len,
                    remaining,
                })?;
            let value = r.read_bytes(len_usize)?.to_vec();
            records.push(TlvRecord { typ, value });
        }
        Ok(Self { records })
    }

    pub fn write(&self, w: &mut Writer) {
        for rec in &self.records {
            bigsize::write(w, rec.typ);
            bigsize::write(w, rec.value.len() as u64);
            w.put_bytes(&rec.value);
        }
    }

    pub fn records(&self) -> &[TlvRecord] {
        &self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn get(&self, typ: u64) -> Option<&[u8]> {
        self.position(typ)
            .ok()
            .and_then(|i| self.records.get(i))
            .map(|r| r.value.as_slice())
    }

    /// Sets the value of `typ`, keeping the stream sorted; replaces an existing record.
    pub fn insert(&mut self, typ: u64, value: Vec<u8>) {
        match self.position(typ) {
            Ok(i) => {
                if let Some(rec) = self.records.get_mut(i) {
                    rec.value = value;
                }
            }
            Err(i) => self.records.insert(i, TlvRecord { typ, value }),
        }
    }

    /// Removes `typ` and returns its value.
    pub fn take(&mut self, typ: u64) -> Option<Vec<u8>> {
        let i = self.position(typ).ok()?;
        Some(self.records.remove(i).value)
    }

    /// Removes `typ` and decodes its value with `f`, which must consume it exactly.
    pub fn take_with<T>(
        &mut self,
        typ: u64,
        f: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        self.take(typ)
            .map(|value| decode_value(&value, f))
            .transpose()
    }

    /// What is left once the namespace took its known types: fails on any even type, returns
    /// the (unknown, odd) records otherwise.
    pub fn into_unknown_odd(self) -> Result<TlvStream, DecodeError> {
        match self.records.iter().find(|r| r.typ % 2 == 0) {
            Some(even) => Err(DecodeError::UnknownEvenTlv(even.typ)),
            None => Ok(self),
        }
    }

    /// This stream with `known` records merged in, for encoding a message's extension.
    pub fn with_records(&self, known: impl IntoIterator<Item = (u64, Vec<u8>)>) -> TlvStream {
        let mut merged = self.clone();
        for (typ, value) in known {
            merged.insert(typ, value);
        }
        merged
    }

    fn position(&self, typ: u64) -> Result<usize, usize> {
        self.records.binary_search_by_key(&typ, |r| r.typ)
    }
}

impl FromIterator<TlvRecord> for TlvStream {
    /// Builds a sorted stream; a later record with the same type replaces an earlier one.
    fn from_iter<I: IntoIterator<Item = TlvRecord>>(iter: I) -> Self {
        let mut s = TlvStream::new();
        for rec in iter {
            s.insert(rec.typ, rec.value);
        }
        s
    }
}

/// Decodes a record value with `f`, requiring every byte to be used: a value longer than its
/// type is as malformed as a shorter one.
pub fn decode_value<T>(
    value: &[u8],
    f: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let mut r = Reader::new(value);
    let v = f(&mut r)?;
    r.finish()?;
    Ok(v)
}

/// Encodes a record value with `f`; a length overflow inside it is reported through `parent`,
/// the writer of the enclosing message.
pub fn encode_value(parent: &mut Writer, f: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new();
    f(&mut w);
    match w.finish() {
        Ok(bytes) => bytes,
        Err(err) => {
            parent.fail(err);
            Vec::new()
        }
    }
}

#[cfg(test)]
#[path = "tlv_vectors.rs"]
mod vectors;
