//! Tests of the payments tables.

use super::*;
use crate::store::Store;
use bitcoin::secp256k1::{Secp256k1, SecretKey};

fn key(i: u8) -> PublicKey {
    SecretKey::from_slice(&[i; 32])
        .unwrap()
        .public_key(&Secp256k1::new())
}

fn htlc(c: u8, id: u64) -> HtlcRef {
    HtlcRef {
        channel_id: [c; 32],
        htlc_id: id,
    }
}

fn invoice(h: u8, created_at: u64) -> InvoiceRecord {
    InvoiceRecord {
        payment_hash: [h; 32],
        bolt11: format!("lnbcrt{h}"),
        preimage: Some([h.wrapping_add(100); 32]),
        payment_secret: [7; 32],
        amount_msat: Some(50_000),
        description: "coffee".into(),
        description_hash: None,
        min_final_cltv_expiry_delta: 40,
        created_at,
        expires_at: created_at + 3600,
        status: InvoiceStatus::Open,
        received_msat: None,
        paid_at: None,
        paid_by: None,
    }
}

fn payment(h: u8) -> PaymentRecord {
    PaymentRecord {
        payment_hash: [h; 32],
        bolt11: Some("lnbcrt1".into()),
        payee: key(2),
        amount_msat: 10_000,
        fee_msat: 1_001,
        status: PaymentStatus::Pending,
        preimage: None,
        failure: None,
        created_at: 1_000,
        resolved_at: None,
        max_fee_msat: 60_000,
        max_total_cltv_expiry_delta: 1008,
        timeout_secs: 60,
    }
}

fn forward(in_id: u64, out_id: u64) -> ForwardRecord {
    ForwardRecord {
        incoming: htlc(1, in_id),
        outgoing: htlc(2, out_id),
        payment_hash: [5; 32],
        in_msat: 11_001,
        out_msat: 10_000,
        in_cltv_expiry: 200,
        out_cltv_expiry: 160,
        status: ForwardStatus::Pending,
        shared_secret: [6; 32],
        preimage: None,
        failure: None,
        created_at: 1_000 + in_id,
        resolved_at: None,
    }
}

#[test]
fn invoices_round_trip_and_are_paid_once() {
    let store = Store::open_in_memory().unwrap();
    store
        .write_blocking(|tx| {
            let mut open_amount = invoice(2, 2_000);
            open_amount.amount_msat = None;
            insert_invoice(tx, &invoice(1, 1_000))?;
            insert_invoice(tx, &open_amount)?;
            // The same hash twice is refused.
            assert!(insert_invoice(tx, &invoice(1, 1_000)).is_err());
            let mut expired = invoice(3, 1);
            expired.status = InvoiceStatus::Expired;
            assert!(insert_invoice(tx, &expired).is_err());
            Ok(())
        })
        .unwrap();
    store
        .blocking(|c| {
            assert_eq!(get_invoice(c, &[1; 32])?, Some(invoice(1, 1_000)));
            assert_eq!(get_invoice(c, &[2; 32])?.unwrap().amount_msat, None);
            assert_eq!(get_invoice(c, &[9; 32])?, None);
            let all = list_invoices(c, None)?;
            assert_eq!(all.len(), 2);
            assert_eq!(all[0].payment_hash, [2; 32], "newest first");
            assert_eq!(list_invoices(c, Some(1))?.len(), 1);

            assert!(mark_invoice_paid(c, &[1; 32], 50_500, 1_500, htlc(4, 0))?);
            assert!(!mark_invoice_paid(c, &[1; 32], 1, 1_600, htlc(4, 1))?);
            assert!(!mark_invoice_paid(c, &[9; 32], 1, 1_600, htlc(4, 1))?);
            let paid = get_invoice(c, &[1; 32])?.unwrap();
            assert_eq!(paid.status, InvoiceStatus::Paid);
            assert_eq!(paid.received_msat, Some(50_500));
            assert_eq!(paid.paid_at, Some(1_500));
            assert_eq!(paid.paid_by, Some(htlc(4, 0)));
            assert!(!cancel_invoice(c, &[1; 32])?, "a paid invoice stays paid");

            assert!(cancel_invoice(c, &[2; 32])?);
            assert!(!mark_invoice_paid(c, &[2; 32], 1, 1_600, htlc(4, 1))?);
            assert_eq!(
                get_invoice(c, &[2; 32])?.unwrap().status,
                InvoiceStatus::Cancelled
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn every_htlc_of_a_multi_part_payment_is_recorded_with_its_invoice() {
    let store = Store::open_in_memory().unwrap();
    store
        .write_blocking(|tx| {
            insert_invoice(tx, &invoice(1, 1_000))?;
            assert!(mark_invoice_paid(tx, &[1; 32], 50_000, 1_500, htlc(4, 0))?);
            let parts = [(htlc(4, 0), 20_000), (htlc(5, 7), 30_000)];
            record_invoice_htlcs(tx, &[1; 32], &parts)?;
            // Again (a repeat after a restart) changes nothing.
            record_invoice_htlcs(tx, &[1; 32], &parts[..1])?;
            Ok(())
        })
        .unwrap();
    store
        .blocking(|c| {
            assert!(is_invoice_htlc(c, &[1; 32], htlc(4, 0))?);
            assert!(is_invoice_htlc(c, &[1; 32], htlc(5, 7))?);
            assert!(!is_invoice_htlc(c, &[1; 32], htlc(5, 8))?);
            assert!(!is_invoice_htlc(c, &[2; 32], htlc(4, 0))?, "another hash");
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_version_9_database_names_the_htlc_of_each_paid_invoice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::store::DB_FILE);
    {
        let c = Connection::open(&path).unwrap();
        for script in &crate::store::schema::MIGRATIONS[..9] {
            c.execute_batch(script).unwrap();
        }
        c.pragma_update(None, "user_version", 9).unwrap();
        // Version 9's columns, written as that version's code wrote them.
        for (h, paid) in [(1u8, true), (2, false)] {
            c.execute(
                "INSERT INTO invoices (payment_hash, bolt11, preimage, payment_secret,
                    amount_msat, description, min_final_cltv_expiry_delta, created_at,
                    expires_at, status, received_msat, paid_at, paid_channel_id, paid_htlc_id)
                 VALUES (?1, 'lnbcrt1', ?2, ?2, 50000, 'x', 18, 1000, 4600, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    [h; 32].as_slice(),
                    [9u8; 32].as_slice(),
                    if paid { "paid" } else { "open" },
                    paid.then_some(50_000),
                    paid.then_some(1_500),
                    paid.then(|| htlc(4, 3).channel_id.to_vec()),
                    paid.then_some(3),
                ],
            )
            .unwrap();
        }
    }
    let store = Store::open(&path).unwrap();
    store
        .blocking(|c| {
            let v: u32 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
            assert_eq!(v, crate::store::schema::CURRENT_VERSION);
            assert!(is_invoice_htlc(c, &[1; 32], htlc(4, 3))?);
            assert!(!is_invoice_htlc(c, &[2; 32], htlc(4, 3))?);
            Ok(())
        })
        .unwrap();
}

#[test]
fn expiry_is_read_not_stored() {
    let inv = invoice(1, 1_000);
    assert_eq!(inv.status_at(4_599), InvoiceStatus::Open);
    assert_eq!(inv.status_at(4_600), InvoiceStatus::Expired);
    let mut paid = inv.clone();
    paid.status = InvoiceStatus::Paid;
    assert_eq!(paid.status_at(10_000), InvoiceStatus::Paid);
}

#[test]
fn payments_are_replaced_only_after_a_failure() {
    let store = Store::open_in_memory().unwrap();
    store
        .blocking(|c| {
            let p = payment(1);
            assert!(upsert_payment(c, &p)?);
            assert_eq!(get_payment(c, &[1; 32])?, Some(p.clone()));
            // Pending: a second attempt is refused and changes nothing.
            let mut again = p.clone();
            again.amount_msat = 20_000;
            assert!(!upsert_payment(c, &again)?);
            assert_eq!(get_payment(c, &[1; 32])?.unwrap().amount_msat, 10_000);

            assert_eq!(list_pending_payments(c)?.len(), 1);

            assert!(resolve_payment(
                c,
                &[1; 32],
                PaymentStatus::Failed,
                None,
                None,
                Some("temporary_channel_failure from hop 1"),
                1_100
            )?);
            assert!(!resolve_payment(
                c,
                &[1; 32],
                PaymentStatus::Succeeded,
                Some([8; 32]),
                None,
                None,
                1_200
            )?);
            let failed = get_payment(c, &[1; 32])?.unwrap();
            assert_eq!(failed.status, PaymentStatus::Failed);
            assert_eq!(failed.resolved_at, Some(1_100));
            assert!(list_pending_payments(c)?.is_empty());

            // Failed: a new attempt replaces the row.
            assert!(upsert_payment(c, &again)?);
            assert_eq!(get_payment(c, &[1; 32])?, Some(again.clone()));
            assert!(resolve_payment(
                c,
                &[1; 32],
                PaymentStatus::Succeeded,
                Some([8; 32]),
                Some(1_002),
                None,
                1_300
            )?);
            let done = get_payment(c, &[1; 32])?.unwrap();
            assert_eq!(done.status, PaymentStatus::Succeeded);
            assert_eq!(done.preimage, Some([8; 32]));
            assert_eq!(done.fee_msat, 1_002);
            // Succeeded: never replaced.
            assert!(!upsert_payment(c, &p)?);

            // Outcomes must be final, and a success carries its preimage.
            assert!(upsert_payment(c, &payment(2))?);
            assert!(
                resolve_payment(c, &[2; 32], PaymentStatus::Pending, None, None, None, 1).is_err()
            );
            assert!(
                resolve_payment(c, &[2; 32], PaymentStatus::Succeeded, None, None, None, 1)
                    .is_err()
            );
            let all = list_payments(c, None)?;
            assert_eq!(all.len(), 2);
            assert_eq!(list_payments(c, Some(1))?.len(), 1);
            Ok(())
        })
        .unwrap();
}

#[test]
fn forwards_are_recorded_once_and_resolved_once() {
    let store = Store::open_in_memory().unwrap();
    store
        .blocking(|c| {
            let f = forward(0, 0);
            assert!(insert_forward(c, &f)?);
            assert!(
                !insert_forward(c, &f)?,
                "an incoming HTLC is forwarded once"
            );
            assert_eq!(get_forward_by_in(c, htlc(1, 0))?, Some(f.clone()));
            assert_eq!(pending_forward_by_out(c, htlc(2, 0))?, Some(f.clone()));
            assert_eq!(pending_forward_by_out(c, htlc(2, 1))?, None);
            // A second pending forward on the same outgoing HTLC breaks a table rule.
            assert!(insert_forward(c, &forward(1, 0)).is_err());

            assert!(resolve_forward(
                c,
                htlc(1, 0),
                ForwardStatus::Failed,
                None,
                Some("peer offline"),
                1_050
            )?);
            assert!(!resolve_forward(
                c,
                htlc(1, 0),
                ForwardStatus::Settled,
                Some([4; 32]),
                None,
                1_060
            )?);
            assert_eq!(pending_forward_by_out(c, htlc(2, 0))?, None);
            // The outgoing id is free again once the first forward is resolved.
            assert!(insert_forward(c, &forward(1, 0))?);
            assert_eq!(
                pending_forward_by_out(c, htlc(2, 0))?.unwrap().incoming,
                htlc(1, 1)
            );
            assert!(set_forward_out(c, htlc(1, 1), htlc(2, 5))?);
            assert_eq!(pending_forward_by_out(c, htlc(2, 0))?, None);
            assert_eq!(list_pending_forwards(c)?.len(), 1);
            assert!(resolve_forward(
                c,
                htlc(1, 1),
                ForwardStatus::Settled,
                Some([4; 32]),
                None,
                1_070
            )?);
            assert!(list_pending_forwards(c)?.is_empty());
            let all = list_forwards(c, None)?;
            assert_eq!(all.len(), 2);
            assert_eq!(all[0].incoming, htlc(1, 1), "newest first");
            assert_eq!(all[0].status, ForwardStatus::Settled);
            assert_eq!(all[0].preimage, Some([4; 32]));
            assert_eq!(all[0].outgoing, htlc(2, 5));
            assert_eq!(all[1].failure.as_deref(), Some("peer offline"));
            assert_eq!(forward_fees_earned(c)?, 1_001, "settled ones only");
            assert!(resolve_forward(c, htlc(1, 0), ForwardStatus::Pending, None, None, 1).is_err());
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_replay_guard_tells_a_replay_from_a_repeat() {
    let store = Store::open_in_memory().unwrap();
    store
        .blocking(|c| {
            assert!(replay_check_and_record(c, &[1; 32], 100, htlc(1, 0))?);
            // The same HTLC again (a restart): not a replay.
            assert!(replay_check_and_record(c, &[1; 32], 100, htlc(1, 0))?);
            // Another HTLC with the same onion: a replay, on any channel.
            assert!(!replay_check_and_record(c, &[1; 32], 100, htlc(1, 1))?);
            assert!(!replay_check_and_record(c, &[1; 32], 100, htlc(2, 0))?);
            assert!(replay_check_and_record(c, &[2; 32], 150, htlc(1, 1))?);
            // Kept while the chain has not passed the expiry.
            assert_eq!(replay_forget_expired(c, 100, 10)?, 0);
            assert_eq!(replay_forget_expired(c, 101, 10)?, 1);
            assert!(replay_check_and_record(c, &[1; 32], 100, htlc(3, 0))?);
            assert!(!replay_check_and_record(c, &[2; 32], 150, htlc(3, 0))?);
            assert_eq!(replay_forget_expired(c, 1_000, 1)?, 1, "bounded per call");
            assert_eq!(replay_forget_expired(c, 1_000, 10)?, 1);
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_policy_is_kept_in_meta() {
    let store = Store::open_in_memory().unwrap();
    store
        .blocking(|c| {
            assert_eq!(get_policy(c)?, None);
            let p = FeePolicy {
                base_msat: 0,
                ppm: 2_500,
                cltv_delta: 144,
            };
            set_policy(c, &p)?;
            assert_eq!(get_policy(c)?, Some(p));
            meta::set(c, POLICY_KEY, b"nonsense")?;
            assert!(matches!(get_policy(c), Err(StoreError::Corrupt(_))));
            Ok(())
        })
        .unwrap();
}

#[test]
fn preimages_are_found_for_the_received_htlcs_asked_about() {
    let store = Store::open_in_memory().unwrap();
    store
        .blocking(|c| {
            // An invoice of ours, paid by HTLC 3 of channel [1; 32].
            insert_invoice(c, &invoice(8, 1_000))?;
            record_invoice_htlcs(c, &[8; 32], &[(htlc(1, 3), 50_000)])?;
            // A forward whose incoming HTLC 0 on channel [1; 32] learned its preimage.
            insert_forward(c, &forward(0, 0))?;
            resolve_forward(
                c,
                htlc(1, 0),
                ForwardStatus::Settled,
                Some([4; 32]),
                None,
                1,
            )?;
            // A pending forward (incoming HTLC 1) knows nothing yet.
            insert_forward(c, &forward(1, 1))?;
            let asked = [(3, [8; 32]), (0, [5; 32]), (1, [5; 32]), (9, [77; 32])];
            let found = preimages_for(c, &[1; 32], &asked)?;
            assert_eq!(found.len(), 2, "{found:?}");
            assert_eq!(found[&[8; 32]], [108; 32], "the invoice's");
            assert_eq!(
                found[&[5; 32]], [4; 32],
                "the forward's, by its incoming HTLC"
            );
            let elsewhere = preimages_for(c, &[2; 32], &[(0, [5; 32])])?;
            assert!(
                elsewhere.is_empty(),
                "a forward is found by its incoming HTLC only"
            );
            // Another HTLC with the invoice's hash (a part of a set that never completed, one
            // the checks refused) is not the invoice's to claim, on this channel or another.
            assert!(preimages_for(c, &[1; 32], &[(4, [8; 32])])?.is_empty());
            assert!(preimages_for(c, &[2; 32], &[(3, [8; 32])])?.is_empty());
            Ok(())
        })
        .unwrap();
}

/// The plan SQLite picks for `sql`, one line per step.
fn plan(c: &Connection, sql: &str) -> String {
    let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
    rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
}

#[test]
fn pending_rows_are_read_through_their_own_index_not_the_history() {
    let store = Store::open_in_memory().unwrap();
    store
        .write_blocking(|c| {
            // A settled history and one pending row of each.
            for i in 0..50u8 {
                let mut f = forward(u64::from(i), u64::from(i));
                f.status = ForwardStatus::Settled;
                f.preimage = Some([i; 32]);
                f.resolved_at = Some(2);
                insert_forward(c, &f)?;
                let mut p = payment(i);
                p.status = PaymentStatus::Succeeded;
                p.preimage = Some([i; 32]);
                p.resolved_at = Some(2);
                upsert_payment(c, &p)?;
            }
            insert_forward(c, &forward(100, 100))?;
            upsert_payment(c, &payment(100))?;
            Ok(())
        })
        .unwrap();
    store
        .blocking(|c| {
            let forwards = plan(c, &pending_forwards_sql());
            assert!(forwards.contains("forwards_pending"), "{forwards}");
            let payments = plan(c, &pending_payments_sql());
            assert!(payments.contains("payments_pending"), "{payments}");
            assert_eq!(list_pending_forwards(c)?.len(), 1);
            assert_eq!(list_pending_payments(c)?.len(), 1);
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_version_12_database_keeps_its_invoices_and_takes_hold_invoices() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::store::DB_FILE);
    {
        let c = Connection::open(&path).unwrap();
        for script in &crate::store::schema::MIGRATIONS[..12] {
            c.execute_batch(script).unwrap();
        }
        c.pragma_update(None, "user_version", 12).unwrap();
        // Version 12's columns: a paid invoice with a description hash, and an open one.
        for (h, paid) in [(1u8, true), (2, false)] {
            c.execute(
                "INSERT INTO invoices (payment_hash, bolt11, preimage, payment_secret,
                    amount_msat, description, min_final_cltv_expiry_delta, created_at,
                    expires_at, status, received_msat, paid_at, paid_channel_id, paid_htlc_id,
                    description_hash)
                 VALUES (?1, 'lnbcrt1', ?2, ?2, 50000, '', 18, 1000, 4600, ?3, ?4, ?5, ?6, ?7,
                    ?8)",
                rusqlite::params![
                    [h; 32].as_slice(),
                    [9u8; 32].as_slice(),
                    if paid { "paid" } else { "open" },
                    paid.then_some(50_000),
                    paid.then_some(1_500),
                    paid.then(|| htlc(4, 3).channel_id.to_vec()),
                    paid.then_some(3),
                    [5u8; 32].as_slice(),
                ],
            )
            .unwrap();
        }
    }
    let store = Store::open(&path).unwrap();
    store
        .blocking(|c| {
            let v: u32 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
            assert_eq!(v, crate::store::schema::CURRENT_VERSION);
            let paid = get_invoice(c, &[1; 32])?.unwrap();
            assert_eq!(paid.status, InvoiceStatus::Paid);
            assert_eq!(paid.preimage, Some([9; 32]));
            assert_eq!(paid.description_hash, Some([5; 32]));
            assert_eq!(paid.paid_by, Some(htlc(4, 3)));
            assert_eq!(
                get_invoice(c, &[2; 32])?.unwrap().status,
                InvoiceStatus::Open
            );
            // The rebuilt table takes a hold invoice (no preimage) and its held payment.
            let mut hold = invoice(3, 1_000);
            hold.preimage = None;
            insert_invoice(c, &hold)?;
            let held = HeldHtlc {
                htlc: htlc(4, 5),
                amount_msat: 50_000,
                cltv_expiry: 500,
                shared_secret: [6; 32],
            };
            assert!(hold_invoice(c, &[3; 32], &[held])?);
            assert_eq!(
                get_invoice(c, &[3; 32])?.unwrap().status,
                InvoiceStatus::Held
            );
            Ok(())
        })
        .unwrap();
}

fn held(id: u64, amount_msat: u64, cltv_expiry: u32) -> HeldHtlc {
    HeldHtlc {
        htlc: htlc(4, id),
        amount_msat,
        cltv_expiry,
        shared_secret: [id as u8; 32],
    }
}

#[test]
fn a_hold_invoice_is_held_then_settled_with_its_preimage() {
    let store = Store::open_in_memory().unwrap();
    store
        .blocking(|c| {
            let mut hold = invoice(3, 1_000);
            hold.preimage = None;
            insert_invoice(c, &hold)?;
            assert!(invoice_exists(c, &[3; 32])?);
            assert!(!invoice_exists(c, &[4; 32])?);
            // Never marked paid the ordinary way: there is no preimage to give.
            assert!(!mark_invoice_paid(c, &[3; 32], 50_000, 2_000, htlc(4, 1))?);
            // No preimage to claim anything with on chain either.
            assert!(preimages_for(c, &[4; 32], &[(1, [3; 32])])?.is_empty());

            let parts = [held(1, 20_000, 500), held(2, 30_000, 480)];
            assert!(hold_invoice(c, &[3; 32], &parts)?);
            assert!(!hold_invoice(c, &[3; 32], &parts)?, "held once");
            let inv = get_invoice(c, &[3; 32])?.unwrap();
            assert_eq!(inv.status, InvoiceStatus::Held);
            assert_eq!(inv.received_msat, Some(50_000));
            assert_eq!(inv.preimage, None);
            assert_eq!(held_htlcs(c, &[3; 32])?, parts.to_vec());
            assert_eq!(
                list_held_htlcs(c)?,
                parts.iter().map(|p| ([3; 32], *p)).collect::<Vec<_>>()
            );
            assert!(is_held_htlc(c, &[3; 32], htlc(4, 2))?);
            assert!(!is_held_htlc(c, &[3; 32], htlc(4, 3))?);
            // An ordinary invoice is never held.
            insert_invoice(c, &invoice(5, 1_000))?;
            assert!(!hold_invoice(c, &[5; 32], &parts)?);

            assert!(settle_held_invoice(
                c,
                &[3; 32],
                &[8; 32],
                2_000,
                htlc(4, 1)
            )?);
            assert!(!settle_held_invoice(
                c,
                &[3; 32],
                &[8; 32],
                2_000,
                htlc(4, 1)
            )?);
            let inv = get_invoice(c, &[3; 32])?.unwrap();
            assert_eq!(inv.status, InvoiceStatus::Paid);
            assert_eq!(inv.preimage, Some([8; 32]));
            assert_eq!(inv.received_msat, Some(50_000));
            assert_eq!(inv.paid_at, Some(2_000));
            assert!(held_htlcs(c, &[3; 32])?.is_empty());
            assert!(!cancel_invoice(c, &[3; 32])?, "paid stays paid");
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_held_invoice_cancelled_forgets_its_htlcs() {
    let store = Store::open_in_memory().unwrap();
    store
        .blocking(|c| {
            let mut hold = invoice(3, 1_000);
            hold.preimage = None;
            insert_invoice(c, &hold)?;
            assert!(hold_invoice(c, &[3; 32], &[held(1, 50_000, 500)])?);
            assert!(cancel_invoice(c, &[3; 32])?);
            let inv = get_invoice(c, &[3; 32])?.unwrap();
            assert_eq!(inv.status, InvoiceStatus::Cancelled);
            assert_eq!(inv.received_msat, None);
            assert!(list_held_htlcs(c)?.is_empty());
            assert!(!settle_held_invoice(
                c,
                &[3; 32],
                &[8; 32],
                2_000,
                htlc(4, 1)
            )?);
            Ok(())
        })
        .unwrap();
}
