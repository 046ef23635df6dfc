//! The compatibility API's own rows (`compat_phoenixd_invoices`) and its list queries over
//! chanhub's invoices and payments. The lists select payment hashes only; the records are
//! read with the store's own queries, so this file does not follow their columns.

use rusqlite::{named_params, Connection, OptionalExtension};

use crate::store::StoreError;

/// What a client attached to one of its invoices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceMeta {
    pub external_id: Option<String>,
    pub webhook_url: Option<String>,
}

pub fn insert_meta(
    conn: &Connection,
    hash: &[u8; 32],
    meta: &InvoiceMeta,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO compat_phoenixd_invoices (payment_hash, external_id, webhook_url)
         VALUES (?1, ?2, ?3)",
    )?
    .execute(rusqlite::params![
        hash.as_slice(),
        meta.external_id,
        meta.webhook_url
    ])?;
    Ok(())
}

pub fn get_meta(conn: &Connection, hash: &[u8; 32]) -> Result<Option<InvoiceMeta>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT external_id, webhook_url FROM compat_phoenixd_invoices
             WHERE payment_hash = ?1",
        )?
        .query_row([hash.as_slice()], |r| {
            Ok(InvoiceMeta {
                external_id: r.get(0)?,
                webhook_url: r.get(1)?,
            })
        })
        .optional()?)
}

/// A page of a list: created between `from_ms` and `to_ms` (inclusive, Unix milliseconds),
/// newest first, `offset` rows skipped, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub from_ms: i64,
    pub to_ms: i64,
    pub limit: i64,
    pub offset: i64,
}

impl Page {
    /// The same bounds in whole seconds (rows keep seconds), so the index on `created_at`
    /// serves the range.
    fn secs(&self) -> (i64, i64) {
        let from = self.from_ms.max(0);
        ((from + 999) / 1000, self.to_ms.div_euclid(1000))
    }
}

/// Invoices (paid ones only unless `all`), optionally those with `external_id`.
pub fn list_incoming(
    conn: &Connection,
    page: Page,
    all: bool,
    external_id: Option<&str>,
) -> Result<Vec<[u8; 32]>, StoreError> {
    let (from, to) = page.secs();
    let mut stmt = conn.prepare_cached(
        "SELECT i.payment_hash FROM invoices i
         LEFT JOIN compat_phoenixd_invoices m ON m.payment_hash = i.payment_hash
         WHERE i.created_at BETWEEN :from AND :to
           AND (:all OR i.status = 'paid')
           AND (:ext IS NULL OR m.external_id = :ext)
         ORDER BY i.created_at DESC, i.rowid DESC
         LIMIT :limit OFFSET :offset",
    )?;
    let rows = stmt.query_map(
        named_params! {
            ":from": from, ":to": to, ":all": all, ":ext": external_id,
            ":limit": page.limit, ":offset": page.offset.max(0),
        },
        |r| r.get::<_, Vec<u8>>(0),
    )?;
    collect_hashes(rows)
}

/// Payments (succeeded or pending ones only unless `all`).
pub fn list_outgoing(
    conn: &Connection,
    page: Page,
    all: bool,
) -> Result<Vec<[u8; 32]>, StoreError> {
    let (from, to) = page.secs();
    let mut stmt = conn.prepare_cached(
        "SELECT payment_hash FROM payments
         WHERE created_at BETWEEN :from AND :to AND (:all OR status <> 'failed')
         ORDER BY created_at DESC, rowid DESC
         LIMIT :limit OFFSET :offset",
    )?;
    let rows = stmt.query_map(
        named_params! {
            ":from": from, ":to": to, ":all": all,
            ":limit": page.limit, ":offset": page.offset.max(0),
        },
        |r| r.get::<_, Vec<u8>>(0),
    )?;
    collect_hashes(rows)
}

/// The payments whose hash starts with `prefix` (a payment id's first 6 bytes: the bytes
/// its UUID keeps whole); a range on the primary key.
pub fn payments_with_prefix(
    conn: &Connection,
    prefix: &[u8; 6],
) -> Result<Vec<[u8; 32]>, StoreError> {
    let mut lo = [0u8; 32];
    lo[..6].copy_from_slice(prefix);
    let mut hi = [0xffu8; 32];
    hi[..6].copy_from_slice(prefix);
    let mut stmt = conn
        .prepare_cached("SELECT payment_hash FROM payments WHERE payment_hash BETWEEN ?1 AND ?2")?;
    let rows = stmt.query_map([lo.as_slice(), hi.as_slice()], |r| r.get::<_, Vec<u8>>(0))?;
    collect_hashes(rows)
}

fn collect_hashes(
    rows: impl Iterator<Item = rusqlite::Result<Vec<u8>>>,
) -> Result<Vec<[u8; 32]>, StoreError> {
    rows.map(|r| {
        let b = r?;
        <[u8; 32]>::try_from(b.as_slice())
            .map_err(|_| StoreError::Corrupt("a payment hash is not 32 bytes".into()))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn meta_round_trips_and_lists_filter_by_external_id() {
        let store = Store::open_in_memory().unwrap();
        let meta = InvoiceMeta {
            external_id: Some("order-1".into()),
            webhook_url: Some("http://127.0.0.1:1/hook".into()),
        };
        let m = meta.clone();
        store
            .write(move |tx| insert_meta(tx, &[7; 32], &m))
            .await
            .unwrap();
        let got = store.call(|c| get_meta(c, &[7; 32])).await.unwrap();
        assert_eq!(got, Some(meta));
        assert_eq!(store.call(|c| get_meta(c, &[8; 32])).await.unwrap(), None);
        let page = Page {
            from_ms: 0,
            to_ms: i64::MAX,
            limit: 20,
            offset: 0,
        };
        // No invoice row for the hash: the list is of invoices, not of metadata.
        let l = store
            .call(move |c| list_incoming(c, page, true, Some("order-1")))
            .await
            .unwrap();
        assert!(l.is_empty());
        assert_eq!(
            Page {
                from_ms: 1001,
                to_ms: 2999,
                limit: 1,
                offset: 0
            }
            .secs(),
            (2, 2)
        );
    }
}
