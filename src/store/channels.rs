//! The `channels` table: one row per channel, the latest [`ChannelState`] snapshot (cut into
//! parts, see [`super::channel_parts`]), and the log of signatures given for the peer's
//! commitments.

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::secp256k1::PublicKey;
use rusqlite::{named_params, params, Connection, OptionalExtension};

use std::sync::Arc;

use super::{channel_parts, meta, StoreError};
use crate::channel::{ChannelState, Onion, Origin};

/// The meta key of the next channel key index: indexes are never reused, even for channels
/// that were abandoned before they were stored.
const NEXT_INDEX_KEY: &str = "channels.next_key_index";

/// A channel as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChannel {
    pub key_index: u32,
    pub peer: PublicKey,
    pub state: ChannelState,
}

/// Takes the next channel key index, in the caller's transaction.
pub fn next_key_index(conn: &Connection) -> Result<u32, StoreError> {
    meta::next_counter(conn, NEXT_INDEX_KEY)
}

/// The next channel key index, without taking it.
pub fn peek_next_key_index(conn: &Connection) -> Result<u32, StoreError> {
    Ok(meta::get_u32(conn, NEXT_INDEX_KEY)?.unwrap_or(0))
}

/// Moves the next channel key index (a restore skips past indexes a newer database used).
pub fn set_next_key_index(conn: &Connection, next: u32) -> Result<(), StoreError> {
    meta::set_u32(conn, NEXT_INDEX_KEY, next)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Removes a channel that never needs enforcing (unfunded, or a funding that never came), with
/// every row keyed by its index.
pub fn forget(conn: &Connection, key_index: u32) -> Result<(), StoreError> {
    for table in [
        "htlc_onions",
        "change_onions",
        "htlc_archive",
        "tower_uploads",
        "channel_parts",
        "channels",
    ] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE key_index = ?1"),
            [key_index],
        )?;
    }
    Ok(())
}

/// Writes the channel's snapshot, and records the signature of the peer's commitment the
/// snapshot is about to hand out.
///
/// `prev` is the state this function last wrote for the channel in this database (whose
/// transaction may still be open), or `None` when not known: only what changed since it is
/// written (see [`channel_parts`]). A wrong `prev` loses data, so a caller that cannot vouch
/// for it (a failed write, a lost batch, a reload) passes `None`.
///
/// # Errors
/// [`StoreError::Corrupt`] when the snapshot carries a signature for a commitment number we
/// already signed differently: the caller must not send it.
pub fn save(
    conn: &Connection,
    key_index: u32,
    peer: &PublicKey,
    prev: Option<&ChannelState>,
    state: &ChannelState,
) -> Result<(), StoreError> {
    let write = channel_parts::changed(prev, state)?;
    if let Some(base) = &write.base {
        let funding_txid = state
            .setup
            .funding_outpoint
            .map(|o| o.txid.to_byte_array().to_vec());
        conn.prepare_cached(
            "INSERT INTO channels (key_index, channel_id, temporary_channel_id, peer_node_id, phase,
                                   funding_txid, state, updated_at)
             VALUES (:idx, :id, :tmp, :peer, :phase, :txid, :state, :now)
             ON CONFLICT(key_index) DO UPDATE SET
                channel_id = excluded.channel_id, phase = excluded.phase,
                funding_txid = excluded.funding_txid, state = excluded.state,
                updated_at = excluded.updated_at",
        )?
        .execute(named_params! {
            ":idx": key_index,
            ":id": state.channel_id.as_slice(),
            ":tmp": state.setup.temporary_channel_id.as_slice(),
            ":peer": peer.serialize().as_slice(),
            ":phase": state.phase.name(),
            ":txid": funding_txid,
            ":state": base,
            ":now": now_secs(),
        })?;
    }
    if write.no_commitments && prev.map_or(true, |p| p.commitments.is_some()) {
        conn.prepare_cached("DELETE FROM channel_parts WHERE key_index = ?1")?
            .execute([key_index])?;
    }
    let mut put = conn.prepare_cached(
        "INSERT INTO channel_parts (key_index, part, data) VALUES (?1, ?2, ?3)
         ON CONFLICT(key_index, part) DO UPDATE SET data = excluded.data",
    )?;
    for (part, data) in &write.parts {
        put.execute(params![key_index, part, data])?;
        channel_parts::drill();
    }
    save_change_onions(conn, key_index, &write)?;
    let signed = |s: &ChannelState| -> Vec<(u64, Signature)> {
        s.commitments
            .as_ref()
            .into_iter()
            .flat_map(|c| {
                [Some(&c.remote), c.remote_waiting.as_ref()]
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.sig.map(|s| (r.number, s)))
            })
            .collect()
    };
    let known = prev.map(signed).unwrap_or_default();
    for (number, sig) in signed(state) {
        if !known.contains(&(number, sig)) {
            record_signature(conn, key_index, number, &sig.serialize_compact())?;
        }
    }
    save_onions(conn, key_index, prev, state)?;
    archive_new_htlcs(conn, key_index, prev, state)
}

fn origin_name(o: Origin) -> &'static str {
    match o {
        Origin::Local => "local",
        Origin::Remote => "remote",
    }
}

/// Writes what `write` says of the onions of the adds in the change lists.
fn save_change_onions(
    conn: &Connection,
    key_index: u32,
    write: &channel_parts::Write,
) -> Result<(), StoreError> {
    if write.onions_reset || write.no_commitments {
        conn.prepare_cached("DELETE FROM change_onions WHERE key_index = ?1")?
            .execute([key_index])?;
    }
    let mut delete = conn.prepare_cached(
        "DELETE FROM change_onions WHERE key_index = ?1 AND origin = ?2 AND htlc_id = ?3",
    )?;
    for (origin, id) in &write.onions_gone {
        delete.execute(params![key_index, origin_name(*origin), htlc_id(*id)?])?;
    }
    let mut put = conn.prepare_cached(
        "INSERT INTO change_onions (key_index, origin, htlc_id, onion) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(key_index, origin, htlc_id) DO UPDATE SET onion = excluded.onion",
    )?;
    for (origin, id, onion) in &write.onions {
        put.execute(params![
            key_index,
            origin_name(*origin),
            htlc_id(*id)?,
            onion
        ])?;
        channel_parts::drill();
    }
    Ok(())
}

/// The stored onions of the adds in a channel's change lists.
fn load_change_onions(
    conn: &Connection,
    key_index: u32,
) -> Result<Vec<(Origin, u64, Vec<u8>)>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT origin, htlc_id, onion FROM change_onions WHERE key_index = ?1")?;
    let rows = stmt.query_map([key_index], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get(2)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (origin, id, onion) = row?;
        let origin = match origin.as_str() {
            "local" => Origin::Local,
            "remote" => Origin::Remote,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "channel {key_index}: an onion of origin {other:?}"
                )))
            }
        };
        let id = u64::try_from(id)
            .map_err(|_| StoreError::Corrupt(format!("channel {key_index}: HTLC id {id}")))?;
        out.push((origin, id, onion));
    }
    Ok(out)
}

/// Keeps `htlc_onions` equal to the state's `received_onions`: an onion is written once, when
/// its HTLC is first saved committed, and deleted with the first state without it.
fn save_onions(
    conn: &Connection,
    key_index: u32,
    prev: Option<&ChannelState>,
    state: &ChannelState,
) -> Result<(), StoreError> {
    fn onions_of(s: &ChannelState) -> Option<&std::collections::BTreeMap<u64, Onion>> {
        s.commitments.as_ref().map(|c| &c.received_onions)
    }
    let onions = onions_of(state);
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO htlc_onions (key_index, htlc_id, onion) VALUES (?1, ?2, ?3)",
    )?;
    let Some(old) = prev.map(onions_of) else {
        // Not known what is stored: make the rows equal the state.
        let mut live = Vec::new();
        for (id, onion) in onions.into_iter().flatten() {
            let id = htlc_id(*id)?;
            insert.execute(params![key_index, id, onion.0])?;
            live.push(id);
        }
        let live = serde_json::Value::from(live).to_string();
        conn.prepare_cached(
            "DELETE FROM htlc_onions WHERE key_index = ?1
             AND htlc_id NOT IN (SELECT value FROM json_each(?2))",
        )?
        .execute(params![key_index, live])?;
        return Ok(());
    };
    for (id, onion) in onions.into_iter().flatten() {
        if !old.is_some_and(|o| o.contains_key(id)) {
            insert.execute(params![key_index, htlc_id(*id)?, onion.0])?;
        }
    }
    let mut delete =
        conn.prepare_cached("DELETE FROM htlc_onions WHERE key_index = ?1 AND htlc_id = ?2")?;
    for id in old.into_iter().flat_map(|o| o.keys()) {
        if !onions.is_some_and(|o| o.contains_key(id)) {
            delete.execute(params![key_index, htlc_id(*id)?])?;
        }
    }
    Ok(())
}

fn htlc_id(id: u64) -> Result<i64, StoreError> {
    i64::try_from(id).map_err(|_| StoreError::Corrupt(format!("HTLC id {id} beyond 2^63")))
}

/// Puts the channel's stored onions back in its state (see [`save_onions`]).
fn load_onions(
    conn: &Connection,
    key_index: u32,
    state: &mut ChannelState,
) -> Result<(), StoreError> {
    let Some(c) = state.commitments.as_mut() else {
        return Ok(());
    };
    let mut stmt =
        conn.prepare_cached("SELECT htlc_id, onion FROM htlc_onions WHERE key_index = ?1")?;
    let rows = stmt.query_map([key_index], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    for row in rows {
        let (id, onion) = row?;
        let id = u64::try_from(id)
            .map_err(|_| StoreError::Corrupt(format!("channel {key_index}: HTLC id {id}")))?;
        c.received_onions.insert(id, Onion(Arc::from(onion)));
    }
    Ok(())
}

/// Every add passes through the change lists before any commitment holds it, so archiving
/// the adds found there archives every HTLC, in the transaction of the state that has it.
fn archive_new_htlcs(
    conn: &Connection,
    key_index: u32,
    prev: Option<&ChannelState>,
    state: &ChannelState,
) -> Result<(), StoreError> {
    let adds_of = |s: &ChannelState| -> Vec<([u8; 32], u32)> {
        s.commitments
            .iter()
            .flat_map(|c| c.local_changes.all().chain(c.remote_changes.all()))
            .filter_map(|u| match u {
                crate::channel::Update::Add(a) => Some((a.payment_hash, a.cltv_expiry)),
                _ => None,
            })
            .collect()
    };
    let known = prev.map(adds_of).unwrap_or_default();
    let adds = adds_of(state).into_iter().filter(|a| !known.contains(a));
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO htlc_archive (key_index, payment_hash, cltv_expiry)
         VALUES (?1, ?2, ?3)",
    )?;
    for (hash, cltv) in adds {
        stmt.execute(params![key_index, hash.as_slice(), cltv])?;
    }
    Ok(())
}

/// The HTLCs a channel ever carried, as `(payment_hash, cltv_expiry)`.
pub fn archived_htlcs(
    conn: &Connection,
    key_index: u32,
) -> Result<Vec<([u8; 32], u32)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT payment_hash, cltv_expiry FROM htlc_archive WHERE key_index = ?1",
    )?;
    let rows = stmt.query_map([key_index], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, u32>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (hash, cltv) = row?;
        let hash = hash
            .try_into()
            .map_err(|_| StoreError::Corrupt("archived payment hash of the wrong length".into()))?;
        out.push((hash, cltv));
    }
    Ok(out)
}

fn record_signature(
    conn: &Connection,
    key_index: u32,
    number: u64,
    sig: &[u8],
) -> Result<(), StoreError> {
    let number = i64::try_from(number)
        .map_err(|_| StoreError::Corrupt("commitment number beyond 2^63".into()))?;
    conn.prepare_cached(
        "INSERT INTO channel_signatures (key_index, commitment_number, signature)
         VALUES (:idx, :n, :sig) ON CONFLICT DO NOTHING",
    )?
    .execute(named_params! { ":idx": key_index, ":n": number, ":sig": sig })?;
    let stored: Vec<u8> = conn
        .prepare_cached(
            "SELECT signature FROM channel_signatures
             WHERE key_index = :idx AND commitment_number = :n",
        )?
        .query_row(named_params! { ":idx": key_index, ":n": number }, |r| {
            r.get(0)
        })?;
    if stored != sig {
        return Err(StoreError::Corrupt(format!(
            "channel {key_index}: a second, different signature for the peer's commitment \
             {number}; refusing to store (and send) it"
        )));
    }
    Ok(())
}

fn decode(
    conn: &Connection,
    key_index: u32,
    peer: Vec<u8>,
    state: String,
) -> Result<StoredChannel, StoreError> {
    let peer = PublicKey::from_slice(&peer)
        .map_err(|_| StoreError::Corrupt("channels.peer_node_id is not a public key".into()))?;
    let parts: Vec<(String, String)> = conn
        .prepare_cached("SELECT part, data FROM channel_parts WHERE key_index = ?1")?
        .query_map([key_index], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let onions = if parts.is_empty() {
        Vec::new()
    } else {
        load_change_onions(conn, key_index)?
    };
    let mut state = channel_parts::join(key_index, &state, &parts, &onions)?;
    load_onions(conn, key_index, &mut state)?;
    Ok(StoredChannel {
        key_index,
        peer,
        state,
    })
}

/// Every stored channel, in key order.
pub fn list(conn: &Connection) -> Result<Vec<StoredChannel>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT key_index, peer_node_id, state FROM channels ORDER BY key_index")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.map(|row| {
        let (i, p, s) = row?;
        decode(conn, i, p, s)
    })
    .collect()
}

/// One channel by key index.
pub fn get(conn: &Connection, key_index: u32) -> Result<Option<StoredChannel>, StoreError> {
    let row = conn
        .prepare_cached("SELECT peer_node_id, state FROM channels WHERE key_index = :idx")?
        .query_row(named_params! { ":idx": key_index }, |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    row.map(|(p, s)| decode(conn, key_index, p, s)).transpose()
}

/// The commitment numbers we signed for the peer, ascending (each at most once: the table's
/// key).
pub fn signed_numbers(conn: &Connection, key_index: u32) -> Result<Vec<u64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT commitment_number FROM channel_signatures WHERE key_index = :idx
         ORDER BY commitment_number",
    )?;
    let rows = stmt.query_map(named_params! { ":idx": key_index }, |r| r.get::<_, i64>(0))?;
    rows.map(|n| Ok(n? as u64)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::testing::harness;
    use crate::store::Store;

    #[test]
    fn a_channel_round_trips_and_a_second_signature_is_refused() {
        let mut pair = harness::Pair::open(crate::channel::Format::Anchors, 0);
        pair.confirm(3);
        pair.pay(true, 10_000_000, 1);
        let store = Store::open_in_memory().unwrap();
        let peer = harness::keys(2).pubkeys.funding;
        let state = pair.a.persisted.clone();
        let idx = store.write_blocking(next_key_index).unwrap();
        store
            .write_blocking(|tx| save(tx, idx, &peer, None, &state))
            .unwrap();
        let back = store.blocking(|c| get(c, idx)).unwrap().unwrap();
        assert_eq!(back.state, state);
        assert_eq!(back.peer, peer);
        let numbers = store.blocking(|c| signed_numbers(c, idx)).unwrap();
        assert!(!numbers.is_empty());

        // Same number, another signature: refused, and nothing of the write is kept.
        let mut forged = state.clone();
        let c = forged.commitments.as_mut().unwrap();
        c.remote.sig = pair.b.persisted.commitments.as_ref().unwrap().remote.sig;
        assert_ne!(c.remote.sig, state.commitments.as_ref().unwrap().remote.sig);
        forged.height += 1;
        let err = store
            .write_blocking(|tx| save(tx, idx, &peer, Some(&state), &forged))
            .unwrap_err();
        assert!(err.to_string().contains("different signature"), "{err}");
        let kept = store.blocking(|c| get(c, idx)).unwrap().unwrap();
        assert_eq!(kept.state, state);
    }

    fn onion_rows(store: &Store, idx: u32) -> Vec<(i64, Vec<u8>)> {
        store
            .blocking(|c| {
                let mut stmt = c.prepare(
                    "SELECT htlc_id, onion FROM htlc_onions WHERE key_index = ?1 ORDER BY htlc_id",
                )?;
                let rows = stmt.query_map([idx], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .unwrap()
    }

    fn stored_json(store: &Store, idx: u32) -> String {
        store
            .blocking(|c| {
                Ok(c.query_row(
                    "SELECT state FROM channels WHERE key_index = ?1",
                    [idx],
                    |r| r.get(0),
                )?)
            })
            .unwrap()
    }

    /// The peer's committed HTLCs' onions live in rows of their own, not in every snapshot,
    /// and come back with the state; a settled HTLC's onion goes with the first state
    /// without it.
    #[test]
    fn received_onions_are_stored_beside_the_snapshot_and_dropped_once_settled() {
        let mut pair = harness::Pair::open(crate::channel::Format::Anchors, 0);
        pair.confirm(3);
        for n in 1..=2 {
            pair.a
                .command(crate::channel::Command::AddHtlc {
                    amount_msat: 5_000_000,
                    payment_hash: harness::hash_of(&harness::preimage(n)),
                    cltv_expiry: 500,
                    onion: harness::onion(),
                    extra_fee_msat: None,
                })
                .unwrap();
        }
        pair.deliver_all();
        let state = pair.b.persisted.clone();
        assert_eq!(state.commitments.as_ref().unwrap().received_onions.len(), 2);
        let store = Store::open_in_memory().unwrap();
        let peer = harness::keys(1).pubkeys.funding;
        let idx = store.write_blocking(next_key_index).unwrap();
        store
            .write_blocking(|tx| save(tx, idx, &peer, None, &state))
            .unwrap();

        let onion_hex = hex::encode(harness::onion());
        assert!(
            !stored_json(&store, idx).contains(&onion_hex),
            "no onion in the snapshot"
        );
        let rows = onion_rows(&store, idx);
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![0, 1]);
        assert!(rows.iter().all(|r| r.1 == harness::onion()));
        let back = store.blocking(|c| get(c, idx)).unwrap().unwrap();
        assert_eq!(back.state, state);
        assert_eq!(store.blocking(list).unwrap()[0].state, state);

        pair.b
            .command(crate::channel::Command::Fulfill {
                id: 0,
                preimage: harness::preimage(1),
            })
            .unwrap();
        pair.deliver_all();
        let settled = pair.b.persisted.clone();
        store
            .write_blocking(|tx| save(tx, idx, &peer, Some(&state), &settled))
            .unwrap();
        assert_eq!(
            onion_rows(&store, idx)
                .iter()
                .map(|r| r.0)
                .collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(
            store.blocking(|c| get(c, idx)).unwrap().unwrap().state,
            settled
        );
    }

    fn change_onion_rows(store: &Store, idx: u32) -> Vec<(String, i64, Vec<u8>)> {
        store
            .blocking(|c| {
                let mut stmt = c.prepare(
                    "SELECT origin, htlc_id, onion FROM change_onions WHERE key_index = ?1
                     ORDER BY origin, htlc_id",
                )?;
                let rows = stmt.query_map([idx], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .unwrap()
    }

    /// The onion of an add still in the change lists lives in a row of its own: written
    /// once, replaced when the id is reused after a disconnection dropped the add, deleted
    /// when the add leaves the lists; the state reads back whole at each step.
    #[test]
    fn pending_adds_keep_their_onions_in_rows_of_their_own() {
        let mut pair = harness::Pair::open(crate::channel::Format::Anchors, 0);
        pair.confirm(3);
        let add = |pair: &mut harness::Pair, byte: u8| {
            pair.a
                .command(crate::channel::Command::AddHtlc {
                    amount_msat: 5_000_000,
                    payment_hash: harness::hash_of(&harness::preimage(u64::from(byte))),
                    cltv_expiry: 500,
                    onion: vec![byte; crate::wire::types::ONION_PACKET_LEN],
                    extra_fee_msat: None,
                })
                .unwrap();
        };
        let store = Store::open_in_memory().unwrap();
        let peer = harness::keys(2).pubkeys.funding;
        let idx = store.write_blocking(next_key_index).unwrap();
        let mut stored: Option<ChannelState> = None;
        let mut save_now = |pair: &harness::Pair| {
            let state = pair.a.persisted.clone();
            store
                .write_blocking(|tx| save(tx, idx, &peer, stored.as_ref(), &state))
                .unwrap();
            let back = store.blocking(|c| get(c, idx)).unwrap().unwrap();
            assert_eq!(back.state, state);
            stored = Some(state);
            change_onion_rows(&store, idx)
        };

        let onion = |byte| vec![byte; crate::wire::types::ONION_PACKET_LEN];
        // The first is signed at once; the second waits for b's revocation, unsigned.
        add(&mut pair, 0xa1);
        add(&mut pair, 0xa2);
        let rows = save_now(&pair);
        let expected = [
            ("local".to_string(), 0, onion(0xa1)),
            ("local".into(), 1, onion(0xa2)),
        ];
        assert_eq!(rows, expected);

        // The unsigned add never counted: dropped with the connection, its id is taken again.
        pair.disconnect();
        pair.reconnect();
        pair.deliver_all();
        add(&mut pair, 0xb2);
        let rows = save_now(&pair);
        assert_eq!(
            rows,
            [("local".to_string(), 1, onion(0xb2))],
            "the id is reused"
        );

        pair.deliver_all();
        assert!(save_now(&pair).is_empty(), "committed on both sides: gone");
    }

    /// A version 7 database kept the onions inline: migrating moves them to their rows, and
    /// the state reads the same.
    #[test]
    fn a_version_7_database_moves_its_inline_onions_to_rows() {
        let mut pair = harness::Pair::open(crate::channel::Format::Anchors, 0);
        pair.confirm(3);
        pair.a
            .command(crate::channel::Command::AddHtlc {
                amount_msat: 5_000_000,
                payment_hash: [7; 32],
                cltv_expiry: 500,
                onion: harness::onion(),
                extra_fee_msat: None,
            })
            .unwrap();
        pair.deliver_all();
        let state = pair.b.persisted.clone();
        // The snapshot as version 7 wrote it, onions inline.
        let mut json = serde_json::to_value(&state).unwrap();
        json["commitments"]["received_onions"] =
            serde_json::json!({ "0": hex::encode(harness::onion()) });
        let peer = harness::keys(1).pubkeys.funding;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::store::DB_FILE);
        {
            let c = Connection::open(&path).unwrap();
            for script in &crate::store::schema::MIGRATIONS[..7] {
                c.execute_batch(script).unwrap();
            }
            c.pragma_update(None, "user_version", 7).unwrap();
            c.execute(
                "INSERT INTO channels (key_index, channel_id, temporary_channel_id, peer_node_id,
                                       phase, state, updated_at)
                 VALUES (0, ?1, ?2, ?3, 'normal', ?4, 0)",
                params![
                    state.channel_id.as_slice(),
                    state.setup.temporary_channel_id.as_slice(),
                    peer.serialize().as_slice(),
                    json.to_string()
                ],
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(onion_rows(&store, 0), vec![(0, harness::onion())]);
        assert_eq!(store.blocking(|c| get(c, 0)).unwrap().unwrap().state, state);
    }
}
