//! Proptest strategies for every message, shared by the property tests.

use bitcoin::constants::ChainHash;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{ecdsa::Signature, PublicKey, Secp256k1, SecretKey};
use bitcoin::{ScriptBuf, Txid};
use proptest::collection::vec;
use proptest::prelude::*;

use super::types::ONION_PACKET_LEN;
use super::*;

fn pubkey() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_filter_map("valid secret key", |b| {
        let sk = SecretKey::from_slice(&b).ok()?;
        Some(PublicKey::from_secret_key(&Secp256k1::signing_only(), &sk))
    })
}

fn signature() -> impl Strategy<Value = Signature> {
    any::<[u8; 64]>().prop_filter_map("r and s below the curve order", |b| {
        Signature::from_compact(&b).ok()
    })
}

fn channel_id() -> impl Strategy<Value = ChannelId> {
    any::<[u8; 32]>().prop_map(ChannelId)
}

pub fn features() -> impl Strategy<Value = Features> {
    vec(any::<u8>(), 0..8).prop_map(|b| Features::from_wire_bytes(&b))
}

fn script() -> impl Strategy<Value = ScriptBuf> {
    vec(any::<u8>(), 0..80).prop_map(ScriptBuf::from_bytes)
}

pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

/// Unknown odd records, with types above every type a message defines.
fn extra_tlvs() -> impl Strategy<Value = TlvStream> {
    vec((3u64..u64::MAX / 2, bytes(40)), 0..3).prop_map(|recs| {
        recs.into_iter()
            .map(|(t, value)| TlvRecord {
                typ: t * 2 + 1,
                value,
            })
            .collect()
    })
}

fn diagnostic() -> impl Strategy<Value = Diagnostic> {
    (channel_id(), bytes(200), extra_tlvs()).prop_map(|(channel_id, data, extra_tlvs)| Diagnostic {
        channel_id,
        data,
        extra_tlvs,
    })
}

fn init() -> impl Strategy<Value = Init> {
    (
        features(),
        features(),
        proptest::option::of(vec(any::<[u8; 32]>().prop_map(ChainHash::from), 0..3)),
        proptest::option::of(bytes(20)),
        extra_tlvs(),
    )
        .prop_map(
            |(global_features, features, networks, remote_addr, extra_tlvs)| Init {
                global_features,
                features,
                networks,
                remote_addr,
                extra_tlvs,
            },
        )
}

fn ping() -> impl Strategy<Value = Ping> {
    (any::<u16>(), bytes(300), extra_tlvs()).prop_map(|(num_pong_bytes, ignored, extra_tlvs)| {
        Ping {
            num_pong_bytes,
            ignored,
            extra_tlvs,
        }
    })
}

fn pong() -> impl Strategy<Value = Pong> {
    (bytes(300), extra_tlvs()).prop_map(|(ignored, extra_tlvs)| Pong {
        ignored,
        extra_tlvs,
    })
}

fn points() -> impl Strategy<Value = ChannelPoints> {
    [pubkey(), pubkey(), pubkey(), pubkey(), pubkey(), pubkey()].prop_map(|[a, b, c, d, e, f]| {
        ChannelPoints {
            funding_pubkey: a,
            revocation_basepoint: b,
            payment_basepoint: c,
            delayed_payment_basepoint: d,
            htlc_basepoint: e,
            first_per_commitment_point: f,
        }
    })
}

fn open_tlvs() -> impl Strategy<Value = OpenTlvs> {
    (
        proptest::option::of(script()),
        proptest::option::of(features()),
        extra_tlvs(),
    )
        .prop_map(
            |(upfront_shutdown_script, channel_type, extra_tlvs)| OpenTlvs {
                upfront_shutdown_script,
                channel_type,
                extra_tlvs,
            },
        )
}

fn open_channel() -> impl Strategy<Value = OpenChannel> {
    (
        any::<[u8; 32]>(),
        channel_id(),
        any::<[u64; 6]>(),
        any::<u32>(),
        any::<(u16, u16, u8)>(),
        points(),
        open_tlvs(),
    )
        .prop_map(
            |(chain, id, n, feerate, (delay, max_htlcs, flags), points, tlvs)| OpenChannel {
                chain_hash: ChainHash::from(chain),
                temporary_channel_id: id,
                funding_satoshis: n[0],
                push_msat: n[1],
                dust_limit_satoshis: n[2],
                max_htlc_value_in_flight_msat: n[3],
                channel_reserve_satoshis: n[4],
                htlc_minimum_msat: n[5],
                feerate_per_kw: feerate,
                to_self_delay: delay,
                max_accepted_htlcs: max_htlcs,
                points,
                channel_flags: flags,
                tlvs,
            },
        )
}

fn accept_channel() -> impl Strategy<Value = AcceptChannel> {
    (
        channel_id(),
        any::<[u64; 4]>(),
        any::<(u32, u16, u16)>(),
        points(),
        open_tlvs(),
    )
        .prop_map(
            |(id, n, (depth, delay, max_htlcs), points, tlvs)| AcceptChannel {
                temporary_channel_id: id,
                dust_limit_satoshis: n[0],
                max_htlc_value_in_flight_msat: n[1],
                channel_reserve_satoshis: n[2],
                htlc_minimum_msat: n[3],
                minimum_depth: depth,
                to_self_delay: delay,
                max_accepted_htlcs: max_htlcs,
                points,
                tlvs,
            },
        )
}

fn funding_created() -> impl Strategy<Value = FundingCreated> {
    (
        channel_id(),
        any::<[u8; 32]>(),
        any::<u16>(),
        signature(),
        extra_tlvs(),
    )
        .prop_map(|(id, txid, vout, signature, extra_tlvs)| FundingCreated {
            temporary_channel_id: id,
            funding_txid: Txid::from_byte_array(txid),
            funding_output_index: vout,
            signature,
            extra_tlvs,
        })
}

fn funding_signed() -> impl Strategy<Value = FundingSigned> {
    (channel_id(), signature(), extra_tlvs()).prop_map(|(channel_id, signature, extra_tlvs)| {
        FundingSigned {
            channel_id,
            signature,
            extra_tlvs,
        }
    })
}

fn channel_ready() -> impl Strategy<Value = ChannelReady> {
    (
        channel_id(),
        pubkey(),
        proptest::option::of(any::<u64>().prop_map(ShortChannelId)),
        extra_tlvs(),
    )
        .prop_map(|(channel_id, point, alias, extra_tlvs)| ChannelReady {
            channel_id,
            second_per_commitment_point: point,
            short_channel_id_alias: alias,
            extra_tlvs,
        })
}

fn shutdown() -> impl Strategy<Value = Shutdown> {
    (channel_id(), script(), extra_tlvs()).prop_map(|(channel_id, scriptpubkey, extra_tlvs)| {
        Shutdown {
            channel_id,
            scriptpubkey,
            extra_tlvs,
        }
    })
}

fn closing_signed() -> impl Strategy<Value = ClosingSigned> {
    (
        channel_id(),
        any::<u64>(),
        signature(),
        proptest::option::of(any::<(u64, u64)>()),
        extra_tlvs(),
    )
        .prop_map(
            |(channel_id, fee, signature, range, extra_tlvs)| ClosingSigned {
                channel_id,
                fee_satoshis: fee,
                signature,
                fee_range: range.map(|(min, max)| FeeRange {
                    min_fee_satoshis: min,
                    max_fee_satoshis: max,
                }),
                extra_tlvs,
            },
        )
}

fn onion() -> impl Strategy<Value = OnionPacket> {
    vec(any::<u8>(), ONION_PACKET_LEN).prop_map(|v| {
        let mut packet = Box::new([0u8; ONION_PACKET_LEN]);
        packet.copy_from_slice(&v);
        OnionPacket(packet)
    })
}

fn update_add_htlc() -> impl Strategy<Value = UpdateAddHtlc> {
    (
        channel_id(),
        any::<(u64, u64, [u8; 32], u32)>(),
        onion(),
        proptest::option::of(pubkey()),
        extra_tlvs(),
    )
        .prop_map(
            |(channel_id, (id, amount_msat, payment_hash, cltv_expiry), onion, blinding, extra)| {
                UpdateAddHtlc {
                    channel_id,
                    id,
                    amount_msat,
                    payment_hash,
                    cltv_expiry,
                    onion_routing_packet: onion,
                    blinding_point: blinding,
                    extra_tlvs: extra,
                }
            },
        )
}

fn update_fulfill_htlc() -> impl Strategy<Value = UpdateFulfillHtlc> {
    (channel_id(), any::<u64>(), any::<[u8; 32]>(), extra_tlvs()).prop_map(
        |(channel_id, id, payment_preimage, extra_tlvs)| UpdateFulfillHtlc {
            channel_id,
            id,
            payment_preimage,
            extra_tlvs,
        },
    )
}

fn update_fail_htlc() -> impl Strategy<Value = UpdateFailHtlc> {
    (channel_id(), any::<u64>(), bytes(300), extra_tlvs()).prop_map(
        |(channel_id, id, reason, extra_tlvs)| UpdateFailHtlc {
            channel_id,
            id,
            reason,
            extra_tlvs,
        },
    )
}

fn update_fail_malformed_htlc() -> impl Strategy<Value = UpdateFailMalformedHtlc> {
    (
        channel_id(),
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<u16>(),
        extra_tlvs(),
    )
        .prop_map(
            |(channel_id, id, sha256_of_onion, failure_code, extra_tlvs)| UpdateFailMalformedHtlc {
                channel_id,
                id,
                sha256_of_onion,
                failure_code,
                extra_tlvs,
            },
        )
}

fn commitment_signed() -> impl Strategy<Value = CommitmentSigned> {
    (
        channel_id(),
        signature(),
        vec(signature(), 0..5),
        extra_tlvs(),
    )
        .prop_map(
            |(channel_id, signature, htlc_signatures, extra_tlvs)| CommitmentSigned {
                channel_id,
                signature,
                htlc_signatures,
                extra_tlvs,
            },
        )
}

fn revoke_and_ack() -> impl Strategy<Value = RevokeAndAck> {
    (channel_id(), any::<[u8; 32]>(), pubkey(), extra_tlvs()).prop_map(
        |(channel_id, secret, point, extra_tlvs)| RevokeAndAck {
            channel_id,
            per_commitment_secret: secret,
            next_per_commitment_point: point,
            extra_tlvs,
        },
    )
}

fn update_fee() -> impl Strategy<Value = UpdateFee> {
    (channel_id(), any::<u32>(), extra_tlvs()).prop_map(|(channel_id, feerate, extra_tlvs)| {
        UpdateFee {
            channel_id,
            feerate_per_kw: feerate,
            extra_tlvs,
        }
    })
}

fn channel_reestablish() -> impl Strategy<Value = ChannelReestablish> {
    (
        channel_id(),
        any::<(u64, u64, [u8; 32])>(),
        pubkey(),
        extra_tlvs(),
    )
        .prop_map(
            |(channel_id, (next_c, next_r, secret), point, extra_tlvs)| ChannelReestablish {
                channel_id,
                next_commitment_number: next_c,
                next_revocation_number: next_r,
                your_last_per_commitment_secret: secret,
                my_current_per_commitment_point: point,
                extra_tlvs,
            },
        )
}

fn channel_update() -> impl Strategy<Value = ChannelUpdate> {
    (
        signature(),
        any::<[u8; 32]>(),
        any::<(u64, u32, u8, u8, u16)>(),
        any::<(u64, u32, u32, u64)>(),
        bytes(40),
    )
        .prop_map(
            |(signature, chain, (scid, timestamp, mflags, cflags, delta), policy, excess_data)| {
                let (
                    htlc_minimum_msat,
                    fee_base_msat,
                    fee_proportional_millionths,
                    htlc_maximum_msat,
                ) = policy;
                ChannelUpdate {
                    signature,
                    chain_hash: ChainHash::from(chain),
                    short_channel_id: ShortChannelId(scid),
                    timestamp,
                    message_flags: mflags,
                    channel_flags: cflags,
                    cltv_expiry_delta: delta,
                    htlc_minimum_msat,
                    fee_base_msat,
                    fee_proportional_millionths,
                    htlc_maximum_msat,
                    excess_data,
                }
            },
        )
}

fn scid() -> impl Strategy<Value = ShortChannelId> {
    any::<u64>().prop_map(ShortChannelId)
}

fn chain_hash() -> impl Strategy<Value = ChainHash> {
    any::<[u8; 32]>().prop_map(ChainHash::from)
}

/// Address descriptors of every known type, in any order (the encoder sorts them).
pub fn net_address() -> impl Strategy<Value = NetAddress> {
    prop_oneof![
        any::<([u8; 4], u16)>().prop_map(|(a, port)| NetAddress::Ipv4 {
            addr: a.into(),
            port
        }),
        any::<([u8; 16], u16)>().prop_map(|(a, port)| NetAddress::Ipv6 {
            addr: a.into(),
            port
        }),
        (vec(any::<u8>(), 35), any::<u16>()).prop_map(|(o, port)| {
            let mut onion = [0u8; 35];
            onion.copy_from_slice(&o);
            NetAddress::TorV3 { onion, port }
        }),
        ("[a-z0-9.-]{0,255}", any::<u16>())
            .prop_map(|(host, port)| NetAddress::Hostname { host, port }),
    ]
}

fn announcement_signatures() -> impl Strategy<Value = AnnouncementSignatures> {
    (channel_id(), scid(), signature(), signature(), bytes(40)).prop_map(
        |(channel_id, short_channel_id, node_signature, bitcoin_signature, excess_data)| {
            AnnouncementSignatures {
                channel_id,
                short_channel_id,
                node_signature,
                bitcoin_signature,
                excess_data,
            }
        },
    )
}

fn channel_announcement() -> impl Strategy<Value = ChannelAnnouncement> {
    (
        [signature(), signature(), signature(), signature()],
        (features(), chain_hash(), scid()),
        [pubkey(), pubkey(), pubkey(), pubkey()],
        bytes(40),
    )
        .prop_map(
            |(
                [s1, s2, b1, b2],
                (features, chain_hash, short_channel_id),
                [n1, n2, k1, k2],
                excess_data,
            )| {
                ChannelAnnouncement {
                    node_signature_1: s1,
                    node_signature_2: s2,
                    bitcoin_signature_1: b1,
                    bitcoin_signature_2: b2,
                    contents: UnsignedChannelAnnouncement {
                        features,
                        chain_hash,
                        short_channel_id,
                        node_id_1: n1,
                        node_id_2: n2,
                        bitcoin_key_1: k1,
                        bitcoin_key_2: k2,
                        excess_data,
                    },
                }
            },
        )
}

fn node_announcement() -> impl Strategy<Value = NodeAnnouncement> {
    (
        signature(),
        features(),
        any::<(u32, [u8; 3], [u8; 32])>(),
        pubkey(),
        // Known descriptors, sometimes followed by bytes of an unknown type.
        (vec(net_address(), 0..4), bytes(20)),
        bytes(40),
    )
        .prop_map(
            |(
                signature,
                features,
                (timestamp, rgb_color, alias),
                node_id,
                (addrs, tail),
                excess_data,
            )| {
                let mut addresses = gossip::encode_addresses(&addrs).unwrap_or_default();
                addresses.extend(tail);
                NodeAnnouncement {
                    signature,
                    contents: UnsignedNodeAnnouncement {
                        features,
                        timestamp,
                        node_id,
                        rgb_color,
                        alias,
                        addresses,
                        excess_data,
                    },
                }
            },
        )
}

fn query_short_channel_ids() -> impl Strategy<Value = QueryShortChannelIds> {
    (
        chain_hash(),
        vec(scid(), 0..20),
        any::<bool>(),
        extra_tlvs(),
    )
        .prop_flat_map(|(chain_hash, ids, with_flags, extra_tlvs)| {
            let n = ids.len();
            let flags = if with_flags {
                vec(any::<u64>(), n).prop_map(Some).boxed()
            } else {
                Just(None).boxed()
            };
            flags.prop_map(move |query_flags| QueryShortChannelIds {
                chain_hash,
                short_channel_ids: ids.clone(),
                query_flags,
                extra_tlvs: extra_tlvs.clone(),
            })
        })
}

fn reply_short_channel_ids_end() -> impl Strategy<Value = ReplyShortChannelIdsEnd> {
    (chain_hash(), any::<u8>(), bytes(20)).prop_map(
        |(chain_hash, full_information, excess_data)| ReplyShortChannelIdsEnd {
            chain_hash,
            full_information,
            excess_data,
        },
    )
}

fn query_channel_range() -> impl Strategy<Value = QueryChannelRange> {
    (
        chain_hash(),
        any::<(u32, u32)>(),
        proptest::option::of(any::<u64>()),
        extra_tlvs(),
    )
        .prop_map(
            |(chain_hash, (first_blocknum, number_of_blocks), query_option, extra_tlvs)| {
                QueryChannelRange {
                    chain_hash,
                    first_blocknum,
                    number_of_blocks,
                    query_option,
                    extra_tlvs,
                }
            },
        )
}

fn reply_channel_range() -> impl Strategy<Value = ReplyChannelRange> {
    (
        chain_hash(),
        any::<(u32, u32, u8)>(),
        vec(scid(), 0..20),
        any::<(bool, bool)>(),
        extra_tlvs(),
    )
        .prop_flat_map(
            |(chain_hash, (first, number, complete), ids, (ts, cs), extra_tlvs)| {
                let n = ids.len();
                let pairs = move |on: bool| {
                    if on {
                        vec(any::<(u32, u32)>(), n).prop_map(Some).boxed()
                    } else {
                        Just(None).boxed()
                    }
                };
                (pairs(ts), pairs(cs)).prop_map(move |(timestamps, checksums)| ReplyChannelRange {
                    chain_hash,
                    first_blocknum: first,
                    number_of_blocks: number,
                    sync_complete: complete,
                    short_channel_ids: ids.clone(),
                    timestamps,
                    checksums,
                    extra_tlvs: extra_tlvs.clone(),
                })
            },
        )
}

fn gossip_timestamp_filter() -> impl Strategy<Value = GossipTimestampFilter> {
    (chain_hash(), any::<(u32, u32)>(), bytes(20)).prop_map(
        |(chain_hash, (first_timestamp, timestamp_range), excess_data)| GossipTimestampFilter {
            chain_hash,
            first_timestamp,
            timestamp_range,
            excess_data,
        },
    )
}

fn raw(types: impl Strategy<Value = u16>) -> impl Strategy<Value = RawMessage> {
    (types, bytes(100)).prop_map(|(msg_type, payload)| RawMessage { msg_type, payload })
}

fn unknown_odd_type() -> impl Strategy<Value = u16> {
    any::<u16>()
        .prop_map(|t| t | 1)
        .prop_filter("not a known type", |t| !Message::DECODED_TYPES.contains(t))
}

pub fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        diagnostic().prop_map(|d| Message::Warning(Warning(d))),
        init().prop_map(Message::Init),
        diagnostic().prop_map(|d| Message::Error(ErrorMessage(d))),
        ping().prop_map(Message::Ping),
        pong().prop_map(Message::Pong),
        open_channel().prop_map(Message::OpenChannel),
        accept_channel().prop_map(Message::AcceptChannel),
        funding_created().prop_map(Message::FundingCreated),
        funding_signed().prop_map(Message::FundingSigned),
        channel_ready().prop_map(Message::ChannelReady),
        shutdown().prop_map(Message::Shutdown),
        closing_signed().prop_map(Message::ClosingSigned),
        update_add_htlc().prop_map(Message::UpdateAddHtlc),
        update_fulfill_htlc().prop_map(Message::UpdateFulfillHtlc),
        update_fail_htlc().prop_map(Message::UpdateFailHtlc),
        commitment_signed().prop_map(Message::CommitmentSigned),
        revoke_and_ack().prop_map(Message::RevokeAndAck),
        update_fee().prop_map(Message::UpdateFee),
        update_fail_malformed_htlc().prop_map(Message::UpdateFailMalformedHtlc),
        channel_reestablish().prop_map(Message::ChannelReestablish),
        channel_update().prop_map(Message::ChannelUpdate),
        channel_announcement().prop_map(Message::ChannelAnnouncement),
        node_announcement().prop_map(Message::NodeAnnouncement),
        announcement_signatures().prop_map(Message::AnnouncementSignatures),
        query_short_channel_ids().prop_map(Message::QueryShortChannelIds),
        reply_short_channel_ids_end().prop_map(Message::ReplyShortChannelIdsEnd),
        query_channel_range().prop_map(Message::QueryChannelRange),
        reply_channel_range().prop_map(Message::ReplyChannelRange),
        gossip_timestamp_filter().prop_map(Message::GossipTimestampFilter),
        raw(unknown_odd_type()).prop_map(Message::Unknown),
    ]
}
