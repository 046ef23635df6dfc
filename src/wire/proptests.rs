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
    fn non_minimal_features_are_accepted_and_normalised(
        zeros in 1usize..4,
        f in features(),
    ) {
        // BOLT 1 only says senders SHOULD use the minimal length, so leading zeroes are legal.
        let mut padded = vec![0u8; zeros];
        padded.extend(f.to_wire_bytes());
        let init = Init { global_features: Features::empty(), features: f.clone(), networks: None, remote_addr: None, extra_tlvs: TlvStream::new() };
        let mut input = vec![0, 16, 0, 0];
        input.extend((padded.len() as u16).to_be_bytes());
        input.extend(&padded);
        prop_assert_eq!(Message::decode(&input), Ok(Message::Init(init)));
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
