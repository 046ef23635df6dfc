//! Group commit: many channel transitions, one fsync.
//!
//! Each transition's `Persist` used to be its own SQLite commit (one fsync, about a
//! millisecond here), and the actor waited for it before the next input: under load the hub
//! spent its time waiting on the disk, one channel at a time. Now the actor takes every request
//! already queued (up to [`MAX_BATCH`]) as one batch:
//!
//! ```text
//! recv ─► input, input, input …      writes join one open transaction (no fsync);
//!                                    every Send, reply and wake-up goes to the outbox
//!       ─► flush: COMMIT (one fsync) ─► the outbox leaves, in order
//! ```
//!
//! The rule "nothing leaves before the state that produced it is durable" holds for the whole
//! batch at once: the outbox leaves only after the commit, and in the order it was filled, so
//! each peer sees messages in the order the channels produced them. Another task's store access
//! commits the open batch first (see [`crate::store::Store::batching`]): nothing outside the
//! actor sees data that is not durable, and nothing waits on the actor.
//!
//! Within a batch, channels also leave their changes unsigned; at its end each channel signs
//! them all in one `commitment_signed` ([`crate::channel::Channel::handle_batched`]).
//!
//! Peer messages, payment requests (a part to add, the payer's look at our channels before
//! it plans one) and connection changes batch: they are the load (and a restart, with every
//! channel at once). Everything else (blocks, opens, commands) first
//! flushes, then runs with each write committed at once, so the rare paths keep their simple
//! ordering. Loading the channels at start is one batch too.
//!
//! When a commit fails, or another task's commit of the batch failed, everything the batch
//! wrote is gone: the outbox is dropped and every channel it touched goes back to its durable
//! state (and its peer is disconnected, so both sides reestablish from what is on disk).
//!
//! Measured with `scripts/bench` (2 payers → hub → 2 payees, 16 in flight): see the README's
//! figures; the hub's commits per payment fell from 7.5 to the figure there.

use std::collections::BTreeSet;

use bitcoin::secp256k1::PublicKey;
use tokio::sync::mpsc;

use super::actor::Actor;
use super::Request;
use crate::channel::Input;
use crate::net::ConnId;
use crate::wire::Message;

/// Requests one batch takes at most, so a flood of messages still gets its replies out.
pub(super) const MAX_BATCH: usize = 64;

/// Something that must wait for the batch's commit.
// Messages are the common case: boxing them would add an allocation per message.
#[allow(clippy::large_enum_variant)]
pub(super) enum Held {
    /// For this connection of the peer only (see [`crate::net::PeerManager::send_on`]).
    Send(PublicKey, ConnId, Message),
    /// A reply to a caller, or a wake-up of another task.
    Notify(Box<dyn FnOnce() + Send + Sync>),
}

/// The batch the actor is running.
#[derive(Default)]
pub(super) struct Batch {
    /// Held until the commit, in order.
    pub outbox: Vec<Held>,
    /// Channels whose state was written since the last commit.
    pub touched: BTreeSet<u32>,
    /// [`crate::store::Store::lost_batches`] when the batch began.
    pub lost_seen: u64,
    /// Inputs run with [`Channel::handle_batched`]: signing waits for the batch's end.
    ///
    /// [`Channel::handle_batched`]: crate::channel::Channel::handle_batched
    pub deferring: bool,
    /// Channels left with changes to sign.
    pub unsigned: BTreeSet<u32>,
}

/// Whether a request joins a batch (see the module docs). A peer's connection or
/// disconnection runs an input on each of its channels: with many channels per peer, batching
/// them is what keeps a reconnection from costing one fsync per channel.
fn batches(req: &Request) -> bool {
    matches!(
        req,
        Request::PeerMessage(..)
            | Request::SendParts { .. }
            // The payer's planning, before each payment: ending the batch for it made a
            // commit (and a `commitment_signed`) per payment at a busy payer.
            | Request::LocalChannels { durable: false, .. }
            | Request::PeerConnected(..)
            | Request::PeerDisconnected(..)
    )
}

impl Actor {
    /// Runs `first` and every request already queued behind it (up to [`MAX_BATCH`]), then
    /// commits once and lets the outbox go.
    pub(super) async fn run_batch(
        &mut self,
        first: Request,
        rx: &mut mpsc::UnboundedReceiver<Request>,
    ) {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(req) = next.take() {
            if batches(&req) {
                self.cfg.store.set_batching(true);
                self.batch.deferring = true;
            } else {
                self.end_batch().await;
            }
            // Boxed: the request's future is large, and kept off the stack of this loop.
            Box::pin(self.request(req)).await;
            taken += 1;
            if taken < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        self.end_batch().await;
    }

    /// Signs what the batch left unsigned, commits, lets the outbox go, and turns batching
    /// off for what follows.
    pub(super) async fn end_batch(&mut self) {
        self.batch.deferring = false;
        // One commitment_signed per channel for everything the batch changed on it.
        while let Some(idx) = self.batch.unsigned.pop_first() {
            self.input(idx, Input::SignPending).await;
        }
        let _ = self.flush().await;
        self.cfg.store.set_batching(false);
    }

    /// Whether what leaves now must wait for a commit: something is written and not durable,
    /// or something earlier is already waiting (order is kept).
    fn must_hold(&self) -> bool {
        !self.batch.outbox.is_empty() || self.cfg.store.uncommitted()
    }

    /// Sends `m` to `peer` now, or after the commit when it depends on one.
    pub(super) async fn send_to(&mut self, peer: PublicKey, m: Message) {
        // To the connection the actor last heard of: what the channels produce belongs to
        // it, and a newer connection starts over with its own `channel_reestablish`.
        let Some(&conn) = self.connections.get(&peer) else {
            tracing::debug!(%peer, msg_type = m.msg_type(), "message not sent: not connected");
            return;
        };
        if self.must_hold() {
            self.batch.outbox.push(Held::Send(peer, conn, m));
        } else if let Err(e) = self.peers.send_on(peer, conn, m).await {
            // The reestablish after reconnection sends what the peer missed.
            tracing::debug!(%peer, error = %e, "message not sent");
        }
    }

    /// Runs `f` (a reply, a wake-up) now, or after the commit when it depends on one.
    pub(super) fn after_commit(&mut self, f: impl FnOnce() + Send + Sync + 'static) {
        if self.must_hold() {
            self.batch.outbox.push(Held::Notify(Box::new(f)));
        } else {
            f();
        }
    }

    /// Commits the open batch, then lets the outbox go; when the batch is lost, drops the
    /// outbox and puts every channel it touched back to its durable state. Returns whether
    /// everything written so far is durable.
    pub(super) async fn flush(&mut self) -> bool {
        let committed = self.cfg.store.commit().await;
        let lost = self.cfg.store.lost_batches();
        if committed.is_err() || lost != self.batch.lost_seen {
            if let Err(e) = &committed {
                tracing::error!(error = %e, "batch not committed; its channels go back to their stored state");
            }
            self.batch.lost_seen = lost;
            self.batch.outbox.clear();
            for idx in std::mem::take(&mut self.batch.touched) {
                self.reload(idx).await;
            }
            return false;
        }
        self.batch.touched.clear();
        for held in std::mem::take(&mut self.batch.outbox) {
            match held {
                Held::Send(peer, conn, m) => {
                    if let Err(e) = self.peers.send_on(peer, conn, m).await {
                        tracing::debug!(%peer, error = %e, "message not sent");
                    }
                }
                Held::Notify(f) => f(),
            }
        }
        true
    }

    /// Drops what waits for `peer` (its channel goes back to its stored state).
    pub(super) fn drop_held_for(&mut self, peer: &PublicKey) {
        self.batch
            .outbox
            .retain(|h| !matches!(h, Held::Send(p, ..) if p == peer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    #[test]
    fn the_payers_look_at_the_channels_joins_the_batch_and_a_durable_look_ends_it() {
        let (reply, _) = oneshot::channel();
        assert!(batches(&Request::LocalChannels {
            durable: false,
            reply
        }));
        let (reply, _) = oneshot::channel();
        assert!(!batches(&Request::LocalChannels {
            durable: true,
            reply
        }));
    }
}
