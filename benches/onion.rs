//! Payment codec costs per operation: building a 5- and 20-hop onion (the sender, per HTLC),
//! peeling one layer (every hop, per HTLC), a failure's round trip over 5 hops, and BOLT 11
//! parse and create.
//!
//! Run with `cargo bench --bench onion`.

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::Network;
use chanhub::bolt3::PaymentHash;
use chanhub::invoice::{Invoice, InvoiceDescription, InvoiceParams};
use chanhub::onion::{
    construct_onion, create_error_packet, decrypt_failure, forward_error_packet, process_onion,
    FailureMessage, ForwardPayload, HopPayload, OnionFailure, OnionHop, PaymentSecret,
};
use chanhub::wire::{ShortChannelId, TlvStream};
use criterion::{criterion_group, criterion_main, Criterion};

fn key(i: u8) -> SecretKey {
    SecretKey::from_slice(&[i; 32]).unwrap()
}

fn route(n: u8) -> Vec<OnionHop> {
    let secp = Secp256k1::new();
    (1..=n)
        .map(|i| OnionHop {
            node_id: key(i).public_key(&secp),
            payload: HopPayload::Forward(ForwardPayload {
                short_channel_id: ShortChannelId(u64::from(i)),
                amt_to_forward: 1_000_000,
                outgoing_cltv_value: 800_000,
                extra: TlvStream::new(),
            })
            .encode(),
        })
        .collect()
}

fn onion(c: &mut Criterion) {
    let hash = [7u8; 32];
    for hops in [5u8, 20] {
        let r = route(hops);
        c.bench_function(&format!("construct_{hops}_hops"), |b| {
            b.iter(|| construct_onion(&key(99), &r, &hash).unwrap())
        });
    }
    let sent = construct_onion(&key(99), &route(5), &hash).unwrap();
    c.bench_function("peel_one_hop", |b| {
        b.iter(|| process_onion(&key(1), &sent.packet, &hash).unwrap())
    });
    let failure = OnionFailure::from(FailureMessage::TemporaryNodeFailure);
    c.bench_function("error_round_trip_5_hops", |b| {
        b.iter(|| {
            let mut p = create_error_packet(&sent.shared_secrets[4], &failure).unwrap();
            for s in sent.shared_secrets[..4].iter().rev() {
                forward_error_packet(s, &mut p);
            }
            decrypt_failure(&sent.shared_secrets, &p).unwrap()
        })
    });
}

fn invoice(c: &mut Criterion) {
    let params = InvoiceParams::new(
        Network::Regtest,
        Some(50_000),
        InvoiceDescription::Direct("coffee".into()),
        PaymentHash([1; 32]),
        PaymentSecret([2; 32]),
        1_700_000_000,
    );
    c.bench_function("invoice_create", |b| {
        b.iter(|| Invoice::create(params.clone(), &key(3)).unwrap())
    });
    let s = Invoice::create(params.clone(), &key(3))
        .unwrap()
        .to_string();
    c.bench_function("invoice_parse", |b| {
        b.iter(|| Invoice::parse(&s, Network::Regtest).unwrap())
    });
}

criterion_group!(benches, onion, invoice);
criterion_main!(benches);
