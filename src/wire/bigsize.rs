//! BigSize: the variable-length integer of TLV types and lengths (BOLT 1).
//!
//! Bitcoin's CompactSize layout with big-endian payloads. Only the shortest encoding of a value
//! is accepted, so every value has exactly one byte representation.

use super::codec::{Reader, Writer};
use super::error::DecodeError;

/// Reads one BigSize, rejecting non-minimal encodings.
pub fn read(r: &mut Reader<'_>) -> Result<u64, DecodeError> {
    let (value, min) = match r.read_u8()? {
        0xff => (r.read_u64()?, 0x1_0000_0000),
        0xfe => (u64::from(r.read_u32()?), 0x1_0000),
        0xfd => (u64::from(r.read_u16()?), 0xfd),
        small => return Ok(u64::from(small)),
    };
    if value < min {
        return Err(DecodeError::NonCanonicalBigSize);
    }
    Ok(value)
}

/// Writes the minimal BigSize encoding of `v`.
pub fn write(w: &mut Writer, v: u64) {
    if v < 0xfd {
        w.put_u8(v as u8);
    } else if let Ok(v16) = u16::try_from(v) {
        w.put_u8(0xfd);
        w.put_u16(v16);
    } else if let Ok(v32) = u32::try_from(v) {
        w.put_u8(0xfe);
        w.put_u32(v32);
    } else {
        w.put_u8(0xff);
        w.put_u64(v);
    }
}

/// How many bytes [`write()`] uses for `v`.
pub fn encoded_len(v: u64) -> usize {
    match v {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(hex_str: &str) -> Result<u64, DecodeError> {
        let bytes = hex::decode(hex_str).unwrap();
        let mut r = Reader::new(&bytes);
        let v = read(&mut r)?;
        assert!(r.is_empty(), "vector must be consumed whole");
        Ok(v)
    }

    fn encode(v: u64) -> String {
        let mut w = Writer::new();
        write(&mut w, v);
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len(), encoded_len(v));
        hex::encode(bytes)
    }

    // BOLT 1 appendix A: the values that decode and encode.
    const GOOD: &[(u64, &str)] = &[
        (0, "00"),
        (252, "fc"),
        (253, "fd00fd"),
        (65535, "fdffff"),
        (65536, "fe00010000"),
        (4294967295, "feffffffff"),
        (4294967296, "ff0000000100000000"),
        (18446744073709551615, "ffffffffffffffffff"),
    ];

    #[test]
    fn decoding_vectors() {
        for (value, bytes) in GOOD {
            assert_eq!(decode(bytes), Ok(*value), "{bytes}");
        }
    }

    #[test]
    fn encoding_vectors() {
        for (value, bytes) in GOOD {
            assert_eq!(encode(*value), *bytes, "{value}");
        }
    }

    #[test]
    fn non_canonical_vectors_fail() {
        for bytes in ["fd00fc", "fe0000ffff", "ff00000000ffffffff"] {
            assert_eq!(
                decode(bytes),
                Err(DecodeError::NonCanonicalBigSize),
                "{bytes}"
            );
        }
    }

    #[test]
    fn short_read_vectors_fail() {
        // "EOF" (nothing at all) and "unexpected EOF" (a started encoding) are both a short read.
        for bytes in ["fd00", "feffff", "ffffffffff", "", "fd", "fe", "ff"] {
            assert_eq!(decode(bytes), Err(DecodeError::ShortRead), "{bytes:?}");
        }
    }
}
