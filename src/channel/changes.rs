//! The change lists of both commitments and their reduction into the next commitment spec.
//!
//! We keep each update once, in the list that says how far it has travelled (the bookkeeping
//! Eclair uses; see `channel-spec/channel.md`):
//!
//! ```text
//!  we -- update_* -->            local.proposed
//!  we -- commitment_signed -->   local.proposed -> local.signed
//!  we <-- revoke_and_ack --      local.signed   -> local.acked     (now in their commitment)
//!  we <-- commitment_signed --   local.acked    -> (in ours too: dropped)
//!
//!  we <-- update_* --            remote.proposed
//!  we <-- commitment_signed --   remote.proposed -> remote.acked   (in ours; we revoke)
//!  we -- commitment_signed -->   remote.acked    -> remote.signed
//!  we <-- revoke_and_ack --      remote.signed   -> (in theirs too: dropped)
//! ```
//!
//! Every spec here is in *our* view: `local_msat` is our balance whichever commitment it is.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::PublicKey;

use crate::wire::types::ONION_PACKET_LEN;
use crate::wire::{
    ChannelId, Message, OnionPacket, TlvStream, UpdateAddHtlc, UpdateFailHtlc,
    UpdateFailMalformedHtlc, UpdateFee, UpdateFulfillHtlc,
};

use super::error::ChannelError;

/// Who offered an HTLC (and who pays it until it is fulfilled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Origin {
    Local,
    Remote,
}

/// An offered HTLC, as `update_add_htlc` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddHtlc {
    pub id: u64,
    pub amount_msat: u64,
    #[serde(with = "hash_hex")]
    pub payment_hash: [u8; 32],
    pub cltv_expiry: u32,
    /// The 1366-byte onion, opaque here: the hub peels it. Shared, not copied, when the
    /// state is (each input runs on a copy). Persisted as hex (a JSON array of numbers would
    /// triple every stored state). Empty in commitment specs, which are stored many times
    /// over: a retransmission takes it from the change lists, and the peer's HTLCs keep
    /// theirs once in `Commitments::received_onions`.
    #[serde(with = "onion_hex")]
    pub onion: Arc<[u8]>,
    pub blinding_point: Option<PublicKey>,
    /// bLIP 52's `extra_fee` (TLV 65537), kept so a retransmission carries it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_fee_msat: Option<u64>,
}

/// One `update_*` message, in the form the state keeps (unknown odd TLVs are not kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Update {
    Add(AddHtlc),
    Fulfill {
        id: u64,
        #[serde(with = "hash_hex")]
        preimage: [u8; 32],
    },
    Fail {
        id: u64,
        #[serde(with = "onion_hex")]
        reason: Vec<u8>,
    },
    FailMalformed {
        id: u64,
        #[serde(with = "hash_hex")]
        sha256_of_onion: [u8; 32],
        failure_code: u16,
    },
    Fee {
        feerate_per_kw: u32,
    },
}

impl Update {
    /// The HTLC a removal names.
    pub fn removed_id(&self) -> Option<u64> {
        match self {
            Update::Fulfill { id, .. } | Update::Fail { id, .. } => Some(*id),
            Update::FailMalformed { id, .. } => Some(*id),
            Update::Add(_) | Update::Fee { .. } => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Update::Add(_) => "update_add_htlc",
            Update::Fulfill { .. } => "update_fulfill_htlc",
            Update::Fail { .. } => "update_fail_htlc",
            Update::FailMalformed { .. } => "update_fail_malformed_htlc",
            Update::Fee { .. } => "update_fee",
        }
    }

    /// The wire message for this update.
    pub fn to_message(&self, channel_id: ChannelId) -> Message {
        let extra_tlvs = TlvStream::new();
        match self {
            Update::Add(a) => {
                let mut packet = Box::new([0u8; ONION_PACKET_LEN]);
                let n = a.onion.len().min(ONION_PACKET_LEN);
                packet[..n].copy_from_slice(&a.onion[..n]);
                let mut m = UpdateAddHtlc {
                    channel_id,
                    id: a.id,
                    amount_msat: a.amount_msat,
                    payment_hash: a.payment_hash,
                    cltv_expiry: a.cltv_expiry,
                    onion_routing_packet: OnionPacket(packet),
                    blinding_point: a.blinding_point,
                    extra_tlvs,
                };
                m.set_extra_fee_msat(a.extra_fee_msat);
                Message::UpdateAddHtlc(m)
            }
            Update::Fulfill { id, preimage } => Message::UpdateFulfillHtlc(UpdateFulfillHtlc {
                channel_id,
                id: *id,
                payment_preimage: *preimage,
                extra_tlvs,
            }),
            Update::Fail { id, reason } => Message::UpdateFailHtlc(UpdateFailHtlc {
                channel_id,
                id: *id,
                reason: reason.clone(),
                extra_tlvs,
            }),
            Update::FailMalformed {
                id,
                sha256_of_onion,
                failure_code,
            } => Message::UpdateFailMalformedHtlc(UpdateFailMalformedHtlc {
                channel_id,
                id: *id,
                sha256_of_onion: *sha256_of_onion,
                failure_code: *failure_code,
                extra_tlvs,
            }),
            Update::Fee { feerate_per_kw } => Message::UpdateFee(UpdateFee {
                channel_id,
                feerate_per_kw: *feerate_per_kw,
                extra_tlvs,
            }),
        }
    }

    /// The update a wire message carries, if it is an `update_*`.
    pub fn from_message(msg: &Message) -> Option<Update> {
        Some(match msg {
            Message::UpdateAddHtlc(m) => Update::Add(AddHtlc {
                id: m.id,
                amount_msat: m.amount_msat,
                payment_hash: m.payment_hash,
                cltv_expiry: m.cltv_expiry,
                onion: Arc::from(&m.onion_routing_packet.0[..]),
                blinding_point: m.blinding_point,
                // A malformed record is the payee's to refuse; we never ask for a fee.
                extra_fee_msat: m.extra_fee_msat().ok().flatten(),
            }),
            Message::UpdateFulfillHtlc(m) => Update::Fulfill {
                id: m.id,
                preimage: m.payment_preimage,
            },
            Message::UpdateFailHtlc(m) => Update::Fail {
                id: m.id,
                reason: m.reason.clone(),
            },
            Message::UpdateFailMalformedHtlc(m) => Update::FailMalformed {
                id: m.id,
                sha256_of_onion: m.sha256_of_onion,
                failure_code: m.failure_code,
            },
            Message::UpdateFee(m) => Update::Fee {
                feerate_per_kw: m.feerate_per_kw,
            },
            _ => return None,
        })
    }
}

/// Whether `preimage` unlocks `payment_hash`.
pub fn preimage_matches(preimage: &[u8; 32], payment_hash: &[u8; 32]) -> bool {
    sha256::Hash::hash(preimage).to_byte_array() == *payment_hash
}

/// An HTLC in a commitment spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecHtlc {
    pub origin: Origin,
    pub add: AddHtlc,
}

/// The content of one commitment, in our view: balances without HTLCs, HTLCs, feerate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    pub local_msat: u64,
    pub remote_msat: u64,
    pub htlcs: Vec<SpecHtlc>,
    pub feerate_per_kw: u32,
}

impl Spec {
    pub fn find(&self, origin: Origin, id: u64) -> Option<&SpecHtlc> {
        self.htlcs
            .iter()
            .find(|h| h.origin == origin && h.add.id == id)
    }

    pub fn balance(&self, side: Origin) -> u64 {
        match side {
            Origin::Local => self.local_msat,
            Origin::Remote => self.remote_msat,
        }
    }

    fn balance_mut(&mut self, side: Origin) -> &mut u64 {
        match side {
            Origin::Local => &mut self.local_msat,
            Origin::Remote => &mut self.remote_msat,
        }
    }

    /// Total of the HTLCs `origin` offered.
    pub fn offered_msat(&self, origin: Origin) -> u64 {
        self.htlcs
            .iter()
            .filter(|h| h.origin == origin)
            .map(|h| h.add.amount_msat)
            .sum()
    }

    pub fn offered_count(&self, origin: Origin) -> usize {
        self.htlcs.iter().filter(|h| h.origin == origin).count()
    }

    /// Everything in the channel: balances plus HTLCs. Constant across every transition.
    pub fn total_msat(&self) -> u64 {
        self.local_msat
            + self.remote_msat
            + self.htlcs.iter().map(|h| h.add.amount_msat).sum::<u64>()
    }

    fn add(&mut self, origin: Origin, add: &AddHtlc) -> Result<(), ChannelError> {
        let bal = self.balance_mut(origin);
        *bal = bal.checked_sub(add.amount_msat).ok_or_else(|| {
            ChannelError::HtlcLimit(format!(
                "HTLC {} of {} msat exceeds the offerer's balance",
                add.id, add.amount_msat
            ))
        })?;
        let add = AddHtlc {
            onion: no_onion(),
            ..add.clone()
        };
        self.htlcs.push(SpecHtlc { origin, add });
        Ok(())
    }

    /// Remove the HTLC of `origin` with `id`, crediting `to`.
    fn remove(&mut self, origin: Origin, id: u64, to: Origin) -> Result<(), ChannelError> {
        let pos = self
            .htlcs
            .iter()
            .position(|h| h.origin == origin && h.add.id == id)
            .ok_or(ChannelError::UnknownHtlc { id })?;
        let h = self.htlcs.remove(pos);
        *self.balance_mut(to) += h.add.amount_msat;
        Ok(())
    }

    /// The next spec: this one with `local` (our updates) and `remote` (theirs) applied, adds
    /// first so an HTLC may be added and removed in one step, then removals, then the fee.
    pub fn reduce(&self, local: &[Update], remote: &[Update]) -> Result<Spec, ChannelError> {
        let mut s = self.clone();
        for (origin, list) in [(Origin::Local, local), (Origin::Remote, remote)] {
            for u in list {
                if let Update::Add(a) = u {
                    s.add(origin, a)?;
                }
            }
        }
        for (remover, list) in [(Origin::Local, local), (Origin::Remote, remote)] {
            // A side removes the other side's HTLCs: a fulfill pays the remover, a fail
            // refunds the offerer.
            let offerer = other(remover);
            for u in list {
                match u {
                    Update::Fulfill { id, .. } => s.remove(offerer, *id, remover)?,
                    Update::Fail { id, .. } | Update::FailMalformed { id, .. } => {
                        s.remove(offerer, *id, offerer)?
                    }
                    Update::Add(_) | Update::Fee { .. } => {}
                }
            }
        }
        for u in local.iter().chain(remote) {
            if let Update::Fee { feerate_per_kw } = u {
                s.feerate_per_kw = *feerate_per_kw;
            }
        }
        Ok(s)
    }
}

/// An onion kept apart from the specs (see [`AddHtlc::onion`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Onion(#[serde(with = "onion_hex")] pub Arc<[u8]>);

/// The empty onion of an add in a commitment spec, shared.
pub fn no_onion() -> Arc<[u8]> {
    static EMPTY: OnceLock<Arc<[u8]>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::from(Vec::new())).clone()
}

/// Bytes as a hex string; reads the older array-of-numbers form too.
mod onion_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Every stored state carries the onions of the adds in flight: written through
    /// [`super::super::snapshot_hex`], several times faster than `hex::encode`.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::super::snapshot_hex::encode(bytes))
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Hex(String),
        Bytes(Vec<u8>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: From<Vec<u8>>>(d: D) -> Result<T, D::Error> {
        let bytes = match Form::deserialize(d)? {
            Form::Hex(text) => hex::decode(text).map_err(serde::de::Error::custom)?,
            Form::Bytes(b) => b,
        };
        Ok(bytes.into())
    }

    #[cfg(test)]
    mod tests {
        use super::super::Onion;

        #[test]
        fn onions_are_stored_as_the_hex_crate_writes_them_and_read_back() {
            let bytes: Vec<u8> = (0..=255u8).chain([0, 0x0f, 0xf0, 0xff]).collect();
            let json = serde_json::to_string(&Onion(bytes.clone().into())).unwrap();
            assert_eq!(json, format!("\"{}\"", hex::encode(&bytes)));
            let back: Onion = serde_json::from_str(&json).unwrap();
            assert_eq!(back.0[..], bytes[..]);
        }
    }
}

/// 32-byte hashes and preimages as hex (64 characters, where serde's default array of numbers
/// took up to 128); states written before read as they were.
mod hash_hex {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::super::snapshot_hex::encode(bytes))
    }

    /// Hex or an array of numbers, as [`super::onion_hex`] reads bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        super::onion_hex::deserialize::<_, Vec<u8>>(d)?
            .try_into()
            .map_err(|_| serde::de::Error::custom("a hash is 32 bytes"))
    }

    #[cfg(test)]
    mod tests {
        use super::super::Update;

        #[test]
        fn hashes_are_stored_as_hex_and_arrays_still_read() {
            let u = Update::Fulfill {
                id: 3,
                preimage: [0xab; 32],
            };
            let json = serde_json::to_string(&u).unwrap();
            assert_eq!(
                json,
                format!(
                    "{{\"Fulfill\":{{\"id\":3,\"preimage\":\"{}\"}}}}",
                    "ab".repeat(32)
                )
            );
            assert_eq!(serde_json::from_str::<Update>(&json).unwrap(), u);
            let old = format!(
                "{{\"Fulfill\":{{\"id\":3,\"preimage\":{:?}}}}}",
                [0xabu8; 32]
            );
            assert_eq!(serde_json::from_str::<Update>(&old).unwrap(), u);
            let short = format!(
                "{{\"Fulfill\":{{\"id\":3,\"preimage\":\"{}\"}}}}",
                "ab".repeat(31)
            );
            assert!(serde_json::from_str::<Update>(&short).is_err());
        }
    }
}

pub fn other(o: Origin) -> Origin {
    match o {
        Origin::Local => Origin::Remote,
        Origin::Remote => Origin::Local,
    }
}

/// Append `u` to a list of proposed updates; an `update_fee` replaces any earlier one in the
/// list. Only the latest feerate of a list enters the next commitment ([`Spec::reduce`]
/// applies fees last), so the earlier ones are dead weight: a peer repeating `update_fee`
/// must not grow our state without bound.
pub fn push_collapsing_fee(list: &mut Vec<Update>, u: Update) {
    if matches!(u, Update::Fee { .. }) {
        list.retain(|x| !matches!(x, Update::Fee { .. }));
    }
    list.push(u);
}

/// Our updates, by how far they have travelled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalChanges {
    /// Sent, not yet covered by a `commitment_signed` we sent.
    pub proposed: Vec<Update>,
    /// Covered by our last `commitment_signed`; the peer has not revoked yet.
    pub signed: Vec<Update>,
    /// In the peer's commitment (it revoked); they enter ours with its next signature.
    pub acked: Vec<Update>,
}

/// The peer's updates, by how far they have travelled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteChanges {
    /// Received, not yet covered by a `commitment_signed` from the peer.
    pub proposed: Vec<Update>,
    /// In our commitment (we revoked the previous one); they enter theirs when we sign.
    pub acked: Vec<Update>,
    /// Covered by our last `commitment_signed`; waiting for the peer's revocation.
    pub signed: Vec<Update>,
}

impl LocalChanges {
    pub fn all(&self) -> impl Iterator<Item = &Update> {
        self.proposed.iter().chain(&self.signed).chain(&self.acked)
    }
}

impl RemoteChanges {
    pub fn all(&self) -> impl Iterator<Item = &Update> {
        self.proposed.iter().chain(&self.acked).chain(&self.signed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(id: u64, amount_msat: u64) -> Update {
        Update::Add(AddHtlc {
            id,
            amount_msat,
            payment_hash: sha256::Hash::hash(&[id as u8; 32]).to_byte_array(),
            cltv_expiry: 500,
            onion: vec![0; ONION_PACKET_LEN].into(),
            blinding_point: None,
            extra_fee_msat: None,
        })
    }

    fn spec() -> Spec {
        Spec {
            local_msat: 700_000,
            remote_msat: 300_000,
            htlcs: vec![],
            feerate_per_kw: 253,
        }
    }

    #[test]
    fn an_add_keeps_its_extra_fee_through_the_wire_and_the_store() {
        let mut u = add(3, 10_000);
        if let Update::Add(a) = &mut u {
            a.extra_fee_msat = Some(2_000);
        }
        let msg = u.to_message(ChannelId([9; 32]));
        let Message::UpdateAddHtlc(m) = &msg else {
            panic!("{msg:?}")
        };
        assert_eq!(m.extra_fee_msat(), Ok(Some(2_000)));
        assert_eq!(Update::from_message(&msg), Some(u.clone()));
        // Kept in the stored state, so a retransmission after a restart carries it again;
        // a state stored before the field existed reads as none.
        let json = serde_json::to_string(&u).unwrap();
        assert_eq!(serde_json::from_str::<Update>(&json).unwrap(), u);
        let old = json.replace(r#","extra_fee_msat":2000"#, "");
        assert_ne!(old, json);
        match serde_json::from_str::<Update>(&old).unwrap() {
            Update::Add(a) => assert_eq!(a.extra_fee_msat, None),
            other => panic!("{other:?}"),
        }
        // Without a fee, no record at all (bLIP 52: only parts with something taken).
        let Message::UpdateAddHtlc(m) = add(4, 10_000).to_message(ChannelId([9; 32])) else {
            unreachable!()
        };
        assert_eq!(m.extra_tlvs.get(65537), None);
    }

    #[test]
    fn reduce_adds_then_removes_and_conserves_value() {
        let s = spec();
        let s1 = s.reduce(&[add(0, 100_000)], &[add(0, 50_000)]).unwrap();
        assert_eq!((s1.local_msat, s1.remote_msat), (600_000, 250_000));
        assert_eq!(s1.total_msat(), 1_000_000);
        // The peer fulfills ours, we fail theirs, and the fee moves: all in one step.
        let s2 = s1
            .reduce(
                &[
                    Update::Fail {
                        id: 0,
                        reason: vec![],
                    },
                    Update::Fee {
                        feerate_per_kw: 1000,
                    },
                ],
                &[Update::Fulfill {
                    id: 0,
                    preimage: [0; 32],
                }],
            )
            .unwrap();
        assert_eq!((s2.local_msat, s2.remote_msat), (600_000, 400_000));
        assert!(s2.htlcs.is_empty());
        assert_eq!(s2.feerate_per_kw, 1000);
        // An HTLC added and removed in the same reduction.
        let s3 = s
            .reduce(
                &[add(1, 10_000)],
                &[Update::Fulfill {
                    id: 1,
                    preimage: [0; 32],
                }],
            )
            .unwrap();
        assert_eq!((s3.local_msat, s3.remote_msat), (690_000, 310_000));
    }

    #[test]
    fn reduce_refuses_unknown_removals_and_overdrafts() {
        let s = spec();
        assert_eq!(
            s.reduce(
                &[],
                &[Update::Fulfill {
                    id: 3,
                    preimage: [0; 32]
                }]
            ),
            Err(ChannelError::UnknownHtlc { id: 3 })
        );
        assert!(s.reduce(&[], &[add(0, 300_001)]).is_err());
        // Removing one's own HTLC is not a thing: a fulfill names the other side's.
        let s1 = s.reduce(&[add(0, 1)], &[]).unwrap();
        assert!(s1
            .reduce(
                &[Update::Fulfill {
                    id: 0,
                    preimage: [0; 32]
                }],
                &[]
            )
            .is_err());
    }

    #[test]
    fn updates_round_trip_through_wire_messages() {
        let cid = ChannelId([7; 32]);
        for u in [
            add(5, 42),
            Update::Fulfill {
                id: 1,
                preimage: [3; 32],
            },
            Update::Fail {
                id: 2,
                reason: vec![1, 2, 3],
            },
            Update::FailMalformed {
                id: 3,
                sha256_of_onion: [4; 32],
                failure_code: 0x8000 | 5,
            },
            Update::Fee {
                feerate_per_kw: 9999,
            },
        ] {
            let m = u.to_message(cid);
            let decoded = Message::decode(&m.encode().unwrap()).unwrap();
            assert_eq!(Update::from_message(&decoded), Some(u));
        }
    }
}
