//! The Lightning peer manager (tokio): the peer port, outgoing connections, and one task per
//! established peer, over the pure [`crate::transport`] and [`crate::wire`] layers.
//!
//! # Layout
//! - [`manager`]: [`PeerManager`]: accept/connect, the peer table, limits, reconnection.
//! - [`handshake`]: the Noise acts and the `init` exchange over any byte stream.
//! - [`connection`]: one established connection: reader, writer, bounded queue.
//! - [`session`]: the per-connection protocol rules (ping/pong, unknown messages, `init`
//!   checks) as a pure state machine.
//! - [`handler`]: the [`PeerEventHandler`] seam the channel layer implements.
//! - [`limits`]: [`PeerLimits`] and the reconnection [`limits::Backoff`].
//! - [`error`]: why setup failed, why a connection ended, why an operation failed.
//!
//! Limits, timers and policies are described in `channel-spec/peers.md`.

pub mod connection;
pub mod error;
pub mod handler;
pub mod handshake;
pub mod limits;
pub mod manager;
pub mod session;

#[cfg(test)]
mod tests;

pub use error::{CloseReason, PeerError, SetupError};
pub use handler::{ConnId, Credit, LogAndDrop, PeerEventHandler};
pub use limits::PeerLimits;
pub use manager::{Direction, PeerManager, PeerSummary};

/// Resolves once the shutdown flag is set (or its sender is gone). The flag's guard is
/// dropped inside, so callers' futures stay `Send`.
pub(crate) async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}
