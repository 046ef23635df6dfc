//! `channel_announcement` payloads (the type is prepended): decoding never panics, and an accepted
//! message re-encodes to the very bytes received; its four signatures are checked without
//! panicking.
#![no_main]

use chanhub::wire::{ChannelAnnouncement, WireMessage, MAX_MESSAGE_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let mut data = ChannelAnnouncement::TYPE.to_be_bytes().to_vec();
    data.extend_from_slice(payload);
    if let Ok(msg) = ChannelAnnouncement::decode(&data) {
        let _ = msg.verify();
        if data.len() <= MAX_MESSAGE_LEN {
            assert_eq!(msg.encode().expect("a decoded message re-encodes"), data);
        }
    }
});
