//! The Lightning peer port. Bound now so the address is real and stable; until the BOLT 8
//! peer manager arrives, connections are accepted and closed.

use tokio::net::TcpListener;
use tokio::sync::watch;

/// Accepts and closes connections until `shutdown` flips.
pub async fn run(listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    tracing::debug!(%addr, "peer connection closed: peer protocol not served yet");
                    drop(stream);
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a peer connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }
}
