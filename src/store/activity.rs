//! Activity over time, from the event log: what was received, sent and forwarded, and the fees
//! earned, summed per time bucket (`GET /v1/stats/activity`, the dashboard's chart).
//!
//! One aggregate query over the events of the window (read through `events_created_at`): the
//! answer is one row per bucket and type, however many events there were. A sent payment's
//! amount is not in its event (`payment_succeeded` names the hash and fee): it is read from
//! its `payments` row.

use rusqlite::{named_params, Connection};

use super::StoreError;

/// The sums of one bucket, in msat, and how many events made them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Unix seconds at which the bucket starts.
    pub start: u64,
    pub received_msat: u64,
    pub received_count: u64,
    pub sent_msat: u64,
    pub sent_count: u64,
    pub forwarded_msat: u64,
    pub forwarded_count: u64,
    pub fees_earned_msat: u64,
}

/// `count` buckets of `width` seconds from `start`: invoices paid (`invoice_paid`), payments
/// that succeeded (their amount to the payee), and settled forwards (the amount passed on,
/// and the fee kept). Failed payments and forwards are left out.
pub fn buckets(
    conn: &Connection,
    start: u64,
    width: u64,
    count: u64,
) -> Result<Vec<Bucket>, StoreError> {
    let width = width.max(1);
    let mut out: Vec<Bucket> = (0..count)
        .map(|i| Bucket {
            start: start + i * width,
            ..Bucket::default()
        })
        .collect();
    let end = start.saturating_add(width.saturating_mul(count));
    let as_int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT (created_at - :start) / :width AS b, type, count(*),
                coalesce(sum(CASE type
                    WHEN 'invoice_paid' THEN json_extract(data, '$.amount_msat')
                    WHEN 'payment_succeeded' THEN
                        (SELECT amount_msat FROM payments
                         WHERE payment_hash = unhex(json_extract(data, '$.payment_hash')))
                    WHEN 'htlc_forwarded' THEN json_extract(data, '$.out_msat')
                    END), 0),
                coalesce(sum(CASE type
                    WHEN 'htlc_forwarded' THEN json_extract(data, '$.fee_msat') END), 0)
         FROM events
         WHERE created_at >= :start AND created_at < :end
           AND (type IN ('invoice_paid', 'payment_succeeded')
                OR (type = 'htlc_forwarded' AND json_extract(data, '$.status') = 'settled'))
         GROUP BY b, type",
    )?;
    let mut rows = stmt.query(named_params! {
        ":start": as_int(start), ":width": as_int(width), ":end": as_int(end),
    })?;
    while let Some(r) = rows.next()? {
        let i: i64 = r.get(0)?;
        let Some(b) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) else {
            continue;
        };
        let kind: String = r.get(1)?;
        let n = r.get::<_, i64>(2)?.max(0) as u64;
        let amount = r.get::<_, i64>(3)?.max(0) as u64;
        let fee = r.get::<_, i64>(4)?.max(0) as u64;
        match kind.as_str() {
            "invoice_paid" => (b.received_msat, b.received_count) = (amount, n),
            "payment_succeeded" => (b.sent_msat, b.sent_count) = (amount, n),
            _ => {
                (b.forwarded_msat, b.forwarded_count) = (amount, n);
                b.fees_earned_msat = fee;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventData;
    use crate::store::{events, Store};

    #[test]
    fn events_are_summed_per_bucket_by_kind() {
        let store = Store::open_in_memory().unwrap();
        store
            .write_blocking(|tx| {
                let paid = |n: u64| EventData::InvoicePaid {
                    payment_hash: format!("{n:064x}"),
                    amount_msat: n,
                };
                let fwd = |status: &str| EventData::HtlcForwarded {
                    payment_hash: "00".repeat(32),
                    in_channel_id: "01".repeat(32),
                    out_channel_id: "02".repeat(32),
                    in_msat: 10_100,
                    out_msat: 10_000,
                    fee_msat: 100,
                    status: status.into(),
                };
                // A payment of 7000 msat made, and its success event.
                tx.execute(
                    "INSERT INTO payments (payment_hash, payee, amount_msat, fee_msat, status,
                        preimage, created_at, resolved_at, max_fee_msat,
                        max_total_cltv_expiry_delta, timeout_secs)
                     VALUES (?1, ?2, 7000, 3, 'succeeded', ?3, 100, 100, 0, 0, 0)",
                    rusqlite::params![vec![0xaau8; 32], vec![2u8; 33], vec![1u8; 32]],
                )?;
                let sent = EventData::PaymentSucceeded {
                    payment_hash: "aa".repeat(32),
                    preimage: "01".repeat(32),
                    fee_msat: 3,
                };
                events::insert(tx, &paid(1_000), 99, 0)?; // before the window
                events::insert(tx, &paid(2_000), 100, 0)?;
                events::insert(tx, &paid(3_000), 159, 0)?;
                events::insert(tx, &sent, 160, 0)?;
                events::insert(tx, &fwd("settled"), 161, 0)?;
                events::insert(tx, &fwd("settled"), 219, 0)?;
                events::insert(tx, &fwd("failed"), 219, 0)?;
                events::insert(tx, &paid(4_000), 220, 0)?; // after it
                Ok(())
            })
            .unwrap();
        let b = store.blocking(|c| buckets(c, 100, 60, 2)).unwrap();
        assert_eq!(
            b,
            [
                Bucket {
                    start: 100,
                    received_msat: 5_000,
                    received_count: 2,
                    ..Bucket::default()
                },
                Bucket {
                    start: 160,
                    sent_msat: 7_000,
                    sent_count: 1,
                    forwarded_msat: 20_000,
                    forwarded_count: 2,
                    fees_earned_msat: 200,
                    ..Bucket::default()
                },
            ]
        );
    }
}
