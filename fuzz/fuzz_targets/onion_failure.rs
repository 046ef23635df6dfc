//! Failure messages and error packets: decoding never panics, an accepted failure message
//! re-encodes to the same bytes, and decrypting an arbitrary error packet never panics.
#![no_main]

use chanhub::onion::{crypto::SharedSecret, decrypt_failure, ErrorPacket, OnionFailure};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = OnionFailure::decode(data) {
        assert_eq!(f.encode(), data);
    }
    let secrets: Vec<SharedSecret> = (1..=3u8).map(|i| SharedSecret([i; 32])).collect();
    let _ = decrypt_failure(&secrets, &ErrorPacket(data.to_vec()));
});
