//! Compatibility servers: other nodes' APIs answered by chanhub, so tools written for them
//! work unchanged.
//!
//! - [`phoenixd`]: ACINQ phoenixd's HTTP API (`--compat-phoenixd ADDR`), the funding source
//!   LNbits and BTCPay Server speak; see `channel-spec/compat-phoenixd.md`.

pub mod phoenixd;
