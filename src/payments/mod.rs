//! Payments through the hub: the records and the pure decisions (forwarding policy, checks at
//! the payee, multi-part sets and keysend, what a payment of ours does after each failure),
//! free of I/O. The node executes them in `node::channels` (the HTLC router) and
//! `node::payer`, and stores them in `store::payments` and `store::attempts`. Routes are
//! found by `crate::routing`.
//!
//! See `channel-spec/payments.md`.

pub mod types;

pub use types::{
    AttemptHop, AttemptRecord, FeePolicy, ForwardRecord, ForwardStatus, HtlcRef, InvoiceRecord,
    InvoiceStatus, PaymentRecord, PaymentStatus, SharedPolicy,
};

pub mod forward;
pub mod hold;
pub mod jamming;
pub mod keysend;
pub mod mpp;
pub mod receive;
pub mod session;
