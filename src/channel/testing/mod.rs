//! Test support: two machines back to back ([`harness`]) and the randomized consistency run
//! ([`consistency`]) that both the unit tests and the fuzz target drive. A violated invariant
//! panics.

pub mod consistency;
pub mod harness;
