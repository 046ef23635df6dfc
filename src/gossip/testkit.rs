//! Signed gossip for tests: a few nodes, channels between them, their funding outputs.

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::TxOut;

use crate::bolt3::funding::funding_output;
use crate::wire::channel_update::{CHANNEL_FLAG_DIRECTION, MESSAGE_FLAG_MUST_BE_ONE};
use crate::wire::gossip::{alias_bytes, encode_addresses, sign_gossip};
use crate::wire::{
    ChannelAnnouncement, ChannelUpdate, Features, NetAddress, NodeAnnouncement, ShortChannelId,
    UnsignedChannelAnnouncement, UnsignedChannelUpdate, UnsignedNodeAnnouncement, WireMessage,
};

pub const CHAIN: ChainHash = ChainHash::REGTEST;
/// Our clock in tests.
pub const NOW: u32 = 1_700_000_000;

pub fn key(n: u32) -> SecretKey {
    let mut b = [0u8; 32];
    b[28..].copy_from_slice(&(n + 1).to_be_bytes());
    b[0] = 1;
    SecretKey::from_slice(&b).unwrap()
}

pub fn pk(n: u32) -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::new(), &key(n))
}

/// A channel between nodes `a` and `b` (any order) with funding keys `1000 + a`, `1000 + b`.
#[derive(Clone)]
pub struct TestChannel {
    pub scid: ShortChannelId,
    /// The node key of `node_id_1`, then of `node_id_2`.
    pub node_keys: [SecretKey; 2],
    pub funding_keys: [SecretKey; 2],
    pub capacity_sat: u64,
}

impl TestChannel {
    pub fn new(a: u32, b: u32, block: u32) -> Self {
        let (mut x, mut y) = ((a, 1000 + a), (b, 1000 + b));
        if pk(x.0).serialize() > pk(y.0).serialize() {
            std::mem::swap(&mut x, &mut y);
        }
        Self {
            scid: ShortChannelId::new(block, a * 7 + b, 0).unwrap(),
            node_keys: [key(x.0), key(y.0)],
            funding_keys: [key(x.1), key(y.1)],
            capacity_sat: 1_000_000,
        }
    }

    pub fn node_id(&self, i: usize) -> PublicKey {
        self.node_keys[i].public_key(&Secp256k1::new())
    }

    pub fn unsigned(&self) -> UnsignedChannelAnnouncement {
        let s = Secp256k1::new();
        UnsignedChannelAnnouncement {
            features: Features::empty(),
            chain_hash: CHAIN,
            short_channel_id: self.scid,
            node_id_1: self.node_keys[0].public_key(&s),
            node_id_2: self.node_keys[1].public_key(&s),
            bitcoin_key_1: self.funding_keys[0].public_key(&s),
            bitcoin_key_2: self.funding_keys[1].public_key(&s),
            excess_data: Vec::new(),
        }
    }

    /// Signs `contents` with this channel's four keys.
    pub fn sign(&self, contents: UnsignedChannelAnnouncement) -> ChannelAnnouncement {
        let bytes = contents.signed_bytes();
        ChannelAnnouncement {
            node_signature_1: sign_gossip(&self.node_keys[0], &bytes),
            node_signature_2: sign_gossip(&self.node_keys[1], &bytes),
            bitcoin_signature_1: sign_gossip(&self.funding_keys[0], &bytes),
            bitcoin_signature_2: sign_gossip(&self.funding_keys[1], &bytes),
            contents,
        }
    }

    pub fn announcement(&self) -> (ChannelAnnouncement, Vec<u8>) {
        let a = self.sign(self.unsigned());
        let bytes = a.encode().unwrap();
        (a, bytes)
    }

    pub fn funding(&self) -> TxOut {
        let s = Secp256k1::new();
        funding_output(
            self.capacity_sat,
            &self.funding_keys[0].public_key(&s),
            &self.funding_keys[1].public_key(&s),
        )
    }

    pub fn unsigned_update(&self, direction: u8, timestamp: u32) -> UnsignedChannelUpdate {
        UnsignedChannelUpdate {
            chain_hash: CHAIN,
            short_channel_id: self.scid,
            timestamp,
            message_flags: MESSAGE_FLAG_MUST_BE_ONE,
            channel_flags: direction & CHANNEL_FLAG_DIRECTION,
            cltv_expiry_delta: 40,
            htlc_minimum_msat: 1,
            fee_base_msat: 1000 + u32::from(direction),
            fee_proportional_millionths: 100,
            htlc_maximum_msat: self.capacity_sat * 500,
            excess_data: Vec::new(),
        }
    }

    /// An update by the node of `direction`.
    pub fn update(&self, direction: u8, timestamp: u32) -> (ChannelUpdate, Vec<u8>) {
        self.signed_update(direction, self.unsigned_update(direction, timestamp))
    }

    pub fn signed_update(
        &self,
        direction: u8,
        u: UnsignedChannelUpdate,
    ) -> (ChannelUpdate, Vec<u8>) {
        let m = ChannelUpdate::signed(&self.node_keys[usize::from(direction)], u);
        let bytes = m.encode().unwrap();
        (m, bytes)
    }
}

pub fn node_announcement(
    node: &SecretKey,
    timestamp: u32,
    alias: &str,
) -> (NodeAnnouncement, Vec<u8>) {
    let s = Secp256k1::new();
    let m = NodeAnnouncement::signed(
        node,
        UnsignedNodeAnnouncement {
            features: Features::empty(),
            timestamp,
            node_id: node.public_key(&s),
            rgb_color: [0x12, 0xab, 0xff],
            alias: alias_bytes(alias),
            addresses: encode_addresses(&[NetAddress::Ipv4 {
                addr: std::net::Ipv4Addr::new(10, 0, 0, 1),
                port: 9735,
            }])
            .unwrap(),
            excess_data: Vec::new(),
        },
    );
    let bytes = m.encode().unwrap();
    (m, bytes)
}
