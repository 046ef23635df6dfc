//! Property tests: onions built along random routes peel into each hop's payload, errors are
//! attributed to the hop that made them, and no decoder panics on arbitrary bytes.

use bitcoin::secp256k1::SecretKey;
use proptest::prelude::*;

use super::crypto::{hmac, secp};
use super::packet::HOP_PAYLOADS_LEN;
use super::*;
use crate::wire::types::ONION_PACKET_LEN;
use crate::wire::{OnionPacket, ShortChannelId, TlvStream};

fn secret_key() -> impl Strategy<Value = SecretKey> {
    any::<[u8; 32]>().prop_filter_map("valid secret key", |b| SecretKey::from_slice(&b).ok())
}

/// A few odd records, small enough that 20 hops still fit the packet.
fn odd_extras() -> impl Strategy<Value = TlvStream> {
    prop::collection::vec((0u64..50, prop::collection::vec(any::<u8>(), 0..6)), 0..2).prop_map(
        |recs| {
            let mut s = TlvStream::new();
            for (t, v) in recs {
                s.insert(2 * t + 101, v);
            }
            s
        },
    )
}

fn forward_payload() -> impl Strategy<Value = HopPayload> {
    (any::<u64>(), any::<u64>(), any::<u32>(), odd_extras()).prop_map(|(scid, amt, cltv, extra)| {
        HopPayload::Forward(ForwardPayload {
            short_channel_id: ShortChannelId(scid),
            amt_to_forward: amt,
            outgoing_cltv_value: cltv,
            extra,
        })
    })
}

fn final_payload() -> impl Strategy<Value = HopPayload> {
    (
        any::<u64>(),
        any::<u32>(),
        any::<Option<([u8; 32], u64)>>(),
        odd_extras(),
    )
        .prop_map(|(amt, cltv, pd, extra)| {
            HopPayload::Final(FinalPayload {
                amt_to_forward: amt,
                outgoing_cltv_value: cltv,
                payment_data: pd.map(|(s, total_msat)| PaymentData {
                    payment_secret: PaymentSecret(s),
                    total_msat,
                }),
                payment_metadata: None,
                extra,
            })
        })
}

/// 1..=20 hops: node keys and payloads, forward payloads then a final one.
fn route() -> impl Strategy<Value = Vec<(SecretKey, HopPayload)>> {
    (1usize..=20).prop_flat_map(|n| {
        (
            prop::collection::vec((secret_key(), forward_payload()), n - 1),
            (secret_key(), final_payload()),
        )
            .prop_map(|(mut hops, last)| {
                hops.push(last);
                hops
            })
    })
}

fn build(route: &[(SecretKey, HopPayload)], session: &SecretKey, hash: &[u8; 32]) -> SentOnion {
    let hops: Vec<OnionHop> = route
        .iter()
        .map(|(k, p)| OnionHop {
            node_id: k.public_key(secp()),
            payload: p.encode(),
        })
        .collect();
    construct_onion(session, &hops, hash).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_hop_learns_its_payload(
        route in route(), session in secret_key(), hash in any::<[u8; 32]>()
    ) {
        let sent = build(&route, &session, &hash);
        let mut packet = sent.packet;
        for (i, (key, payload)) in route.iter().enumerate() {
            match process_onion(key, &packet, &hash).unwrap() {
                Processed::Forward { shared_secret, payload: got, next_packet } => {
                    prop_assert_eq!(&HopPayload::Forward(got), payload);
                    prop_assert!(shared_secret == sent.shared_secrets[i]);
                    packet = next_packet;
                }
                Processed::Final { shared_secret, payload: got } => {
                    prop_assert_eq!(i, route.len() - 1);
                    prop_assert_eq!(&HopPayload::Final(got), payload);
                    prop_assert!(shared_secret == sent.shared_secrets[i]);
                }
            }
        }
    }

    #[test]
    fn wrong_payment_hash_or_key_is_an_hmac_failure(
        route in route(), session in secret_key(), hash in any::<[u8; 32]>(),
        other in secret_key(),
    ) {
        let sent = build(&route, &session, &hash);
        let mut wrong_hash = hash;
        wrong_hash[0] ^= 1;
        let expected = ProcessError::Malformed(MalformedOnion {
            kind: MalformedKind::Hmac,
            sha256_of_onion: sha256_of_onion(&sent.packet),
        });
        prop_assert_eq!(process_onion(&route[0].0, &sent.packet, &wrong_hash).unwrap_err(), expected.clone());
        prop_assume!(other != route[0].0);
        prop_assert_eq!(process_onion(&other, &sent.packet, &hash).unwrap_err(), expected);
    }

    #[test]
    fn errors_are_attributed_to_the_failing_hop(
        route in route(), session in secret_key(), hash in any::<[u8; 32]>(),
        failing in any::<prop::sample::Index>(), height in any::<u32>(),
    ) {
        let sent = build(&route, &session, &hash);
        let failing = failing.index(route.len());
        let failure = OnionFailure::from(FailureMessage::IncorrectOrUnknownPaymentDetails {
            htlc_msat: 1, height,
        });
        // Hold time of hop i: 7 * i + 1, so every hop reports a different one.
        let hold = |i: usize| 7 * i as u32 + 1;
        let secrets = &sent.shared_secrets;
        let (mut packet, mut ad) =
            create_attributed_error(&secrets[failing], &failure, hold(failing)).unwrap();
        for (i, s) in secrets[..failing].iter().enumerate().rev() {
            ad = forward_attributed_error(s, &mut packet, Some(ad), hold(i));
        }
        let (got, attribution) = read_failure_attribution(secrets, &packet, &ad);
        let got = got.unwrap();
        prop_assert_eq!(got.hop_index, failing);
        prop_assert_eq!(attribution.first_invalid, None);
        prop_assert_eq!(attribution.hold_times, (0..=failing).map(hold).collect::<Vec<_>>());
        prop_assert_eq!(got.failure, Ok(failure));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_packets_never_panic(
        raw in prop::collection::vec(any::<u8>(), ONION_PACKET_LEN), key in secret_key(),
        hash in any::<[u8; 32]>(),
    ) {
        let packet = OnionPacket(raw.into_boxed_slice().try_into().unwrap());
        let _ = process_onion(&key, &packet, &hash);
    }

    /// Random contents behind a valid HMAC reach the payload parser, which must refuse
    /// cleanly.
    #[test]
    fn authentic_random_payloads_never_panic(
        body in prop::collection::vec(any::<u8>(), HOP_PAYLOADS_LEN), key in secret_key(),
        ephemeral in secret_key(), hash in any::<[u8; 32]>(),
    ) {
        let point = ephemeral.public_key(secp());
        let ss = SharedSecret::new(&point, &key);
        let mut raw = Box::new([0u8; ONION_PACKET_LEN]);
        raw[1..34].copy_from_slice(&point.serialize());
        raw[34..34 + HOP_PAYLOADS_LEN].copy_from_slice(&body);
        let mac = hmac(&ss.mu(), &[&body, &hash]);
        raw[34 + HOP_PAYLOADS_LEN..].copy_from_slice(&mac);
        match process_onion(&key, &OnionPacket(raw), &hash) {
            Err(ProcessError::Malformed(m)) => prop_assert!(false, "authentic onion malformed: {:?}", m),
            Err(ProcessError::Rejected { failure, .. }) => {
                prop_assert_eq!(failure.code(), 0x4016)
            }
            Ok(_) => {}
        }
    }

    #[test]
    fn arbitrary_payloads_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), is_final in any::<bool>()) {
        if let Ok(p) = HopPayload::decode(&bytes, is_final) {
            // An accepted payload is canonical.
            prop_assert_eq!(p.encode(), bytes);
        }
    }

    #[test]
    fn arbitrary_failures_never_panic_and_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(f) = OnionFailure::decode(&bytes) {
            prop_assert_eq!(f.encode(), bytes);
        }
    }

    #[test]
    fn arbitrary_error_packets_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        secrets in prop::collection::vec(any::<[u8; 32]>().prop_map(SharedSecret), 0..21),
    ) {
        let _ = decrypt_failure(&secrets, &ErrorPacket(bytes));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_attribution_data_never_panics(
        bytes in prop::collection::vec(any::<u8>(), ATTRIBUTION_DATA_LEN),
        packet in prop::collection::vec(any::<u8>(), 0..400),
        secrets in prop::collection::vec(any::<[u8; 32]>().prop_map(SharedSecret), 0..21),
    ) {
        let ad = AttributionData::from_bytes(&bytes).unwrap();
        let fulfill = read_fulfill_attribution(&secrets, &ad);
        prop_assert!(fulfill.hold_times.len() <= secrets.len());
        let _ = read_failure_attribution(&secrets, &ErrorPacket(packet), &ad);
    }
}
