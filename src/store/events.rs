//! The `events` table: the node's event log (schema version 6).
//!
//! [`insert`] takes the caller's transaction, so an event is committed with the state change
//! it reports, together with one `webhook_deliveries` row per webhook subscribed to its type.
//! Ids come from `AUTOINCREMENT`: strictly increasing and never reused, even after pruning.
//! The node has one connection and one writer at a time, so ids also commit in order: a
//! reader that saw id N never later finds a new event below N.

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use super::StoreError;
use crate::events::{EventData, EventKind, LoggedEvent};

fn int(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} is beyond 2^63")))
}

fn event_of(r: &Row) -> rusqlite::Result<LoggedEvent> {
    let id: i64 = r.get(0)?;
    let created_at: i64 = r.get(1)?;
    let data: String = r.get(2)?;
    let data: EventData = serde_json::from_str(&data).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(LoggedEvent {
        id: id as u64,
        created_at: created_at.max(0) as u64,
        data,
    })
}

/// Logs `data` at `now` (Unix seconds) and queues its webhook deliveries, due at once
/// (`now_ms`). Returns the event's id.
pub fn insert(
    conn: &Connection,
    data: &EventData,
    now: u64,
    now_ms: u64,
) -> Result<u64, StoreError> {
    let kind = data.kind().as_str();
    let json =
        serde_json::to_string(data).map_err(|e| StoreError::Corrupt(format!("event JSON: {e}")))?;
    conn.prepare_cached("INSERT INTO events (type, created_at, data) VALUES (?1, ?2, ?3)")?
        .execute(params![kind, int(now, "time")?, json])?;
    let id = conn.last_insert_rowid();
    conn.prepare_cached(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, next_attempt_at)
         SELECT id, ?1, ?2 FROM webhooks
         WHERE events = '' OR instr(events, ',' || ?3 || ',') > 0",
    )?
    .execute(params![id, int(now_ms, "time")?, kind])?;
    Ok(id as u64)
}

/// Up to `limit` events with an id above `after`, oldest first; only `types` when not empty.
pub fn after(
    conn: &Connection,
    after: u64,
    limit: usize,
    types: &[EventKind],
) -> Result<Vec<LoggedEvent>, StoreError> {
    let filter = if types.is_empty() {
        String::new()
    } else {
        let marks: Vec<String> = (0..types.len()).map(|i| format!("?{}", i + 3)).collect();
        format!(" AND type IN ({})", marks.join(", "))
    };
    let sql = format!(
        "SELECT id, created_at, data FROM events WHERE id > ?1{filter} ORDER BY id LIMIT ?2"
    );
    let mut args: Vec<rusqlite::types::Value> = vec![
        int(after, "event id")?.into(),
        (limit.min(i64::MAX as usize) as i64).into(),
    ];
    args.extend(types.iter().map(|k| k.as_str().to_string().into()));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), event_of)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One event by id.
pub fn get(conn: &Connection, id: u64) -> Result<Option<LoggedEvent>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id, created_at, data FROM events WHERE id = ?1")?
        .query_row([int(id, "event id")?], event_of)
        .optional()?)
}

/// The oldest retained event id and the last id ever given (kept by `AUTOINCREMENT` even when
/// every event was pruned); `None` before the first event.
pub fn bounds(conn: &Connection) -> Result<(Option<u64>, Option<u64>), StoreError> {
    let oldest: Option<i64> = conn.query_row("SELECT min(id) FROM events", [], |r| r.get(0))?;
    let last: Option<i64> = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok((oldest.map(|v| v as u64), last.map(|v| v as u64)))
}

/// What the retention policy keeps: events newer than `max_age_secs`, and at most `max_rows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub max_age_secs: u64,
    pub max_rows: u64,
}

/// Deletes up to `batch` of the oldest events the retention policy no longer keeps, with
/// their delivery rows; returns how many. Only a prefix of the log is ever deleted, and never
/// an event a webhook still waits to receive, so the log stays contiguous for resuming
/// clients.
pub fn prune(
    conn: &Connection,
    retention: Retention,
    now: u64,
    batch: usize,
) -> Result<usize, StoreError> {
    let (_, last) = bounds(conn)?;
    let Some(last) = last else { return Ok(0) };
    // Below this id everything goes: the row cap, or the oldest event young enough.
    let by_rows = last.saturating_sub(retention.max_rows) + 1;
    let cutoff = now.saturating_sub(retention.max_age_secs);
    let by_age: Option<i64> = conn.query_row(
        "SELECT min(id) FROM events WHERE created_at >= ?1",
        [int(cutoff, "time")?],
        |r| r.get(0),
    )?;
    let by_age = by_age.map_or(last + 1, |v| v as u64);
    let waited: Option<i64> = conn.query_row(
        "SELECT min(event_id) FROM webhook_deliveries WHERE status = 'pending'",
        [],
        |r| r.get(0),
    )?;
    let keep_from = by_rows
        .max(by_age)
        .min(waited.map_or(u64::MAX, |v| v as u64));
    let n = conn
        .prepare_cached(
            "DELETE FROM events WHERE id IN
               (SELECT id FROM events WHERE id < ?1 ORDER BY id LIMIT ?2)",
        )?
        .execute(params![
            int(keep_from, "event id")?,
            batch.min(i64::MAX as usize) as i64
        ])?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn paid(n: u64) -> EventData {
        EventData::InvoicePaid {
            payment_hash: format!("{n:064x}"),
            amount_msat: n,
        }
    }

    fn failed() -> EventData {
        EventData::PaymentFailed {
            payment_hash: "00".repeat(32),
            failure: "no route".into(),
        }
    }

    #[test]
    fn events_round_trip_in_order_with_type_filters() {
        let store = Store::open_in_memory().unwrap();
        store
            .write_blocking(|tx| {
                assert_eq!(bounds(tx)?, (None, None));
                assert_eq!(insert(tx, &paid(1), 100, 100_000)?, 1);
                assert_eq!(insert(tx, &failed(), 101, 101_000)?, 2);
                assert_eq!(insert(tx, &paid(3), 102, 102_000)?, 3);
                Ok(())
            })
            .unwrap();
        store
            .blocking(|c| {
                let all = after(c, 0, 10, &[])?;
                assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2, 3]);
                assert_eq!(all[0].data, paid(1));
                assert_eq!(all[1].created_at, 101);
                assert_eq!(after(c, 1, 1, &[])?[0].data, failed());
                let only_paid = after(c, 0, 10, &[EventKind::InvoicePaid])?;
                assert_eq!(only_paid.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 3]);
                let both = [EventKind::InvoicePaid, EventKind::PaymentFailed];
                assert_eq!(after(c, 1, 10, &both)?.len(), 2);
                assert!(after(c, 3, 10, &[])?.is_empty());
                assert_eq!(get(c, 2)?.unwrap().data, failed());
                assert_eq!(bounds(c)?, (Some(1), Some(3)));
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_rolled_back_event_was_never_there() {
        let store = Store::open_in_memory().unwrap();
        let r: Result<(), _> = store.write_blocking(|tx| {
            insert(tx, &paid(1), 100, 0)?;
            Err(StoreError::Corrupt("the state change failed".into()))
        });
        assert!(r.is_err());
        store
            .write_blocking(|tx| {
                assert_eq!(insert(tx, &paid(2), 100, 0)?, 1, "the id was not used");
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn pruning_keeps_the_newest_rows_the_young_and_what_webhooks_wait_for() {
        let store = Store::open_in_memory().unwrap();
        let day = 86_400;
        store
            .write_blocking(|tx| {
                for n in 1..=10u64 {
                    // Events 1..=5 are 100 days old, 6..=10 from today.
                    let at = if n <= 5 { 0 } else { 100 * day };
                    insert(tx, &paid(n), at, 0)?;
                }
                Ok(())
            })
            .unwrap();
        let keep_90_days = Retention {
            max_age_secs: 90 * day,
            max_rows: 1_000,
        };
        store
            .write_blocking(|tx| {
                // Batches: two at a time.
                assert_eq!(prune(tx, keep_90_days, 100 * day, 2)?, 2);
                assert_eq!(prune(tx, keep_90_days, 100 * day, 100)?, 3);
                assert_eq!(prune(tx, keep_90_days, 100 * day, 100)?, 0);
                assert_eq!(bounds(tx)?, (Some(6), Some(10)));
                let rows = Retention {
                    max_age_secs: 1000 * day,
                    max_rows: 3,
                };
                assert_eq!(prune(tx, rows, 100 * day, 100)?, 2);
                assert_eq!(bounds(tx)?, (Some(8), Some(10)));
                Ok(())
            })
            .unwrap();
        // A pending delivery holds its event and everything after it.
        store
            .write_blocking(|tx| {
                tx.execute(
                    "INSERT INTO webhooks (url, events, secret, created_at)
                     VALUES ('http://x', '', ?1, 0)",
                    [&"ab".repeat(32)],
                )?;
                let id = insert(tx, &paid(11), 100 * day, 0)?;
                insert(tx, &paid(12), 100 * day, 0)?;
                let rows = Retention {
                    max_age_secs: 1000 * day,
                    max_rows: 1,
                };
                assert_eq!(prune(tx, rows, 100 * day, 100)?, 3, "8, 9 and 10");
                assert_eq!(bounds(tx)?, (Some(id), Some(12)));
                // Pruning everything keeps the last id: new events continue after it.
                tx.execute("DELETE FROM webhooks", [])?;
                assert_eq!(prune(tx, rows, 100 * day, 100)?, 1);
                assert_eq!(bounds(tx)?, (Some(12), Some(12)));
                Ok(())
            })
            .unwrap();
    }
}
