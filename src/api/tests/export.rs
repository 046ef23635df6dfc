//! `GET /v1/export/{kind}`: every kind, CSV and JSON Lines, within `[from, to)`; an export of
//! many pages comes out whole and in order, equal times included; bad queries refused.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::api::export_format::{header_names, parse_csv, ExportQuery, Format};
use crate::events::EventData;
use crate::payments::{InvoiceRecord, InvoiceStatus};
use crate::store::export::Kind;

const ROWS: u8 = 5;

/// `ROWS` invoices, payments, forwards and events, row `i` at `1_000 + i`, and the coinbase
/// of one block mined to the wallet (first seen now).
async fn filled() -> Api {
    let api = start(true).await;
    let payee = KeysManager::new(&Seed::from_bytes([2; 32]), Network::Regtest).node_id();
    api.store
        .write(move |tx| {
            for i in 0..ROWS {
                let at = 1_000 + u64::from(i);
                db::insert_invoice(
                    tx,
                    &InvoiceRecord {
                        payment_hash: [i; 32],
                        bolt11: format!("lnbcrt{i}"),
                        preimage: Some([100 + i; 32]),
                        payment_secret: [200 + i; 32],
                        amount_msat: Some(1_500),
                        description: format!("row {i}, \"quoted\""),
                        description_hash: None,
                        min_final_cltv_expiry_delta: 18,
                        created_at: at,
                        expires_at: at + 10,
                        status: InvoiceStatus::Open,
                        received_msat: None,
                        paid_at: None,
                        paid_by: None,
                    },
                )?;
                db::upsert_payment(
                    tx,
                    &PaymentRecord {
                        payment_hash: [i; 32],
                        bolt11: None,
                        payee,
                        amount_msat: 10_000 + u64::from(i),
                        fee_msat: 1_001,
                        status: PaymentStatus::Succeeded,
                        preimage: Some([9; 32]),
                        failure: None,
                        created_at: at,
                        resolved_at: Some(at + 1),
                        max_fee_msat: 60_000,
                        max_total_cltv_expiry_delta: 1008,
                        timeout_secs: 60,
                    },
                )?;
                db::insert_forward(
                    tx,
                    &ForwardRecord {
                        incoming: htlc(1, i.into()),
                        outgoing: htlc(2, i.into()),
                        payment_hash: [i; 32],
                        in_msat: 11_000 + u64::from(i),
                        out_msat: 10_000,
                        in_cltv_expiry: 200,
                        out_cltv_expiry: 160,
                        status: ForwardStatus::Settled,
                        shared_secret: [6; 32],
                        preimage: Some([4; 32]),
                        failure: None,
                        created_at: at,
                        resolved_at: Some(at),
                    },
                )?;
                crate::store::events::insert(
                    tx,
                    &EventData::InvoicePaid {
                        payment_hash: hex::encode([i; 32]),
                        amount_msat: 2_000 + u64::from(i),
                    },
                    at,
                    at * 1000,
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    api.client
        .post("/v1/chain/mine", json!({"blocks": 1}))
        .await
        .unwrap();
    api
}

async fn body(api: &Api, path: &str) -> (u16, String) {
    api.client
        .raw(Method::GET, path, Some(TOKEN), Vec::new())
        .await
        .unwrap()
}

/// The CSV export at `path`: its records, the header checked against the kind's columns.
async fn csv(api: &Api, kind: Kind, query: &str) -> Vec<BTreeMap<String, String>> {
    let path = format!("/v1/export/{}{query}", kind.as_str());
    let (status, text) = body(api, &path).await;
    assert_eq!(status, 200, "{path}: {text}");
    let mut records = parse_csv(&text).into_iter();
    let header = records.next().expect("a header");
    assert_eq!(header, header_names(kind), "{path}");
    records
        .map(|r| {
            assert_eq!(r.len(), header.len(), "{path}: {r:?}");
            header.iter().cloned().zip(r).collect()
        })
        .collect()
}

use std::collections::BTreeMap;

#[tokio::test]
async fn every_kind_exports_its_rows_within_the_range() {
    let api = filled().await;
    // [1001, 1004): rows 1, 2 and 3, as ISO 8601 or as Unix seconds.
    for range in [
        "?from=1970-01-01T00:16:41Z&to=1970-01-01T00:16:44Z",
        "?from=1001&to=1004&format=csv",
    ] {
        for kind in [Kind::Payments, Kind::Invoices, Kind::Forwards, Kind::Events] {
            let rows = csv(&api, kind, range).await;
            let times: Vec<&str> = rows.iter().map(|r| r["created_at"].as_str()).collect();
            assert_eq!(
                times,
                [
                    "1970-01-01T00:16:41Z",
                    "1970-01-01T00:16:42Z",
                    "1970-01-01T00:16:43Z"
                ],
                "{kind:?} {range}"
            );
        }
    }
    let p = csv(&api, Kind::Payments, "?from=1001&to=1002").await;
    assert_eq!(p[0]["payment_hash"], "01".repeat(32));
    assert_eq!(p[0]["status"], "succeeded");
    assert_eq!(
        (p[0]["amount_msat"].as_str(), p[0]["amount_sat"].as_str()),
        ("10001", "10.001")
    );
    assert_eq!(
        (p[0]["fee_msat"].as_str(), p[0]["fee_sat"].as_str()),
        ("1001", "1.001")
    );
    assert_eq!(p[0]["resolved_at"], "1970-01-01T00:16:42Z");
    assert_eq!(p[0]["failure"], "", "absent");

    let i = csv(&api, Kind::Invoices, "?from=1001&to=1002").await;
    assert_eq!(i[0]["description"], "row 1, \"quoted\"");
    assert_eq!(i[0]["status"], "expired", "open past its expiry");
    assert_eq!(
        (i[0]["amount_sat"].as_str(), i[0]["received_msat"].as_str()),
        ("1.5", "")
    );

    let f = csv(&api, Kind::Forwards, "?from=1003&to=1004").await;
    assert_eq!(f[0]["in_channel_id"], "01".repeat(32));
    assert_eq!(f[0]["fee_earned_msat"], "1003");
    assert_eq!(f[0]["fee_earned_sat"], "1.003");

    let e = csv(&api, Kind::Events, "?from=1002&to=1003").await;
    assert_eq!(e[0]["type"], "invoice_paid");
    assert_eq!(e[0]["amount_msat"], "2002");
    assert_eq!(e[0]["payment_hash"], "02".repeat(32));
    let data: Value = serde_json::from_str(&e[0]["data"]).unwrap();
    assert_eq!(data["amount_msat"], 2002);

    // The wallet's one transaction, the coinbase, first seen now.
    let o = csv(&api, Kind::Onchain, "").await;
    assert_eq!(o.len(), 1, "{o:?}");
    let txs = api.client.get("/v1/onchain/transactions").await.unwrap();
    assert_eq!(
        o[0]["txid"],
        txs["transactions"][0]["txid"].as_str().unwrap()
    );
    assert_eq!(o[0]["coinbase"], "true");
    assert_eq!(o[0]["received_sat"], "5000000000");
    assert_eq!(o[0]["net_msat"], "5000000000000");
    assert_eq!(o[0]["block_height"], "1");
    assert!(csv(&api, Kind::Onchain, "?to=1000").await.is_empty());

    // JSON Lines: the same rows, one object each.
    let (status, text) = body(&api, "/v1/export/payments?from=1001&to=1004&format=json").await;
    assert_eq!(status, 200);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["amount_msat"], 10_001);
    assert_eq!(lines[0]["amount_sat"].to_string(), "10.001");
    assert_eq!(lines[2]["created_at"], "1970-01-01T00:16:43Z");
    assert_eq!(lines[0]["resolved_at"], "1970-01-01T00:16:42Z");
    assert_eq!(lines[0]["failure"], Value::Null);
}

/// The head of an answer (status line and headers, lowercased names).
async fn head(api: &Api, path: &str) -> (String, BTreeMap<String, String>) {
    let mut s = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    s.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
             Connection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    let text = String::from_utf8_lossy(&got);
    let (head, _) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

#[tokio::test]
async fn an_export_is_an_attachment_of_its_format() {
    let api = start(false).await;
    let (status, h) = head(&api, "/v1/export/forwards").await;
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(h["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        h["content-disposition"],
        "attachment; filename=\"chanhub-forwards.csv\""
    );
    assert_eq!(
        h["transfer-encoding"], "chunked",
        "streamed, no length known"
    );
    let (_, h) = head(&api, "/v1/export/events?format=json").await;
    assert_eq!(h["content-type"], "application/x-ndjson");
    assert_eq!(
        h["content-disposition"],
        "attachment; filename=\"chanhub-events.jsonl\""
    );
    // No rows: the header alone.
    let (_, text) = body(&api, "/v1/export/payments").await;
    assert_eq!(text.lines().count(), 1);
}

#[tokio::test]
async fn a_long_export_comes_out_whole_and_in_order_across_equal_times() {
    let api = start(false).await;
    let payee = KeysManager::new(&Seed::from_bytes([2; 32]), Network::Regtest).node_id();
    // 2,345 payments over three pages of the route, seven to a second, hashes not in time
    // order, inserted in a shuffled order.
    const N: u32 = 2_345;
    api.store
        .write(move |tx| {
            for k in 0..N {
                let i = (k * 7_919) % N;
                let mut hash = [0u8; 32];
                hash[..4].copy_from_slice(&(i.wrapping_mul(2_654_435_761)).to_be_bytes());
                hash[4..8].copy_from_slice(&i.to_be_bytes());
                db::upsert_payment(
                    tx,
                    &PaymentRecord {
                        payment_hash: hash,
                        bolt11: None,
                        payee,
                        amount_msat: 1_000 + u64::from(i),
                        fee_msat: 0,
                        status: PaymentStatus::Pending,
                        preimage: None,
                        failure: None,
                        created_at: 5_000 + u64::from(i / 7),
                        resolved_at: None,
                        max_fee_msat: 0,
                        max_total_cltv_expiry_delta: 1008,
                        timeout_secs: 60,
                    },
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let rows = csv(&api, Kind::Payments, "").await;
    assert_eq!(rows.len(), N as usize);
    let mut amounts: Vec<u64> = rows
        .iter()
        .map(|r| r["amount_msat"].parse().unwrap())
        .collect();
    let times: Vec<&String> = rows.iter().map(|r| &r["created_at"]).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    amounts.sort_unstable();
    amounts.dedup();
    assert_eq!(amounts.len(), N as usize, "each payment once");

    // The same through the streaming code with pages of 3 (a boundary inside each second).
    let q = ExportQuery {
        from: 0,
        to: i64::MAX,
        format: Format::Json,
    };
    let mut rx = crate::api::export::stream(api.store.clone(), Kind::Payments, q, 3, None);
    let mut text = String::new();
    let mut chunks = 0;
    while let Some(chunk) = rx.recv().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        chunks += 1;
    }
    assert_eq!(chunks, N.div_ceil(3));
    let keys: Vec<(String, u64)> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["created_at"].as_str().unwrap().to_string(),
                v["amount_msat"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys.len(), N as usize);
    let mut seen: Vec<u64> = keys.iter().map(|k| k.1).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), N as usize, "no row twice, none skipped");
    assert!(keys.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[tokio::test]
async fn bad_exports_are_refused() {
    let api = start(false).await;
    for path in [
        "/v1/export/payments?from=yesterday",
        "/v1/export/payments?to=2026-12-01T00:00:00%2B01:00",
        "/v1/export/payments?format=xml",
        "/v1/export/payments?from=10&to=5",
        "/v1/export/payments?limit=5",
        "/v1/export/channels",
    ] {
        let (status, v) = raw(&api, Method::GET, path, "").await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{path}"
        );
    }
    let (status, _) = api
        .client
        .raw(Method::GET, "/v1/export/payments", None, Vec::new())
        .await
        .unwrap();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn activity_sums_the_event_log_per_bucket() {
    let api = start(false).await;
    let now = crate::events::now_secs();
    api.store
        .write(move |tx| {
            for (at, msat) in [(now, 2_000), (now, 3_000), (now - 2 * 3_600, 7_000)] {
                let paid = EventData::InvoicePaid {
                    payment_hash: "ab".repeat(32),
                    amount_msat: msat,
                };
                crate::store::events::insert(tx, &paid, at, at * 1000)?;
            }
            crate::store::events::insert(
                tx,
                &EventData::HtlcForwarded {
                    payment_hash: "cd".repeat(32),
                    in_channel_id: "01".repeat(32),
                    out_channel_id: "02".repeat(32),
                    in_msat: 10_050,
                    out_msat: 10_000,
                    fee_msat: 50,
                    status: "settled".into(),
                },
                now,
                now * 1000,
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let day = api.client.get("/v1/stats/activity").await.unwrap();
    assert_eq!(
        (day["window"].as_str(), day["bucket_secs"].as_u64()),
        (Some("24h"), Some(3_600))
    );
    let b = day["buckets"].as_array().unwrap();
    assert_eq!(b.len(), 24);
    let last = &b[23];
    assert!(
        last["start"].as_u64().unwrap() <= now && now < last["start"].as_u64().unwrap() + 3_600
    );
    assert_eq!(
        (
            last["received_msat"].as_u64(),
            last["received_count"].as_u64()
        ),
        (Some(5_000), Some(2))
    );
    assert_eq!(last["forwarded_msat"], 10_000);
    assert_eq!(last["fees_earned_msat"], 50);
    assert_eq!(b[21]["received_msat"], 7_000);
    let month = api
        .client
        .get("/v1/stats/activity?window=30d")
        .await
        .unwrap();
    let b = month["buckets"].as_array().unwrap();
    assert_eq!(b.len(), 30);
    let received: u64 = b.iter().map(|x| x["received_msat"].as_u64().unwrap()).sum();
    assert_eq!(received, 12_000);
    let (status, v) = raw(&api, Method::GET, "/v1/stats/activity?window=1y", "").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn the_cli_writes_the_export_as_the_node_sends_it() {
    let api = filled().await;
    let path = crate::cli::export::path(
        "payments",
        Some("1970-01-01T00:16:41Z"),
        Some("1004"),
        Some("csv"),
    );
    let mut out = Vec::new();
    let n = crate::cli::export::run(&api.client, &path, &mut out)
        .await
        .unwrap();
    assert_eq!(n as usize, out.len());
    let (_, direct) = body(&api, "/v1/export/payments?from=1001&to=1004").await;
    assert_eq!(String::from_utf8(out).unwrap(), direct);
    assert_eq!(parse_csv(&direct).len(), 4, "the header and three rows");
    // The node's own error, not a file of it.
    let bad = crate::cli::export::path("payments", Some("yesterday"), None, None);
    let mut out = Vec::new();
    let e = crate::cli::export::run(&api.client, &bad, &mut out)
        .await
        .unwrap_err();
    assert!(e.contains("invalid_request") && e.contains("from"), "{e}");
    assert!(out.is_empty());
}
