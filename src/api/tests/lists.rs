//! `?limit=` on the three lists: the newest N rows, newest first; everything when fewer rows
//! than the default exist; bad values refused; the fees earned still over every forward.

use super::*;
use crate::payments::{InvoiceRecord, InvoiceStatus};

const ROWS: u8 = 5;

/// `ROWS` invoices, payments and forwards, row `i` created at `1_000 + i`; the forwards are
/// all settled, each earning `1_000 + i` msat.
async fn filled() -> Api {
    let api = start(false).await;
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
                        amount_msat: Some(1_000),
                        description: format!("row {i}"),
                        description_hash: None,
                        min_final_cltv_expiry_delta: 18,
                        created_at: at,
                        expires_at: u64::MAX / 2,
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
                        amount_msat: 10_000,
                        fee_msat: 0,
                        status: PaymentStatus::Pending,
                        preimage: None,
                        failure: None,
                        created_at: at,
                        resolved_at: None,
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
            }
            Ok(())
        })
        .await
        .unwrap();
    api
}

/// Each row's `created_at`, as listed.
async fn created(api: &Api, path: &str, key: &str) -> Vec<u64> {
    let v = api.client.get(path).await.unwrap();
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: {v}"))
        .iter()
        .map(|r| r["created_at"].as_u64().unwrap())
        .collect()
}

const LISTS: [(&str, &str); 3] = [
    ("/v1/invoices", "invoices"),
    ("/v1/payments", "payments"),
    ("/v1/forwards", "forwards"),
];

#[tokio::test]
async fn a_limit_answers_the_newest_rows_in_order() {
    let api = filled().await;
    for (path, key) in LISTS {
        assert_eq!(
            created(&api, &format!("{path}?limit=2"), key).await,
            [1_004, 1_003],
            "{path}"
        );
        assert_eq!(
            created(&api, &format!("{path}?limit=1"), key).await,
            [1_004],
            "{path}"
        );
        // A limit above the rows there are: all of them.
        assert_eq!(
            created(&api, &format!("{path}?limit=10000"), key).await,
            [1_004, 1_003, 1_002, 1_001, 1_000],
            "{path}"
        );
    }
}

#[tokio::test]
async fn without_a_limit_fewer_rows_than_the_default_are_all_listed() {
    assert!(usize::from(ROWS) < list_limit::DEFAULT_LIST_LIMIT);
    let api = filled().await;
    for (path, key) in LISTS {
        assert_eq!(
            created(&api, path, key).await,
            [1_004, 1_003, 1_002, 1_001, 1_000],
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_fees_earned_count_every_forward_not_only_those_listed() {
    let api = filled().await;
    let all_fees: u64 = (0..u64::from(ROWS)).map(|i| 1_000 + i).sum();
    let v = api.client.get("/v1/forwards?limit=1").await.unwrap();
    assert_eq!(v["forwards"].as_array().unwrap().len(), 1);
    assert_eq!(v["forwards"][0]["fee_msat"], 1_004);
    assert_eq!(v["fee_msat_earned"], all_fees);
    // The fields of a limited answer are the same as before.
    let mut keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["fee_msat_earned", "forwards"]);
}

#[tokio::test]
async fn a_bad_limit_is_an_invalid_request() {
    let api = filled().await;
    for (path, _) in LISTS {
        for query in [
            "limit=0",
            "limit=10001",
            "limit=-2",
            "limit=abc",
            "limit=",
            "limit=1.5",
            "limit=18446744073709551616",
            "limit=2&offset=1",
        ] {
            let (status, v) = raw(&api, Method::GET, &format!("{path}?{query}"), "").await;
            assert_eq!(
                (status, v["error"]["code"].as_str()),
                (400, Some("invalid_request")),
                "{path}?{query}: {v}"
            );
        }
    }
}
