//! TLV streams and BigSize: no panic, and an accepted stream re-encodes to the same bytes.
#![no_main]

use chanhub::wire::{bigsize, Reader, TlvStream, Writer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(stream) = TlvStream::decode(data) {
        let mut w = Writer::new();
        stream.write(&mut w);
        assert_eq!(w.finish().expect("tlv streams have no u16 prefixes"), data);
        // Whatever is left after the known types, the odd/even check must not panic either.
        let _ = stream.into_unknown_odd();
    }
    let mut r = Reader::new(data);
    if let Ok(v) = bigsize::read(&mut r) {
        let mut w = Writer::new();
        bigsize::write(&mut w, v);
        let used = data.len() - r.remaining();
        assert_eq!(w.finish().expect("no prefixes"), &data[..used]);
    }
});
