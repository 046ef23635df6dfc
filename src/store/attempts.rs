//! The `payment_attempts` table: the HTLCs of our payments (retries, and the parts of a
//! multi-part payment), each with the route it took. An attempt is written in the same
//! transaction as the channel state that adds its HTLC, so after a crash every HTLC of ours
//! is known to its payment.

use bitcoin::secp256k1::PublicKey;
use rusqlite::types::Type;
use rusqlite::{named_params, Connection, OptionalExtension, Row};

use super::payments::{arr32, bad, int, opt_u64_at, payment_status, u64_at};
use super::StoreError;
use crate::payments::{AttemptHop, AttemptRecord, HtlcRef, PaymentStatus};

const COLUMNS: &str = "payment_hash, id, channel_id, htlc_id, amount_msat, fee_msat, \
     session_key, nodes, hops, status, failure, created_at, resolved_at";

fn row(r: &Row) -> rusqlite::Result<AttemptRecord> {
    let nodes: Vec<u8> = r.get(7)?;
    let route = nodes
        .chunks(33)
        .map(PublicKey::from_slice)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad(7, Type::Blob, "route node id"))?;
    let hops: String = r.get(8)?;
    let hops: Vec<AttemptHop> =
        serde_json::from_str(&hops).map_err(|_| bad(8, Type::Text, "attempt hops"))?;
    Ok(AttemptRecord {
        payment_hash: arr32(r, 0)?,
        id: r.get(1)?,
        htlc: HtlcRef {
            channel_id: arr32(r, 2)?,
            htlc_id: u64_at(r, 3)?,
        },
        amount_msat: u64_at(r, 4)?,
        fee_msat: u64_at(r, 5)?,
        session_key: arr32(r, 6)?,
        route,
        hops,
        status: payment_status(r, 9)?,
        failure: r.get(10)?,
        created_at: u64_at(r, 11)?,
        resolved_at: opt_u64_at(r, 12)?,
    })
}

/// Records a new attempt.
///
/// # Errors
/// A database error when the payment already has an attempt with this id.
pub fn insert_attempt(conn: &Connection, a: &AttemptRecord) -> Result<(), StoreError> {
    let nodes: Vec<u8> = a.route.iter().flat_map(|k| k.serialize()).collect();
    let hops = serde_json::to_string(&a.hops)
        .map_err(|e| StoreError::Corrupt(format!("attempt hops: {e}")))?;
    conn.prepare_cached(&format!(
        "INSERT INTO payment_attempts ({COLUMNS}) VALUES (:hash, :id, :channel, :htlc, :amount,
            :fee, :session_key, :nodes, :hops, :status, :failure, :created, :resolved)"
    ))?
    .execute(named_params! {
        ":hash": a.payment_hash.as_slice(),
        ":id": a.id,
        ":channel": a.htlc.channel_id.as_slice(),
        ":htlc": int(a.htlc.htlc_id, "htlc_id")?,
        ":amount": int(a.amount_msat, "amount_msat")?,
        ":fee": int(a.fee_msat, "fee_msat")?,
        ":session_key": a.session_key.as_slice(),
        ":nodes": nodes,
        ":hops": hops,
        ":status": a.status.as_str(),
        ":failure": a.failure,
        ":created": int(a.created_at, "created_at")?,
        ":resolved": a.resolved_at.map(|t| int(t, "resolved_at")).transpose()?,
    })?;
    Ok(())
}

/// A payment's attempts, oldest first.
pub fn list_attempts(
    conn: &Connection,
    payment_hash: &[u8; 32],
) -> Result<Vec<AttemptRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM payment_attempts WHERE payment_hash = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([payment_hash.as_slice()], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every attempt still in flight (read through the partial index).
pub fn list_pending_attempts(conn: &Connection) -> Result<Vec<AttemptRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM payment_attempts WHERE status = 'pending'
         ORDER BY payment_hash, id"
    ))?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The pending attempt carried by our HTLC `htlc`, if any.
pub fn pending_attempt_by_htlc(
    conn: &Connection,
    htlc: HtlcRef,
) -> Result<Option<AttemptRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM payment_attempts
             WHERE channel_id = :channel AND htlc_id = :htlc AND status = 'pending'"
        ))?
        .query_row(
            named_params! {
                ":channel": htlc.channel_id.as_slice(),
                ":htlc": int(htlc.htlc_id, "htlc_id")?,
            },
            row,
        )
        .optional()?)
}

/// The id the payment's next attempt takes.
pub fn next_attempt_id(conn: &Connection, payment_hash: &[u8; 32]) -> Result<u32, StoreError> {
    let max: Option<u32> = conn
        .prepare_cached("SELECT max(id) FROM payment_attempts WHERE payment_hash = ?1")?
        .query_row([payment_hash.as_slice()], |r| r.get(0))?;
    Ok(max.map_or(0, |m| m + 1))
}

/// Resolves a pending attempt. Returns whether it changed (`false`: unknown or already
/// resolved, so replaying an outcome after a restart is harmless).
///
/// # Errors
/// [`StoreError::Corrupt`] for `pending` as the outcome.
pub fn resolve_attempt(
    conn: &Connection,
    payment_hash: &[u8; 32],
    id: u32,
    status: PaymentStatus,
    failure: Option<&str>,
    resolved_at: u64,
) -> Result<bool, StoreError> {
    if status == PaymentStatus::Pending {
        return Err(StoreError::Corrupt(
            "an attempt resolves to succeeded or failed".into(),
        ));
    }
    let n = conn
        .prepare_cached(
            "UPDATE payment_attempts SET status = :status, failure = :failure,
                resolved_at = :resolved
             WHERE payment_hash = :hash AND id = :id AND status = 'pending'",
        )?
        .execute(named_params! {
            ":hash": payment_hash.as_slice(),
            ":id": id,
            ":status": status.as_str(),
            ":failure": failure,
            ":resolved": int(resolved_at, "resolved_at")?,
        })?;
    Ok(n > 0)
}

/// The fees of a payment's attempts that are in flight or went through: what it costs once
/// it succeeds (every pending part of a succeeded payment is claimed too).
pub fn fees_committed(conn: &Connection, payment_hash: &[u8; 32]) -> Result<u64, StoreError> {
    let sum: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(fee_msat), 0) FROM payment_attempts
             WHERE payment_hash = ?1 AND status <> 'failed'",
        )?
        .query_row([payment_hash.as_slice()], |r| r.get(0))?;
    u64::try_from(sum).map_err(|_| StoreError::Corrupt("negative fee sum".into()))
}
