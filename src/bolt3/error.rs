//! The one error type of the BOLT 3 module.

use thiserror::Error;

/// Why a BOLT 3 construction, derivation or signature check was refused.
///
/// Every bad input surfaces as one of these instead of a panic: these functions sit on the path
/// of data received from peers.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Bolt3Error {
    /// Commitment numbers (and secret indices) are 48-bit (BOLT 3 "Commitment Transaction").
    #[error("commitment number or secret index {0} does not fit in 48 bits")]
    NumberTooLarge(u64),
    /// `to_local + to_remote + HTLCs` must account for exactly the funding amount.
    #[error("balances add up to {total_msat} msat but the channel holds {funding_msat} msat")]
    BalanceMismatch { funding_msat: u64, total_msat: u64 },
    /// An amount sum overflowed 64 bits.
    #[error("amount overflow")]
    AmountOverflow,
    /// A tweak or key combination gave an invalid key (probability ~2^-128, or crafted input).
    #[error("key derivation produced an invalid key")]
    InvalidKeyDerivation,
    /// A 32-byte secret is not a valid secp256k1 scalar.
    #[error("secret is not a valid secp256k1 private key")]
    InvalidSecret,
    /// The secret does not derive the secrets already stored: it was not made from the same seed.
    #[error("per-commitment secret for index {index} is inconsistent with earlier secrets")]
    InconsistentSecret { index: u64 },
    /// Secrets must arrive in strictly descending index order, one at a time.
    #[error("expected the per-commitment secret for index {expected}, got index {got}")]
    UnexpectedSecretIndex { expected: u64, got: u64 },
    /// The store holds nothing from which this secret can be derived.
    #[error("per-commitment secret for index {0} has not been received")]
    UnknownSecret(u64),
    /// The HTLC index is not in the commitment's HTLC list.
    #[error("no HTLC at position {0}")]
    NoSuchHtlc(usize),
    /// The HTLC is trimmed: it has no output, so no second-stage transaction.
    #[error("HTLC at position {0} is trimmed and has no output")]
    HtlcTrimmed(usize),
    /// A fee exceeds the amount it should come out of.
    #[error("fee {fee_sat} sat exceeds the available {available_sat} sat")]
    FeeTooHigh { fee_sat: u64, available_sat: u64 },
    /// Computing a signature hash failed (input index out of range).
    #[error("cannot compute signature hash: {0}")]
    Sighash(String),
    /// Signatures must have low S (BIP 146 / standardness); high-S is refused outright.
    #[error("signature has a high S value")]
    HighS,
    /// The signature does not verify for this key and transaction.
    #[error("signature does not verify")]
    InvalidSignature,
    /// An HTLC-success transaction cannot be completed without the preimage.
    #[error("the preimage is required to complete an HTLC-success transaction")]
    MissingPreimage,
    /// The preimage does not hash to the HTLC's payment hash.
    #[error("preimage does not match the payment hash")]
    PreimageMismatch,
    /// Stored bytes do not decode.
    #[error("malformed {0} encoding")]
    BadEncoding(&'static str),
    /// A transaction passed in does not have the expected shape (inputs/outputs).
    #[error("unexpected transaction shape: {0}")]
    BadTransaction(&'static str),
}
