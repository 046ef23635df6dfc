//! chanhub: a Lightning-compatible payment channel hub.
//!
//! # Layout
//! - [`chain`]: the chain seam ([`chain::ChainSource`]), the bitcoind JSON-RPC client, the embedded
//!   regtest node on Bitcoin Core's validation engine and its bitcoind-compatible RPC server.

pub mod chain;
pub mod config;
pub mod error;
pub mod keys;
pub mod store;
pub mod wallet;
