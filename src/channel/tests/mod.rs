//! State-machine tests: two machines back to back.

mod consistency;
mod flows;
pub mod harness;
mod hostile;
mod onchain;
