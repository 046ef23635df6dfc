//! BOLT 5 on-chain resolution, as pure functions: which transaction spent a channel's funding
//! output, and what we can take from it and how.
//!
//! The flow a monitor follows (see `channel-spec/onchain.md`):
//!
//! ```text
//!  funding output spent by tx
//!    -> classify(state, keys, tx)            Mutual | Local | RemoteCurrent | RemoteFuture
//!                                             | RemoteRevoked | Unknown
//!    -> claims(state, keys, &spend, tx, preimages)   one Claim per output we can take
//!    -> claim.spend(dest) / justice_tx(claims, dest)  signed transactions, once the timelocks allow
//!  one of our HTLC transactions confirmed     -> claim.second_stage(tx): its output after the delay
//!  the cheater's HTLC transaction confirmed   -> claims_for_second_stage(...): its output at once
//!  the peer took an HTLC with its preimage    -> preimages_in(tx, hashes)
//!  paying for all this                        -> fees::* (rates, fee inputs, CPFP, RBF, deadlines)
//! ```
//!
//! Nothing here does I/O or keeps state: the caller decides when to broadcast (each [`Claim`]
//! says from which block it is valid) and remembers what it already claimed.
//!
//! # Map
//! - [`mod@classify`]: recognising a funding spend ([`Spend`]).
//! - [`mod@claims`]: [`Claim`]s on our commitment, the peer's current one, a newer one (our
//!   state was behind: only `to_remote`) and a revoked one.
//! - [`justice`]: batching revoked outputs in one justice transaction; the cheater's HTLC
//!   transactions.
//! - [`fees`]: paying for claims at a rate: weights, wallet fee inputs for zero-fee HTLC
//!   transactions, CPFP through our [`anchor`], replacements, a deadline-driven rate.
//! - [`preimages`]: preimages the peer revealed on chain.

pub mod anchor;
pub mod claims;
pub mod classify;
pub mod fees;
pub mod justice;
pub mod preimages;

#[cfg(test)]
mod tests;

pub use anchor::{our_anchor, Anchor};
pub use claims::{claims, known_htlcs, revoked_claims, Claim, ClaimKind, KnownHtlc};
pub use classify::{classify, Spend};
pub use justice::{claims_for_second_stage, justice_tx, justice_tx_at_rate, justice_weight};
pub use preimages::preimages_in;

use crate::bolt3::Bolt3Error;
use crate::channel::ChannelError;

/// Why claims could not be listed or a claim could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OnchainError {
    /// The channel has no commitments (it never reached `funding_signed`): nothing to claim.
    #[error("the channel has no commitments")]
    NoCommitments,
    /// The `Spend` does not name a commitment of this state (e.g. a stale classification).
    #[error("commitment {number} is not in this channel state")]
    UnknownCommitment { number: u64 },
    /// The peer's secret for a commitment it has not revoked (or a wrong secret).
    #[error("no revocation secret for the peer's commitment {number}")]
    NotRevoked { number: u64 },
    /// The peer's HTLC signatures do not match our commitment's HTLC outputs.
    #[error("{expected} HTLC outputs but {got} HTLC signatures from the peer")]
    HtlcSignatureCount { expected: usize, got: usize },
    /// `justice_tx` takes revocation claims only.
    #[error("{kind:?} is not a revocation claim")]
    NotJustice { kind: ClaimKind },
    /// `justice_tx` with nothing to spend.
    #[error("no claims to spend")]
    NoClaims,
    /// A wallet input can only be attached to an HTLC transaction of an anchors channel.
    #[error("{kind:?} takes no fee input")]
    NoFeeInput { kind: ClaimKind },
    /// The wallet coin brought to pay a fee is worth less than the fee (plus a change output
    /// above dust, where one is needed).
    #[error("fee input of {available_sat} sat, {needed_sat} sat needed")]
    FeeInputTooSmall { needed_sat: u64, available_sat: u64 },
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error("bolt3: {0}")]
    Bolt3(#[from] Bolt3Error),
}
