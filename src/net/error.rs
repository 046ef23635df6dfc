//! Typed errors of the peer manager: why a connection could not be set up, why an established
//! one ended, and why an operation on a peer failed.

use thiserror::Error;

use crate::transport::{HandshakeError, TransportError};
use crate::wire::{DecodeError, FeatureError};

/// Why a connection did not become an established peer.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SetupError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("connection lost during setup: {0}")]
    Io(#[from] std::io::Error),
    /// The responder hung up on our act one: it cannot decrypt it, so it is not the node we
    /// named.
    #[error("the peer closed the connection during the handshake (wrong node id?)")]
    HandshakeRefused,
    #[error("noise handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    #[error("no handshake and init within {0:?}")]
    Timeout(std::time::Duration),
    #[error("the first message was of type {0}, not init")]
    NotInit(u16),
    #[error("malformed init: {0}")]
    BadInit(DecodeError),
    #[error("incompatible features: {0}")]
    Features(#[from] FeatureError),
    #[error("the peer is not on our chain")]
    WrongChain,
    #[error("too many peers (limit {0})")]
    TooManyPeers(usize),
    #[error("too many connections in setup (limit {0})")]
    TooManyPending(usize),
    #[error("that is our own node id")]
    SelfConnect,
    #[error("the node is shutting down")]
    ShuttingDown,
}

impl SetupError {
    /// Whether the peer refused us or we refused it for what it said (as opposed to a network
    /// failure or a local limit).
    pub fn is_incompatible(&self) -> bool {
        matches!(
            self,
            SetupError::Features(_)
                | SetupError::WrongChain
                | SetupError::NotInit(_)
                | SetupError::BadInit(_)
        )
    }
}

/// Why an established connection ended.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CloseReason {
    #[error("the peer closed the connection")]
    PeerClosed,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    #[error("unknown even message type {0}")]
    UnknownEvenMessage(u16),
    #[error("malformed message: {0}")]
    Malformed(DecodeError),
    #[error("a second init")]
    DuplicateInit,
    #[error("no pong or other message within the pong timeout")]
    PongTimeout,
    #[error("the peer does not read: its outgoing queue stayed full")]
    SlowReader,
    #[error("replaced by a newer connection from the same node")]
    Replaced,
    #[error("disconnected on request")]
    Requested,
    #[error("the node is shutting down")]
    Shutdown,
}

impl CloseReason {
    /// Whether a persistent peer should be reconnected after this: not when we ended the
    /// connection on purpose or another connection took its place.
    pub fn wants_reconnect(&self) -> bool {
        !matches!(
            self,
            CloseReason::Replaced | CloseReason::Requested | CloseReason::Shutdown
        )
    }
}

/// Why an operation on a peer failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PeerError {
    #[error("not connected to {0}")]
    NotConnected(String),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("a ping to this peer is already in flight")]
    PingInFlight,
    #[error("no pong within {0:?}")]
    PingTimeout(std::time::Duration),
    #[error("the peer does not read: its outgoing queue stayed full")]
    SlowReader,
    #[error("store: {0}")]
    Store(String),
}
