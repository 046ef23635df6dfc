//! BOLT 7 codec vectors against LDK's (`lightning::ln::msgs`): for each gossip message, the
//! same fields built on both sides must give the same bytes, each side must read the other's
//! bytes back to the same message, and a signature made by one side must verify on the other
//! (so both hash the same signed bytes).

use bitcoin::constants::ChainHash;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::secp256k1::{ecdsa::Signature, Message as Digest, PublicKey, Secp256k1, SecretKey};
use lightning::ln::msgs as ldk;
use lightning::ln::types::ChannelId as LdkChannelId;
use lightning::routing::gossip::{
    verify_channel_announcement, verify_node_announcement, NodeAlias, NodeId,
};
use lightning::types::features::{ChannelFeatures, NodeFeatures};
use lightning::util::ser::{Hostname, LengthReadable, Writeable};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::gossip::{alias_bytes, decode_addresses, encode_addresses, sign_gossip};
use super::*;

fn key(n: u8) -> SecretKey {
    SecretKey::from_slice(&[n; 32]).unwrap()
}

fn pk(n: u8) -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::new(), &key(n))
}

fn node_id(n: u8) -> NodeId {
    NodeId::from_pubkey(&pk(n))
}

/// LDK signs gossip over the double-SHA256 of the unsigned part's encoding.
fn ldk_sign<M: Writeable>(unsigned: &M, n: u8) -> Signature {
    let digest = Digest::from_digest(sha256d::Hash::hash(&unsigned.encode()).to_byte_array());
    Secp256k1::new().sign_ecdsa(&digest, &key(n))
}

fn ldk_verifies<M: Writeable>(unsigned: &M, sig: &Signature, n: u8) -> bool {
    let digest = Digest::from_digest(sha256d::Hash::hash(&unsigned.encode()).to_byte_array());
    Secp256k1::new().verify_ecdsa(&digest, sig, &pk(n)).is_ok()
}

/// LDK's `Writeable` leaves out the type; the wire has it first.
fn ldk_wire<M: Writeable>(typ: u16, m: &M) -> Vec<u8> {
    let mut out = typ.to_be_bytes().to_vec();
    out.extend(m.encode());
    out
}

fn ldk_read<M: LengthReadable>(wire: &[u8]) -> M {
    M::read_from_fixed_length_buffer(&mut &wire[2..]).expect("LDK reads our encoding")
}

/// Both directions: the same bytes, and each side reads the other's to the same message.
fn check<O, L>(ours: &O, theirs: &L)
where
    O: WireMessage + std::fmt::Debug + PartialEq + Clone + Into<Message>,
    L: Writeable + LengthReadable + std::fmt::Debug + PartialEq,
{
    let ldk_bytes = ldk_wire(O::TYPE, theirs);
    let our_bytes = ours.encode().unwrap();
    assert_eq!(
        hex::encode(&our_bytes),
        hex::encode(&ldk_bytes),
        "type {}",
        O::TYPE
    );
    let decoded = O::decode(&ldk_bytes).unwrap();
    assert_eq!(&decoded, ours);
    assert_eq!(decoded.encode().unwrap(), ldk_bytes, "re-encoded");
    assert_eq!(Message::decode(&ldk_bytes), Ok(ours.clone().into()));
    assert_eq!(&ldk_read::<L>(&our_bytes), theirs);
}

fn ldk_channel_announcement_contents(features: Vec<u8>) -> ldk::UnsignedChannelAnnouncement {
    ldk::UnsignedChannelAnnouncement {
        features: ChannelFeatures::from_le_bytes(features),
        chain_hash: ChainHash::REGTEST,
        short_channel_id: ShortChannelId::new(700, 3, 1).unwrap().0,
        node_id_1: node_id(1),
        node_id_2: node_id(2),
        bitcoin_key_1: node_id(3),
        bitcoin_key_2: node_id(4),
        excess_data: vec![0xde, 0xad, 0xbe, 0xef],
    }
}

fn our_channel_announcement_contents(le_features: &[u8]) -> UnsignedChannelAnnouncement {
    let be: Vec<u8> = le_features.iter().rev().copied().collect();
    UnsignedChannelAnnouncement {
        features: Features::from_wire_bytes(&be),
        chain_hash: ChainHash::REGTEST,
        short_channel_id: ShortChannelId::new(700, 3, 1).unwrap(),
        node_id_1: pk(1),
        node_id_2: pk(2),
        bitcoin_key_1: pk(3),
        bitcoin_key_2: pk(4),
        excess_data: vec![0xde, 0xad, 0xbe, 0xef],
    }
}

#[test]
fn channel_announcement_matches_ldk() {
    // Features as LDK may send them: a bit set, and a high zero byte (not minimal).
    for le in [vec![], vec![0x02], vec![0x02, 0x00]] {
        let c = ldk_channel_announcement_contents(le.clone());
        let theirs = ldk::ChannelAnnouncement {
            node_signature_1: ldk_sign(&c, 1),
            node_signature_2: ldk_sign(&c, 2),
            bitcoin_signature_1: ldk_sign(&c, 3),
            bitcoin_signature_2: ldk_sign(&c, 4),
            contents: c,
        };
        let ours = ChannelAnnouncement {
            node_signature_1: theirs.node_signature_1,
            node_signature_2: theirs.node_signature_2,
            bitcoin_signature_1: theirs.bitcoin_signature_1,
            bitcoin_signature_2: theirs.bitcoin_signature_2,
            contents: our_channel_announcement_contents(&le),
        };
        check(&ours, &theirs);
        // LDK's signatures verify on ours, through our decoding of LDK's bytes.
        let decoded = ChannelAnnouncement::decode(&ldk_wire(256, &theirs)).unwrap();
        assert!(decoded.verify(), "features {le:?}");

        // Ours verify on LDK's.
        let bytes = ours.contents.signed_bytes();
        let signed = ChannelAnnouncement {
            node_signature_1: sign_gossip(&key(1), &bytes),
            node_signature_2: sign_gossip(&key(2), &bytes),
            bitcoin_signature_1: sign_gossip(&key(3), &bytes),
            bitcoin_signature_2: sign_gossip(&key(4), &bytes),
            contents: ours.contents.clone(),
        };
        let read: ldk::ChannelAnnouncement = ldk_read(&signed.encode().unwrap());
        assert!(verify_channel_announcement(&read, &Secp256k1::new()).is_ok());
        assert_eq!(bytes, read.contents.encode(), "the same signed bytes");
    }
}

fn ldk_addresses() -> Vec<ldk::SocketAddress> {
    vec![
        ldk::SocketAddress::TcpIpV4 {
            addr: [203, 0, 113, 7],
            port: 9735,
        },
        ldk::SocketAddress::TcpIpV6 {
            addr: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets(),
            port: 9736,
        },
        ldk::SocketAddress::OnionV3 {
            ed25519_pubkey: [0x11; 32],
            checksum: 0xabcd,
            version: 3,
            port: 9737,
        },
        ldk::SocketAddress::Hostname {
            hostname: Hostname::try_from("hub.example.org".to_string()).unwrap(),
            port: 9738,
        },
    ]
}

fn our_addresses() -> Vec<NetAddress> {
    let mut onion = [0x11; 35];
    onion[32..34].copy_from_slice(&0xabcdu16.to_be_bytes());
    onion[34] = 3;
    vec![
        NetAddress::Ipv4 {
            addr: Ipv4Addr::new(203, 0, 113, 7),
            port: 9735,
        },
        NetAddress::Ipv6 {
            addr: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            port: 9736,
        },
        NetAddress::TorV3 { onion, port: 9737 },
        NetAddress::Hostname {
            host: "hub.example.org".into(),
            port: 9738,
        },
    ]
}

#[test]
fn address_descriptors_match_ldk() {
    let theirs: Vec<u8> = ldk_addresses().iter().flat_map(|a| a.encode()).collect();
    // Given in reverse: we sort by descriptor type, as BOLT 7 asks.
    let mut reversed = our_addresses();
    reversed.reverse();
    let ours = encode_addresses(&reversed).unwrap();
    assert_eq!(hex::encode(&ours), hex::encode(&theirs));
    assert_eq!(decode_addresses(&theirs), our_addresses());
}

fn ldk_node_contents(
    le_features: Vec<u8>,
    excess_address_data: Vec<u8>,
) -> ldk::UnsignedNodeAnnouncement {
    ldk::UnsignedNodeAnnouncement {
        features: NodeFeatures::from_le_bytes(le_features),
        timestamp: 1_700_000_123,
        node_id: node_id(7),
        rgb: [0x33, 0x99, 0xff],
        alias: NodeAlias(alias_bytes("chanhub ⚡")),
        addresses: ldk_addresses(),
        excess_address_data,
        excess_data: vec![1, 2, 3],
    }
}

fn our_node_contents(le_features: &[u8], excess_address_data: &[u8]) -> UnsignedNodeAnnouncement {
    let be: Vec<u8> = le_features.iter().rev().copied().collect();
    let mut addresses = encode_addresses(&our_addresses()).unwrap();
    addresses.extend_from_slice(excess_address_data);
    UnsignedNodeAnnouncement {
        features: Features::from_wire_bytes(&be),
        timestamp: 1_700_000_123,
        node_id: pk(7),
        rgb_color: [0x33, 0x99, 0xff],
        alias: alias_bytes("chanhub ⚡"),
        addresses,
        excess_data: vec![1, 2, 3],
    }
}

#[test]
fn node_announcement_matches_ldk() {
    // Plain; with LDK's usual bits and a high zero byte; with an address type neither knows
    // (kept in the signed address bytes on both sides).
    let cases: [(Vec<u8>, Vec<u8>); 3] = [
        (vec![], vec![]),
        (vec![0x00, 0x80, 0x02, 0x00], vec![]),
        (vec![0x02], vec![42, 9, 9, 9]),
    ];
    for (le, excess_addr) in cases {
        let c = ldk_node_contents(le.clone(), excess_addr.clone());
        let theirs = ldk::NodeAnnouncement {
            signature: ldk_sign(&c, 7),
            contents: c,
        };
        let ours = NodeAnnouncement {
            signature: theirs.signature,
            contents: our_node_contents(&le, &excess_addr),
        };
        check(&ours, &theirs);
        let decoded = NodeAnnouncement::decode(&ldk_wire(257, &theirs)).unwrap();
        assert!(decoded.verify(), "features {le:?}");
        assert_eq!(
            decode_addresses(&decoded.contents.addresses),
            our_addresses()
        );
        assert_eq!(decoded.contents.alias_text(), "chanhub ⚡");

        let signed = NodeAnnouncement::signed(&key(7), ours.contents.clone());
        let read: ldk::NodeAnnouncement = ldk_read(&signed.encode().unwrap());
        assert!(verify_node_announcement(&read, &Secp256k1::new()).is_ok());
        assert_eq!(read.contents.excess_address_data, excess_addr);
    }
}

fn ldk_update_contents() -> ldk::UnsignedChannelUpdate {
    ldk::UnsignedChannelUpdate {
        chain_hash: ChainHash::REGTEST,
        short_channel_id: ShortChannelId::new(700, 3, 1).unwrap().0,
        timestamp: 1_700_000_456,
        // must_be_one, and the direction and disable bits.
        message_flags: 1,
        channel_flags: 3,
        cltv_expiry_delta: 80,
        htlc_minimum_msat: 1_000,
        htlc_maximum_msat: 990_000_000,
        fee_base_msat: 1_000,
        fee_proportional_millionths: 250,
        excess_data: vec![0xfe, 0x01],
    }
}

fn our_update_contents() -> UnsignedChannelUpdate {
    UnsignedChannelUpdate {
        chain_hash: ChainHash::REGTEST,
        short_channel_id: ShortChannelId::new(700, 3, 1).unwrap(),
        timestamp: 1_700_000_456,
        message_flags: 1,
        channel_flags: 3,
        cltv_expiry_delta: 80,
        htlc_minimum_msat: 1_000,
        fee_base_msat: 1_000,
        fee_proportional_millionths: 250,
        htlc_maximum_msat: 990_000_000,
        excess_data: vec![0xfe, 0x01],
    }
}

#[test]
fn channel_update_matches_ldk() {
    let c = ldk_update_contents();
    let theirs = ldk::ChannelUpdate {
        signature: ldk_sign(&c, 5),
        contents: c,
    };
    let mut ours = ChannelUpdate::signed(&key(5), our_update_contents());
    // RFC 6979 signatures are deterministic: the same key over the same hash.
    assert_eq!(ours.signature, theirs.signature, "the same signature hash");
    assert_eq!(
        our_update_contents().signature_hash(),
        sha256d::Hash::hash(&theirs.contents.encode()).to_byte_array()
    );
    check(&ours, &theirs);
    assert!(ours.verify(&pk(5)));
    assert!(ldk_verifies(&theirs.contents, &ours.signature, 5));
    ours.signature = ldk_sign(&theirs.contents, 6);
    assert!(ours.verify(&pk(6)));
}

#[test]
fn announcement_signatures_match_ldk() {
    let theirs = ldk::AnnouncementSignatures {
        channel_id: LdkChannelId([0x5a; 32]),
        short_channel_id: ShortChannelId::new(800, 1, 0).unwrap().0,
        node_signature: sign_gossip(&key(1), b"node"),
        bitcoin_signature: sign_gossip(&key(2), b"bitcoin"),
    };
    let ours = AnnouncementSignatures {
        channel_id: ChannelId([0x5a; 32]),
        short_channel_id: ShortChannelId::new(800, 1, 0).unwrap(),
        node_signature: theirs.node_signature,
        bitcoin_signature: theirs.bitcoin_signature,
        excess_data: Vec::new(),
    };
    check(&ours, &theirs);
}

fn scids() -> Vec<ShortChannelId> {
    vec![
        ShortChannelId::new(100, 1, 0).unwrap(),
        ShortChannelId::new(101, 7, 1).unwrap(),
        ShortChannelId::new(16_000_000, 4_000, 65_535).unwrap(),
    ]
}

#[test]
fn query_short_channel_ids_matches_ldk() {
    for ids in [scids(), Vec::new()] {
        let theirs = ldk::QueryShortChannelIds {
            chain_hash: ChainHash::BITCOIN,
            short_channel_ids: ids.iter().map(|s| s.0).collect(),
        };
        let ours = QueryShortChannelIds {
            chain_hash: ChainHash::BITCOIN,
            short_channel_ids: ids,
            query_flags: None,
            extra_tlvs: TlvStream::new(),
        };
        check(&ours, &theirs);
    }
}

#[test]
fn reply_short_channel_ids_end_matches_ldk() {
    for full in [false, true] {
        let theirs = ldk::ReplyShortChannelIdsEnd {
            chain_hash: ChainHash::from([7; 32]),
            full_information: full,
        };
        let ours = ReplyShortChannelIdsEnd {
            chain_hash: ChainHash::from([7; 32]),
            full_information: u8::from(full),
            excess_data: Vec::new(),
        };
        check(&ours, &theirs);
    }
}

#[test]
fn query_channel_range_matches_ldk() {
    let theirs = ldk::QueryChannelRange {
        chain_hash: ChainHash::REGTEST,
        first_blocknum: 700_000,
        number_of_blocks: u32::MAX,
    };
    let ours = QueryChannelRange {
        chain_hash: ChainHash::REGTEST,
        first_blocknum: 700_000,
        number_of_blocks: u32::MAX,
        query_option: None,
        extra_tlvs: TlvStream::new(),
    };
    check(&ours, &theirs);
    assert_eq!(ours.end_blocknum(), theirs.end_blocknum());
}

#[test]
fn reply_channel_range_matches_ldk() {
    for (ids, complete) in [(scids(), true), (Vec::new(), false)] {
        let theirs = ldk::ReplyChannelRange {
            chain_hash: ChainHash::REGTEST,
            first_blocknum: 100,
            number_of_blocks: 15_999_901,
            sync_complete: complete,
            short_channel_ids: ids.iter().map(|s| s.0).collect(),
        };
        let ours = ReplyChannelRange {
            chain_hash: ChainHash::REGTEST,
            first_blocknum: 100,
            number_of_blocks: 15_999_901,
            sync_complete: u8::from(complete),
            short_channel_ids: ids,
            timestamps: None,
            checksums: None,
            extra_tlvs: TlvStream::new(),
        };
        check(&ours, &theirs);
    }
}

#[test]
fn gossip_timestamp_filter_matches_ldk() {
    let theirs = ldk::GossipTimestampFilter {
        chain_hash: ChainHash::SIGNET,
        first_timestamp: 1_700_000_000,
        timestamp_range: u32::MAX,
    };
    let ours = GossipTimestampFilter {
        chain_hash: ChainHash::SIGNET,
        first_timestamp: 1_700_000_000,
        timestamp_range: u32::MAX,
        excess_data: Vec::new(),
    };
    check(&ours, &theirs);
}

/// Where the two codecs part on purpose: LDK reads past the fields it knows without keeping
/// them, and refuses what BOLT 7 tells a receiver to ignore; see channel-spec/interop.md.
#[test]
fn known_divergences_from_ldk() {
    // LDK reads a reply whose optional TLVs it does not know by ignoring them; we keep them.
    let ours = ReplyChannelRange {
        chain_hash: ChainHash::REGTEST,
        first_blocknum: 100,
        number_of_blocks: 2,
        sync_complete: 1,
        short_channel_ids: scids()[..2].to_vec(),
        timestamps: Some(vec![(1, 2), (3, 4)]),
        checksums: Some(vec![(5, 6), (7, 8)]),
        extra_tlvs: TlvStream::new(),
    };
    let read: ldk::ReplyChannelRange = ldk_read(&ours.encode().unwrap());
    assert_eq!(read.short_channel_ids, vec![scids()[0].0, scids()[1].0]);

    // A `channel_update` without `must_be_one`: BOLT 7 has receivers ignore the bit, LDK
    // refuses the message. We always set it.
    let mut u = our_update_contents();
    u.message_flags = 0;
    let update = ChannelUpdate::signed(&key(5), u);
    let bytes = update.encode().unwrap();
    assert!(ChannelUpdate::decode(&bytes).is_ok());
    assert!(ldk::ChannelUpdate::read_from_fixed_length_buffer(&mut &bytes[2..]).is_err());

    // A boolean byte other than 0 or 1: we keep it, LDK refuses it.
    let end = ReplyShortChannelIdsEnd {
        chain_hash: ChainHash::REGTEST,
        full_information: 2,
        excess_data: Vec::new(),
    };
    let bytes = end.encode().unwrap();
    assert_eq!(ReplyShortChannelIdsEnd::decode(&bytes), Ok(end));
    assert!(ldk::ReplyShortChannelIdsEnd::read_from_fixed_length_buffer(&mut &bytes[2..]).is_err());

    // Trailing bytes of `announcement_signatures` that are no valid TLV stream (an unknown
    // even type): kept by us, refused by LDK.
    let sigs = AnnouncementSignatures {
        channel_id: ChannelId([1; 32]),
        short_channel_id: ShortChannelId(1),
        node_signature: sign_gossip(&key(1), b"n"),
        bitcoin_signature: sign_gossip(&key(2), b"b"),
        excess_data: vec![2, 0],
    };
    let bytes = sigs.encode().unwrap();
    assert_eq!(AnnouncementSignatures::decode(&bytes), Ok(sigs));
    assert!(ldk::AnnouncementSignatures::read_from_fixed_length_buffer(&mut &bytes[2..]).is_err());

    // An id list without its encoding byte: both refuse it.
    let mut bytes = vec![1, 5];
    bytes.extend(ChainHash::REGTEST.to_bytes());
    bytes.extend([0, 0]);
    assert!(QueryShortChannelIds::decode(&bytes).is_err());
    assert!(ldk::QueryShortChannelIds::read_from_fixed_length_buffer(&mut &bytes[2..]).is_err());
}
