//! chanhub: a Lightning-compatible payment channel hub.
//!
//! # Layout
//! - [`chain`]: the chain seam ([`chain::ChainSource`]), the bitcoind JSON-RPC client, the embedded
//!   regtest node on Bitcoin Core's validation engine and its bitcoind-compatible RPC server.
//! - [`wire`]: BOLT 1/2 message codecs: BigSize, TLV streams, feature bits, `init`/`ping`/
//!   `error`, every channel message, and the [`wire::Message`] enum.
//! - [`transport`]: BOLT 8 Noise_XK handshake and encrypted message framing, as pure state
//!   machines (bytes in, bytes out).

pub mod chain;
pub mod transport;
pub mod wire;
