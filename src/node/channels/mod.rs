//! The channel manager: owns every [`Channel`] of the node and executes their outputs.
//!
//! One task (the actor, [`actor`]) owns all channels and takes its work from one queue: peer
//! messages and connection changes ([`handler::ChannelPeerHandler`]), user and hub commands
//! ([`Channels`], the handle the API and tests hold), and new blocks ([`chain`]). One queue
//! gives a total order per channel without locks, and a slow store write simply delays the
//! next input.
//!
//! Outputs of a transition run strictly in order: `Persist` is one SQLite write, committed
//! before any later `Send` or `Broadcast` (a signature or a revocation secret never leaves
//! before the state that produced it is on disk). Under load many transitions share one
//! commit ([`batch`]). See `channel-spec/node.md`.
//!
//! [`Channel`]: crate::channel::Channel

mod actor;
mod batch;
mod chain;
mod counters;
mod double_spend;
mod feerate;
mod handler;
mod monitor;
mod opens;
mod policy;
mod reported;
mod router;
mod tower;
mod view;

use bitcoin::secp256k1::PublicKey;
use bitcoin::Txid;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::channel::{Command, Event, Format};
use crate::error::Error;
use crate::events::{EventLog, LoggedEvent};
use crate::invoice::RouteHint;
use crate::net::ConnId;
use crate::wire::Message;

pub use actor::{spawn, ManagerConfig, Starter};
pub use counters::Counters;
pub use feerate::DEFAULT_MAX_CLOSING_FEE_MULTIPLE;
pub use handler::ChannelPeerHandler;
pub use monitor::DEFAULT_RESOLUTION_DEPTH;

/// What a cheater could broadcast (regtest drill): our previous, revoked commitment, and the
/// HTLC-timeout transactions of the HTLCs we had offered in it.
#[derive(Debug, Clone)]
pub struct RevokedDrill {
    pub commitment: bitcoin::Transaction,
    pub htlc_timeouts: Vec<bitcoin::Transaction>,
}
pub use tower::TowerWake;
pub use view::{ChannelInfo, ChannelStatus};

/// An event of one channel, as the API's event stream and the tests see it.
#[derive(Debug, Clone)]
pub struct ChannelEvent {
    pub channel_id: [u8; 32],
    pub peer: PublicKey,
    pub event: Event,
}

/// What the opener learns once the peer signed the funding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenedChannel {
    pub channel_id: [u8; 32],
    pub funding_txid: Txid,
}

/// A request to open a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenParams {
    pub peer: PublicKey,
    pub capacity_sat: u64,
    pub push_msat: u64,
    pub format: Format,
    /// Set `announce_channel`: the channel is announced to the network once 6 blocks deep.
    pub announce: bool,
    /// `option_zeroconf`: usable as soon as the peer signed the funding, which comes from our
    /// confirmed coins only and is never replaced.
    pub zero_conf: bool,
}

/// What a peer's `init` lets us negotiate with it (ours are always offered).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerTerms {
    /// `option_shutdown_anysegwit`.
    pub anysegwit: bool,
    /// `option_scid_alias`: we propose it for private channels.
    pub scid_alias: bool,
    /// `option_zeroconf`: we may propose zero-conf channels.
    pub zero_conf: bool,
    /// `option_anchors_zero_fee_htlc_tx`: a channel the hub opens on its own (a JIT
    /// channel) uses anchors only when the peer offers them.
    pub anchors: bool,
}

/// One part of a payment for the channel manager to send: the HTLC to add on the attempt's
/// channel (`attempt.htlc.channel_id`; the manager fills in the HTLC id) and the attempt row
/// to write in the same transaction as the channel state that adds it.
#[derive(Debug, Clone)]
pub struct SendPart {
    pub amount_msat: u64,
    pub cltv_expiry: u32,
    pub onion: Vec<u8>,
    pub attempt: crate::payments::AttemptRecord,
    /// A new payment's row, written (before the attempt) with its first part: one commit
    /// for both, not one each. Refused parts write nothing: the payer then writes it.
    pub payment: Option<crate::payments::PaymentRecord>,
}

/// Work for the actor.
// Messages are moved straight through the queue; boxing the large one would add an
// allocation per message for no gain.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Request {
    /// A connection of the peer (replacing any older one: see [`crate::net::PeerEventHandler`]).
    PeerConnected(PublicKey, ConnId, PeerTerms),
    /// The credit is released once the message is handled (see [`crate::net::Credit`]).
    PeerMessage(PublicKey, ConnId, Message, crate::net::Credit),
    PeerDisconnected(PublicKey, ConnId),
    /// A new tip: drive funding confirmations, spends and re-broadcasts.
    Block,
    /// Between blocks: look for preimages in the mempool (see `monitor::mempool`).
    MempoolScan,
    Open {
        params: OpenParams,
        reply: oneshot::Sender<Result<OpenedChannel, Error>>,
    },
    Command {
        channel_id: [u8; 32],
        command: Command,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    List(oneshot::Sender<Vec<ChannelInfo>>),
    LocalChannels {
        /// Only what is durable (anything shown outside the process); `false` for the
        /// payer's planning, which may see the open batch (see `batch::batches`).
        durable: bool,
        reply: oneshot::Sender<Result<(Vec<crate::routing::LocalChannel>, u32), Error>>,
    },
    /// Parts of one or many payments, added in one batch: one commitment for all the parts
    /// on a channel. Answered (each part's outcome, in order) once they are durable.
    SendParts {
        parts: Vec<SendPart>,
        reply: oneshot::Sender<Vec<Result<crate::payments::HtlcRef, Error>>>,
    },
    RouteHints(oneshot::Sender<Vec<RouteHint>>),
    RevokedCommitment {
        channel_id: [u8; 32],
        reply: oneshot::Sender<Result<Option<RevokedDrill>, Error>>,
    },
    CancelInvoice {
        payment_hash: [u8; 32],
        reply: oneshot::Sender<Result<bool, Error>>,
    },
    SettleInvoice {
        payment_hash: [u8; 32],
        preimage: [u8; 32],
        reply: oneshot::Sender<Result<crate::payments::InvoiceRecord, Error>>,
    },
    PolicyChanged,
    /// Test support: the commitment numbers signed for the peer, from the store.
    SignedNumbers {
        channel_id: [u8; 32],
        reply: oneshot::Sender<Result<Vec<u64>, Error>>,
    },
}

/// The handle to the channel manager. Cheap to clone.
#[derive(Clone)]
pub struct Channels {
    tx: mpsc::UnboundedSender<Request>,
    events: broadcast::Sender<ChannelEvent>,
    log: EventLog,
    counters: std::sync::Arc<Counters>,
}

/// How long an open waits for the peer's `funding_signed`.
pub const OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl Channels {
    /// The signature work counted since the process started.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Request) -> Result<T, Error> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| Error::ShuttingDown)?;
        rx.await.map_err(|_| Error::ShuttingDown)
    }

    /// Opens a channel with a connected peer and waits until the funding transaction is
    /// signed by both sides (and handed to the chain).
    pub async fn open(&self, params: OpenParams) -> Result<OpenedChannel, Error> {
        let wait = self.ask(|reply| Request::Open { params, reply });
        match tokio::time::timeout(OPEN_TIMEOUT, wait).await {
            Ok(r) => r?,
            Err(_) => Err(Error::ChannelOpenFailed(format!(
                "the peer did not sign the funding within {} s",
                OPEN_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Every channel, oldest first.
    pub async fn list(&self) -> Result<Vec<ChannelInfo>, Error> {
        self.ask(Request::List).await
    }

    /// One channel by id.
    pub async fn get(&self, channel_id: [u8; 32]) -> Result<ChannelInfo, Error> {
        self.list()
            .await?
            .into_iter()
            .find(|c| c.channel_id == channel_id)
            .ok_or_else(|| unknown_channel(&channel_id))
    }

    /// Runs a channel command (add, fulfill, fail, update_fee, close).
    pub async fn command(&self, channel_id: [u8; 32], command: Command) -> Result<(), Error> {
        self.ask(|reply| Request::Command {
            channel_id,
            command,
            reply,
        })
        .await?
    }

    /// Starts a cooperative close; our funds go to a fresh wallet script.
    pub async fn close(&self, channel_id: [u8; 32]) -> Result<(), Error> {
        self.command(
            channel_id,
            Command::Close {
                script_pubkey: None,
            },
        )
        .await
    }

    /// The channel events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ChannelEvent> {
        self.events.subscribe()
    }

    /// Our channels as routing sees them (exact outbound liquidity), and the chain height:
    /// durable state only, for showing outside the process.
    pub async fn local_channels(&self) -> Result<(Vec<crate::routing::LocalChannel>, u32), Error> {
        self.ask(|reply| Request::LocalChannels {
            durable: true,
            reply,
        })
        .await?
    }

    /// [`Self::local_channels`] for planning a payment's routes: it may include changes the
    /// manager has not committed yet, and so is answered within its batch instead of ending
    /// it. Nothing planned leaves before the commit of the part it plans (a part is added in
    /// a batch like any other), and a plan made on changes then lost fails as a refused part.
    pub async fn local_channels_for_planning(
        &self,
    ) -> Result<(Vec<crate::routing::LocalChannel>, u32), Error> {
        self.ask(|reply| Request::LocalChannels {
            durable: false,
            reply,
        })
        .await?
    }

    /// Adds parts of payments: each one's HTLC and attempt row committed together, all of
    /// them in one batch. Each part's outcome, in order; `Err` only when the manager is gone.
    pub async fn send_parts(
        &self,
        parts: Vec<SendPart>,
    ) -> Result<Vec<Result<crate::payments::HtlcRef, Error>>, Error> {
        self.ask(|reply| Request::SendParts { parts, reply }).await
    }

    /// Route hints for an invoice of ours: one per usable channel, through the peer, with the
    /// policy the peer announced for forwarding to us.
    pub async fn route_hints(&self) -> Result<Vec<RouteHint>, Error> {
        self.ask(Request::RouteHints).await
    }

    /// Cancels an open or held invoice, failing back any HTLCs held for it
    /// (`incorrect_or_unknown_payment_details`) and logging `invoice_cancelled`; `false` if it
    /// was neither (paid, cancelled or unknown). Runs in the actor, so it cannot interleave
    /// with an HTLC being checked against it.
    pub async fn cancel_invoice(&self, payment_hash: [u8; 32]) -> Result<bool, Error> {
        self.ask(|reply| Request::CancelInvoice {
            payment_hash,
            reply,
        })
        .await?
    }

    /// Settles a held hold invoice with its preimage: the preimage and the paid invoice are
    /// durable before any HTLC is fulfilled; answers the paid invoice.
    ///
    /// # Errors
    /// [`Error::InvoiceNotFound`]; [`Error::InvalidRequest`] when the preimage does not hash
    /// to `payment_hash` or the invoice is not `held` (the message says its status).
    pub async fn settle_invoice(
        &self,
        payment_hash: [u8; 32],
        preimage: [u8; 32],
    ) -> Result<crate::payments::InvoiceRecord, Error> {
        self.ask(|reply| Request::SettleInvoice {
            payment_hash,
            preimage,
            reply,
        })
        .await?
    }

    /// Regtest drill: our previous, revoked commitment and its HTLC-timeout transactions,
    /// signed (`None` before the first update). See `Channel::signed_revoked_commitment`.
    pub async fn revoked_commitment(
        &self,
        channel_id: [u8; 32],
    ) -> Result<Option<RevokedDrill>, Error> {
        self.ask(|reply| Request::RevokedCommitment { channel_id, reply })
            .await?
    }

    /// The fee policy changed: announce it to every peer again.
    pub async fn policy_changed(&self) -> Result<(), Error> {
        self.tx
            .send(Request::PolicyChanged)
            .map_err(|_| Error::ShuttingDown)
    }

    /// Logged events (payments, forwards, channel states) from now on, once committed.
    pub fn subscribe_events(&self) -> broadcast::Receiver<LoggedEvent> {
        self.log.subscribe()
    }

    /// The commitment numbers this node signed for the peer, as recorded in the store (each
    /// at most once: the store refuses a second signature for a number).
    pub async fn signed_commitment_numbers(&self, channel_id: [u8; 32]) -> Result<Vec<u64>, Error> {
        self.ask(|reply| Request::SignedNumbers { channel_id, reply })
            .await?
    }
}

pub(crate) fn unknown_channel(id: &[u8; 32]) -> Error {
    Error::ChannelNotFound(format!("no channel {}", hex::encode(id)))
}
