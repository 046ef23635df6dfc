//! Which path is chosen: fees, skipped channels, our channels, hints, penalties, overrides.

use super::testkit::*;
use super::{find_route, Constraints, PolicyOverride, Scorer};

/// us → A → Z and us → B → Z, A's fee `a`, B's fee `b` (base msat, no proportional part).
struct Diamond {
    us: bitcoin::secp256k1::PublicKey,
    a: bitcoin::secp256k1::PublicKey,
    b: bitcoin::secp256k1::PublicKey,
    z: bitcoin::secp256k1::PublicKey,
    g: G,
    az: crate::wire::ShortChannelId,
    bz: crate::wire::ShortChannelId,
}

fn diamond(pa: P, pb: P) -> Diamond {
    let (us, a, b, z) = (node(0), node(1), node(2), node(3));
    let mut g = G::new();
    let az = g.channel(&a, &z, 1_000_000);
    g.policy(az, &a, &z, pa);
    g.policy(az, &z, &a, P::default());
    let bz = g.channel(&b, &z, 1_000_000);
    g.policy(bz, &b, &z, pb);
    g.policy(bz, &z, &b, P::default());
    Diamond {
        us,
        a,
        b,
        z,
        g,
        az,
        bz,
    }
}

fn locals(d: &Diamond) -> Vec<super::LocalChannel> {
    vec![
        local(1, &d.a, 10_000_000_000),
        local(2, &d.b, 10_000_000_000),
    ]
}

#[test]
fn the_cheaper_forwarder_wins_and_charges_on_its_outgoing_channel() {
    let d = diamond(P::fee(1_000, 100), P::fee(2_000, 100));
    let p = single(route(&d.us, &d.g, &locals(&d), &params(&d.z, 5_000_000)));
    assert_eq!(p.first_channel, [1; 32]);
    assert_eq!(via(&p), vec![d.a]);
    assert_eq!(p.forwarders[0].next_channel, d.az);
    assert_eq!(p.forwarders[0].fee_base_msat, 1_000);
    // 1000 + 5_000_000 * 100 / 1_000_000: A's fee only, none of ours.
    assert_eq!(p.fee_msat, 1_500);
    assert_eq!(p.cltv_delta, 40 + 40);
    assert_eq!(p.amount_msat, 5_000_000);
    assert_eq!(p.channels(), vec![(d.az, super::direction(&d.a, &d.z))]);
    assert_eq!(p.nodes(), vec![d.a, d.z]);

    let d = diamond(P::fee(3_000, 100), P::fee(2_000, 100));
    let p = single(route(&d.us, &d.g, &locals(&d), &params(&d.z, 5_000_000)));
    assert_eq!((p.first_channel, via(&p)), ([2; 32], vec![d.b]));
}

#[test]
fn disabled_too_small_and_out_of_bounds_channels_are_skipped() {
    let amount = 5_000_000;
    let cheap = P::fee(1_000, 0);
    let dear = P::fee(2_000, 0);
    let cases = [
        (
            "disabled",
            P {
                disabled: true,
                ..cheap
            },
            1_000_000,
        ),
        (
            "htlc_maximum",
            P {
                max: amount - 1,
                ..cheap
            },
            1_000_000,
        ),
        (
            "htlc_minimum",
            P {
                min: amount + 1,
                ..cheap
            },
            1_000_000,
        ),
        ("capacity", cheap, amount / 1000 - 1),
        (
            "stale",
            P {
                timestamp: (NOW - 15 * 24 * 3600) as u32,
                ..cheap
            },
            1_000_000,
        ),
    ];
    for (why, pa, cap_sat) in cases {
        let (us, a, b, z) = (node(0), node(1), node(2), node(3));
        let mut g = G::new();
        let az = g.channel(&a, &z, cap_sat);
        g.policy(az, &a, &z, pa);
        g.both(&b, &z, 1_000_000, dear);
        let ls = vec![local(1, &a, u64::MAX), local(2, &b, u64::MAX)];
        let p = single(route(&us, &g, &ls, &params(&z, amount)));
        assert_eq!(via(&p), vec![b], "{why}: A's channel is skipped");
        // Only the direction A forwards in counts: disabling Z → A changes nothing.
        if why == "disabled" {
            let mut g2 = G::new();
            let az = g2.channel(&a, &z, 1_000_000);
            g2.policy(az, &a, &z, cheap);
            g2.policy(az, &z, &a, pa);
            g2.both(&b, &z, 1_000_000, dear);
            assert_eq!(
                via(&single(route(&us, &g2, &ls, &params(&z, amount)))),
                vec![a]
            );
        }
    }
    // No policy for A's direction at all, or the channel spent.
    let (us, a, b, z) = (node(0), node(1), node(2), node(3));
    let mut g = G::new();
    let az = g.channel(&a, &z, 1_000_000);
    g.policy(az, &z, &a, cheap);
    g.both(&b, &z, 1_000_000, dear);
    let ls = vec![local(1, &a, u64::MAX), local(2, &b, u64::MAX)];
    assert_eq!(
        via(&single(route(&us, &g, &ls, &params(&z, amount)))),
        vec![b]
    );
    let mut g = G::new();
    let az = g.both(&a, &z, 1_000_000, cheap);
    g.both(&b, &z, 1_000_000, dear);
    assert!(g.graph.mark_spent(az, 1));
    assert_eq!(
        via(&single(route(&us, &g, &ls, &params(&z, amount)))),
        vec![b]
    );
}

#[test]
fn our_liquidity_is_exact_and_unusable_channels_are_ignored() {
    let d = diamond(P::fee(1_000, 0), P::fee(2_000, 0));
    let amount = 5_000_000;
    // A's channel carries the amount plus A's fee, exactly.
    let ls = vec![local(1, &d.a, amount + 1_000), local(2, &d.b, u64::MAX)];
    assert_eq!(
        via(&single(route(&d.us, &d.g, &ls, &params(&d.z, amount)))),
        vec![d.a]
    );
    let ls = vec![local(1, &d.a, amount + 999), local(2, &d.b, u64::MAX)];
    assert_eq!(
        via(&single(route(&d.us, &d.g, &ls, &params(&d.z, amount)))),
        vec![d.b]
    );
    // The peer's minimum.
    let mut small = local(1, &d.a, u64::MAX);
    small.htlc_minimum_msat = amount + 1_001;
    let ls = vec![small, local(2, &d.b, u64::MAX)];
    assert_eq!(
        via(&single(route(&d.us, &d.g, &ls, &params(&d.z, amount)))),
        vec![d.b]
    );
    // Unusable.
    let mut down = local(1, &d.a, u64::MAX);
    down.usable = false;
    let ls = vec![down, local(2, &d.b, u64::MAX)];
    assert_eq!(
        via(&single(route(&d.us, &d.g, &ls, &params(&d.z, amount)))),
        vec![d.b]
    );
    // A direct channel to the payee: no forwarder, no fee; of two, the one that can carry it.
    let ls = vec![
        local(1, &d.a, u64::MAX),
        local(3, &d.z, amount - 1),
        local(4, &d.z, amount),
    ];
    let p = single(route(&d.us, &d.g, &ls, &params(&d.z, amount)));
    assert_eq!(
        (p.first_channel, p.forwarders.len(), p.fee_msat),
        ([4; 32], 0, 0)
    );
    assert_eq!(p.cltv_delta, 40);
}

#[test]
fn the_graph_copy_of_our_channels_is_never_used() {
    // We are public: the graph has us–A and us–Z. Only `local` leaves from us, and no path
    // comes back through us.
    let (us, a, z) = (node(0), node(1), node(3));
    let mut g = G::new();
    g.both(&us, &a, 1_000_000, P::fee(0, 0));
    g.both(&us, &z, 1_000_000, P::fee(0, 0));
    let ls = vec![local(1, &a, u64::MAX)];
    assert!(route(&us, &g, &ls, &params(&z, 1_000)).is_err());
    // With A–Z, the path is us → A → Z on our channel.
    let az = g.both(&a, &z, 1_000_000, P::fee(5, 0));
    let p = single(route(&us, &g, &ls, &params(&z, 1_000)));
    assert_eq!((via(&p), p.forwarders[0].next_channel), (vec![a], az));
}

#[test]
fn no_path_passes_through_the_payee() {
    // us → A → Z → B → Z would be absurd; and A reaches Z only through Z's own channels.
    let (us, a, b, z) = (node(0), node(1), node(2), node(3));
    let mut g = G::new();
    g.both(&a, &b, 1_000_000, P::fee(0, 0));
    g.both(&b, &z, 1_000_000, P::fee(0, 0));
    let ls = vec![local(1, &a, u64::MAX)];
    let p = single(route(&us, &g, &ls, &params(&z, 1_000)));
    assert_eq!(via(&p), vec![a, b]);
    assert!(!via(&p).contains(&z));
}

#[test]
fn route_hints_are_used_to_reach_a_private_payee() {
    // Z is private; its hint says C forwards to it over scid X.
    let (us, a, c, z) = (node(0), node(1), node(4), node(3));
    let mut g = G::new();
    let ac = g.both(&a, &c, 1_000_000, P::fee(1_000, 0));
    let x = crate::wire::ShortChannelId::new(9, 9, 9).unwrap();
    let ls = vec![local(1, &a, u64::MAX)];
    let mut ps = params(&z, 1_000_000);
    assert!(
        route(&us, &g, &ls, &ps).is_err(),
        "unreachable without the hint"
    );
    ps.hints = vec![hint(&[(c, x, 500, 1_000, 30)])];
    let p = single(route(&us, &g, &ls, &ps));
    assert_eq!(via(&p), vec![a, c]);
    assert_eq!(p.forwarders[0].next_channel, ac);
    assert_eq!(p.forwarders[1].next_channel, x);
    assert_eq!(p.forwarders[1].fee_base_msat, 500);
    assert_eq!(p.forwarders[1].cltv_expiry_delta, 30);
    // C: 500 + 1_000_000 * 1000 / 1e6 = 1_500; A forwards 1_001_500: 1_000.
    assert_eq!(p.fee_msat, 2_500);
    assert_eq!(p.cltv_delta, 40 + 40 + 30);

    // A two-hop hint starting at our peer: A → C over Y, then C → Z over X.
    let y = crate::wire::ShortChannelId::new(8, 8, 8).unwrap();
    let g = G::new();
    ps.hints = vec![hint(&[(a, y, 10, 0, 20), (c, x, 20, 0, 20)])];
    let p = single(route(&us, &g, &ls, &ps));
    assert_eq!(via(&p), vec![a, c]);
    assert_eq!(
        p.channels(),
        vec![(y, super::direction(&a, &c)), (x, super::direction(&c, &z))]
    );
    assert_eq!(p.fee_msat, 30);

    // A hint from us is our own channel to the payee: `local` is what we use.
    ps.hints = vec![hint(&[(us, x, 0, 0, 20)])];
    assert!(route(&us, &g, &ls, &ps).is_err());
    let direct = vec![local(7, &z, u64::MAX)];
    let p = single(route(&us, &g, &direct, &ps));
    assert_eq!((p.first_channel, p.forwarders.len()), ([7; 32], 0));
}

#[test]
fn a_hint_competes_with_the_graph_on_cost() {
    let (us, a, b, z) = (node(0), node(1), node(2), node(3));
    let mut g = G::new();
    g.both(&a, &z, 1_000_000, P::fee(5_000, 0));
    let ls = vec![local(1, &a, u64::MAX), local(2, &b, u64::MAX)];
    let x = crate::wire::ShortChannelId::new(9, 9, 9).unwrap();
    let mut ps = params(&z, 1_000_000);
    ps.hints = vec![hint(&[(b, x, 100, 0, 40)])];
    assert_eq!(via(&single(route(&us, &g, &ls, &ps))), vec![b]);
    ps.hints = vec![hint(&[(b, x, 9_000, 0, 40)])];
    assert_eq!(via(&single(route(&us, &g, &ls, &ps))), vec![a]);
}

#[test]
fn a_channel_that_failed_recently_loses_to_a_slightly_dearer_one() {
    let d = diamond(P::fee(1_000, 0), P::fee(1_200, 0));
    let ls = locals(&d);
    let ps = params(&d.z, 5_000_000);
    let mut scorer = Scorer::new();
    let run = |s: &Scorer, now: u64| {
        single(find_route(
            &d.us,
            &d.g.graph,
            &ls,
            &ps,
            s,
            &Constraints::default(),
            now,
        ))
    };
    assert_eq!(via(&run(&scorer, NOW)), vec![d.a]);
    scorer.channel_failed(d.az, super::direction(&d.a, &d.z), 5_000_000, NOW);
    assert_eq!(via(&run(&scorer, NOW + 60)), vec![d.b]);
    // A day later the penalty has faded.
    assert_eq!(via(&run(&scorer, NOW + 86_400)), vec![d.a]);

    let mut scorer = Scorer::new();
    scorer.node_failed(&d.a, NOW);
    assert_eq!(via(&run(&scorer, NOW + 60)), vec![d.b]);
}

#[test]
fn constraints_avoid_override_and_limit() {
    let d = diamond(P::fee(1_000, 0), P::fee(2_000, 0));
    let ls = locals(&d);
    let ps = params(&d.z, 5_000_000);
    let with = |c: &Constraints| {
        single(find_route(
            &d.us,
            &d.g.graph,
            &ls,
            &ps,
            &Scorer::new(),
            c,
            NOW,
        ))
    };
    let az = (d.az, super::direction(&d.a, &d.z));
    let bz = (d.bz, super::direction(&d.b, &d.z));
    assert_eq!(via(&with(&Constraints::default())), vec![d.a]);

    let mut c = Constraints::default();
    c.avoid_channels.insert(az);
    assert_eq!(via(&with(&c)), vec![d.b]);
    // The other direction of the same channel is not the one A uses.
    let mut c = Constraints::default();
    c.avoid_channels.insert((d.az, 1 - az.1));
    assert_eq!(via(&with(&c)), vec![d.a]);

    let mut c = Constraints::default();
    c.avoid_nodes.insert(d.a);
    assert_eq!(via(&with(&c)), vec![d.b]);

    // A failure's channel_update: A's fee went up, so B wins; then B's is disabled.
    let over = PolicyOverride {
        fee_base_msat: 3_000,
        fee_proportional_millionths: 0,
        cltv_expiry_delta: 40,
        htlc_minimum_msat: 1,
        htlc_maximum_msat: 1_000_000_000,
        disabled: false,
    };
    let mut c = Constraints::default();
    c.policy_overrides.insert(az, over);
    let p = with(&c);
    assert_eq!(via(&p), vec![d.b]);
    c.policy_overrides.insert(
        bz,
        PolicyOverride {
            disabled: true,
            ..over
        },
    );
    let p = with(&c);
    assert_eq!(
        (via(&p), p.fee_msat),
        (vec![d.a], 3_000),
        "A at its new fee"
    );

    // Our parts in flight, or liquidity learned, leave A too little.
    let mut c = Constraints::default();
    c.in_flight.insert(az, 1_000_000_000 - 4_999_999);
    assert_eq!(via(&with(&c)), vec![d.b]);
    let mut c = Constraints::default();
    c.max_liquidity.insert(az, 5_000_000);
    assert_eq!(via(&with(&c)), vec![d.b]);
    c.max_liquidity.insert(az, 5_000_001);
    assert_eq!(via(&with(&c)), vec![d.a]);
}
