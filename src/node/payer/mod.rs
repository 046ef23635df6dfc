//! The payer: pays invoices and node ids over the network. The runtime around
//! [`crate::routing`] (which finds routes) and [`crate::payments::session`] (which decides
//! what a failure means and what to send next).
//!
//! ```text
//! API ──pay──▶ payer task ──routes──▶ channel manager: add the part's HTLC, its attempt row
//!                  ▲                  written in the same transaction as the channel state
//!                  └──── PartOutcome ◀── the HTLC fulfilled / failed / gone
//! ```
//!
//! The channel manager owns the HTLCs; the payer owns the payments. It only ever asks the
//! manager for a snapshot of our channels and to add parts, and hears back through one
//! queue ([`PartSink`]), so a route search never holds up a channel. A fulfilled part is
//! recorded by the manager itself (the preimage is durable with the channel's state); the
//! payer records failures, retries and the payment's end. See `channel-spec/routing.md`.

mod task;

use bitcoin::secp256k1::{PublicKey, SecretKey};
use bitcoin::Network;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::channels::Channels;
use super::gossip::SharedGraph;
use crate::channel::MalformedFailure;
use crate::error::Error;
use crate::events::EventLog;
use crate::payments::PaymentRecord;
use crate::store::Store;

/// What to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayTo {
    /// A BOLT 11 invoice; `amount_msat` is required for an invoice without an amount, and
    /// may be above the invoice's.
    Invoice {
        bolt11: String,
        amount_msat: Option<u64>,
    },
    /// A spontaneous (keysend) payment to a node id: the preimage travels in the onion.
    Keysend {
        node_id: PublicKey,
        amount_msat: u64,
    },
}

/// A request to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRequest {
    pub to: PayTo,
    /// Wait for the outcome (bounded by the timeout plus [`PAY_WAIT_EXTRA`]); `false` returns
    /// once the first parts are offered.
    pub wait: bool,
    /// The most all parts together may cost in fees; `None`: [`default_max_fee_msat`].
    pub max_fee_msat: Option<u64>,
    /// The most blocks an HTLC of ours may be locked for (its expiry above the tip); `None`:
    /// [`DEFAULT_MAX_TOTAL_CLTV_EXPIRY_DELTA`].
    pub max_total_cltv_expiry_delta: Option<u32>,
    /// No new attempt after this many seconds; `None`: [`DEFAULT_TIMEOUT_SECS`].
    pub timeout_secs: Option<u32>,
}

/// The default fee limit of a payment: 1 % of the amount plus 50,000 msat.
pub fn default_max_fee_msat(amount_msat: u64) -> u64 {
    amount_msat / 100 + 50_000
}

/// The default lock-up limit of a payment, in blocks (a week).
pub const DEFAULT_MAX_TOTAL_CLTV_EXPIRY_DELTA: u32 = 1008;

/// How long a payment retries by default.
pub const DEFAULT_TIMEOUT_SECS: u32 = 60;
/// The longest timeout a caller may ask for (a day).
pub const MAX_TIMEOUT_SECS: u32 = 86_400;

/// How long past its timeout a waiting caller still waits for the parts in flight.
pub const PAY_WAIT_EXTRA: std::time::Duration = std::time::Duration::from_secs(30);

/// Blocks a payer adds to the payee's final CLTV delta, so a payee a block behind (or a block
/// found while the HTLC travels) still accepts it.
pub const FINAL_CLTV_MARGIN: u32 = 3;

/// Channels on a path, ours included, at most.
pub const MAX_HOPS: usize = 20;

/// Parts of one multi-part payment in flight at most.
pub const MAX_PARTS: usize = 16;

/// How a part of ours ended, as the channel manager tells the payer.
#[derive(Debug, Clone)]
pub enum PartOutcome {
    /// Fulfilled: the manager has recorded the preimage, the attempt and the payment.
    Fulfilled {
        payment_hash: [u8; 32],
        attempt: u32,
    },
    /// Failed back with an error onion (or, from our peer, a malformed failure).
    Failed {
        payment_hash: [u8; 32],
        attempt: u32,
        reason: Vec<u8>,
        malformed: Option<MalformedFailure>,
    },
    /// The HTLC no longer exists and was never fulfilled (dropped before it was committed,
    /// or found gone after a restart).
    Gone {
        payment_hash: [u8; 32],
        attempt: u32,
        why: String,
    },
}

/// Where the channel manager sends [`PartOutcome`]s.
pub type PartSink = mpsc::UnboundedSender<PartOutcome>;

/// The queue the payer reads outcomes from; made before the manager, which needs its sink.
pub struct PartSource(mpsc::UnboundedReceiver<PartOutcome>);

/// The outcome queue between the channel manager and the payer.
pub fn outcome_queue() -> (PartSink, PartSource) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, PartSource(rx))
}

/// What the payer needs.
pub struct PayerConfig {
    pub node_key: SecretKey,
    pub network: Network,
    pub store: Store,
    pub events: EventLog,
    pub graph: SharedGraph,
    pub channels: Channels,
    /// How often the learnt penalties are written (when they changed).
    pub save_every: std::time::Duration,
}

pub(crate) enum Request {
    Pay {
        req: PayRequest,
        reply: oneshot::Sender<Result<Started, Error>>,
    },
}

/// What `pay` answers at once: the record, and the outcome to wait for if asked.
pub(crate) type Started = (PaymentRecord, Option<oneshot::Receiver<PaymentRecord>>);

/// The handle to the payer. Cheap to clone.
#[derive(Clone)]
pub struct Payer {
    tx: mpsc::UnboundedSender<Request>,
}

impl Payer {
    /// Pays an invoice or a node id. Idempotent by payment hash: a pending or succeeded
    /// payment of the same hash is returned as it is, never paid again.
    pub async fn pay(&self, req: PayRequest) -> Result<PaymentRecord, Error> {
        let wait_for = std::time::Duration::from_secs(u64::from(
            req.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS),
        )) + PAY_WAIT_EXTRA;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Pay { req, reply })
            .map_err(|_| Error::ShuttingDown)?;
        let (record, waiter) = rx.await.map_err(|_| Error::ShuttingDown)??;
        if let Some(waiter) = waiter {
            if let Ok(Ok(done)) = tokio::time::timeout(wait_for, waiter).await {
                return Ok(done);
            }
        }
        Ok(record)
    }

    /// A payer whose task is gone: every call answers `shutting_down` (API unit tests).
    pub fn detached() -> Payer {
        let (tx, _) = mpsc::unbounded_channel();
        Payer { tx }
    }
}

/// Loads what payments learnt and the payments in flight, and runs the payer until
/// `shutdown`.
pub async fn spawn(
    cfg: PayerConfig,
    outcomes: PartSource,
    shutdown: watch::Receiver<bool>,
) -> Result<(Payer, JoinHandle<()>), crate::store::StoreError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = task::Task::load(cfg).await?;
    let handle = tokio::spawn(task.run(rx, outcomes.0, shutdown));
    Ok((Payer { tx }, handle))
}
