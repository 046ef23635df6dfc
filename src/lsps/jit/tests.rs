use super::*;
use crate::lsps::lsps2::OpeningFeeParams;
use bitcoin::secp256k1::{Secp256k1, SecretKey};

const SCID: ShortChannelId = ShortChannelId(42);
const UNTIL: u64 = 1_000_000;

fn client() -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[7; 32]).unwrap())
}

/// An offer of 1,000–1,000,000,000 msat at 2,000 msat minimum and 1% (bLIP 52's ppm).
fn bought(payment_size_msat: Option<u64>) -> Bought {
    let params = OpeningFeeParams {
        min_fee_msat: 2_000,
        proportional: 10_000,
        valid_until: "2023-02-23T08:47:30.511Z".into(),
        min_lifetime: 1008,
        max_client_to_self_delay: 2016,
        min_payment_size_msat: 1_000,
        max_payment_size_msat: 1_000_000_000,
        promise: String::new(),
    };
    let fee = payment_size_msat.map(|s| crate::lsps::lsps2::opening_fee(s, 2_000, 10_000).unwrap());
    Bought {
        params,
        valid_until_secs: UNTIL,
        payment_size_msat,
        opening_fee_msat: fee,
    }
}

fn part(id: u64, out_msat: u64) -> HeldPart<u64> {
    HeldPart {
        htlc: HtlcRef {
            channel_id: [1; 32],
            htlc_id: id,
        },
        out_msat,
        data: id,
    }
}

fn forwards(s: Settled<u64>) -> Vec<(u64, u64, u64)> {
    match s {
        Settled::Forward { parts, .. } => parts
            .into_iter()
            .map(|f| (f.part.data, f.amount_msat, f.extra_fee_msat))
            .collect(),
        Settled::Fail(p, f) => panic!("failed {p:?}: {f:?}"),
    }
}

#[test]
fn a_fixed_payment_is_held_until_whole_then_forwarded_less_the_fee_in_arrival_order() {
    let mut h = JitHolds::new(JIT_MPP_TIMEOUT);
    let t = Instant::now();
    let b = bought(Some(1_000_000)); // fee: 1% = 10,000 msat
    assert_eq!(h.add(SCID, client(), &b, part(1, 6_000), t, 0), Added::Hold);
    assert!(h.holds(&part(1, 0).htlc));
    assert_eq!(
        h.add(SCID, client(), &b, part(2, 400_000), t, 0),
        Added::Hold
    );
    assert_eq!(
        h.add(SCID, client(), &b, part(3, 600_000), t, 0),
        Added::Open {
            scid: SCID,
            client: client(),
            payment_msat: 1_006_000
        }
    );
    h.opening(SCID, 9);
    assert_eq!(h.scid_of(9), Some(SCID));
    // A late part while the channel opens is forwarded with the rest.
    assert_eq!(h.add(SCID, client(), &b, part(4, 1_000), t, 0), Added::Hold);
    // The first part keeps the client's htlc_minimum (1,000): it gives 5,000; the second
    // gives the remaining 5,000.
    let got = forwards(h.ready(SCID, 1_000).unwrap());
    assert_eq!(
        got,
        [
            (1, 1_000, 5_000),
            (2, 395_000, 5_000),
            (3, 600_000, 0),
            (4, 1_000, 0)
        ]
    );
    assert!(!h.holds(&part(1, 0).htlc), "forgotten once decided");
    assert_eq!(h.ready(SCID, 1_000), None);
}

#[test]
fn parts_that_cannot_carry_the_fee_are_all_failed() {
    let mut h = JitHolds::new(JIT_MPP_TIMEOUT);
    let t = Instant::now();
    let b = bought(Some(20_000)); // fee: the 2,000 minimum
    for i in 0..10 {
        let a = h.add(SCID, client(), &b, part(i, 2_000), t, 0);
        assert_eq!(a == Added::Hold, i < 9, "{i}: {a:?}");
    }
    // Ten parts of 2,000 keeping 1,900 each can give 1,000 in all: short of 2,000.
    match h.ready(SCID, 1_900).unwrap() {
        Settled::Fail(parts, f) => {
            assert_eq!(parts.len(), 10);
            assert_eq!(f, JitFailure::UnknownNextPeer);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_variable_sale_takes_one_part_within_the_offer() {
    let mut h = JitHolds::new(JIT_MPP_TIMEOUT);
    let t = Instant::now();
    let b = bought(None);
    // Below the offer's minimum, and a part that cannot pay the fee: refused, nothing held.
    for small in [999, 2_000] {
        match h.add(SCID, client(), &b, part(1, small), t, 0) {
            Added::Refuse(_, JitFailure::UnknownNextPeer) => {}
            other => panic!("{small}: {other:?}"),
        }
    }
    assert_eq!(h.next_deadline(), None);
    assert!(matches!(
        h.add(SCID, client(), &b, part(2, 500_000), t, 0),
        Added::Open {
            payment_msat: 500_000,
            ..
        }
    ));
    // A second part of a no-MPP sale: refused.
    assert!(matches!(
        h.add(SCID, client(), &b, part(3, 500_000), t, 0),
        Added::Refuse(_, JitFailure::UnknownNextPeer)
    ));
    h.opening(SCID, 1);
    assert_eq!(forwards(h.ready(SCID, 1).unwrap()), [(2, 495_000, 5_000)]);
}

#[test]
fn a_short_set_fails_after_the_timeout_and_a_late_one_after_the_offer() {
    let mut h = JitHolds::new(Duration::from_secs(90));
    let t = Instant::now();
    let b = bought(Some(1_000_000));
    assert_eq!(
        h.add(SCID, client(), &b, part(1, 400_000), t, 0),
        Added::Hold
    );
    assert_eq!(h.next_deadline(), Some(t + Duration::from_secs(90)));
    assert!(h.expire(t + Duration::from_secs(89), 0).is_empty());
    let due = h.expire(t + Duration::from_secs(90), 0);
    assert_eq!(due.len(), 1);
    assert!(
        matches!(&due[0].1, Settled::Fail(p, JitFailure::TemporaryChannelFailure) if p.len() == 1)
    );
    assert!(!h.holds(&part(1, 0).htlc));

    // The offer ends while collecting: unknown_next_peer, now and for later parts.
    assert_eq!(
        h.add(SCID, client(), &b, part(2, 400_000), t, UNTIL),
        Added::Hold
    );
    let due = h.expire(t, UNTIL + 1);
    assert!(matches!(
        &due[0].1,
        Settled::Fail(_, JitFailure::UnknownNextPeer)
    ));
    assert!(matches!(
        h.add(SCID, client(), &b, part(3, 1_000_000), t, UNTIL + 1),
        Added::Refuse(_, JitFailure::UnknownNextPeer)
    ));
    assert_eq!(
        h.next_deadline(),
        None,
        "a refused first part leaves no set"
    );
}

#[test]
fn an_open_that_fails_or_never_gets_ready_gives_the_parts_back() {
    let mut h = JitHolds::new(JIT_MPP_TIMEOUT);
    let t = Instant::now();
    let b = bought(Some(10_000));
    assert!(matches!(
        h.add(SCID, client(), &b, part(1, 10_000), t, 0),
        Added::Open { .. }
    ));
    h.opening(SCID, 3);
    assert_eq!(h.open_failed(SCID), vec![part(1, 10_000)]);
    assert_eq!(h.scid_of(3), None);

    assert!(matches!(
        h.add(SCID, client(), &b, part(2, 10_000), t, 0),
        Added::Open { .. }
    ));
    // Past the MPP timeout but opening: the open's own timeout counts.
    assert!(h
        .expire(
            t + JIT_MPP_TIMEOUT.min(JIT_OPEN_TIMEOUT) - Duration::from_secs(1),
            0
        )
        .is_empty());
    let due = h.expire(t + JIT_OPEN_TIMEOUT, 0);
    assert!(
        matches!(&due[0].1, Settled::Fail(p, JitFailure::TemporaryChannelFailure) if p.len() == 1)
    );
}

#[test]
fn what_strangers_can_make_us_hold_is_bounded() {
    let mut h = JitHolds::new(JIT_MPP_TIMEOUT);
    let t = Instant::now();
    let b = bought(Some(1 << 40));
    for i in 0..MAX_PARTS_PER_SCID as u64 {
        assert_eq!(h.add(SCID, client(), &b, part(i, 1_000), t, 0), Added::Hold);
    }
    assert!(matches!(
        h.add(SCID, client(), &b, part(99, 1_000), t, 0),
        Added::Refuse(_, JitFailure::UnknownNextPeer)
    ));
    let mut id = 1000;
    let mut scid = 100;
    while h.held() < MAX_HELD_PARTS {
        let a = h.add(ShortChannelId(scid), client(), &b, part(id, 1_000), t, 0);
        if let Added::Refuse(..) = a {
            scid += 1;
            continue;
        }
        id += 1;
    }
    assert!(matches!(
        h.add(ShortChannelId(1 << 40), client(), &b, part(id, 1_000), t, 0),
        Added::Refuse(_, JitFailure::TemporaryChannelFailure)
    ));
    assert_eq!(h.held(), MAX_HELD_PARTS);
}
