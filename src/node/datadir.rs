//! The data directory's files (see `channel-spec/node.md`):
//!
//! | file | what |
//! |---|---|
//! | `seed` | 32-byte seed, hex, 0600 — the root of every key |
//! | `api-token` | bearer token of the HTTP API, 0600 |
//! | `api-token-invoice` | bearer token that may only create and read invoices, 0600 |
//! | `compat-phoenixd-password`, `compat-phoenixd-limited-password`, `compat-phoenixd-webhook-secret` | the phoenixd-compatible API's passwords and webhook key, 0600, made when it is first served |
//! | `chanhub.sqlite` (+ `-wal`) | the node's database |
//! | `chanhub.toml` | optional configuration |
//! | `node.json` | written at start, removed at clean shutdown: addresses of the running node |
//! | `chain/` | the embedded regtest chain, when the node runs it |

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::keys::secret_file::sync_dir;

pub const NODE_JSON: &str = "node.json";

/// The contents of `DIR/node.json`: how to reach the running node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeJson {
    pub node_id: String,
    pub network: String,
    pub peer_addr: SocketAddr,
    pub api_addr: SocketAddr,
    /// Path of the API token file.
    pub api_token_file: PathBuf,
    /// The bitcoind-compatible RPC of the chain this node runs, for other nodes to share.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub chain_rpc_addr: Option<SocketAddr>,
    /// Cookie file (`user:password`) for `chain_rpc_addr`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub chain_rpc_cookie: Option<PathBuf>,
    /// The phoenixd-compatible API, when served (`--compat-phoenixd`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub compat_phoenixd_addr: Option<SocketAddr>,
    pub pid: u32,
    pub version: String,
}

impl NodeJson {
    /// Writes atomically (temporary file, then rename), so readers never see half a file.
    pub fn write(&self, datadir: &Path) -> std::io::Result<()> {
        let tmp = datadir.join(".node.json.tmp");
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        std::fs::write(&tmp, text + "\n")?;
        std::fs::rename(&tmp, datadir.join(NODE_JSON))?;
        sync_dir(datadir)
    }

    pub fn read(datadir: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(datadir.join(NODE_JSON))?;
        serde_json::from_str(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    pub fn remove(datadir: &Path) {
        let _ = std::fs::remove_file(datadir.join(NODE_JSON));
    }
}

/// Creates the data directory, owner-only, if missing.
pub fn create(datadir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(datadir)
}
