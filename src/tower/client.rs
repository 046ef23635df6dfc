//! The node's side: drain the `tower_uploads` queue to the configured tower over one BOLT 8
//! connection.
//!
//! Blobs are queued by the channel manager in the same store write as the state that holds the
//! revocation (`store::tower`), so whatever the node knows is revoked is in the queue, across
//! crashes. This task sends the oldest pending blobs in batches, reads one `tower_ack` per
//! upload (in order), and marks the stored ones in one write. A blob is removed from the queue
//! only once the tower said it stored it; anything else (tower down, connection lost, a
//! refusal) leaves it queued and the task tries again after a back-off: 1 s doubling to 5 min,
//! with up to 25 % jitter, back to 1 s after a success.

use std::sync::Arc;
use std::time::Duration;

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::SecretKey;
use rand::Rng;
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};

use super::conn::{Conn, ConnError};
use super::wire::{AckCode, TowerMessage, TowerUpload};
use super::TowerAddr;
use crate::store::tower::{self as q, PendingUpload};
use crate::store::{Store, StoreError};
use crate::wire::{Message, WireMessage};

/// How the client behaves.
#[derive(Clone)]
pub struct ClientConfig {
    /// Our node key: the tower counts our blobs under its public key.
    pub key: SecretKey,
    pub tower: TowerAddr,
    pub chain: ChainHash,
    /// Uploads sent before waiting for their acks.
    pub batch: usize,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// For the handshake, and for each batch's acks.
    pub timeout: Duration,
    /// How often the queue is looked at without being woken.
    pub idle_poll: Duration,
    /// An idle connection is closed after this (the tower closes silent clients after 5 min);
    /// the next upload dials again.
    pub idle_close: Duration,
}

impl ClientConfig {
    pub fn new(key: SecretKey, tower: TowerAddr, chain: ChainHash) -> Self {
        ClientConfig {
            key,
            tower,
            chain,
            batch: 32,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            timeout: Duration::from_secs(30),
            idle_poll: Duration::from_secs(10),
            idle_close: Duration::from_secs(120),
        }
    }
}

/// Why a batch did not get through.
#[derive(Debug, thiserror::Error)]
enum BatchError {
    #[error("cannot reach the tower: {0}")]
    Setup(#[from] crate::net::SetupError),
    #[error("connection to the tower: {0}")]
    Conn(#[from] ConnError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the tower broke the protocol: {0}")]
    Protocol(String),
    #[error("the tower refused us: {0}")]
    Warned(String),
    #[error("the tower refused an upload ({code:?}): {message}")]
    Refused { code: AckCode, message: String },
}

/// Runs until `shutdown` flips. `wake` is notified whenever blobs are queued.
pub async fn run(
    cfg: ClientConfig,
    store: Store,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conn: Option<Conn<TcpStream>> = None;
    let mut delay = cfg.backoff_min;
    let mut failing = false;
    let mut last_used = tokio::time::Instant::now();
    loop {
        let limit = cfg.batch;
        let batch = match store.call(move |c| q::pending(c, limit)).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "tower client: cannot read the upload queue");
                Vec::new()
            }
        };
        let pause = if batch.is_empty() {
            if conn.is_some() && last_used.elapsed() >= cfg.idle_close {
                if let Some(c) = conn.take() {
                    c.close().await;
                }
            }
            cfg.idle_poll
        } else {
            last_used = tokio::time::Instant::now();
            match send_batch(&cfg, &store, &mut conn, &batch).await {
                Ok(()) => {
                    if failing {
                        tracing::info!(tower = %cfg.tower, "tower client: uploads flowing again");
                    }
                    failing = false;
                    delay = cfg.backoff_min;
                    continue;
                }
                Err(e) => {
                    conn = None;
                    // Say it once per outage, not at every retry.
                    if !failing || matches!(e, BatchError::Refused { .. } | BatchError::Warned(_)) {
                        tracing::warn!(tower = %cfg.tower, error = %e, pending = batch.len(),
                            "tower client: uploads wait; retrying");
                    }
                    failing = true;
                    let wait = jittered(delay);
                    delay = (delay * 2).min(cfg.backoff_max);
                    wait
                }
            }
        };
        tokio::select! {
            _ = crate::net::stopped(&mut shutdown) => return,
            // While backing off, a new blob does not shorten the wait.
            _ = wake.notified(), if !failing => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

fn jittered(d: Duration) -> Duration {
    d + d.mul_f64(rand::thread_rng().gen_range(0.0..0.25))
}

async fn send_batch(
    cfg: &ClientConfig,
    store: &Store,
    conn: &mut Option<Conn<TcpStream>>,
    batch: &[PendingUpload],
) -> Result<(), BatchError> {
    let c = match conn {
        Some(c) => c,
        None => {
            let c = Conn::connect(
                &cfg.tower.addr,
                cfg.key,
                cfg.tower.node_id,
                cfg.chain,
                cfg.timeout,
            )
            .await?;
            tracing::info!(tower = %cfg.tower, "tower client: connected");
            conn.insert(c)
        }
    };
    for u in batch {
        let m = TowerUpload::new(u.hint, u.blob.clone())
            .encode()
            .map_err(|e| BatchError::Protocol(format!("cannot encode an upload: {e}")))?;
        c.send(&m).await?;
    }
    let mut stored = Vec::with_capacity(batch.len());
    let mut refused = None;
    let mut remaining = None;
    let mut acks = 0;
    while acks < batch.len() {
        let bytes = tokio::time::timeout(cfg.timeout, c.recv())
            .await
            .map_err(|_| ConnError::Timeout(cfg.timeout))??;
        let ack = match TowerMessage::decode(&bytes) {
            Ok(TowerMessage::Ack(a)) => a,
            Ok(TowerMessage::Other(m)) => match *m {
                // The tower does not serve us (not on its list, or our blobs were bad).
                Message::Warning(w) => {
                    return Err(BatchError::Warned(
                        w.0.printable_data().unwrap_or("<binary>").to_string(),
                    ))
                }
                // Pings from a tower, unknown odd types: nothing to do.
                _ => continue,
            },
            Ok(TowerMessage::Upload(_)) => continue,
            Err(e) => return Err(BatchError::Protocol(e.to_string())),
        };
        let u = &batch[acks];
        acks += 1;
        if ack.hint != u.hint {
            return Err(BatchError::Protocol(format!(
                "ack for {} where {} was expected",
                ack.hint, u.hint
            )));
        }
        match ack.code {
            AckCode::Stored => {
                stored.push(u.id);
                remaining = ack.remaining.or(remaining);
            }
            code => {
                refused.get_or_insert(BatchError::Refused {
                    code,
                    message: ack.message.unwrap_or_default(),
                });
            }
        }
    }
    let n = stored.len();
    store
        .write(move |c| {
            for id in stored {
                q::acknowledge(c, id)?;
            }
            Ok(())
        })
        .await?;
    if n > 0 {
        tracing::info!(tower = %cfg.tower, stored = n, ?remaining, "tower client: blobs stored");
    }
    match refused {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tower::blob::{seal, Hint};
    use crate::tower::clients::Access;
    use crate::tower::server::{serve, ServerConfig};
    use crate::tower::store::{Quota, MIGRATIONS};
    use bitcoin::hashes::Hash;
    use bitcoin::secp256k1::{PublicKey, Secp256k1};

    fn key(b: u8) -> SecretKey {
        SecretKey::from_slice(&[b; 32]).unwrap()
    }

    /// A node with one revoked state queued, uploading to a tower that serves `access`; the
    /// node's backlog after the client had time for several attempts.
    async fn backlog_after_uploading(access: Access) -> u64 {
        let tower_store = Store::open_in_memory_with_schema(MIGRATIONS).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, shutdown) = watch::channel(false);
        let cfg = ServerConfig::new(key(9), ChainHash::REGTEST, access, Quota::default());
        let tower = tokio::spawn(serve(listener, cfg, tower_store, shutdown.clone()));

        let node = Store::open_in_memory().unwrap();
        let breach = bitcoin::Txid::from_byte_array([4; 32]);
        let tx = bitcoin::Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![],
            output: vec![],
        };
        let blob = seal(&breach, &tx).unwrap();
        node.write(move |c| q::enqueue(c, 0, 1, &Hint::of(&breach), &blob))
            .await
            .unwrap();
        let tower_id = key(9).public_key(&Secp256k1::new());
        let mut cfg = ClientConfig::new(
            key(1),
            format!("{tower_id}@{addr}").parse().unwrap(),
            ChainHash::REGTEST,
        );
        cfg.backoff_min = Duration::from_millis(20);
        cfg.backoff_max = Duration::from_millis(50);
        cfg.idle_poll = Duration::from_millis(20);
        let client = tokio::spawn(run(cfg, node.clone(), Arc::default(), shutdown));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        let mut left = 1;
        while left > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            left = node.call(q::backlog).await.unwrap();
        }
        stop.send(true).unwrap();
        client.await.unwrap();
        tower.await.unwrap();
        left
    }

    #[tokio::test]
    async fn a_tower_that_does_not_list_us_leaves_our_blobs_queued() {
        let us: PublicKey = key(1).public_key(&Secp256k1::new());
        assert_eq!(
            backlog_after_uploading(Access::Listed([us].into())).await,
            0
        );
        assert_eq!(backlog_after_uploading(Access::Public).await, 0);
        let other = key(2).public_key(&Secp256k1::new());
        assert_eq!(
            backlog_after_uploading(Access::Listed([other].into())).await,
            1,
            "refused, and kept for a tower that serves us"
        );
    }
}
