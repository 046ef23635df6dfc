//! Our side of paying: the channels as routing sees them, a payment's part added with its
//! attempt row, and the route hints of ours for invoices.

use super::super::actor::Actor;
use super::super::SendPart;
use super::*;
use crate::channel::{Command, Phase};
use crate::error::Error;
use crate::invoice::{RouteHint, RouteHintHop};
use crate::payments::HtlcRef;
use crate::routing::LocalChannel;
use crate::store::attempts as aq;
use crate::store::payments as pq;

impl Actor {
    /// Every live channel, with what one more HTLC of ours may carry on it now.
    pub(in crate::node::channels) async fn local_channels(
        &mut self,
    ) -> Result<(Vec<LocalChannel>, u32), Error> {
        let height = self.current_height().await?;
        let channels = self
            .entries
            .values()
            .filter(|e| e.live())
            .map(|e| {
                let (local, _) = e.channel.balances_msat();
                let setup = &e.channel.state().setup;
                let reserve = setup
                    .remote
                    .as_ref()
                    .map_or(0, |p| p.channel_reserve_sat * 1000);
                let htlc_minimum_msat = setup.remote.as_ref().map_or(0, |p| p.htlc_minimum_msat);
                LocalChannel {
                    channel_id: e.channel.channel_id().0,
                    peer: e.peer,
                    scid: e.public_scid,
                    usable: e.channel.is_usable(),
                    outbound_msat: local
                        .saturating_sub(reserve)
                        .saturating_sub(opener_fee_msat(e.channel.state())),
                    htlc_minimum_msat,
                }
            })
            .collect();
        Ok((channels, height))
    }

    /// Adds a part's HTLC; its attempt row commits with the channel state that adds it.
    pub(in crate::node::channels) async fn send_part(
        &mut self,
        part: SendPart,
    ) -> Result<HtlcRef, Error> {
        let channel_id = part.attempt.htlc.channel_id;
        let idx = self
            .by_channel_id(&channel_id)
            .ok_or_else(|| Error::InsufficientLiquidity("the channel is gone".into()))?;
        let htlc_id = self.entries[&idx]
            .channel
            .state()
            .commitments
            .as_ref()
            .map_or(0, |c| c.local_next_htlc_id);
        let htlc = HtlcRef {
            channel_id,
            htlc_id,
        };
        let mut attempt = part.attempt;
        attempt.htlc = htlc;
        let payment_hash = attempt.payment_hash;
        let payment = part.payment;
        let ops: Vec<StoreOp> = vec![Box::new(move |tx| {
            if let Some(p) = &payment {
                // The payer is the only writer of its payments and starts one group at a
                // time, each hash once in it: the row it checked absent (or failed) before
                // planning is still so.
                pq::upsert_payment(tx, p)?;
            }
            aq::insert_attempt(tx, &attempt)
        })];
        let command = Command::AddHtlc {
            amount_msat: part.amount_msat,
            payment_hash,
            cltv_expiry: part.cltv_expiry,
            onion: part.onion,
            extra_fee_msat: None,
        };
        self.command_with(idx, command, ops)
            .await
            .map_err(|e| Error::InsufficientLiquidity(e.to_string()))?;
        Ok(htlc)
    }

    pub(super) async fn current_height(&mut self) -> Result<u32, Error> {
        if self.router.height == 0 {
            self.router.height = self.cfg.chain.tip().await.map_err(Error::from)?.height;
        }
        Ok(self.router.height)
    }

    /// Route hints through the peers with the most inbound liquidity for us.
    pub(in crate::node::channels) fn route_hints(&self) -> Vec<RouteHint> {
        let mut candidates: Vec<(u64, RouteHint)> = self
            .entries
            .values()
            .filter(|e| *e.channel.phase() == Phase::Normal)
            .filter_map(|e| {
                let scid = e.channel.remote_alias()?;
                let policy = self
                    .router
                    .peer_policies
                    .get(&e.key_index)
                    .copied()
                    .unwrap_or_default();
                let (_, inbound) = e.channel.balances_msat();
                let hop = RouteHintHop {
                    src_node_id: e.peer,
                    short_channel_id: scid,
                    fee_base_msat: policy.base_msat,
                    fee_proportional_millionths: policy.ppm,
                    cltv_expiry_delta: policy.cltv_delta,
                };
                Some((inbound, RouteHint(vec![hop])))
            })
            .collect();
        candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
        candidates
            .into_iter()
            .take(MAX_ROUTE_HINTS)
            .map(|(_, h)| h)
            .collect()
    }
}

/// What we pay, as the channel's opener, for the commitment once our next parts are on it:
/// the fee at twice the feerate (the spike buffer `update_add_htlc` is checked against) with
/// two more HTLC outputs (a payment may put two parts on one channel), and the anchors. A
/// route planned on more than the balance left after it is refused by the channel.
fn opener_fee_msat(s: &crate::channel::ChannelState) -> u64 {
    if s.setup.opener != crate::channel::Origin::Local {
        return 0;
    }
    let Some(spec) = s.commitments.as_ref().map(|c| &c.local.spec) else {
        return 0;
    };
    crate::channel::limits::opener_cost_msat(
        s.setup.format.into(),
        spec.feerate_per_kw.saturating_mul(2),
        spec.htlcs.len() + 2,
    )
}
