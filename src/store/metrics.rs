//! Aggregates of the payment tables for `GET /metrics`: counts by status, fees earned, and
//! how long our succeeded payments took. Every figure is one SQL aggregate: no row is loaded.

use rusqlite::{named_params, Connection};

use super::payments as pq;
use super::StoreError;
use crate::payments::{ForwardStatus, InvoiceStatus, PaymentStatus};

/// How many payments of ours are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaymentCounts {
    pub pending: u64,
    pub succeeded: u64,
    pub failed: u64,
}

/// How many forwards are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForwardCounts {
    pub pending: u64,
    pub settled: u64,
    pub failed: u64,
}

/// How many invoices of ours are in each status as users see it: an open invoice past its
/// expiry counts as expired (see `InvoiceRecord::status_at`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InvoiceCounts {
    pub open: u64,
    pub held: u64,
    pub paid: u64,
    pub expired: u64,
    pub cancelled: u64,
}

/// What the payment tables say, read in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentStats {
    pub payments: PaymentCounts,
    pub forwards: ForwardCounts,
    pub invoices: InvoiceCounts,
    /// The fees of every settled forward.
    pub forward_fees_earned_msat: u64,
    /// The opening fees taken for JIT channels sold over LSPS2 (part of the forwards' fees
    /// above once those forwards settle).
    pub lsp_opening_fees_msat: u64,
    /// The fees of the LSPS1 orders paid.
    pub lsp_order_fees_sat: u64,
    /// `(seconds, how many)`: succeeded payments by `resolved_at - created_at`, shortest
    /// first. Only succeeded ones: a failed payment's row is replaced by the next attempt, so
    /// counting failures would make the histogram go backwards.
    pub succeeded_durations: Vec<(u64, u64)>,
}

fn count(n: i64) -> u64 {
    // count(*) is never negative.
    n.max(0) as u64
}

/// Reads every aggregate at `now` (Unix seconds, for invoice expiry). The store has one
/// connection, so nothing is written between the queries.
pub fn payment_stats(conn: &Connection, now: u64) -> Result<PaymentStats, StoreError> {
    let mut stats = PaymentStats::default();

    let mut stmt = conn.prepare_cached("SELECT status, count(*) FROM payments GROUP BY status")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let n = count(r.get(1)?);
        match pq::payment_status(r, 0)? {
            PaymentStatus::Pending => stats.payments.pending = n,
            PaymentStatus::Succeeded => stats.payments.succeeded = n,
            PaymentStatus::Failed => stats.payments.failed = n,
        }
    }

    let mut stmt = conn.prepare_cached("SELECT status, count(*) FROM forwards GROUP BY status")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let n = count(r.get(1)?);
        match pq::forward_status(r, 0)? {
            ForwardStatus::Pending => stats.forwards.pending = n,
            ForwardStatus::Settled => stats.forwards.settled = n,
            ForwardStatus::Failed => stats.forwards.failed = n,
        }
    }

    // `expired` is never stored: an open invoice at or past `expires_at` reads expired.
    let mut stmt = conn.prepare_cached(
        "SELECT status, status = 'open' AND expires_at <= :now AS expired, count(*)
         FROM invoices GROUP BY status, expired",
    )?;
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let mut rows = stmt.query(named_params! { ":now": now })?;
    while let Some(r) = rows.next()? {
        let (expired, n): (bool, i64) = (r.get(1)?, r.get(2)?);
        let slot = match pq::invoice_status(r, 0)? {
            InvoiceStatus::Open if expired => &mut stats.invoices.expired,
            InvoiceStatus::Open => &mut stats.invoices.open,
            InvoiceStatus::Held => &mut stats.invoices.held,
            InvoiceStatus::Paid => &mut stats.invoices.paid,
            InvoiceStatus::Cancelled => &mut stats.invoices.cancelled,
            // Never stored (the table refuses it).
            InvoiceStatus::Expired => &mut stats.invoices.expired,
        };
        *slot += count(n);
    }

    stats.forward_fees_earned_msat = pq::forward_fees_earned(conn)?;
    stats.lsp_opening_fees_msat = crate::store::lsps::jit_fees_total(conn)?;
    stats.lsp_order_fees_sat = crate::store::lsps1::order_fees_paid_sat(conn)?;

    // A clock stepped back could make a duration negative: it counts as 0.
    let mut stmt = conn.prepare_cached(
        "SELECT max(resolved_at - created_at, 0) AS took, count(*) FROM payments
         WHERE status = 'succeeded' GROUP BY took ORDER BY took",
    )?;
    stats.succeeded_durations = stmt
        .query_map([], |r| Ok((count(r.get(0)?), count(r.get(1)?))))?
        .collect::<Result<_, _>>()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::{ForwardRecord, HtlcRef, InvoiceRecord, PaymentRecord};
    use crate::store::Store;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};

    fn htlc(c: u8, id: u64) -> HtlcRef {
        HtlcRef {
            channel_id: [c; 32],
            htlc_id: id,
        }
    }

    fn invoice(h: u8, expires_at: u64, status: InvoiceStatus) -> InvoiceRecord {
        let paid = status == InvoiceStatus::Paid;
        InvoiceRecord {
            payment_hash: [h; 32],
            bolt11: format!("lnbcrt{h}"),
            preimage: Some([h; 32]),
            payment_secret: [7; 32],
            amount_msat: Some(50_000),
            description: "coffee".into(),
            description_hash: None,
            min_final_cltv_expiry_delta: 40,
            created_at: 0,
            expires_at,
            status,
            received_msat: paid.then_some(50_000),
            paid_at: paid.then_some(10),
            paid_by: paid.then_some(htlc(9, h.into())),
        }
    }

    fn payment(h: u8, status: PaymentStatus, created_at: u64, took: u64) -> PaymentRecord {
        let payee = SecretKey::from_slice(&[2; 32])
            .unwrap()
            .public_key(&Secp256k1::new());
        PaymentRecord {
            payment_hash: [h; 32],
            bolt11: None,
            payee,
            amount_msat: 10_000,
            fee_msat: 0,
            status,
            preimage: (status == PaymentStatus::Succeeded).then_some([h; 32]),
            failure: (status == PaymentStatus::Failed).then(|| "no".to_string()),
            created_at,
            resolved_at: (status != PaymentStatus::Pending).then_some(created_at + took),
            max_fee_msat: 60_000,
            max_total_cltv_expiry_delta: 1008,
            timeout_secs: 60,
        }
    }

    fn forward(id: u64, status: ForwardStatus, in_msat: u64) -> ForwardRecord {
        ForwardRecord {
            incoming: htlc(1, id),
            outgoing: htlc(2, id),
            payment_hash: [5; 32],
            in_msat,
            out_msat: 10_000,
            in_cltv_expiry: 200,
            out_cltv_expiry: 160,
            status,
            shared_secret: [6; 32],
            preimage: (status == ForwardStatus::Settled).then_some([4; 32]),
            failure: None,
            created_at: 1_000,
            resolved_at: (status != ForwardStatus::Pending).then_some(1_001),
        }
    }

    #[test]
    fn an_empty_store_counts_zero_everywhere() {
        let store = Store::open_in_memory().unwrap();
        let stats = store.blocking(|c| payment_stats(c, 1_000)).unwrap();
        assert_eq!(stats, PaymentStats::default());
    }

    #[test]
    fn counts_by_status_fees_and_durations() {
        let store = Store::open_in_memory().unwrap();
        store
            .write_blocking(|tx| {
                for (h, status, took) in [
                    (1, PaymentStatus::Succeeded, 0),
                    (2, PaymentStatus::Succeeded, 3),
                    (3, PaymentStatus::Succeeded, 3),
                    (4, PaymentStatus::Failed, 60),
                    (5, PaymentStatus::Pending, 0),
                    (6, PaymentStatus::Pending, 0),
                ] {
                    pq::upsert_payment(tx, &payment(h, status, 1_000, took))?;
                }
                pq::insert_forward(tx, &forward(0, ForwardStatus::Settled, 11_000))?;
                pq::insert_forward(tx, &forward(1, ForwardStatus::Settled, 10_500))?;
                pq::insert_forward(tx, &forward(2, ForwardStatus::Failed, 99_000))?;
                pq::insert_forward(tx, &forward(3, ForwardStatus::Pending, 99_000))?;
                // Expiry at 2_000: `now` decides whether the open ones read expired.
                pq::insert_invoice(tx, &invoice(1, 2_000, InvoiceStatus::Open))?;
                pq::insert_invoice(tx, &invoice(2, 5_000, InvoiceStatus::Open))?;
                pq::insert_invoice(tx, &invoice(3, 2_000, InvoiceStatus::Paid))?;
                pq::insert_invoice(tx, &invoice(4, 2_000, InvoiceStatus::Cancelled))?;
                Ok(())
            })
            .unwrap();

        let before = store.blocking(|c| payment_stats(c, 1_999)).unwrap();
        assert_eq!(
            before.payments,
            PaymentCounts {
                pending: 2,
                succeeded: 3,
                failed: 1
            }
        );
        assert_eq!(
            before.forwards,
            ForwardCounts {
                pending: 1,
                settled: 2,
                failed: 1
            }
        );
        assert_eq!(before.forward_fees_earned_msat, 1_000 + 500);
        assert_eq!(
            before.invoices,
            InvoiceCounts {
                open: 2,
                held: 0,
                paid: 1,
                expired: 0,
                cancelled: 1
            }
        );
        // Only succeeded payments, grouped by whole seconds.
        assert_eq!(before.succeeded_durations, vec![(0, 1), (3, 2)]);

        // At the expiry second an open invoice reads expired, as in `status_at`.
        let at = store.blocking(|c| payment_stats(c, 2_000)).unwrap();
        assert_eq!(
            at.invoices,
            InvoiceCounts {
                open: 1,
                held: 0,
                paid: 1,
                expired: 1,
                cancelled: 1
            }
        );
    }

    #[test]
    fn a_duration_below_zero_counts_as_zero() {
        let store = Store::open_in_memory().unwrap();
        store
            .blocking(|c| {
                // A clock stepped back between creation and success.
                let mut p = payment(1, PaymentStatus::Succeeded, 1_000, 0);
                p.resolved_at = Some(990);
                pq::upsert_payment(c, &p)?;
                Ok(())
            })
            .unwrap();
        let stats = store.blocking(|c| payment_stats(c, 0)).unwrap();
        assert_eq!(stats.succeeded_durations, vec![(0, 1)]);
    }
}
