//! `channel_update` (BOLT 7, type 258), for private channels between peers.
//!
//! We do not run gossip, but a channel peer needs our forwarding policy (fees, CLTV delta, HTLC
//! bounds) to put our channel in its invoices' route hints, and we need its policy for the same
//! reason. So each side sends the other a `channel_update` for their shared channel, unprompted,
//! as LDK does for unannounced channels:
//!
//! ```text
//!   us   --channel_update(scid = alias the peer gave us, dont_forward)-->   peer
//!   us   <--channel_update(scid = alias we gave the peer, dont_forward)--   peer
//! ```
//!
//! The signature is by the origin's node key over the double-SHA256 of everything after the
//! signature field, unknown trailing bytes included, which is why those are kept verbatim.

use std::sync::OnceLock;

use bitcoin::constants::ChainHash;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::secp256k1::{ecdsa::Signature, All, Message, PublicKey, Secp256k1, SecretKey};

use super::codec::{Reader, Writer};
use super::error::DecodeError;
use super::message::WireMessage;
use super::types::ShortChannelId;

fn secp() -> &'static Secp256k1<All> {
    static CTX: OnceLock<Secp256k1<All>> = OnceLock::new();
    CTX.get_or_init(Secp256k1::new)
}

/// `message_flags` bit 0, `must_be_one`. It once announced that `htlc_maximum_msat` is present;
/// the field is now mandatory, so senders set it and receivers ignore it (BOLT 7).
pub const MESSAGE_FLAG_MUST_BE_ONE: u8 = 1 << 0;
/// `message_flags` bit 1, `dont_forward`: set on every update for an unannounced channel.
pub const MESSAGE_FLAG_DONT_FORWARD: u8 = 1 << 1;
/// `channel_flags` bit 0, `direction`: 0 when the origin is the lesser node id (`node_id_1`).
pub const CHANNEL_FLAG_DIRECTION: u8 = 1 << 0;
/// `channel_flags` bit 1, `disable`: the origin will not forward over the channel for now.
pub const CHANNEL_FLAG_DISABLE: u8 = 1 << 1;

/// The `direction` bit the owner of `ours` sets in its `channel_update` for a channel with
/// `theirs`: 0 if `ours` is the lexicographically lesser compressed key, else 1.
pub fn direction_bit(ours: &PublicKey, theirs: &PublicKey) -> u8 {
    u8::from(ours.serialize() >= theirs.serialize())
}

/// `channel_update` (type 258): the origin's forwarding policy for one direction of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelUpdate {
    /// By the origin's node key, over the double-SHA256 of the rest of the message.
    pub signature: Signature,
    pub chain_hash: ChainHash,
    /// The real scid or, for a private channel, an alias the receiver gave the origin.
    pub short_channel_id: ShortChannelId,
    /// Orders updates: a receiver keeps the latest.
    pub timestamp: u32,
    /// See [`MESSAGE_FLAG_MUST_BE_ONE`] and [`MESSAGE_FLAG_DONT_FORWARD`].
    pub message_flags: u8,
    /// See [`CHANNEL_FLAG_DIRECTION`] and [`CHANNEL_FLAG_DISABLE`].
    pub channel_flags: u8,
    /// Blocks the origin subtracts from an incoming HTLC's `cltv_expiry` when forwarding.
    pub cltv_expiry_delta: u16,
    pub htlc_minimum_msat: u64,
    pub fee_base_msat: u32,
    pub fee_proportional_millionths: u32,
    pub htlc_maximum_msat: u64,
    /// Bytes after `htlc_maximum_msat` (fields a later spec may add), kept verbatim: they are
    /// covered by the signature, so they must be re-sent exactly as received.
    pub excess_data: Vec<u8>,
}

/// Every field of a [`ChannelUpdate`] but the signature: what the origin signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedChannelUpdate {
    pub chain_hash: ChainHash,
    pub short_channel_id: ShortChannelId,
    pub timestamp: u32,
    pub message_flags: u8,
    pub channel_flags: u8,
    pub cltv_expiry_delta: u16,
    pub htlc_minimum_msat: u64,
    pub fee_base_msat: u32,
    pub fee_proportional_millionths: u32,
    pub htlc_maximum_msat: u64,
    pub excess_data: Vec<u8>,
}

impl UnsignedChannelUpdate {
    /// The double-SHA256 the signature commits to.
    pub fn signature_hash(&self) -> [u8; 32] {
        let mut w = Writer::new();
        self.write(&mut w);
        // Only u16-prefixed fields can fail to encode, and this message has none.
        let bytes = w.finish().unwrap_or_default();
        sha256d::Hash::hash(&bytes).to_byte_array()
    }

    fn write(&self, w: &mut Writer) {
        w.put_bytes(&self.chain_hash.to_bytes());
        w.put_u64(self.short_channel_id.0);
        w.put_u32(self.timestamp);
        w.put_u8(self.message_flags);
        w.put_u8(self.channel_flags);
        w.put_u16(self.cltv_expiry_delta);
        w.put_u64(self.htlc_minimum_msat);
        w.put_u32(self.fee_base_msat);
        w.put_u32(self.fee_proportional_millionths);
        w.put_u64(self.htlc_maximum_msat);
        w.put_bytes(&self.excess_data);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            chain_hash: ChainHash::from(r.read_array::<32>()?),
            short_channel_id: ShortChannelId(r.read_u64()?),
            timestamp: r.read_u32()?,
            message_flags: r.read_u8()?,
            channel_flags: r.read_u8()?,
            cltv_expiry_delta: r.read_u16()?,
            htlc_minimum_msat: r.read_u64()?,
            fee_base_msat: r.read_u32()?,
            fee_proportional_millionths: r.read_u32()?,
            htlc_maximum_msat: r.read_u64()?,
            excess_data: r.read_rest().to_vec(),
        })
    }
}

impl ChannelUpdate {
    /// Signs `unsigned` with the origin's node key.
    pub fn signed(node_key: &SecretKey, unsigned: UnsignedChannelUpdate) -> ChannelUpdate {
        let msg = Message::from_digest(unsigned.signature_hash());
        let signature = secp().sign_ecdsa(&msg, node_key);
        Self::from_parts(signature, unsigned)
    }

    /// Whether `signature` is `node_id`'s over this message.
    ///
    /// A high-S signature is accepted (checked in its low-S form): BOLT 7 notes that anyone
    /// relaying the message can flip `s`, and that must not make it invalid.
    pub fn verify(&self, node_id: &PublicKey) -> bool {
        let msg = Message::from_digest(self.unsigned().signature_hash());
        let mut sig = self.signature;
        sig.normalize_s();
        secp().verify_ecdsa(&msg, &sig, node_id).is_ok()
    }

    /// The signed part of the message.
    pub fn unsigned(&self) -> UnsignedChannelUpdate {
        UnsignedChannelUpdate {
            chain_hash: self.chain_hash,
            short_channel_id: self.short_channel_id,
            timestamp: self.timestamp,
            message_flags: self.message_flags,
            channel_flags: self.channel_flags,
            cltv_expiry_delta: self.cltv_expiry_delta,
            htlc_minimum_msat: self.htlc_minimum_msat,
            fee_base_msat: self.fee_base_msat,
            fee_proportional_millionths: self.fee_proportional_millionths,
            htlc_maximum_msat: self.htlc_maximum_msat,
            excess_data: self.excess_data.clone(),
        }
    }

    fn from_parts(signature: Signature, u: UnsignedChannelUpdate) -> ChannelUpdate {
        ChannelUpdate {
            signature,
            chain_hash: u.chain_hash,
            short_channel_id: u.short_channel_id,
            timestamp: u.timestamp,
            message_flags: u.message_flags,
            channel_flags: u.channel_flags,
            cltv_expiry_delta: u.cltv_expiry_delta,
            htlc_minimum_msat: u.htlc_minimum_msat,
            fee_base_msat: u.fee_base_msat,
            fee_proportional_millionths: u.fee_proportional_millionths,
            htlc_maximum_msat: u.htlc_maximum_msat,
            excess_data: u.excess_data,
        }
    }

    /// The `direction` bit: 0 if the origin is the lesser node id of the two.
    pub fn direction(&self) -> u8 {
        self.channel_flags & CHANNEL_FLAG_DIRECTION
    }

    pub fn is_disabled(&self) -> bool {
        self.channel_flags & CHANNEL_FLAG_DISABLE != 0
    }

    pub fn dont_forward(&self) -> bool {
        self.message_flags & MESSAGE_FLAG_DONT_FORWARD != 0
    }
}

impl WireMessage for ChannelUpdate {
    const TYPE: u16 = 258;

    fn write_payload(&self, w: &mut Writer) {
        w.put_signature(&self.signature);
        self.unsigned().write(w);
    }

    /// `htlc_maximum_msat` is mandatory: a message without it is a short read. `must_be_one`
    /// is not checked, as BOLT 7 tells receivers to ignore it.
    fn read_payload(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let signature = r.read_signature()?;
        let unsigned = UnsignedChannelUpdate::read(r)?;
        Ok(Self::from_parts(signature, unsigned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::message::Message as WireMsg;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_slice(&[n; 32]).unwrap()
    }

    fn unsigned() -> UnsignedChannelUpdate {
        UnsignedChannelUpdate {
            chain_hash: ChainHash::REGTEST,
            short_channel_id: ShortChannelId::new(16_000_123, 45, 6).unwrap(),
            timestamp: 1_700_000_000,
            message_flags: MESSAGE_FLAG_MUST_BE_ONE | MESSAGE_FLAG_DONT_FORWARD,
            channel_flags: 1,
            cltv_expiry_delta: 144,
            htlc_minimum_msat: 1,
            fee_base_msat: 1000,
            fee_proportional_millionths: 100,
            htlc_maximum_msat: 99_000_000,
            excess_data: Vec::new(),
        }
    }

    const FIXED_LEN: usize = 2 + 64 + 32 + 8 + 4 + 1 + 1 + 2 + 8 + 4 + 4 + 8;

    #[test]
    fn layout_and_round_trip() {
        let update = ChannelUpdate::signed(&key(1), unsigned());
        let bytes = update.encode().unwrap();
        assert_eq!(bytes.len(), FIXED_LEN);
        assert_eq!(&bytes[..2], &[1, 2]);
        assert_eq!(&bytes[66..98], ChainHash::REGTEST.as_bytes());
        assert_eq!(&bytes[98..106], &update.short_channel_id.0.to_be_bytes());
        assert_eq!(ChannelUpdate::decode(&bytes).unwrap(), update);
        assert_eq!(
            WireMsg::decode(&bytes),
            Ok(WireMsg::ChannelUpdate(update.clone()))
        );
        assert_eq!(update.unsigned(), unsigned());
        assert_eq!(update.direction(), 1);
        assert!(update.dont_forward());
        assert!(!update.is_disabled());
    }

    #[test]
    fn signature_verifies_with_the_signer_only() {
        let node = PublicKey::from_secret_key(secp(), &key(1));
        let other = PublicKey::from_secret_key(secp(), &key(2));
        let update = ChannelUpdate::signed(&key(1), unsigned());
        assert!(update.verify(&node));
        assert!(!update.verify(&other));
        // The signature is over the whole message after it: any field changed breaks it.
        let mut tampered = update.clone();
        tampered.fee_base_msat += 1;
        assert!(!tampered.verify(&node));
        let mut tampered = update.clone();
        tampered.channel_flags ^= CHANNEL_FLAG_DISABLE;
        assert!(!tampered.verify(&node));
        let mut tampered = update.clone();
        tampered.excess_data.push(0);
        assert!(!tampered.verify(&node));
        // A relayer flipping s (ECDSA malleability) does not invalidate it.
        let compact = update.signature.serialize_compact();
        let (r, s) = compact.split_at(32);
        let neg_s = SecretKey::from_slice(s).unwrap().negate();
        let mut flipped = [0u8; 64];
        flipped[..32].copy_from_slice(r);
        flipped[32..].copy_from_slice(&neg_s.secret_bytes());
        let mut high_s = update.clone();
        high_s.signature = Signature::from_compact(&flipped).unwrap();
        assert_ne!(high_s.signature, update.signature);
        assert!(high_s.verify(&node));
    }

    #[test]
    fn excess_data_is_kept_and_signed() {
        let mut u = unsigned();
        u.excess_data = vec![0xfe, 1, 2, 3];
        let update = ChannelUpdate::signed(&key(3), u);
        let bytes = update.encode().unwrap();
        assert_eq!(bytes.len(), FIXED_LEN + 4);
        let back = ChannelUpdate::decode(&bytes).unwrap();
        assert_eq!(back.excess_data, vec![0xfe, 1, 2, 3]);
        assert!(back.verify(&PublicKey::from_secret_key(secp(), &key(3))));
        assert_eq!(back.encode().unwrap(), bytes);
    }

    #[test]
    fn must_be_one_is_ignored_on_receipt() {
        let mut u = unsigned();
        u.message_flags = 0;
        let update = ChannelUpdate::signed(&key(1), u);
        assert_eq!(
            ChannelUpdate::decode(&update.encode().unwrap()).unwrap(),
            update
        );
    }

    #[test]
    fn truncated_or_garbage_input_is_a_decode_error() {
        let bytes = ChannelUpdate::signed(&key(1), unsigned()).encode().unwrap();
        // Any cut inside the fixed fields, including the pre-`htlc_maximum_msat` form.
        for cut in 2..FIXED_LEN {
            assert_eq!(
                WireMsg::decode(&bytes[..cut]),
                Err(DecodeError::ShortRead),
                "cut at {cut}"
            );
        }
        // A signature whose r is not below the curve order.
        let mut bad = bytes.clone();
        bad[2..34].copy_from_slice(&[0xff; 32]);
        assert_eq!(WireMsg::decode(&bad), Err(DecodeError::InvalidSignature));
        assert_eq!(WireMsg::decode(&[1, 2, 0xaa]), Err(DecodeError::ShortRead));
    }

    #[test]
    fn direction_is_zero_for_the_lesser_key() {
        let a = PublicKey::from_secret_key(secp(), &key(1));
        let b = PublicKey::from_secret_key(secp(), &key(2));
        let (lesser, greater) = if a.serialize() < b.serialize() {
            (a, b)
        } else {
            (b, a)
        };
        assert_eq!(direction_bit(&lesser, &greater), 0);
        assert_eq!(direction_bit(&greater, &lesser), 1);
    }
}
