//! Hold invoices through the API: created for the caller's hash, settle and cancel refused
//! with the reason when they cannot apply, and a held payment cancelled with its event.

use super::*;
use crate::events::EventData;
use crate::payments::hold::HeldHtlc;
use bitcoin::hashes::{sha256, Hash};

const PREIMAGE: [u8; 32] = [0x42; 32];

fn hash() -> [u8; 32] {
    sha256::Hash::hash(&PREIMAGE).to_byte_array()
}

async fn create(api: &Api) -> Value {
    api.client
        .post(
            "/v1/invoices",
            json!({"amount_msat": 20_000, "description": "escrow", "payment_hash": hex::encode(hash())}),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_hold_invoice_is_for_the_callers_hash_and_settles_only_when_held() {
    let api = start(false).await;
    let created = create(&api).await;
    assert_eq!(created["payment_hash"], hex::encode(hash()));
    let parsed =
        crate::invoice::Invoice::parse(created["bolt11"].as_str().unwrap(), Network::Regtest)
            .unwrap();
    assert_eq!(parsed.payment_hash().0, hash());
    let h = hash();
    let stored = api
        .store
        .call(move |c| db::get_invoice(c, &h))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.preimage, None, "the caller keeps the preimage");

    // The same hash again: refused, the first untouched.
    let (status, v) = raw(
        &api,
        Method::POST,
        "/v1/invoices",
        &json!({"description": "again", "payment_hash": hex::encode(hash())}).to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "invalid_request");
    assert!(v["error"]["message"].as_str().unwrap().contains("exists"));
    for bad in ["ab".repeat(31), "zz".repeat(32)] {
        let got = api_error(
            api.client
                .post(
                    "/v1/invoices",
                    json!({"description": "x", "payment_hash": bad}),
                )
                .await,
        );
        assert_eq!(got, (400, "invalid_request".to_string()), "{bad}");
    }

    let settle = format!("/v1/invoices/{}/settle", hex::encode(hash()));
    // Nothing held yet: refused, naming the status.
    let (status, v) = raw(
        &api,
        Method::POST,
        &settle,
        &json!({"preimage": hex::encode(PREIMAGE)}).to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("is open"),
        "{v}"
    );
    // A preimage of another hash, or not a preimage at all.
    for (body, says) in [
        (json!({"preimage": "07".repeat(32)}), "does not hash"),
        (json!({"preimage": "07".repeat(31)}), "64 characters"),
        (json!({}), "preimage"),
    ] {
        let (status, v) = raw(&api, Method::POST, &settle, &body.to_string()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(v["error"]["code"], "invalid_request");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(says),
            "{body}: {v}"
        );
    }
    let got = api_error(
        api.client
            .post(
                &format!("/v1/invoices/{}/settle", "ab".repeat(32)),
                json!({"preimage": hex::encode(PREIMAGE)}),
            )
            .await,
    );
    assert_eq!(got, (404, "invoice_not_found".to_string()));
    let shown = api
        .client
        .get(&format!("/v1/invoices/{}", hex::encode(hash())))
        .await
        .unwrap();
    assert_eq!(shown["status"], "open");
}

#[tokio::test]
async fn cancelling_a_held_invoice_forgets_its_htlcs_and_says_why() {
    let api = start(false).await;
    create(&api).await;
    let h = hash();
    // A payment held for it (on a channel this node no longer has: nothing to fail on).
    let held = HeldHtlc {
        htlc: htlc(9, 0),
        amount_msat: 20_000,
        cltv_expiry: 10_000,
        shared_secret: [3; 32],
    };
    let changed = api
        .store
        .write(move |tx| db::hold_invoice(tx, &h, &[held]))
        .await
        .unwrap();
    assert!(changed);
    let shown = api
        .client
        .get(&format!("/v1/invoices/{}", hex::encode(h)))
        .await
        .unwrap();
    assert_eq!(shown["status"], "held");
    assert_eq!(shown["received_msat"], 20_000);
    assert!(shown.get("preimage").is_none());

    let cancelled = api
        .client
        .delete(&format!("/v1/invoices/{}", hex::encode(h)))
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let (left, events) = api
        .store
        .call(move |c| {
            Ok((
                db::held_htlcs(c, &h)?,
                crate::store::events::after(c, 0, 100, &[])?,
            ))
        })
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert!(
        events.iter().any(|e| e.data
            == EventData::InvoiceCancelled {
                payment_hash: hex::encode(h),
                reason: "requested".into(),
            }),
        "{events:?}"
    );
    // Settling a cancelled invoice: refused, naming the status.
    let (status, v) = raw(
        &api,
        Method::POST,
        &format!("/v1/invoices/{}/settle", hex::encode(h)),
        &json!({"preimage": hex::encode(PREIMAGE)}).to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is cancelled"),
        "{v}"
    );
}
