//! Why the channel refused an input.
//!
//! Two families: a *peer fault* (the peer broke BOLT 2 or our limits; we answer with `error`)
//! and a *command error* (the caller asked for something the channel cannot do now; nothing is
//! sent). Either way the channel state is left exactly as it was before the input.

use thiserror::Error;

use crate::bolt3::Bolt3Error;

/// One reason for refusing an input. Messages name the rule and the numbers involved, since
/// they go to the peer (in `error`) and to the user (in an event) verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// A message that makes no sense in the current state (e.g. `revoke_and_ack` with nothing
    /// to revoke, `funding_signed` before `funding_created`).
    #[error("unexpected {message} in state {state}")]
    UnexpectedMessage {
        message: &'static str,
        state: String,
    },
    /// A command that cannot run in the current state.
    #[error("cannot {command} in state {state}")]
    NotNow {
        command: &'static str,
        state: String,
    },
    /// An `open_channel`/`accept_channel` parameter outside our bounds.
    #[error("refused channel parameter: {0}")]
    BadOpenParameter(String),
    /// The `channel_type` is missing or not one we support.
    #[error("unsupported channel_type: {0}")]
    UnsupportedChannelType(String),
    /// The confirmed funding output is not the one both sides signed for (CVE-2019-12998).
    #[error("funding output mismatch: {0}")]
    BadFundingOutput(String),
    /// A signature on a commitment we built does not verify.
    #[error("invalid commitment signature for commitment {commitment_number}")]
    BadCommitmentSignature { commitment_number: u64 },
    /// A signature on one of our HTLC transactions does not verify.
    #[error("invalid signature for HTLC transaction {index} of commitment {commitment_number}")]
    BadHtlcSignature {
        commitment_number: u64,
        index: usize,
    },
    /// `commitment_signed` carries the wrong number of HTLC signatures.
    #[error("expected {expected} HTLC signatures, got {got}")]
    HtlcSignatureCount { expected: usize, got: usize },
    /// The revealed secret does not match the commitment point, or the secret store refuses it.
    #[error("invalid revocation secret for commitment {commitment_number}: {reason}")]
    BadRevocation {
        commitment_number: u64,
        reason: String,
    },
    /// An HTLC id out of sequence.
    #[error("expected HTLC id {expected}, got {got}")]
    HtlcIdOutOfOrder { expected: u64, got: u64 },
    /// A removal names an HTLC that is not committed on both sides, or is already removed.
    #[error("unknown or uncommitted HTLC {id}")]
    UnknownHtlc { id: u64 },
    /// The preimage does not hash to the HTLC's payment hash.
    #[error("preimage does not match the payment hash of HTLC {id}")]
    BadPreimage { id: u64 },
    /// An HTLC breaks one of the limits (amount, count, in flight, reserve, dust, cltv).
    #[error("HTLC refused: {0}")]
    HtlcLimit(String),
    /// An `update_fee` from the wrong side, out of bounds or unaffordable.
    #[error("fee update refused: {0}")]
    BadFeeUpdate(String),
    /// An update after `shutdown`.
    #[error("{0} after shutdown")]
    AfterShutdown(&'static str),
    /// Closing negotiation failed (bad script, fee outside the range, no overlap).
    #[error("closing refused: {0}")]
    Closing(String),
    /// A `shutdown` whose script is not a form BOLT 2 allows: answered with `warning`, and
    /// the channel stays as it was.
    #[error("shutdown script {0} is not a form BOLT 2 allows")]
    BadShutdownScript(String),
    /// `channel_reestablish` does not line up with our state.
    #[error("reestablish refused: {0}")]
    Reestablish(String),
    /// The peer proved we lost state; we stay passive.
    #[error("our state is behind the peer's: {0}")]
    WeAreBehind(String),
    /// The channel was restored from a backup: its state may be old, so nothing of it is
    /// broadcast or updated; the peer is asked to close.
    #[error("channel restored from a backup: {0}")]
    Restored(String),
    /// The peer sent `error`.
    #[error("peer failed the channel: {0}")]
    PeerError(String),
    /// A BOLT 3 construction failed (e.g. the opener cannot pay the fee).
    #[error("transaction construction failed: {0}")]
    Bolt3(String),
    /// The key material given to restore a channel is not the channel's.
    #[error("key material does not match the channel's public keys")]
    WrongKeys,
}

impl From<Bolt3Error> for ChannelError {
    fn from(e: Bolt3Error) -> Self {
        ChannelError::Bolt3(e.to_string())
    }
}

impl ChannelError {
    /// Whether the peer is at fault (we then send it `error`), as opposed to a refused command.
    pub fn is_peer_fault(&self) -> bool {
        !matches!(self, ChannelError::NotNow { .. } | ChannelError::WrongKeys)
    }

    /// A peer fault answered with `warning` instead of `error` (BOLT 2 asks no more, and an
    /// `error` would make the peer fail the channel).
    pub fn is_warning(&self) -> bool {
        matches!(self, ChannelError::BadShutdownScript(_))
    }
}
