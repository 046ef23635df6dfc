//! What can go wrong in the on-chain wallet.

use bitcoin::Network;

use crate::chain::ChainError;
use crate::keys::KeysError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error("not a Bitcoin address: {0}")]
    InvalidAddress(String),
    #[error("address is for {address_network}, this wallet is on {wallet_network}")]
    WrongNetwork {
        address_network: String,
        wallet_network: Network,
    },
    #[error("invalid amount: {0}")]
    InvalidAmount(String),
    #[error("amount {amount_sat} sat is below the dust limit {dust_limit_sat} sat of its script")]
    Dust {
        amount_sat: u64,
        dust_limit_sat: u64,
    },
    #[error("fee rate {0}")]
    InvalidFeeRate(String),
    #[error("insufficient funds: need {needed_sat} sat, {available_sat} sat spendable")]
    InsufficientFunds { needed_sat: u64, available_sat: u64 },
    #[error("cannot sign input {input}: {reason}")]
    Signing { input: usize, reason: String },
    /// A coin asked for by outpoint cannot be used to pay a fee.
    #[error("coin {outpoint} cannot pay a fee: {reason}")]
    CoinUnavailable {
        outpoint: bitcoin::OutPoint,
        reason: &'static str,
    },
}

impl From<WalletError> for crate::error::Error {
    fn from(e: WalletError) -> Self {
        use crate::error::Error;
        match e {
            WalletError::Chain(c) => c.into(),
            WalletError::InvalidAddress(m) => Error::InvalidAddress(m),
            WalletError::WrongNetwork {
                address_network,
                wallet_network,
            } => Error::WrongNetwork {
                address_network,
                node_network: wallet_network.to_string(),
            },
            WalletError::InvalidAmount(m) => Error::InvalidAmount(m),
            WalletError::Dust {
                amount_sat,
                dust_limit_sat,
            } => Error::AmountBelowDust {
                amount_sat,
                dust_limit_sat,
            },
            WalletError::InvalidFeeRate(m) => Error::InvalidFeeRate(m),
            WalletError::InsufficientFunds {
                needed_sat,
                available_sat,
            } => Error::InsufficientFunds {
                needed_sat,
                available_sat,
            },
            e @ (WalletError::Store(_)
            | WalletError::Keys(_)
            | WalletError::Signing { .. }
            | WalletError::CoinUnavailable { .. }) => Error::Internal(e.to_string()),
        }
    }
}
