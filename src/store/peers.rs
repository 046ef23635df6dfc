//! The `peers` table: peers we keep connected across restarts (those we connected out to).

use bitcoin::secp256k1::PublicKey;
use rusqlite::{named_params, Connection};

use super::StoreError;

/// A remembered peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPeer {
    pub node_id: PublicKey,
    /// `host:port` as the user gave it, resolved at each dial.
    pub addr: String,
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Remembers a peer, or updates its address.
pub fn upsert(conn: &Connection, node_id: &PublicKey, addr: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO peers (node_id, addr, added_at) VALUES (:id, :addr, :now)
         ON CONFLICT(node_id) DO UPDATE SET addr = excluded.addr",
    )?
    .execute(named_params! {
        ":id": node_id.serialize().as_slice(),
        ":addr": addr,
        ":now": now_secs(),
    })?;
    Ok(())
}

/// Forgets a peer; whether it was remembered.
pub fn remove(conn: &Connection, node_id: &PublicKey) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM peers WHERE node_id = :id")?
        .execute(named_params! { ":id": node_id.serialize().as_slice() })?;
    Ok(n > 0)
}

/// Every remembered peer, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<StoredPeer>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT node_id, addr FROM peers ORDER BY added_at, node_id")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
    })?;
    rows.map(|row| {
        let (id, addr) = row?;
        let node_id = PublicKey::from_slice(&id)
            .map_err(|_| StoreError::Corrupt("peers.node_id is not a public key".into()))?;
        Ok(StoredPeer { node_id, addr })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};

    fn id(b: u8) -> PublicKey {
        SecretKey::from_slice(&[b; 32])
            .unwrap()
            .public_key(&Secp256k1::new())
    }

    #[test]
    fn remember_update_forget() {
        let store = Store::open_in_memory().unwrap();
        store
            .write_blocking(|tx| {
                upsert(tx, &id(1), "127.0.0.1:9735")?;
                upsert(tx, &id(2), "example.org:9735")?;
                upsert(tx, &id(1), "127.0.0.1:9736")?;
                Ok(())
            })
            .unwrap();
        let all = store.blocking(list).unwrap();
        assert_eq!(all.len(), 2);
        let one = all.iter().find(|p| p.node_id == id(1)).unwrap();
        assert_eq!(one.addr, "127.0.0.1:9736");
        assert!(store.write_blocking(|tx| remove(tx, &id(1))).unwrap());
        assert!(!store.write_blocking(|tx| remove(tx, &id(1))).unwrap());
        assert_eq!(store.blocking(list).unwrap().len(), 1);
    }
}
