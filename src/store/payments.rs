//! The payment tables: `invoices` we issued, `payments` we made, `forwards` (HTLCs we passed
//! on), the `onion_replay` guard, and the fee policy set through the API (in `meta`).
//!
//! Writers take the caller's connection or transaction, so a state change and its records are
//! committed together (`Store::write`). Status changes only move forward: from `open` /
//! `pending` to a final status, never back; each such function says whether it changed a row,
//! so replaying an input after a restart is harmless.

use bitcoin::secp256k1::PublicKey;
use rusqlite::types::Type;
use rusqlite::{named_params, params, Connection, OptionalExtension, Row};

use super::{meta, StoreError};
use crate::payments::hold::HeldHtlc;
use crate::payments::{
    FeePolicy, ForwardRecord, ForwardStatus, HtlcRef, InvoiceRecord, InvoiceStatus, PaymentRecord,
    PaymentStatus,
};

/// The `meta` key of the fee policy set through the API (JSON of [`FeePolicy`]).
pub const POLICY_KEY: &str = "payments.fee_policy";

/// SQLite integers are signed: amounts, ids and times above 2^63 cannot be stored.
pub(super) fn int(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} is beyond 2^63")))
}

pub(super) fn opt_int(v: Option<u64>, what: &str) -> Result<Option<i64>, StoreError> {
    v.map(|v| int(v, what)).transpose()
}

pub(super) fn bad(idx: usize, ty: Type, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, format!("invalid {what}").into())
}

pub(super) fn arr32(r: &Row, idx: usize) -> rusqlite::Result<[u8; 32]> {
    let v: Vec<u8> = r.get(idx)?;
    v.try_into()
        .map_err(|_| bad(idx, Type::Blob, "32-byte value"))
}

pub(super) fn opt_arr32(r: &Row, idx: usize) -> rusqlite::Result<Option<[u8; 32]>> {
    let v: Option<Vec<u8>> = r.get(idx)?;
    v.map(|v| {
        v.try_into()
            .map_err(|_| bad(idx, Type::Blob, "32-byte value"))
    })
    .transpose()
}

pub(super) fn u64_at(r: &Row, idx: usize) -> rusqlite::Result<u64> {
    let v: i64 = r.get(idx)?;
    u64::try_from(v).map_err(|_| bad(idx, Type::Integer, "negative integer"))
}

pub(super) fn opt_u64_at(r: &Row, idx: usize) -> rusqlite::Result<Option<u64>> {
    let v: Option<i64> = r.get(idx)?;
    v.map(|v| u64::try_from(v).map_err(|_| bad(idx, Type::Integer, "negative integer")))
        .transpose()
}

fn htlc_at(r: &Row, channel: usize, id: usize) -> rusqlite::Result<Option<HtlcRef>> {
    Ok(match (opt_arr32(r, channel)?, opt_u64_at(r, id)?) {
        (Some(channel_id), Some(htlc_id)) => Some(HtlcRef {
            channel_id,
            htlc_id,
        }),
        _ => None,
    })
}

fn limit_sql(limit: Option<usize>) -> i64 {
    // SQLite reads a negative LIMIT as "no limit".
    limit.and_then(|l| i64::try_from(l).ok()).unwrap_or(-1)
}

// ---- invoices ----------------------------------------------------------------------------

pub(super) fn invoice_status(r: &Row, idx: usize) -> rusqlite::Result<InvoiceStatus> {
    match r.get::<_, String>(idx)?.as_str() {
        "open" => Ok(InvoiceStatus::Open),
        "held" => Ok(InvoiceStatus::Held),
        "paid" => Ok(InvoiceStatus::Paid),
        "cancelled" => Ok(InvoiceStatus::Cancelled),
        _ => Err(bad(idx, Type::Text, "invoice status")),
    }
}

const INVOICE_COLUMNS: &str = "payment_hash, bolt11, preimage, payment_secret, amount_msat, \
     description, min_final_cltv_expiry_delta, created_at, expires_at, status, received_msat, \
     paid_at, paid_channel_id, paid_htlc_id, description_hash";

fn invoice_row(r: &Row) -> rusqlite::Result<InvoiceRecord> {
    Ok(InvoiceRecord {
        payment_hash: arr32(r, 0)?,
        bolt11: r.get(1)?,
        preimage: opt_arr32(r, 2)?,
        payment_secret: arr32(r, 3)?,
        amount_msat: opt_u64_at(r, 4)?,
        description: r.get(5)?,
        min_final_cltv_expiry_delta: r.get(6)?,
        created_at: u64_at(r, 7)?,
        expires_at: u64_at(r, 8)?,
        status: invoice_status(r, 9)?,
        received_msat: opt_u64_at(r, 10)?,
        paid_at: opt_u64_at(r, 11)?,
        paid_by: htlc_at(r, 12, 13)?,
        description_hash: opt_arr32(r, 14)?,
    })
}

/// Stores a new invoice.
///
/// # Errors
/// A database error when an invoice with the same payment hash exists (the caller of a hold
/// invoice chose the hash: [`invoice_exists`] checks first), or when the record breaks a table rule (an `expired` status,
/// `paid` without what paid it).
pub fn insert_invoice(conn: &Connection, inv: &InvoiceRecord) -> Result<(), StoreError> {
    if inv.status == InvoiceStatus::Expired {
        return Err(StoreError::Corrupt(
            "an invoice's expiry is derived, never stored".into(),
        ));
    }
    conn.prepare_cached(&format!(
        "INSERT INTO invoices ({INVOICE_COLUMNS}) VALUES (:hash, :bolt11, :preimage, :secret,
            :amount, :description, :cltv, :created, :expires, :status, :received, :paid_at,
            :paid_channel, :paid_htlc, :description_hash)"
    ))?
    .execute(named_params! {
        ":hash": inv.payment_hash.as_slice(),
        ":bolt11": inv.bolt11,
        ":preimage": inv.preimage.map(|p| p.to_vec()),
        ":secret": inv.payment_secret.as_slice(),
        ":amount": opt_int(inv.amount_msat, "amount_msat")?,
        ":description": inv.description,
        ":cltv": inv.min_final_cltv_expiry_delta,
        ":created": int(inv.created_at, "created_at")?,
        ":expires": int(inv.expires_at, "expires_at")?,
        ":status": inv.status.as_str(),
        ":received": opt_int(inv.received_msat, "received_msat")?,
        ":paid_at": opt_int(inv.paid_at, "paid_at")?,
        ":paid_channel": inv.paid_by.map(|h| h.channel_id.to_vec()),
        ":paid_htlc": opt_int(inv.paid_by.map(|h| h.htlc_id), "htlc_id")?,
        ":description_hash": inv.description_hash.map(|h| h.to_vec()),
    })?;
    Ok(())
}

/// One invoice by payment hash, with its stored status (`open`, `paid`, `cancelled`); see
/// [`InvoiceRecord::status_at`] for what users see.
pub fn get_invoice(
    conn: &Connection,
    payment_hash: &[u8; 32],
) -> Result<Option<InvoiceRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices WHERE payment_hash = :hash"
        ))?
        .query_row(
            named_params! { ":hash": payment_hash.as_slice() },
            invoice_row,
        )
        .optional()?)
}

/// Invoices, newest first, at most `limit` of them.
pub fn list_invoices(
    conn: &Connection,
    limit: Option<usize>,
) -> Result<Vec<InvoiceRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices ORDER BY created_at DESC, rowid DESC
         LIMIT :limit"
    ))?;
    let rows = stmt.query_map(named_params! { ":limit": limit_sql(limit) }, invoice_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether an invoice (or a keysend payment received) has this payment hash.
pub fn invoice_exists(conn: &Connection, payment_hash: &[u8; 32]) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM invoices WHERE payment_hash = :hash")?
        .query_row(named_params! { ":hash": payment_hash.as_slice() }, |_| {
            Ok(())
        })
        .optional()?
        .is_some())
}

/// Marks an open invoice paid by `htlc`. Returns whether it changed: `false` when the invoice
/// is unknown, already paid or cancelled, or a hold invoice (settled only by
/// [`settle_held_invoice`]); the caller checked it was payable in the same transaction, so
/// `false` means a repeat.
pub fn mark_invoice_paid(
    conn: &Connection,
    payment_hash: &[u8; 32],
    received_msat: u64,
    paid_at: u64,
    htlc: HtlcRef,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE invoices SET status = 'paid', received_msat = :received, paid_at = :paid_at,
                paid_channel_id = :channel, paid_htlc_id = :htlc
             WHERE payment_hash = :hash AND status = 'open' AND preimage IS NOT NULL",
        )?
        .execute(named_params! {
            ":hash": payment_hash.as_slice(),
            ":received": int(received_msat, "received_msat")?,
            ":paid_at": int(paid_at, "paid_at")?,
            ":channel": htlc.channel_id.as_slice(),
            ":htlc": int(htlc.htlc_id, "htlc_id")?,
        })?;
    Ok(n > 0)
}

/// Records the HTLCs (and the amount each carried) that paid invoice `payment_hash`: every
/// part of the set, in the write that marks it paid. Recording one again is harmless.
pub fn record_invoice_htlcs(
    conn: &Connection,
    payment_hash: &[u8; 32],
    htlcs: &[(HtlcRef, u64)],
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO invoice_htlcs (payment_hash, channel_id, htlc_id, amount_msat)
         VALUES (:hash, :channel, :htlc, :amount)",
    )?;
    for (h, amount) in htlcs {
        stmt.execute(named_params! {
            ":hash": payment_hash.as_slice(),
            ":channel": h.channel_id.as_slice(),
            ":htlc": int(h.htlc_id, "htlc_id")?,
            ":amount": int(*amount, "amount_msat")?,
        })?;
    }
    Ok(())
}

/// Whether `htlc` is one of the HTLCs that paid invoice `payment_hash`.
pub fn is_invoice_htlc(
    conn: &Connection,
    payment_hash: &[u8; 32],
    htlc: HtlcRef,
) -> Result<bool, StoreError> {
    htlc_listed(conn, "invoice_htlcs", payment_hash, htlc)
}

/// Whether `table` (keyed by payment hash, channel and HTLC id) lists `htlc` for the hash.
fn htlc_listed(
    conn: &Connection,
    table: &str,
    payment_hash: &[u8; 32],
    htlc: HtlcRef,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT 1 FROM {table}
             WHERE payment_hash = :hash AND channel_id = :channel AND htlc_id = :htlc"
        ))?
        .query_row(
            named_params! {
                ":hash": payment_hash.as_slice(),
                ":channel": htlc.channel_id.as_slice(),
                ":htlc": int(htlc.htlc_id, "htlc_id")?,
            },
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Cancels an open or held invoice: HTLCs for it are refused from now on, and its held HTLCs
/// (read them first with [`held_htlcs`], to fail them back) are forgotten. Returns whether it
/// changed.
pub fn cancel_invoice(conn: &Connection, payment_hash: &[u8; 32]) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE invoices SET status = 'cancelled', received_msat = NULL
             WHERE payment_hash = :hash AND status IN ('open', 'held')",
        )?
        .execute(named_params! { ":hash": payment_hash.as_slice() })?;
    delete_held(conn, payment_hash)?;
    Ok(n > 0)
}

// ---- hold invoices -----------------------------------------------------------------------

/// Holds the complete payment of an open hold invoice: status `held`, `received_msat` the sum
/// of `htlcs`, each recorded. Returns whether it changed (`false`: not an open hold invoice).
pub fn hold_invoice(
    conn: &Connection,
    payment_hash: &[u8; 32],
    htlcs: &[HeldHtlc],
) -> Result<bool, StoreError> {
    let sum = htlcs
        .iter()
        .try_fold(0u64, |a, h| a.checked_add(h.amount_msat))
        .ok_or_else(|| StoreError::Corrupt("held amounts overflow".into()))?;
    let n = conn
        .prepare_cached(
            "UPDATE invoices SET status = 'held', received_msat = :received
             WHERE payment_hash = :hash AND status = 'open' AND preimage IS NULL",
        )?
        .execute(named_params! {
            ":hash": payment_hash.as_slice(),
            ":received": int(sum, "received_msat")?,
        })?;
    if n == 0 {
        return Ok(false);
    }
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO held_htlcs
            (payment_hash, channel_id, htlc_id, amount_msat, cltv_expiry, shared_secret)
         VALUES (:hash, :channel, :htlc, :amount, :cltv, :secret)",
    )?;
    for h in htlcs {
        stmt.execute(named_params! {
            ":hash": payment_hash.as_slice(),
            ":channel": h.htlc.channel_id.as_slice(),
            ":htlc": int(h.htlc.htlc_id, "htlc_id")?,
            ":amount": int(h.amount_msat, "amount_msat")?,
            ":cltv": h.cltv_expiry,
            ":secret": h.shared_secret.as_slice(),
        })?;
    }
    Ok(true)
}

fn held_row(r: &Row) -> rusqlite::Result<([u8; 32], HeldHtlc)> {
    Ok((
        arr32(r, 0)?,
        HeldHtlc {
            htlc: HtlcRef {
                channel_id: arr32(r, 1)?,
                htlc_id: u64_at(r, 2)?,
            },
            amount_msat: u64_at(r, 3)?,
            cltv_expiry: r.get(4)?,
            shared_secret: arr32(r, 5)?,
        },
    ))
}

const HELD_COLUMNS: &str =
    "payment_hash, channel_id, htlc_id, amount_msat, cltv_expiry, shared_secret";

/// The HTLCs held for `payment_hash`.
pub fn held_htlcs(conn: &Connection, payment_hash: &[u8; 32]) -> Result<Vec<HeldHtlc>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {HELD_COLUMNS} FROM held_htlcs WHERE payment_hash = :hash
         ORDER BY channel_id, htlc_id"
    ))?;
    let rows = stmt.query_map(named_params! { ":hash": payment_hash.as_slice() }, held_row)?;
    Ok(rows.map(|r| r.map(|(_, h)| h)).collect::<Result<_, _>>()?)
}

/// Every held HTLC, with its payment hash.
pub fn list_held_htlcs(conn: &Connection) -> Result<Vec<([u8; 32], HeldHtlc)>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {HELD_COLUMNS} FROM held_htlcs ORDER BY payment_hash, channel_id, htlc_id"
    ))?;
    let rows = stmt.query_map([], held_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether `htlc` is held for `payment_hash`.
pub fn is_held_htlc(
    conn: &Connection,
    payment_hash: &[u8; 32],
    htlc: HtlcRef,
) -> Result<bool, StoreError> {
    htlc_listed(conn, "held_htlcs", payment_hash, htlc)
}

fn delete_held(conn: &Connection, payment_hash: &[u8; 32]) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM held_htlcs WHERE payment_hash = :hash")?
        .execute(named_params! { ":hash": payment_hash.as_slice() })?;
    Ok(())
}

/// Settles a held invoice: its preimage stored, marked paid by `htlc` (the first part) at
/// `paid_at`, its held HTLCs forgotten (the caller records them in `invoice_htlcs`, in the
/// same transaction). Returns whether it changed (`false`: not held).
pub fn settle_held_invoice(
    conn: &Connection,
    payment_hash: &[u8; 32],
    preimage: &[u8; 32],
    paid_at: u64,
    htlc: HtlcRef,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE invoices SET status = 'paid', preimage = :preimage, paid_at = :paid_at,
                paid_channel_id = :channel, paid_htlc_id = :htlc
             WHERE payment_hash = :hash AND status = 'held' AND preimage IS NULL",
        )?
        .execute(named_params! {
            ":hash": payment_hash.as_slice(),
            ":preimage": preimage.as_slice(),
            ":paid_at": int(paid_at, "paid_at")?,
            ":channel": htlc.channel_id.as_slice(),
            ":htlc": int(htlc.htlc_id, "htlc_id")?,
        })?;
    if n > 0 {
        delete_held(conn, payment_hash)?;
    }
    Ok(n > 0)
}

/// The preimages this node knows for the HTLCs `received` on channel `channel_id` (id and
/// payment hash each), by payment hash: an invoice's for an HTLC recorded as paying it
/// (`invoice_htlcs`), the one a forward of that HTLC learned downstream, or one our own
/// payment learned. The on-chain resolution claims received HTLCs
/// with them. Each lookup is by primary key.
pub fn preimages_for(
    conn: &Connection,
    channel_id: &[u8; 32],
    received: &[(u64, [u8; 32])],
) -> Result<std::collections::HashMap<[u8; 32], [u8; 32]>, StoreError> {
    let mut out = std::collections::HashMap::new();
    // An invoice's preimage claims only the HTLCs recorded as paying it: a part of a set that
    // never completed, a held payment not settled (a hold invoice has no preimage until
    // then) or an HTLC the checks refused is not ours to take on chain; taking it would hand
    // the payer the proof of a payment we never accepted.
    let mut invoice = conn.prepare_cached(
        "SELECT i.preimage FROM invoices i JOIN invoice_htlcs h ON h.payment_hash = i.payment_hash
         WHERE i.payment_hash = ?1 AND h.channel_id = ?2 AND h.htlc_id = ?3
             AND i.preimage IS NOT NULL",
    )?;
    let mut forward = conn.prepare_cached(
        "SELECT preimage FROM forwards WHERE in_channel_id = ?1 AND in_htlc_id = ?2
             AND preimage IS NOT NULL",
    )?;
    let mut payment = conn.prepare_cached(
        "SELECT preimage FROM payments WHERE payment_hash = ?1 AND preimage IS NOT NULL",
    )?;
    for (id, hash) in received {
        let found = invoice
            .query_row(params![&hash[..], &channel_id[..], *id as i64], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional()?
            .or(forward
                .query_row(params![&channel_id[..], *id as i64], |r| {
                    r.get::<_, Vec<u8>>(0)
                })
                .optional()?)
            .or(payment
                .query_row([&hash[..]], |r| r.get::<_, Vec<u8>>(0))
                .optional()?);
        if let Some(p) = found.and_then(|p| <[u8; 32]>::try_from(p).ok()) {
            out.insert(*hash, p);
        }
    }
    Ok(out)
}

// ---- payments ----------------------------------------------------------------------------

pub(super) fn payment_status(r: &Row, idx: usize) -> rusqlite::Result<PaymentStatus> {
    match r.get::<_, String>(idx)?.as_str() {
        "pending" => Ok(PaymentStatus::Pending),
        "succeeded" => Ok(PaymentStatus::Succeeded),
        "failed" => Ok(PaymentStatus::Failed),
        _ => Err(bad(idx, Type::Text, "payment status")),
    }
}

const PAYMENT_COLUMNS: &str = "payment_hash, bolt11, payee, amount_msat, fee_msat, status, \
     preimage, failure, created_at, resolved_at, max_fee_msat, max_total_cltv_expiry_delta, \
     timeout_secs";

fn payment_row(r: &Row) -> rusqlite::Result<PaymentRecord> {
    let payee: Vec<u8> = r.get(2)?;
    Ok(PaymentRecord {
        payment_hash: arr32(r, 0)?,
        bolt11: r.get(1)?,
        payee: PublicKey::from_slice(&payee).map_err(|_| bad(2, Type::Blob, "payee"))?,
        amount_msat: u64_at(r, 3)?,
        fee_msat: u64_at(r, 4)?,
        status: payment_status(r, 5)?,
        preimage: opt_arr32(r, 6)?,
        failure: r.get(7)?,
        created_at: u64_at(r, 8)?,
        resolved_at: opt_u64_at(r, 9)?,
        max_fee_msat: u64_at(r, 10)?,
        max_total_cltv_expiry_delta: r.get(11)?,
        timeout_secs: r.get(12)?,
    })
}

/// Stores a new payment: a new payment hash, or a new payment replacing a `failed` one (whose
/// attempts are then forgotten). Returns `false`, writing nothing, when the hash has a
/// `pending` or `succeeded` payment: a hash is never paid twice (the caller returns the
/// stored one).
pub fn upsert_payment(conn: &Connection, p: &PaymentRecord) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(&format!(
            "INSERT INTO payments ({PAYMENT_COLUMNS}) VALUES (:hash, :bolt11, :payee, :amount,
                :fee, :status, :preimage, :failure, :created, :resolved, :max_fee, :max_cltv,
                :timeout)
             ON CONFLICT(payment_hash) DO UPDATE SET
                bolt11 = excluded.bolt11, payee = excluded.payee,
                amount_msat = excluded.amount_msat, fee_msat = excluded.fee_msat,
                status = excluded.status, preimage = excluded.preimage,
                failure = excluded.failure, created_at = excluded.created_at,
                resolved_at = excluded.resolved_at, max_fee_msat = excluded.max_fee_msat,
                max_total_cltv_expiry_delta = excluded.max_total_cltv_expiry_delta,
                timeout_secs = excluded.timeout_secs
             WHERE payments.status = 'failed'"
        ))?
        .execute(named_params! {
            ":hash": p.payment_hash.as_slice(),
            ":bolt11": p.bolt11,
            ":payee": p.payee.serialize().as_slice(),
            ":amount": int(p.amount_msat, "amount_msat")?,
            ":fee": int(p.fee_msat, "fee_msat")?,
            ":status": p.status.as_str(),
            ":preimage": p.preimage.map(|x| x.to_vec()),
            ":failure": p.failure,
            ":created": int(p.created_at, "created_at")?,
            ":resolved": opt_int(p.resolved_at, "resolved_at")?,
            ":max_fee": int(p.max_fee_msat, "max_fee_msat")?,
            ":max_cltv": p.max_total_cltv_expiry_delta,
            ":timeout": p.timeout_secs,
        })?;
    if n > 0 {
        conn.prepare_cached(
            "DELETE FROM payment_attempts WHERE payment_hash = ?1 AND status = 'failed'",
        )?
        .execute([p.payment_hash.as_slice()])?;
    }
    Ok(n > 0)
}

/// One payment by payment hash.
pub fn get_payment(
    conn: &Connection,
    payment_hash: &[u8; 32],
) -> Result<Option<PaymentRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE payment_hash = :hash"
        ))?
        .query_row(
            named_params! { ":hash": payment_hash.as_slice() },
            payment_row,
        )
        .optional()?)
}

/// Payments, newest first, at most `limit` of them.
pub fn list_payments(
    conn: &Connection,
    limit: Option<usize>,
) -> Result<Vec<PaymentRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments ORDER BY created_at DESC, rowid DESC
         LIMIT :limit"
    ))?;
    let rows = stmt.query_map(named_params! { ":limit": limit_sql(limit) }, payment_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Payments still in flight, oldest first (to resume after a restart).
pub fn list_pending_payments(conn: &Connection) -> Result<Vec<PaymentRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&pending_payments_sql())?;
    let rows = stmt.query_map([], payment_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Read through the partial index `payments_pending`: a few rows, however long the history.
fn pending_payments_sql() -> String {
    format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE status = 'pending'
         ORDER BY created_at, rowid"
    )
}

/// Resolves a pending payment: `succeeded` with its preimage, or `failed` with why. `fee_msat`
/// replaces the stored fee when given. Returns whether it changed (`false`: unknown or already
/// resolved).
///
/// # Errors
/// [`StoreError::Corrupt`] for `pending` as the outcome; a database error for `succeeded`
/// without a preimage (a table rule).
pub fn resolve_payment(
    conn: &Connection,
    payment_hash: &[u8; 32],
    status: PaymentStatus,
    preimage: Option<[u8; 32]>,
    fee_msat: Option<u64>,
    failure: Option<&str>,
    resolved_at: u64,
) -> Result<bool, StoreError> {
    if status == PaymentStatus::Pending {
        return Err(StoreError::Corrupt(
            "a payment resolves to succeeded or failed".into(),
        ));
    }
    let n = conn
        .prepare_cached(
            "UPDATE payments SET status = :status, preimage = :preimage,
                fee_msat = coalesce(:fee, fee_msat), failure = :failure,
                resolved_at = :resolved
             WHERE payment_hash = :hash AND status = 'pending'",
        )?
        .execute(named_params! {
            ":hash": payment_hash.as_slice(),
            ":status": status.as_str(),
            ":preimage": preimage.map(|x| x.to_vec()),
            ":fee": opt_int(fee_msat, "fee_msat")?,
            ":failure": failure,
            ":resolved": int(resolved_at, "resolved_at")?,
        })?;
    Ok(n > 0)
}

// ---- forwards ----------------------------------------------------------------------------

pub(super) fn forward_status(r: &Row, idx: usize) -> rusqlite::Result<ForwardStatus> {
    match r.get::<_, String>(idx)?.as_str() {
        "pending" => Ok(ForwardStatus::Pending),
        "settled" => Ok(ForwardStatus::Settled),
        "failed" => Ok(ForwardStatus::Failed),
        _ => Err(bad(idx, Type::Text, "forward status")),
    }
}

const FORWARD_COLUMNS: &str = "in_channel_id, in_htlc_id, out_channel_id, out_htlc_id, \
     payment_hash, in_msat, out_msat, in_cltv_expiry, out_cltv_expiry, status, shared_secret, \
     preimage, failure, created_at, resolved_at";

fn forward_row(r: &Row) -> rusqlite::Result<ForwardRecord> {
    Ok(ForwardRecord {
        incoming: HtlcRef {
            channel_id: arr32(r, 0)?,
            htlc_id: u64_at(r, 1)?,
        },
        outgoing: HtlcRef {
            channel_id: arr32(r, 2)?,
            htlc_id: u64_at(r, 3)?,
        },
        payment_hash: arr32(r, 4)?,
        in_msat: u64_at(r, 5)?,
        out_msat: u64_at(r, 6)?,
        in_cltv_expiry: r.get(7)?,
        out_cltv_expiry: r.get(8)?,
        status: forward_status(r, 9)?,
        shared_secret: arr32(r, 10)?,
        preimage: opt_arr32(r, 11)?,
        failure: r.get(12)?,
        created_at: u64_at(r, 13)?,
        resolved_at: opt_u64_at(r, 14)?,
    })
}

/// Records a forward. Returns `false`, writing nothing, when the incoming HTLC was already
/// forwarded: an HTLC is forwarded at most once.
///
/// # Errors
/// A database error when another forward is pending on the same outgoing HTLC.
pub fn insert_forward(conn: &Connection, f: &ForwardRecord) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(&format!(
            "INSERT INTO forwards ({FORWARD_COLUMNS}) VALUES (:in_ch, :in_id, :out_ch, :out_id,
                :hash, :in_msat, :out_msat, :in_cltv, :out_cltv, :status, :secret, :preimage,
                :failure, :created, :resolved)
             ON CONFLICT(in_channel_id, in_htlc_id) DO NOTHING"
        ))?
        .execute(named_params! {
            ":in_ch": f.incoming.channel_id.as_slice(),
            ":in_id": int(f.incoming.htlc_id, "htlc_id")?,
            ":out_ch": f.outgoing.channel_id.as_slice(),
            ":out_id": int(f.outgoing.htlc_id, "htlc_id")?,
            ":hash": f.payment_hash.as_slice(),
            ":in_msat": int(f.in_msat, "in_msat")?,
            ":out_msat": int(f.out_msat, "out_msat")?,
            ":in_cltv": f.in_cltv_expiry,
            ":out_cltv": f.out_cltv_expiry,
            ":status": f.status.as_str(),
            ":secret": f.shared_secret.as_slice(),
            ":preimage": f.preimage.map(|x| x.to_vec()),
            ":failure": f.failure,
            ":created": int(f.created_at, "created_at")?,
            ":resolved": opt_int(f.resolved_at, "resolved_at")?,
        })?;
    Ok(n > 0)
}

/// The forward of an incoming HTLC.
pub fn get_forward_by_in(
    conn: &Connection,
    incoming: HtlcRef,
) -> Result<Option<ForwardRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {FORWARD_COLUMNS} FROM forwards
             WHERE in_channel_id = :ch AND in_htlc_id = :id"
        ))?
        .query_row(
            named_params! {
                ":ch": incoming.channel_id.as_slice(),
                ":id": int(incoming.htlc_id, "htlc_id")?,
            },
            forward_row,
        )
        .optional()?)
}

/// The pending forward whose outgoing HTLC is `outgoing` (at most one: a table rule).
pub fn pending_forward_by_out(
    conn: &Connection,
    outgoing: HtlcRef,
) -> Result<Option<ForwardRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {FORWARD_COLUMNS} FROM forwards
             WHERE out_channel_id = :ch AND out_htlc_id = :id AND status = 'pending'"
        ))?
        .query_row(
            named_params! {
                ":ch": outgoing.channel_id.as_slice(),
                ":id": int(outgoing.htlc_id, "htlc_id")?,
            },
            forward_row,
        )
        .optional()?)
}

/// Forwards, newest first, at most `limit` of them.
pub fn list_forwards(
    conn: &Connection,
    limit: Option<usize>,
) -> Result<Vec<ForwardRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {FORWARD_COLUMNS} FROM forwards ORDER BY created_at DESC, rowid DESC
         LIMIT :limit"
    ))?;
    let rows = stmt.query_map(named_params! { ":limit": limit_sql(limit) }, forward_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Forwards not yet resolved, oldest first (to finish after a restart).
pub fn list_pending_forwards(conn: &Connection) -> Result<Vec<ForwardRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&pending_forwards_sql())?;
    let rows = stmt.query_map([], forward_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Read through the partial index `forwards_pending`: a few rows, however long the history.
fn pending_forwards_sql() -> String {
    format!(
        "SELECT {FORWARD_COLUMNS} FROM forwards WHERE status = 'pending'
         ORDER BY created_at, rowid"
    )
}

/// Points a pending forward at a new outgoing HTLC (the first add was dropped unsigned and
/// offered again). Returns whether it changed.
pub fn set_forward_out(
    conn: &Connection,
    incoming: HtlcRef,
    outgoing: HtlcRef,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE forwards SET out_channel_id = :out_ch, out_htlc_id = :out_id
             WHERE in_channel_id = :in_ch AND in_htlc_id = :in_id AND status = 'pending'",
        )?
        .execute(named_params! {
            ":in_ch": incoming.channel_id.as_slice(),
            ":in_id": int(incoming.htlc_id, "htlc_id")?,
            ":out_ch": outgoing.channel_id.as_slice(),
            ":out_id": int(outgoing.htlc_id, "htlc_id")?,
        })?;
    Ok(n > 0)
}

/// Resolves a pending forward: `settled` with the preimage, or `failed` with why. Returns
/// whether it changed (`false`: unknown or already resolved).
///
/// # Errors
/// [`StoreError::Corrupt`] for `pending` as the outcome; a database error for `settled`
/// without a preimage (a table rule).
pub fn resolve_forward(
    conn: &Connection,
    incoming: HtlcRef,
    status: ForwardStatus,
    preimage: Option<[u8; 32]>,
    failure: Option<&str>,
    resolved_at: u64,
) -> Result<bool, StoreError> {
    if status == ForwardStatus::Pending {
        return Err(StoreError::Corrupt(
            "a forward resolves to settled or failed".into(),
        ));
    }
    let n = conn
        .prepare_cached(
            "UPDATE forwards SET status = :status, preimage = :preimage, failure = :failure,
                resolved_at = :resolved
             WHERE in_channel_id = :ch AND in_htlc_id = :id AND status = 'pending'",
        )?
        .execute(named_params! {
            ":ch": incoming.channel_id.as_slice(),
            ":id": int(incoming.htlc_id, "htlc_id")?,
            ":status": status.as_str(),
            ":preimage": preimage.map(|x| x.to_vec()),
            ":failure": failure,
            ":resolved": int(resolved_at, "resolved_at")?,
        })?;
    Ok(n > 0)
}

/// The fees of every settled forward, in millisatoshis.
pub fn forward_fees_earned(conn: &Connection) -> Result<u64, StoreError> {
    let total: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(in_msat - out_msat), 0) FROM forwards WHERE status = 'settled'",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(total.max(0) as u64)
}

// ---- onion replay guard ------------------------------------------------------------------

/// Checks an onion's replay key (SHA256 of its shared secret) and records it for `htlc`, in
/// one step. `Ok(true)`: first sighting (now recorded), or the same HTLC seen again (a restart
/// processing it a second time). `Ok(false)`: another HTLC used this onion — a replay.
pub fn replay_check_and_record(
    conn: &Connection,
    key: &[u8; 32],
    cltv_expiry: u32,
    htlc: HtlcRef,
) -> Result<bool, StoreError> {
    let htlc_id = int(htlc.htlc_id, "htlc_id")?;
    conn.prepare_cached(
        "INSERT INTO onion_replay (key, cltv_expiry, channel_id, htlc_id)
         VALUES (:key, :cltv, :ch, :id) ON CONFLICT(key) DO NOTHING",
    )?
    .execute(named_params! {
        ":key": key.as_slice(),
        ":cltv": cltv_expiry,
        ":ch": htlc.channel_id.as_slice(),
        ":id": htlc_id,
    })?;
    let (channel, id): (Vec<u8>, i64) = conn
        .prepare_cached("SELECT channel_id, htlc_id FROM onion_replay WHERE key = :key")?
        .query_row(named_params! { ":key": key.as_slice() }, |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(channel == htlc.channel_id && id == htlc_id)
}

/// Forgets the replay keys of HTLCs that expired below `height` (a replay of them would be
/// refused as expired anyway), the oldest first and at most `limit` of them. Returns how many
/// were dropped.
pub fn replay_forget_expired(
    conn: &Connection,
    height: u32,
    limit: u32,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM onion_replay WHERE rowid IN (SELECT rowid FROM onion_replay
             WHERE cltv_expiry < :height ORDER BY cltv_expiry LIMIT :limit)",
        )?
        .execute(named_params! { ":height": height, ":limit": limit })?)
}

// ---- fee policy --------------------------------------------------------------------------

/// The fee policy set through the API, if one was.
pub fn get_policy(conn: &Connection) -> Result<Option<FeePolicy>, StoreError> {
    meta::get(conn, POLICY_KEY)?
        .map(|v| {
            serde_json::from_slice(&v)
                .map_err(|e| StoreError::Corrupt(format!("meta {POLICY_KEY}: {e}")))
        })
        .transpose()
}

/// Stores the fee policy; it wins over the config file from now on.
pub fn set_policy(conn: &Connection, policy: &FeePolicy) -> Result<(), StoreError> {
    let json = serde_json::to_vec(policy).expect("a policy serializes");
    meta::set(conn, POLICY_KEY, &json)
}

#[cfg(test)]
#[path = "payments_tests.rs"]
mod tests;
