//! The BOLT 4 test vectors, byte for byte. The data lives in `testdata/`: the spec's two JSON
//! files unchanged, and the "Returning Errors" trace of the spec's appendix as JSON.

use bitcoin::secp256k1::{PublicKey, SecretKey};
use serde_json::Value;

use super::error_onion::raw_error_packet;
use super::*;
use crate::wire::{bigsize, Reader, ShortChannelId, TlvStream};

const ONION_TEST: &str = include_str!("testdata/onion-test.json");
const ERROR_TEST: &str = include_str!("testdata/onion-error-test.json");
const ERROR_TRACE: &str = include_str!("testdata/onion-error-trace.json");

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("fixture is valid JSON")
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn arr32(v: &Value) -> [u8; 32] {
    bytes(v).try_into().expect("32 bytes")
}

fn secret_key(v: &Value) -> SecretKey {
    SecretKey::from_slice(&bytes(v)).expect("valid secret key")
}

fn pubkey(v: &Value) -> PublicKey {
    PublicKey::from_slice(&bytes(v)).expect("valid public key")
}

/// The JSON payloads carry their bigsize length prefix; our API takes the bare TLV stream.
fn strip_length(framed: &[u8]) -> Vec<u8> {
    let mut r = Reader::new(framed);
    let len = bigsize::read(&mut r).unwrap();
    assert_eq!(len as usize, r.remaining(), "prefix covers the payload");
    r.read_rest().to_vec()
}

fn onion_test_route(v: &Value) -> Vec<OnionHop> {
    v["generate"]["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| OnionHop {
            node_id: pubkey(&h["pubkey"]),
            payload: strip_length(&bytes(&h["payload"])),
        })
        .collect()
}

#[test]
fn onion_construction_matches_the_vector() {
    let v = json(ONION_TEST);
    let sent = construct_onion(
        &secret_key(&v["generate"]["session_key"]),
        &onion_test_route(&v),
        &arr32(&v["generate"]["associated_data"]),
    )
    .unwrap();
    assert_eq!(
        hex::encode(&sent.packet.0[..]),
        v["onion"].as_str().unwrap()
    );
}

#[test]
fn every_hop_peels_its_payload_from_the_vector_onion() {
    let v = json(ONION_TEST);
    let route = onion_test_route(&v);
    let ad = arr32(&v["generate"]["associated_data"]);
    let mut packet =
        crate::wire::OnionPacket(bytes(&v["onion"]).into_boxed_slice().try_into().unwrap());
    let keys = v["decode"].as_array().unwrap();
    assert_eq!(keys.len(), route.len());
    for (i, (key, hop)) in keys.iter().zip(&route).enumerate() {
        let peeled = peel(&secret_key(key), &packet, &ad).unwrap();
        assert_eq!(peeled.payload, hop.payload, "hop {i}");
        let processed = process_onion(&secret_key(key), &packet, &ad).unwrap();
        match (processed, peeled.next_packet) {
            (
                Processed::Forward {
                    payload,
                    next_packet,
                    ..
                },
                Some(next),
            ) => {
                assert_eq!(payload.short_channel_id, ShortChannelId(i as u64 + 1));
                assert_eq!(next_packet, next);
                packet = next;
            }
            (Processed::Final { payload, .. }, None) => {
                assert_eq!(i, route.len() - 1);
                assert_eq!(payload.amt_to_forward, 10_000);
                assert_eq!(payload.outgoing_cltv_value, 1000);
                let pd = payload.payment_data.unwrap();
                assert_eq!(pd.total_msat, 10_000);
                assert_eq!(
                    hex::encode(pd.payment_secret.0),
                    "24a33562c54507a9334e79f0dc4f17d407e6d7c61f0e2f3d0d38599502f61704"
                );
                // The unknown odd record 301 is kept as sent.
                assert_eq!(payload.extra.get(301), Some(&[0x2a; 224][..]));
            }
            (p, n) => panic!("hop {i}: unexpected {p:?} with next packet {}", n.is_some()),
        }
    }
    // The second hop's payload has the unknown odd type 513, which must not stop it.
    let hop1 = HopPayload::decode(&route[1].payload, false).unwrap();
    let HopPayload::Forward(f) = hop1 else {
        panic!("forward payload")
    };
    assert_eq!(f.extra.records().len(), 1);
    assert_eq!(f.extra.records()[0].typ, 513);
}

#[test]
fn simple_error_onion_matches_the_vector() {
    let v = json(ERROR_TEST);
    let g = &v["generate"];
    let hops = g["hops"].as_array().unwrap();
    let route: Vec<PublicKey> = hops.iter().map(|h| pubkey(&h["pubkey"])).collect();
    let keys = hop_keys(&secret_key(&g["session_key"]), &route).unwrap();
    for (k, h) in keys.iter().zip(hops) {
        assert_eq!(k.shared_secret.0, arr32(&h["hop_shared_secret"]));
        assert_eq!(k.shared_secret.ammag(), arr32(&h["ammag_key"]));
    }
    let secrets: Vec<SharedSecret> = keys.iter().map(|k| k.shared_secret).collect();
    let failing = &hops[4];
    assert_eq!(secrets[4].um(), arr32(&failing["um_key"]));

    let failure = OnionFailure::decode(&bytes(&g["failure_message"])).unwrap();
    assert_eq!(failure.message, FailureMessage::TemporaryNodeFailure);
    let raw = raw_error_packet(&secrets[4], &failure.encode()).unwrap();
    // The vector's payload is the packet without its leading HMAC.
    assert_eq!(raw[32..], bytes(&failing["payload"])[..]);

    let mut packet = create_error_packet(&secrets[4], &failure).unwrap();
    for s in secrets[..4].iter().rev() {
        forward_error_packet(s, &mut packet);
    }
    assert_eq!(hex::encode(&packet.0), v["errorpacket"].as_str().unwrap());
    let got = decrypt_failure(&secrets, &packet).unwrap();
    assert_eq!(got.hop_index, 4);
    assert_eq!(got.failure, Ok(failure));
}

#[test]
fn error_trace_with_tlv_extension_matches_the_vector() {
    let v = json(ERROR_TRACE);
    let route: Vec<PublicKey> = v["pubkeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(pubkey)
        .collect();
    let secrets: Vec<SharedSecret> = hop_keys(&secret_key(&v["session_key"]), &route)
        .unwrap()
        .iter()
        .map(|k| k.shared_secret)
        .collect();
    let source = v["failure_source"].as_u64().unwrap() as usize;
    assert_eq!(secrets[source].0, arr32(&v["shared_secret"]));
    assert_eq!(secrets[source].um(), arr32(&v["um_key"]));

    let mut tlvs = TlvStream::new();
    tlvs.insert(34001, vec![128; 300]);
    let failure = OnionFailure {
        message: FailureMessage::IncorrectOrUnknownPaymentDetails {
            htlc_msat: 100,
            height: 800_000,
        },
        tlvs,
    };
    // The trace's "encoded failure message" runs on through pad_len and the padding.
    let encoded = bytes(&v["encoded_failure_message"]);
    assert_eq!(failure.encode(), encoded[..320]);
    let raw = raw_error_packet(&secrets[source], &failure.encode()).unwrap();
    assert_eq!(raw[34..], encoded[..]);
    assert_eq!(raw[32..], bytes(&v["payload"])[..]);
    assert_eq!(raw, bytes(&v["raw_error_packet"]));

    let mut packet = ErrorPacket(raw);
    for step in v["forwarding"].as_array().unwrap() {
        let node = step["node"].as_u64().unwrap() as usize;
        let secret = &secrets[node];
        assert_eq!(secret.0, arr32(&step["shared_secret"]));
        assert_eq!(secret.ammag(), arr32(&step["ammag_key"]));
        let stream = bytes(&step["stream"]);
        assert_eq!(crypto::stream(&secret.ammag(), stream.len()), stream);
        forward_error_packet(secret, &mut packet);
        assert_eq!(
            hex::encode(&packet.0),
            step["error_packet"].as_str().unwrap(),
            "node {node}"
        );
    }
    let got = decrypt_failure(&secrets, &packet).unwrap();
    assert_eq!(got.hop_index, source);
    assert_eq!(got.failure, Ok(failure));
}

#[test]
fn attribution_data_matches_the_vector_on_failure_and_success() {
    let v = json(ERROR_TRACE);
    let route: Vec<PublicKey> = v["pubkeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(pubkey)
        .collect();
    let secrets: Vec<SharedSecret> = hop_keys(&secret_key(&v["session_key"]), &route)
        .unwrap()
        .iter()
        .map(|k| k.shared_secret)
        .collect();
    // The trace lists hold times 1..=5; they were applied in return order: the failing node
    // (4) held for 1 unit, node 0 for 5.
    let hold = |node: usize| 5 - node as u32;
    let mut tlvs = TlvStream::new();
    tlvs.insert(34001, vec![128; 300]);
    let failure = OnionFailure {
        message: FailureMessage::IncorrectOrUnknownPaymentDetails {
            htlc_msat: 100,
            height: 800_000,
        },
        tlvs,
    };

    let steps = v["forwarding"].as_array().unwrap();
    let (mut packet, mut ad) = create_attributed_error(&secrets[4], &failure, hold(4)).unwrap();
    assert_eq!(
        hex::encode(&packet.0),
        steps[0]["error_packet"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(ad.as_bytes()),
        steps[0]["attribution_data"].as_str().unwrap()
    );
    for step in &steps[1..] {
        let node = step["node"].as_u64().unwrap() as usize;
        ad = forward_attributed_error(&secrets[node], &mut packet, Some(ad), hold(node));
        assert_eq!(
            hex::encode(&packet.0),
            step["error_packet"].as_str().unwrap(),
            "node {node}"
        );
        assert_eq!(
            hex::encode(ad.as_bytes()),
            step["attribution_data"].as_str().unwrap(),
            "node {node}"
        );
    }
    let (got, attribution) = read_failure_attribution(&secrets, &packet, &ad);
    assert_eq!(got.unwrap().hop_index, 4);
    assert_eq!(
        attribution,
        Attribution {
            hold_times: vec![5, 4, 3, 2, 1],
            first_invalid: None
        }
    );

    let mut ad: Option<AttributionData> = None;
    for step in v["success_attribution_data"].as_array().unwrap() {
        let node = step["node"].as_u64().unwrap() as usize;
        let next = attribute_fulfill(&secrets[node], ad.take(), hold(node));
        assert_eq!(
            hex::encode(next.as_bytes()),
            step["attribution_data"].as_str().unwrap(),
            "node {node}"
        );
        ad = Some(next);
    }
    let ad = ad.unwrap();
    assert_eq!(
        read_fulfill_attribution(&secrets, &ad),
        Attribution {
            hold_times: vec![5, 4, 3, 2, 1],
            first_invalid: None
        }
    );
}
