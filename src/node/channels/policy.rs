//! Telling each channel peer our forwarding policy, and hearing theirs.
//!
//! Our channels are private, so there is no gossip: like LDK, we send our `channel_update`
//! straight to the peer (once the channel is ready, on every reconnection, and when the policy
//! changes). It names the channel by the alias the *peer* gave us, which is the id the peer
//! knows it by. A peer's update tells us what it charges to forward to us: our invoices' route
//! hints carry exactly that.

use bitcoin::secp256k1::PublicKey;

use super::actor::Actor;
use super::router::now_secs;
use crate::channel::Phase;
use crate::payments::FeePolicy;
use crate::wire::channel_update::{MESSAGE_FLAG_DONT_FORWARD, MESSAGE_FLAG_MUST_BE_ONE};
use crate::wire::{direction_bit, ChannelUpdate, Message, UnsignedChannelUpdate};

impl Actor {
    /// Sends our policy for channel `idx` to its peer, once the peer's alias is known.
    pub(super) async fn announce_policy(&mut self, idx: u32) {
        let Some(e) = self.entries.get(&idx) else {
            return;
        };
        if *e.channel.phase() != Phase::Normal {
            return;
        }
        let Some(scid) = e.channel.remote_alias() else {
            return;
        };
        let s = e.channel.state();
        let Some(remote) = s.setup.remote.as_ref() else {
            return;
        };
        let policy = *self.router.policy.read().unwrap_or_else(|p| p.into_inner());
        let peer = e.peer;
        let unsigned = UnsignedChannelUpdate {
            chain_hash: self.cfg.chain_hash,
            short_channel_id: scid,
            // Seconds are enough: a peer keeps the latest update it received.
            timestamp: u32::try_from(now_secs()).unwrap_or(u32::MAX),
            message_flags: MESSAGE_FLAG_MUST_BE_ONE | MESSAGE_FLAG_DONT_FORWARD,
            channel_flags: direction_bit(&self.router.node_id, &peer),
            cltv_expiry_delta: policy.cltv_delta,
            // What the peer accepts from us bounds what we can forward to it.
            htlc_minimum_msat: remote.htlc_minimum_msat.max(1),
            fee_base_msat: policy.base_msat,
            fee_proportional_millionths: policy.ppm,
            htlc_maximum_msat: remote
                .max_htlc_value_in_flight_msat
                .min(s.setup.funding_sat.saturating_mul(1000)),
            excess_data: Vec::new(),
        };
        let update = ChannelUpdate::signed(&self.router.node_key, unsigned);
        self.send_to(peer, Message::ChannelUpdate(update)).await;
    }

    /// Every channel of `peer` (after a reconnection), or of everyone (after a policy change).
    pub(super) async fn announce_policy_to(&mut self, peer: Option<PublicKey>) {
        let targets: Vec<u32> = self
            .entries
            .values()
            .filter(|e| peer.map_or(true, |p| p == e.peer))
            .map(|e| e.key_index)
            .collect();
        for idx in targets {
            self.announce_policy(idx).await;
        }
    }

    pub(super) async fn announce_policy_all(&mut self) {
        self.announce_policy_to(None).await;
    }

    /// A peer's policy for forwarding to us over one of our channels.
    pub(super) fn on_channel_update(&mut self, peer: PublicKey, u: &ChannelUpdate) {
        let Some(idx) = self
            .entries
            .values()
            .find(|e| e.peer == peer && e.channel.local_alias() == Some(u.short_channel_id))
            .map(|e| e.key_index)
        else {
            tracing::debug!(%peer, scid = u.short_channel_id.0, "channel_update for no channel of ours");
            return;
        };
        if u.chain_hash != self.cfg.chain_hash || !u.verify(&peer) {
            tracing::warn!(%peer, channel = idx, "channel_update with a bad signature or chain; ignored");
            return;
        }
        let policy = FeePolicy {
            base_msat: u.fee_base_msat,
            ppm: u.fee_proportional_millionths,
            cltv_delta: u.cltv_expiry_delta,
        };
        tracing::debug!(channel = idx, ?policy, "peer's forwarding policy");
        self.router.peer_policies.insert(idx, policy);
    }
}
