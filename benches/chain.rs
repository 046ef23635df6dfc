//! Embedded chain throughput: empty blocks mined and validated by the kernel per second, and
//! 1-in/2-out P2WPKH transactions accepted into the mempool and mined per second.
//! Run with `scripts/bench chain`.

#[path = "../integration/chain_support/mod.rs"]
mod chain_support;

use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::{Amount, ScriptBuf, Sequence, TxOut};
use chain_support::{mature_coins, unsigned, Coin, Key};
use chanhub::chain::regtest::RegtestNode;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const BLOCKS_PER_ITER: u32 = 100;
const TXS_PER_ITER: usize = 500;

fn burn() -> ScriptBuf {
    ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::all_zeros())
}

/// The kernel runs Bitcoin Core's regtest consistency checks (`CheckBlockIndex`, which walks the
/// whole block index) after every block, so the cost per block grows with the chain: each
/// iteration starts from a fresh chain to measure the first `BLOCKS_PER_ITER` blocks.
fn empty_blocks(c: &mut Criterion) {
    let mut g = c.benchmark_group("chain");
    g.throughput(Throughput::Elements(BLOCKS_PER_ITER as u64));
    g.bench_function("empty_blocks_mined_and_validated", |b| {
        b.iter_batched(
            || RegtestNode::in_memory().expect("node"),
            |node| {
                node.generate_to_script(BLOCKS_PER_ITER, &burn())
                    .expect("mine")
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// One coin split into `n` P2WPKH outputs, confirmed.
fn fan_out(node: &RegtestNode, key: &Key, n: usize) -> Vec<Coin> {
    let coin = mature_coins(node, key, 1).remove(0);
    let each = (coin.txout.value - Amount::from_sat(100_000)) / n as u64;
    let outputs = (0..n)
        .map(|_| TxOut {
            value: each,
            script_pubkey: key.p2wpkh(),
        })
        .collect();
    let mut tx = unsigned(&[(coin.outpoint, Sequence::MAX)], outputs);
    key.sign_p2wpkh(&mut tx, 0, coin.txout.value);
    node.submit(tx.clone()).expect("fan-out accepted");
    node.generate_to_script(1, &burn()).expect("mine");
    let txid = tx.compute_txid();
    (0..n)
        .map(|i| Coin {
            outpoint: bitcoin::OutPoint::new(txid, i as u32),
            txout: tx.output[i].clone(),
        })
        .collect()
}

fn payments(c: &mut Criterion) {
    let node = RegtestNode::in_memory().expect("node");
    let key = Key::new(42);
    let mut coins = fan_out(&node, &key, TXS_PER_ITER);
    let mut g = c.benchmark_group("chain");
    g.throughput(Throughput::Elements(TXS_PER_ITER as u64));
    g.sample_size(10);
    g.bench_function("p2wpkh_1in_2out_accepted_and_mined", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Signing is the wallet's cost, not the chain's: done before the clock starts.
                let txs: Vec<_> = coins
                    .iter()
                    .map(|coin| {
                        let pay = Amount::from_sat(10_000);
                        let change = coin.txout.value - pay - Amount::from_sat(500);
                        let mut tx = unsigned(
                            &[(coin.outpoint, Sequence::MAX)],
                            vec![
                                TxOut {
                                    value: change,
                                    script_pubkey: key.p2wpkh(),
                                },
                                TxOut {
                                    value: pay,
                                    script_pubkey: burn(),
                                },
                            ],
                        );
                        key.sign_p2wpkh(&mut tx, 0, coin.txout.value);
                        tx
                    })
                    .collect();
                let start = Instant::now();
                for tx in &txs {
                    node.submit(tx.clone()).expect("accepted");
                }
                node.generate_to_script(1, &burn()).expect("mine");
                total += start.elapsed();
                coins = txs.iter().map(chain_support::first_output).collect();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, empty_blocks, payments);
criterion_main!(benches);
