//! BOLT 4 onion routing for payments, as pure functions.
//!
//! - [`crypto`]: shared secrets, key derivation (`rho`, `mu`, `um`, `ammag`), blinding.
//! - [`packet`]: the sender builds the 1366-byte onion from a route ([`construct_onion`]).
//! - [`route`]: a payment's amounts and CLTVs per hop, from a route and the payee
//!   ([`build_payment_onion`]).
//! - [`process`]: a hop peels its layer ([`process_onion`]) and learns its
//!   [`HopPayload`], or returns a typed [`ProcessError`].
//! - [`payload`]: hop payload TLVs (`amt_to_forward`, `outgoing_cltv_value`,
//!   `short_channel_id`, `payment_data`).
//! - [`failure`]: failure codes and messages ([`FailureMessage`], [`OnionFailure`]).
//! - [`error_onion`]: error packets: create, forward, decrypt and attribute.
//! - [`attribution`]: attribution data: hold times and per-hop HMACs on failures and
//!   fulfills.
//! - [`replay`]: the [`ReplayGuard`] seam and an in-memory guard.
//!
//! The flow of one payment through the hub:
//!
//! ```text
//! alice: build_payment_onion([hub], bob) --update_add_htlc--> hub
//! hub:   process_onion -> Forward { scid, amt, cltv, next_packet }
//!        ReplayGuard::check_and_record(shared_secret, cltv_expiry) == Fresh
//!        (fee and CLTV policy) --update_add_htlc(next_packet)--> bob
//! bob:   process_onion -> Final { amt, cltv, payment_data }
//! on failure at bob: create_error_packet --> hub: forward_error_packet --> alice:
//!        decrypt_failure -> (hop 1, failure)
//! ```
//!
//! Nothing here panics on untrusted input; every decoder returns a typed error.

pub mod attribution;
pub mod crypto;
pub mod error;
pub mod error_onion;
pub mod failure;
pub mod packet;
pub mod payload;
pub mod process;
pub mod replay;
pub mod route;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod vectors;

pub use attribution::{
    attribute_fulfill, create_attributed_error, forward_attributed_error, read_failure_attribution,
    read_fulfill_attribution, Attribution, AttributionData, ATTRIBUTION_DATA_LEN,
};
pub use crypto::{hop_keys, HopKeys, SharedSecret};
pub use error::OnionError;
pub use error_onion::{
    create_error_packet, decrypt_failure, forward_error_packet, AttributedFailure, ErrorPacket,
    ErrorPacketError,
};
pub use failure::{failure_from_malformed, sha256_of_onion, FailureMessage, OnionFailure};
pub use packet::{construct_onion, OnionHop, SentOnion};
pub use payload::{
    FinalPayload, ForwardPayload, HopPayload, PaymentData, PaymentSecret, KEYSEND_PREIMAGE_TYPE,
};
pub use process::{
    peel, process_onion, MalformedKind, MalformedOnion, Peeled, ProcessError, Processed,
};
pub use replay::{MemoryReplayGuard, ReplayCheck, ReplayGuard, ReplayKey};
pub use route::{build_payment_onion, ForwardingHop, PaymentOnion, Recipient};
