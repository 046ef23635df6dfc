//! `chanhub backup FILE` (a snapshot of the running node, through the API) and `chanhub
//! restore --datadir DIR FILE` (offline: installs a snapshot as DIR's database). What a
//! restore does and does not recover: `channel-spec/node.md`, Backups.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::api::client::ApiClient;
use crate::keys::secret_file::sync_dir;
use crate::keys::{KeysManager, Seed};
use crate::node::datadir::NodeJson;
use crate::store::backup::{inspect, mark_restored, BackupInfo};
use crate::store::{channels, Store, StoreError, DB_FILE};

/// Downloads a snapshot into `file`: a temporary file beside it (0600), synced, then renamed,
/// so `file` is either the previous one or a whole snapshot.
pub async fn backup(client: &ApiClient, file: &Path) -> Result<Value, String> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = file
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", file.display()))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".{name}.{:08x}.tmp", rand::random::<u32>()));
    let written = download(client, &tmp).await;
    let size = match written {
        Ok(size) => size,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let info = match inspect(&tmp) {
        Ok(info) => info,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!("the node sent an unusable snapshot: {e}"));
        }
    };
    std::fs::rename(&tmp, file).map_err(|e| format!("renaming to {}: {e}", file.display()))?;
    sync_dir(&dir).map_err(|e| format!("syncing {}: {e}", dir.display()))?;
    Ok(json!({
        "path": file.display().to_string(),
        "size_bytes": size,
        "node_id": info.node_id,
        "schema_version": info.schema_version,
        "channels": info.channels,
        "open_channels": info.open_channels,
    }))
}

async fn download(client: &ApiClient, tmp: &Path) -> Result<u64, String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options
        .open(tmp)
        .map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let size = client
        .download("/v1/backup", &mut out)
        .await
        .map_err(|e| e.to_string())?;
    let file = out
        .into_inner()
        .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    file.sync_all()
        .map_err(|e| format!("syncing {}: {e}", tmp.display()))?;
    Ok(size)
}

pub fn render_backup(v: &Value) -> String {
    format!(
        "backup written to {}\n  size      {} bytes\n  channels  {} ({} open)\n  node      {}",
        v["path"].as_str().unwrap_or("?"),
        v["size_bytes"],
        v["channels"],
        v["open_channels"],
        v["node_id"].as_str().unwrap_or("?"),
    )
}

/// Installs the backup `file` as the database of the stopped node in `datadir`; see
/// [`restore_into`]. Answers what was done, as JSON.
pub fn restore(datadir: &Path, file: &Path) -> Result<Value, String> {
    let r = restore_into(datadir, file)?;
    Ok(json!({
        "database": r.database.display().to_string(),
        "node_id": r.info.node_id,
        "schema_version": r.info.schema_version,
        "channels": r.info.channels,
        "restored_channels": r.marked.iter().map(hex::encode).collect::<Vec<_>>(),
        "previous_database": r.previous.map(|p| p.display().to_string()),
    }))
}

pub fn render_restore(v: &Value) -> String {
    let marked = v["restored_channels"].as_array().map_or(0, Vec::len);
    let mut s = format!(
        "restored {} (node {}, schema version {})\n  channels  {}, {} marked restored: their \
         commitments are never broadcast; each peer is asked to close when it reconnects, and \
         our balance is claimed from its commitment",
        v["database"].as_str().unwrap_or("?"),
        v["node_id"].as_str().unwrap_or("?"),
        v["schema_version"],
        v["channels"],
        marked,
    );
    if let Some(p) = v["previous_database"].as_str() {
        s.push_str(&format!("\n  the replaced database is kept as {p}"));
    }
    s
}

/// What a restore did.
pub struct Restored {
    pub database: PathBuf,
    pub info: BackupInfo,
    /// Channels marked restored.
    pub marked: Vec<[u8; 32]>,
    /// Where the database it replaced was moved (never deleted: it may be newer).
    pub previous: Option<PathBuf>,
}

/// The checks, then the install: `file` must be a chanhub database of a schema version we
/// know, of the node whose seed is in `datadir`, and no node may be running there. The copy
/// is migrated and marked in a temporary file, then renamed over `chanhub.sqlite`.
pub fn restore_into(datadir: &Path, file: &Path) -> Result<Restored, String> {
    if !datadir.is_dir() {
        return Err(format!("{} is not a directory", datadir.display()));
    }
    if !datadir.join(crate::keys::seed::SEED_FILE).exists() {
        return Err(format!(
            "no seed in {}: put the node's seed file there first (a backup holds no keys)",
            datadir.display()
        ));
    }
    if let Ok(node) = NodeJson::read(datadir) {
        if process_alive(node.pid) {
            return Err(format!(
                "a node is running on {} (pid {}): stop it first (remove node.json if it is \
                 not running)",
                datadir.display(),
                node.pid
            ));
        }
    }
    let info = inspect(file).map_err(|e| format!("refusing to restore: {e}"))?;
    let backup_id = info.node_id.clone().ok_or_else(|| {
        format!(
            "refusing to restore: {} holds no node id (a node never ran on it)",
            file.display()
        )
    })?;
    let network: bitcoin::Network = info
        .network
        .as_deref()
        .unwrap_or("regtest")
        .parse()
        .map_err(|_| format!("refusing to restore: unknown network {:?}", info.network))?;
    let (seed, _) = Seed::load_or_create(datadir).map_err(|e| e.to_string())?;
    let ours = KeysManager::new(&seed, network).node_id().to_string();
    if backup_id != ours {
        return Err(format!(
            "refusing to restore: {} is a backup of node {backup_id}, but the seed in {} is of \
             node {ours}",
            file.display(),
            datadir.display()
        ));
    }
    let db = datadir.join(DB_FILE);
    let store_err = |what: &str, e: StoreError| format!("{what}: {e}");
    // Opening takes the database's exclusive lock: a running node holds it.
    let previous_counter = if db.exists() {
        let store = Store::open(&db).map_err(|e| store_err("the current database", e))?;
        store
            .blocking(channels::peek_next_key_index)
            .map_err(|e| store_err("the current database", e))?
    } else {
        0
    };
    let tmp = datadir.join(format!(".{DB_FILE}.restore.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let marked = install(file, &tmp, previous_counter).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    let previous = if db.exists() {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let kept = datadir.join(format!("{DB_FILE}.before-restore-{stamp}"));
        // The WAL holds committed pages: it moves with its database.
        for suffix in ["", "-wal", "-shm"] {
            let from = PathBuf::from(format!("{}{suffix}", db.display()));
            if from.exists() {
                let to = PathBuf::from(format!("{}{suffix}", kept.display()));
                std::fs::rename(&from, &to)
                    .map_err(|e| format!("moving {} aside: {e}", from.display()))?;
            }
        }
        Some(kept)
    } else {
        None
    };
    std::fs::rename(&tmp, &db).map_err(|e| format!("installing {}: {e}", db.display()))?;
    sync_dir(datadir).map_err(|e| format!("syncing {}: {e}", datadir.display()))?;
    Ok(Restored {
        database: db,
        info,
        marked,
        previous,
    })
}

/// Copies the backup to `tmp` (0600), migrates it, marks its channels, and leaves it a single
/// synced file (no WAL beside it).
fn install(file: &Path, tmp: &Path, previous_counter: u32) -> Result<Vec<[u8; 32]>, String> {
    std::fs::copy(file, tmp).map_err(|e| format!("copying {}: {e}", file.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    let err = |e: StoreError| format!("preparing the restored database: {e}");
    let store = Store::open(tmp).map_err(err)?;
    let marked = store
        .write_blocking(|tx| mark_restored(tx, previous_counter))
        .map_err(err)?;
    store
        .blocking(|c| {
            c.pragma_update(None, "journal_mode", "DELETE")?;
            Ok(())
        })
        .map_err(err)?;
    drop(store);
    std::fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("syncing {}: {e}", tmp.display()))?;
    Ok(marked)
}

/// Whether `pid` is a live process (Linux's `/proc`; elsewhere assumed alive, and the
/// database lock still stops a restore under a running node).
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    if proc.is_dir() {
        proc.join(pid.to_string()).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backup::tests::populated;

    /// A data directory with a seed, and that seed's node id.
    fn datadir() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let (seed, _) = Seed::load_or_create(dir.path()).unwrap();
        let id = KeysManager::new(&seed, bitcoin::Network::Regtest)
            .node_id()
            .to_string();
        (dir, id)
    }

    #[test]
    fn restore_installs_the_backup_and_marks_its_open_channels() {
        let (dir, id) = datadir();
        let elsewhere = tempfile::tempdir().unwrap();
        let backup = elsewhere.path().join("b.sqlite");
        drop(populated(&backup, &id));
        // The database being replaced: kept aside, never deleted.
        let current = populated(&dir.path().join(DB_FILE), &id);
        // ...but not while a node holds it.
        let e = restore_into(dir.path(), &backup).err().unwrap();
        assert!(e.contains("in use"), "{e}");
        drop(current);
        let r = restore_into(dir.path(), &backup).unwrap();
        assert_eq!(r.marked.len(), 1);
        let kept = r.previous.unwrap();
        assert!(kept.exists());
        let store = Store::open(&dir.path().join(DB_FILE)).unwrap();
        let list = store.blocking(channels::list).unwrap();
        assert_eq!(list.iter().filter(|c| c.state.restored).count(), 1);
        assert!(!dir.path().join(format!(".{DB_FILE}.restore.tmp")).exists());
        #[cfg(unix)]
        assert_eq!(
            crate::keys::secret_file::mode(&dir.path().join(DB_FILE)).unwrap(),
            0o600
        );
    }

    #[test]
    fn restore_refuses_another_nodes_backup_and_other_files() {
        let (dir, id) = datadir();
        let (_other_dir, other_id) = datadir();
        let elsewhere = tempfile::tempdir().unwrap();
        let theirs = elsewhere.path().join("theirs.sqlite");
        drop(populated(&theirs, &other_id));
        let e = restore_into(dir.path(), &theirs).err().unwrap();
        assert!(e.contains(&other_id) && e.contains(&id), "{e}");
        let text = elsewhere.path().join("notes.txt");
        std::fs::write(&text, "hello, this is not a database at all").unwrap();
        let e = restore_into(dir.path(), &text).err().unwrap();
        assert!(e.contains("not a SQLite database"), "{e}");
        assert!(
            !dir.path().join(DB_FILE).exists(),
            "nothing installed after a refusal"
        );
        let no_seed = tempfile::tempdir().unwrap();
        let ours = elsewhere.path().join("ours.sqlite");
        drop(populated(&ours, &id));
        let e = restore_into(no_seed.path(), &ours).err().unwrap();
        assert!(e.contains("no seed"), "{e}");
    }
}
