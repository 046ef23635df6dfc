//! The channel manager's part of the watchtower: a revocation the peer just gave us becomes a
//! sealed justice transaction, queued in the same store write as the state that holds it.

use std::sync::Arc;

use tokio::sync::Notify;

use super::actor::Actor;
use super::router::StoreOp;
use crate::channel::{Event, Output};
use crate::store::tower as q;
use crate::tower::justice::seal_revoked;

impl Actor {
    /// The queue writes for the `PeerRevoked` events among `outputs`, to commit with their
    /// `Persist` (the state that holds the revealed secret). Empty without a tower.
    pub(super) fn tower_ops(&self, idx: u32, outputs: &[Output]) -> Vec<StoreOp> {
        if self.cfg.tower.is_none() {
            return Vec::new();
        }
        let Some(state) = outputs.iter().find_map(|o| match o {
            Output::Persist(s) => Some(s),
            _ => None,
        }) else {
            return Vec::new();
        };
        let revoked = outputs.iter().filter_map(|o| match o {
            Output::Event(Event::PeerRevoked {
                number,
                spec,
                point,
            }) => Some((*number, spec, point)),
            _ => None,
        });
        let mut ops: Vec<StoreOp> = Vec::new();
        let mut keys = None;
        for (number, spec, point) in revoked {
            let keys = match &mut keys {
                Some(k) => k,
                None => match self.key_material(idx) {
                    Ok(k) => keys.insert(k),
                    Err(e) => {
                        tracing::error!(channel = idx, error = %e, "no keys for the tower blob");
                        return ops;
                    }
                },
            };
            match seal_revoked(state, keys, number, spec, point) {
                Ok(Some(s)) => {
                    tracing::debug!(channel = idx, number, hint = %s.hint,
                        justice = %s.justice.compute_txid(), "justice blob queued for the tower");
                    ops.push(Box::new(move |tx| {
                        q::enqueue(tx, idx, s.commitment_number, &s.hint, &s.blob)
                    }));
                }
                Ok(None) => {
                    tracing::debug!(channel = idx, number, "revoked state holds nothing to take")
                }
                // The state stays stored either way: the node's own monitor still guards it.
                Err(e) => tracing::error!(channel = idx, number, error = %e,
                    "cannot make the tower blob of a revoked state"),
            }
        }
        ops
    }

    /// Tells the tower client that blobs were queued.
    /// Wakes the tower client once the queued blob is durable (it reads the queue).
    pub(super) fn wake_tower(&mut self) {
        if let Some(w) = self.cfg.tower.clone() {
            self.after_commit(move || w.notify_one());
        }
    }
}

/// What the channel manager needs to feed a tower client: the signal that blobs are queued.
pub type TowerWake = Arc<Notify>;
