//! BOLT 8 transport throughput through one connection: encrypted messages per second and
//! MB/s, for small (100-byte) and maximal (65535-byte) messages.
//!
//! - `in_process`: encrypt → decrypt in memory, the cryptographic cost alone;
//! - `loopback_tcp`: the same over a loopback TCP pair (tokio), one writer and one reader.
//!
//! Run with `scripts/bench transport`.

use std::time::{Duration, Instant};

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use chanhub::transport::{
    DecryptStep, Decryptor, Encryptor, InitiatorHandshake, ResponderHandshake, Transport,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const SIZES: [(usize, u64); 2] = [(100, 1000), (65535, 50)];

/// A connected pair: (initiator, responder).
fn pair() -> (Transport, Transport) {
    let (a, b) = (
        SecretKey::from_slice(&[1; 32]).unwrap(),
        SecretKey::from_slice(&[2; 32]).unwrap(),
    );
    let b_id = b.public_key(&Secp256k1::new());
    let (init, act_one) = InitiatorHandshake::new(a, b_id);
    let (resp, act_two) = ResponderHandshake::new(b)
        .process_act_one(&act_one)
        .unwrap();
    let (act_three, ta) = init.process_act_two(&act_two).unwrap();
    let tb = resp.process_act_three(&act_three).unwrap();
    (ta, tb)
}

fn decrypt_one(dec: &mut Decryptor) -> Option<Vec<u8>> {
    match dec.next_message().expect("authentic") {
        DecryptStep::Message(m) => Some(m),
        DecryptStep::NeedMore(_) => None,
    }
}

fn in_process(c: &mut Criterion) {
    for (unit, name) in [
        (true, "transport_in_process_msgs"),
        (false, "transport_in_process_bytes"),
    ] {
        let mut g = c.benchmark_group(name);
        for (size, per_iter) in SIZES {
            let (ta, tb) = pair();
            let (mut enc, _) = ta.split();
            let (_, mut dec) = tb.split();
            let message = vec![0x5a; size];
            g.throughput(if unit {
                Throughput::Elements(per_iter)
            } else {
                Throughput::Bytes(per_iter * size as u64)
            });
            g.bench_function(format!("{size}B"), |b| {
                b.iter(|| {
                    for _ in 0..per_iter {
                        let frame = enc.encrypt(&message).unwrap();
                        dec.push(&frame);
                        let got = decrypt_one(&mut dec).expect("whole message");
                        assert_eq!(got.len(), size);
                    }
                })
            });
        }
        g.finish();
    }
}

async fn send(w: &mut OwnedWriteHalf, enc: &mut Encryptor, message: &[u8], n: u64) {
    for _ in 0..n {
        let frame = enc.encrypt(message).unwrap();
        w.write_all(&frame).await.unwrap();
    }
}

async fn receive(r: &mut OwnedReadHalf, dec: &mut Decryptor, n: u64) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    while got < n {
        while let Some(_m) = decrypt_one(dec) {
            got += 1;
        }
        if got < n {
            let k = r.read(&mut buf).await.unwrap();
            assert!(k > 0, "connection closed early");
            dec.push(&buf[..k]);
        }
    }
}

fn loopback(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for (unit, name) in [
        (true, "transport_loopback_tcp_msgs"),
        (false, "transport_loopback_tcp_bytes"),
    ] {
        let mut g = c.benchmark_group(name);
        for (size, per_iter) in SIZES {
            let (ta, tb) = pair();
            let (mut enc, _) = ta.split();
            let (_, mut dec) = tb.split();
            let (mut w, mut r) = rt.block_on(async {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let a = tokio::net::TcpStream::connect(l.local_addr().unwrap())
                    .await
                    .unwrap();
                let (b, _) = l.accept().await.unwrap();
                a.set_nodelay(true).unwrap();
                let (_, w) = a.into_split();
                let (r, _) = b.into_split();
                (w, r)
            });
            let message = vec![0x5a; size];
            g.throughput(if unit {
                Throughput::Elements(per_iter)
            } else {
                Throughput::Bytes(per_iter * size as u64)
            });
            g.bench_function(format!("{size}B"), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        rt.block_on(async {
                            tokio::join!(
                                send(&mut w, &mut enc, &message, per_iter),
                                receive(&mut r, &mut dec, per_iter)
                            )
                        });
                    }
                    start.elapsed()
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = in_process, loopback
}
criterion_main!(benches);
