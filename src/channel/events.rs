//! What the channel tells its owner (the hub, the API's event stream).

use bitcoin::{ScriptBuf, Transaction, Txid};
use serde::{Deserialize, Serialize};

use bitcoin::secp256k1::PublicKey;

use super::changes::{AddHtlc, Spec};

/// What `update_fail_malformed_htlc` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MalformedFailure {
    pub failure_code: u16,
    pub sha256_of_onion: [u8; 32],
}

/// Something the owner may act on. Events are informational: the state they describe is in the
/// `Persist` output of the same transition, so replaying an event after a crash is harmless
/// (the owner must treat them as idempotent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The opener must build (not broadcast) a transaction paying `amount_sat` to
    /// `script_pubkey`, and answer with `Command::FundingTxReady`.
    NeedFunding {
        script_pubkey: ScriptBuf,
        amount_sat: u64,
    },
    /// Funding is signed by both sides; waiting for confirmations.
    ChannelPending {
        channel_id: [u8; 32],
        funding_txid: Txid,
    },
    /// Both `channel_ready` exchanged: payments may flow.
    ChannelReady { channel_id: [u8; 32] },
    /// An incoming HTLC is committed but broke one of our policies (the dust exposure cap):
    /// the hub must fail it back (it holds the onion keys to encrypt the failure).
    HtlcMustFail { htlc: AddHtlc, reason: String },
    /// We offered an HTLC; `id` names it in later events.
    HtlcOffered { id: u64, payment_hash: [u8; 32] },
    /// An incoming HTLC is irrevocably committed on both sides: the hub may forward or settle it.
    HtlcReceived { htlc: AddHtlc },
    /// The peer revealed the preimage of our HTLC `id` (act on it at once: upstream needs it).
    HtlcFulfilled { id: u64, preimage: [u8; 32] },
    /// Our HTLC `id` was failed and the failure is irrevocably committed. `reason` is the
    /// error onion; for `update_fail_malformed_htlc` it is empty and `malformed` has the
    /// peer's code and hash, from which the hub makes the error onion itself.
    HtlcFailed {
        id: u64,
        reason: Vec<u8>,
        malformed: Option<MalformedFailure>,
    },
    /// An HTLC we had offered but not yet signed was dropped by a disconnection.
    HtlcDropped { id: u64, payment_hash: [u8; 32] },
    /// The peer revoked its commitment `number` (its `revoke_and_ack` is stored with the state
    /// of this transition): `spec` and `point` rebuild that commitment, so a watchtower can be
    /// given the justice transaction for it (see `crate::tower`).
    PeerRevoked {
        number: u64,
        spec: Spec,
        point: PublicKey,
    },
    /// Shutdown is under way; no new HTLCs.
    ShuttingDown,
    /// The mutual close transaction is agreed and handed over for broadcast.
    ClosingAgreed { txid: Txid, fee_sat: u64 },
    /// We broadcast our commitment: the channel is failed, its funds resolve on chain.
    ForceClosed { txid: Txid, reason: String },
    /// The funding output was spent and the spend confirmed.
    ChannelClosed { txid: Txid, mutual: bool },
    /// The funding output was spent by a transaction that is not our mutual close: the
    /// on-chain monitor must take over.
    FundingSpentUnilaterally { tx: Transaction },
    /// The peer broke the protocol; we sent it `error` (`fatal`: the channel is to be failed,
    /// BOLT 1) or, for what BOLT 2 answers with a `warning`, only that. The state is unchanged.
    PeerMisbehaved { reason: String, fatal: bool },
    /// The peer sent `error`.
    PeerFailedChannel { message: String },
    /// The peer proved that our state is older than the channel's: we must never broadcast
    /// our commitment (it is revoked) and wait for the peer to close.
    WeAreBehind {
        our_next_revocation: u64,
        their_claimed: u64,
    },
    /// The channel was abandoned before it was funded.
    OpenFailed { reason: String },
    /// The funding will never confirm: the channel is aborted (we sent the peer `error`), and
    /// the HTLCs we offered in it that the peer had not fulfilled are gone.
    FundingLost { why: super::FundingLost },
}
