//! The tower's SQLite database, `DIR/tower.sqlite`, with the node store's rules (WAL,
//! `synchronous=FULL`, exclusive lock, `STRICT` tables, versioned scripts; see
//! [`crate::store::Store::open_with_schema`]).
//!
//! - `clients`: every client (its node id), how many blobs and bytes it holds (so the quota
//!   check is one row read), how many of its blobs turned out bad, and when its blobs last
//!   changed (for forgetting idle clients).
//! - `blobs`: hint and ciphertext per client. Keyed by (client, hint): a client replaces its own
//!   blob for a hint, and cannot touch another client's.
//! - `justice`: the justice transactions opened after a breach, re-broadcast until confirmed.
//! - `meta`: the last block the watcher processed (`watch.tip`).

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::PublicKey;
use bitcoin::{BlockHash, Transaction, Txid};
use rusqlite::{named_params, Connection, OptionalExtension};

use super::blob::Hint;
use crate::chain::BlockRef;
use crate::store::{meta, StoreError};

/// The database file inside the tower's data directory.
pub const TOWER_DB_FILE: &str = "tower.sqlite";

const V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

CREATE TABLE clients (
    client     BLOB PRIMARY KEY CHECK (length(client) = 33),
    blobs      INTEGER NOT NULL CHECK (blobs >= 0),
    first_seen INTEGER NOT NULL
) STRICT;

CREATE TABLE blobs (
    client      BLOB NOT NULL REFERENCES clients(client),
    hint        BLOB NOT NULL CHECK (length(hint) = 16),
    blob        BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (client, hint)
) STRICT, WITHOUT ROWID;
CREATE INDEX blobs_hint ON blobs(hint);

-- A justice transaction opened from a blob once its breach was mined. confirmed_height is
-- set when a block holds it (and cleared if that block is disconnected).
CREATE TABLE justice (
    txid             BLOB PRIMARY KEY CHECK (length(txid) = 32),
    breach_txid      BLOB NOT NULL CHECK (length(breach_txid) = 32),
    client           BLOB NOT NULL REFERENCES clients(client),
    tx               BLOB NOT NULL,
    breach_height    INTEGER NOT NULL CHECK (breach_height >= 0),
    confirmed_height INTEGER,
    last_error       TEXT
) STRICT;
";

// Per client: bytes held (the byte quota), blobs dropped as bad, and when its blobs last
// changed. Per justice transaction: the tip it was last broadcast at (the rotation of the
// capped re-broadcast).
const V2: &str = "
ALTER TABLE clients ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0);
ALTER TABLE clients ADD COLUMN bad_blobs INTEGER NOT NULL DEFAULT 0 CHECK (bad_blobs >= 0);
ALTER TABLE clients ADD COLUMN active_at INTEGER NOT NULL DEFAULT 0;
UPDATE clients SET
    bytes = (SELECT coalesce(sum(length(b.blob)), 0) FROM blobs b WHERE b.client = clients.client),
    active_at = max(first_seen,
        (SELECT coalesce(max(b.received_at), 0) FROM blobs b WHERE b.client = clients.client));
ALTER TABLE justice ADD COLUMN last_broadcast INTEGER;
";

/// The tower's schema scripts; `MIGRATIONS[i]` takes version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[V1, V2];

const TIP_KEY: &str = "watch.tip";

/// What one client may cost the tower, and how many it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Blobs one client may hold.
    pub max_blobs_per_client: u64,
    /// Bytes of blobs one client may hold.
    pub max_bytes_per_client: u64,
    /// Clients the tower serves; a new client past this is refused.
    pub max_clients: u64,
    /// Bad blobs (matched a transaction but held nothing that spends it) after which a client
    /// is refused.
    pub max_bad_blobs_per_client: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            max_blobs_per_client: 100_000,
            max_bytes_per_client: 256 << 20,
            max_clients: 1_000,
            max_bad_blobs_per_client: 10,
        }
    }
}

/// What happened to an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Kept; the client may store `remaining` more.
    Kept { remaining: u64 },
    /// The client already holds its maximum of blobs.
    ClientFull { max: u64 },
    /// The blob would take the client past its maximum of bytes: it holds `held`, the blob
    /// is `size`.
    ClientBytesFull { max: u64, held: u64, size: u64 },
    /// A new client, and the tower already serves its maximum of clients.
    TooManyClients { max: u64 },
    /// The client has had `bad` blobs dropped, its maximum: it is not served any more.
    Banned { bad: u64 },
}

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Stores `blob` under (`client`, `hint`) within `quota`. Run it in one write transaction:
/// the count, the check and the insert must not interleave with another upload. Nothing is
/// written unless the blob is kept.
pub fn store_blob(
    conn: &Connection,
    client: &PublicKey,
    hint: &Hint,
    blob: &[u8],
    quota: Quota,
) -> Result<Stored, StoreError> {
    let id = client.serialize();
    let row: Option<(i64, i64, i64)> = conn
        .prepare_cached("SELECT blobs, bytes, bad_blobs FROM clients WHERE client = :c")?
        .query_row(named_params! { ":c": id.as_slice() }, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let (count, bytes) = match row {
        Some((_, _, bad)) if bad as u64 >= quota.max_bad_blobs_per_client => {
            return Ok(Stored::Banned { bad: bad as u64 });
        }
        Some((count, bytes, _)) => (count as u64, bytes as u64),
        None => {
            let clients: i64 = conn
                .prepare_cached("SELECT count(*) FROM clients")?
                .query_row([], |r| r.get(0))?;
            if clients as u64 >= quota.max_clients {
                return Ok(Stored::TooManyClients {
                    max: quota.max_clients,
                });
            }
            (0, 0)
        }
    };
    let old: Option<i64> = conn
        .prepare_cached("SELECT length(blob) FROM blobs WHERE client = :c AND hint = :h")?
        .query_row(
            named_params! { ":c": id.as_slice(), ":h": hint.0.as_slice() },
            |r| r.get(0),
        )
        .optional()?;
    let size = blob.len() as u64;
    let (new_count, new_bytes) = match old {
        // Replacing one's own blob costs no slot, only the difference in size.
        Some(old) => (count, bytes.saturating_sub(old as u64) + size),
        None if count >= quota.max_blobs_per_client => {
            return Ok(Stored::ClientFull {
                max: quota.max_blobs_per_client,
            })
        }
        None => (count + 1, bytes + size),
    };
    if new_bytes > quota.max_bytes_per_client {
        return Ok(Stored::ClientBytesFull {
            max: quota.max_bytes_per_client,
            held: bytes,
            size,
        });
    }
    let now = now_secs();
    if row.is_none() {
        conn.prepare_cached(
            "INSERT INTO clients (client, blobs, first_seen, active_at) VALUES (:c, 0, :now, :now)",
        )?
        .execute(named_params! { ":c": id.as_slice(), ":now": now })?;
    }
    conn.prepare_cached(
        "INSERT INTO blobs (client, hint, blob, received_at) VALUES (:c, :h, :blob, :now)
         ON CONFLICT (client, hint) DO UPDATE SET blob = excluded.blob,
             received_at = excluded.received_at",
    )?
    .execute(named_params! {
        ":c": id.as_slice(), ":h": hint.0.as_slice(), ":blob": blob, ":now": now,
    })?;
    conn.prepare_cached(
        "UPDATE clients SET blobs = :n, bytes = :b, active_at = :now WHERE client = :c",
    )?
    .execute(named_params! {
        ":c": id.as_slice(), ":n": new_count as i64, ":b": new_bytes as i64, ":now": now,
    })?;
    Ok(Stored::Kept {
        remaining: quota.max_blobs_per_client.saturating_sub(new_count),
    })
}

/// Drops `client`'s blob under `hint` because it matched a transaction and held nothing that
/// spends it, and counts it against the client: its count of bad blobs after this one.
pub fn drop_bad_blob(
    conn: &Connection,
    client: &PublicKey,
    hint: &Hint,
) -> Result<u64, StoreError> {
    let id = client.serialize();
    let size: Option<i64> = conn
        .prepare_cached("SELECT length(blob) FROM blobs WHERE client = :c AND hint = :h")?
        .query_row(
            named_params! { ":c": id.as_slice(), ":h": hint.0.as_slice() },
            |r| r.get(0),
        )
        .optional()?;
    let Some(size) = size else {
        return bad_blobs(conn, client);
    };
    conn.prepare_cached("DELETE FROM blobs WHERE client = :c AND hint = :h")?
        .execute(named_params! { ":c": id.as_slice(), ":h": hint.0.as_slice() })?;
    conn.prepare_cached(
        "UPDATE clients SET blobs = blobs - 1, bytes = max(bytes - :size, 0),
             bad_blobs = bad_blobs + 1, active_at = :now
         WHERE client = :c",
    )?
    .execute(named_params! { ":c": id.as_slice(), ":size": size, ":now": now_secs() })?;
    bad_blobs(conn, client)
}

/// How many of `client`'s blobs were dropped as bad (0 for a client the tower does not know).
pub fn bad_blobs(conn: &Connection, client: &PublicKey) -> Result<u64, StoreError> {
    let n: Option<i64> = conn
        .prepare_cached("SELECT bad_blobs FROM clients WHERE client = :c")?
        .query_row(named_params! { ":c": client.serialize().as_slice() }, |r| {
            r.get(0)
        })
        .optional()?;
    Ok(n.unwrap_or(0) as u64)
}

/// How many bytes of blobs `client` holds.
pub fn byte_count(conn: &Connection, client: &PublicKey) -> Result<u64, StoreError> {
    let n: Option<i64> = conn
        .prepare_cached("SELECT bytes FROM clients WHERE client = :c")?
        .query_row(named_params! { ":c": client.serialize().as_slice() }, |r| {
            r.get(0)
        })
        .optional()?;
    Ok(n.unwrap_or(0) as u64)
}

/// Forgets the clients that hold no blob and whose blobs last changed at or before `cutoff`
/// (seconds since the epoch), with their counters; how many.
pub fn forget_idle(conn: &Connection, cutoff: i64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM clients WHERE blobs = 0 AND active_at <= :cutoff
             AND NOT EXISTS (SELECT 1 FROM justice j WHERE j.client = clients.client)",
        )?
        .execute(named_params! { ":cutoff": cutoff })?)
}

/// Whether the tower knows `client` (it has a row).
pub fn knows(conn: &Connection, client: &PublicKey) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM clients WHERE client = :c")?
        .query_row(
            named_params! { ":c": client.serialize().as_slice() },
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// How many blobs `client` holds.
pub fn blob_count(conn: &Connection, client: &PublicKey) -> Result<u64, StoreError> {
    let n: Option<i64> = conn
        .prepare_cached("SELECT blobs FROM clients WHERE client = :c")?
        .query_row(named_params! { ":c": client.serialize().as_slice() }, |r| {
            r.get(0)
        })
        .optional()?;
    Ok(n.unwrap_or(0) as u64)
}

/// A stored blob whose hint matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub client: PublicKey,
    pub blob: Vec<u8>,
}

/// Every client's blob under `hint`.
pub fn blobs_for(conn: &Connection, hint: &Hint) -> Result<Vec<Match>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT client, blob FROM blobs WHERE hint = :h")?;
    let rows = stmt.query_map(named_params! { ":h": hint.0.as_slice() }, |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    rows.map(|row| {
        let (client, blob) = row?;
        let client = PublicKey::from_slice(&client)
            .map_err(|_| StoreError::Corrupt("blobs.client is not a public key".into()))?;
        Ok(Match { client, blob })
    })
    .collect()
}

/// A justice transaction to broadcast until it confirms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Justice {
    pub tx: Transaction,
    pub breach_txid: Txid,
    pub client: PublicKey,
    pub breach_height: u32,
}

/// Records a justice transaction (again: ignored).
pub fn add_justice(conn: &Connection, j: &Justice) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO justice (txid, breach_txid, client, tx, breach_height)
             VALUES (:txid, :breach, :client, :tx, :height)",
        )?
        .execute(named_params! {
            ":txid": j.tx.compute_txid().as_byte_array().as_slice(),
            ":breach": j.breach_txid.as_byte_array().as_slice(),
            ":client": j.client.serialize().as_slice(),
            ":tx": serialize(&j.tx),
            ":height": j.breach_height,
        })?;
    Ok(n == 1)
}

/// Justice transactions not confirmed yet whose breach is at most `max_depth` blocks below
/// `tip` (older ones have lost the race for good: an output they spend went elsewhere).
pub fn unconfirmed_justice(
    conn: &Connection,
    tip: u32,
    max_depth: u32,
) -> Result<Vec<Justice>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT tx, breach_txid, client, breach_height FROM justice
         WHERE confirmed_height IS NULL AND breach_height + :depth >= :tip",
    )?;
    let rows = stmt.query_map(named_params! { ":depth": max_depth, ":tip": tip }, |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Vec<u8>>(2)?,
            r.get::<_, u32>(3)?,
        ))
    })?;
    rows.map(|row| justice_of(row?)).collect()
}

/// At most `limit` of the justice transactions [`unconfirmed_justice`] lists, in the order they
/// are due: the ones never broadcast first, then the ones broadcast longest ago; within each,
/// clients take turns (one client's many cannot crowd out another's few), each client's
/// oldest breach first.
pub fn justice_due(
    conn: &Connection,
    tip: u32,
    max_depth: u32,
    limit: usize,
) -> Result<Vec<Justice>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT tx, breach_txid, client, breach_height FROM (
             SELECT tx, breach_txid, client, breach_height, last_broadcast, txid,
                 row_number() OVER (PARTITION BY client, last_broadcast IS NULL
                     ORDER BY last_broadcast, breach_height, txid) AS turn
             FROM justice
             WHERE confirmed_height IS NULL AND breach_height + :depth >= :tip)
         ORDER BY last_broadcast IS NOT NULL, turn, last_broadcast, breach_height, txid
         LIMIT :limit",
    )?;
    let rows = stmt.query_map(
        named_params! { ":depth": max_depth, ":tip": tip, ":limit": limit as i64 },
        |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, u32>(3)?,
            ))
        },
    )?;
    rows.map(|row| justice_of(row?)).collect()
}

/// How many justice transactions wait for a confirmation (and are not given up).
pub fn unconfirmed_count(conn: &Connection, tip: u32, max_depth: u32) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM justice
             WHERE confirmed_height IS NULL AND breach_height + :depth >= :tip",
        )?
        .query_row(named_params! { ":depth": max_depth, ":tip": tip }, |r| {
            r.get(0)
        })?;
    Ok(n as u64)
}

/// Records that `txids` were broadcast at tip `height`.
pub fn mark_broadcast(conn: &Connection, txids: &[Txid], height: u32) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached("UPDATE justice SET last_broadcast = :h WHERE txid = :t")?;
    for t in txids {
        stmt.execute(named_params! { ":h": height, ":t": t.as_byte_array().as_slice() })?;
    }
    Ok(())
}

type JusticeRow = (Vec<u8>, Vec<u8>, Vec<u8>, u32);

fn justice_of((tx, breach, client, breach_height): JusticeRow) -> Result<Justice, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("justice.{what}"));
    Ok(Justice {
        tx: deserialize(&tx).map_err(|_| corrupt("tx"))?,
        breach_txid: Txid::from_slice(&breach).map_err(|_| corrupt("breach_txid"))?,
        client: PublicKey::from_slice(&client).map_err(|_| corrupt("client"))?,
        breach_height,
    })
}

/// Marks `txid` confirmed at `height`, if it is one of ours; whether it was.
pub fn confirm_justice(conn: &Connection, txid: &Txid, height: u32) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE justice SET confirmed_height = :h, last_error = NULL
             WHERE txid = :t AND confirmed_height IS NULL",
        )?
        .execute(named_params! { ":h": height, ":t": txid.as_byte_array().as_slice() })?;
    Ok(n == 1)
}

/// A block at `height` was disconnected: what it confirmed is unconfirmed again.
pub fn unconfirm_from(conn: &Connection, height: u32) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE justice SET confirmed_height = NULL WHERE confirmed_height >= :h")?
        .execute(named_params! { ":h": height })?;
    Ok(())
}

/// Remembers why the last broadcast of `txid` failed (for the logs and the operator).
pub fn set_justice_error(conn: &Connection, txid: &Txid, error: &str) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE justice SET last_error = :e WHERE txid = :t")?
        .execute(named_params! { ":e": error, ":t": txid.as_byte_array().as_slice() })?;
    Ok(())
}

/// Justice transactions and whether each is confirmed: (txid, confirmed height).
pub fn list_justice(conn: &Connection) -> Result<Vec<(Txid, Option<u32>)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT txid, confirmed_height FROM justice")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<u32>>(1)?))
    })?;
    rows.map(|row| {
        let (txid, h) = row?;
        let txid =
            Txid::from_slice(&txid).map_err(|_| StoreError::Corrupt("justice.txid".into()))?;
        Ok((txid, h))
    })
    .collect()
}

/// The last block the watcher processed.
pub fn tip(conn: &Connection) -> Result<Option<BlockRef>, StoreError> {
    let Some(v) = meta::get(conn, TIP_KEY)? else {
        return Ok(None);
    };
    if v.len() != 36 {
        return Err(StoreError::Corrupt("watch.tip is not 36 bytes".into()));
    }
    let (h, hash) = v.split_at(4);
    Ok(Some(BlockRef {
        height: u32::from_be_bytes(h.try_into().expect("4 bytes")),
        hash: BlockHash::from_slice(hash).map_err(|_| StoreError::Corrupt("watch.tip".into()))?,
    }))
}

pub fn set_tip(conn: &Connection, b: &BlockRef) -> Result<(), StoreError> {
    let mut v = b.height.to_be_bytes().to_vec();
    v.extend_from_slice(b.hash.as_byte_array());
    meta::set(conn, TIP_KEY, &v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};

    fn client(b: u8) -> PublicKey {
        SecretKey::from_slice(&[b; 32])
            .unwrap()
            .public_key(&Secp256k1::new())
    }

    fn store() -> Store {
        Store::open_in_memory_with_schema(MIGRATIONS).unwrap()
    }

    #[test]
    fn a_client_is_refused_past_its_quota_and_may_replace_its_own_blobs() {
        let s = store();
        let q = Quota {
            max_blobs_per_client: 2,
            max_clients: 10,
            ..Quota::default()
        };
        s.write_blocking(|c| {
            let a = client(1);
            assert_eq!(
                store_blob(c, &a, &Hint([1; 16]), b"x", q)?,
                Stored::Kept { remaining: 1 }
            );
            assert_eq!(
                store_blob(c, &a, &Hint([2; 16]), b"y", q)?,
                Stored::Kept { remaining: 0 }
            );
            assert_eq!(
                store_blob(c, &a, &Hint([3; 16]), b"z", q)?,
                Stored::ClientFull { max: 2 }
            );
            // Replacing one of its own costs nothing.
            assert_eq!(
                store_blob(c, &a, &Hint([2; 16]), b"y2", q)?,
                Stored::Kept { remaining: 0 }
            );
            assert_eq!(blob_count(c, &a)?, 2);
            // Another client's quota is its own, and the same hint stays separate.
            let b = client(2);
            assert_eq!(
                store_blob(c, &b, &Hint([2; 16]), b"b", q)?,
                Stored::Kept { remaining: 1 }
            );
            let mut m = blobs_for(c, &Hint([2; 16]))?;
            m.sort_by_key(|m| m.blob.clone());
            assert_eq!(m.len(), 2);
            assert_eq!((m[0].client, &m[0].blob[..]), (b, &b"b"[..]));
            assert_eq!((m[1].client, &m[1].blob[..]), (a, &b"y2"[..]));
            assert!(blobs_for(c, &Hint([3; 16]))?.is_empty());
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn new_clients_are_refused_past_the_client_limit() {
        let s = store();
        let q = Quota {
            max_blobs_per_client: 5,
            max_clients: 1,
            ..Quota::default()
        };
        s.write_blocking(|c| {
            assert!(matches!(
                store_blob(c, &client(1), &Hint([1; 16]), b"x", q)?,
                Stored::Kept { .. }
            ));
            assert_eq!(
                store_blob(c, &client(2), &Hint([1; 16]), b"x", q)?,
                Stored::TooManyClients { max: 1 }
            );
            assert_eq!(blob_count(c, &client(2))?, 0);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_client_is_refused_past_its_bytes_and_a_replacement_counts_its_difference() {
        let s = store();
        let q = Quota {
            max_bytes_per_client: 10,
            ..Quota::default()
        };
        s.write_blocking(|c| {
            let a = client(1);
            assert!(matches!(
                store_blob(c, &a, &Hint([1; 16]), &[0; 6], q)?,
                Stored::Kept { .. }
            ));
            assert_eq!(
                store_blob(c, &a, &Hint([2; 16]), &[0; 5], q)?,
                Stored::ClientBytesFull {
                    max: 10,
                    held: 6,
                    size: 5
                }
            );
            assert!(matches!(
                store_blob(c, &a, &Hint([2; 16]), &[0; 4], q)?,
                Stored::Kept { .. }
            ));
            assert_eq!(byte_count(c, &a)?, 10);
            // Replacing the 6-byte blob with 7 bytes would make 11; with 3 it makes 7.
            assert!(matches!(
                store_blob(c, &a, &Hint([1; 16]), &[0; 7], q)?,
                Stored::ClientBytesFull { held: 10, .. }
            ));
            assert!(matches!(
                store_blob(c, &a, &Hint([1; 16]), &[0; 3], q)?,
                Stored::Kept { .. }
            ));
            assert_eq!((blob_count(c, &a)?, byte_count(c, &a)?), (2, 7));
            // A new client whose first blob is too big is not recorded at all.
            let b = client(2);
            assert!(matches!(
                store_blob(c, &b, &Hint([1; 16]), &[0; 11], q)?,
                Stored::ClientBytesFull { held: 0, .. }
            ));
            assert!(!knows(c, &b)?);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn bad_blobs_are_dropped_counted_and_past_the_limit_refuse_the_client() {
        let s = store();
        let q = Quota {
            max_bad_blobs_per_client: 2,
            ..Quota::default()
        };
        s.write_blocking(|c| {
            let a = client(1);
            for i in 1..=3 {
                store_blob(c, &a, &Hint([i; 16]), &[0; 4], q)?;
            }
            assert_eq!(drop_bad_blob(c, &a, &Hint([1; 16]))?, 1);
            assert_eq!((blob_count(c, &a)?, byte_count(c, &a)?), (2, 8));
            // A blob already gone is not counted twice.
            assert_eq!(drop_bad_blob(c, &a, &Hint([1; 16]))?, 1);
            assert!(matches!(
                store_blob(c, &a, &Hint([4; 16]), &[0; 4], q)?,
                Stored::Kept { .. }
            ));
            assert_eq!(drop_bad_blob(c, &a, &Hint([2; 16]))?, 2);
            assert_eq!(
                store_blob(c, &a, &Hint([5; 16]), &[0; 4], q)?,
                Stored::Banned { bad: 2 }
            );
            assert_eq!(bad_blobs(c, &client(2))?, 0);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn clients_without_blobs_are_forgotten_after_the_idle_time() {
        let s = store();
        let q = Quota {
            max_clients: 2,
            ..Quota::default()
        };
        s.write_blocking(|c| {
            let (a, b) = (client(1), client(2));
            store_blob(c, &a, &Hint([1; 16]), b"x", q)?;
            store_blob(c, &b, &Hint([1; 16]), b"x", q)?;
            drop_bad_blob(c, &b, &Hint([1; 16]))?;
            assert_eq!(
                store_blob(c, &client(3), &Hint([1; 16]), b"x", q)?,
                Stored::TooManyClients { max: 2 }
            );
            // Too recent: nobody is forgotten.
            assert_eq!(forget_idle(c, now_secs() - 60)?, 0);
            // Later: b, which holds nothing, is; a, which holds a blob, never is.
            assert_eq!(forget_idle(c, now_secs() + 60)?, 1);
            assert!(knows(c, &a)? && !knows(c, &b)?);
            assert_eq!(bad_blobs(c, &b)?, 0, "its count went with it");
            assert!(matches!(
                store_blob(c, &client(3), &Hint([1; 16]), b"x", q)?,
                Stored::Kept { .. }
            ));
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn version_1_rows_get_their_byte_counts() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(V1).unwrap();
        let id = client(1).serialize();
        conn.execute("INSERT INTO clients VALUES (?1, 2, 50)", [&id[..]])
            .unwrap();
        for (hint, len, at) in [([0u8; 16], 7, 60), ([1; 16], 5, 70)] {
            conn.execute(
                "INSERT INTO blobs VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![&id[..], &hint[..], vec![0u8; len], at],
            )
            .unwrap();
        }
        conn.execute_batch(V2).unwrap();
        let row: (i64, i64, i64) = conn
            .query_row("SELECT bytes, bad_blobs, active_at FROM clients", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(row, (12, 0, 70));
    }

    #[test]
    fn justice_is_pending_until_confirmed_and_again_after_a_reorg() {
        let s = store();
        let tx = Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![],
            output: vec![bitcoin::TxOut {
                value: bitcoin::Amount::from_sat(1),
                script_pubkey: bitcoin::ScriptBuf::new(),
            }],
        };
        let j = Justice {
            tx: tx.clone(),
            breach_txid: Txid::from_byte_array([4; 32]),
            client: client(1),
            breach_height: 100,
        };
        s.write_blocking(|c| {
            store_blob(c, &client(1), &Hint([1; 16]), b"x", Quota::default())?;
            assert!(add_justice(c, &j)?);
            assert!(!add_justice(c, &j)?, "recorded once");
            assert_eq!(unconfirmed_justice(c, 101, 1008)?, vec![j.clone()]);
            assert!(
                unconfirmed_justice(c, 100 + 1009, 1008)?.is_empty(),
                "given up"
            );
            let txid = tx.compute_txid();
            assert!(confirm_justice(c, &txid, 102)?);
            assert!(unconfirmed_justice(c, 103, 1008)?.is_empty());
            assert_eq!(list_justice(c)?, vec![(txid, Some(102))]);
            unconfirm_from(c, 102)?;
            assert_eq!(unconfirmed_justice(c, 103, 1008)?.len(), 1);
            assert_eq!(tip(c)?, None);
            let b = BlockRef {
                height: 7,
                hash: BlockHash::from_byte_array([9; 32]),
            };
            set_tip(c, &b)?;
            assert_eq!(tip(c)?, Some(b));
            Ok(())
        })
        .unwrap();
    }
}
