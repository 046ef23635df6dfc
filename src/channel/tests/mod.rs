//! State-machine tests: two machines back to back (the harness is in `super::testing`).

mod aliases;
mod consistency;
mod dust;
mod flows;
mod force;
mod hostile;
mod onchain;
mod queries;
mod restored;
mod shutdown;
mod zero_conf;
