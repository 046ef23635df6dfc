//! The LSP specifications (bLIPs 50–52), pure: messages and rules in, answers and decisions
//! out. LSPS0 is the JSON-RPC transport over BOLT 8 message 37913; LSPS2 sells just-in-time
//! channels to wallets that arrive with no coins; LSPS1 sells a channel paid in advance.

pub mod jit;
pub mod lsps0;
pub mod lsps1;
pub mod lsps2;
pub mod service;
