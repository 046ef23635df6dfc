//! Announcing our own public channels and node: the `announcement_signatures` exchange with
//! each channel's peer, the `channel_announcement` it yields, our `channel_update`s (on
//! announcement, on a policy change, and before the network forgets them) and our
//! `node_announcement`. Pure: facts, peer messages and time in, [`OwnAction`]s out.
//!
//! ```text
//!   funding 6 deep ──> announcement_signatures ──> peer      (again on every reconnection
//!   peer ──> announcement_signatures ──> channel_announcement   until the peer's arrives)
//!                                        + our channel_update + our node_announcement
//! ```
//!
//! Nothing here is persisted by itself: the announcement, once complete, enters the graph
//! (which is), and an exchange cut short by a restart simply runs again.

use std::collections::{BTreeMap, HashMap, HashSet};

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{PublicKey, SecretKey};

use super::announce::{
    next_timestamp, node_announcement, AnnounceError, NodeIdentity, OurChannel, OurPolicy,
};
use crate::payments::FeePolicy;
use crate::wire::{
    AnnouncementSignatures, ChannelAnnouncement, ChannelId, ChannelUpdate, Message,
    NodeAnnouncement, ShortChannelId,
};

/// BOLT 7 lets nodes forget a channel without an update for two weeks: we refresh ours well
/// before that, once a day (no faster than receivers' rate limits allow).
pub const REFRESH_EVERY_SECS: u64 = 24 * 3600;

/// A channel whose peer has been offline this long is announced as disabled (LDK waits 10
/// one-minute ticks too); it is enabled again once the peer is back. Short drops change
/// nothing, so a flapping connection does not spend the network's rate limits.
pub const DISABLE_AFTER_SECS: u64 = 600;

/// After our own update was rate-limited, the wait before signing the policy again (the rate
/// limit earns one update per 5 minutes).
pub const RETRY_REFUSED_SECS: u64 = 300;

/// A peer's signatures that arrived before we knew the channel is deep enough (its view of the
/// chain may be a block ahead of ours). Bounded: beyond it, the peer re-sends on reconnection.
pub const MAX_EARLY_SIGNATURES: usize = 64;

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnAction {
    /// Send to a peer now (if connected).
    Send(PublicKey, Message),
    /// A complete announcement of one of our channels: add it to the graph (its funding is
    /// ours, already checked) and relay it.
    Announced {
        announcement: ChannelAnnouncement,
        capacity_sat: u64,
    },
    /// Our new `channel_update`: into the graph, relayed, and sent to the channel's peer.
    Update(ChannelUpdate),
    /// Our new `node_announcement`: into the graph and relayed.
    Node(NodeAnnouncement),
}

/// One public channel of ours, and how far its announcement got.
#[derive(Debug, Clone)]
struct Own {
    channel: OurChannel,
    htlc_minimum_msat: u64,
    htlc_maximum_msat: u64,
    ours: AnnouncementSignatures,
    announcement: Option<ChannelAnnouncement>,
    /// What our latest update said; `None` when unknown (resumed after a restart) or refused
    /// (rate-limited), so the next check signs a fresh one.
    last_policy: Option<OurPolicy>,
    /// The timestamp of our latest update (0 for none): the next must be newer.
    last_timestamp: u32,
    /// Our signatures went out on the peer's current connection.
    sent_on_connection: bool,
    /// No new update before this time (our last one was rate-limited).
    hold_until: u64,
}

/// The state of our own announcements.
pub struct OwnAnnouncements {
    chain_hash: ChainHash,
    node_key: SecretKey,
    node_id: PublicKey,
    identity: NodeIdentity,
    channels: BTreeMap<ChannelId, Own>,
    early: BTreeMap<ChannelId, (PublicKey, AnnouncementSignatures)>,
    connected: HashSet<PublicKey>,
    /// When each channel peer we have seen go went offline.
    offline_since: HashMap<PublicKey, u64>,
    last_node_announcement: Option<u32>,
    last_refresh: u64,
}

impl OwnAnnouncements {
    pub fn new(chain_hash: ChainHash, node_key: SecretKey, identity: NodeIdentity) -> Self {
        let node_id = PublicKey::from_secret_key(&bitcoin::secp256k1::Secp256k1::new(), &node_key);
        Self {
            chain_hash,
            node_key,
            node_id,
            identity,
            channels: BTreeMap::new(),
            early: BTreeMap::new(),
            connected: HashSet::new(),
            offline_since: HashMap::new(),
            last_node_announcement: None,
            last_refresh: 0,
        }
    }

    /// Timestamps of what the graph already holds from us (after a restart): new messages
    /// must be newer.
    pub fn resume(&mut self, node_announcement: Option<u32>) {
        self.last_node_announcement = node_announcement;
    }

    pub fn node_id(&self) -> PublicKey {
        self.node_id
    }

    /// The scids of our channels whose announcement is complete.
    pub fn announced(&self) -> impl Iterator<Item = ShortChannelId> + '_ {
        self.channels
            .values()
            .filter(|o| o.announcement.is_some())
            .map(|o| o.channel.scid)
    }

    /// A public channel is deep enough. `existing`: its announcement as the graph already
    /// holds it (after a restart), with the timestamp of our latest update there.
    #[allow(clippy::too_many_arguments)]
    pub fn add_channel(
        &mut self,
        channel: OurChannel,
        funding_key: SecretKey,
        htlc_minimum_msat: u64,
        htlc_maximum_msat: u64,
        existing: Option<(ChannelAnnouncement, Option<u32>)>,
        policy: FeePolicy,
        now_secs: u64,
    ) -> Vec<OwnAction> {
        let ours = channel.our_signatures(self.chain_hash, &self.node_key, &funding_key);
        let id = channel.channel_id;
        let peer = channel.peer;
        if let Some(known) = self.channels.get(&id) {
            if known.channel == channel {
                return Vec::new();
            }
        }
        let (announcement, last_update) = match existing {
            Some((a, ts)) if a.contents == channel.unsigned_announcement(self.chain_hash) => {
                (Some(a), ts)
            }
            _ => (None, None),
        };
        let resumed = announcement.is_some();
        self.channels.insert(
            id,
            Own {
                channel,
                htlc_minimum_msat,
                htlc_maximum_msat,
                ours,
                announcement,
                last_policy: None,
                last_timestamp: last_update.unwrap_or(0),
                sent_on_connection: false,
                hold_until: 0,
            },
        );
        let mut out = Vec::new();
        if !resumed && self.connected.contains(&peer) {
            out.extend(self.send_ours(id));
        }
        if let Some((from, theirs)) = self.early.remove(&id) {
            if from == peer {
                out.extend(self.on_signatures(from, theirs, policy, now_secs));
            }
        }
        if resumed {
            out.extend(self.update_if_changed(id, policy, now_secs, false));
        }
        out
    }

    pub fn remove_channel(&mut self, id: &ChannelId) {
        self.channels.remove(id);
        self.early.remove(id);
    }

    fn send_ours(&mut self, id: ChannelId) -> Option<OwnAction> {
        let own = self.channels.get_mut(&id)?;
        own.sent_on_connection = true;
        Some(OwnAction::Send(
            own.channel.peer,
            Message::AnnouncementSignatures(own.ours.clone()),
        ))
    }

    /// A peer connected: our signatures again where the announcement is not complete, and
    /// our latest update of each complete one (a peer that does not gossip still learns it).
    pub fn peer_connected(&mut self, peer: PublicKey) -> Vec<OwnAction> {
        self.connected.insert(peer);
        // A channel announced as disabled is enabled again at the next tick.
        self.offline_since.remove(&peer);
        let ids: Vec<ChannelId> = self
            .channels
            .iter()
            .filter(|(_, o)| o.channel.peer == peer)
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::new();
        for id in ids {
            let Some(own) = self.channels.get_mut(&id) else {
                continue;
            };
            own.sent_on_connection = false;
            if own.announcement.is_none() {
                out.extend(self.send_ours(id));
            }
        }
        out
    }

    /// A peer left at `now_secs`: its channels are announced as disabled if it stays away
    /// [`DISABLE_AFTER_SECS`] (payers then route around them).
    pub fn peer_disconnected(&mut self, peer: &PublicKey, now_secs: u64) {
        self.connected.remove(peer);
        if self.channels.values().any(|o| o.channel.peer == *peer) {
            self.offline_since.entry(*peer).or_insert(now_secs);
        }
    }

    /// The peer's `announcement_signatures`. A wrong one is answered with a warning (BOLT 7
    /// allows that or failing the channel; a public announcement is not worth a channel).
    pub fn on_signatures(
        &mut self,
        peer: PublicKey,
        theirs: AnnouncementSignatures,
        policy: FeePolicy,
        now_secs: u64,
    ) -> Vec<OwnAction> {
        let id = theirs.channel_id;
        let Some(own) = self.channels.get(&id) else {
            if self.early.len() < MAX_EARLY_SIGNATURES || self.early.contains_key(&id) {
                self.early.insert(id, (peer, theirs));
            }
            return Vec::new();
        };
        if own.channel.peer != peer {
            return Vec::new();
        }
        let mut out = Vec::new();
        if !own.sent_on_connection {
            out.extend(self.send_ours(id));
        }
        let Some(own) = self.channels.get_mut(&id) else {
            return out;
        };
        if own.announcement.is_some() {
            return out;
        }
        match own.channel.assemble(self.chain_hash, &own.ours, &theirs) {
            Ok(announcement) => {
                own.announcement = Some(announcement.clone());
                out.push(OwnAction::Announced {
                    announcement,
                    capacity_sat: own.channel.capacity_sat,
                });
                out.extend(self.update_if_changed(id, policy, now_secs, true));
                out.extend(self.node_announcement(now_secs));
            }
            Err(e) => out.push(warning(peer, id, &e)),
        }
        out
    }

    /// Every day: fresh updates and node announcement, so the network keeps us. On a policy
    /// change: new updates at once.
    pub fn tick(&mut self, policy: FeePolicy, now_secs: u64) -> Vec<OwnAction> {
        let refresh = now_secs.saturating_sub(self.last_refresh) >= REFRESH_EVERY_SECS;
        let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
        let mut out = Vec::new();
        for id in ids {
            out.extend(self.update_if_changed(id, policy, now_secs, refresh));
        }
        if refresh {
            self.last_refresh = now_secs;
            if self.announced().next().is_some() {
                out.extend(self.node_announcement(now_secs));
            }
        }
        out
    }

    fn update_if_changed(
        &mut self,
        id: ChannelId,
        fees: FeePolicy,
        now_secs: u64,
        force: bool,
    ) -> Vec<OwnAction> {
        let Some(own) = self.channels.get_mut(&id) else {
            return Vec::new();
        };
        if own.announcement.is_none() {
            return Vec::new();
        }
        let policy = OurPolicy {
            fees,
            htlc_minimum_msat: own.htlc_minimum_msat,
            htlc_maximum_msat: own.htlc_maximum_msat,
            disabled: self
                .offline_since
                .get(&own.channel.peer)
                .is_some_and(|since| now_secs.saturating_sub(*since) >= DISABLE_AFTER_SECS),
        };
        if !force && own.last_policy == Some(policy) {
            return Vec::new();
        }
        if now_secs < own.hold_until {
            return Vec::new();
        }
        let timestamp = next_timestamp(now_secs, own.last_timestamp);
        own.last_policy = Some(policy);
        own.last_timestamp = timestamp;
        let update =
            own.channel
                .channel_update(self.chain_hash, &self.node_key, &policy, timestamp);
        // The peer hears it directly too: it may not take relayed gossip from us.
        let direct = OwnAction::Send(own.channel.peer, Message::ChannelUpdate(update.clone()));
        vec![OwnAction::Update(update), direct]
    }

    /// Our update for `scid` was refused by the rate limit (the policy changed too often):
    /// the current policy is signed again after [`RETRY_REFUSED_SECS`], so the last change is
    /// never lost.
    pub fn update_refused(&mut self, scid: ShortChannelId, now_secs: u64) {
        if let Some(own) = self.channels.values_mut().find(|o| o.channel.scid == scid) {
            own.last_policy = None;
            own.hold_until = now_secs + RETRY_REFUSED_SECS;
        }
    }

    fn node_announcement(&mut self, now_secs: u64) -> Option<OwnAction> {
        let timestamp = next_timestamp(now_secs, self.last_node_announcement.unwrap_or(0));
        let n = node_announcement(&self.node_key, self.node_id, &self.identity, timestamp)?;
        self.last_node_announcement = Some(timestamp);
        Some(OwnAction::Node(n))
    }
}

fn warning(peer: PublicKey, id: ChannelId, e: &AnnounceError) -> OwnAction {
    let diag = crate::wire::Diagnostic::new(id, &e.to_string());
    OwnAction::Send(peer, Message::Warning(crate::wire::Warning(diag)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gossip::testkit::{key, pk};

    const POLICY: FeePolicy = FeePolicy {
        base_msat: 1000,
        ppm: 100,
        cltv_delta: 80,
    };

    fn side(me: u32, peer: u32) -> (OwnAnnouncements, OurChannel, SecretKey) {
        let own = OwnAnnouncements::new(
            ChainHash::REGTEST,
            key(me),
            NodeIdentity {
                alias: format!("node{me}"),
                ..Default::default()
            },
        );
        let channel = OurChannel {
            channel_id: ChannelId([9; 32]),
            scid: ShortChannelId::new(300, 1, 0).unwrap(),
            our_node_id: pk(me),
            peer: pk(peer),
            our_funding_key: pk(me + 10),
            peer_funding_key: pk(peer + 10),
            capacity_sat: 500_000,
        };
        (own, channel, key(me + 10))
    }

    fn sent_signatures(out: &[OwnAction]) -> Vec<AnnouncementSignatures> {
        out.iter()
            .filter_map(|a| match a {
                OwnAction::Send(_, Message::AnnouncementSignatures(m)) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn two_ends_exchange_signatures_and_both_announce() {
        let (mut a, ca, fa) = side(1, 2);
        let (mut b, cb, fb) = side(2, 1);
        a.peer_connected(pk(2));
        b.peer_connected(pk(1));
        let out_a = a.add_channel(ca, fa, 1, 400_000_000, None, POLICY, 1000);
        let sig_a = sent_signatures(&out_a)
            .pop()
            .expect("a sends its signatures");
        // b is a block behind: a's signatures wait for b's channel to be deep enough.
        assert!(b.on_signatures(pk(1), sig_a, POLICY, 1000).is_empty());
        let out_b = b.add_channel(cb, fb, 1, 400_000_000, None, POLICY, 1001);
        let sig_b = sent_signatures(&out_b)
            .pop()
            .expect("b sends its signatures");
        let announced_b = out_b.iter().find_map(|x| match x {
            OwnAction::Announced { announcement, .. } => Some(announcement.clone()),
            _ => None,
        });
        let out_a = a.on_signatures(pk(2), sig_b, POLICY, 1002);
        let announced_a = out_a.iter().find_map(|x| match x {
            OwnAction::Announced { announcement, .. } => Some(announcement.clone()),
            _ => None,
        });
        let (ann_a, ann_b) = (announced_a.unwrap(), announced_b.unwrap());
        assert_eq!(ann_a, ann_b);
        assert!(ann_a.verify());
        assert!(out_a
            .iter()
            .any(|x| matches!(x, OwnAction::Update(u) if u.verify(&pk(1)))));
        assert!(out_a
            .iter()
            .any(|x| matches!(x, OwnAction::Node(n) if n.verify())));
        // a had already sent its signatures on this connection: not again.
        assert!(sent_signatures(&out_a).is_empty());
        assert_eq!(a.announced().count(), 1);
    }

    #[test]
    fn signatures_are_resent_on_reconnection_until_complete() {
        let (mut a, ca, fa) = side(1, 2);
        assert!(sent_signatures(&a.add_channel(ca, fa, 1, 1000, None, POLICY, 0)).is_empty());
        assert_eq!(sent_signatures(&a.peer_connected(pk(2))).len(), 1);
        a.peer_disconnected(&pk(2), 1);
        assert_eq!(sent_signatures(&a.peer_connected(pk(2))).len(), 1);
        // Another peer's reconnection concerns none of ours.
        assert!(a.peer_connected(pk(3)).is_empty());
    }

    #[test]
    fn a_forged_peer_signature_gets_a_warning_and_no_announcement() {
        let (mut a, ca, fa) = side(1, 2);
        let (_, cb, _) = side(2, 1);
        a.peer_connected(pk(2));
        a.add_channel(ca, fa, 1, 1000, None, POLICY, 0);
        let forged = cb.our_signatures(ChainHash::REGTEST, &key(2), &key(99));
        let out = a.on_signatures(pk(2), forged.clone(), POLICY, 1);
        assert!(out
            .iter()
            .any(|x| matches!(x, OwnAction::Send(_, Message::Warning(_)))));
        assert!(!out.iter().any(|x| matches!(x, OwnAction::Announced { .. })));
        // From a node that is not the channel's peer: ignored.
        assert!(a.on_signatures(pk(5), forged, POLICY, 2).is_empty());
    }

    /// Node 1's side of a channel with node 2, announced at `now`.
    fn announced_at(now: u64) -> OwnAnnouncements {
        let (mut a, ca, fa) = side(1, 2);
        let (mut b, cb, fb) = side(2, 1);
        a.peer_connected(pk(2));
        b.peer_connected(pk(1));
        let sig_a = sent_signatures(&a.add_channel(ca, fa, 1, 1000, None, POLICY, now)).pop();
        let out_b = b.add_channel(cb, fb, 1, 1000, None, POLICY, now);
        a.on_signatures(pk(2), sent_signatures(&out_b).pop().unwrap(), POLICY, now);
        b.on_signatures(pk(1), sig_a.unwrap(), POLICY, now);
        assert_eq!(a.announced().count(), 1);
        a
    }

    #[test]
    fn policy_change_and_daily_refresh_make_newer_updates() {
        let mut a = announced_at(10);
        assert!(a.tick(POLICY, 11).is_empty(), "nothing changed");
        let dearer = FeePolicy { ppm: 500, ..POLICY };
        let out = a.tick(dearer, 12);
        let [OwnAction::Update(u), OwnAction::Send(_, Message::ChannelUpdate(direct))] =
            out.as_slice()
        else {
            panic!("one update: {out:?}");
        };
        assert_eq!(u.fee_proportional_millionths, 500);
        // Two updates in one second still order.
        let again = a.tick(POLICY, 12);
        assert_eq!(direct, u);
        let [OwnAction::Update(u2), _] = again.as_slice() else {
            panic!("one update");
        };
        assert!(u2.timestamp > u.timestamp);
        let later = a.tick(POLICY, 12 + REFRESH_EVERY_SECS);
        assert!(later.iter().any(|x| matches!(x, OwnAction::Update(_))));
        assert!(later.iter().any(|x| matches!(x, OwnAction::Node(_))));
    }

    #[test]
    fn a_rate_limited_update_is_signed_again_later() {
        let mut a = announced_at(10);
        let scid = ShortChannelId::new(300, 1, 0).unwrap();
        let dearer = FeePolicy { ppm: 900, ..POLICY };
        assert!(!a.tick(dearer, 20).is_empty());
        a.update_refused(scid, 20);
        assert!(a.tick(dearer, 21).is_empty(), "held");
        let out = a.tick(dearer, 20 + RETRY_REFUSED_SECS);
        assert!(
            matches!(&out[..], [OwnAction::Update(u), _] if u.fee_proportional_millionths == 900),
            "{out:?}"
        );
    }

    #[test]
    fn a_long_absent_peer_disables_the_channel_until_it_returns() {
        let mut a = announced_at(10);
        a.peer_disconnected(&pk(2), 100);
        assert!(a.tick(POLICY, 100 + DISABLE_AFTER_SECS - 1).is_empty());
        let out = a.tick(POLICY, 100 + DISABLE_AFTER_SECS);
        assert!(
            matches!(&out[..], [OwnAction::Update(u), _] if u.is_disabled()),
            "{out:?}"
        );
        assert!(a.tick(POLICY, 101 + DISABLE_AFTER_SECS).is_empty(), "once");
        a.peer_connected(pk(2));
        let out = a.tick(POLICY, 102 + DISABLE_AFTER_SECS);
        assert!(
            matches!(&out[..], [OwnAction::Update(u), _] if !u.is_disabled()),
            "{out:?}"
        );
        // A short drop changes nothing.
        a.peer_disconnected(&pk(2), 2000);
        a.peer_connected(pk(2));
        assert!(a.tick(POLICY, 2000 + DISABLE_AFTER_SECS).is_empty());
    }

    #[test]
    fn early_signatures_are_bounded() {
        let (mut a, _, _) = side(1, 2);
        let (_, cb, _) = side(2, 1);
        for i in 0..(MAX_EARLY_SIGNATURES as u8 + 10) {
            let mut s = cb.our_signatures(ChainHash::REGTEST, &key(2), &key(12));
            s.channel_id = ChannelId([i; 32]);
            a.on_signatures(pk(2), s, POLICY, 0);
        }
        assert_eq!(a.early.len(), MAX_EARLY_SIGNATURES);
    }
}
