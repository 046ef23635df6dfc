//! N recorded payments written straight into a stopped hub's database, with the store's own
//! functions, so the restart reads tables of a hub that has run for a long time.
//!
//! One recorded payment is a settled forward and its `htlc_forwarded` event; besides, N/2
//! succeeded outgoing payments and N/2 paid invoices. Hashes are pseudo-random (as real ones
//! are), so primary-key inserts land all over their B-trees; times span the last 30 days,
//! inside the event log's retention.

use std::path::Path;
use std::time::Instant;

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use chanhub::events::EventData;
use chanhub::payments::{
    AttemptRecord, ForwardRecord, ForwardStatus, HtlcRef, InvoiceRecord, InvoiceStatus,
    PaymentRecord, PaymentStatus,
};
use chanhub::store::{events, payments as db, Store, StoreError};

/// Rows per transaction: big enough that commits cost nothing, small enough to bound the WAL.
const BATCH: usize = 100_000;
/// The past channels history is spread over (closed long ago: not the live channel, whose
/// HTLC ids start again from 0).
const CHANNELS: u64 = 64;
const SPAN_SECS: u64 = 30 * 86_400;

pub struct Generated {
    pub secs: f64,
    pub db_mib: f64,
}

/// 32 pseudo-random bytes from `(tag, i)`: splitmix64, distinct for distinct inputs in practice.
pub fn bytes32(tag: u64, i: u64) -> [u8; 32] {
    let mut x = tag.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i;
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

fn channel(i: u64) -> [u8; 32] {
    bytes32(1, i % CHANNELS)
}

/// A string the length of a regtest BOLT 11 invoice.
pub fn bolt11(i: u64) -> String {
    format!("lnbcrt100n1p{}", hex::encode([bytes32(9, i); 5].concat()))[..330].to_string()
}

/// Writes the history into the database at `db_path` (the node must be stopped).
pub fn generate(db_path: &Path, n: u64) -> Result<Generated, StoreError> {
    let t = Instant::now();
    let store = Store::open(db_path)?;
    let secp = Secp256k1::new();
    let key = |i: u64| -> PublicKey {
        let secret = SecretKey::from_slice(&bytes32(7, i)).expect("a valid key in practice");
        secret.public_key(&secp)
    };
    let route = vec![key(1), key(2)];
    let now = chanhub::events::now_secs();
    let start = now - SPAN_SECS;
    let at = |i: u64, of: u64| start + i * SPAN_SECS / of.max(1);

    let mut i = 0;
    while i < n {
        let end = (i + BATCH as u64).min(n);
        store.write_blocking(|tx| {
            for j in i..end {
                forward(tx, j, at(j, n))?;
            }
            Ok(())
        })?;
        i = end;
    }
    let half = n / 2;
    let mut i = 0;
    while i < half {
        let end = (i + BATCH as u64 / 2).min(half);
        store.write_blocking(|tx| {
            for j in i..end {
                let created = at(j, half);
                payment(tx, j, created, &route)?;
                invoice(tx, j, created)?;
            }
            Ok(())
        })?;
        i = end;
    }
    // Closing checkpoints the WAL into the database file: part of the cost.
    drop(store);
    let secs = t.elapsed().as_secs_f64();
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal = db_path.with_extension("sqlite-wal");
    let db_mib = (size(db_path) + size(&wal)) as f64 / (1024.0 * 1024.0);
    Ok(Generated { secs, db_mib })
}

fn forward(tx: &rusqlite::Connection, i: u64, created: u64) -> Result<(), StoreError> {
    let in_msat = 100_000 + i % 1000;
    let f = ForwardRecord {
        incoming: HtlcRef {
            channel_id: channel(i),
            htlc_id: i / CHANNELS,
        },
        outgoing: HtlcRef {
            channel_id: channel(i + 1),
            htlc_id: i / CHANNELS,
        },
        payment_hash: bytes32(2, i),
        in_msat,
        out_msat: in_msat - 1,
        in_cltv_expiry: 500,
        out_cltv_expiry: 460,
        status: ForwardStatus::Settled,
        shared_secret: bytes32(3, i),
        preimage: Some(bytes32(4, i)),
        failure: None,
        created_at: created,
        resolved_at: Some(created + 1),
    };
    assert!(db::insert_forward(tx, &f)?, "forward {i} is new");
    let event = EventData::HtlcForwarded {
        payment_hash: hex::encode(f.payment_hash),
        in_channel_id: hex::encode(f.incoming.channel_id),
        out_channel_id: hex::encode(f.outgoing.channel_id),
        in_msat: f.in_msat,
        out_msat: f.out_msat,
        fee_msat: f.fee_msat(),
        status: "settled".into(),
    };
    events::insert(tx, &event, created + 1, (created + 1) * 1000)?;
    Ok(())
}

fn payment(
    tx: &rusqlite::Connection,
    i: u64,
    created: u64,
    route: &[PublicKey],
) -> Result<(), StoreError> {
    let p = PaymentRecord {
        payment_hash: bytes32(5, i),
        bolt11: Some(bolt11(i)),
        payee: route[route.len() - 1],
        amount_msat: 10_000 + i % 1000,
        fee_msat: 1,
        status: PaymentStatus::Succeeded,
        preimage: Some(bytes32(6, i)),
        failure: None,
        created_at: created,
        resolved_at: Some(created + 1),
        max_fee_msat: 60_000,
        max_total_cltv_expiry_delta: 1008,
        timeout_secs: 60,
    };
    assert!(db::upsert_payment(tx, &p)?, "payment {i} is new");
    let a = AttemptRecord {
        payment_hash: p.payment_hash,
        id: 0,
        htlc: HtlcRef {
            channel_id: channel(i),
            htlc_id: 1_000_000 + i,
        },
        amount_msat: p.amount_msat,
        fee_msat: 1,
        session_key: bytes32(8, i),
        route: route.to_vec(),
        hops: Vec::new(),
        status: PaymentStatus::Succeeded,
        failure: None,
        created_at: created,
        resolved_at: Some(created + 1),
    };
    chanhub::store::attempts::insert_attempt(tx, &a)?;
    Ok(())
}

fn invoice(tx: &rusqlite::Connection, i: u64, created: u64) -> Result<(), StoreError> {
    let inv = InvoiceRecord {
        payment_hash: bytes32(10, i),
        bolt11: bolt11(i + (1 << 40)),
        preimage: Some(bytes32(11, i)),
        payment_secret: bytes32(12, i),
        amount_msat: Some(10_000 + i % 1000),
        description: format!("scale {i}"),
        description_hash: None,
        min_final_cltv_expiry_delta: 18,
        created_at: created,
        expires_at: created + 3600,
        status: InvoiceStatus::Paid,
        received_msat: Some(10_000 + i % 1000),
        paid_at: Some(created + 1),
        paid_by: Some(HtlcRef {
            channel_id: channel(i + 7),
            htlc_id: 2_000_000 + i,
        }),
    };
    db::insert_invoice(tx, &inv)
}
