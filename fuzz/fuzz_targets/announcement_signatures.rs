//! `announcement_signatures` payloads (the type is prepended): decoding never panics, and an
//! accepted message re-encodes to the very bytes received.
#![no_main]

use chanhub::wire::{AnnouncementSignatures, WireMessage, MAX_MESSAGE_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let mut data = AnnouncementSignatures::TYPE.to_be_bytes().to_vec();
    data.extend_from_slice(payload);
    if let Ok(msg) = AnnouncementSignatures::decode(&data) {
        if data.len() <= MAX_MESSAGE_LEN {
            assert_eq!(msg.encode().expect("a decoded message re-encodes"), data);
        }
    }
});
