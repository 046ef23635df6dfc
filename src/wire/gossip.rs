//! BOLT 7 announcements: `channel_announcement` (256), `node_announcement` (257) and
//! `announcement_signatures` (259).
//!
//! A public channel is proven by a `channel_announcement` carrying four signatures: each node's
//! and each funding key's, over the double-SHA256 of everything after the signatures. The two
//! ends assemble it from each other's `announcement_signatures`. A `node_announcement` may only
//! follow once a channel of the node is announced.
//!
//! As with `channel_update`, bytes after the known fields are kept verbatim: they are covered
//! by the signature, so a relay must re-send them exactly.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use bitcoin::constants::ChainHash;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::secp256k1::{ecdsa::Signature, All, Message, PublicKey, Secp256k1, SecretKey};

use super::codec::{Reader, Writer};
use super::error::DecodeError;
use super::features::Features;
use super::message::WireMessage;
use super::types::{ChannelId, ShortChannelId};

fn secp() -> &'static Secp256k1<All> {
    static CTX: OnceLock<Secp256k1<All>> = OnceLock::new();
    CTX.get_or_init(Secp256k1::new)
}

fn digest(bytes: &[u8]) -> Message {
    Message::from_digest(sha256d::Hash::hash(bytes).to_byte_array())
}

/// Signs the double-SHA256 of `signed_bytes` (BOLT 7's rule for every gossip signature).
pub fn sign_gossip(key: &SecretKey, signed_bytes: &[u8]) -> Signature {
    secp().sign_ecdsa(&digest(signed_bytes), key)
}

/// Whether `sig` is `key`'s over the double-SHA256 of `signed_bytes`. A high-S signature is
/// checked in its low-S form: a relay can flip `s` without invalidating the message.
pub fn verify_gossip(key: &PublicKey, signed_bytes: &[u8], sig: &Signature) -> bool {
    let mut sig = *sig;
    sig.normalize_s();
    secp()
        .verify_ecdsa(&digest(signed_bytes), &sig, key)
        .is_ok()
}

/// `announcement_signatures` (type 259): one side's two signatures over the channel's
/// `channel_announcement`, sent to the other side once the funding is 6 blocks deep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncementSignatures {
    pub channel_id: ChannelId,
    pub short_channel_id: ShortChannelId,
    /// By the sender's node key.
    pub node_signature: Signature,
    /// By the sender's funding key.
    pub bitcoin_signature: Signature,
    /// Unknown trailing bytes (a later spec's fields); not signed.
    pub excess_data: Vec<u8>,
}

impl WireMessage for AnnouncementSignatures {
    const TYPE: u16 = 259;

    fn write_payload(&self, w: &mut Writer) {
        w.put_bytes(&self.channel_id.0);
        w.put_u64(self.short_channel_id.0);
        w.put_signature(&self.node_signature);
        w.put_signature(&self.bitcoin_signature);
        w.put_bytes(&self.excess_data);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            channel_id: ChannelId(r.read_array::<32>()?),
            short_channel_id: ShortChannelId(r.read_u64()?),
            node_signature: r.read_signature()?,
            bitcoin_signature: r.read_signature()?,
            excess_data: r.read_rest().to_vec(),
        })
    }
}

/// Everything of a `channel_announcement` but its four signatures: what they sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedChannelAnnouncement {
    pub features: Features,
    pub chain_hash: ChainHash,
    pub short_channel_id: ShortChannelId,
    /// The lesser of the two node ids (compared as compressed keys).
    pub node_id_1: PublicKey,
    pub node_id_2: PublicKey,
    /// `node_id_1`'s funding key.
    pub bitcoin_key_1: PublicKey,
    pub bitcoin_key_2: PublicKey,
    /// Bytes after the known fields, kept verbatim (signed).
    pub excess_data: Vec<u8>,
}

impl UnsignedChannelAnnouncement {
    /// The bytes the four signatures cover.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.write(&mut w);
        // A features field over 65535 bytes is the only failure; it cannot be decoded either.
        w.finish().unwrap_or_default()
    }

    fn write(&self, w: &mut Writer) {
        w.put_u16_prefixed("features", &self.features.to_wire_bytes());
        w.put_bytes(&self.chain_hash.to_bytes());
        w.put_u64(self.short_channel_id.0);
        w.put_pubkey(&self.node_id_1);
        w.put_pubkey(&self.node_id_2);
        w.put_pubkey(&self.bitcoin_key_1);
        w.put_pubkey(&self.bitcoin_key_2);
        w.put_bytes(&self.excess_data);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            features: Features::from_wire_bytes(r.read_u16_prefixed()?),
            chain_hash: ChainHash::from(r.read_array::<32>()?),
            short_channel_id: ShortChannelId(r.read_u64()?),
            node_id_1: r.read_pubkey()?,
            node_id_2: r.read_pubkey()?,
            bitcoin_key_1: r.read_pubkey()?,
            bitcoin_key_2: r.read_pubkey()?,
            excess_data: r.read_rest().to_vec(),
        })
    }
}

/// `channel_announcement` (type 256): proof that a channel between two nodes exists on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelAnnouncement {
    pub node_signature_1: Signature,
    pub node_signature_2: Signature,
    pub bitcoin_signature_1: Signature,
    pub bitcoin_signature_2: Signature,
    pub contents: UnsignedChannelAnnouncement,
}

impl ChannelAnnouncement {
    /// Whether all four signatures verify. The funding output is checked elsewhere (on chain).
    pub fn verify(&self) -> bool {
        let bytes = self.contents.signed_bytes();
        let c = &self.contents;
        verify_gossip(&c.node_id_1, &bytes, &self.node_signature_1)
            && verify_gossip(&c.node_id_2, &bytes, &self.node_signature_2)
            && verify_gossip(&c.bitcoin_key_1, &bytes, &self.bitcoin_signature_1)
            && verify_gossip(&c.bitcoin_key_2, &bytes, &self.bitcoin_signature_2)
    }
}

impl WireMessage for ChannelAnnouncement {
    const TYPE: u16 = 256;

    fn write_payload(&self, w: &mut Writer) {
        w.put_signature(&self.node_signature_1);
        w.put_signature(&self.node_signature_2);
        w.put_signature(&self.bitcoin_signature_1);
        w.put_signature(&self.bitcoin_signature_2);
        self.contents.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            node_signature_1: r.read_signature()?,
            node_signature_2: r.read_signature()?,
            bitcoin_signature_1: r.read_signature()?,
            bitcoin_signature_2: r.read_signature()?,
            contents: UnsignedChannelAnnouncement::read(r)?,
        })
    }
}

/// One entry of a `node_announcement`'s `addresses` (BOLT 7 address descriptors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetAddress {
    Ipv4 {
        addr: Ipv4Addr,
        port: u16,
    },
    Ipv6 {
        addr: Ipv6Addr,
        port: u16,
    },
    /// Tor v3: 32-byte ed25519 key, 2-byte checksum, 1-byte version.
    TorV3 {
        onion: [u8; 35],
        port: u16,
    },
    /// A DNS hostname (ASCII, at most 255 bytes).
    Hostname {
        host: String,
        port: u16,
    },
}

impl NetAddress {
    fn write(&self, w: &mut Writer) {
        match self {
            NetAddress::Ipv4 { addr, port } => {
                w.put_u8(1);
                w.put_bytes(&addr.octets());
                w.put_u16(*port);
            }
            NetAddress::Ipv6 { addr, port } => {
                w.put_u8(2);
                w.put_bytes(&addr.octets());
                w.put_u16(*port);
            }
            NetAddress::TorV3 { onion, port } => {
                w.put_u8(4);
                w.put_bytes(onion);
                w.put_u16(*port);
            }
            NetAddress::Hostname { host, port } => {
                w.put_u8(5);
                // Hosts are checked to fit at construction (`encode_addresses`).
                let bytes = &host.as_bytes()[..host.len().min(255)];
                w.put_u8(bytes.len() as u8);
                w.put_bytes(bytes);
                w.put_u16(*port);
            }
        }
    }
}

impl std::fmt::Display for NetAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetAddress::Ipv4 { addr, port } => write!(f, "{addr}:{port}"),
            NetAddress::Ipv6 { addr, port } => write!(f, "[{addr}]:{port}"),
            NetAddress::TorV3 { onion, port } => {
                write!(f, "{}.onion:{port}", super::address::onion_name(onion))
            }
            NetAddress::Hostname { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// Encodes addresses in BOLT 7's order (by descriptor type). `None` if a hostname is longer
/// than 255 bytes or not ASCII.
pub fn encode_addresses(addrs: &[NetAddress]) -> Option<Vec<u8>> {
    let mut sorted: Vec<&NetAddress> = addrs.iter().collect();
    sorted.sort_by_key(|a| match a {
        NetAddress::Ipv4 { .. } => 1,
        NetAddress::Ipv6 { .. } => 2,
        NetAddress::TorV3 { .. } => 4,
        NetAddress::Hostname { .. } => 5,
    });
    let mut w = Writer::new();
    for a in sorted {
        if let NetAddress::Hostname { host, .. } = a {
            if host.len() > 255 || !host.is_ascii() {
                return None;
            }
        }
        a.write(&mut w);
    }
    w.finish().ok()
}

/// Parses address descriptors. Parsing stops at the first unknown type (its length cannot be
/// known) and at a deprecated Tor v2 entry; what was parsed before stays.
pub fn decode_addresses(bytes: &[u8]) -> Vec<NetAddress> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    while !r.is_empty() {
        let parsed = (|| -> Result<Option<NetAddress>, DecodeError> {
            Ok(Some(match r.read_u8()? {
                1 => NetAddress::Ipv4 {
                    addr: Ipv4Addr::from(r.read_array::<4>()?),
                    port: r.read_u16()?,
                },
                2 => NetAddress::Ipv6 {
                    addr: Ipv6Addr::from(r.read_array::<16>()?),
                    port: r.read_u16()?,
                },
                4 => NetAddress::TorV3 {
                    onion: r.read_array::<35>()?,
                    port: r.read_u16()?,
                },
                5 => {
                    let len = usize::from(r.read_u8()?);
                    let host = r.read_bytes(len)?;
                    let port = r.read_u16()?;
                    match std::str::from_utf8(host) {
                        Ok(h) if h.is_ascii() => NetAddress::Hostname {
                            host: h.to_string(),
                            port,
                        },
                        _ => return Ok(None),
                    }
                }
                _ => return Ok(None),
            }))
        })();
        match parsed {
            Ok(Some(a)) => out.push(a),
            _ => break,
        }
    }
    out
}

/// Everything of a `node_announcement` but its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedNodeAnnouncement {
    pub features: Features,
    /// Orders announcements of one node: a receiver keeps the latest.
    pub timestamp: u32,
    pub node_id: PublicKey,
    pub rgb_color: [u8; 3],
    /// UTF-8, padded with zero bytes; not unique, not trusted.
    pub alias: [u8; 32],
    /// Address descriptors, kept as sent ([`decode_addresses`] reads them).
    pub addresses: Vec<u8>,
    /// Bytes after the known fields, kept verbatim (signed).
    pub excess_data: Vec<u8>,
}

impl UnsignedNodeAnnouncement {
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.write(&mut w);
        w.finish().unwrap_or_default()
    }

    fn write(&self, w: &mut Writer) {
        w.put_u16_prefixed("features", &self.features.to_wire_bytes());
        w.put_u32(self.timestamp);
        w.put_pubkey(&self.node_id);
        w.put_bytes(&self.rgb_color);
        w.put_bytes(&self.alias);
        w.put_u16_prefixed("addresses", &self.addresses);
        w.put_bytes(&self.excess_data);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            features: Features::from_wire_bytes(r.read_u16_prefixed()?),
            timestamp: r.read_u32()?,
            node_id: r.read_pubkey()?,
            rgb_color: r.read_array::<3>()?,
            alias: r.read_array::<32>()?,
            addresses: r.read_u16_prefixed()?.to_vec(),
            excess_data: r.read_rest().to_vec(),
        })
    }

    /// The alias as text: up to the first zero byte, invalid UTF-8 replaced.
    pub fn alias_text(&self) -> String {
        let end = self.alias.iter().position(|b| *b == 0).unwrap_or(32);
        String::from_utf8_lossy(&self.alias[..end]).into_owned()
    }
}

/// Pads `alias` to the 32-byte field, cut at a character boundary if longer.
pub fn alias_bytes(alias: &str) -> [u8; 32] {
    let mut end = alias.len().min(32);
    while !alias.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = [0u8; 32];
    out[..end].copy_from_slice(&alias.as_bytes()[..end]);
    out
}

/// `node_announcement` (type 257): a node's alias, color, addresses and features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAnnouncement {
    pub signature: Signature,
    pub contents: UnsignedNodeAnnouncement,
}

impl NodeAnnouncement {
    pub fn signed(node_key: &SecretKey, contents: UnsignedNodeAnnouncement) -> Self {
        let signature = sign_gossip(node_key, &contents.signed_bytes());
        Self {
            signature,
            contents,
        }
    }

    pub fn verify(&self) -> bool {
        verify_gossip(
            &self.contents.node_id,
            &self.contents.signed_bytes(),
            &self.signature,
        )
    }
}

impl WireMessage for NodeAnnouncement {
    const TYPE: u16 = 257;

    fn write_payload(&self, w: &mut Writer) {
        w.put_signature(&self.signature);
        self.contents.write(w);
    }

    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            signature: r.read_signature()?,
            contents: UnsignedNodeAnnouncement::read(r)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_slice(&[n; 32]).unwrap()
    }

    fn pk(n: u8) -> PublicKey {
        PublicKey::from_secret_key(secp(), &key(n))
    }

    fn announcement() -> ChannelAnnouncement {
        let contents = UnsignedChannelAnnouncement {
            features: Features::empty(),
            chain_hash: ChainHash::REGTEST,
            short_channel_id: ShortChannelId::new(700, 3, 1).unwrap(),
            node_id_1: pk(1),
            node_id_2: pk(2),
            bitcoin_key_1: pk(3),
            bitcoin_key_2: pk(4),
            excess_data: Vec::new(),
        };
        let bytes = contents.signed_bytes();
        ChannelAnnouncement {
            node_signature_1: sign_gossip(&key(1), &bytes),
            node_signature_2: sign_gossip(&key(2), &bytes),
            bitcoin_signature_1: sign_gossip(&key(3), &bytes),
            bitcoin_signature_2: sign_gossip(&key(4), &bytes),
            contents,
        }
    }

    #[test]
    fn channel_announcement_layout_signatures_and_round_trip() {
        let a = announcement();
        assert!(a.verify());
        let bytes = a.encode().unwrap();
        // type, 4 signatures, empty features, chain hash, scid, 4 keys.
        assert_eq!(bytes.len(), 2 + 4 * 64 + 2 + 32 + 8 + 4 * 33);
        assert_eq!(&bytes[..2], &[1, 0]);
        assert_eq!(
            &bytes[2 + 256 + 2..2 + 256 + 34],
            ChainHash::REGTEST.as_bytes()
        );
        assert_eq!(ChannelAnnouncement::decode(&bytes).unwrap(), a);
        let mut forged = a.clone();
        forged.bitcoin_signature_2 = forged.bitcoin_signature_1;
        assert!(!forged.verify());
        let mut moved = a;
        moved.contents.short_channel_id = ShortChannelId(1);
        assert!(!moved.verify());
    }

    #[test]
    fn excess_data_is_kept_and_signed() {
        let mut a = announcement();
        a.contents.excess_data = vec![9, 9, 9];
        let bytes = a.encode().unwrap();
        let back = ChannelAnnouncement::decode(&bytes).unwrap();
        assert_eq!(back.contents.excess_data, vec![9, 9, 9]);
        // Signed before the excess was appended: no longer valid.
        assert!(!back.verify());
    }

    #[test]
    fn node_announcement_round_trip_and_addresses() {
        let addrs = vec![
            NetAddress::Hostname {
                host: "hub.example".into(),
                port: 9735,
            },
            NetAddress::Ipv4 {
                addr: Ipv4Addr::new(127, 0, 0, 1),
                port: 9735,
            },
        ];
        let encoded = encode_addresses(&addrs).unwrap();
        assert_eq!(encoded[0], 1, "sorted by descriptor type");
        let n = NodeAnnouncement::signed(
            &key(7),
            UnsignedNodeAnnouncement {
                features: Features::empty(),
                timestamp: 1_700_000_000,
                node_id: pk(7),
                rgb_color: [1, 2, 3],
                alias: alias_bytes("chanhub ⚡ hub"),
                addresses: encoded,
                excess_data: Vec::new(),
            },
        );
        assert!(n.verify());
        let bytes = n.encode().unwrap();
        let back = NodeAnnouncement::decode(&bytes).unwrap();
        assert_eq!(back, n);
        assert_eq!(back.contents.alias_text(), "chanhub ⚡ hub");
        let parsed = decode_addresses(&back.contents.addresses);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].to_string(), "127.0.0.1:9735");
        assert_eq!(parsed[1].to_string(), "hub.example:9735");
        let mut other = n;
        other.contents.node_id = pk(8);
        assert!(!other.verify());
    }

    #[test]
    fn unknown_address_type_stops_parsing() {
        let mut bytes = encode_addresses(&[NetAddress::Ipv4 {
            addr: Ipv4Addr::new(10, 0, 0, 1),
            port: 1,
        }])
        .unwrap();
        bytes.extend_from_slice(&[42, 1, 2, 3]);
        assert_eq!(decode_addresses(&bytes).len(), 1);
        assert!(decode_addresses(&[2, 0]).is_empty(), "short entry");
    }

    #[test]
    fn alias_is_cut_at_a_char_boundary() {
        let long = "é".repeat(20);
        let bytes = alias_bytes(&long);
        assert!(std::str::from_utf8(&bytes[..32]).is_ok() || bytes[31] == 0);
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains('\u{FFFD}'));
    }

    #[test]
    fn announcement_signatures_round_trip() {
        let m = AnnouncementSignatures {
            channel_id: ChannelId([5; 32]),
            short_channel_id: ShortChannelId::new(800, 1, 0).unwrap(),
            node_signature: sign_gossip(&key(1), b"x"),
            bitcoin_signature: sign_gossip(&key(2), b"y"),
            excess_data: Vec::new(),
        };
        let bytes = m.encode().unwrap();
        assert_eq!(bytes.len(), 2 + 32 + 8 + 128);
        assert_eq!(AnnouncementSignatures::decode(&bytes).unwrap(), m);
    }
}
