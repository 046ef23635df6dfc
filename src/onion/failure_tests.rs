//! Failure message codec tests: every code round trips, flags, the TLV extension.

use super::*;

fn all() -> Vec<FailureMessage> {
    let u = Some(vec![0x01, 0x02, 0xaa]);
    vec![
        F::InvalidRealm,
        F::TemporaryNodeFailure,
        F::PermanentNodeFailure,
        F::RequiredNodeFeatureMissing,
        F::InvalidOnionVersion {
            sha256_of_onion: [1; 32],
        },
        F::InvalidOnionHmac {
            sha256_of_onion: [2; 32],
        },
        F::InvalidOnionKey {
            sha256_of_onion: [3; 32],
        },
        F::TemporaryChannelFailure {
            channel_update: None,
        },
        F::TemporaryChannelFailure {
            channel_update: u.clone(),
        },
        F::PermanentChannelFailure,
        F::RequiredChannelFeatureMissing,
        F::UnknownNextPeer,
        F::AmountBelowMinimum {
            htlc_msat: 5,
            channel_update: u.clone(),
        },
        F::FeeInsufficient {
            htlc_msat: 6,
            channel_update: u.clone(),
        },
        F::IncorrectCltvExpiry {
            cltv_expiry: 7,
            channel_update: u.clone(),
        },
        F::ExpiryTooSoon {
            channel_update: u.clone(),
        },
        F::IncorrectOrUnknownPaymentDetails {
            htlc_msat: 100,
            height: 800_000,
        },
        F::FinalIncorrectCltvExpiry { cltv_expiry: 9 },
        F::FinalIncorrectHtlcAmount {
            incoming_htlc_amt: 10,
        },
        F::ChannelDisabled {
            disabled_flags: 0,
            channel_update: u,
        },
        F::ExpiryTooFar,
        F::InvalidOnionPayload {
            typ: 0x10000,
            offset: 12,
        },
        F::MppTimeout,
        F::InvalidOnionBlinding {
            sha256_of_onion: [4; 32],
        },
        F::Unknown {
            code: 0x2099,
            data: vec![1, 2, 3],
        },
    ]
}

#[test]
fn every_failure_round_trips() {
    for m in all() {
        let f = OnionFailure::from(m.clone());
        let bytes = f.encode();
        assert_eq!(u16::from_be_bytes([bytes[0], bytes[1]]), m.code());
        assert_eq!(OnionFailure::decode(&bytes), Ok(f), "{m:?}");
    }
}

#[test]
fn codes_and_flags_match_bolt4() {
    assert_eq!(
        F::TemporaryChannelFailure {
            channel_update: None
        }
        .code(),
        0x1007
    );
    assert_eq!(
        F::IncorrectOrUnknownPaymentDetails {
            htlc_msat: 0,
            height: 0
        }
        .code(),
        0x400f
    );
    assert_eq!(
        F::InvalidOnionHmac {
            sha256_of_onion: [0; 32]
        }
        .code(),
        0xc005
    );
    assert_eq!(F::InvalidOnionPayload { typ: 0, offset: 0 }.code(), 0x4016);
    assert_eq!(F::TemporaryNodeFailure.code(), 0x2002);
    assert!(F::UnknownNextPeer.is_permanent());
    assert!(!F::MppTimeout.is_permanent());
    assert!(F::PermanentNodeFailure.is_node_failure());
    assert_eq!(
        F::FeeInsufficient {
            htlc_msat: 1,
            channel_update: Some(vec![1])
        }
        .channel_update(),
        Some(&[1u8][..])
    );
}

#[test]
fn tlv_extension_is_kept_and_even_types_refused() {
    // The message of the BOLT 4 error vector: htlc_msat 100, height 800000, then type
    // 34001 with 300 bytes of 0x80.
    let mut tlvs = TlvStream::new();
    tlvs.insert(34001, vec![0x80; 300]);
    let f = OnionFailure {
        message: F::IncorrectOrUnknownPaymentDetails {
            htlc_msat: 100,
            height: 800_000,
        },
        tlvs,
    };
    let bytes = f.encode();
    assert_eq!(
        hex::encode(&bytes[..20]),
        "400f0000000000000064000c3500fd84d1fd012c"
    );
    assert_eq!(bytes.len(), 320);
    assert_eq!(OnionFailure::decode(&bytes), Ok(f));
    assert_eq!(
        OnionFailure::decode(&hex::decode("2002020100").unwrap()),
        Err(DecodeError::UnknownEvenTlv(2))
    );
}

#[test]
fn malformed_htlc_failures_become_badonion_messages() {
    assert_eq!(
        failure_from_malformed(0xc005, [7; 32]),
        Some(F::InvalidOnionHmac {
            sha256_of_onion: [7; 32]
        })
    );
    assert_eq!(
        failure_from_malformed(0xc099, [7; 32]),
        Some(F::Unknown {
            code: 0xc099,
            data: vec![7; 32]
        })
    );
    // Without BADONION the peer broke the protocol.
    assert_eq!(failure_from_malformed(0x4005, [7; 32]), None);
}

#[test]
fn truncated_data_is_an_error() {
    assert_eq!(OnionFailure::decode(&[0x40]), Err(DecodeError::ShortRead));
    assert_eq!(
        OnionFailure::decode(&[0x40, 0x0f, 0, 0]),
        Err(DecodeError::ShortRead)
    );
    assert_eq!(
        OnionFailure::decode(&[0x10, 0x07, 0, 5, 1]),
        Err(DecodeError::ShortRead)
    );
}
