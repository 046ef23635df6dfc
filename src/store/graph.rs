//! The network graph's tables (`graph_channels`, `graph_updates`, `graph_nodes`): the
//! validator's changes written in one transaction per batch, and the whole graph read back at
//! start.
//!
//! Loading does not verify signatures or the chain again: a row was written only after its
//! message passed every check, and a channel row doubles as the cache of its funding check.
//! A row that does not decode is skipped with a warning, never fatal.

use std::collections::HashMap;

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::PublicKey;
use bitcoin::{OutPoint, Txid};
use rusqlite::{named_params, Connection};

use super::StoreError;
use crate::gossip::graph::{announcement_ids, NetworkGraph, NodeInfo, Policy};
use crate::gossip::validate::GraphChange;
use crate::wire::ShortChannelId;

/// An scid as stored: the u64's bits in SQLite's signed integer.
fn col(scid: ShortChannelId) -> i64 {
    scid.0 as i64
}

/// Writes a batch of changes. Call it inside one write transaction ([`super::Store::write`])
/// so the batch is stored whole or not at all.
pub fn apply(conn: &Connection, changes: &[GraphChange]) -> Result<(), StoreError> {
    for change in changes {
        match change {
            GraphChange::Channel {
                scid,
                capacity_sat,
                funding_txid,
                added_at,
                announcement,
            } => {
                conn.prepare_cached(
                    "INSERT INTO graph_channels
                         (scid, announcement, capacity_sat, funding_txid, added_at)
                     VALUES (:scid, :ann, :cap, :txid, :at)
                     ON CONFLICT(scid) DO NOTHING",
                )?
                .execute(named_params! {
                    ":scid": col(*scid),
                    ":ann": announcement,
                    ":cap": i64::try_from(*capacity_sat).unwrap_or(i64::MAX),
                    ":txid": funding_txid.to_byte_array().as_slice(),
                    ":at": added_at,
                })?;
            }
            GraphChange::Update {
                scid,
                direction,
                timestamp,
                bytes,
            } => {
                conn.prepare_cached(
                    "INSERT INTO graph_updates (scid, direction, timestamp, message)
                     SELECT :scid, :dir, :ts, :msg
                     WHERE EXISTS (SELECT 1 FROM graph_channels WHERE scid = :scid)
                     ON CONFLICT(scid, direction) DO UPDATE
                     SET timestamp = excluded.timestamp, message = excluded.message",
                )?
                .execute(named_params! {
                    ":scid": col(*scid),
                    ":dir": direction,
                    ":ts": timestamp,
                    ":msg": bytes,
                })?;
            }
            GraphChange::Node {
                node_id,
                timestamp,
                bytes,
            } => {
                conn.prepare_cached(
                    "INSERT INTO graph_nodes (node_id, timestamp, announcement)
                     VALUES (:id, :ts, :ann)
                     ON CONFLICT(node_id) DO UPDATE
                     SET timestamp = excluded.timestamp, announcement = excluded.announcement",
                )?
                .execute(named_params! {
                    ":id": node_id.serialize().as_slice(),
                    ":ts": timestamp,
                    ":ann": bytes,
                })?;
            }
            GraphChange::Spent { scid, height } => {
                conn.prepare_cached(
                    "UPDATE graph_channels SET spent_height = :h WHERE scid = :scid",
                )?
                .execute(named_params! { ":scid": col(*scid), ":h": height })?;
            }
            GraphChange::ForgetChannel(scid) => {
                conn.prepare_cached("DELETE FROM graph_channels WHERE scid = :scid")?
                    .execute(named_params! { ":scid": col(*scid) })?;
            }
            GraphChange::ForgetNode(node_id) => {
                conn.prepare_cached("DELETE FROM graph_nodes WHERE node_id = :id")?
                    .execute(named_params! { ":id": node_id.serialize().as_slice() })?;
            }
        }
    }
    Ok(())
}

/// The funding outpoints of the channels not yet seen spent, by scid: what the runtime
/// watches for spends after a restart.
pub fn funding_outpoints(conn: &Connection) -> Result<Vec<(ShortChannelId, OutPoint)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT scid, funding_txid FROM graph_channels WHERE spent_height IS NULL ORDER BY scid",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (scid, txid) = row?;
        let scid = ShortChannelId(scid as u64);
        let txid = <[u8; 32]>::try_from(txid.as_slice()).map_err(|_| {
            StoreError::Corrupt("graph_channels.funding_txid is not 32 bytes".into())
        })?;
        out.push((
            scid,
            OutPoint::new(Txid::from_byte_array(txid), u32::from(scid.output_index())),
        ));
    }
    Ok(out)
}

/// What [`load`] read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub channels: usize,
    pub updates: usize,
    pub nodes: usize,
    /// Rows that did not decode (or did not match their columns), left out.
    pub skipped: usize,
}

/// Rebuilds the graph from the tables, without verifying signatures again.
pub fn load(conn: &Connection) -> Result<(NetworkGraph, LoadReport), StoreError> {
    let mut graph = NetworkGraph::new();
    let mut report = LoadReport::default();
    // Parsing a compressed key costs a square root: each node's is parsed once.
    let mut keys: HashMap<[u8; 33], PublicKey> = HashMap::new();
    let mut key = |bytes: [u8; 33]| -> Option<PublicKey> {
        if let Some(k) = keys.get(&bytes) {
            return Some(*k);
        }
        let k = PublicKey::from_slice(&bytes).ok()?;
        keys.insert(bytes, k);
        Some(k)
    };

    let mut stmt = conn.prepare(
        "SELECT scid, announcement, capacity_sat, spent_height, added_at FROM graph_channels
         ORDER BY scid",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let scid = ShortChannelId(r.get::<_, i64>(0)? as u64);
        let ann: Vec<u8> = r.get(1)?;
        let capacity: i64 = r.get(2)?;
        let spent: Option<i64> = r.get(3)?;
        let added_at: i64 = r.get(4)?;
        let ends = announcement_ids(&ann)
            .filter(|(s, _, _)| *s == scid)
            .and_then(|(_, a, b)| Some((key(a)?, key(b)?)));
        let added = match ends {
            Some((a, b)) => graph.add_channel(
                scid,
                a,
                b,
                capacity.max(0) as u64,
                u32::try_from(added_at).unwrap_or(0),
                ann,
            ),
            None => false,
        };
        if !added {
            tracing::warn!(%scid, "graph: a stored channel does not decode; left out");
            report.skipped += 1;
            continue;
        }
        if let Some(h) = spent.and_then(|h| u32::try_from(h).ok()) {
            graph.mark_spent(scid, h);
        }
        report.channels += 1;
    }
    drop(rows);
    drop(stmt);

    let mut stmt = conn.prepare("SELECT scid, direction, message FROM graph_updates")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let scid = ShortChannelId(r.get::<_, i64>(0)? as u64);
        let direction: i64 = r.get(1)?;
        let policy = Policy::from_update_bytes(r.get(2)?).filter(|p| {
            i64::from(p.direction()) == direction && update_scid(&p.bytes) == Some(scid)
        });
        match policy.map(|p| graph.set_policy(scid, p)) {
            Some(true) => report.updates += 1,
            _ => {
                tracing::warn!(%scid, "graph: a stored channel_update does not decode; left out");
                report.skipped += 1;
            }
        }
    }
    drop(rows);
    drop(stmt);

    let mut stmt = conn.prepare("SELECT node_id, timestamp, announcement FROM graph_nodes")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: Vec<u8> = r.get(0)?;
        let timestamp: i64 = r.get(1)?;
        let bytes: Vec<u8> = r.get(2)?;
        let node_id = PublicKey::from_slice(&id).ok();
        let ok = match node_id {
            Some(n) if node_announcement_is(&bytes, &n, timestamp) => graph.set_node_announcement(
                &n,
                NodeInfo {
                    timestamp: timestamp as u32,
                    bytes: bytes.into_boxed_slice(),
                },
            ),
            _ => false,
        };
        if ok {
            report.nodes += 1;
        } else {
            // A node whose channels are gone keeps no row worth warning about; a bad row is
            // skipped all the same.
            report.skipped += 1;
        }
    }
    graph.shrink_to_fit();
    Ok((graph, report))
}

/// The scid of an encoded `channel_update`.
fn update_scid(bytes: &[u8]) -> Option<ShortChannelId> {
    let b: [u8; 8] = bytes.get(98..106)?.try_into().ok()?;
    Some(ShortChannelId(u64::from_be_bytes(b)))
}

/// Whether `bytes` look like `node_id`'s `node_announcement` dated `timestamp`: type 257,
/// then signature (64), features (u16-prefixed), timestamp, node id.
fn node_announcement_is(bytes: &[u8], node_id: &PublicKey, timestamp: i64) -> bool {
    let at = |i: usize, n: usize| bytes.get(i..i + n);
    let Some(flen) = at(66, 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else {
        return false;
    };
    let ts = 68 + flen;
    at(0, 2) == Some(&[1, 1][..])
        && at(ts, 4).map(|b| i64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
            == Some(timestamp)
        && at(ts + 4, 33) == Some(&node_id.serialize()[..])
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
