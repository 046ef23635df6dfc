//! bob receives multi-part and keysend payments. alice builds the onions herself (the parts of
//! one payment, a keysend preimage) and offers them on her channel to the hub, which forwards
//! them as any HTLC; bob holds the parts until the total arrives, fails an incomplete set back
//! after its (shortened) timeout, and takes keysend because his node accepts it. The hub, which
//! does not, refuses one.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, SecretKey};
use chanhub::channel::{Command, Event};
use chanhub::invoice::Invoice;
use chanhub::node::channels::ChannelEvent;
use chanhub::onion::{
    construct_onion, decrypt_failure, ErrorPacket, FinalPayload, ForwardPayload, HopPayload,
    OnionHop, PaymentData, PaymentSecret, SharedSecret,
};
use chanhub::wire::TlvStream;
use tokio::sync::broadcast;

use super::*;

/// What bob's final payload says.
struct ToBob {
    amount_msat: u64,
    /// `payment_data`: the secret and the total.
    data: Option<([u8; 32], u64)>,
    keysend: Option<[u8; 32]>,
}

/// An HTLC from alice through the hub to bob, and the onion's shared secrets to read a
/// failure with.
async fn htlc_to_bob(
    net: &Net,
    hash: [u8; 32],
    to: ToBob,
    session: u8,
) -> (Command, Vec<SharedSecret>) {
    let hint = net.bob.node.channels().route_hints().await.unwrap()[0].0[0];
    let height = height(&net.alice).await;
    let final_cltv = height + 60;
    let mut last = FinalPayload {
        amt_to_forward: to.amount_msat,
        outgoing_cltv_value: final_cltv,
        payment_data: to.data.map(|(secret, total_msat)| PaymentData {
            payment_secret: PaymentSecret(secret),
            total_msat,
        }),
        payment_metadata: None,
        extra: TlvStream::new(),
    };
    if let Some(p) = to.keysend {
        last.set_keysend_preimage(p);
    }
    let hub_hop = ForwardPayload {
        short_channel_id: hint.short_channel_id,
        amt_to_forward: to.amount_msat,
        outgoing_cltv_value: final_cltv,
        extra: TlvStream::new(),
    };
    let bob: PublicKey = net.bob.id().parse().unwrap();
    let hops = [
        OnionHop {
            node_id: hint.src_node_id,
            payload: HopPayload::Forward(hub_hop).encode(),
        },
        OnionHop {
            node_id: bob,
            payload: HopPayload::Final(last).encode(),
        },
    ];
    let session = SecretKey::from_slice(&[session; 32]).unwrap();
    let onion = construct_onion(&session, &hops, &hash).unwrap();
    let add = Command::AddHtlc {
        amount_msat: to.amount_msat + hub_fee(to.amount_msat),
        payment_hash: hash,
        cltv_expiry: final_cltv + u32::from(hint.cltv_expiry_delta),
        onion: onion.packet.0.to_vec(),
        extra_fee_msat: None,
    };
    (add, onion.shared_secrets)
}

async fn height(n: &TestNode) -> u32 {
    n.api.get("/v1/info").await.unwrap()["block_height"]
        .as_u64()
        .unwrap() as u32
}

fn channel_id(hex_id: &str) -> [u8; 32] {
    hex::decode(hex_id).unwrap().try_into().unwrap()
}

type Outcome = Result<[u8; 32], (usize, String)>;

/// Waits for alice's HTLCs `ids` to be settled, each `Ok(preimage)` or `Err((hop, failure
/// name))`, in the order asked (they may settle in any order).
async fn outcomes(
    events: &mut broadcast::Receiver<ChannelEvent>,
    htlcs: &[(u64, &[SharedSecret])],
) -> Vec<Outcome> {
    let asked = |id: &u64| htlcs.iter().any(|(i, _)| i == id);
    let got = collect(events, htlcs.len(), |e| match e {
        Event::HtlcFulfilled { id, preimage } if asked(id) => Some((*id, Ok(*preimage))),
        Event::HtlcFailed { id, reason, .. } if asked(id) => Some((*id, Err(reason.clone()))),
        _ => None,
    })
    .await;
    htlcs
        .iter()
        .map(|(id, secrets)| {
            let (_, r) = got
                .iter()
                .find(|(i, _)| i == id)
                .unwrap_or_else(|| panic!("HTLC {id} not settled: {got:?}"));
            r.clone().map_err(|reason| {
                let f = decrypt_failure(secrets, &ErrorPacket(reason)).unwrap();
                (f.hop_index, f.failure.unwrap().message.name().to_string())
            })
        })
        .collect()
}

async fn outcome(
    events: &mut broadcast::Receiver<ChannelEvent>,
    id: u64,
    secrets: &[SharedSecret],
) -> Outcome {
    outcomes(events, &[(id, secrets)]).await.remove(0)
}

/// alice offers `add` on her channel to the hub and returns its HTLC id.
async fn offer(net: &Net, offers: &mut broadcast::Receiver<ChannelEvent>, add: Command) -> u64 {
    let Command::AddHtlc { payment_hash, .. } = add else {
        panic!("an add");
    };
    let channels = net.alice.node.channels();
    channels.command(channel_id(&net.ah), add).await.unwrap();
    collect(offers, 1, |e| match e {
        Event::HtlcOffered {
            id,
            payment_hash: h,
        } if *h == payment_hash => Some(*id),
        _ => None,
    })
    .await[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bob_holds_parts_until_the_total_times_out_a_lone_part_and_takes_keysend() {
    let net = three_nodes_with(|bob| {
        bob.accept_keysend = true;
        bob.mpp_timeout = Duration::from_secs(2);
    })
    .await;
    let start = balances(&net).await;
    let mut alice_events = net.alice.node.channels().subscribe();
    let mut offers = net.alice.node.channels().subscribe();
    let mut bob_log = net.bob.node.channels().subscribe_events();
    let mut paid_to_bob = 0;
    let mut fees = 0;

    // Two parts of one 3,000,000 msat invoice: the first is held, the second completes it.
    let (bolt11, hash) = invoice(&net.bob, Some(3_000_000), "split").await;
    let secret = Invoice::parse(&bolt11, bitcoin::Network::Regtest)
        .unwrap()
        .payment_secret()
        .0;
    let part = |amount_msat| ToBob {
        amount_msat,
        data: Some((secret, 3_000_000)),
        keysend: None,
    };
    let (add1, s1) = htlc_to_bob(&net, hash_of(&hash), part(1_000_000), 1).await;
    let (add2, s2) = htlc_to_bob(&net, hash_of(&hash), part(2_000_000), 2).await;
    let id1 = offer(&net, &mut offers, add1).await;
    net.bob
        .wait_channel(&net.hb, "bob holds the first part", |c| {
            c["pending_htlcs"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    let inv = net
        .bob
        .api
        .get(&format!("/v1/invoices/{hash}"))
        .await
        .unwrap();
    assert_eq!(inv["status"], "open", "one part pays nothing: {inv}");
    let id2 = offer(&net, &mut offers, add2).await;
    let both = outcomes(&mut alice_events, &[(id1, &s1), (id2, &s2)]).await;
    let p1 = both[0].clone().unwrap();
    assert_eq!(both[1], Ok(p1), "both parts settle with the one preimage");
    assert_eq!(sha256::Hash::hash(&p1).to_byte_array(), hash_of(&hash));
    let inv = net
        .bob
        .api
        .get(&format!("/v1/invoices/{hash}"))
        .await
        .unwrap();
    assert_eq!(inv["status"], "paid");
    assert_eq!(inv["received_msat"], 3_000_000);
    paid_to_bob += 3_000_000;
    fees += hub_fee(1_000_000) + hub_fee(2_000_000);
    let ev = tokio::time::timeout(PATIENCE, bob_log.recv())
        .await
        .unwrap()
        .unwrap();
    let ev = serde_json::to_value(&ev).unwrap();
    assert_eq!(ev["type"], "invoice_paid", "{ev}");
    assert!(ev.to_string().contains("3000000"), "the sum: {ev}");
    assert_eq!(
        balances(&net).await,
        (start.0 - paid_to_bob - fees, start.1 + fees, paid_to_bob)
    );

    // A lone part of a 2,000,000 msat invoice: failed back with mpp_timeout after 2 s, and
    // the invoice is still payable in one go.
    let (bolt11, hash) = invoice(&net.bob, Some(2_000_000), "never complete").await;
    let secret = Invoice::parse(&bolt11, bitcoin::Network::Regtest)
        .unwrap()
        .payment_secret()
        .0;
    let lone = ToBob {
        amount_msat: 1_000_000,
        data: Some((secret, 2_000_000)),
        keysend: None,
    };
    let (add, s) = htlc_to_bob(&net, hash_of(&hash), lone, 3).await;
    let offered_at = Instant::now();
    let id = offer(&net, &mut offers, add).await;
    let failed = outcome(&mut alice_events, id, &s).await.unwrap_err();
    assert_eq!(failed, (1, "mpp_timeout".to_string()), "from bob");
    assert!(offered_at.elapsed() >= Duration::from_secs(2));
    assert_eq!(
        balances(&net).await,
        (start.0 - paid_to_bob - fees, start.1 + fees, paid_to_bob),
        "nothing moved"
    );
    let inv = net
        .bob
        .api
        .get(&format!("/v1/invoices/{hash}"))
        .await
        .unwrap();
    assert_eq!(inv["status"], "open");
    assert_eq!(pay(&net.alice, &bolt11).await["status"], "succeeded");
    paid_to_bob += 2_000_000;
    fees += hub_fee(2_000_000);

    // Keysend, one part: bob has no invoice, the preimage comes in the onion.
    let preimage = [0x5a; 32];
    let ks_hash = sha256::Hash::hash(&preimage).to_byte_array();
    let ks = ToBob {
        amount_msat: 500_000,
        data: None,
        keysend: Some(preimage),
    };
    let (add, s) = htlc_to_bob(&net, ks_hash, ks, 4).await;
    let id = offer(&net, &mut offers, add).await;
    assert_eq!(outcome(&mut alice_events, id, &s).await, Ok(preimage));
    paid_to_bob += 500_000;
    fees += hub_fee(500_000);
    let ks_hex = hex::encode(ks_hash);
    let rec = net
        .bob
        .api
        .get(&format!("/v1/invoices/{ks_hex}"))
        .await
        .unwrap();
    assert_eq!(rec["status"], "paid", "{rec}");
    assert_eq!(rec["bolt11"], "");
    assert_eq!(rec["description"], "keysend");
    assert_eq!(rec["received_msat"], 500_000);
    let listed = net.bob.api.get("/v1/invoices").await.unwrap();
    assert!(listed.to_string().contains(&ks_hex), "{listed}");

    // The same keysend again pays nothing: the hash is paid.
    let again = ToBob {
        amount_msat: 500_000,
        data: None,
        keysend: Some(preimage),
    };
    let (add, s) = htlc_to_bob(&net, ks_hash, again, 5).await;
    let id = offer(&net, &mut offers, add).await;
    let failed = outcome(&mut alice_events, id, &s).await.unwrap_err();
    assert_eq!(
        failed,
        (1, "incorrect_or_unknown_payment_details".to_string())
    );

    // A preimage that is not the hash's.
    let wrong = ToBob {
        amount_msat: 500_000,
        data: None,
        keysend: Some([0x5b; 32]),
    };
    let (add, s) = htlc_to_bob(&net, [0x33; 32], wrong, 6).await;
    let id = offer(&net, &mut offers, add).await;
    let failed = outcome(&mut alice_events, id, &s).await.unwrap_err();
    assert_eq!(
        failed,
        (1, "incorrect_or_unknown_payment_details".to_string())
    );

    // Keysend in two parts, tied by the sender's own secret and total.
    let preimage = [0x6c; 32];
    let ks_hash = sha256::Hash::hash(&preimage).to_byte_array();
    let ks_part = |amount_msat| ToBob {
        amount_msat,
        data: Some(([0x77; 32], 600_000)),
        keysend: Some(preimage),
    };
    let (add1, s1) = htlc_to_bob(&net, ks_hash, ks_part(200_000), 7).await;
    let (add2, s2) = htlc_to_bob(&net, ks_hash, ks_part(400_000), 8).await;
    let id1 = offer(&net, &mut offers, add1).await;
    let id2 = offer(&net, &mut offers, add2).await;
    let both = outcomes(&mut alice_events, &[(id1, &s1), (id2, &s2)]).await;
    assert_eq!(both, vec![Ok(preimage), Ok(preimage)]);
    paid_to_bob += 600_000;
    fees += hub_fee(200_000) + hub_fee(400_000);
    let rec = net
        .bob
        .api
        .get(&format!("/v1/invoices/{}", hex::encode(ks_hash)))
        .await
        .unwrap();
    assert_eq!(rec["received_msat"], 600_000, "{rec}");

    // The hub does not take keysend (off by default).
    let preimage = [0x7d; 32];
    let hub_hash = sha256::Hash::hash(&preimage).to_byte_array();
    let mut last = FinalPayload {
        amt_to_forward: 100_000,
        outgoing_cltv_value: height(&net.alice).await + 60,
        payment_data: None,
        payment_metadata: None,
        extra: TlvStream::new(),
    };
    last.set_keysend_preimage(preimage);
    let cltv = last.outgoing_cltv_value;
    let hops = [OnionHop {
        node_id: net.hub.id().parse().unwrap(),
        payload: HopPayload::Final(last).encode(),
    }];
    let session = SecretKey::from_slice(&[9; 32]).unwrap();
    let onion = construct_onion(&session, &hops, &hub_hash).unwrap();
    let add = Command::AddHtlc {
        amount_msat: 100_000,
        payment_hash: hub_hash,
        cltv_expiry: cltv,
        onion: onion.packet.0.to_vec(),
        extra_fee_msat: None,
    };
    let id = offer(&net, &mut offers, add).await;
    let failed = outcome(&mut alice_events, id, &onion.shared_secrets)
        .await
        .unwrap_err();
    assert_eq!(
        failed,
        (0, "incorrect_or_unknown_payment_details".to_string())
    );

    assert_eq!(
        balances(&net).await,
        (start.0 - paid_to_bob - fees, start.1 + fees, paid_to_bob),
        "what bob received, and the hub's fees, and nothing else moved"
    );

    // bob restarts holding one part: the channel delivers it again and the second part
    // completes the set (the restarted bob holds parts for the full 60 s).
    let (bolt11, hash) = invoice(&net.bob, Some(1_500_000), "across a restart").await;
    let secret = Invoice::parse(&bolt11, bitcoin::Network::Regtest)
        .unwrap()
        .payment_secret()
        .0;
    let part = |amount_msat| ToBob {
        amount_msat,
        data: Some((secret, 1_500_000)),
        keysend: None,
    };
    let (add1, s1) = htlc_to_bob(&net, hash_of(&hash), part(500_000), 10).await;
    let (add2, s2) = htlc_to_bob(&net, hash_of(&hash), part(1_000_000), 11).await;
    let id1 = offer(&net, &mut offers, add1).await;
    net.bob
        .wait_channel(&net.hb, "bob holds the first part", |c| {
            c["pending_htlcs"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    let Net {
        alice,
        hub,
        bob,
        ah,
        hb,
        _tmp,
    } = net;
    let listen = bob.node.node_json.peer_addr;
    let dir = bob.dir.clone();
    bob.node.shutdown().await;
    let config = node_config(&dir, Some(&hub), listen, false);
    let bob = start_config(config).await;
    let net = Net {
        alice,
        hub,
        bob,
        ah,
        hb,
        _tmp,
    };
    // The hub dialled bob when it opened the channel; bob, back, dials the hub.
    let _ = net
        .bob
        .api
        .post(
            "/v1/peers",
            serde_json::json!({ "node_id": net.hub.id(), "addr": net.hub.peer_addr() }),
        )
        .await;
    for n in [&net.hub, &net.bob] {
        n.wait_channel(&net.hb, "hub and bob reconnected", |c| {
            c["peer_connected"] == true
        })
        .await;
    }
    let id2 = offer(&net, &mut offers, add2).await;
    let both = outcomes(&mut alice_events, &[(id1, &s1), (id2, &s2)]).await;
    let p = both[0].clone().unwrap();
    assert_eq!(both[1], Ok(p));
    let inv = net
        .bob
        .api
        .get(&format!("/v1/invoices/{hash}"))
        .await
        .unwrap();
    assert_eq!(inv["status"], "paid");
    assert_eq!(inv["received_msat"], 1_500_000);
    paid_to_bob += 1_500_000;
    fees += hub_fee(500_000) + hub_fee(1_000_000);
    assert_eq!(
        balances(&net).await,
        (start.0 - paid_to_bob - fees, start.1 + fees, paid_to_bob)
    );
}
