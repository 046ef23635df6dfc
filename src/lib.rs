//! chanhub: a Lightning-compatible payment channel hub.
//!
//! # Layout
//! - [`chain`]: the chain seam ([`chain::ChainSource`]), the bitcoind JSON-RPC client, the embedded
//!   regtest node on Bitcoin Core's validation engine and its bitcoind-compatible RPC server.

pub mod api;
pub mod chain;
pub mod cli;
pub mod config;
pub mod error;
pub mod keys;
pub mod node;
pub mod store;
pub mod wallet;
