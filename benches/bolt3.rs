//! BOLT 3 benchmarks: building and signing commitments (as for `commitment_signed`: the funding
//! signature plus one signature per HTLC transaction) and deriving per-commitment keys.

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::SecretKey;
use bitcoin::{OutPoint, Txid};
use chanhub::bolt3::{
    ChannelHtlc, ChannelParameters, ChannelSecrets, ChannelSigner, ChannelType, CommitmentKeys,
    CommitmentState, InMemorySigner, PaymentPreimage, PerCommitmentSecrets, Side,
};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};

fn signer(b: u8) -> InMemorySigner {
    let k = |x: u8| SecretKey::from_slice(&[x; 32]).expect("valid key");
    InMemorySigner::new(ChannelSecrets {
        funding_key: k(b),
        revocation_base_secret: k(b + 1),
        payment_base_secret: k(b + 2),
        delayed_payment_base_secret: k(b + 3),
        htlc_base_secret: k(b + 4),
    })
}

fn setup(num_htlcs: usize) -> (ChannelParameters, CommitmentState) {
    let params = ChannelParameters {
        channel_type: ChannelType::AnchorsZeroFeeHtlc,
        funding_outpoint: OutPoint::new(Txid::from_byte_array([1; 32]), 0),
        funding_sat: 100_000_000,
        holder_pubkeys: signer(1).pubkeys(),
        counterparty_pubkeys: signer(20).pubkeys(),
        opener: Side::Holder,
        holder_to_self_delay: 144,
        counterparty_to_self_delay: 144,
        holder_dust_limit_sat: 354,
        counterparty_dust_limit_sat: 354,
    };
    let htlcs: Vec<ChannelHtlc> = (0..num_htlcs)
        .map(|i| ChannelHtlc {
            offerer: if i % 2 == 0 {
                Side::Holder
            } else {
                Side::Counterparty
            },
            amount_msat: 10_000_000 + i as u64 * 1000,
            payment_hash: PaymentPreimage([(i % 251) as u8; 32]).payment_hash(),
            cltv_expiry: 800_000 + i as u32,
        })
        .collect();
    let in_flight: u64 = htlcs.iter().map(|h| h.amount_msat).sum();
    let state = CommitmentState {
        commitment_number: 1000,
        holder_msat: 60_000_000_000 - in_flight,
        counterparty_msat: 40_000_000_000,
        htlcs,
        feerate_per_kw: 2500,
    };
    (params, state)
}

fn build_and_sign(c: &mut Criterion) {
    let counterparty = signer(20);
    let point = PerCommitmentSecrets::new([7; 32])
        .point(1000)
        .expect("valid point");
    let mut group = c.benchmark_group("commitment_build_and_sign");
    group.sample_size(10);
    for n in [0usize, 10, 483] {
        let (params, state) = setup(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                // The counterparty's commitment_signed for our commitment.
                let commit = params
                    .build_commitment(Side::Holder, &state, &point)
                    .expect("commitment");
                let sig = commit.sign(&counterparty).expect("funding signature");
                let htlc_sigs: Vec<_> = commit
                    .htlc_txs()
                    .expect("htlc txs")
                    .iter()
                    .map(|t| t.sign_as_remote(&counterparty).expect("htlc signature"))
                    .collect();
                black_box((sig, htlc_sigs))
            })
        });
    }
    group.finish();
}

fn derive_keys(c: &mut Criterion) {
    let (params, _) = setup(0);
    let secrets = PerCommitmentSecrets::new([7; 32]);
    c.bench_function("per_commitment_keys", |b| {
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            let point = secrets.point(n).expect("point");
            black_box(
                CommitmentKeys::derive(
                    params.channel_type,
                    &params.holder_pubkeys,
                    &params.counterparty_pubkeys,
                    &point,
                )
                .expect("keys"),
            )
        })
    });
}

criterion_group!(benches, build_and_sign, derive_keys);
criterion_main!(benches);
