//! Paged reads for the accounting export (`GET /v1/export/{kind}`).
//!
//! Each page is its own short read: rows ordered by `(time, rowid)`, after the last key of the
//! previous page (a keyset cursor), within `[from, to)`. No transaction spans pages, so the
//! writers (one connection, behind one lock) wait for at most one page, never for the whole
//! export; a row written meanwhile shows up if its key lies after the cursor. Rows with equal
//! times are told apart by their rowid, so none is skipped or repeated at a page boundary.
//!
//! The time column of every table but `wallet_txs` is indexed (`*_created_at`; a secondary
//! index ends with the rowid, so it also serves the order). The wallet's transactions are few
//! (one per deposit, withdrawal, channel open or close): each page scans them.

use rusqlite::types::Value;
use rusqlite::{named_params, Connection};

use super::StoreError;

/// What can be exported: one table each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Payments,
    Invoices,
    Forwards,
    Onchain,
    Events,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Payments,
        Kind::Invoices,
        Kind::Forwards,
        Kind::Onchain,
        Kind::Events,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Payments => "payments",
            Kind::Invoices => "invoices",
            Kind::Forwards => "forwards",
            Kind::Onchain => "onchain",
            Kind::Events => "events",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The query of one page: `:lo` is the larger of `from` and the cursor's time, `:at` and
    /// `:rowid` the cursor (rows after it), `:to` the end (exclusive). The selected columns
    /// follow the key (`time, rowid`) in the order the export's column list names them;
    /// amounts in msat (on-chain satoshis times 1000).
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Kind::Payments => {
                "SELECT created_at, rowid, payment_hash, status, amount_msat, fee_msat, payee,
                        created_at, resolved_at, failure, bolt11
                 FROM payments
                 WHERE created_at >= :lo AND created_at < :to
                   AND (created_at > :at OR rowid > :rowid)
                 ORDER BY created_at, rowid LIMIT :limit"
            }
            Kind::Invoices => {
                "SELECT created_at, rowid, payment_hash,
                        CASE WHEN status = 'open' AND expires_at <= :now THEN 'expired'
                             ELSE status END,
                        amount_msat, received_msat, description, created_at, expires_at,
                        paid_at, bolt11
                 FROM invoices
                 WHERE created_at >= :lo AND created_at < :to
                   AND (created_at > :at OR rowid > :rowid)
                 ORDER BY created_at, rowid LIMIT :limit"
            }
            Kind::Forwards => {
                "SELECT created_at, rowid, payment_hash, status, in_channel_id, in_htlc_id,
                        out_channel_id, out_htlc_id, in_msat, out_msat, in_msat - out_msat,
                        CASE WHEN status = 'settled' THEN in_msat - out_msat ELSE 0 END,
                        created_at, resolved_at, failure
                 FROM forwards
                 WHERE created_at >= :lo AND created_at < :to
                   AND (created_at > :at OR rowid > :rowid)
                 ORDER BY created_at, rowid LIMIT :limit"
            }
            Kind::Onchain => {
                "SELECT first_seen, rowid, txid, first_seen, block_height, coinbase,
                        received * 1000, sent * 1000, (received - sent) * 1000, fee_sat * 1000
                 FROM (SELECT t.rowid, t.txid, t.first_seen, t.block_height, t.coinbase,
                              t.fee_sat,
                              (SELECT coalesce(sum(value_sat), 0) FROM wallet_outputs
                               WHERE txid = t.txid) AS received,
                              (SELECT coalesce(sum(value_sat), 0) FROM wallet_outputs
                               WHERE spent_by = t.txid) AS sent
                       FROM wallet_txs t
                       WHERE t.first_seen >= :lo AND t.first_seen < :to
                         AND (t.first_seen > :at OR t.rowid > :rowid)
                       ORDER BY t.first_seen, t.rowid LIMIT :limit)
                 ORDER BY first_seen, rowid"
            }
            Kind::Events => {
                "SELECT created_at, id, id, type, created_at,
                        json_extract(data, '$.payment_hash'),
                        coalesce(json_extract(data, '$.channel_id'),
                                 json_extract(data, '$.in_channel_id')),
                        coalesce(json_extract(data, '$.amount_msat'),
                                 json_extract(data, '$.in_msat'),
                                 json_extract(data, '$.received_sat') * 1000),
                        json_extract(data, '$.fee_msat'),
                        data
                 FROM events
                 WHERE created_at >= :lo AND created_at < :to
                   AND (created_at > :at OR id > :rowid)
                 ORDER BY created_at, id LIMIT :limit"
            }
        }
    }
}

/// Where a page starts: after the row with this time and rowid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: i64,
    pub rowid: i64,
}

/// One exported row: its key, and its cells in the export's column order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub key: Cursor,
    pub cells: Vec<Value>,
}

/// Up to `limit` rows of `kind` with a time in `[from, to)` (Unix seconds), after `after`
/// (from the start when `None`), in `(time, rowid)` order. `now` decides which open invoices
/// read `expired`.
pub fn page(
    conn: &Connection,
    kind: Kind,
    from: i64,
    to: i64,
    after: Option<Cursor>,
    limit: usize,
    now: i64,
) -> Result<Vec<Row>, StoreError> {
    let after = after.unwrap_or(Cursor {
        at: from,
        rowid: i64::MIN,
    });
    let mut stmt = conn.prepare_cached(kind.sql())?;
    let columns = stmt.column_count();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let lo = from.max(after.at);
    let mut rows = match kind {
        Kind::Invoices => stmt.query(named_params! {
            ":lo": lo, ":to": to, ":at": after.at, ":rowid": after.rowid, ":limit": limit,
            ":now": now,
        })?,
        _ => stmt.query(named_params! {
            ":lo": lo, ":to": to, ":at": after.at, ":rowid": after.rowid, ":limit": limit,
        })?,
    };
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let key = Cursor {
            at: r.get(0)?,
            rowid: r.get(1)?,
        };
        let cells = (2..columns)
            .map(|i| r.get::<_, Value>(i))
            .collect::<Result<_, _>>()?;
        out.push(Row { key, cells });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn hash(i: u32) -> Vec<u8> {
        let mut h = vec![0u8; 32];
        h[..4].copy_from_slice(&i.to_be_bytes());
        h
    }

    /// `n` payments, three to a second, inserted out of hash order.
    fn payments(store: &Store, n: u32) {
        store
            .write_blocking(|tx| {
                for i in 0..n {
                    let j = (i * 7919) % n;
                    let at = i64::from(j / 3) + 100;
                    tx.execute(
                        "INSERT INTO payments (payment_hash, payee, amount_msat, fee_msat, status,
                            created_at, resolved_at, max_fee_msat, max_total_cltv_expiry_delta,
                            timeout_secs)
                         VALUES (?1, ?2, ?3, 0, 'failed', ?4, ?4, 0, 0, 0)",
                        rusqlite::params![hash(j), vec![2u8; 33], i64::from(j) + 1, at],
                    )?;
                }
                Ok(())
            })
            .unwrap();
    }

    fn all(store: &Store, from: i64, to: i64, page_rows: usize) -> Vec<Row> {
        let mut out: Vec<Row> = Vec::new();
        loop {
            let after = out.last().map(|r| r.key);
            let p = store
                .blocking(|c| page(c, Kind::Payments, from, to, after, page_rows, 0))
                .unwrap();
            let done = p.len() < page_rows;
            out.extend(p);
            if done {
                return out;
            }
        }
    }

    #[test]
    fn pages_cover_every_row_once_in_order_across_equal_times() {
        let store = Store::open_in_memory().unwrap();
        payments(&store, 100);
        for page_rows in [1, 2, 3, 4, 7, 100, 1000] {
            let rows = all(&store, 0, i64::MAX, page_rows);
            assert_eq!(rows.len(), 100, "page of {page_rows}");
            let keys: Vec<(i64, i64)> = rows.iter().map(|r| (r.key.at, r.key.rowid)).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(keys, sorted, "in order, no repeats (page of {page_rows})");
        }
    }

    #[test]
    fn the_range_is_from_inclusive_to_exclusive() {
        let store = Store::open_in_memory().unwrap();
        payments(&store, 30); // times 100..=109, three each
        let rows = all(&store, 102, 105, 2);
        assert_eq!(rows.len(), 9);
        assert!(rows.iter().all(|r| (102..105).contains(&r.key.at)));
        // The cells follow the key: payment j (amount j + 1) was made at j / 3 + 100.
        for r in &rows {
            let Value::Integer(amount) = r.cells[2] else {
                panic!("{:?}", r.cells)
            };
            assert_eq!((amount - 1) / 3 + 100, r.key.at);
        }
    }

    #[test]
    fn the_page_queries_use_the_time_indexes() {
        let store = Store::open_in_memory().unwrap();
        for kind in [Kind::Payments, Kind::Invoices, Kind::Forwards, Kind::Events] {
            let plan: Vec<String> = store
                .blocking(|c| {
                    let mut s = c.prepare(&format!("EXPLAIN QUERY PLAN {}", kind.sql()))?;
                    let detail = |r: &rusqlite::Row| r.get::<_, String>(3);
                    let rows = if kind == Kind::Invoices {
                        s.query_map(
                            named_params! {":lo": 0, ":to": 1, ":at": 0, ":rowid": 0,
                            ":limit": 1, ":now": 0},
                            detail,
                        )?
                        .collect::<Result<Vec<_>, _>>()?
                    } else {
                        s.query_map(
                            named_params! {":lo": 0, ":to": 1, ":at": 0, ":rowid": 0,
                            ":limit": 1},
                            detail,
                        )?
                        .collect::<Result<Vec<_>, _>>()?
                    };
                    Ok(rows)
                })
                .unwrap();
            let plan = plan.join("; ");
            assert!(
                plan.contains("USING INDEX") && !plan.contains("TEMP B-TREE"),
                "{kind:?}: {plan}"
            );
        }
    }
}
