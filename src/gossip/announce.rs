//! Our own gossip: the `announcement_signatures` we send for a public channel, the
//! `channel_announcement` both sides' signatures make, our `node_announcement` and our
//! direction's `channel_update`. Pure: keys and facts in, signed messages out.

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{PublicKey, SecretKey};

use crate::payments::FeePolicy;
use crate::wire::channel_update::{CHANNEL_FLAG_DISABLE, MESSAGE_FLAG_MUST_BE_ONE};
use crate::wire::gossip::{alias_bytes, encode_addresses, sign_gossip, verify_gossip};
use crate::wire::{
    direction_bit, AnnouncementSignatures, ChannelAnnouncement, ChannelId, ChannelUpdate, Features,
    NetAddress, NodeAnnouncement, ShortChannelId, UnsignedChannelAnnouncement,
    UnsignedChannelUpdate, UnsignedNodeAnnouncement,
};

/// BOLT 7: a channel is announced once its funding is this deep (reorgs shallower than this
/// would change its scid).
pub const ANNOUNCEMENT_DEPTH: u32 = 6;

/// One of our public channels, as far as its announcement is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurChannel {
    pub channel_id: ChannelId,
    pub scid: ShortChannelId,
    pub our_node_id: PublicKey,
    pub peer: PublicKey,
    pub our_funding_key: PublicKey,
    pub peer_funding_key: PublicKey,
    pub capacity_sat: u64,
}

impl OurChannel {
    /// Whether we are `node_id_1` (the lesser key).
    pub fn we_are_first(&self) -> bool {
        direction_bit(&self.our_node_id, &self.peer) == 0
    }

    /// What both sides sign: node and funding keys ordered by node id.
    pub fn unsigned_announcement(&self, chain_hash: ChainHash) -> UnsignedChannelAnnouncement {
        let (n1, n2, b1, b2) = if self.we_are_first() {
            (
                self.our_node_id,
                self.peer,
                self.our_funding_key,
                self.peer_funding_key,
            )
        } else {
            (
                self.peer,
                self.our_node_id,
                self.peer_funding_key,
                self.our_funding_key,
            )
        };
        UnsignedChannelAnnouncement {
            // No channel feature is defined for announcements today (BOLT 9).
            features: Features::empty(),
            chain_hash,
            short_channel_id: self.scid,
            node_id_1: n1,
            node_id_2: n2,
            bitcoin_key_1: b1,
            bitcoin_key_2: b2,
            excess_data: Vec::new(),
        }
    }

    /// Our `announcement_signatures` for this channel.
    pub fn our_signatures(
        &self,
        chain_hash: ChainHash,
        node_key: &SecretKey,
        funding_key: &SecretKey,
    ) -> AnnouncementSignatures {
        let bytes = self.unsigned_announcement(chain_hash).signed_bytes();
        AnnouncementSignatures {
            channel_id: self.channel_id,
            short_channel_id: self.scid,
            node_signature: sign_gossip(node_key, &bytes),
            bitcoin_signature: sign_gossip(funding_key, &bytes),
            excess_data: Vec::new(),
        }
    }

    /// The full announcement from both sides' signatures, once the peer's verify.
    pub fn assemble(
        &self,
        chain_hash: ChainHash,
        ours: &AnnouncementSignatures,
        theirs: &AnnouncementSignatures,
    ) -> Result<ChannelAnnouncement, AnnounceError> {
        if theirs.short_channel_id != self.scid {
            return Err(AnnounceError::ScidMismatch {
                ours: self.scid,
                theirs: theirs.short_channel_id,
            });
        }
        let contents = self.unsigned_announcement(chain_hash);
        let bytes = contents.signed_bytes();
        if !verify_gossip(&self.peer, &bytes, &theirs.node_signature) {
            return Err(AnnounceError::BadNodeSignature);
        }
        if !verify_gossip(&self.peer_funding_key, &bytes, &theirs.bitcoin_signature) {
            return Err(AnnounceError::BadBitcoinSignature);
        }
        let (first, second) = if self.we_are_first() {
            (ours, theirs)
        } else {
            (theirs, ours)
        };
        Ok(ChannelAnnouncement {
            node_signature_1: first.node_signature,
            node_signature_2: second.node_signature,
            bitcoin_signature_1: first.bitcoin_signature,
            bitcoin_signature_2: second.bitcoin_signature,
            contents,
        })
    }

    /// Our direction's `channel_update`, for the whole network (no `dont_forward`).
    pub fn channel_update(
        &self,
        chain_hash: ChainHash,
        node_key: &SecretKey,
        policy: &OurPolicy,
        timestamp: u32,
    ) -> ChannelUpdate {
        let mut channel_flags = direction_bit(&self.our_node_id, &self.peer);
        if policy.disabled {
            channel_flags |= CHANNEL_FLAG_DISABLE;
        }
        ChannelUpdate::signed(
            node_key,
            UnsignedChannelUpdate {
                chain_hash,
                short_channel_id: self.scid,
                timestamp,
                message_flags: MESSAGE_FLAG_MUST_BE_ONE,
                channel_flags,
                cltv_expiry_delta: policy.fees.cltv_delta,
                htlc_minimum_msat: policy.htlc_minimum_msat,
                fee_base_msat: policy.fees.base_msat,
                fee_proportional_millionths: policy.fees.ppm,
                htlc_maximum_msat: policy.htlc_maximum_msat,
                excess_data: Vec::new(),
            },
        )
    }
}

/// What our `channel_update` for one channel says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OurPolicy {
    pub fees: FeePolicy,
    pub htlc_minimum_msat: u64,
    pub htlc_maximum_msat: u64,
    pub disabled: bool,
}

/// Why a peer's `announcement_signatures` cannot complete the announcement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnounceError {
    #[error("announcement_signatures for scid {theirs}, but the channel's is {ours}")]
    ScidMismatch {
        ours: ShortChannelId,
        theirs: ShortChannelId,
    },
    #[error("announcement_signatures: the node signature does not verify")]
    BadNodeSignature,
    #[error("announcement_signatures: the funding key's signature does not verify")]
    BadBitcoinSignature,
}

/// Who we say we are to the network.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeIdentity {
    pub alias: String,
    pub color: [u8; 3],
    pub addresses: Vec<NetAddress>,
    pub features: Features,
}

/// Our `node_announcement` at `timestamp`. `None` if an address cannot be encoded (a
/// hostname over 255 bytes: configuration refuses those first).
pub fn node_announcement(
    node_key: &SecretKey,
    node_id: PublicKey,
    me: &NodeIdentity,
    timestamp: u32,
) -> Option<NodeAnnouncement> {
    Some(NodeAnnouncement::signed(
        node_key,
        UnsignedNodeAnnouncement {
            features: me.features.clone(),
            timestamp,
            node_id,
            rgb_color: me.color,
            alias: alias_bytes(&me.alias),
            addresses: encode_addresses(&me.addresses)?,
            excess_data: Vec::new(),
        },
    ))
}

/// A timestamp for our next message of a kind: now, but always past the previous one (a
/// receiver keeps only strictly newer messages, and two changes can fall in one second).
pub fn next_timestamp(now_secs: u64, previous: u32) -> u32 {
    let now = u32::try_from(now_secs).unwrap_or(u32::MAX);
    now.max(previous.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gossip::testkit::{key, pk};

    /// The same channel seen from each end: node keys 1 and 2, funding keys 11 and 12.
    fn pair() -> (OurChannel, OurChannel) {
        let scid = ShortChannelId::new(500, 2, 1).unwrap();
        let a = OurChannel {
            channel_id: ChannelId([7; 32]),
            scid,
            our_node_id: pk(1),
            peer: pk(2),
            our_funding_key: pk(11),
            peer_funding_key: pk(12),
            capacity_sat: 1_000_000,
        };
        let b = OurChannel {
            our_node_id: pk(2),
            peer: pk(1),
            our_funding_key: pk(12),
            peer_funding_key: pk(11),
            ..a.clone()
        };
        (a, b)
    }

    #[test]
    fn both_ends_assemble_the_same_valid_announcement() {
        let (a, b) = pair();
        let chain = ChainHash::REGTEST;
        let sa = a.our_signatures(chain, &key(1), &key(11));
        let sb = b.our_signatures(chain, &key(2), &key(12));
        let from_a = a.assemble(chain, &sa, &sb).unwrap();
        let from_b = b.assemble(chain, &sb, &sa).unwrap();
        assert_eq!(from_a, from_b);
        assert!(from_a.verify());
        let c = &from_a.contents;
        assert!(c.node_id_1.serialize() < c.node_id_2.serialize());
        // Each node's funding key sits on its side.
        let (n1_funding, n2_funding) = if c.node_id_1 == pk(1) {
            (pk(11), pk(12))
        } else {
            (pk(12), pk(11))
        };
        assert_eq!((c.bitcoin_key_1, c.bitcoin_key_2), (n1_funding, n2_funding));
    }

    #[test]
    fn a_bad_or_misplaced_peer_signature_is_refused() {
        let (a, b) = pair();
        let chain = ChainHash::REGTEST;
        let sa = a.our_signatures(chain, &key(1), &key(11));
        // The peer signed with the wrong funding key.
        let wrong = b.our_signatures(chain, &key(2), &key(13));
        assert_eq!(
            a.assemble(chain, &sa, &wrong),
            Err(AnnounceError::BadBitcoinSignature)
        );
        let wrong_node = b.our_signatures(chain, &key(3), &key(12));
        assert_eq!(
            a.assemble(chain, &sa, &wrong_node),
            Err(AnnounceError::BadNodeSignature)
        );
        let mut moved = b.our_signatures(chain, &key(2), &key(12));
        moved.short_channel_id = ShortChannelId(1);
        assert!(matches!(
            a.assemble(chain, &sa, &moved),
            Err(AnnounceError::ScidMismatch { .. })
        ));
        // Signed for another chain: does not verify for ours.
        let other_chain = b.our_signatures(ChainHash::BITCOIN, &key(2), &key(12));
        assert!(a.assemble(chain, &sa, &other_chain).is_err());
    }

    #[test]
    fn our_update_and_node_announcement_verify() {
        let (a, _) = pair();
        let policy = OurPolicy {
            fees: FeePolicy {
                base_msat: 1000,
                ppm: 100,
                cltv_delta: 80,
            },
            htlc_minimum_msat: 1,
            htlc_maximum_msat: 990_000_000,
            disabled: false,
        };
        let u = a.channel_update(ChainHash::REGTEST, &key(1), &policy, 1_700_000_000);
        assert!(u.verify(&pk(1)));
        assert!(!u.dont_forward());
        assert_eq!(u.direction(), direction_bit(&pk(1), &pk(2)));
        let me = NodeIdentity {
            alias: "hub".into(),
            color: [0x33, 0x99, 0xff],
            addresses: vec![NetAddress::Ipv4 {
                addr: std::net::Ipv4Addr::LOCALHOST,
                port: 9735,
            }],
            features: Features::empty(),
        };
        let n = node_announcement(&key(1), pk(1), &me, 5).unwrap();
        assert!(n.verify());
        assert_eq!(n.contents.alias_text(), "hub");
    }

    #[test]
    fn timestamps_only_grow() {
        assert_eq!(next_timestamp(100, 0), 100);
        assert_eq!(next_timestamp(100, 100), 101);
        assert_eq!(next_timestamp(100, 150), 151);
        assert_eq!(next_timestamp(u64::MAX, u32::MAX), u32::MAX);
    }
}
