//! Disconnection and `channel_reestablish` (BOLT 2 "Message Retransmission").
//!
//! On disconnection both sides forget the updates not covered by a `commitment_signed` yet
//! (ours are reported, or kept to propose again for fulfills and fails). On reconnection:
//!
//! ```text
//!  local --channel_reestablish{next_commitment_number, next_revocation_number,
//!                              your_last_per_commitment_secret,
//!                              my_current_per_commitment_point}--> remote
//! ```
//!
//! and from the peer's numbers we retransmit exactly what it missed: our last
//! `revoke_and_ack`, our last `commitment_signed` with the updates it covered, in the order
//! we first sent them.
//!
//! Lost state, either side (BOLT 2, `option_data_loss_protect`):
//!
//! ```text
//!  we are behind (the peer proves a revocation we do not remember), or restored from a backup
//!    -> nothing retransmitted, nothing broadcast; `error`: the peer must close
//!  the peer is behind (its numbers are below what it acknowledged)
//!    -> we fail the channel with our latest commitment: the peer cannot broadcast its own
//! ```

use crate::wire::{ChannelReestablish, RevokeAndAck, TlvStream};

use super::changes::Update;
use super::error::ChannelError;
use super::events::Event;
use super::state::{LastSent, Link, Phase};
use super::{Output, Step};

impl Step<'_> {
    pub(super) fn on_disconnected(&mut self) {
        self.s.link = Link::Disconnected;
        self.s.close.our_offer = None;
        let Some(c) = self.s.commitments.as_mut() else {
            if !matches!(self.s.phase, Phase::Aborted | Phase::Closed) {
                self.s.phase = Phase::Aborted;
                self.out.push(Output::Event(Event::OpenFailed {
                    reason: "disconnected before funding was signed".into(),
                }));
            }
            return;
        };
        let mut events = Vec::new();
        for u in std::mem::take(&mut c.local_changes.proposed) {
            match u {
                Update::Add(a) => {
                    c.local_next_htlc_id -= 1;
                    events.push(Event::HtlcDropped {
                        id: a.id,
                        payment_hash: a.payment_hash,
                    });
                }
                other => super::changes::push_collapsing_fee(&mut c.to_repropose, other),
            }
        }
        for u in std::mem::take(&mut c.remote_changes.proposed) {
            if let Update::Add(a) = u {
                c.remote_next_htlc_id -= 1;
                c.dust_rejects.retain(|id| *id != a.id);
            }
        }
        for e in events {
            self.event(e);
        }
    }

    pub(super) fn on_reconnected(&mut self) -> Result<(), ChannelError> {
        let Some(c) = self.s.commitments.as_ref() else {
            return Ok(());
        };
        if matches!(self.s.phase, Phase::Closed) {
            return Ok(());
        }
        // One `channel_reestablish` per connection, or the peer rightly refuses the second:
        // a caller moving to a newer connection says `Disconnected` first.
        if self.s.link != Link::Disconnected {
            return Ok(());
        }
        let secret = if c.remote.number == 0 {
            [0; 32]
        } else {
            c.revocations.secret_for_commitment(c.remote.number - 1)?
        };
        let msg = ChannelReestablish {
            channel_id: self.channel_id(),
            next_commitment_number: c.local.number + 1,
            next_revocation_number: c.remote.number,
            your_last_per_commitment_secret: secret,
            my_current_per_commitment_point: self.keys.point(c.local.number)?,
            extra_tlvs: TlvStream::new(),
        };
        self.s.link = Link::Reestablishing;
        self.send(msg);
        if self.s.restored {
            // Our state may be old: we cannot resume, only ask the peer to close. Its
            // commitment pays our latest balance, which the on-chain monitor claims.
            self.ask_peer_to_close("this channel was restored from a backup");
        }
        Ok(())
    }

    /// BOLT 2: a node that fell behind "SHOULD send an error to request the peer to fail the
    /// channel".
    fn ask_peer_to_close(&mut self, why: &str) {
        let text = format!("{why}: our state may be outdated, please close the channel");
        self.send(crate::wire::Message::Error(crate::wire::ErrorMessage(
            crate::wire::Diagnostic::new(self.channel_id(), &text),
        )));
    }

    /// The peer's `channel_reestablish` proves it lost state: it must not broadcast its
    /// commitment (revoked), so we fail the channel with ours, which pays the peer its latest
    /// balance. A state we cannot act on, or a close already under way, only refuses.
    fn peer_lost_state(&mut self, reason: String) -> Result<(), ChannelError> {
        let open = matches!(
            self.s.phase,
            Phase::AwaitingReady { .. } | Phase::Normal | Phase::ShuttingDown | Phase::Negotiating
        );
        if !open || self.s.is_passive() {
            return Err(ChannelError::Reestablish(reason));
        }
        self.s.link = Link::Connected;
        self.force_close(&format!("you lost state ({reason})"), true)
    }

    pub(super) fn on_reestablish(&mut self, m: &ChannelReestablish) -> Result<(), ChannelError> {
        if self.s.link != Link::Reestablishing {
            return Err(self.unexpected("channel_reestablish"));
        }
        let c = self.commitments()?.clone();
        let bad = |s: String| Err(ChannelError::Reestablish(s));
        // Their proof: the secret of our commitment next_revocation_number - 1, which only we
        // can have produced. A correct one for a number beyond ours means we lost state.
        if m.next_revocation_number > 0 {
            let ours = self.keys.secret(m.next_revocation_number - 1);
            if ours.ok() != Some(m.your_last_per_commitment_secret) {
                return bad(format!(
                    "wrong your_last_per_commitment_secret for commitment {}",
                    m.next_revocation_number - 1
                ));
            }
        }
        if m.next_revocation_number > c.local.number {
            self.s.behind = true;
            self.s.peer_current_point = Some(m.my_current_per_commitment_point);
            self.s.link = Link::Connected;
            self.event(Event::WeAreBehind {
                our_next_revocation: c.local.number,
                their_claimed: m.next_revocation_number,
            });
            if !self.s.restored {
                self.ask_peer_to_close("the peer proved we lost state");
            }
            return Ok(());
        }
        if self.s.restored {
            // Asked to close at reconnection; nothing of an old state is sent again.
            self.s.link = Link::Connected;
            return Ok(());
        }
        let resend_revoke = if m.next_revocation_number == c.local.number {
            false
        } else if m.next_revocation_number + 1 == c.local.number {
            true
        } else {
            return self.peer_lost_state(format!(
                "next_revocation_number {} but our commitment is {}",
                m.next_revocation_number, c.local.number
            ));
        };
        let lowest = c
            .remote_waiting
            .as_ref()
            .map_or(c.remote.number + 1, |w| w.number);
        if m.next_commitment_number < lowest {
            return self.peer_lost_state(format!(
                "next_commitment_number {} but we signed its commitment {}",
                m.next_commitment_number,
                lowest.saturating_sub(1)
            ));
        }
        let resend_commit = match &c.remote_waiting {
            Some(w) if m.next_commitment_number == w.number => true,
            Some(w) if m.next_commitment_number == w.number + 1 => false,
            None if m.next_commitment_number == c.remote.number + 1 => false,
            _ => {
                return bad(format!(
                    "next_commitment_number {} does not follow our signed commitment {}",
                    m.next_commitment_number,
                    c.remote_waiting.as_ref().unwrap_or(&c.remote).number
                ))
            }
        };
        self.s.link = Link::Connected;
        if m.next_commitment_number == 1 && c.local.number == 0 {
            let ready_sent = match self.s.phase {
                Phase::AwaitingReady { ready_sent, .. } => ready_sent,
                _ => true,
            };
            if ready_sent {
                self.send_channel_ready()?;
            }
        }
        let revoke = RevokeAndAck {
            channel_id: self.channel_id(),
            per_commitment_secret: self.keys.secret(c.local.number.saturating_sub(1))?,
            next_per_commitment_point: self.keys.point(c.local.number + 1)?,
            extra_tlvs: TlvStream::new(),
        };
        let revoke_first = c.last_sent == LastSent::CommitmentSigned;
        if resend_revoke && revoke_first {
            self.send(revoke.clone());
        }
        if let (true, Some(w)) = (resend_commit, &c.remote_waiting) {
            for u in &c.local_changes.signed {
                let msg = u.to_message(self.channel_id());
                self.send(msg);
            }
            let sig = w
                .sig
                .ok_or_else(|| ChannelError::Reestablish("no signature kept".into()))?;
            self.send(crate::wire::CommitmentSigned {
                channel_id: self.channel_id(),
                signature: sig,
                htlc_signatures: w.htlc_sigs.clone(),
                extra_tlvs: TlvStream::new(),
            });
        }
        if resend_revoke && !revoke_first {
            self.send(revoke);
        }
        if let (true, Some(script)) = (
            self.s.close.shutdown_sent,
            self.s.close.local_script.clone(),
        ) {
            self.send(crate::wire::Shutdown {
                channel_id: self.channel_id(),
                scriptpubkey: script,
                extra_tlvs: TlvStream::new(),
            });
        }
        // Negotiation restarts from scratch (BOLT 2): back to shutting down, and `progress`
        // starts it again once the state is quiet.
        if self.s.phase == Phase::Negotiating {
            self.s.phase = Phase::ShuttingDown;
        }
        let pending = std::mem::take(
            &mut self
                .s
                .commitments
                .as_mut()
                .map(|c| std::mem::take(&mut c.to_repropose))
                .unwrap_or_default(),
        );
        for u in pending {
            // Refused now (e.g. the HTLC is gone) means there is nothing left to propose.
            let _ = match u {
                Update::Fee { feerate_per_kw } => self.update_fee(feerate_per_kw),
                other => self.settle(other),
            };
        }
        Ok(())
    }
}
