//! What the chain decides for the HTLCs we offered on a closed channel, passed to what waits
//! on them (a forward's incoming HTLC, a payment of ours) through the router (BOLT 5):
//!
//! - a spend that shows the preimage settles it: the hub is paid upstream;
//! - its output spent by us (timeout, or the justice transaction) deep enough fails it;
//! - no output on the commitment that confirmed (never signed into it, trimmed as dust)
//!   fails it once that commitment is deep enough.

use super::super::actor::Actor;
use super::Round;
use crate::channel::{ChannelState, OfferedHtlc, Origin};
use crate::onchain::{Claim, ClaimKind};

/// An HTLC we offered, as our state knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Offered {
    pub id: u64,
    pub payment_hash: [u8; 32],
    pub amount_msat: u64,
    pub cltv_expiry: u32,
}

/// Every HTLC we offered that is in one of the channel's commitments.
pub(super) fn offered_htlcs(state: &ChannelState) -> Vec<Offered> {
    let Some(c) = &state.commitments else {
        return Vec::new();
    };
    let mut out: Vec<Offered> = [Some(&c.local.spec), Some(&c.remote.spec)]
        .into_iter()
        .chain([c.remote_waiting.as_ref().map(|w| &w.spec)])
        .flatten()
        .flat_map(|s| s.htlcs.iter())
        .filter(|h| h.origin == Origin::Local)
        .map(|h| Offered {
            id: h.add.id,
            payment_hash: h.add.payment_hash,
            amount_msat: h.add.amount_msat,
            cltv_expiry: h.add.cltv_expiry,
        })
        .collect();
    out.sort_by_key(|h| h.id);
    out.dedup_by_key(|h| h.id);
    out
}

/// Whether `c` is the output of the offered HTLC `h` (same hash, same amount, and the same
/// expiry when the claim carries it).
pub(super) fn is_output_of(c: &Claim, h: &Offered) -> bool {
    let hash = match c.kind {
        ClaimKind::HtlcTimeout { payment_hash }
        | ClaimKind::RemoteHtlcTimeout { payment_hash }
        | ClaimKind::RevokedHtlc { payment_hash } => payment_hash,
        _ => return false,
    };
    hash == h.payment_hash
        && c.value_sat == h.amount_msat / 1000
        && (c.cltv == 0 || c.cltv == h.cltv_expiry)
}

impl Actor {
    /// Settles or fails upstream every offered HTLC the chain has decided; `true` once none is
    /// left undecided. Repeats are harmless: the router acts only on what is still pending.
    pub(super) async fn settle_upstream(
        &mut self,
        idx: u32,
        state: &ChannelState,
        round: &Round,
        deep: impl Fn(u32) -> bool,
        spend_deep: bool,
    ) -> bool {
        let mut done = true;
        let mut taken = vec![false; round.watched.len()];
        for h in offered_htlcs(state) {
            let off_chain = self
                .entries
                .get(&idx)
                .and_then(|e| e.channel.offered_htlc(h.id));
            if matches!(off_chain, Some(OfferedHtlc::Fulfilled { .. })) {
                continue; // the router settled it when the peer fulfilled it
            }
            let result = if let Some(preimage) = round.learned.get(&h.payment_hash) {
                tracing::info!(channel = idx, htlc = h.id, "preimage learnt on chain");
                self.on_fulfilled(idx, h.id, *preimage).await
            } else {
                let output = round
                    .watched
                    .iter()
                    .enumerate()
                    .find(|(i, w)| !taken[*i] && is_output_of(&w.claim, &h));
                match output {
                    Some((i, w)) => {
                        taken[i] = true;
                        match &w.spent {
                            Some((_, at)) if deep(*at) => {
                                self.on_out_gone(idx, h.id, "the HTLC timed out on chain")
                                    .await
                            }
                            _ => {
                                done = false;
                                Ok(())
                            }
                        }
                    }
                    None if spend_deep => {
                        self.on_out_gone(idx, h.id, "the HTLC is not in the commitment on chain")
                            .await
                    }
                    None => {
                        done = false;
                        Ok(())
                    }
                }
            };
            if let Err(e) = result {
                tracing::warn!(channel = idx, htlc = h.id, error = %e, "upstream not settled yet");
                done = false;
            }
        }
        done
    }
}
