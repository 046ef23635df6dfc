//! The payer's limits: hops, fees, CLTV; and the errors that say why there is no route.

use super::testkit::*;
use super::RouteError;
use bitcoin::secp256k1::PublicKey;

/// us → n1 → n2 → … → n_len (the payee), each forwarder charging `base` msat and `cltv`.
fn chain(len: u32, base: u32, cltv: u16) -> (PublicKey, G, Vec<super::LocalChannel>, PublicKey) {
    let us = node(0);
    let mut g = G::new();
    for i in 1..len {
        let p = P {
            cltv,
            ..P::fee(base, 0)
        };
        g.both(&node(i), &node(i + 1), 1_000_000, p);
    }
    (us, g, vec![local(1, &node(1), u64::MAX)], node(len))
}

#[test]
fn max_hops_counts_our_channel_too() {
    // 20 channels: ours and 19 in the graph.
    let (us, g, ls, payee) = chain(20, 1, 10);
    let mut ps = params(&payee, 1_000);
    let p = single(route(&us, &g, &ls, &ps));
    assert_eq!(p.forwarders.len(), 19);
    ps.max_hops = 19;
    assert!(matches!(
        route(&us, &g, &ls, &ps),
        Err(RouteError::NoRoute(_))
    ));
    // Never more than 20, whatever is asked.
    let (us, g, ls, payee) = chain(21, 1, 10);
    let mut ps = params(&payee, 1_000);
    ps.max_hops = 50;
    assert!(matches!(
        route(&us, &g, &ls, &ps),
        Err(RouteError::NoRoute(_))
    ));
}

#[test]
fn max_fee_is_honoured_and_the_error_says_what_it_would_cost() {
    let (us, g, ls, payee) = chain(4, 1_000, 10);
    let mut ps = params(&payee, 1_000);
    ps.max_fee_msat = 3_000;
    assert_eq!(single(route(&us, &g, &ls, &ps)).fee_msat, 3_000);
    ps.max_fee_msat = 2_999;
    assert_eq!(
        route(&us, &g, &ls, &ps),
        Err(RouteError::TooExpensive {
            fee_msat: 3_000,
            max_fee_msat: 2_999
        })
    );
}

#[test]
fn max_cltv_is_honoured_and_the_error_says_how_long() {
    let (us, g, ls, payee) = chain(4, 1, 100);
    let mut ps = params(&payee, 1_000);
    ps.final_cltv_delta = 40;
    ps.max_total_cltv_delta = 340;
    assert_eq!(single(route(&us, &g, &ls, &ps)).cltv_delta, 340);
    ps.max_total_cltv_delta = 339;
    assert_eq!(
        route(&us, &g, &ls, &ps),
        Err(RouteError::TooLong {
            cltv: 340,
            max: 339
        })
    );
}

#[test]
fn a_cheap_long_path_loses_to_a_dear_short_one_within_the_cltv_limit() {
    // us → A → Z: fee 5000, delta 40; us → B → C → Z: fee 2, delta 500 each.
    let (us, a, b, c, z) = (node(0), node(1), node(2), node(4), node(3));
    let mut g = G::new();
    g.both(&a, &z, 1_000_000, P::fee(5_000, 0));
    let slow = P {
        cltv: 500,
        ..P::fee(1, 0)
    };
    g.both(&b, &c, 1_000_000, slow);
    g.both(&c, &z, 1_000_000, slow);
    let ls = vec![local(1, &a, u64::MAX), local(2, &b, u64::MAX)];
    let mut ps = params(&z, 1_000);
    ps.max_total_cltv_delta = 2_016;
    assert_eq!(via(&single(route(&us, &g, &ls, &ps))), vec![b, c]);
    ps.max_total_cltv_delta = 500;
    assert_eq!(via(&single(route(&us, &g, &ls, &ps))), vec![a]);
}

#[test]
fn errors_say_why() {
    let (us, g, ls, payee) = chain(3, 1, 10);
    assert_eq!(
        route(&us, &g, &ls, &params(&us, 1_000)),
        Err(RouteError::OwnPayee)
    );
    assert!(matches!(
        route(&us, &g, &ls, &params(&payee, 0)),
        Err(RouteError::InvalidParams(_))
    ));
    let mut down = ls.clone();
    down[0].usable = false;
    let Err(RouteError::NoRoute(why)) = route(&us, &g, &down, &params(&payee, 1_000)) else {
        panic!("no route")
    };
    assert!(why.contains("none of our channels"), "{why}");
    let Err(RouteError::NoRoute(why)) = route(&us, &g, &ls, &params(&node(77), 1_000)) else {
        panic!("no route")
    };
    assert!(why.contains("cannot be reached"), "{why}");
    // Reachable, but no channel carries that much, and no multi-part.
    let Err(RouteError::NoRoute(why)) = route(&us, &g, &ls, &params(&payee, 2_000_000_000)) else {
        panic!("no route")
    };
    assert!(why.contains("multi-part"), "{why}");
}
