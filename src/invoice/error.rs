//! Why an invoice cannot be created or accepted.

use bitcoin::Network;
use lightning_invoice::{
    Bolt11ParseError, Bolt11SemanticError, CreationError, ParseOrSemanticError,
};
use thiserror::Error;

/// Why a string is not an invoice we may pay, or why an invoice cannot be made.
///
/// Each variant is something a user or the paying code can act on; the codec's finer detail is
/// kept in the message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InvoiceError {
    /// Not bech32: bad checksum, no separator, mixed case, invalid characters, too long.
    #[error("not a valid bech32 invoice string: {0}")]
    Encoding(String),
    /// The human-readable part is not `ln` + a known currency + an optional amount.
    #[error("invalid invoice prefix: {0}")]
    Prefix(String),
    /// The amount multiplier is not one of `m`, `u`, `n`, `p`.
    #[error("unknown amount multiplier")]
    UnknownMultiplier,
    /// The amount is not a whole number of millisatoshis, or exceeds the bitcoin supply.
    #[error("amount is not a whole number of millisatoshis or is out of range")]
    InvalidAmount,
    /// The data part is too short to hold a timestamp and a signature.
    #[error("invoice data is too short")]
    TooShort,
    /// A tagged field is malformed.
    #[error("malformed invoice field: {0}")]
    Field(String),
    /// The signature does not verify, cannot recover a key, or is not canonical.
    #[error("invalid invoice signature")]
    InvalidSignature,
    /// No `s` field: BOLT 11 makes `payment_secret` mandatory.
    #[error("invoice has no payment secret")]
    MissingPaymentSecret,
    /// No `p` field.
    #[error("invoice has no payment hash")]
    MissingPaymentHash,
    /// Neither `d` nor `h`.
    #[error("invoice has no description")]
    MissingDescription,
    /// A field that may appear once appears twice, or both `d` and `h` are present.
    #[error("invoice repeats a unique field: {0}")]
    DuplicateField(&'static str),
    /// The invoice requires a feature we do not know.
    #[error("invoice requires unknown features")]
    UnknownRequiredFeature,
    /// The invoice is for another network.
    #[error("invoice is for {found}, we are on {expected}")]
    WrongNetwork { expected: Network, found: Network },
    /// Creation: the description is longer than 639 bytes, or similar limits.
    #[error("cannot create invoice: {0}")]
    Create(String),
}

impl From<Bolt11ParseError> for InvoiceError {
    fn from(e: Bolt11ParseError) -> Self {
        use Bolt11ParseError as P;
        match e {
            P::Bech32Error(err) => InvoiceError::Encoding(err.to_string()),
            P::UnknownSiPrefix => InvoiceError::UnknownMultiplier,
            P::BadPrefix | P::UnknownCurrency | P::MalformedHRP | P::ParseAmountError(_) => {
                InvoiceError::Prefix(e.to_string())
            }
            P::MalformedSignature(_) => InvoiceError::InvalidSignature,
            P::TooShortDataPart => InvoiceError::TooShort,
            P::IntegerOverflowError => InvoiceError::InvalidAmount,
            other => InvoiceError::Field(other.to_string()),
        }
    }
}

impl From<Bolt11SemanticError> for InvoiceError {
    fn from(e: Bolt11SemanticError) -> Self {
        use Bolt11SemanticError as S;
        match e {
            S::NoPaymentHash => InvoiceError::MissingPaymentHash,
            S::MultiplePaymentHashes => InvoiceError::DuplicateField("payment_hash"),
            S::NoDescription => InvoiceError::MissingDescription,
            S::MultipleDescriptions => InvoiceError::DuplicateField("description"),
            S::NoPaymentSecret => InvoiceError::MissingPaymentSecret,
            S::MultiplePaymentSecrets => InvoiceError::DuplicateField("payment_secret"),
            S::InvalidFeatures => InvoiceError::UnknownRequiredFeature,
            S::InvalidSignature => InvoiceError::InvalidSignature,
            S::ImpreciseAmount => InvoiceError::InvalidAmount,
        }
    }
}

impl From<ParseOrSemanticError> for InvoiceError {
    fn from(e: ParseOrSemanticError) -> Self {
        match e {
            ParseOrSemanticError::ParseError(p) => p.into(),
            ParseOrSemanticError::SemanticError(s) => s.into(),
        }
    }
}

impl From<CreationError> for InvoiceError {
    fn from(e: CreationError) -> Self {
        InvoiceError::Create(e.to_string())
    }
}
