//! The event log: what the node reports to its API clients (`GET /v1/events`) and to
//! merchants' webhooks.
//!
//! ```text
//! state change --(same SQLite transaction)--> events row (+ one delivery row per webhook)
//!        commit
//!   publisher: reads the rows after the last one it broadcast --> live listeners (SSE)
//!                                                              --> wakes the delivery task
//! ```
//!
//! An event is written by [`EventLog::record`] inside the transaction of the change it
//! reports, so after a crash none is lost and none is invented. `record` wakes the publisher,
//! whose read needs the store's single connection and so runs only once that transaction has
//! committed (or rolled back, leaving nothing to read). Live listeners therefore only ever see
//! committed events, in id order, each with its id.
//!
//! Retention ([`run_retention`]): events older than [`RETENTION`]'s 90 days go, and beyond
//! its 1,000,000 newest rows, in small batches off the hot path; an event a webhook has yet
//! to receive is kept.

pub mod delivery;
pub mod signature;
mod types;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{broadcast, watch, Notify};

use crate::store::events::{self as q, Retention};
use crate::store::{Store, StoreError};
pub use types::{EventData, EventKind, LoggedEvent};

/// What the log keeps: 90 days, at most 1,000,000 events.
pub const RETENTION: Retention = Retention {
    max_age_secs: 90 * 86_400,
    max_rows: 1_000_000,
};
/// How often the retention task prunes.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Events deleted per transaction when pruning: small, so a channel write never waits long.
pub const PRUNE_BATCH: usize = 1000;
/// Live events a slow listener may fall behind by before it reads the rest from the log.
const LIVE_CAPACITY: usize = 1024;
/// How long the publisher waits for an open batch to commit before reading (which commits it).
const SETTLE_WAIT: Duration = Duration::from_millis(50);

/// Events the publisher reads at a time.
const PUBLISH_PAGE: usize = 512;

pub fn now_secs() -> u64 {
    crate::node::invoices::now_secs()
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The handle to the event log. Cheap to clone.
#[derive(Clone)]
pub struct EventLog {
    store: Store,
    live: broadcast::Sender<LoggedEvent>,
    /// Wakes the publisher: an event was written (its transaction may not have ended yet).
    written: Arc<Notify>,
    /// Wakes the webhook delivery task: events were committed.
    deliveries: Arc<Notify>,
    /// The last id broadcast; set from the log at start so old events are not broadcast again.
    published: Arc<AtomicU64>,
}

impl EventLog {
    /// Opens the log of `store`: live listeners hear of events written from now on.
    pub async fn open(store: Store) -> Result<EventLog, StoreError> {
        let (_, last) = store.call(q::bounds).await?;
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        Ok(EventLog {
            store,
            live,
            written: Arc::default(),
            deliveries: Arc::default(),
            published: Arc::new(AtomicU64::new(last.unwrap_or(0))),
        })
    }

    /// Writes `data` to the log inside `conn`'s transaction: the one of the state change it
    /// reports. It is broadcast once that transaction commits.
    pub fn record(&self, conn: &Connection, data: &EventData) -> Result<u64, StoreError> {
        let id = q::insert(conn, data, now_secs(), now_ms())?;
        self.written.notify_one();
        Ok(id)
    }

    /// Committed events from now on, each once, in id order. A receiver that lags reads what
    /// it missed from the log ([`EventLog::after`]).
    pub fn subscribe(&self) -> broadcast::Receiver<LoggedEvent> {
        self.live.subscribe()
    }

    /// Up to `limit` logged events after `id`, of `types` (all when empty).
    pub async fn after(
        &self,
        id: u64,
        limit: usize,
        types: Vec<EventKind>,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        self.store
            .call(move |c| q::after(c, id, limit, &types))
            .await
    }

    /// The oldest retained id and the last id given (see [`q::bounds`]).
    pub async fn bounds(&self) -> Result<(Option<u64>, Option<u64>), StoreError> {
        self.store.call(q::bounds).await
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What the webhook delivery task waits on.
    pub(crate) fn deliveries_wake(&self) -> Arc<Notify> {
        self.deliveries.clone()
    }

    /// Broadcasts committed events as they are written, until `shutdown`.
    pub async fn run_publisher(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => break,
                _ = self.written.notified() => {}
                // A safety net: a read that failed is tried again.
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            }
            // An event is usually written inside the channel manager's open batch: reading now
            // would commit that batch early (another fsync). Its own commit comes within
            // milliseconds; wait for it, but not forever.
            let _ = tokio::time::timeout(SETTLE_WAIT, self.store.settled()).await;
            if let Err(e) = self.publish().await {
                tracing::warn!(error = %e, "cannot read the event log; retrying");
            }
        }
    }

    /// Broadcasts every committed event after the last one broadcast.
    async fn publish(&self) -> Result<(), StoreError> {
        loop {
            let last = self.published.load(Ordering::Acquire);
            let page = self.after(last, PUBLISH_PAGE, Vec::new()).await?;
            let Some(newest) = page.last().map(|e| e.id) else {
                return Ok(());
            };
            let full = page.len() == PUBLISH_PAGE;
            for e in page {
                // No listener is not an error.
                let _ = self.live.send(e);
            }
            self.published.store(newest, Ordering::Release);
            self.deliveries.notify_one();
            if !full {
                return Ok(());
            }
        }
    }
}

/// Prunes the log every [`PRUNE_EVERY`] (and at start) by [`RETENTION`], in batches of
/// [`PRUNE_BATCH`] rows, each its own short transaction, until `shutdown`.
pub async fn run_retention(store: Store, mut shutdown: watch::Receiver<bool>) {
    loop {
        let mut total = 0;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let now = now_secs();
            match store
                .write(move |tx| q::prune(tx, RETENTION, now, PRUNE_BATCH))
                .await
            {
                Ok(n) => {
                    total += n;
                    if n < PRUNE_BATCH {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "pruning the event log failed");
                    break;
                }
            }
            // Let the writers that queued behind this batch go first.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if total > 0 {
            tracing::info!(events = total, "pruned old events");
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paid(n: u64) -> EventData {
        EventData::InvoicePaid {
            payment_hash: format!("{n:064x}"),
            amount_msat: n,
        }
    }

    #[tokio::test]
    async fn listeners_hear_committed_events_only_in_order_with_ids() {
        let store = Store::open_in_memory().unwrap();
        let log = EventLog::open(store.clone()).await.unwrap();
        let (_stop, stopped) = watch::channel(false);
        tokio::spawn(log.clone().run_publisher(stopped));
        let mut rx = log.subscribe();
        let l = log.clone();
        store
            .write(move |tx| {
                l.record(tx, &paid(1))?;
                l.record(tx, &paid(2))?;
                Ok(())
            })
            .await
            .unwrap();
        let l = log.clone();
        let rolled_back: Result<(), _> = store
            .write(move |tx| {
                l.record(tx, &paid(99))?;
                Err(StoreError::Corrupt("abort".into()))
            })
            .await;
        assert!(rolled_back.is_err());
        let l = log.clone();
        store
            .write(move |tx| l.record(tx, &paid(3)).map(|_| ()))
            .await
            .unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            let e = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .unwrap()
                .unwrap();
            got.push((e.id, e.data));
        }
        assert_eq!(got, [(1, paid(1)), (2, paid(2)), (3, paid(3))]);
        // Nothing else: the rolled-back event was never there.
        assert!(tokio::time::timeout(Duration::from_millis(200), rx.recv())
            .await
            .is_err());
    }

    #[tokio::test]
    async fn a_reopened_log_does_not_broadcast_old_events_again() {
        let store = Store::open_in_memory().unwrap();
        let log = EventLog::open(store.clone()).await.unwrap();
        let l = log.clone();
        store
            .write(move |tx| l.record(tx, &paid(1)).map(|_| ()))
            .await
            .unwrap();
        let log = EventLog::open(store.clone()).await.unwrap();
        let (_stop, stopped) = watch::channel(false);
        tokio::spawn(log.clone().run_publisher(stopped));
        let mut rx = log.subscribe();
        let l = log.clone();
        store
            .write(move |tx| l.record(tx, &paid(2)).map(|_| ()))
            .await
            .unwrap();
        let e = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(e.id, 2);
    }
}
