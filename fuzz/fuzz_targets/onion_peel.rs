//! Onion processing at a hop. The input is the packet body behind a valid HMAC, so the fuzzer
//! reaches payload framing and TLV decoding rather than stopping at the HMAC check; the first
//! byte picks whether the HMAC is kept valid, to cover the malformed paths too.
#![no_main]

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use chanhub::onion::{crypto::SharedSecret, process_onion, ProcessError};
use chanhub::wire::types::ONION_PACKET_LEN;
use chanhub::wire::OnionPacket;
use libfuzzer_sys::fuzz_target;

use bitcoin::hashes::hmac::{Hmac, HmacEngine};
use bitcoin::hashes::{sha256, Hash, HashEngine};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let secp = Secp256k1::new();
    let node = SecretKey::from_slice(&[0x11; 32]).expect("valid key");
    let ephemeral = SecretKey::from_slice(&[0x22; 32])
        .expect("valid key")
        .public_key(&secp);
    let hash = [0x42u8; 32];

    let mut raw = Box::new([0u8; ONION_PACKET_LEN]);
    let n = body.len().min(1300);
    raw[34..34 + n].copy_from_slice(&body[..n]);
    raw[1..34].copy_from_slice(&ephemeral.serialize());
    if mode & 1 == 0 {
        let ss = SharedSecret::new(&ephemeral, &node);
        let mut engine = HmacEngine::<sha256::Hash>::new(&ss.mu());
        engine.input(&raw[34..1334]);
        engine.input(&hash);
        let mac = Hmac::<sha256::Hash>::from_engine(engine).to_byte_array();
        raw[1334..].copy_from_slice(&mac);
    } else {
        // Arbitrary version, key and HMAC.
        raw[0] = mode >> 1;
        let m = body.len().saturating_sub(1300).min(33);
        raw[1..1 + m].copy_from_slice(&body[1300..1300 + m]);
    }
    let packet = OnionPacket(raw);
    match process_onion(&node, &packet, &hash) {
        Err(ProcessError::Malformed(_)) => {
            assert!(mode & 1 == 1, "authentic onion reported malformed")
        }
        Err(ProcessError::Rejected { failure, .. }) => assert_eq!(failure.code(), 0x4016),
        Ok(_) => {}
    }
});
