//! One path, or several (multi-part): when no single path carries the amount and the payee
//! accepts `basic_mpp`, parts are found one after the other, each as large as its path's
//! bottleneck allows, and what each part uses is reserved before the next is searched.
//!
//! A part's path is searched for a probe amount (the remainder, then halved, never below an
//! even share of the remainder over the parts left); the part then grows to the most its path
//! carries within every channel's bound and the fee budget left.

use super::search::{search, Found, Limits, Scratch};
use super::view::View;
use super::{CostWeights, Path, RouteError, RouteParams, MAX_HOPS};
use crate::onion::ForwardingHop;

/// See the module docs.
pub fn route(
    view: &mut View,
    params: &RouteParams,
    w: &CostWeights,
) -> Result<Vec<Path>, RouteError> {
    if !view.has_local_edges() {
        return Err(RouteError::NoRoute("none of our channels is usable".into()));
    }
    let mut s = Scratch::default();
    let limits = Limits {
        amount_msat: params.amount_msat,
        fee_budget_msat: params.max_fee_msat,
        final_cltv_delta: params.final_cltv_delta,
        max_cltv: params.max_total_cltv_delta,
        max_hops: params.max_hops.min(MAX_HOPS),
    };
    if let Some(found) = search(view, &mut s, &limits, w) {
        return Ok(vec![to_path(
            view,
            &found,
            params.amount_msat,
            params.final_cltv_delta,
        )]);
    }
    if !params.mpp || params.max_parts < 2 {
        return Err(diagnose(view, &mut s, &limits, w, params.mpp));
    }
    let mut parts: Vec<Path> = Vec::new();
    let mut remaining = params.amount_msat;
    let mut fee_left = params.max_fee_msat;
    while remaining > 0 {
        if parts.len() == params.max_parts {
            return Err(RouteError::NoRoute(format!(
                "{} parts carry only {} of {} msat",
                parts.len(),
                params.amount_msat - remaining,
                params.amount_msat
            )));
        }
        let parts_left = (params.max_parts - parts.len()) as u64;
        let floor = remaining.div_ceil(parts_left).max(1);
        // The whole amount on one path was tried above.
        let mut probe = if parts.is_empty() {
            (remaining / 2).max(floor)
        } else {
            remaining
        };
        let found = loop {
            let l = Limits {
                amount_msat: probe,
                fee_budget_msat: fee_left,
                ..limits
            };
            if let Some(f) = search(view, &mut s, &l, w) {
                break Some(f);
            }
            if probe <= floor {
                break None;
            }
            probe = (probe / 2).max(floor);
        };
        let Some(found) = found else {
            if parts.is_empty() {
                return Err(diagnose(view, &mut s, &limits, w, true));
            }
            return Err(RouteError::NoRoute(format!(
                "{} msat found on {} paths, no path left for the other {} msat",
                params.amount_msat - remaining,
                parts.len(),
                remaining
            )));
        };
        let amount = largest(&found, probe, remaining, fee_left);
        let path = to_path(view, &found, amount, params.final_cltv_delta);
        for ((r, e), carried) in found.edges.iter().zip(carried(&found, amount)) {
            view.reserve(e, *r, carried);
        }
        fee_left -= path.fee_msat;
        remaining -= amount;
        parts.push(path);
    }
    Ok(parts)
}

/// What each edge of `found` carries when the payee gets `amount`, from us on; `None` on
/// overflow.
fn amounts(found: &Found, amount: u64) -> Option<Vec<u64>> {
    let mut out = vec![0; found.edges.len()];
    let mut a = amount;
    for (i, (_, e)) in found.edges.iter().enumerate().rev() {
        out[i] = a;
        // The edge's forwarder adds its fee to what reaches it (we add none on ours).
        if i > 0 {
            a = a.checked_add(e.fee_msat(a)?)?;
        }
    }
    Some(out)
}

fn carried(found: &Found, amount: u64) -> Vec<u64> {
    amounts(found, amount).unwrap_or_default()
}

/// Whether `found` carries `amount` within every bound and `fee_budget`.
fn fits(found: &Found, amount: u64, fee_budget: u64) -> bool {
    let Some(a) = amounts(found, amount) else {
        return false;
    };
    let within = found
        .edges
        .iter()
        .zip(&a)
        .all(|((_, e), x)| *x <= e.bound_msat && *x >= e.htlc_minimum_msat);
    within && a.first().is_some_and(|first| first - amount <= fee_budget)
}

/// The most in `[low, high]` that `found` carries (it carries `low`): a binary search, since
/// what each channel carries grows with the amount.
fn largest(found: &Found, low: u64, high: u64, fee_budget: u64) -> u64 {
    if fits(found, high, fee_budget) {
        return high;
    }
    let (mut ok, mut bad) = (low, high);
    while bad - ok > 1 {
        let mid = ok + (bad - ok) / 2;
        if fits(found, mid, fee_budget) {
            ok = mid;
        } else {
            bad = mid;
        }
    }
    ok
}

/// The [`Path`] that sends `amount` along `found`.
fn to_path(view: &View, found: &Found, amount: u64, final_cltv: u32) -> Path {
    let a = amounts(found, amount).unwrap_or_default();
    let first = match found.edges.first() {
        Some((super::view::EdgeRef::Local(i), _)) => view.local[*i as usize].channel_id,
        _ => [0; 32],
    };
    let forwarders: Vec<ForwardingHop> = found
        .edges
        .iter()
        .skip(1)
        .map(|(_, e)| ForwardingHop {
            node_id: view.node_id(e.src),
            next_channel: e.scid.unwrap_or(crate::wire::ShortChannelId(0)),
            fee_base_msat: e.fee_base_msat,
            fee_proportional_millionths: e.fee_proportional_millionths,
            cltv_expiry_delta: e.cltv_expiry_delta,
        })
        .collect();
    let cltv = forwarders
        .iter()
        .map(|f| u32::from(f.cltv_expiry_delta))
        .sum::<u32>();
    Path {
        first_channel: first,
        forwarders,
        payee: view.node_id(view.payee),
        amount_msat: amount,
        fee_msat: a.first().map_or(0, |f| f - amount),
        cltv_delta: cltv.saturating_add(final_cltv),
    }
}

/// Why no path within the limits: searched again without the fee and CLTV limits, then for
/// the smallest amount.
fn diagnose(
    view: &View,
    s: &mut Scratch,
    limits: &Limits,
    w: &CostWeights,
    mpp: bool,
) -> RouteError {
    let loose = Limits {
        fee_budget_msat: u64::MAX,
        max_cltv: u32::MAX,
        ..*limits
    };
    if let Some(f) = search(view, s, &loose, w) {
        let p = to_path(view, &f, limits.amount_msat, limits.final_cltv_delta);
        if p.fee_msat > limits.fee_budget_msat {
            return RouteError::TooExpensive {
                fee_msat: p.fee_msat,
                max_fee_msat: limits.fee_budget_msat,
            };
        }
        if p.cltv_delta > limits.max_cltv {
            return RouteError::TooLong {
                cltv: p.cltv_delta,
                max: limits.max_cltv,
            };
        }
    }
    let tiny = Limits {
        amount_msat: 1,
        ..loose
    };
    if search(view, s, &tiny, w).is_none() {
        return RouteError::NoRoute(format!(
            "the payee cannot be reached from our usable channels in {} hops",
            limits.max_hops
        ));
    }
    let why = if mpp {
        "no set of paths carries"
    } else {
        "no single path carries (and the payee does not accept multi-part payments)"
    };
    RouteError::NoRoute(format!("{why} {} msat", limits.amount_msat))
}
