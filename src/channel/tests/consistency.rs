//! The randomized consistency run with a fixed number of seeded cases; set
//! `CHANHUB_CONSISTENCY_CASES` for more.

use crate::channel::testing::consistency::run_bytes;
use crate::channel::Format;

/// xorshift64*: a tiny deterministic generator, so a failing case number reproduces.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

#[test]
fn random_updates_disconnects_and_crashes_stay_consistent() {
    let cases: u64 = std::env::var("CHANHUB_CONSISTENCY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let mut steps = 0;
    for case in 0..cases {
        let format = if case % 2 == 0 {
            Format::Anchors
        } else {
            Format::StaticRemoteKey
        };
        let input = bytes(case, 400);
        let result = std::panic::catch_unwind(|| run_bytes(format, &input).steps);
        match result {
            Ok(n) => steps += n,
            Err(e) => {
                eprintln!("consistency case {case} ({format:?}) failed");
                std::panic::resume_unwind(e);
            }
        }
    }
    assert_eq!(steps as u64, cases * 200);
}
