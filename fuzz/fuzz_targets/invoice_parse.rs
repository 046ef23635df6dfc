//! BOLT 11 parsing: no string panics the parser, and an accepted invoice re-encodes to a
//! string that parses to the same invoice.
#![no_main]

use bitcoin::Network;
use chanhub::invoice::Invoice;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(inv) = Invoice::parse(s, Network::Bitcoin) {
        let again =
            Invoice::parse(&inv.to_string(), Network::Bitcoin).expect("our encoding parses");
        assert_eq!(again, inv);
    }
});
