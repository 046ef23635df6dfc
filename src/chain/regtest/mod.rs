//! The embedded regtest node (being written).
pub mod standalone;
