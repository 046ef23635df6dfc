//! BOLT 11 invoices: what a payee hands the payer, signed by the payee's node key.
//!
//! - [`Invoice::create`] builds and signs one from [`InvoiceParams`];
//! - [`Invoice::parse`] checks bech32, fields, signature, required features and network, and
//!   gives the paying code what it needs: payee, amount, payment hash and secret, route hints,
//!   final CLTV delta, features, timestamp and expiry ([`Invoice::is_expired`]).
//!
//! The codec is the `lightning-invoice` crate; this module is the small API the hub uses, in
//! the crate's own types, with one flat [`InvoiceError`].

pub mod error;
#[allow(clippy::module_inception)]
pub mod invoice;
pub mod types;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;

pub use error::InvoiceError;
pub use invoice::Invoice;
pub use types::{
    InvoiceDescription, InvoiceParams, RouteHint, RouteHintHop, DEFAULT_EXPIRY_SECS,
    DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA,
};
