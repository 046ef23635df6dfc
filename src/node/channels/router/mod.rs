//! The HTLC router: what the hub does with the HTLCs its channels carry.
//!
//! ```text
//! alice --add(A:5)--> hub                          HtlcReceived on A
//!        peel the onion, replay check (stored), forward policy
//!        insert forwards(A:5 -> B:9) in the same write as B's state with the add
//!                      hub --add(B:9)--> bob
//!                      hub <-fulfill(B:9)-- bob    HtlcFulfilled on B
//!        forwards(A:5) settled, in the same write as A's state with the fulfill
//! alice <-fulfill(A:5)-- hub
//! ```
//!
//! The link between an incoming HTLC and what became of it is always written in the same
//! SQLite transaction as the channel state that acts on it (see [`StoreOp`]), so after any
//! crash the store says exactly which incoming HTLCs were forwarded (never twice), which
//! invoices were paid, and which payments are in flight. [`Actor::reconcile`] runs after a
//! restart and on every block: it re-examines every incoming HTLC not yet settled and every
//! pending forward and payment against the channels' states, so nothing stays stuck.
//!
//! Channel events only queue [`Work`]; the queue is drained after the transition that raised
//! it has run all its outputs, so the router never interleaves with a channel's own messages.

use std::collections::{HashMap, VecDeque};

use bitcoin::secp256k1::{PublicKey, SecretKey};

use super::actor::Actor;
use crate::channel::{AddHtlc, Command, Input, MalformedFailure};
use crate::error::Error;
use crate::onion::FailureMessage;
use crate::payments::{FeePolicy, SharedPolicy};
use crate::store::StoreError;
use crate::wire::types::ONION_PACKET_LEN;
use crate::wire::OnionPacket;

pub(super) use crate::node::invoices::now_secs;

/// A write that must commit in the same transaction as a channel's next state.
pub(super) type StoreOp =
    Box<dyn FnOnce(&rusqlite::Connection) -> Result<(), StoreError> + Send + Sync>;

/// Route hints an invoice carries at most: the channels with the most inbound liquidity.
pub const MAX_ROUTE_HINTS: usize = 3;

/// Something a channel event asks of the router.
#[derive(Debug)]
pub(super) enum Work {
    Received {
        idx: u32,
        htlc: AddHtlc,
    },
    /// Manual-HTLC mode (tests): an HTLC received is left alone, but one for an invoice of
    /// ours is recorded as paying it, so the on-chain resolution may claim it.
    ManualReceived {
        idx: u32,
        htlc: AddHtlc,
    },
    MustFail {
        idx: u32,
        htlc: AddHtlc,
    },
    Fulfilled {
        idx: u32,
        id: u64,
        preimage: [u8; 32],
    },
    Failed {
        idx: u32,
        id: u64,
        reason: Vec<u8>,
        malformed: Option<MalformedFailure>,
    },
    Dropped {
        idx: u32,
        id: u64,
    },
}

/// The router's part of the actor.
pub(super) struct Router {
    pub node_key: SecretKey,
    pub node_id: PublicKey,
    pub policy: SharedPolicy,
    /// Tests drive HTLCs by hand: incoming HTLCs are left alone.
    pub manual: bool,
    pub queue: VecDeque<Work>,
    /// What each channel's peer charges to forward to us (its `channel_update`).
    pub peer_policies: HashMap<u32, FeePolicy>,
    /// The chain height, from the last block.
    pub height: u32,
    /// Per incoming peer caps on outgoing channels, and what each peer holds.
    pub jamming: crate::payments::jamming::JammingLimits,
    pub shares: crate::payments::jamming::PeerShares,
    /// Parts of payments to us waiting for the rest of their set, each with its onion's
    /// shared secret (to fail it back).
    pub parts: crate::payments::mpp::PartSets<crate::onion::SharedSecret>,
    /// Take keysend payments (`accept_keysend`).
    pub accept_keysend: bool,
}

fn hex32(b: &[u8; 32]) -> String {
    hex::encode(b)
}

fn packet_of(onion: &[u8]) -> Option<OnionPacket> {
    let bytes: [u8; ONION_PACKET_LEN] = onion.try_into().ok()?;
    Some(OnionPacket(Box::new(bytes)))
}

fn temporary_channel_failure() -> FailureMessage {
    FailureMessage::TemporaryChannelFailure {
        channel_update: None,
    }
}
impl Actor {
    fn channel_id_of(&self, idx: u32) -> Option<[u8; 32]> {
        self.entries.get(&idx).map(|e| e.channel.channel_id().0)
    }

    /// Runs the router's queue until empty.
    pub(super) async fn drain_router(&mut self) {
        while let Some(w) = self.router.queue.pop_front() {
            // Boxed: routing runs channel inputs in turn, whose futures are large.
            Box::pin(self.route(w)).await;
        }
    }

    async fn route(&mut self, w: Work) {
        let r = match w {
            Work::Received { idx, htlc } => self.on_received(idx, htlc).await,
            Work::ManualReceived { idx, htlc } => self.record_manual(idx, &htlc).await,
            Work::MustFail { idx, htlc } => {
                self.fail_received(idx, &htlc, temporary_channel_failure())
                    .await;
                Ok(())
            }
            Work::Fulfilled { idx, id, preimage } => self.on_fulfilled(idx, id, preimage).await,
            Work::Failed {
                idx,
                id,
                reason,
                malformed,
            } => self.on_failed(idx, id, reason, malformed).await,
            Work::Dropped { idx, id } => {
                let failure = "the first hop disconnected before the HTLC was committed";
                self.on_out_gone(idx, id, failure).await
            }
        };
        if let Err(e) = r {
            // A store failure: the reconcile on the next block tries again.
            tracing::error!(error = %e, "HTLC routing step failed; retrying next block");
        }
    }

    /// Runs a command whose bookkeeping (`ops`) must commit with the channel state it
    /// produces. A refused command writes nothing.
    pub(super) async fn command_with(
        &mut self,
        idx: u32,
        command: Command,
        ops: Vec<StoreOp>,
    ) -> Result<(), Error> {
        self.attach = Some((idx, ops));
        let refused = self.input_plain(idx, Input::Command(command)).await;
        let leftover = self.attach.take();
        if let Some(e) = refused {
            return Err(e);
        }
        // Every accepted HTLC command changes the state; should one not, the bookkeeping
        // still has to land.
        if let Some((_, ops)) = leftover {
            self.write_ops(ops).await?;
        }
        Ok(())
    }

    async fn write_ops(&self, ops: Vec<StoreOp>) -> Result<(), Error> {
        if ops.is_empty() {
            return Ok(());
        }
        self.cfg
            .store
            .write(move |tx| {
                for op in ops {
                    op(tx)?;
                }
                Ok(())
            })
            .await
            .map_err(Error::from)
    }
}

mod incoming;
mod outgoing;
mod pay;
