//! Unilateral close: we broadcast our latest commitment (BOLT 2 "failing a channel", BOLT 5).
//!
//! ```text
//!  user or hub --ForceClose--> channel   ForceClosing { our commitment }
//!    Persist (the phase) -> Broadcast(commitment) -> Send(error)
//!  the commitment confirms -> Closed; the on-chain resolution takes over
//! ```
//!
//! Never when the peer proved our state is behind, nor on a channel restored from a backup:
//! that commitment is (or may be) revoked, and broadcasting it would hand the peer everything.

use bitcoin::Transaction;

use crate::wire::{Diagnostic, ErrorMessage, Message};

use super::commitments;
use super::error::ChannelError;
use super::events::Event;
use super::state::Phase;
use super::{Output, Step};

impl Step<'_> {
    /// `tell_peer`: send it an `error` (not when answering the peer's own `error`).
    pub(super) fn force_close(
        &mut self,
        reason: &str,
        tell_peer: bool,
    ) -> Result<(), ChannelError> {
        // From `Closing` too: an agreed close may never confirm (its fee too low, its script
        // one no node relays), and our commitment is the way out; whichever confirms wins.
        if matches!(
            self.s.phase,
            Phase::ForceClosing { .. } | Phase::Closed | Phase::Aborted
        ) {
            return Err(self.not_now("force close"));
        }
        if self.s.is_passive() {
            return Err(self.passive_error("force close"));
        }
        let tx = self.signed_local_commitment()?;
        let txid = tx.compute_txid();
        self.s.phase = Phase::ForceClosing { tx: tx.clone() };
        // Broadcast before telling the peer: its own commitment, broadcast on our `error`,
        // would otherwise race ours into the mempools.
        self.out.push(Output::Broadcast(tx));
        if tell_peer {
            let error = ErrorMessage(Diagnostic::new(self.channel_id(), reason));
            self.send(Message::Error(error));
        }
        self.event(Event::ForceClosed {
            txid,
            reason: reason.to_string(),
        });
        Ok(())
    }

    fn signed_local_commitment(&self) -> Result<Transaction, ChannelError> {
        let c = self.commitments()?;
        let tx = commitments::build_local(self.keys, &self.s.setup, &c.local.spec, c.local.number)?;
        let ours = tx.sign(&self.keys.signer)?.signature;
        Ok(tx.finalize(&ours, &c.local.remote_sig)?)
    }
}

impl super::Channel {
    /// Whether a protocol breach by the peer should take the channel on chain: BOLT 1 has the
    /// sender of an `error` fail the channel, and once a commitment exists that means our
    /// latest one on chain. Not before the funding is signed (nothing to broadcast), not once
    /// closing by force or closed, never when passive (behind or restored).
    pub fn fails_on_peer_breach(&self) -> bool {
        self.state.commitments.is_some()
            && !self.state.is_passive()
            && matches!(
                self.state.phase,
                Phase::AwaitingReady { .. }
                    | Phase::Normal
                    | Phase::ShuttingDown
                    | Phase::Negotiating
            )
    }
}

impl super::Channel {
    /// Regtest drill: our previous commitment, revoked, fully signed. Broadcasting it is
    /// cheating, and the peer's penalty takes everything. `None` off regtest or before the
    /// first update.
    pub fn signed_revoked_commitment(&self) -> Result<Option<Transaction>, ChannelError> {
        let Some(c) = &self.state.commitments else {
            return Ok(None);
        };
        let Some(old) = &c.previous_local else {
            return Ok(None);
        };
        let tx = commitments::build_local(&self.keys, &self.state.setup, &old.spec, old.number)?;
        let ours = tx.sign(&self.keys.signer)?.signature;
        Ok(Some(tx.finalize(&ours, &old.remote_sig)?))
    }
}

impl super::Channel {
    /// Regtest drill, the cheater's second step: the HTLC-timeout transactions of our
    /// previous, revoked commitment (for the HTLCs we had offered in it), fully signed. They
    /// carry their own fee on static_remotekey channels only (anchors ones pay none), and are
    /// valid from each HTLC's expiry. Empty off regtest or before the first update.
    pub fn signed_revoked_htlc_timeouts(&self) -> Result<Vec<Transaction>, ChannelError> {
        let Some(c) = &self.state.commitments else {
            return Ok(Vec::new());
        };
        let Some(old) = &c.previous_local else {
            return Ok(Vec::new());
        };
        let tx = commitments::build_local(&self.keys, &self.state.setup, &old.spec, old.number)?;
        let mut out = Vec::new();
        for (h, remote_sig) in tx.htlc_txs()?.iter().zip(&old.remote_htlc_sigs) {
            if h.htlc.direction != crate::bolt3::HtlcDirection::Offered {
                continue;
            }
            let ours = h.sign_as_local(&self.keys.signer)?;
            out.push(h.finalize(remote_sig, &ours, None)?);
        }
        Ok(out)
    }
}
