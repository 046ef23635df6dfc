//! The generic key/value `meta` table: small facts about the node (network, node id, counters).

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

pub fn get(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row(params![key], |r| r.get(0))
        .optional()?)
}

pub fn set(conn: &Connection, key: &str, value: &[u8]) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

pub fn get_u32(conn: &Connection, key: &str) -> Result<Option<u32>, StoreError> {
    match get(conn, key)? {
        None => Ok(None),
        Some(v) => {
            let bytes: [u8; 4] = v
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("meta {key} is not a u32")))?;
            Ok(Some(u32::from_be_bytes(bytes)))
        }
    }
}

pub fn set_u32(conn: &Connection, key: &str, value: u32) -> Result<(), StoreError> {
    set(conn, key, &value.to_be_bytes())
}

pub fn get_str(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    match get(conn, key)? {
        None => Ok(None),
        Some(v) => String::from_utf8(v)
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("meta {key} is not UTF-8"))),
    }
}

/// Returns the counter's current value and stores the next one, in the caller's transaction.
/// Used to hand out indexes (channel keys) that must never repeat.
pub fn next_counter(conn: &Connection, key: &str) -> Result<u32, StoreError> {
    let current = get_u32(conn, key)?.unwrap_or(0);
    let next = current
        .checked_add(1)
        .ok_or_else(|| StoreError::Corrupt(format!("counter {key} exhausted")))?;
    set_u32(conn, key, next)?;
    Ok(current)
}
