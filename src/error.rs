//! The one flat error enum at the API edge.
//!
//! Every failure a caller of the HTTP API (or the CLI on top of it) can see is one of these
//! variants. Each has a stable machine-readable [`Error::code`] and an HTTP status
//! ([`Error::http_status`]); the JSON body is `{"error": {"code": "...", "message": "..."}}`.
//! Inner modules keep their own small typed errors and convert into this enum at the edge, so
//! callers get outcomes they can act on, not our internals.
//!
//! | code | status | meaning |
//! |---|---|---|
//! | `unauthorized` | 401 | missing or wrong `Authorization: Bearer` token |
//! | `forbidden` | 403 | the token may not do this (`api-token-invoice` outside the invoice routes) |
//! | `invalid_request` | 400 | malformed JSON, missing or mistyped field |
//! | `payload_too_large` | 413 | request body over the limit |
//! | `not_found` | 404 | no such endpoint (or not served by this node's chain) |
//! | `method_not_allowed` | 405 | endpoint exists, method does not |
//! | `invalid_address` | 400 | not a Bitcoin address |
//! | `wrong_network` | 400 | address of another network |
//! | `invalid_amount` | 400 | zero or more than 21M BTC |
//! | `amount_below_dust` | 400 | output would be dust for that address type |
//! | `invalid_fee_rate` | 400 | fee rate out of range |
//! | `insufficient_funds` | 422 | not enough spendable coins for amount + fee |
//! | `transaction_rejected` | 422 | the chain refused our transaction |
//! | `chain_unavailable` | 503 | the chain source cannot be reached now; retry |
//! | `invalid_node_id` | 400 | not a 33-byte compressed public key in hex, or our own |
//! | `peer_not_connected` | 404 | no connection to that node (nor remembered, for `DELETE`) |
//! | `peer_busy` | 409 | a ping to that peer is already in flight |
//! | `peer_incompatible` | 422 | the peer or we refused the other's `init` (features, chain) |
//! | `peer_unreachable` | 502 | TCP connect or the Noise handshake failed, or setup timed out |
//! | `too_many_peers` | 503 | the peer limit or the pool of connections in setup is full |
//! | `peer_timeout` | 504 | no pong in time, or the peer stopped reading and was dropped |
//! | `channel_not_found` | 404 | no channel with that id |
//! | `invalid_channel_parameters` | 400 | capacity, push or another open parameter outside our limits |
//! | `channel_refused` | 409 | the channel cannot do that now (state, limits, balance); the message says why |
//! | `channel_open_failed` | 422 | the peer refused or abandoned the open, or the funding failed |
//! | `invalid_invoice` | 400 | not a BOLT 11 invoice we can pay: unparsable, bad signature, another network |
//! | `invoice_not_found` | 404 | no invoice of ours with that payment hash |
//! | `payment_not_found` | 404 | no payment of ours with that payment hash |
//! | `webhook_not_found` | 404 | no webhook with that id |
//! | `invoice_expired` | 422 | the invoice expired before the payment could start |
//! | `no_route` | 422 | the payee is not reachable over our channels or the invoice's route hints |
//! | `insufficient_liquidity` | 422 | no channel on the route can carry the amount and fees now |
//! | `not_implemented` | 501 | a feature of a later release (force close) |
//! | `shutting_down` | 503 | the node is stopping |
//! | `internal` | 500 | a bug or a local failure (disk); see the node's log |

use crate::chain::ChainError;
use crate::net::{PeerError, SetupError};

/// An outcome the API user can act on. See the module docs for codes and statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("missing or wrong API token")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("invalid address: {0}")]
    InvalidAddress(String),
    #[error("address is for {address_network}, this node runs on {node_network}")]
    WrongNetwork {
        address_network: String,
        node_network: String,
    },
    #[error("invalid amount: {0}")]
    InvalidAmount(String),
    #[error(
        "amount {amount_sat} sat is below the dust limit of {dust_limit_sat} sat for this address"
    )]
    AmountBelowDust {
        amount_sat: u64,
        dust_limit_sat: u64,
    },
    #[error("invalid fee rate: {0}")]
    InvalidFeeRate(String),
    #[error(
        "insufficient funds: need {needed_sat} sat (amount and fee), {available_sat} sat spendable"
    )]
    InsufficientFunds { needed_sat: u64, available_sat: u64 },
    #[error("transaction rejected by the chain: {0}")]
    TransactionRejected(String),
    #[error("chain source unavailable: {0}")]
    ChainUnavailable(String),
    #[error("invalid node id: {0}")]
    InvalidNodeId(String),
    #[error("{0}")]
    PeerNotConnected(String),
    #[error("{0}")]
    PeerBusy(String),
    #[error("peer incompatible: {0}")]
    PeerIncompatible(String),
    #[error("peer unreachable: {0}")]
    PeerUnreachable(String),
    #[error("{0}")]
    TooManyPeers(String),
    #[error("peer timeout: {0}")]
    PeerTimeout(String),
    #[error("{0}")]
    ChannelNotFound(String),
    #[error("invalid channel parameters: {0}")]
    InvalidChannelParameters(String),
    #[error("channel refused: {0}")]
    ChannelRefused(String),
    #[error("channel open failed: {0}")]
    ChannelOpenFailed(String),
    #[error("invalid invoice: {0}")]
    InvalidInvoice(String),
    #[error("{0}")]
    InvoiceNotFound(String),
    #[error("{0}")]
    PaymentNotFound(String),
    #[error("{0}")]
    WebhookNotFound(String),
    #[error("invoice expired: {0}")]
    InvoiceExpired(String),
    #[error("no route: {0}")]
    NoRoute(String),
    #[error("insufficient liquidity: {0}")]
    InsufficientLiquidity(String),
    #[error("not implemented: {0}")]
    NotImplemented(String),
    #[error("the node is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Every [`Error::code`], in the order of the table above (`openapi.yaml` lists them as
    /// the error code's `enum`; the conformance test compares the two).
    pub const CODES: &'static [&'static str] = &[
        "unauthorized",
        "forbidden",
        "invalid_request",
        "payload_too_large",
        "not_found",
        "method_not_allowed",
        "invalid_address",
        "wrong_network",
        "invalid_amount",
        "amount_below_dust",
        "invalid_fee_rate",
        "insufficient_funds",
        "transaction_rejected",
        "chain_unavailable",
        "invalid_node_id",
        "peer_not_connected",
        "peer_busy",
        "peer_incompatible",
        "peer_unreachable",
        "too_many_peers",
        "peer_timeout",
        "channel_not_found",
        "invalid_channel_parameters",
        "channel_refused",
        "channel_open_failed",
        "invalid_invoice",
        "invoice_not_found",
        "payment_not_found",
        "webhook_not_found",
        "invoice_expired",
        "no_route",
        "insufficient_liquidity",
        "not_implemented",
        "shutting_down",
        "internal",
    ];

    /// The stable machine-readable code, `snake_case`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthorized => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::InvalidRequest(_) => "invalid_request",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::NotFound(_) => "not_found",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::InvalidAddress(_) => "invalid_address",
            Error::WrongNetwork { .. } => "wrong_network",
            Error::InvalidAmount(_) => "invalid_amount",
            Error::AmountBelowDust { .. } => "amount_below_dust",
            Error::InvalidFeeRate(_) => "invalid_fee_rate",
            Error::InsufficientFunds { .. } => "insufficient_funds",
            Error::TransactionRejected(_) => "transaction_rejected",
            Error::ChainUnavailable(_) => "chain_unavailable",
            Error::InvalidNodeId(_) => "invalid_node_id",
            Error::PeerNotConnected(_) => "peer_not_connected",
            Error::PeerBusy(_) => "peer_busy",
            Error::PeerIncompatible(_) => "peer_incompatible",
            Error::PeerUnreachable(_) => "peer_unreachable",
            Error::TooManyPeers(_) => "too_many_peers",
            Error::PeerTimeout(_) => "peer_timeout",
            Error::ChannelNotFound(_) => "channel_not_found",
            Error::InvalidChannelParameters(_) => "invalid_channel_parameters",
            Error::ChannelRefused(_) => "channel_refused",
            Error::ChannelOpenFailed(_) => "channel_open_failed",
            Error::InvalidInvoice(_) => "invalid_invoice",
            Error::InvoiceNotFound(_) => "invoice_not_found",
            Error::PaymentNotFound(_) => "payment_not_found",
            Error::WebhookNotFound(_) => "webhook_not_found",
            Error::InvoiceExpired(_) => "invoice_expired",
            Error::NoRoute(_) => "no_route",
            Error::InsufficientLiquidity(_) => "insufficient_liquidity",
            Error::NotImplemented(_) => "not_implemented",
            Error::ShuttingDown => "shutting_down",
            Error::Internal(_) => "internal",
        }
    }

    /// The HTTP status this outcome is served with.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Unauthorized => 401,
            Error::Forbidden(_) => 403,
            Error::InvalidRequest(_)
            | Error::InvalidAddress(_)
            | Error::WrongNetwork { .. }
            | Error::InvalidAmount(_)
            | Error::AmountBelowDust { .. }
            | Error::InvalidFeeRate(_)
            | Error::InvalidNodeId(_)
            | Error::InvalidChannelParameters(_)
            | Error::InvalidInvoice(_) => 400,
            Error::NotFound(_)
            | Error::PeerNotConnected(_)
            | Error::ChannelNotFound(_)
            | Error::InvoiceNotFound(_)
            | Error::PaymentNotFound(_)
            | Error::WebhookNotFound(_) => 404,
            Error::MethodNotAllowed => 405,
            Error::PeerBusy(_) | Error::ChannelRefused(_) => 409,
            Error::PayloadTooLarge { .. } => 413,
            Error::InsufficientFunds { .. }
            | Error::TransactionRejected(_)
            | Error::PeerIncompatible(_)
            | Error::ChannelOpenFailed(_)
            | Error::InvoiceExpired(_)
            | Error::NoRoute(_)
            | Error::InsufficientLiquidity(_) => 422,
            Error::Internal(_) => 500,
            Error::NotImplemented(_) => 501,
            Error::PeerUnreachable(_) => 502,
            Error::ChainUnavailable(_) | Error::TooManyPeers(_) | Error::ShuttingDown => 503,
            Error::PeerTimeout(_) => 504,
        }
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<crate::invoice::InvoiceError> for Error {
    /// Every reason an invoice is refused (encoding, signature, fields, network) is something
    /// the payer must fix in the invoice they were given.
    fn from(e: crate::invoice::InvoiceError) -> Self {
        Error::InvalidInvoice(e.to_string())
    }
}

impl From<ChainError> for Error {
    fn from(e: ChainError) -> Self {
        match e {
            ChainError::Transient(m) => Error::ChainUnavailable(m),
            ChainError::Rejected { reason, .. } => Error::TransactionRejected(reason),
            ChainError::Permanent(m) => Error::Internal(format!("chain source: {m}")),
        }
    }
}

impl From<PeerError> for Error {
    fn from(e: PeerError) -> Self {
        let text = e.to_string();
        match e {
            PeerError::NotConnected(_) => Error::PeerNotConnected(text),
            PeerError::PingInFlight => Error::PeerBusy(text),
            PeerError::PingTimeout(_) | PeerError::SlowReader => Error::PeerTimeout(text),
            PeerError::Store(_) => Error::Internal(text),
            PeerError::Setup(s) => match s {
                SetupError::SelfConnect => Error::InvalidNodeId(text),
                SetupError::TooManyPeers(_) | SetupError::TooManyPending(_) => {
                    Error::TooManyPeers(text)
                }
                SetupError::ShuttingDown => Error::ShuttingDown,
                s if s.is_incompatible() => Error::PeerIncompatible(text),
                _ => Error::PeerUnreachable(text),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case() {
        let all = [
            Error::Unauthorized,
            Error::Forbidden(String::new()),
            Error::InvalidRequest(String::new()),
            Error::PayloadTooLarge { limit: 1 },
            Error::NotFound(String::new()),
            Error::MethodNotAllowed,
            Error::InvalidAddress(String::new()),
            Error::WrongNetwork {
                address_network: String::new(),
                node_network: String::new(),
            },
            Error::InvalidAmount(String::new()),
            Error::AmountBelowDust {
                amount_sat: 1,
                dust_limit_sat: 2,
            },
            Error::InvalidFeeRate(String::new()),
            Error::InsufficientFunds {
                needed_sat: 1,
                available_sat: 0,
            },
            Error::TransactionRejected(String::new()),
            Error::ChainUnavailable(String::new()),
            Error::InvalidNodeId(String::new()),
            Error::PeerNotConnected(String::new()),
            Error::PeerBusy(String::new()),
            Error::PeerIncompatible(String::new()),
            Error::ChannelNotFound(String::new()),
            Error::InvalidChannelParameters(String::new()),
            Error::ChannelRefused(String::new()),
            Error::ChannelOpenFailed(String::new()),
            Error::InvalidInvoice(String::new()),
            Error::InvoiceNotFound(String::new()),
            Error::PaymentNotFound(String::new()),
            Error::WebhookNotFound(String::new()),
            Error::InvoiceExpired(String::new()),
            Error::NoRoute(String::new()),
            Error::InsufficientLiquidity(String::new()),
            Error::NotImplemented(String::new()),
            Error::PeerUnreachable(String::new()),
            Error::TooManyPeers(String::new()),
            Error::PeerTimeout(String::new()),
            Error::ShuttingDown,
            Error::Internal(String::new()),
        ];
        let mut codes: Vec<_> = all.iter().map(|e| e.code()).collect();
        assert!(codes
            .iter()
            .all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')));
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        let mut listed = Error::CODES.to_vec();
        listed.sort();
        assert_eq!(codes, listed, "Error::CODES lists every code once");
        assert!(all.iter().all(|e| (400..600).contains(&e.http_status())));
    }

    #[test]
    fn payment_outcomes_have_their_statuses() {
        assert_eq!(Error::InvalidInvoice(String::new()).http_status(), 400);
        assert_eq!(Error::InvoiceNotFound(String::new()).http_status(), 404);
        assert_eq!(Error::PaymentNotFound(String::new()).http_status(), 404);
        for e in [
            Error::InvoiceExpired(String::new()),
            Error::NoRoute(String::new()),
            Error::InsufficientLiquidity(String::new()),
        ] {
            assert_eq!(e.http_status(), 422, "{e:?}");
        }
        let wrong = Error::from(crate::invoice::InvoiceError::WrongNetwork {
            expected: bitcoin::Network::Regtest,
            found: bitcoin::Network::Bitcoin,
        });
        assert_eq!(wrong.code(), "invalid_invoice");
        assert!(wrong.to_string().contains("bitcoin"), "{wrong}");
    }

    #[test]
    fn chain_errors_map_to_actionable_outcomes() {
        assert_eq!(
            Error::from(ChainError::Transient("down".into())).code(),
            "chain_unavailable"
        );
        let rejected = Error::from(ChainError::Rejected {
            code: -26,
            reason: "min relay fee not met".into(),
        });
        assert_eq!(rejected.code(), "transaction_rejected");
        assert!(rejected.to_string().contains("min relay fee not met"));
    }

    #[test]
    fn peer_errors_map_to_actionable_outcomes() {
        let code = |e: PeerError| Error::from(e).code();
        assert_eq!(
            code(PeerError::NotConnected("x".into())),
            "peer_not_connected"
        );
        assert_eq!(code(PeerError::PingInFlight), "peer_busy");
        assert_eq!(code(SetupError::WrongChain.into()), "peer_incompatible");
        assert_eq!(code(SetupError::TooManyPending(1).into()), "too_many_peers");
        assert_eq!(code(SetupError::SelfConnect.into()), "invalid_node_id");
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let connect = SetupError::Connect {
            addr: "127.0.0.1:1".into(),
            source: refused,
        };
        assert_eq!(code(connect.into()), "peer_unreachable");
    }
}
