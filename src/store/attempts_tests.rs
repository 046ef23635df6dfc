//! Tests of the attempts and route penalty tables, and of the migration to them.

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use rusqlite::Connection;

use super::attempts::*;
use super::payments::{get_payment, upsert_payment};
use super::routing::{load_penalties, save_penalties};
use super::{schema, Store, DB_FILE};
use crate::payments::{AttemptHop, AttemptRecord, HtlcRef, PaymentRecord, PaymentStatus};
use crate::routing::{PenaltyEntry, PenaltyKey};
use crate::wire::ShortChannelId;

fn key(i: u8) -> PublicKey {
    SecretKey::from_slice(&[i; 32])
        .unwrap()
        .public_key(&Secp256k1::new())
}

fn payment(h: u8) -> PaymentRecord {
    PaymentRecord {
        payment_hash: [h; 32],
        bolt11: None,
        payee: key(3),
        amount_msat: 100_000,
        fee_msat: 0,
        status: PaymentStatus::Pending,
        preimage: Some([h; 32]),
        failure: None,
        created_at: 1_000,
        resolved_at: None,
        max_fee_msat: 5_000,
        max_total_cltv_expiry_delta: 500,
        timeout_secs: 30,
    }
}

fn attempt(h: u8, id: u32, htlc_id: u64, amount_msat: u64, fee_msat: u64) -> AttemptRecord {
    AttemptRecord {
        payment_hash: [h; 32],
        id,
        htlc: HtlcRef {
            channel_id: [5; 32],
            htlc_id,
        },
        amount_msat,
        fee_msat,
        session_key: [6; 32],
        route: vec![key(2), key(3)],
        hops: vec![
            AttemptHop {
                node_id: key(2),
                short_channel_id: None,
                amount_msat: amount_msat + fee_msat,
                cltv_expiry: 200,
            },
            AttemptHop {
                node_id: key(3),
                short_channel_id: Some("101x1x0".into()),
                amount_msat,
                cltv_expiry: 160,
            },
        ],
        status: PaymentStatus::Pending,
        failure: None,
        created_at: 1_000,
        resolved_at: None,
    }
}

#[test]
fn attempts_are_found_by_htlc_resolved_once_and_summed() {
    let store = Store::open_in_memory().unwrap();
    store
        .write_blocking(|c| {
            assert!(upsert_payment(c, &payment(1))?);
            assert_eq!(next_attempt_id(c, &[1; 32])?, 0);
            let (a, b) = (attempt(1, 0, 7, 60_000, 600), attempt(1, 1, 8, 40_000, 400));
            insert_attempt(c, &a)?;
            insert_attempt(c, &b)?;
            // An attempt id is never used twice.
            assert!(insert_attempt(c, &a).is_err());
            assert_eq!(next_attempt_id(c, &[1; 32])?, 2);
            assert_eq!(list_attempts(c, &[1; 32])?, vec![a.clone(), b.clone()]);
            assert_eq!(pending_attempt_by_htlc(c, a.htlc)?, Some(a.clone()));
            assert_eq!(fees_committed(c, &[1; 32])?, 1_000);

            assert!(resolve_attempt(
                c,
                &[1; 32],
                0,
                PaymentStatus::Failed,
                Some("x"),
                1_001
            )?);
            assert!(!resolve_attempt(
                c,
                &[1; 32],
                0,
                PaymentStatus::Succeeded,
                None,
                1_002
            )?);
            assert!(resolve_attempt(c, &[1; 32], 0, PaymentStatus::Pending, None, 1).is_err());
            assert_eq!(pending_attempt_by_htlc(c, a.htlc)?, None);
            assert_eq!(list_pending_attempts(c)?, vec![b.clone()]);
            // A failed part costs nothing.
            assert_eq!(fees_committed(c, &[1; 32])?, 400);
            let failed = &list_attempts(c, &[1; 32])?[0];
            assert_eq!(failed.failure.as_deref(), Some("x"));
            assert_eq!(failed.resolved_at, Some(1_001));
            // The payment keeps its limits and its keysend preimage while pending.
            let p = get_payment(c, &[1; 32])?.unwrap();
            assert_eq!((p.max_fee_msat, p.timeout_secs), (5_000, 30));
            assert_eq!(p.preimage, Some([1; 32]));
            Ok(())
        })
        .unwrap();
}

#[test]
fn penalties_are_saved_whole_and_read_back() {
    let store = Store::open_in_memory().unwrap();
    let entries = vec![
        PenaltyEntry {
            key: PenaltyKey::Channel {
                scid: ShortChannelId(0x0102_0304_0506_0708),
                dir: 1,
            },
            penalty_msat: 5_000,
            amount_msat: 70_000,
            at_secs: 1_700_000_000,
        },
        PenaltyEntry {
            key: PenaltyKey::Node(key(4)),
            penalty_msat: 9_000,
            amount_msat: 0,
            at_secs: 1_700_000_100,
        },
    ];
    let saved = entries.clone();
    store
        .write_blocking(move |c| {
            save_penalties(c, &saved)?;
            // Saving again replaces, never adds.
            save_penalties(c, &saved[1..])?;
            save_penalties(c, &saved)?;
            Ok(())
        })
        .unwrap();
    let mut back = store.blocking(load_penalties).unwrap();
    back.sort_by_key(|e| e.at_secs);
    assert_eq!(back, entries);
}

#[test]
fn a_version_9_payment_becomes_a_payment_with_its_htlc_as_attempt_0() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let route: Vec<u8> = [key(2), key(3)]
        .iter()
        .flat_map(|k| k.serialize())
        .collect();
    {
        let c = Connection::open(&path).unwrap();
        for script in &schema::MIGRATIONS[..9] {
            c.execute_batch(script).unwrap();
        }
        c.pragma_update(None, "user_version", 9).unwrap();
        c.execute(
            "INSERT INTO payments (payment_hash, bolt11, payee, amount_msat, fee_msat, status,
                preimage, failure, created_at, resolved_at, htlc_channel_id, htlc_id,
                session_key, route)
             VALUES (?1, 'lnbcrt1x', ?2, 200000, 1000, 'pending', NULL, NULL, 1000, NULL, ?3, 4,
                ?4, ?5)",
            rusqlite::params![
                [1u8; 32].as_slice(),
                key(3).serialize().as_slice(),
                [5u8; 32].as_slice(),
                [6u8; 32].as_slice(),
                route,
            ],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    store
        .write_blocking(|c| {
            let p = get_payment(c, &[1; 32])?.unwrap();
            assert_eq!(p.amount_msat, 200_000);
            assert_eq!(p.status, PaymentStatus::Pending);
            // The default limits of before.
            assert_eq!(p.max_fee_msat, 200_000 / 100 + 50_000);
            assert_eq!((p.max_total_cltv_expiry_delta, p.timeout_secs), (1008, 60));
            let a = pending_attempt_by_htlc(
                c,
                HtlcRef {
                    channel_id: [5; 32],
                    htlc_id: 4,
                },
            )?
            .unwrap();
            assert_eq!((a.id, a.amount_msat, a.fee_msat), (0, 200_000, 1_000));
            assert_eq!(a.route, vec![key(2), key(3)]);
            assert_eq!(a.session_key, [6; 32]);
            assert!(a.hops.is_empty());
            Ok(())
        })
        .unwrap();
}
