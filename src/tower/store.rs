//! The tower's SQLite database, `DIR/tower.sqlite`, with the node store's rules (WAL,
//! `synchronous=FULL`, exclusive lock, `STRICT` tables, versioned scripts; see
//! [`crate::store::Store::open_with_schema`]).
//!
//! - `clients`: every client (its node id) and how many blobs it holds, so the quota check is
//!   one row read.
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

/// The tower's schema scripts; `MIGRATIONS[i]` takes version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[V1];

const TIP_KEY: &str = "watch.tip";

/// The tower's storage limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Blobs one client may hold.
    pub max_blobs_per_client: u64,
    /// Clients the tower serves; a new client past this is refused.
    pub max_clients: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            max_blobs_per_client: 100_000,
            max_clients: 1_000,
        }
    }
}

/// What happened to an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Kept; the client may store `remaining` more.
    Kept { remaining: u64 },
    /// The client already holds its maximum.
    ClientFull { max: u64 },
    /// A new client, and the tower already serves its maximum of clients.
    TooManyClients { max: u64 },
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Stores `blob` under (`client`, `hint`) within `quota`. Run it in one write transaction:
/// the count, the check and the insert must not interleave with another upload.
pub fn store_blob(
    conn: &Connection,
    client: &PublicKey,
    hint: &Hint,
    blob: &[u8],
    quota: Quota,
) -> Result<Stored, StoreError> {
    let id = client.serialize();
    let count: Option<i64> = conn
        .prepare_cached("SELECT blobs FROM clients WHERE client = :c")?
        .query_row(named_params! { ":c": id.as_slice() }, |r| r.get(0))
        .optional()?;
    let count = match count {
        Some(n) => n as u64,
        None => {
            let clients: i64 = conn
                .prepare_cached("SELECT count(*) FROM clients")?
                .query_row([], |r| r.get(0))?;
            if clients as u64 >= quota.max_clients {
                return Ok(Stored::TooManyClients {
                    max: quota.max_clients,
                });
            }
            conn.prepare_cached(
                "INSERT INTO clients (client, blobs, first_seen) VALUES (:c, 0, :now)",
            )?
            .execute(named_params! { ":c": id.as_slice(), ":now": now_secs() })?;
            0
        }
    };
    let replaced = conn
        .prepare_cached(
            "UPDATE blobs SET blob = :blob, received_at = :now WHERE client = :c AND hint = :h",
        )?
        .execute(named_params! {
            ":c": id.as_slice(), ":h": hint.0.as_slice(), ":blob": blob, ":now": now_secs(),
        })?;
    if replaced == 1 {
        return Ok(Stored::Kept {
            remaining: quota.max_blobs_per_client.saturating_sub(count),
        });
    }
    if count >= quota.max_blobs_per_client {
        return Ok(Stored::ClientFull {
            max: quota.max_blobs_per_client,
        });
    }
    conn.prepare_cached(
        "INSERT INTO blobs (client, hint, blob, received_at) VALUES (:c, :h, :blob, :now)",
    )?
    .execute(named_params! {
        ":c": id.as_slice(), ":h": hint.0.as_slice(), ":blob": blob, ":now": now_secs(),
    })?;
    conn.prepare_cached("UPDATE clients SET blobs = blobs + 1 WHERE client = :c")?
        .execute(named_params! { ":c": id.as_slice() })?;
    Ok(Stored::Kept {
        remaining: quota.max_blobs_per_client - count - 1,
    })
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
    rows.map(|row| {
        let (tx, breach, client, breach_height) = row?;
        let corrupt = |what: &str| StoreError::Corrupt(format!("justice.{what}"));
        Ok(Justice {
            tx: deserialize(&tx).map_err(|_| corrupt("tx"))?,
            breach_txid: Txid::from_slice(&breach).map_err(|_| corrupt("breach_txid"))?,
            client: PublicKey::from_slice(&client).map_err(|_| corrupt("client"))?,
            breach_height,
        })
    })
    .collect()
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
