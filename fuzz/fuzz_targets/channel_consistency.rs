//! Two channel machines driven by fuzz bytes: updates from both sides, reordered deliveries,
//! disconnects and crash-restarts. Any violated invariant panics.
#![no_main]

use chanhub::channel::testing::consistency::run_bytes;
use chanhub::channel::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let format = if first % 2 == 0 {
        Format::Anchors
    } else {
        Format::StaticRemoteKey
    };
    // Bound the run so each input stays fast.
    run_bytes(format, &rest[..rest.len().min(2_000)]);
});
