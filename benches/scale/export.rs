//! The accounting export at scale: N payments written into a store (a database file, as a
//! node's), then exported as CSV through the API's own streaming code
//! (`chanhub::api::export::stream`, pages of `PAGE_ROWS`), first with N/10 rows and then with
//! N: rows/s, and how much memory the export took on top of what was live before it, as heap
//! bytes (exact, from the counting allocator) and as the process's peak RSS (`VmHWM`, reset
//! through `/proc/self/clear_refs`). Bounded memory shows as the same growth at both sizes.

use std::path::Path;
use std::time::Instant;

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use chanhub::api::export::{stream, PAGE_ROWS};
use chanhub::api::export_format::{ExportQuery, Format};
use chanhub::payments::{PaymentRecord, PaymentStatus};
use chanhub::store::export::Kind;
use chanhub::store::{payments as db, Store};
use serde_json::{json, Value};

use super::graph;
use super::history::{bolt11, bytes32};

/// Rows per write transaction while generating.
const BATCH: u64 = 100_000;
const SPAN_SECS: u64 = 30 * 86_400;

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

/// Payments `from..to` of `n`, at times spread over 30 days (several to a second at a
/// million: the cursor's ties).
fn generate(store: &Store, from: u64, to: u64) {
    let secp = Secp256k1::new();
    let payee = SecretKey::from_slice(&bytes32(7, 1))
        .expect("a valid key in practice")
        .public_key(&secp);
    let start = chanhub::events::now_secs() - SPAN_SECS;
    let mut i = from;
    while i < to {
        let end = (i + BATCH).min(to);
        store
            .write_blocking(|tx| {
                for j in i..end {
                    // Time from the hash, so insertion order is not time order.
                    let at = start
                        + u64::from_le_bytes(bytes32(13, j)[..8].try_into().unwrap()) % SPAN_SECS;
                    let p = PaymentRecord {
                        payment_hash: bytes32(5, j),
                        bolt11: Some(bolt11(j)),
                        payee,
                        amount_msat: 10_000 + j % 1000,
                        fee_msat: j % 7,
                        status: PaymentStatus::Succeeded,
                        preimage: Some(bytes32(6, j)),
                        failure: None,
                        created_at: at,
                        resolved_at: Some(at + 1),
                        max_fee_msat: 60_000,
                        max_total_cltv_expiry_delta: 1008,
                        timeout_secs: 60,
                    };
                    assert!(db::upsert_payment(tx, &p)?, "payment {j} is new");
                }
                Ok(())
            })
            .expect("payments written");
        i = end;
    }
}

fn proc_kib(field: &str) -> f64 {
    super::support::status_kib(std::process::id(), field)
}

/// One export of every payment: rows, bytes, time and memory.
async fn export(store: &Store) -> Value {
    // The peak RSS restarts from the current RSS (Linux 4.0 and later).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = proc_kib("VmRSS");
    graph::reset_peak();
    let heap_before = graph::live();
    let t = Instant::now();
    let q = ExportQuery {
        from: 0,
        to: i64::MAX,
        format: Format::Csv,
    };
    let mut rx = stream(store.clone(), Kind::Payments, q, PAGE_ROWS, None);
    let (mut bytes, mut lines) = (0u64, 0u64);
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk.expect("the export runs to its end");
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let secs = t.elapsed().as_secs_f64();
    let rows = lines - 1; // the header
    json!({
        "rows": rows,
        "csv_mib": mib(bytes as f64),
        "secs": secs,
        "rows_per_sec": rows as f64 / secs,
        "heap_growth_mib": mib((graph::peak() - heap_before) as f64),
        "rss_growth_mib": (proc_kib("VmHWM") - rss_before) / 1024.0,
    })
}

pub async fn run(dir: &Path, n: u64) -> Value {
    std::fs::create_dir_all(dir).expect("a directory");
    let store = Store::open(&dir.join("chanhub.sqlite")).expect("a store");
    let small = (n / 10).max(1);
    let t = Instant::now();
    generate(&store, 0, small);
    let first = export(&store).await;
    generate(&store, small, n);
    let generate_secs = t.elapsed().as_secs_f64();
    let second = export(&store).await;
    json!({
        "payments": n,
        "generate_secs": generate_secs,
        "page_rows": PAGE_ROWS,
        "runs": [first, second],
    })
}

pub fn print(r: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    println!(
        "export of {} payments as CSV (pages of {}; written in {:.1} s)",
        r["payments"],
        r["page_rows"],
        f(&r["generate_secs"])
    );
    for run in r["runs"].as_array().into_iter().flatten() {
        println!(
            "  {:>9} rows   {:.0} rows/s, {:.0} MiB in {:.1} s; memory growth: heap {:.1} MiB, peak RSS {:.1} MiB",
            run["rows"],
            f(&run["rows_per_sec"]),
            f(&run["csv_mib"]),
            f(&run["secs"]),
            f(&run["heap_growth_mib"]),
            f(&run["rss_growth_mib"])
        );
    }
}

/// Every row came out, and the heap the export took did not grow with the rows: ten times
/// the rows take at most a few MiB more.
pub fn check(r: &Value) {
    let runs = r["runs"].as_array().expect("two runs");
    let n = r["payments"].as_u64().unwrap();
    assert_eq!(runs[1]["rows"].as_u64(), Some(n), "every payment exported");
    assert_eq!(runs[0]["rows"].as_u64(), Some((n / 10).max(1)));
    let heap = |i: usize| runs[i]["heap_growth_mib"].as_f64().unwrap();
    assert!(
        heap(1) < heap(0) + 8.0,
        "the export's memory grows with its rows: {} then {} MiB",
        heap(0),
        heap(1)
    );
}
