//! The watchtower: a separate service (`chanhub tower`) that holds, for each revoked state of
//! its clients' channels, an encrypted justice transaction, and broadcasts it if the cheater's
//! commitment ever shows up on chain while the client is away. The design, and what the tower
//! learns: `channel-spec/watchtower.md`.
//!
//! ```text
//! node: peer revokes commitment n -> seal justice tx under txid(n) -> queue (same write as state)
//!       client task --BOLT 8: tower_upload{hint, blob}--> tower: allowed? quota, store
//! tower: every block, every tx: Hint::of(txid) -> blob -> open(txid) -> broadcast until mined
//! ```
//!
//! # Layout
//! - [`blob`]: hint and key derivation, the sealed blob.
//! - [`wire`]: `tower_upload` (601) and `tower_ack` (603).
//! - [`justice`]: the node's pure step: a revoked commitment to a sealed justice transaction.
//! - [`conn`]: one authenticated connection (BOLT 8 + `init`), either side.
//! - [`server`]: the tower's listener, sessions and quota.
//! - [`clients`]: who is served (allow-list or `--public`), forgetting idle clients.
//! - [`store`]: the tower's database.
//! - [`watch`]: chain following, matching, broadcasting.
//! - [`client`]: the node's task that drains its upload queue to the tower.
//! - [`service`]: `chanhub tower`: flags, data directory, `tower.json`, start and stop.

pub mod blob;
pub mod client;
pub mod clients;
pub mod conn;
pub mod justice;
pub mod server;
pub mod service;
pub mod store;
pub mod watch;
pub mod wire;

use bitcoin::secp256k1::PublicKey;

pub use service::{RunningTower, Tower, TowerArgs, TowerConfig, TowerJson};

/// Where a node finds its tower: `NODE_ID@HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TowerAddr {
    pub node_id: PublicKey,
    /// `host:port`, resolved at each connection.
    pub addr: String,
}

impl std::str::FromStr for TowerAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (id, addr) = s
            .split_once('@')
            .ok_or_else(|| format!("{s:?} is not NODE_ID@HOST:PORT"))?;
        let node_id = id
            .parse::<PublicKey>()
            .map_err(|_| format!("{id:?} is not a node id (33-byte public key, hex)"))?;
        match addr.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
            _ => return Err(format!("{addr:?} is not HOST:PORT")),
        }
        Ok(TowerAddr {
            node_id,
            addr: addr.to_string(),
        })
    }
}

impl std::fmt::Display for TowerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.node_id, self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

    #[test]
    fn tower_addresses_parse_and_print() {
        let t: TowerAddr = format!("{ID}@127.0.0.1:9911").parse().unwrap();
        assert_eq!(t.addr, "127.0.0.1:9911");
        assert_eq!(t.to_string(), format!("{ID}@127.0.0.1:9911"));
        assert!(format!("{ID}@[::1]:9911").parse::<TowerAddr>().is_ok());
        for bad in [
            "127.0.0.1:9911".to_string(),
            format!("{ID}@127.0.0.1"),
            format!("{ID}@:9911"),
            "02ab@127.0.0.1:9911".to_string(),
        ] {
            assert!(bad.parse::<TowerAddr>().is_err(), "{bad}");
        }
    }
}
