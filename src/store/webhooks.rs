//! The `webhooks` and `webhook_deliveries` tables (schema version 6).
//!
//! Delivery rows are created with their event (`store::events::insert`). The delivery task
//! works on each webhook's oldest pending row only ([`due_heads`]), so a webhook's events go
//! out in order; [`record_attempt`] moves a row on after each attempt and keeps the webhook's
//! counts of delivered and failed events.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::StoreError;
use crate::events::{EventKind, LoggedEvent};

/// A webhook as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: u64,
    pub url: String,
    /// The types it receives; empty: every type.
    pub events: Vec<EventKind>,
    /// The HMAC key, hex (shown to the API user once, at creation).
    pub secret: String,
    pub created_at: u64,
    /// Deliveries still to make (or retry).
    pub pending: u64,
    pub delivered: u64,
    pub failed: u64,
}

/// The stored form of a subscription: `,a,b,` (every name between commas, so `instr` finds
/// one exactly), or `''` for every type.
fn encode_events(events: &[EventKind]) -> String {
    if events.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = events.iter().map(|k| k.as_str()).collect();
    format!(",{},", names.join(","))
}

fn decode_events(s: &str) -> Result<Vec<EventKind>, String> {
    EventKind::parse_list(s.split(','))
}

const COLUMNS: &str = "w.id, w.url, w.events, w.secret, w.created_at, w.delivered, w.failed,
    (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending')";

fn webhook_of(r: &Row) -> rusqlite::Result<Webhook> {
    let events: String = r.get(2)?;
    let events = decode_events(&events).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, e.into())
    })?;
    let u = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    Ok(Webhook {
        id: u(0)?,
        url: r.get(1)?,
        events,
        secret: r.get(3)?,
        created_at: u(4)?,
        delivered: u(5)?,
        failed: u(6)?,
        pending: u(7)?,
    })
}

/// Adds a webhook; it receives events logged from now on.
pub fn insert(
    conn: &Connection,
    url: &str,
    events: &[EventKind],
    secret: &str,
    now: u64,
) -> Result<Webhook, StoreError> {
    conn.execute(
        "INSERT INTO webhooks (url, events, secret, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![url, encode_events(events), secret, now as i64],
    )?;
    let id = conn.last_insert_rowid() as u64;
    get(conn, id)?.ok_or_else(|| StoreError::Corrupt("a webhook vanished".into()))
}

/// Every webhook, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<Webhook>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM webhooks w ORDER BY w.id"))?;
    let rows = stmt.query_map([], webhook_of)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Connection, id: u64) -> Result<Option<Webhook>, StoreError> {
    let Ok(id) = i64::try_from(id) else {
        return Ok(None);
    };
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM webhooks w WHERE w.id = ?1"))?
        .query_row([id], webhook_of)
        .optional()?)
}

/// Removes a webhook and its deliveries (pending ones are dropped); returns it as it was.
pub fn delete(conn: &Connection, id: u64) -> Result<Option<Webhook>, StoreError> {
    let found = get(conn, id)?;
    if found.is_some() {
        conn.execute("DELETE FROM webhooks WHERE id = ?1", [id as i64])?;
    }
    Ok(found)
}

/// A webhook's next delivery: its oldest pending event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub webhook_id: u64,
    pub url: String,
    pub secret: String,
    pub event: LoggedEvent,
    /// Attempts made so far.
    pub attempts: u32,
    /// Unix milliseconds.
    pub next_attempt_at: u64,
}

/// The oldest pending delivery of every webhook that has one, soonest first.
pub fn due_heads(conn: &Connection) -> Result<Vec<Due>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.webhook_id, w.url, w.secret, e.id, e.created_at, e.data, d.attempts,
                d.next_attempt_at
         FROM webhook_deliveries d
         JOIN webhooks w ON w.id = d.webhook_id
         JOIN events e ON e.id = d.event_id
         WHERE d.status = 'pending' AND d.event_id =
             (SELECT min(event_id) FROM webhook_deliveries
              WHERE webhook_id = d.webhook_id AND status = 'pending')
         ORDER BY d.next_attempt_at, d.webhook_id",
    )?;
    let rows = stmt.query_map([], |r| {
        let data: String = r.get(5)?;
        let data = serde_json::from_str(&data).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, Box::new(e))
        })?;
        Ok(Due {
            webhook_id: r.get::<_, i64>(0)? as u64,
            url: r.get(1)?,
            secret: r.get(2)?,
            event: LoggedEvent {
                id: r.get::<_, i64>(3)? as u64,
                created_at: r.get::<_, i64>(4)?.max(0) as u64,
                data,
            },
            attempts: r.get::<_, i64>(6)?.clamp(0, u32::MAX as i64) as u32,
            next_attempt_at: r.get::<_, i64>(7)?.max(0) as u64,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A 2xx answer.
    Delivered { status: u16 },
    /// Try again at `next_attempt_at` (Unix ms).
    Retry {
        status: Option<u16>,
        error: String,
        next_attempt_at: u64,
    },
    /// The last attempt allowed failed too.
    Failed { status: Option<u16>, error: String },
}

/// Records an attempt on a pending delivery at `now_ms`; `false` if the delivery is no longer
/// pending (its webhook was deleted meanwhile).
pub fn record_attempt(
    conn: &Connection,
    webhook_id: u64,
    event_id: u64,
    attempt: &Attempt,
    now_ms: u64,
) -> Result<bool, StoreError> {
    let (status, code, error, next, delivered_at) = match attempt {
        Attempt::Delivered { status } => ("delivered", Some(*status), None, None, Some(now_ms)),
        Attempt::Retry {
            status,
            error,
            next_attempt_at,
        } => (
            "pending",
            *status,
            Some(error.as_str()),
            Some(*next_attempt_at),
            None,
        ),
        Attempt::Failed { status, error } => ("failed", *status, Some(error.as_str()), None, None),
    };
    let n = conn
        .prepare_cached(
            "UPDATE webhook_deliveries SET status = ?3, attempts = attempts + 1,
                 next_attempt_at = coalesce(?4, next_attempt_at), last_status = ?5,
                 last_error = ?6, delivered_at = ?7
             WHERE webhook_id = ?1 AND event_id = ?2 AND status = 'pending'",
        )?
        .execute(params![
            webhook_id as i64,
            event_id as i64,
            status,
            next.map(|v| v as i64),
            code,
            error,
            delivered_at.map(|v| v as i64)
        ])?;
    if n == 1 && status != "pending" {
        conn.execute(
            &format!("UPDATE webhooks SET {status} = {status} + 1 WHERE id = ?1"),
            [webhook_id as i64],
        )?;
    }
    Ok(n == 1)
}

/// One delivery's state, for diagnostics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    /// The last attempt's HTTP status, if it got an answer.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

pub fn delivery(
    conn: &Connection,
    webhook_id: u64,
    event_id: u64,
) -> Result<Option<DeliveryState>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT status, attempts, last_status, last_error FROM webhook_deliveries
             WHERE webhook_id = ?1 AND event_id = ?2",
            [webhook_id as i64, event_id as i64],
            |r| {
                Ok(DeliveryState {
                    status: r.get(0)?,
                    attempts: r.get(1)?,
                    last_status: r.get(2)?,
                    last_error: r.get(3)?,
                })
            },
        )
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventData;
    use crate::store::{events, Store};

    fn paid(n: u64) -> EventData {
        EventData::InvoicePaid {
            payment_hash: format!("{n:064x}"),
            amount_msat: n,
        }
    }

    fn resolved() -> EventData {
        EventData::ChannelResolved {
            channel_id: "11".repeat(32),
            received_sat: 5,
        }
    }

    #[test]
    fn webhooks_round_trip_and_get_deliveries_for_their_types() {
        let store = Store::open_in_memory().unwrap();
        let secret = "5e".repeat(32);
        store
            .write_blocking(|tx| {
                let all = insert(tx, "https://a.example/hook", &[], &secret, 10)?;
                let paid_only = insert(
                    tx,
                    "http://b.example",
                    &[EventKind::InvoicePaid],
                    &secret,
                    11,
                )?;
                assert_eq!(all.id, 1);
                assert_eq!(paid_only.events, [EventKind::InvoicePaid]);
                assert_eq!(paid_only.created_at, 11);
                assert_eq!(paid_only.secret, secret);
                let e1 = events::insert(tx, &paid(1), 20, 20_000)?;
                let e2 = events::insert(tx, &resolved(), 21, 21_000)?;
                let list = list(tx)?;
                assert_eq!(list.len(), 2);
                assert_eq!(list[0].pending, 2, "every type");
                assert_eq!(list[1].pending, 1, "invoice_paid only");
                // Heads: each webhook's oldest pending event.
                let heads = due_heads(tx)?;
                assert_eq!(heads.len(), 2);
                assert!(heads.iter().all(|d| d.event.id == e1 && d.attempts == 0));
                assert_eq!(heads[0].next_attempt_at, 20_000);
                // The first webhook delivers e1: its head moves to e2.
                assert!(record_attempt(
                    tx,
                    1,
                    e1,
                    &Attempt::Delivered { status: 204 },
                    25_000
                )?);
                assert!(!record_attempt(
                    tx,
                    1,
                    e1,
                    &Attempt::Delivered { status: 200 },
                    26_000
                )?);
                let retry = Attempt::Retry {
                    status: Some(500),
                    error: "HTTP 500".into(),
                    next_attempt_at: 30_000,
                };
                assert!(record_attempt(tx, 2, e1, &retry, 25_000)?);
                let heads = due_heads(tx)?;
                let h1 = heads.iter().find(|d| d.webhook_id == 1).unwrap();
                assert_eq!(h1.event.id, e2);
                assert_eq!(h1.event.data, resolved());
                let h2 = heads.iter().find(|d| d.webhook_id == 2).unwrap();
                assert_eq!(
                    (h2.event.id, h2.attempts, h2.next_attempt_at),
                    (e1, 1, 30_000)
                );
                assert_eq!(
                    delivery(tx, 2, e1)?,
                    Some(DeliveryState {
                        status: "pending".into(),
                        attempts: 1,
                        last_status: Some(500),
                        last_error: Some("HTTP 500".into()),
                    })
                );
                let gave_up = Attempt::Failed {
                    status: None,
                    error: "connection refused".into(),
                };
                assert!(record_attempt(tx, 2, e1, &gave_up, 31_000)?);
                let w2 = get(tx, 2)?.unwrap();
                assert_eq!((w2.pending, w2.delivered, w2.failed), (0, 0, 1));
                let w1 = get(tx, 1)?.unwrap();
                assert_eq!((w1.pending, w1.delivered, w1.failed), (1, 1, 0));
                // Deleting drops the pending deliveries with the webhook.
                assert_eq!(
                    delete(tx, 1)?.map(|w| w.url),
                    Some("https://a.example/hook".into())
                );
                assert_eq!(delete(tx, 1)?, None);
                assert_eq!(delivery(tx, 1, e2)?, None);
                assert!(due_heads(tx)?.is_empty());
                assert_eq!(get(tx, u64::MAX)?, None);
                Ok(())
            })
            .unwrap();
    }
}
