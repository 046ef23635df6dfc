//! `node_announcement` payloads (the type is prepended): decoding never panics, and an accepted
//! message re-encodes to the very bytes received; its signature is checked and its addresses parsed
//! without panicking.
#![no_main]

use chanhub::wire::{NodeAnnouncement, WireMessage, MAX_MESSAGE_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let mut data = NodeAnnouncement::TYPE.to_be_bytes().to_vec();
    data.extend_from_slice(payload);
    if let Ok(msg) = NodeAnnouncement::decode(&data) {
        let _ = msg.verify();
        let _ = chanhub::wire::gossip::decode_addresses(&msg.contents.addresses);
        if data.len() <= MAX_MESSAGE_LEN {
            assert_eq!(msg.encode().expect("a decoded message re-encodes"), data);
        }
    }
});
