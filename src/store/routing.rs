//! The `route_penalties` table: what payments learnt about channels and nodes of the network
//! (see [`crate::routing::Scorer`]), saved whole so a restart does not walk into the same
//! failing channels again.

use bitcoin::secp256k1::PublicKey;
use rusqlite::Connection;

use super::payments::int;
use super::StoreError;
use crate::routing::{PenaltyEntry, PenaltyKey};
use crate::wire::ShortChannelId;

/// Replaces the saved penalties with `entries` (the scorer is bounded, so this is small).
pub fn save_penalties(conn: &Connection, entries: &[PenaltyEntry]) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM route_penalties")?
        .execute([])?;
    let mut insert = conn.prepare_cached(
        "INSERT OR REPLACE INTO route_penalties (kind, key, penalty_msat, amount_msat, at_secs)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for e in entries {
        let (kind, key) = match e.key {
            PenaltyKey::Channel { scid, dir } => {
                let mut k = scid.0.to_be_bytes().to_vec();
                k.push(dir);
                ("channel", k)
            }
            PenaltyKey::Node(node) => ("node", node.serialize().to_vec()),
        };
        insert.execute(rusqlite::params![
            kind,
            key,
            int(e.penalty_msat, "penalty_msat")?,
            int(e.amount_msat, "amount_msat")?,
            int(e.at_secs, "at_secs")?,
        ])?;
    }
    Ok(())
}

/// The saved penalties; rows that no longer read (a corrupt key) are skipped.
pub fn load_penalties(conn: &Connection) -> Result<Vec<PenaltyEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, key, penalty_msat, amount_msat, at_secs FROM route_penalties",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (kind, key, penalty, amount, at) = row?;
        let key = match (kind.as_str(), key.len()) {
            ("channel", 9) => {
                let mut scid = [0u8; 8];
                scid.copy_from_slice(&key[..8]);
                PenaltyKey::Channel {
                    scid: ShortChannelId(u64::from_be_bytes(scid)),
                    dir: key[8] & 1,
                }
            }
            ("node", 33) => match PublicKey::from_slice(&key) {
                Ok(node) => PenaltyKey::Node(node),
                Err(_) => continue,
            },
            _ => continue,
        };
        let (Ok(penalty_msat), Ok(amount_msat), Ok(at_secs)) = (
            u64::try_from(penalty),
            u64::try_from(amount),
            u64::try_from(at),
        ) else {
            continue;
        };
        out.push(PenaltyEntry {
            key,
            penalty_msat,
            amount_msat,
            at_secs,
        });
    }
    Ok(out)
}
