//! Backups of the database: a consistent snapshot of a running node (`VACUUM INTO`), what a
//! backup file holds, and the mark `chanhub restore` puts on the channels of one it installs.
//!
//! A snapshot is a plain SQLite file of the same schema: restoring it is installing it as
//! `chanhub.sqlite`. Its channel states may be older than the peer's, so every channel still
//! open in it is marked `restored` ([`crate::channel::ChannelState::restored`]): the node never
//! broadcasts or updates it, and asks the peer to close.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{meta, schema, StoreError};
use crate::channel::Phase;

/// Channel key indexes skipped on restore: channels opened after the backup took indexes the
/// backup does not know, and keys must never be reused.
pub const KEY_INDEX_GAP: u32 = 1000;

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Why a file is not a backup we can restore.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not a SQLite database")]
    NotADatabase(PathBuf),
    #[error("{0} is not a chanhub database (no chanhub schema in it)")]
    NotChanhub(PathBuf),
    #[error("{path} has schema version {found}; this chanhub restores versions 1 to {supported}")]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    pub schema_version: u32,
    /// The node the database belongs to (`None`: it never ran).
    pub node_id: Option<String>,
    pub network: Option<String>,
    /// Every channel row, and those not closed (nor abandoned before funding).
    pub channels: u64,
    pub open_channels: u64,
}

/// Writes a consistent copy of the database behind `conn` to `dest`, which must not exist.
/// One statement: the copy is of one committed state, whatever writes come after.
pub fn snapshot(conn: &Connection, dest: &Path) -> Result<(), StoreError> {
    let dest = dest
        .to_str()
        .ok_or_else(|| StoreError::Corrupt(format!("{} is not UTF-8", dest.display())))?;
    conn.execute("VACUUM INTO ?1", [dest])?;
    Ok(())
}

/// The directory of the database file behind `conn` (`None` in memory).
pub fn database_dir(conn: &Connection) -> Result<Option<PathBuf>, StoreError> {
    let file: Option<String> = conn
        .query_row(
            "SELECT file FROM pragma_database_list WHERE name = 'main'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(file
        .filter(|f| !f.is_empty())
        .and_then(|f| Path::new(&f).parent().map(Path::to_path_buf)))
}

/// Reads what `path` holds without changing it.
///
/// # Errors
/// A file that is not SQLite, not a chanhub database, or of a schema version this chanhub
/// does not know.
pub fn inspect(path: &Path) -> Result<BackupInfo, BackupError> {
    let io = |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut magic = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(io)?;
    let n = std::io::Read::read(&mut file, &mut magic).map_err(io)?;
    if n < magic.len() || &magic != SQLITE_MAGIC {
        return Err(BackupError::NotADatabase(path.to_path_buf()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(StoreError::from)?;
    let version: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(StoreError::from)?;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'channels')",
            [],
            |r| r.get(0),
        )
        .map_err(StoreError::from)?;
    if version == 0 || tables < 1 {
        return Err(BackupError::NotChanhub(path.to_path_buf()));
    }
    if version > schema::CURRENT_VERSION {
        return Err(BackupError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: schema::CURRENT_VERSION,
        });
    }
    let (channels, open_channels) = if tables == 2 {
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
        (
            count("SELECT count(*) FROM channels").map_err(StoreError::from)? as u64,
            count("SELECT count(*) FROM channels WHERE phase NOT IN ('closed', 'aborted')")
                .map_err(StoreError::from)? as u64,
        )
    } else {
        (0, 0)
    };
    Ok(BackupInfo {
        schema_version: version,
        node_id: meta::get_str(&conn, "node_id")?,
        network: meta::get_str(&conn, "network")?,
        channels,
        open_channels,
    })
}

/// Whether a channel in `phase` is marked when restored: every channel that may still move.
/// A close already under way keeps its transaction (no update is signed after it), and a
/// closed channel has nothing left to protect.
fn needs_mark(phase: &Phase) -> bool {
    !matches!(
        phase,
        Phase::Closing { .. } | Phase::ForceClosing { .. } | Phase::Closed | Phase::Aborted
    )
}

/// Marks every channel that may still move as restored, and moves the channel key counter
/// past what channels opened after the backup may have used (`at_least`: the counter of the
/// database being replaced, when there was one). Returns the marked channels' ids. In the
/// caller's transaction.
pub fn mark_restored(conn: &Connection, at_least: u32) -> Result<Vec<[u8; 32]>, StoreError> {
    let mut marked = Vec::new();
    for stored in super::channels::list(conn)? {
        let mut state = stored.state;
        if !needs_mark(&state.phase) || state.restored {
            continue;
        }
        state.restored = true;
        super::channels::save(conn, stored.key_index, &stored.peer, None, &state)?;
        marked.push(state.channel_id);
    }
    let next = super::channels::peek_next_key_index(conn)?.max(at_least);
    super::channels::set_next_key_index(conn, next.saturating_add(KEY_INDEX_GAP))?;
    Ok(marked)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::channel::testing::harness::{keys, Pair};
    use crate::channel::Format;
    use crate::store::{channels, Store};

    fn peer() -> bitcoin::secp256k1::PublicKey {
        keys(9).pubkeys.funding
    }

    /// A database with one active channel and one closed, as a node would leave it.
    pub(crate) fn populated(path: &Path, node_id: &str) -> Store {
        let store = Store::open(path).unwrap();
        let p = Pair::open(Format::Anchors, 0);
        let mut closed = p.a.channel.state().clone();
        closed.phase = Phase::Closed;
        closed.channel_id = [7; 32];
        store
            .write_blocking(|tx| {
                meta::set(tx, "node_id", node_id.as_bytes())?;
                meta::set(tx, "network", b"regtest")?;
                let a = channels::next_key_index(tx)?;
                channels::save(tx, a, &peer(), None, p.a.channel.state())?;
                let b = channels::next_key_index(tx)?;
                channels::save(tx, b, &peer(), None, &closed)
            })
            .unwrap();
        store
    }

    #[test]
    fn a_snapshot_of_an_open_database_is_the_same_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = populated(&dir.path().join("live.sqlite"), "02ab");
        let where_ = store.blocking(database_dir).unwrap().unwrap();
        assert_eq!(
            where_.canonicalize().unwrap(),
            dir.path().canonicalize().unwrap()
        );
        let memory = Store::open_in_memory().unwrap();
        assert_eq!(memory.blocking(database_dir).unwrap(), None);
        let copy = dir.path().join("copy.sqlite");
        store.blocking(|c| snapshot(c, &copy)).unwrap();
        // The live database stays usable (and locked) while the copy exists.
        store
            .write_blocking(|tx| meta::set(tx, "after", b"1"))
            .unwrap();
        let info = inspect(&copy).unwrap();
        assert_eq!(
            info,
            BackupInfo {
                schema_version: schema::CURRENT_VERSION,
                node_id: Some("02ab".into()),
                network: Some("regtest".into()),
                channels: 2,
                open_channels: 1,
            }
        );
        let copy = Store::open(&copy).unwrap();
        let tables = |s: &Store| {
            s.blocking(|c| {
                let names: Vec<String> = c
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(names)
            })
            .unwrap()
        };
        assert_eq!(tables(&store), tables(&copy));
        let stored = copy.blocking(channels::list).unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(copy.blocking(|c| meta::get(c, "after")).unwrap(), None);
        // The destination must not exist: a snapshot never overwrites.
        let existing = dir.path().join("copy.sqlite");
        assert!(store.blocking(|c| snapshot(c, &existing)).is_err());
    }

    #[test]
    fn inspect_refuses_what_is_not_a_chanhub_database() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "not a database at all, just some text").unwrap();
        assert!(matches!(inspect(&text), Err(BackupError::NotADatabase(_))));
        let other = dir.path().join("other.sqlite");
        let c = Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        drop(c);
        assert!(matches!(inspect(&other), Err(BackupError::NotChanhub(_))));
        let newer = dir.path().join("newer.sqlite");
        drop(populated(&newer, "02ab"));
        let c = Connection::open(&newer).unwrap();
        c.pragma_update(None, "user_version", schema::CURRENT_VERSION + 1)
            .unwrap();
        drop(c);
        assert!(matches!(
            inspect(&newer),
            Err(BackupError::UnsupportedVersion { found, .. }) if found == schema::CURRENT_VERSION + 1
        ));
        assert!(matches!(
            inspect(&dir.path().join("missing")),
            Err(BackupError::Io { .. })
        ));
    }

    #[test]
    fn marking_restores_only_open_channels_and_skips_key_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = populated(&dir.path().join("db.sqlite"), "02ab");
        let marked = store.write_blocking(|tx| mark_restored(tx, 0)).unwrap();
        let all = store.blocking(channels::list).unwrap();
        let open = all.iter().find(|c| c.state.phase != Phase::Closed).unwrap();
        let closed = all.iter().find(|c| c.state.phase == Phase::Closed).unwrap();
        assert_eq!(marked, vec![open.state.channel_id]);
        assert!(open.state.restored);
        assert!(!closed.state.restored);
        assert_eq!(
            store.blocking(channels::peek_next_key_index).unwrap(),
            2 + KEY_INDEX_GAP
        );
        // The replaced database's counter wins when it is further.
        store.write_blocking(|tx| mark_restored(tx, 5_000)).unwrap();
        assert_eq!(
            store.blocking(channels::peek_next_key_index).unwrap(),
            5_000 + KEY_INDEX_GAP
        );
    }
}
