//! The `tower_uploads` table: the node's queue of blobs for its watchtower (schema version 5).
//!
//! A row is inserted in the same write transaction as the channel state that holds the
//! revocation it protects, so a crash can never leave a revoked state without its upload; the
//! tower client drains pending rows in order and marks each one acknowledged.

use rusqlite::{named_params, Connection, OptionalExtension};

use super::StoreError;
use crate::tower::blob::Hint;

/// One pending upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// Queue order.
    pub id: i64,
    pub key_index: u32,
    pub commitment_number: u64,
    pub hint: Hint,
    pub blob: Vec<u8>,
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Queues a blob. A second blob for the same commitment (an event replayed after a restart) is
/// ignored: the first protects the same state.
pub fn enqueue(
    conn: &Connection,
    key_index: u32,
    commitment_number: u64,
    hint: &Hint,
    blob: &[u8],
) -> Result<(), StoreError> {
    let number = i64::try_from(commitment_number)
        .map_err(|_| StoreError::Corrupt("commitment number above 2^63".into()))?;
    conn.prepare_cached(
        "INSERT OR IGNORE INTO tower_uploads
             (key_index, commitment_number, hint, blob, created_at)
         VALUES (:idx, :number, :hint, :blob, :now)",
    )?
    .execute(named_params! {
        ":idx": key_index,
        ":number": number,
        ":hint": hint.0.as_slice(),
        ":blob": blob,
        ":now": now_secs(),
    })?;
    Ok(())
}

/// The oldest `limit` uploads not yet acknowledged.
pub fn pending(conn: &Connection, limit: usize) -> Result<Vec<PendingUpload>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, key_index, commitment_number, hint, blob FROM tower_uploads
         WHERE acked_at IS NULL ORDER BY id LIMIT :limit",
    )?;
    let rows = stmt.query_map(named_params! { ":limit": limit as i64 }, |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Vec<u8>>(3)?,
            r.get::<_, Vec<u8>>(4)?,
        ))
    })?;
    rows.map(|row| {
        let (id, key_index, number, hint, blob) = row?;
        let hint: [u8; 16] = hint
            .try_into()
            .map_err(|_| StoreError::Corrupt("tower_uploads.hint is not 16 bytes".into()))?;
        Ok(PendingUpload {
            id,
            key_index,
            commitment_number: number as u64,
            hint: Hint(hint),
            blob,
        })
    })
    .collect()
}

/// How many uploads wait for an acknowledgement.
pub fn backlog(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM tower_uploads WHERE acked_at IS NULL")?
        .query_row([], |r| r.get(0))?;
    Ok(n as u64)
}

/// The tower stored upload `id`: drop its blob, keep the record.
pub fn acknowledge(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE tower_uploads SET blob = NULL, acked_at = :now
         WHERE id = :id AND acked_at IS NULL",
    )?
    .execute(named_params! { ":id": id, ":now": now_secs() })?;
    Ok(())
}

/// The hint recorded for a channel's commitment, pending or acknowledged.
pub fn hint_of(
    conn: &Connection,
    key_index: u32,
    commitment_number: u64,
) -> Result<Option<Hint>, StoreError> {
    let hint: Option<Vec<u8>> = conn
        .prepare_cached(
            "SELECT hint FROM tower_uploads
             WHERE key_index = :idx AND commitment_number = :number",
        )?
        .query_row(
            named_params! { ":idx": key_index, ":number": commitment_number as i64 },
            |r| r.get(0),
        )
        .optional()?;
    hint.map(|h| {
        h.try_into()
            .map(Hint)
            .map_err(|_| StoreError::Corrupt("tower_uploads.hint is not 16 bytes".into()))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn uploads_are_drained_in_order_and_kept_as_records() {
        let store = Store::open_in_memory().unwrap();
        store
            .blocking(|c| {
                enqueue(c, 3, 10, &Hint([1; 16]), b"first")?;
                enqueue(c, 3, 11, &Hint([2; 16]), b"second")?;
                // The same commitment again (an event replayed): ignored.
                enqueue(c, 3, 10, &Hint([9; 16]), b"again")?;
                assert_eq!(backlog(c)?, 2);
                let p = pending(c, 10)?;
                assert_eq!(p.len(), 2);
                assert_eq!(
                    (p[0].commitment_number, &p[0].blob[..]),
                    (10, &b"first"[..])
                );
                assert_eq!(p[1].hint, Hint([2; 16]));
                assert_eq!(pending(c, 1)?.len(), 1);
                acknowledge(c, p[0].id)?;
                acknowledge(c, p[0].id)?;
                assert_eq!(backlog(c)?, 1);
                assert_eq!(pending(c, 10)?[0].id, p[1].id);
                assert_eq!(hint_of(c, 3, 10)?, Some(Hint([1; 16])));
                assert_eq!(hint_of(c, 3, 12)?, None);
                let blob: Option<Vec<u8>> = c.query_row(
                    "SELECT blob FROM tower_uploads WHERE id = ?1",
                    [p[0].id],
                    |r| r.get(0),
                )?;
                assert_eq!(blob, None, "the blob is dropped once stored by the tower");
                Ok(())
            })
            .unwrap();
    }
}
