//! Any byte string: decoding must not panic, and a successful decode must be canonical
//! (re-encoding reproduces the input exactly).
#![no_main]

use chanhub::wire::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::decode(data) {
        let again = msg.encode().expect("a decoded message re-encodes");
        assert_eq!(again, data, "decode accepted a non-canonical encoding");
    }
});
