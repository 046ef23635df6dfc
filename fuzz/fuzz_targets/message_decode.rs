//! Any byte string: decoding must not panic, and a decoded message must survive re-encoding
//! unchanged. (Bytes may differ only where the spec tolerates a non-minimal form, such as
//! feature vectors with leading zero bytes, which we re-encode minimally.)
#![no_main]

use chanhub::wire::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::decode(data) {
        let bytes = msg.encode().expect("a decoded message re-encodes");
        assert!(bytes.len() <= data.len(), "re-encoding grew the message");
        let again = Message::decode(&bytes).expect("our own encoding decodes");
        assert_eq!(again, msg);
    }
});
