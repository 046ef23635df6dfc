//! JSON-RPC errors with Bitcoin Core's codes (`src/rpc/protocol.h`).

use super::value::Json;
use crate::chain::regtest::RegtestError;

/// Bitcoin Core's RPC error codes that this server answers with.
pub mod codes {
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INTERNAL_ERROR: i64 = -32603;
    pub const PARSE_ERROR: i64 = -32700;
    pub const MISC_ERROR: i64 = -1;
    pub const TYPE_ERROR: i64 = -3;
    pub const INVALID_ADDRESS_OR_KEY: i64 = -5;
    pub const INVALID_PARAMETER: i64 = -8;
    pub const DESERIALIZATION_ERROR: i64 = -22;
    /// Also `RPC_VERIFY_ERROR`.
    pub const TRANSACTION_ERROR: i64 = -25;
    pub const TRANSACTION_REJECTED: i64 = -26;
    pub const TRANSACTION_ALREADY_IN_CHAIN: i64 = -27;
    pub const IN_WARMUP: i64 = -28;
}

/// A JSON-RPC error object: `{"code": …, "message": …}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_parameter(message: impl Into<String>) -> RpcError {
        RpcError::new(codes::INVALID_PARAMETER, message)
    }

    pub fn not_found(message: impl Into<String>) -> RpcError {
        RpcError::new(codes::INVALID_ADDRESS_OR_KEY, message)
    }

    pub fn misc(message: impl Into<String>) -> RpcError {
        RpcError::new(codes::MISC_ERROR, message)
    }

    pub fn method_not_found() -> RpcError {
        RpcError::new(codes::METHOD_NOT_FOUND, "Method not found")
    }

    pub fn to_json(&self) -> Json {
        Json::obj()
            .kv("code", self.code)
            .kv("message", self.message.as_str())
    }
}

impl From<RegtestError> for RpcError {
    fn from(e: RegtestError) -> RpcError {
        match e {
            RegtestError::BlockNotFound(_) => RpcError::not_found("Block not found"),
            RegtestError::BlockRejected(m) => RpcError::new(codes::TRANSACTION_ERROR, m),
            RegtestError::InvalidParameter(m) => RpcError::invalid_parameter(m),
            other => RpcError::new(codes::INTERNAL_ERROR, other.to_string()),
        }
    }
}
