//! State-machine tests: two machines back to back (the harness is in `super::testing`).

mod consistency;
mod flows;
mod hostile;
mod onchain;
