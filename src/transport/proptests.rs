//! No byte string makes the handshake or the decryptor panic, and framing round-trips any
//! message however the stream is chunked.

use bitcoin::secp256k1::SecretKey;
use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

fn key(b: u8) -> SecretKey {
    SecretKey::from_slice(&[b; 32]).expect("repeated nonzero byte is a valid key")
}

fn pair() -> (Transport, Transport) {
    let secp = bitcoin::secp256k1::Secp256k1::signing_only();
    let responder_pub = key(2).public_key(&secp);
    let (hs, act_one) = InitiatorHandshake::new(key(1), responder_pub);
    let (next, act_two) = ResponderHandshake::new(key(2))
        .process_act_one(&act_one)
        .expect("honest act one");
    let (act_three, a) = hs.process_act_two(&act_two).expect("honest act two");
    let b = next
        .process_act_three(&act_three)
        .expect("honest act three");
    (a, b)
}

proptest! {
    #[test]
    fn arbitrary_acts_never_panic(input in vec(any::<u8>(), 0..80)) {
        let secp = bitcoin::secp256k1::Secp256k1::signing_only();
        let _ = ResponderHandshake::new(key(2)).process_act_one(&input);
        let (hs, _) = InitiatorHandshake::new(key(1), key(2).public_key(&secp));
        let _ = hs.process_act_two(&input);
        let (_, act_one) = InitiatorHandshake::new(key(1), key(2).public_key(&secp));
        let (next, _) = ResponderHandshake::new(key(2)).process_act_one(&act_one).unwrap();
        let _ = next.process_act_three(&input);
    }

    #[test]
    fn arbitrary_ciphertext_never_panics(chunks in vec(vec(any::<u8>(), 0..64), 0..8)) {
        let (_, b) = pair();
        let (_, mut dec) = b.split();
        for chunk in chunks {
            dec.push(&chunk);
            match dec.next_message() {
                Ok(DecryptStep::NeedMore(n)) => prop_assert!(n > 0),
                Ok(DecryptStep::Message(_)) => prop_assert!(false, "forged message accepted"),
                Err(_) => {}
            }
        }
    }

    #[test]
    fn framing_survives_any_chunking(
        messages in vec(vec(any::<u8>(), 0..300), 1..6),
        chunk in 1usize..97,
    ) {
        let (a, b) = pair();
        let (mut enc, _) = a.split();
        let (_, mut dec) = b.split();
        let mut stream = Vec::new();
        for m in &messages {
            stream.extend(enc.encrypt(m).unwrap());
        }
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            dec.push(piece);
            while let DecryptStep::Message(m) = dec.next_message().unwrap() {
                got.push(m);
            }
        }
        prop_assert_eq!(got, messages);
        prop_assert_eq!(dec.buffered(), 0);
    }
}
