//! BOLT 3: the on-chain transactions of a channel, as pure functions.
//!
//! Everything here is deterministic and free of I/O: given keys, balances, HTLCs and fee rates it
//! builds the exact transactions both peers must agree on byte for byte, because each signs the
//! other's copy. Our profile of BOLT 3 (what we support, and the choices we made where the spec
//! leaves room) is written down in `channel-spec/transactions.md`.
//!
//! # Map
//! - [`ChannelType`]: `option_anchors_zero_fee_htlc_tx` (our default) or `option_static_remotekey`;
//!   every type-dependent rule asks it.
//! - [`keys`]: basepoints and per-commitment key derivation (BOLT 3 "Key Derivation").
//! - [`secrets`]: per-commitment secret generation and compact storage.
//! - [`scripts`]: every witness script and output script.
//! - [`fees`]: expected weights, fees and trimming.
//! - [`funding`]: the 2-of-2 funding output and funding transaction.
//! - [`commitment`]: the commitment transaction from an owner-centric description.
//! - [`channel`]: the same, from one peer's fixed point of view (holder / counterparty).
//! - [`htlc_tx`]: second-stage HTLC-timeout and HTLC-success transactions.
//! - [`closing`]: the mutual close transaction.
//! - [`sign`]: sighashes, low-S signing and verification, and the [`sign::ChannelSigner`] seam.
//! - [`witness`]: witness stacks for every spend path.
//! - [`spend`]: fully signed single-input spends of every output we create.

pub mod channel;
pub mod closing;
pub mod commitment;
mod error;
pub mod fees;
pub mod funding;
pub mod htlc_tx;
pub mod keys;
pub mod scripts;
pub mod secrets;
pub mod sign;
pub mod spend;
mod types;
pub mod witness;

#[cfg(test)]
mod proptests;
#[cfg(test)]
pub(crate) mod testutil;
#[cfg(test)]
mod vectors;

pub use channel::{ChannelHtlc, ChannelParameters, CommitmentState, Side};
pub use closing::{build_closing_tx, ClosingDescription, ClosingTx};
pub use commitment::{build_commitment_tx, CommitmentDescription, CommitmentTx, Htlc};
pub use error::Bolt3Error;
pub use keys::{ChannelPublicKeys, ChannelSecrets, CommitmentKeys};
pub use secrets::{PerCommitmentSecrets, RevocationStore};
pub use sign::{ChannelSigner, InMemorySigner};
pub use types::{ChannelType, HtlcDirection, PaymentHash, PaymentPreimage};

use bitcoin::secp256k1::{All, Secp256k1};
use std::sync::OnceLock;

/// One shared secp256k1 context: creating one is expensive (precomputed tables).
pub(crate) fn secp() -> &'static Secp256k1<All> {
    static SECP: OnceLock<Secp256k1<All>> = OnceLock::new();
    SECP.get_or_init(Secp256k1::new)
}
