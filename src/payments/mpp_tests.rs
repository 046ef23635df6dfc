use proptest::prelude::*;

use super::*;

const HASH: [u8; 32] = [1; 32];
const SECRET: [u8; 32] = [2; 32];
const HEIGHT: u32 = 100;
const CLTV: u32 = 200;
const DETAILS: u16 = 0x4000 | 15;

fn part(id: u64, amount_msat: u64) -> Part<u64> {
    Part {
        htlc: HtlcRef {
            channel_id: [(id % 3) as u8; 32],
            htlc_id: id,
        },
        amount_msat,
        cltv_expiry: CLTV,
        data: id,
    }
}

fn terms(total_msat: u64) -> SetTerms {
    SetTerms {
        payment_secret: Some(SECRET),
        total_msat,
    }
}

fn code<T>(a: &Added<T>) -> Option<u16> {
    match a {
        Added::Fail(f) => Some(f.code()),
        _ => None,
    }
}

fn ids(a: &Added<u64>) -> Vec<u64> {
    match a {
        Added::Complete(parts) => parts.iter().map(|p| p.data).collect(),
        other => panic!("not complete: {other:?}"),
    }
}

#[test]
fn a_set_completes_exactly_when_its_total_arrives() {
    let t0 = Instant::now();
    let mut sets = PartSets::default();
    let add = |s: &mut PartSets<u64>, id, amount| {
        s.add(
            HASH,
            terms(100_000),
            part(id, amount),
            Some(100_000),
            HEIGHT,
            t0,
        )
    };
    assert_eq!(add(&mut sets, 1, 40_000), Added::Hold);
    assert_eq!(add(&mut sets, 2, 59_999), Added::Hold);
    assert_eq!(sets.len(), 1);
    // The same HTLC delivered again (every block, after a restart) is held once.
    assert_eq!(add(&mut sets, 2, 59_999), Added::Hold);
    assert!(sets.holds(&part(2, 0).htlc));
    assert_eq!(ids(&add(&mut sets, 3, 1)), vec![1, 2, 3]);
    assert!(sets.is_empty(), "a completed set is forgotten");
    assert_eq!(sets.next_deadline(), None);
}

#[test]
fn a_single_part_payment_completes_at_once() {
    let mut sets = PartSets::default();
    let a = sets.add(
        HASH,
        terms(50_000),
        part(1, 50_000),
        Some(50_000),
        HEIGHT,
        Instant::now(),
    );
    assert_eq!(ids(&a), vec![1]);
}

#[test]
fn a_part_disagreeing_with_its_set_fails_alone() {
    let t0 = Instant::now();
    let mut sets = PartSets::default();
    let a = sets.add(HASH, terms(100_000), part(1, 50_000), None, HEIGHT, t0);
    assert_eq!(a, Added::Hold);
    // What add refuses, admit refuses first, changing nothing.
    let other = SetTerms {
        payment_secret: Some([9; 32]),
        total_msat: 100_000,
    };
    let refused = sets.admit(&HASH, other, &part(2, 50_000), None, HEIGHT);
    assert_eq!(refused.map_err(|f| f.code()), Err(DETAILS));
    assert_eq!(
        sets.admit(&HASH, terms(100_000), &part(2, 50_000), None, HEIGHT),
        Ok(())
    );
    assert!(!sets.holds(&part(2, 0).htlc));
    let wrong_secret = SetTerms {
        payment_secret: Some([9; 32]),
        total_msat: 100_000,
    };
    let a = sets.add(HASH, wrong_secret, part(2, 50_000), None, HEIGHT, t0);
    assert_eq!(code(&a), Some(DETAILS));
    let a = sets.add(HASH, terms(90_000), part(3, 50_000), None, HEIGHT, t0);
    assert_eq!(code(&a), Some(DETAILS), "another total");
    let no_secret = SetTerms {
        payment_secret: None,
        total_msat: 100_000,
    };
    let a = sets.add(HASH, no_secret, part(4, 50_000), None, HEIGHT, t0);
    assert_eq!(code(&a), Some(DETAILS));
    // The set is untouched: the right part completes it.
    let a = sets.add(HASH, terms(100_000), part(5, 50_000), None, HEIGHT, t0);
    assert_eq!(ids(&a), vec![1, 5]);
}

#[test]
fn the_total_must_cover_the_invoice_and_the_sum_stay_within_twice_it() {
    let t0 = Instant::now();
    let mut sets = PartSets::default();
    let a = sets.add(
        HASH,
        terms(99_999),
        part(1, 99_999),
        Some(100_000),
        HEIGHT,
        t0,
    );
    assert_eq!(code(&a), Some(DETAILS), "a total below the invoice");
    assert!(sets.is_empty());
    // Twice the invoice in one part is accepted, a millisatoshi more is not.
    let a = sets.add(
        HASH,
        terms(100_000),
        part(2, 200_001),
        Some(100_000),
        HEIGHT,
        t0,
    );
    assert_eq!(code(&a), Some(DETAILS));
    assert!(sets.is_empty(), "a refused first part leaves no set");
    let a = sets.add(
        HASH,
        terms(100_000),
        part(3, 200_000),
        Some(100_000),
        HEIGHT,
        t0,
    );
    assert_eq!(ids(&a), vec![3]);
    // An overpaying last part is refused and the set keeps waiting for a fitting one.
    assert_eq!(
        sets.add(
            HASH,
            terms(100_000),
            part(4, 90_000),
            Some(100_000),
            HEIGHT,
            t0
        ),
        Added::Hold
    );
    let a = sets.add(
        HASH,
        terms(100_000),
        part(5, 110_001),
        Some(100_000),
        HEIGHT,
        t0,
    );
    assert_eq!(code(&a), Some(DETAILS));
    let a = sets.add(
        HASH,
        terms(100_000),
        part(6, 110_000),
        Some(100_000),
        HEIGHT,
        t0,
    );
    assert_eq!(ids(&a), vec![4, 6]);
    // Without an invoice amount the bound is twice the total.
    let a = sets.add(HASH, terms(10), part(7, 21), None, HEIGHT, t0);
    assert_eq!(code(&a), Some(DETAILS));
    let a = sets.add(HASH, terms(0), part(8, 1), None, HEIGHT, t0);
    assert_eq!(code(&a), Some(DETAILS), "a zero total");
}

#[test]
fn an_incomplete_set_times_out_with_mpp_timeout() {
    let t0 = Instant::now();
    let mut sets = PartSets::new(Duration::from_secs(60));
    sets.add(HASH, terms(100_000), part(1, 30_000), None, HEIGHT, t0);
    let later = t0 + Duration::from_secs(30);
    sets.add(
        [7; 32],
        terms(100_000),
        part(2, 30_000),
        None,
        HEIGHT,
        later,
    );
    // A later part does not extend the first part's clock.
    sets.add(HASH, terms(100_000), part(3, 30_000), None, HEIGHT, later);
    assert_eq!(sets.next_deadline(), Some(t0 + Duration::from_secs(60)));
    assert!(sets.expire(t0 + Duration::from_secs(59), HEIGHT).is_empty());
    let gone = sets.expire(t0 + Duration::from_secs(60), HEIGHT);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].payment_hash, HASH);
    assert_eq!(gone[0].failure.code(), 23, "mpp_timeout");
    assert_eq!(
        gone[0].parts.iter().map(|p| p.data).collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert_eq!(sets.next_deadline(), Some(later + Duration::from_secs(60)));
    // A part of a timed-out set arriving later starts a new set.
    let a = sets.add(HASH, terms(100_000), part(4, 30_000), None, HEIGHT, t0);
    assert_eq!(a, Added::Hold);
}

#[test]
fn parts_are_never_held_close_to_their_expiry() {
    let t0 = Instant::now();
    let mut sets = PartSets::default();
    let mut near = part(1, 30_000);
    near.cltv_expiry = HEIGHT + HOLD_MARGIN_BLOCKS;
    let a = sets.add(HASH, terms(100_000), near, None, HEIGHT, t0);
    assert_eq!(code(&a), Some(DETAILS), "too near on arrival");
    let mut ok = part(2, 30_000);
    ok.cltv_expiry = HEIGHT + HOLD_MARGIN_BLOCKS + 1;
    assert_eq!(
        sets.add(HASH, terms(100_000), ok, None, HEIGHT, t0),
        Added::Hold
    );
    assert!(sets.expire(t0, HEIGHT).is_empty());
    // One block later the held part is as near: the whole set fails back, before its timeout.
    let gone = sets.expire(t0, HEIGHT + 1);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].failure.code(), DETAILS);
    assert!(sets.is_empty());
}

#[test]
fn what_a_stranger_can_make_us_hold_is_bounded() {
    let t0 = Instant::now();
    let mut sets = PartSets::with_bounds(MPP_TIMEOUT, 3, 2);
    for id in 0..3 {
        let a = sets.add(HASH, terms(100_000), part(id, 1), None, HEIGHT, t0);
        assert_eq!(a, Added::Hold);
    }
    let a = sets.add(HASH, terms(100_000), part(3, 1), None, HEIGHT, t0);
    assert_eq!(code(&a), Some(DETAILS), "a part past the set's bound");
    let a = sets.add([5; 32], terms(100_000), part(4, 1), None, HEIGHT, t0);
    assert_eq!(a, Added::Hold);
    let a = sets.add([6; 32], terms(100_000), part(5, 1), None, HEIGHT, t0);
    assert_eq!(code(&a), Some(0x2000 | 2), "a set past the bound on sets");
    // Sets that complete at once are never held, so they pass even when the bound is reached.
    let a = sets.add([6; 32], terms(5), part(6, 5), None, HEIGHT, t0);
    assert_eq!(ids(&a), vec![6]);
    assert_eq!(sets.len(), 2);
    assert_eq!(sets.remove(&HASH).len(), 3);
    let a = sets.add([6; 32], terms(100_000), part(7, 1), None, HEIGHT, t0);
    assert_eq!(a, Added::Hold);
    // The defaults.
    assert_eq!(MAX_PARTS_PER_SET, 64);
    assert_eq!(MAX_SETS, 1024);
    assert_eq!(MPP_TIMEOUT, Duration::from_secs(60));
}

#[test]
fn a_keysend_without_payment_data_pays_alone() {
    let t0 = Instant::now();
    let mut sets = PartSets::default();
    let alone = SetTerms {
        payment_secret: None,
        total_msat: 10_000,
    };
    let a = sets.add(HASH, alone, part(1, 9_999), None, HEIGHT, t0);
    assert_eq!(code(&a), Some(DETAILS));
    assert!(sets.is_empty());
    assert_eq!(
        ids(&sets.add(HASH, alone, part(2, 10_000), None, HEIGHT, t0)),
        vec![2]
    );
}

proptest! {
    /// Parts of random sizes: the set completes on exactly the part that brings the sum to
    /// the total (never earlier), with every part held so far, and never pays more than
    /// twice the invoice.
    #[test]
    fn completes_exactly_at_the_total(
        amounts in prop::collection::vec(1u64..50_000, 1..40),
        total in 1u64..400_000,
    ) {
        let t0 = Instant::now();
        let mut sets = PartSets::default();
        let mut held = Vec::new();
        let mut sum = 0u64;
        for (i, a) in amounts.iter().enumerate() {
            let r = sets.add(HASH, terms(total), part(i as u64, *a), Some(total), HEIGHT, t0);
            match r {
                Added::Hold => {
                    sum += a;
                    held.push(i as u64);
                    prop_assert!(sum < total);
                }
                Added::Complete(parts) => {
                    sum += a;
                    held.push(i as u64);
                    prop_assert!(sum >= total && sum <= 2 * total);
                    prop_assert_eq!(parts.iter().map(|p| p.data).collect::<Vec<_>>(), held);
                    prop_assert_eq!(parts.iter().map(|p| p.amount_msat).sum::<u64>(), sum);
                    prop_assert!(sets.is_empty());
                    return Ok(());
                }
                Added::Fail(f) => {
                    prop_assert_eq!(f.code(), DETAILS);
                    prop_assert!(sum + a > 2 * total, "only an overpaying part fails");
                }
            }
        }
        prop_assert!(sum < total);
        prop_assert_eq!(sets.expire(t0 + MPP_TIMEOUT, HEIGHT).len(), usize::from(!held.is_empty()));
    }
}
