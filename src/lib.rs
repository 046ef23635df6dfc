//! chanhub: a Lightning-compatible payment channel hub.
//!
//! # Layout
//! - [`chain`]: the chain seam ([`chain::ChainSource`]), the bitcoind JSON-RPC client, the embedded
//!   regtest node on Bitcoin Core's validation engine and its bitcoind-compatible RPC server.
//! - [`bolt3`]: BOLT 3 channel transactions: keys, secrets, scripts, commitment, HTLC and closing
//!   transactions, witnesses and signing, as pure functions.

pub mod bolt3;
pub mod chain;
