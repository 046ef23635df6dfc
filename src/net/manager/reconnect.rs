//! Persistent peers: remembered in the store, redialled with backoff after a drop or a restart.

use std::time::Duration;

use bitcoin::secp256k1::PublicKey;

use super::PeerManager;
use crate::net::error::{PeerError, SetupError};
use crate::net::limits::Backoff;
use crate::store::peers as peer_store;

impl PeerManager {
    /// Adds the peer to the persistent set, in memory and in the store.
    pub(super) async fn remember(&self, node_id: PublicKey, addr: &str) -> Result<(), PeerError> {
        self.state().persistent.insert(node_id, addr.to_string());
        if let Some(store) = &self.inner.store {
            let addr = addr.to_string();
            store
                .write(move |tx| peer_store::upsert(tx, &node_id, &addr))
                .await
                .map_err(|e| PeerError::Store(e.to_string()))?;
        }
        Ok(())
    }

    /// Loads the persistent peers from the store and starts reconnecting to each.
    pub async fn restore_persistent(&self) -> Result<usize, PeerError> {
        let Some(store) = &self.inner.store else {
            return Ok(0);
        };
        let stored = store
            .call(peer_store::list)
            .await
            .map_err(|e| PeerError::Store(e.to_string()))?;
        {
            let mut st = self.state();
            for p in &stored {
                st.persistent.insert(p.node_id, p.addr.clone());
            }
        }
        for p in &stored {
            self.schedule_reconnect(p.node_id, Duration::ZERO);
        }
        Ok(stored.len())
    }

    /// Starts a reconnect loop for a persistent peer unless one runs already.
    pub(super) fn schedule_reconnect(&self, node_id: PublicKey, first_delay: Duration) {
        {
            let mut st = self.state();
            if !st.persistent.contains_key(&node_id) || !st.reconnecting.insert(node_id) {
                return;
            }
        }
        let me = self.clone();
        if !self.spawn(async move { me.reconnect_loop(node_id, first_delay).await }) {
            self.state().reconnecting.remove(&node_id);
        }
    }

    /// Dials until connected (or forgotten, or shutdown), with exponential backoff.
    async fn reconnect_loop(self, node_id: PublicKey, first_delay: Duration) {
        let limits = &self.inner.limits;
        let mut backoff = Backoff::new(limits.reconnect_min, limits.reconnect_max);
        let mut delay = first_delay;
        let mut shutdown = self.inner.shutdown.clone();
        loop {
            tokio::select! {
                _ = crate::net::stopped(&mut shutdown) => break,
                _ = tokio::time::sleep(delay) => {}
            }
            // Checked and released under one lock, so a connection that drops right after
            // this loop's success either sees the loop running or starts a new one.
            let addr = {
                let mut st = self.state();
                match st.persistent.get(&node_id) {
                    Some(addr) if !st.peers.contains_key(&node_id) => addr.clone(),
                    _ => {
                        st.reconnecting.remove(&node_id);
                        return;
                    }
                }
            };
            match self.connect_once(node_id, &addr).await {
                Ok(_) => {
                    // Forgotten while we were dialling: the user's disconnect wins.
                    if !self.state().persistent.contains_key(&node_id) {
                        let _ = self.close_if_connected(node_id);
                        break;
                    }
                    tracing::info!(%node_id, %addr, "reconnected");
                    backoff = Backoff::new(limits.reconnect_min, limits.reconnect_max);
                    delay = limits.reconnect_min;
                }
                Err(SetupError::ShuttingDown) => break,
                Err(e) => {
                    delay = backoff.next_delay();
                    tracing::info!(%node_id, %addr, error = %e, retry_in = ?delay, "reconnect failed");
                }
            }
        }
        self.state().reconnecting.remove(&node_id);
    }
}
