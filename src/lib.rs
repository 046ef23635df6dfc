//! chanhub: a Lightning-compatible payment channel hub.
//!
//! # Layout
//! - [`chain`]: the chain seam ([`chain::ChainSource`]), the bitcoind JSON-RPC client, the embedded
//!   regtest node on Bitcoin Core's validation engine and its bitcoind-compatible RPC server.

pub mod chain;
