//! The node's SQLite database: one file, `DIR/chanhub.sqlite`.
//!
//! - WAL journal, `synchronous=FULL` (a commit survives power loss), foreign keys on, `STRICT`
//!   tables; the schema version in `PRAGMA user_version` ([`schema`]): an older database is
//!   migrated in one transaction, a newer one is refused.
//! - The connection holds an exclusive lock for the life of the process, so a second node on the
//!   same data directory fails at start instead of corrupting state.
//! - One write transaction per logical state change: callers pass [`Store::write`] a closure
//!   that runs whole or not at all. The channel manager group-commits: its writes join one
//!   open transaction, committed with one fsync for many transitions ([`Store::batching`]).
//! - SQLite calls block, so async code goes through [`Store::call`] / [`Store::write`], which
//!   run them on tokio's blocking pool, never on a runtime worker thread.

pub mod activity;
pub mod attempts;
pub mod backup;
pub mod channel_parts;
pub mod channels;
pub mod events;
pub mod export;
pub mod graph;
pub mod lsps;
pub mod lsps1;
pub mod meta;
pub mod metrics;
pub mod payments;
pub mod peers;
pub mod routing;
pub mod schema;
pub mod tower;
pub mod wallet;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "chanhub.sqlite";

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the database {path} has schema version {found}, newer than this chanhub supports \
         ({supported}); run a newer chanhub"
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("the database {0} is in use by another process (is a chanhub node already running on this data directory?)")]
    Locked(PathBuf),
    #[error("the database holds invalid data: {0}")]
    Corrupt(String),
    #[error("database task failed: {0}")]
    Task(String),
}

/// A handle to the database, cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// One connection: SQLite serialises writers anyway, and one connection keeps the
    /// exclusive lock and a single view of the data.
    db: Arc<Mutex<Db>>,
    shared: Arc<Shared>,
    /// Set on the one handle that group-commits (see [`Store::batching`]).
    owner: Option<Arc<AtomicBool>>,
}

/// The connection and the write transaction a batch keeps open on it.
struct Db {
    conn: Connection,
    /// `BEGIN IMMEDIATE` ran for a batch and no `COMMIT` yet.
    open: bool,
}

struct Shared {
    /// Write transactions committed since the process started: each is one fsync of the
    /// WAL (`synchronous=FULL`), the unit the benchmarks count per payment.
    commits: AtomicU64,
    /// Batches whose commit failed (rolled back): the owner compares it across a batch.
    lost: AtomicU64,
    /// `Db::open`, readable without the lock (the owner asks before every message it sends).
    open: AtomicBool,
    /// Signalled after every commit (see [`Store::settled`]).
    committed: tokio::sync::Notify,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    ///
    /// # Errors
    /// [`StoreError::NewerSchema`] for a database written by a newer chanhub;
    /// [`StoreError::Locked`] when another process holds it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_schema(path, schema::MIGRATIONS)
    }

    /// Write transactions committed since this process opened the store.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(
            Connection::open_in_memory()?,
            Path::new(":memory:"),
            schema::MIGRATIONS,
        )
    }

    /// [`Store::open`] for another database with the same rules (pragmas, lock, versioned
    /// migrations) but its own scripts: the watchtower's.
    pub fn open_with_schema(
        path: &Path,
        migrations: &'static [&'static str],
    ) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn, path, migrations)
    }

    /// [`Store::open_in_memory`] with other scripts.
    pub fn open_in_memory_with_schema(
        migrations: &'static [&'static str],
    ) -> Result<Self, StoreError> {
        Self::init(
            Connection::open_in_memory()?,
            Path::new(":memory:"),
            migrations,
        )
    }

    fn init(
        mut conn: Connection,
        path: &Path,
        migrations: &'static [&'static str],
    ) -> Result<Self, StoreError> {
        let current = migrations.len() as u32;
        let locked = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
                StoreError::Locked(path.to_path_buf())
            }
            _ => StoreError::Sqlite(e),
        };
        // Exclusive locking is set before WAL so the WAL index lives in heap memory and the
        // lock is taken by the first write below and kept until the connection closes.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(locked)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(locked)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Each write of a batch runs in a savepoint, whose undo copy of the pages it changes
        // (the subjournal) spills to a temporary file past 64 KiB, which a batch of channel
        // snapshots under load can pass. In memory it costs no syscall, and lives only until
        // the write's RELEASE.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Hot statements are prepared once (`prepare_cached`); the default cache of 16 is
        // smaller than the set a busy node cycles through, and would evict them.
        conn.set_prepared_statement_cache_capacity(128);
        let found: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(locked)?;
        if found > current {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found,
                supported: current,
            });
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Exclusive)
            .map_err(locked)?;
        for (version, script) in migrations.iter().enumerate().skip(found as usize) {
            tracing::info!(
                from = version,
                to = version + 1,
                "migrating database schema"
            );
            tx.execute_batch(script)?;
        }
        tx.pragma_update(None, "user_version", current)?;
        tx.commit()?;
        Ok(Store {
            db: Arc::new(Mutex::new(Db { conn, open: false })),
            shared: Arc::new(Shared {
                commits: AtomicU64::new(0),
                lost: AtomicU64::new(0),
                open: AtomicBool::new(false),
                committed: tokio::sync::Notify::new(),
            }),
            owner: None,
        })
    }

    /// A handle for the one task that group-commits (the channel manager). While its batching
    /// is on, its writes join one open transaction instead of committing each; it makes them
    /// durable with [`Store::commit`], and must hold back anything that depends on them until
    /// then. Every other handle's write commits that open transaction along with its own, and
    /// every other handle's read commits it first: nothing outside the owner ever sees, or
    /// acts on, data that is not durable, and nobody ever waits on the owner.
    pub fn batching(&self) -> Store {
        Store {
            owner: Some(Arc::new(AtomicBool::new(false))),
            ..self.clone()
        }
    }

    /// Turns the owner's batching on or off (off: each write commits, as on other handles).
    /// Turning it off does not commit what is open: call [`Store::commit`] first.
    pub fn set_batching(&self, on: bool) {
        if let Some(b) = &self.owner {
            b.store(on, Ordering::Relaxed);
        }
    }

    fn batches(&self) -> bool {
        self.owner
            .as_ref()
            .is_some_and(|b| b.load(Ordering::Relaxed))
    }

    /// Whether a batch holds writes not yet committed.
    pub fn uncommitted(&self) -> bool {
        self.shared.open.load(Ordering::Acquire)
    }

    fn set_open(&self, db: &mut Db, open: bool) {
        db.open = open;
        self.shared.open.store(open, Ordering::Release);
    }

    /// Resolves once no batch holds uncommitted writes. A reader that can wait (the event
    /// publisher) awaits this, bounded, rather than commit the owner's batch early itself.
    pub async fn settled(&self) {
        loop {
            // Created before the check, so a commit in between still wakes it.
            let committed = self.shared.committed.notified();
            if !self.uncommitted() {
                return;
            }
            committed.await;
        }
    }

    /// Batches lost to a failed commit so far: the owner compares it before and after a
    /// batch to learn whether what it wrote is gone.
    pub fn lost_batches(&self) -> u64 {
        self.shared.lost.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Db> {
        // A panic while holding the lock may leave a transaction open with part of a write in
        // it: roll it back (and count the batch lost) before anyone uses the connection.
        match self.db.lock() {
            Ok(g) => g,
            Err(p) => {
                let mut g = p.into_inner();
                if !g.conn.is_autocommit() {
                    let _ = g.conn.execute_batch("ROLLBACK");
                    self.shared.lost.fetch_add(1, Ordering::Relaxed);
                }
                self.set_open(&mut g, false);
                self.db.clear_poison();
                g
            }
        }
    }

    /// Runs `f` with the connection on the current thread. For synchronous callers only
    /// (startup, tests); async code uses [`Store::call`].
    pub fn blocking<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut db = self.lock();
        self.read_locked(&mut db, f)
    }

    fn read_locked<R>(
        &self,
        db: &mut Db,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        // Only the owner reads what is not yet durable.
        if db.open && self.owner.is_none() {
            self.commit_locked(db)?;
        }
        f(&db.conn)
    }

    /// The owner's batched work runs on its own thread when the connection is free: it does
    /// no fsync (the commit does), so it is short, and the hand-off to the blocking pool and
    /// back cost more than the work (a fifth of the hub's CPU went to thread switches). When
    /// another thread holds the connection (a commit in progress), it waits on the pool.
    fn inline(&self) -> Option<std::sync::MutexGuard<'_, Db>> {
        if !self.batches() {
            return None;
        }
        self.db.try_lock().ok()
    }

    /// Runs `f` with the connection on tokio's blocking pool.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        if let Some(mut db) = self.inline() {
            return self.read_locked(&mut db, f);
        }
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.blocking(f))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs `f` inside one write transaction on the blocking pool; commits only if `f`
    /// succeeds, so a logical state change is stored whole or not at all. On the owner's
    /// handle with batching on, it is durable only after the next [`Store::commit`].
    pub async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        if let Some(mut db) = self.inline() {
            return self.write_locked(&mut db, f);
        }
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.write_blocking(f))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// [`Store::write`] for synchronous callers.
    pub fn write_blocking<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut db = self.lock();
        self.write_locked(&mut db, f)
    }

    fn write_locked<R>(
        &self,
        db: &mut Db,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let began = !db.open;
        if began {
            control(&db.conn, "BEGIN IMMEDIATE")?;
            self.set_open(db, true);
        }
        // A savepoint makes this write whole or nothing inside a batch's transaction.
        control(&db.conn, "SAVEPOINT w")?;
        let r = match f(&db.conn) {
            Ok(r) => {
                control(&db.conn, "RELEASE w")?;
                r
            }
            Err(e) => {
                let undone = db.conn.execute_batch("ROLLBACK TO w; RELEASE w");
                if undone.is_err() {
                    // The transaction itself is gone: so is everything batched in it.
                    self.abandon_locked(db);
                } else if began && !self.batches() {
                    // Nothing else is in the transaction this write opened.
                    let _ = db.conn.execute_batch("ROLLBACK");
                    self.set_open(db, false);
                }
                return Err(e);
            }
        };
        if !self.batches() {
            self.commit_locked(db)?;
        }
        Ok(r)
    }

    /// Makes everything written in the open batch durable (one fsync); nothing to do when
    /// no batch is open. On failure the batch is rolled back and counted lost.
    pub async fn commit(&self) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut db = store.lock();
            store.commit_locked(&mut db)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    fn commit_locked(&self, db: &mut Db) -> Result<(), StoreError> {
        if !db.open {
            return Ok(());
        }
        match control(&db.conn, "COMMIT") {
            Ok(()) => {
                self.set_open(db, false);
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                self.shared.committed.notify_waiters();
                Ok(())
            }
            Err(e) => {
                self.abandon_locked(db);
                Err(e.into())
            }
        }
    }

    fn abandon_locked(&self, db: &mut Db) {
        if !db.conn.is_autocommit() {
            let _ = db.conn.execute_batch("ROLLBACK");
        }
        self.set_open(db, false);
        self.shared.lost.fetch_add(1, Ordering::Relaxed);
        self.shared.committed.notify_waiters();
    }
}

/// Runs a transaction-control statement (`BEGIN`, `SAVEPOINT`, `RELEASE`, `COMMIT`) from the
/// statement cache: every write runs three or four of them, and parsing each again cost a
/// few per cent of a busy node's CPU.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

#[cfg(test)]
mod batch_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_database_gets_the_current_schema_and_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let store = Store::open(&path).unwrap();
        store
            .blocking(|c| {
                let v: u32 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
                assert_eq!(v, schema::CURRENT_VERSION);
                let mode: String = c.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
                assert_eq!(mode, "wal");
                let sync: i64 = c.pragma_query_value(None, "synchronous", |r| r.get(0))?;
                assert_eq!(sync, 2, "FULL");
                let fk: i64 = c.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
                assert_eq!(fk, 1);
                let strict: i64 = c.query_row(
                    "SELECT count(*) FROM pragma_table_list WHERE schema = 'main' \
                     AND name NOT LIKE 'sqlite_%' AND strict = 0",
                    [],
                    |r| r.get(0),
                )?;
                assert_eq!(strict, 0, "every table is STRICT");
                Ok(())
            })
            .unwrap();
        drop(store);
        // Reopening an up-to-date database changes nothing.
        Store::open(&path).unwrap();
    }

    #[test]
    fn newer_schema_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", schema::CURRENT_VERSION + 1)
                .unwrap();
        }
        let err = Store::open(&path).err().expect("refused");
        assert!(
            matches!(err, StoreError::NewerSchema { found, .. } if found == schema::CURRENT_VERSION + 1)
        );
        assert!(err.to_string().contains("newer than this chanhub supports"));
        // Refusing must not touch the file.
        let c = Connection::open(&path).unwrap();
        let v: u32 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, schema::CURRENT_VERSION + 1);
    }

    #[test]
    fn older_schema_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            // A version-0 database: created by an older build before any table existed.
            let c = Connection::open(&path).unwrap();
            c.execute_batch("CREATE TABLE unrelated (x INTEGER) STRICT;")
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        store
            .blocking(|c| {
                meta::set(c, "k", b"v")?;
                assert_eq!(meta::get(c, "k")?, Some(b"v".to_vec()));
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_version_1_database_gains_the_peers_table_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(schema::MIGRATIONS[0]).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
            meta::set(&c, "node_id", b"kept").unwrap();
        }
        let store = Store::open(&path).unwrap();
        store
            .blocking(|c| {
                let v: u32 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
                assert_eq!(v, schema::CURRENT_VERSION);
                assert_eq!(meta::get(c, "node_id")?, Some(b"kept".to_vec()));
                assert!(peers::list(c)?.is_empty());
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_version_2_database_gains_the_channel_tables_and_keeps_its_peers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let secp = bitcoin::secp256k1::Secp256k1::new();
        let id = bitcoin::secp256k1::SecretKey::from_slice(&[3; 32])
            .unwrap()
            .public_key(&secp);
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(schema::MIGRATIONS[0]).unwrap();
            c.execute_batch(schema::MIGRATIONS[1]).unwrap();
            c.pragma_update(None, "user_version", 2).unwrap();
            peers::upsert(&c, &id, "127.0.0.1:9735").unwrap();
        }
        let store = Store::open(&path).unwrap();
        store
            .blocking(|c| {
                let v: u32 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
                assert_eq!(v, schema::CURRENT_VERSION);
                assert_eq!(peers::list(c)?.len(), 1);
                assert!(channels::list(c)?.is_empty());
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_version_3_database_gains_the_payment_tables_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let secp = bitcoin::secp256k1::Secp256k1::new();
        let id = bitcoin::secp256k1::SecretKey::from_slice(&[3; 32])
            .unwrap()
            .public_key(&secp);
        {
            let c = Connection::open(&path).unwrap();
            for script in &schema::MIGRATIONS[..3] {
                c.execute_batch(script).unwrap();
            }
            c.pragma_update(None, "user_version", 3).unwrap();
            peers::upsert(&c, &id, "127.0.0.1:9735").unwrap();
            meta::set(&c, "node_id", b"kept").unwrap();
            assert_eq!(channels::next_key_index(&c).unwrap(), 0);
        }
        let store = Store::open(&path).unwrap();
        store
            .blocking(|c| {
                let v: u32 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
                assert_eq!(v, schema::CURRENT_VERSION);
                assert_eq!(peers::list(c)?.len(), 1);
                assert_eq!(meta::get(c, "node_id")?, Some(b"kept".to_vec()));
                assert_eq!(channels::next_key_index(c)?, 1);
                assert!(payments::list_invoices(c, None)?.is_empty());
                assert!(payments::list_payments(c, None)?.is_empty());
                assert!(payments::list_forwards(c, None)?.is_empty());
                assert_eq!(payments::get_policy(c)?, None);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_version_5_database_gains_the_event_log_and_webhooks_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let c = Connection::open(&path).unwrap();
            for script in &schema::MIGRATIONS[..5] {
                c.execute_batch(script).unwrap();
            }
            c.pragma_update(None, "user_version", 5).unwrap();
            meta::set(&c, "node_id", b"kept").unwrap();
            tower::enqueue(&c, 1, 7, &crate::tower::blob::Hint([9; 16]), b"blob").unwrap();
        }
        let store = Store::open(&path).unwrap();
        store
            .write_blocking(|c| {
                let v: u32 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
                assert_eq!(v, schema::CURRENT_VERSION);
                assert_eq!(meta::get(c, "node_id")?, Some(b"kept".to_vec()));
                assert_eq!(tower::backlog(c)?, 1);
                assert_eq!(events::bounds(c)?, (None, None));
                assert!(webhooks::list(c)?.is_empty());
                let data = crate::events::EventData::PaymentFailed {
                    payment_hash: "00".repeat(32),
                    failure: "x".into(),
                };
                assert_eq!(events::insert(c, &data, 1, 1000)?, 1);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_second_opener_is_refused_while_the_first_holds_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let _first = Store::open(&path).unwrap();
        assert!(matches!(Store::open(&path), Err(StoreError::Locked(_))));
    }

    #[tokio::test]
    async fn a_failed_write_leaves_nothing_behind() {
        let store = Store::open_in_memory().unwrap();
        let r: Result<(), _> = store
            .write(|tx| {
                meta::set(tx, "half", b"done")?;
                Err(StoreError::Corrupt("abort".into()))
            })
            .await;
        assert!(r.is_err());
        let v = store.call(|c| meta::get(c, "half")).await.unwrap();
        assert_eq!(v, None);
    }
}

#[cfg(test)]
mod attempts_tests;
