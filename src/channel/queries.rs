//! Read-only questions about the HTLCs in a channel, for the hub's router after a restart: the
//! events that announced HTLCs (`HtlcReceived`, `HtlcFulfilled`) may have been lost with the
//! process, the persisted state has the answer.

use super::changes::{AddHtlc, Origin, Update};
use super::Channel;

/// Where an HTLC we offered stands (see [`Channel::offered_htlc`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferedHtlc {
    /// Offered and not settled by the peer (yet): it may still be fulfilled or failed.
    Pending,
    /// The peer sent the preimage: the payment behind it succeeded, whatever happens next.
    Fulfilled { preimage: [u8; 32] },
}

impl Channel {
    /// The commitment feerate the channel is heading to: our latest `update_fee` still on its
    /// way, else the peer's current commitment's. `None` before funding.
    pub fn commitment_feerate(&self) -> Option<u32> {
        let c = self.state.commitments.as_ref()?;
        let changes = &c.local_changes;
        let newest_first = changes
            .proposed
            .iter()
            .rev()
            .chain(changes.signed.iter().rev())
            .chain(changes.acked.iter().rev());
        let pending = newest_first
            .filter_map(|u| match u {
                Update::Fee { feerate_per_kw } => Some(*feerate_per_kw),
                _ => None,
            })
            .next();
        Some(pending.unwrap_or(c.remote.spec.feerate_per_kw))
    }

    /// HTLCs the peer offered that are irrevocably committed (in both our commitment and the
    /// peer's) and that we have not started to remove: exactly those `Command::Fulfill` /
    /// `Command::Fail` would accept now (phase aside), in id order. Empty before funding.
    ///
    /// Those the dust exposure cap rejected (`Event::HtlcMustFail`) are included: after a
    /// restart the hub has to fail them like any other it cannot forward.
    pub fn received_htlcs_to_settle(&self) -> Vec<AddHtlc> {
        let Some(c) = &self.state.commitments else {
            return Vec::new();
        };
        let removing = |id: u64| {
            c.local_changes
                .all()
                .chain(&c.to_repropose)
                .any(|u| u.removed_id() == Some(id))
        };
        let mut htlcs: Vec<AddHtlc> = c
            .local
            .spec
            .htlcs
            .iter()
            .filter(|h| h.origin == Origin::Remote)
            .filter(|h| c.remote.spec.find(Origin::Remote, h.add.id).is_some())
            .filter(|h| !removing(h.add.id))
            .map(|h| {
                let mut add = h.add.clone();
                // States stored before the onions moved out of the specs keep them inline.
                if let Some(o) = c.received_onions.get(&add.id) {
                    add.onion = o.0.clone();
                }
                add
            })
            .collect();
        htlcs.sort_by_key(|a| a.id);
        htlcs
    }

    /// Where the HTLC we offered with `id` stands: `Fulfilled` once the peer's
    /// `update_fulfill_htlc` for it is anywhere in our state, `Pending` while the add is in a
    /// change list or a commitment, `None` if there is no such HTLC (never offered, dropped
    /// unsigned by a disconnection, settled and gone from every commitment, or unfulfilled in a
    /// channel whose funding is lost).
    ///
    /// A fulfill the peer sent but never signed is dropped on disconnection (BOLT 2), and the
    /// HTLC reads `Pending` again; its preimage was reported by `Event::HtlcFulfilled` when it
    /// arrived and stays valid, so the owner should have recorded it then.
    pub fn offered_htlc(&self, id: u64) -> Option<OfferedHtlc> {
        let c = self.state.commitments.as_ref()?;
        let fulfilled = c.remote_changes.all().find_map(|u| match u {
            Update::Fulfill { id: i, preimage } if *i == id => Some(*preimage),
            _ => None,
        });
        if let Some(preimage) = fulfilled {
            return Some(OfferedHtlc::Fulfilled { preimage });
        }
        // No commitment of a channel whose funding is lost can confirm: the HTLC is gone.
        if self.state.funding_lost.is_some() {
            return None;
        }
        let in_changes = c
            .local_changes
            .all()
            .any(|u| matches!(u, Update::Add(a) if a.id == id));
        let in_specs = [Some(&c.local.spec), Some(&c.remote.spec)]
            .into_iter()
            .chain([c.remote_waiting.as_ref().map(|w| &w.spec)])
            .flatten()
            .any(|s| s.find(Origin::Local, id).is_some());
        (in_changes || in_specs).then_some(OfferedHtlc::Pending)
    }
}

/// Blocks past an offered HTLC's expiry we still wait for the peer to fail it off chain before
/// going on chain to time it out (a peer a block or two behind is not a thief).
pub const OFFERED_GRACE_BLOCKS: u32 = 3;
/// Blocks before a received HTLC's expiry, whose preimage we gave but the peer has not taken
/// off the commitments, at which we go on chain to claim it: enough for our HTLC-success (or
/// preimage spend) to confirm before the peer may take the output back by timeout.
pub const RECEIVED_CLAIM_BUFFER: u32 = 12;

impl Channel {
    /// Why this channel must go on chain at `height` to keep an HTLC's money, if it must
    /// (BOLT 2 "requirements" on HTLC expiry, BOLT 5): an HTLC we offered still committed
    /// [`OFFERED_GRACE_BLOCKS`] past its expiry, or one the peer offered that we fulfilled and
    /// that is still committed within [`RECEIVED_CLAIM_BUFFER`] blocks of its expiry.
    ///
    /// Never for a passive channel ([`super::ChannelState::is_passive`]): our commitment may be
    /// revoked, and only the peer's can go on chain.
    pub fn htlc_needing_chain(&self, height: u32) -> Option<String> {
        if self.state.is_passive() {
            return None;
        }
        let c = self.state.commitments.as_ref()?;
        let specs = [Some(&c.local.spec), Some(&c.remote.spec)]
            .into_iter()
            .chain([c.remote_waiting.as_ref().map(|w| &w.spec)])
            .flatten();
        for h in specs.flat_map(|s| s.htlcs.iter()) {
            let (id, expiry) = (h.add.id, h.add.cltv_expiry);
            match h.origin {
                Origin::Local => {
                    let fulfilled = c
                        .remote_changes
                        .all()
                        .any(|u| matches!(u, Update::Fulfill { id: i, .. } if *i == id));
                    if !fulfilled && height >= expiry.saturating_add(OFFERED_GRACE_BLOCKS) {
                        return Some(format!(
                            "our HTLC {id} expired at block {expiry} and the peer has not failed it"
                        ));
                    }
                }
                Origin::Remote => {
                    let fulfilled = c
                        .local_changes
                        .all()
                        .chain(&c.to_repropose)
                        .any(|u| matches!(u, Update::Fulfill { id: i, .. } if *i == id));
                    if fulfilled && height.saturating_add(RECEIVED_CLAIM_BUFFER) >= expiry {
                        return Some(format!(
                            "the peer's HTLC {id} expires at block {expiry}, fulfilled but not \
                             removed"
                        ));
                    }
                }
            }
        }
        None
    }
}
