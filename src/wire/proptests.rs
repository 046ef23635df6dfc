//! Property tests over every message: encode → decode → encode is the identity, and no input
//! (random, truncated or mutated) makes a decoder panic.

use proptest::prelude::*;

use super::strategies::{bytes, features, message};
use super::*;

/// A decode that succeeds must be canonical: re-encoding gives back the input.
fn assert_canonical(input: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(m) = Message::decode(input) {
        let again = m.encode().ok();
        prop_assert_eq!(again.as_deref(), Some(input));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_round_trips(msg in message()) {
        let bytes = msg.encode().unwrap();
        prop_assert_eq!(&bytes[..2], &msg.msg_type().to_be_bytes()[..]);
        let decoded = Message::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &msg);
        prop_assert_eq!(decoded.encode().unwrap(), bytes);
    }

    #[test]
    fn truncated_messages_never_panic(msg in message(), cut in any::<prop::sample::Index>()) {
        let bytes = msg.encode().unwrap();
        let cut = cut.index(bytes.len());
        // Cutting at a TLV record boundary still leaves a valid (shorter) message.
        assert_canonical(&bytes[..cut])?;
    }

    #[test]
    fn mutated_messages_never_panic(
        msg in message(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        let mut bytes = msg.encode().unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= xor;
        let _ = Message::decode(&bytes);
    }

    #[test]
    fn random_bytes_never_panic(input in bytes(600)) {
        let _ = Message::decode(&input);
    }

    #[test]
    fn random_payloads_of_known_types_never_panic(
        t in proptest::sample::select(Message::DECODED_TYPES.to_vec()),
        payload in bytes(600),
    ) {
        let mut input = t.to_be_bytes().to_vec();
        input.extend(payload);
        // Whatever decodes must re-encode to something that decodes to the same message.
        if let Ok(m) = Message::decode(&input) {
            let again = m.encode().unwrap();
            prop_assert_eq!(Message::decode(&again), Ok(m));
        }
    }

    #[test]
    fn non_minimal_features_are_accepted_and_kept(
        zeros in 1usize..4,
        f in features(),
    ) {
        // BOLT 1 only says senders SHOULD use the minimal length, so leading zeroes are legal:
        // they change no bit, and are written back as received (gossip signs them).
        let mut padded = vec![0u8; zeros];
        padded.extend(f.to_wire_bytes());
        let init = Init { global_features: Features::empty(), features: f.clone(), networks: None, remote_addr: None, extra_tlvs: TlvStream::new() };
        let mut input = vec![0, 16, 0, 0];
        input.extend((padded.len() as u16).to_be_bytes());
        input.extend(&padded);
        let decoded = Message::decode(&input);
        prop_assert_eq!(&decoded, &Ok(Message::Init(init)));
        prop_assert_eq!(decoded.unwrap().encode().unwrap(), input);
    }

    #[test]
    fn tlv_stream_decode_is_canonical(input in bytes(200)) {
        if let Ok(stream) = TlvStream::decode(&input) {
            let mut w = Writer::new();
            stream.write(&mut w);
            prop_assert_eq!(w.finish().unwrap(), input);
        }
    }

    #[test]
    fn bigsize_round_trips(v in any::<u64>()) {
        let mut w = Writer::new();
        bigsize::write(&mut w, v);
        let b = w.finish().unwrap();
        prop_assert_eq!(b.len(), bigsize::encoded_len(v));
        let mut r = Reader::new(&b);
        prop_assert_eq!(bigsize::read(&mut r), Ok(v));
        prop_assert!(r.is_empty());
    }

    #[test]
    fn features_wire_form_round_trips(f in features()) {
        prop_assert_eq!(Features::from_wire_bytes(&f.to_wire_bytes()), f);
    }
}

/// BOLT 7 specifics: address descriptors, encoded id lists, signatures across a relay.
mod gossip {
    use bitcoin::constants::ChainHash;
    use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::super::gossip::{decode_addresses, encode_addresses, sign_gossip};
    use super::super::strategies::{bytes, features, net_address};
    use super::super::*;

    fn type_of(a: &NetAddress) -> u8 {
        match a {
            NetAddress::Ipv4 { .. } => 1,
            NetAddress::Ipv6 { .. } => 2,
            NetAddress::TorV3 { .. } => 4,
            NetAddress::Hostname { .. } => 5,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn address_descriptors_round_trip_in_type_order(addrs in vec(net_address(), 0..8)) {
            let bytes = encode_addresses(&addrs).unwrap();
            let mut sorted = addrs.clone();
            sorted.sort_by_key(type_of);
            prop_assert_eq!(decode_addresses(&bytes), sorted);
        }

        #[test]
        fn address_decoding_never_panics_and_keeps_a_prefix(input in bytes(300)) {
            // Whatever parses is a run of well-formed descriptors at the start of the input.
            let parsed = decode_addresses(&input);
            let again = encode_addresses(&parsed).unwrap();
            let types: Vec<u8> = parsed.iter().map(type_of).collect();
            if types.windows(2).all(|w| w[0] <= w[1]) {
                prop_assert!(input.starts_with(&again));
            }
        }

        #[test]
        fn id_lists_with_any_encoding_byte_never_panic(
            encoding in any::<u8>(),
            body in bytes(80),
            tlv_encoding in any::<u8>(),
            tlv_body in bytes(40),
        ) {
            let mut field = vec![encoding];
            field.extend(&body);
            let mut query = vec![1, 5];
            query.extend(ChainHash::REGTEST.to_bytes());
            query.extend((field.len() as u16).to_be_bytes());
            query.extend(&field);
            // query_flags, and reply_channel_range's timestamps, with their own encoding byte.
            let mut tlv = vec![1, (tlv_body.len() + 1) as u8, tlv_encoding];
            tlv.extend(&tlv_body);
            let mut with_tlv = query.clone();
            with_tlv.extend(&tlv);
            let decoded = Message::decode(&query);
            if encoding != 0 || body.len() % 8 != 0 {
                prop_assert!(decoded.is_err());
            } else {
                prop_assert_eq!(decoded.unwrap().encode().unwrap(), query.clone());
            }
            let _ = Message::decode(&with_tlv);
            let mut reply = vec![1, 8];
            reply.extend(ChainHash::REGTEST.to_bytes());
            reply.extend([0, 0, 0, 1, 0, 0, 0, 2, 1]);
            reply.extend((field.len() as u16).to_be_bytes());
            reply.extend(&field);
            let plain = Message::decode(&reply);
            prop_assert_eq!(plain.is_ok(), encoding == 0 && body.len() % 8 == 0);
            reply.extend(&tlv);
            if let Ok(m) = Message::decode(&reply) {
                prop_assert_eq!(m.encode().unwrap(), reply);
            }
        }

        /// A relayed announcement must still verify: decoding and re-encoding keeps every
        /// signed byte, leading zero bytes of the features and trailing data included. The
        /// messages are put together byte by byte, as another implementation would send them.
        #[test]
        fn signed_gossip_survives_decode_and_re_encode(
            pad in 0usize..3,
            f in features(),
            excess in bytes(30),
            addresses in bytes(30),
        ) {
            let secp = Secp256k1::new();
            let key = |n: u8| SecretKey::from_slice(&[n; 32]).unwrap();
            let pk = |n: u8| PublicKey::from_secret_key(&secp, &key(n)).serialize();
            let mut features = vec![0u8; pad];
            features.extend(f.to_wire_bytes());
            let prefixed = |b: &[u8]| {
                let mut out = (b.len() as u16).to_be_bytes().to_vec();
                out.extend(b);
                out
            };

            let mut unsigned = prefixed(&features);
            unsigned.extend(ChainHash::REGTEST.to_bytes());
            unsigned.extend((1u64 << 40).to_be_bytes());
            for n in 1..=4 {
                unsigned.extend(pk(n));
            }
            unsigned.extend(&excess);
            let mut wire = 256u16.to_be_bytes().to_vec();
            for n in 1..=4 {
                wire.extend(sign_gossip(&key(n), &unsigned).serialize_compact());
            }
            wire.extend(&unsigned);
            let relayed = ChannelAnnouncement::decode(&wire).unwrap();
            prop_assert!(relayed.verify());
            prop_assert_eq!(relayed.encode().unwrap(), wire);

            let mut unsigned = prefixed(&features);
            unsigned.extend(1u32.to_be_bytes());
            unsigned.extend(pk(5));
            unsigned.extend([0u8; 3 + 32]);
            unsigned.extend(prefixed(&addresses));
            unsigned.extend(&excess);
            let mut wire = 257u16.to_be_bytes().to_vec();
            wire.extend(sign_gossip(&key(5), &unsigned).serialize_compact());
            wire.extend(&unsigned);
            let relayed = NodeAnnouncement::decode(&wire).unwrap();
            prop_assert!(relayed.verify());
            prop_assert_eq!(relayed.encode().unwrap(), wire);
        }
    }
}
