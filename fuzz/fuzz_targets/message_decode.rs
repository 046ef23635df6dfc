//! Any byte string: decoding must not panic, and a decoded message must survive re-encoding
//! unchanged. (The bytes may only shrink, where a form the spec tolerates is written back in
//! its canonical form; feature vectors keep their leading zero bytes, as gossip signs them.)
//! A decoded `channel_update` also has its signature checked, which must not panic either.
#![no_main]

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use chanhub::wire::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::decode(data) {
        if let Message::ChannelUpdate(update) = &msg {
            let key = SecretKey::from_slice(&[1; 32]).expect("valid key");
            let _ = update.verify(&PublicKey::from_secret_key(&Secp256k1::new(), &key));
        }
        let bytes = msg.encode().expect("a decoded message re-encodes");
        assert!(bytes.len() <= data.len(), "re-encoding grew the message");
        let again = Message::decode(&bytes).expect("our own encoding decodes");
        assert_eq!(again, msg);
    }
});
