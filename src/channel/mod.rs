//! The channel state machine (BOLT 2), free of I/O.
//!
//! A [`Channel`] takes [`Input`]s (peer messages, user commands, chain events, connection
//! changes) and returns [`Output`]s (messages to send, state to persist, transactions to
//! broadcast, events). The owner executes outputs strictly in order: a [`Output::Persist`] must
//! be durable before any later [`Output::Send`] or [`Output::Broadcast`] leaves, which is how we
//! never release a signature or a revocation secret the store could forget.
//!
//! Every input runs against a copy of the state; the copy replaces the state only if the whole
//! transition succeeds, so a refused input (a hostile peer, a command out of place) leaves the
//! channel exactly as it was.
//!
//! The design, limits and persistence rules: `channel-spec/channel.md`.
//!
//! # Map
//! - [`state`]: the persisted [`ChannelState`] and its lifecycle [`Phase`].
//! - [`changes`]: updates, the change lists of both commitments, and spec reduction.
//! - [`commitments`]: building, signing and verifying commitments; [`KeyMaterial`].
//! - [`limits`]: [`ChannelConfig`] and every limit check; [`dust`]: the dust exposure cap.
//! - `open`, `update`, `close`, `reestablish`: the transitions, one file per protocol phase.
//! - `queries`: read-only questions about HTLCs ([`Channel::received_htlcs_to_settle`],
//!   [`Channel::offered_htlc`]).

pub mod changes;
mod close;
pub mod commitments;
pub mod dust;
pub mod error;
pub mod events;
mod force;
pub mod funding_lost;
pub mod limits;
mod open;
pub mod queries;
mod reestablish;
pub mod resolution;
mod snapshot_hex;
pub mod state;
mod update;

#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use bitcoin::{ScriptBuf, Transaction};

use crate::wire::{ChannelId, Diagnostic, ErrorMessage, Message, ShortChannelId, Warning};

pub use changes::{AddHtlc, Onion, Origin, Spec, Update};
pub use commitments::KeyMaterial;
pub use error::ChannelError;
pub use events::{Event, MalformedFailure};
pub use funding_lost::FundingLost;
pub use limits::{ChannelConfig, SideParams};
pub use open::{
    channel_id_from_funding, random_alias, OpenRequest, ALIAS_MAX_BLOCK, ALIAS_MIN_BLOCK,
};
pub use queries::OfferedHtlc;
pub use resolution::{Resolution, ResolvedOutput};
pub use state::{ChannelState, Format, Link, Phase};

/// Something that happened to the channel.
// Inputs are moved straight into `handle`; boxing the large message variant would only add an
// allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A message from the peer about this channel.
    Message(Message),
    /// A request from the user or the hub.
    Command(Command),
    /// The funding transaction is confirmed `depth` deep (re-sent on every new block until the
    /// channel is ready). The acceptor checks the output here.
    FundingConfirmed { depth: u32, tx: Transaction },
    /// A transaction spending the funding output confirmed.
    FundingSpent { tx: Transaction },
    /// The funding will never confirm (a double spend of its inputs confirmed, or, as fundee,
    /// the funding timeout passed): the channel ends with nothing to enforce on chain.
    FundingLost { why: FundingLost },
    /// The connection to the peer dropped.
    Disconnected,
    /// A new connection to the peer is up (after `init`); `anysegwit`: both sides' `init` set
    /// `option_shutdown_anysegwit`.
    Reconnected { anysegwit: bool },
    /// A new block.
    Tick { height: u32 },
    /// The on-chain monitor found everything the funding spend left settled for good: the
    /// record is kept with the state (only once the funding spend is known).
    Resolved { resolution: Resolution },
    /// The owner's batch of inputs ends: sign what [`Channel::handle_batched`] left unsigned.
    SignPending,
    /// The chain's fee estimate for a close and the most we pay to close (sat/kw): a
    /// negotiation that starts later aims at the first and never pays above the second.
    ClosingFeerates { target_per_kw: u32, max_per_kw: u32 },
}

/// What the user or the hub asks of the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Opener: the wallet built (and will broadcast only when told) the funding transaction;
    /// output `vout` pays the channel.
    FundingTxReady { tx: Transaction, vout: u32 },
    /// Offer an HTLC. The id comes back in [`Event::HtlcOffered`].
    AddHtlc {
        amount_msat: u64,
        payment_hash: [u8; 32],
        cltv_expiry: u32,
        onion: Vec<u8>,
        /// What an LSP took from this HTLC to pay for the channel it opened (bLIP 52's
        /// `extra_fee`, TLV 65537 of `update_add_htlc`): the payee accepts the HTLC short of
        /// the onion's amount by exactly this.
        extra_fee_msat: Option<u64>,
    },
    /// Settle an incoming HTLC.
    Fulfill { id: u64, preimage: [u8; 32] },
    /// Fail an incoming HTLC with an encrypted failure `reason`.
    Fail { id: u64, reason: Vec<u8> },
    /// Fail an incoming HTLC whose onion we could not parse.
    FailMalformed {
        id: u64,
        sha256_of_onion: [u8; 32],
        failure_code: u16,
    },
    /// Opener: change the commitment feerate.
    UpdateFee { feerate_per_kw: u32 },
    /// Close cooperatively, paying our funds to `script_pubkey` (or the one given at open).
    Close { script_pubkey: Option<ScriptBuf> },
    /// Fail the channel: broadcast our latest commitment, and tell the peer why.
    ForceClose { reason: String },
}

/// What the owner must do, in this order.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Send(Message),
    /// Write this state durably (one transaction) before executing any later output. The
    /// whole state, shared with the channel (not a copy of it); the store writes only the parts
    /// that moved (`store::channel_parts`).
    Persist(Arc<ChannelState>),
    Broadcast(Transaction),
    Event(Event),
}

/// A refused input: the state is unchanged, and `outputs` (an `error` to the peer and an event,
/// when the peer is at fault; nothing for a refused command) must still be executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub error: ChannelError,
    pub outputs: Vec<Output>,
}

/// One channel: its persisted state and the keys to act on it.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Shared with the last `Output::Persist`: each input works on a copy, which becomes
    /// both the new state and what is persisted.
    state: Arc<ChannelState>,
    keys: KeyMaterial,
}

/// A transition in progress: a working copy of the state and the outputs so far.
pub(crate) struct Step<'a> {
    pub s: ChannelState,
    pub keys: &'a KeyMaterial,
    pub out: Vec<Output>,
    /// Leave new changes unsigned: more are coming in the same batch, and one
    /// `commitment_signed` will cover them all (see [`Channel::handle_batched`]).
    pub defer_signing: bool,
}

impl Step<'_> {
    pub fn send(&mut self, m: impl Into<Message>) {
        self.out.push(Output::Send(m.into()));
    }

    pub fn event(&mut self, e: Event) {
        self.out.push(Output::Event(e));
    }

    pub fn channel_id(&self) -> ChannelId {
        ChannelId(self.s.channel_id)
    }

    pub fn not_now(&self, command: &'static str) -> ChannelError {
        ChannelError::NotNow {
            command,
            state: self.s.phase.name().into(),
        }
    }

    pub fn unexpected(&self, message: &'static str) -> ChannelError {
        ChannelError::UnexpectedMessage {
            message,
            state: self.s.phase.name().into(),
        }
    }

    /// A state we must not act on refuses every update, signature and close message or
    /// command (refused messages answer the peer with `error`: the request to close).
    pub fn passive_error(&self, what: &str) -> ChannelError {
        if self.s.restored {
            ChannelError::Restored(format!(
                "{what} refused: our state may be old; the peer must close the channel"
            ))
        } else {
            ChannelError::WeAreBehind(format!(
                "{what} refused: our commitment is revoked; the peer must close the channel"
            ))
        }
    }

    fn refuse_if_passive(&self, input: &Input) -> Result<(), ChannelError> {
        if !self.s.is_passive() {
            return Ok(());
        }
        let what = match input {
            Input::Message(m) if Update::from_message(m).is_some() => "update",
            Input::Message(Message::CommitmentSigned(_)) => "commitment_signed",
            Input::Message(Message::RevokeAndAck(_)) => "revoke_and_ack",
            Input::Message(Message::Shutdown(_)) => "shutdown",
            Input::Message(Message::ClosingSigned(_)) => "closing_signed",
            Input::Command(
                Command::AddHtlc { .. }
                | Command::Fulfill { .. }
                | Command::Fail { .. }
                | Command::FailMalformed { .. }
                | Command::UpdateFee { .. },
            ) => "update",
            Input::Command(Command::Close { .. }) => "cooperative close",
            _ => return Ok(()),
        };
        Err(self.passive_error(what))
    }

    fn apply(&mut self, input: Input) -> Result<(), ChannelError> {
        self.refuse_if_passive(&input)?;
        match input {
            Input::Message(m) => self.on_message(m)?,
            Input::Command(c) => self.on_command(c)?,
            Input::FundingConfirmed { depth, tx } => self.on_funding_confirmed(depth, &tx)?,
            Input::FundingSpent { tx } => self.on_funding_spent(tx),
            Input::FundingLost { why } => self.on_funding_lost(why)?,
            Input::Disconnected => self.on_disconnected(),
            Input::Reconnected { anysegwit } => {
                self.s.close.peer_anysegwit = anysegwit;
                self.on_reconnected()?
            }
            Input::Tick { height } => self.s.height = self.s.height.max(height),
            Input::Resolved { resolution } => {
                if self.s.funding_spend.is_none() {
                    return Err(self.not_now("record a resolution"));
                }
                self.s.resolution = Some(resolution);
            }
            Input::SignPending => self.defer_signing = false,
            Input::ClosingFeerates {
                target_per_kw,
                max_per_kw,
            } => self.s.close.feerates = Some((target_per_kw, max_per_kw)),
        }
        self.prune_onions();
        self.progress()
    }

    /// Forgets the onions of the peer's HTLCs that left every commitment.
    fn prune_onions(&mut self) {
        let Some(c) = self.s.commitments.as_mut() else {
            return;
        };
        if c.received_onions.is_empty() {
            return;
        }
        let specs = [Some(&c.local.spec), Some(&c.remote.spec)]
            .into_iter()
            .chain([c.remote_waiting.as_ref().map(|w| &w.spec)])
            .flatten();
        let live: std::collections::BTreeSet<u64> = specs
            .flat_map(|s| s.htlcs.iter())
            .filter(|h| h.origin == Origin::Remote)
            .map(|h| h.add.id)
            .collect();
        c.received_onions.retain(|id, _| live.contains(id));
    }

    fn on_message(&mut self, m: Message) -> Result<(), ChannelError> {
        if let Some(u) = Update::from_message(&m) {
            return self.on_update(u);
        }
        match m {
            Message::AcceptChannel(m) => self.on_accept_channel(&m),
            Message::FundingCreated(m) => self.on_funding_created(&m),
            Message::FundingSigned(m) => self.on_funding_signed(&m),
            Message::ChannelReady(m) => self.on_channel_ready(&m),
            Message::CommitmentSigned(m) => self.on_commitment_signed(&m),
            Message::RevokeAndAck(m) => self.on_revoke_and_ack(&m),
            Message::ChannelReestablish(m) => self.on_reestablish(&m),
            Message::Shutdown(m) => self.on_shutdown(&m),
            Message::ClosingSigned(m) => self.on_closing_signed(&m),
            Message::Error(e) => self.on_peer_error(&e),
            // Warnings and anything else not about channel state change nothing.
            _ => Ok(()),
        }
    }

    fn on_command(&mut self, c: Command) -> Result<(), ChannelError> {
        match c {
            Command::FundingTxReady { tx, vout } => self.on_funding_tx_ready(tx, vout),
            Command::AddHtlc {
                amount_msat,
                payment_hash,
                cltv_expiry,
                onion,
                extra_fee_msat,
            } => self.add_htlc(
                amount_msat,
                payment_hash,
                cltv_expiry,
                onion,
                extra_fee_msat,
            ),
            Command::Fulfill { id, preimage } => self.settle(Update::Fulfill { id, preimage }),
            Command::Fail { id, reason } => self.settle(Update::Fail { id, reason }),
            Command::FailMalformed {
                id,
                sha256_of_onion,
                failure_code,
            } => self.settle(Update::FailMalformed {
                id,
                sha256_of_onion,
                failure_code,
            }),
            Command::UpdateFee { feerate_per_kw } => self.update_fee(feerate_per_kw),
            Command::Close { script_pubkey } => self.close(script_pubkey),
            Command::ForceClose { reason } => self.force_close(&reason, true),
        }
    }

    fn on_peer_error(&mut self, e: &ErrorMessage) -> Result<(), ChannelError> {
        let message = e.0.printable_data().unwrap_or("(unprintable)").to_string();
        self.event(Event::PeerFailedChannel {
            message: message.clone(),
        });
        if self.s.commitments.is_none() {
            self.s.phase = Phase::Aborted;
            return Ok(());
        }
        // BOLT 1: an `error` fails the channel, and a funded channel is failed on chain. Not
        // when we are behind or restored from a backup (our commitment is or may be revoked),
        // nor once a close is settled.
        let open = matches!(
            self.s.phase,
            Phase::AwaitingReady { .. } | Phase::Normal | Phase::ShuttingDown | Phase::Negotiating
        );
        if open && !self.s.is_passive() {
            self.force_close(&format!("the peer failed the channel: {message}"), false)?;
        }
        Ok(())
    }

    fn on_funding_spent(&mut self, tx: Transaction) {
        let txid = tx.compute_txid();
        // Our agreed close, or (once we force-closed over it) a spend shaped as one: BOLT 3
        // closing transactions have locktime 0 and a final sequence, commitments neither.
        let closing_shape = tx.lock_time == bitcoin::absolute::LockTime::ZERO
            && tx
                .input
                .iter()
                .all(|i| i.sequence == bitcoin::Sequence::MAX);
        let mutual = match &self.s.phase {
            Phase::Closing { tx: ours } => ours.compute_txid() == txid,
            Phase::ForceClosing { .. } => self.s.close.our_offer.is_some() && closing_shape,
            _ => false,
        };
        // Again after a reorg put another spend in its place: the resolution starts over.
        self.s.resolution = None;
        self.s.funding_spend = Some(tx.clone());
        if !mutual {
            self.event(Event::FundingSpentUnilaterally { tx });
        }
        self.event(Event::ChannelClosed { txid, mutual });
        self.s.phase = Phase::Closed;
    }
}

impl Channel {
    /// A channel from its persisted state and the keys re-derived for it. The connection is
    /// taken as down: unsigned updates are dropped (BOLT 2), and `Input::Reconnected` starts
    /// the reestablish. The outputs (events about dropped HTLCs, a snapshot) are the owner's.
    pub fn restore(
        state: ChannelState,
        keys: KeyMaterial,
    ) -> Result<(Channel, Vec<Output>), ChannelError> {
        if state.setup.local_keys != keys.pubkeys {
            return Err(ChannelError::WrongKeys);
        }
        let mut ch = Channel {
            state: Arc::new(state),
            keys,
        };
        let out = ch.handle(Input::Disconnected).map_err(|r| r.error)?;
        Ok((ch, out))
    }

    /// Run one input. On `Ok`, execute the outputs in order. On `Err`, the state is unchanged
    /// and the refusal's outputs must still be executed.
    pub fn handle(&mut self, input: Input) -> Result<Vec<Output>, Refused> {
        self.run(input, false)
    }

    /// [`Channel::handle`] for an owner that runs inputs in batches: changes are left
    /// unsigned, and [`Input::SignPending`] at the end of the batch signs them all in one
    /// `commitment_signed`. Under load the hub forwards several HTLCs over a channel within one
    /// batch; signing each alone costs a commitment signature per HTLC and makes the later
    /// ones wait a round trip for the peer's `revoke_and_ack`.
    pub fn handle_batched(&mut self, input: Input) -> Result<Vec<Output>, Refused> {
        self.run(input, true)
    }

    /// Whether changes wait for [`Input::SignPending`] (the peer's next commitment would
    /// differ from the one it has, and nothing stops us from signing it).
    pub fn has_unsigned_changes(&self) -> bool {
        self.state.commitments.as_ref().is_some_and(|c| {
            c.remote_waiting.is_none()
                && c.remote_next_point.is_some()
                && !(c.local_changes.proposed.is_empty() && c.remote_changes.acked.is_empty())
        })
    }

    fn run(&mut self, input: Input, defer_signing: bool) -> Result<Vec<Output>, Refused> {
        let from_outside = !matches!(input, Input::Command(_));
        let mut step = Step {
            s: ChannelState::clone(&self.state),
            keys: &self.keys,
            out: Vec::new(),
            defer_signing,
        };
        match step.apply(input) {
            Ok(()) => {
                let mut outputs = Vec::with_capacity(step.out.len() + 1);
                if step.s != *self.state {
                    self.state = Arc::new(step.s);
                    outputs.push(Output::Persist(self.state.clone()));
                }
                outputs.append(&mut step.out);
                Ok(outputs)
            }
            Err(error) => {
                let outputs = if from_outside && error.is_peer_fault() {
                    let d = Diagnostic::new(ChannelId(self.state.channel_id), &error.to_string());
                    vec![
                        Output::Send(if error.is_warning() {
                            Message::Warning(Warning(d))
                        } else {
                            Message::Error(ErrorMessage(d))
                        }),
                        Output::Event(Event::PeerMisbehaved {
                            reason: error.to_string(),
                            fatal: !error.is_warning(),
                        }),
                    ]
                } else {
                    Vec::new()
                };
                Err(Refused { error, outputs })
            }
        }
    }

    pub fn state(&self) -> &ChannelState {
        &self.state
    }

    /// The channel's secrets, for the on-chain resolution's claims.
    pub fn key_material(&self) -> &KeyMaterial {
        &self.keys
    }

    pub fn channel_id(&self) -> ChannelId {
        ChannelId(self.state.channel_id)
    }

    pub fn temporary_channel_id(&self) -> ChannelId {
        ChannelId(self.state.setup.temporary_channel_id)
    }

    pub fn phase(&self) -> &Phase {
        &self.state.phase
    }

    /// The alias we gave the peer in `channel_ready`: an onion naming it means "forward over
    /// this channel".
    pub fn local_alias(&self) -> Option<ShortChannelId> {
        self.state.local_alias
    }

    /// The latest alias the peer gave us in `channel_ready`, for our invoices' route hints.
    pub fn remote_alias(&self) -> Option<ShortChannelId> {
        self.state.remote_alias
    }

    /// Our and the peer's balance on our current commitment, HTLCs in flight excluded.
    pub fn balances_msat(&self) -> (u64, u64) {
        self.state
            .commitments
            .as_ref()
            .map(|c| (c.local.spec.local_msat, c.local.spec.remote_msat))
            .unwrap_or((0, 0))
    }

    /// Whether HTLCs may be offered now.
    pub fn is_usable(&self) -> bool {
        self.state.phase == Phase::Normal
            && self.state.link == Link::Connected
            && !self.state.is_passive()
            && self.state.close.local_script.is_none()
            && self.state.close.remote_script.is_none()
    }

    /// Our latest commitment, fully signed, for a unilateral close. `None` before funding,
    /// when the peer proved it is revoked, or when the state came from a backup (broadcasting
    /// it would forfeit our funds).
    pub fn signed_local_commitment(&self) -> Result<Option<Transaction>, ChannelError> {
        let Some(c) = &self.state.commitments else {
            return Ok(None);
        };
        if self.state.is_passive() {
            return Ok(None);
        }
        let tx =
            commitments::build_local(&self.keys, &self.state.setup, &c.local.spec, c.local.number)?;
        let ours = tx.sign(&self.keys.signer)?.signature;
        Ok(Some(tx.finalize(&ours, &c.local.remote_sig)?))
    }
}
