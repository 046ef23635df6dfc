//! Who the tower serves: the allow-list (or `--public`), and forgetting clients that hold
//! nothing. Refusing clients whose blobs turned out bad is the quota's part
//! ([`super::store::Quota::max_bad_blobs_per_client`]).
//!
//! ```text
//! BOLT 8 proves the client's node id -> allowed?  no: warning, closed
//!                                     -> too many bad blobs?  yes: warning, closed
//! every sweep: no blob since `forget_after` -> the client's row (and counters) deleted
//! ```

use std::collections::BTreeSet;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use tokio::sync::watch;

use super::store as q;
use crate::store::Store;

/// Which clients the tower serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Any client (`--public`).
    Public,
    /// Only these node ids; an empty list serves nobody.
    Listed(BTreeSet<PublicKey>),
}

impl Access {
    pub fn allows(&self, client: &PublicKey) -> bool {
        match self {
            Access::Public => true,
            Access::Listed(ids) => ids.contains(client),
        }
    }

    /// For the start-up log line.
    pub fn describe(&self) -> String {
        match self {
            Access::Public => "public: any client".into(),
            Access::Listed(ids) if ids.is_empty() => {
                "nobody: no --authorized-client, --authorized-clients-file or --public".into()
            }
            Access::Listed(ids) => format!("{} authorized clients", ids.len()),
        }
    }
}

/// The node ids of an authorized-clients file: one per line; blank lines and anything from a
/// `#` on are ignored. An error names the first bad line.
pub fn parse_clients_file(text: &str) -> Result<Vec<PublicKey>, String> {
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let id = line.split('#').next().unwrap_or("").trim();
        if id.is_empty() {
            continue;
        }
        let key = id.parse::<PublicKey>().map_err(|_| {
            format!(
                "line {}: {id:?} is not a node id (33-byte public key, hex)",
                n + 1
            )
        })?;
        ids.push(key);
    }
    Ok(ids)
}

/// How often the idle sweep runs for a given `forget_after`: often enough that a client is
/// forgotten within a quarter of the period late, at most hourly, at least every second.
pub fn sweep_interval(forget_after: Duration) -> Duration {
    (forget_after / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// Forgets, every [`sweep_interval`], the clients that have held no blob for `forget_after`,
/// until `shutdown` flips.
pub async fn forget_idle(
    store: Store,
    forget_after: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let secs = i64::try_from(forget_after.as_secs()).unwrap_or(i64::MAX);
    loop {
        let cutoff = q::now_secs().saturating_sub(secs);
        match store.write(move |c| q::forget_idle(c, cutoff)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                forgotten = n,
                after_secs = forget_after.as_secs(),
                "tower: forgot clients that held no blob"
            ),
            Err(e) => tracing::warn!(error = %e, "tower: cannot forget idle clients"),
        }
        tokio::select! {
            _ = crate::net::stopped(&mut shutdown) => return,
            _ = tokio::time::sleep(sweep_interval(forget_after)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};

    fn id(b: u8) -> PublicKey {
        SecretKey::from_slice(&[b; 32])
            .unwrap()
            .public_key(&Secp256k1::new())
    }

    #[test]
    fn a_clients_file_takes_one_id_a_line_with_comments() {
        let text = format!(
            "# the hub\n{}\n\n  {}  # alice's node\n# {}\n",
            id(1),
            id(2),
            id(3)
        );
        assert_eq!(parse_clients_file(&text).unwrap(), vec![id(1), id(2)]);
        let e = parse_clients_file(&format!("{}\n02ab\n", id(1))).unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
    }

    #[test]
    fn a_list_serves_its_clients_public_serves_all_an_empty_list_nobody() {
        let listed = Access::Listed([id(1)].into());
        assert!(listed.allows(&id(1)));
        assert!(!listed.allows(&id(2)));
        assert!(Access::Public.allows(&id(2)));
        let nobody = Access::Listed(BTreeSet::new());
        assert!(!nobody.allows(&id(1)));
        assert!(nobody.describe().starts_with("nobody"));
    }

    #[test]
    fn the_sweep_runs_a_quarter_period_between_a_second_and_an_hour() {
        assert_eq!(
            sweep_interval(Duration::from_secs(2)),
            Duration::from_secs(1)
        );
        assert_eq!(
            sweep_interval(Duration::from_secs(400)),
            Duration::from_secs(100)
        );
        assert_eq!(
            sweep_interval(Duration::from_secs(30 * 86_400)),
            Duration::from_secs(3600)
        );
    }
}
