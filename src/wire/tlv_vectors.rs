//! BOLT 1 appendix B: TLV stream vectors, decoded through two test namespaces (`n1`, `n2`)
//! built on the same [`TlvStream`] API the message decoders use.

use super::*;
use bitcoin::secp256k1::PublicKey;

fn bytes(s: &str) -> Vec<u8> {
    let clean: String = s.trim_start_matches("0x").split_whitespace().collect();
    hex::decode(clean).unwrap()
}

#[derive(Debug, Default, PartialEq)]
struct N1 {
    tlv1: Option<u64>,
    tlv2: Option<u64>,
    tlv3: Option<(PublicKey, u64, u64)>,
    tlv4: Option<u16>,
}

fn decode_n1(input: &[u8]) -> Result<N1, DecodeError> {
    let mut s = TlvStream::decode(input)?;
    let n1 = N1 {
        tlv1: s.take_with(1, |r| r.read_tu64())?,
        tlv2: s.take_with(2, |r| r.read_u64())?,
        tlv3: s.take_with(3, |r| Ok((r.read_pubkey()?, r.read_u64()?, r.read_u64()?)))?,
        tlv4: s.take_with(254, |r| r.read_u16())?,
    };
    s.into_unknown_odd()?;
    Ok(n1)
}

#[derive(Debug, Default, PartialEq)]
struct N2 {
    tlv1: Option<u64>,
    tlv2: Option<u32>,
}

fn decode_n2(input: &[u8]) -> Result<N2, DecodeError> {
    let mut s = TlvStream::decode(input)?;
    let n2 = N2 {
        tlv1: s.take_with(0, |r| r.read_tu64())?,
        tlv2: s.take_with(11, |r| r.read_tu32())?,
    };
    s.into_unknown_odd()?;
    Ok(n2)
}

fn fails_everywhere(stream: &str) -> (DecodeError, DecodeError) {
    let b = bytes(stream);
    let e1 = decode_n1(&b).expect_err(stream);
    let e2 = decode_n2(&b).expect_err(stream);
    (e1, e2)
}

const VALUE_TRUNCATED: &str = "0x0f fd0201 000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

#[test]
fn malformed_streams_fail_in_any_namespace() {
    let short = [
        "0xfd",
        "0xfd01",
        "0xfd0101",
        "0x0f fd",
        "0x0f fd26",
        "0x0f fd2602",
    ];
    for s in short {
        let (e1, e2) = fails_everywhere(s);
        assert!(
            matches!(
                e1,
                DecodeError::ShortRead | DecodeError::TlvLengthOverflow { .. }
            ),
            "{s}: {e1:?}"
        );
        assert_eq!(e1, e2);
    }
    for s in ["0xfd0001 00", "0x0f fd0001 00"] {
        assert_eq!(
            fails_everywhere(s).0,
            DecodeError::NonCanonicalBigSize,
            "{s}"
        );
    }
    let (e1, _) = fails_everywhere(VALUE_TRUNCATED);
    assert_eq!(
        e1,
        DecodeError::TlvLengthOverflow {
            typ: 0x0f,
            len: 0x0201,
            remaining: 258
        }
    );
}

#[test]
fn unknown_even_types_fail_in_any_namespace() {
    for (s, typ) in [
        ("0x12 00", 0x12),
        ("0xfd0102 00", 0x0102),
        ("0xfe01000002 00", 0x0100_0002),
        ("0xff0100000000000002 00", 0x0100_0000_0000_0002),
    ] {
        let (e1, e2) = fails_everywhere(s);
        assert_eq!(e1, DecodeError::UnknownEvenTlv(typ));
        assert_eq!(e2, DecodeError::UnknownEvenTlv(typ));
    }
}

const N1_INVALID: &[&str] = &[
    "0x01 09 ffffffffffffffffff",
    "0x01 01 00",
    "0x01 02 0001",
    "0x01 03 000100",
    "0x01 04 00010000",
    "0x01 05 0001000000",
    "0x01 06 000100000000",
    "0x01 07 00010000000000",
    "0x01 08 0001000000000000",
    "0x02 07 01010101010101",
    "0x02 09 010101010101010101",
    "0x03 21 023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb",
    "0x03 29 023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb0000000000000001",
    "0x03 30 023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb000000000000000100000000000001",
    "0x03 31 043da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb00000000000000010000000000000002",
    "0x03 32 023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb0000000000000001000000000000000001",
    "0xfd00fe 00",
    "0xfd00fe 01 01",
    "0xfd00fe 03 010101",
    "0x00 00",
];

#[test]
fn n1_invalid_values_fail_with_the_right_reason() {
    use DecodeError::*;
    let expected = [
        NonMinimalTruncatedInt,
        NonMinimalTruncatedInt,
        NonMinimalTruncatedInt,
        NonMinimalTruncatedInt,
        NonMinimalTruncatedInt,
        NonMinimalTruncatedInt,
        NonMinimalTruncatedInt,
        NonMinimalTruncatedInt,
        NonMinimalTruncatedInt,
        ShortRead,
        TrailingBytes(1),
        ShortRead,
        ShortRead,
        ShortRead,
        InvalidPublicKey,
        TrailingBytes(1),
        ShortRead,
        ShortRead,
        TrailingBytes(1),
        UnknownEvenTlv(0),
    ];
    assert_eq!(N1_INVALID.len(), expected.len());
    for (s, want) in N1_INVALID.iter().zip(expected) {
        assert_eq!(decode_n1(&bytes(s)), Err(want), "{s}");
    }
}

const IGNORED_EVERYWHERE: &[&str] = &[
    "0x",
    "0x21 00",
    "0xfd0201 00",
    "0xfd00fd 00",
    "0xfd00ff 00",
    "0xfe02000001 00",
    "0xff0200000000000001 00",
];

#[test]
fn unknown_odd_types_are_kept_and_ignored() {
    for s in IGNORED_EVERYWHERE {
        let b = bytes(s);
        assert_eq!(decode_n1(&b), Ok(N1::default()), "{s}");
        assert_eq!(decode_n2(&b), Ok(N2::default()), "{s}");
        // The ignored records survive: re-encoding reproduces the input.
        let stream = TlvStream::decode(&b).unwrap();
        let mut w = Writer::new();
        stream.write(&mut w);
        assert_eq!(w.finish().unwrap(), b);
    }
}

fn n1_valid() -> Vec<(&'static str, N1)> {
    let node_id: PublicKey = "023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb"
        .parse()
        .unwrap();
    let amt = |v| N1 {
        tlv1: Some(v),
        ..N1::default()
    };
    vec![
        ("0x01 00", amt(0)),
        ("0x01 01 01", amt(1)),
        ("0x01 02 0100", amt(256)),
        ("0x01 03 010000", amt(65536)),
        ("0x01 04 01000000", amt(16777216)),
        ("0x01 05 0100000000", amt(4294967296)),
        ("0x01 06 010000000000", amt(1099511627776)),
        ("0x01 07 01000000000000", amt(281474976710656)),
        ("0x01 08 0100000000000000", amt(72057594037927936)),
        (
            "0x02 08 0000000000000226",
            N1 {
                // 0x0x550: block 0, tx 0, output 550.
                tlv2: Some(550),
                ..N1::default()
            },
        ),
        (
            "0x03 31 023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb00000000000000010000000000000002",
            N1 {
                tlv3: Some((node_id, 1, 2)),
                ..N1::default()
            },
        ),
        (
            "0xfd00fe 02 0226",
            N1 {
                tlv4: Some(550),
                ..N1::default()
            },
        ),
    ]
}

#[test]
fn n1_valid_streams_decode_to_their_values() {
    for (s, want) in n1_valid() {
        assert_eq!(decode_n1(&bytes(s)), Ok(want), "{s}");
    }
}

#[test]
fn appending_an_invalid_stream_to_a_valid_one_fails() {
    let valid: Vec<&str> = n1_valid()
        .into_iter()
        .map(|(s, _)| s)
        .chain(IGNORED_EVERYWHERE.iter().copied())
        .collect();
    let invalid_any = [
        "0xfd",
        "0xfd01",
        "0xfd0001 00",
        "0xfd0101",
        "0x0f fd",
        "0x0f fd26",
        "0x0f fd2602",
        "0x0f fd0001 00",
        VALUE_TRUNCATED,
        "0x12 00",
        "0xfd0102 00",
        "0xfe01000002 00",
        "0xff0100000000000002 00",
    ];
    for v in &valid {
        for i in invalid_any.iter().chain(N1_INVALID) {
            let mut b = bytes(v);
            b.extend(bytes(i));
            assert!(decode_n1(&b).is_err(), "{v} ++ {i}");
        }
    }
}

#[test]
fn appending_a_higher_valid_stream_to_a_lower_one_succeeds() {
    let valid = n1_valid();
    let first_type = |s: &str| TlvStream::decode(&bytes(s)).unwrap().records()[0].typ;
    let mut combos = 0;
    for (lo, lo_val) in &valid {
        for (hi, hi_val) in &valid {
            if first_type(lo) >= first_type(hi) {
                continue;
            }
            let mut b = bytes(lo);
            b.extend(bytes(hi));
            let got = decode_n1(&b).unwrap();
            assert_eq!(got.tlv1, lo_val.tlv1.or(hi_val.tlv1));
            assert_eq!(got.tlv2, lo_val.tlv2.or(hi_val.tlv2));
            assert_eq!(got.tlv3, lo_val.tlv3.or(hi_val.tlv3));
            assert_eq!(got.tlv4, lo_val.tlv4.or(hi_val.tlv4));
            combos += 1;
        }
    }
    assert!(combos > 20);
}

#[test]
fn ordering_and_duplicate_vectors_fail() {
    use DecodeError::*;
    let cases = [
        (
            "0x02 08 0000000000000226 01 01 2a",
            TlvOutOfOrder { prev: 2, next: 1 },
        ),
        (
            "0x02 08 0000000000000231 02 08 0000000000000451",
            DuplicateTlv(2),
        ),
        (
            "0x1f 00 0f 01 2a",
            TlvOutOfOrder {
                prev: 0x1f,
                next: 0x0f,
            },
        ),
        ("0x1f 00 1f 01 2a", DuplicateTlv(0x1f)),
    ];
    for (s, want) in cases {
        assert_eq!(decode_n1(&bytes(s)), Err(want), "{s}");
    }
    assert_eq!(
        decode_n2(&bytes("0xffffffffffffffffff 00 00 00")),
        Err(TlvOutOfOrder {
            prev: u64::MAX,
            next: 0
        })
    );
}

#[test]
fn n2_values_decode() {
    assert_eq!(
        decode_n2(&bytes("0x00 01 2a 0b 02 0102")),
        Ok(N2 {
            tlv1: Some(42),
            tlv2: Some(0x0102)
        })
    );
    assert_eq!(
        decode_n2(&bytes("0x0b 05 0100000000")),
        Err(DecodeError::NonMinimalTruncatedInt)
    );
}

#[test]
fn insert_keeps_order_and_replaces() {
    let mut s = TlvStream::new();
    s.insert(5, vec![5]);
    s.insert(1, vec![1]);
    s.insert(3, vec![3]);
    s.insert(1, vec![9]);
    let types: Vec<u64> = s.records().iter().map(|r| r.typ).collect();
    assert_eq!(types, vec![1, 3, 5]);
    assert_eq!(s.get(1), Some(&[9u8][..]));
    assert_eq!(s.take(3), Some(vec![3]));
    assert_eq!(s.get(3), None);
}
