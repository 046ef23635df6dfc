//! `GET /v1/stats/activity?window=24h|30d`: received, sent and forwarded amounts and fees
//! earned over time, summed from the event log per hour (`24h`, 24 buckets) or per day
//! (`30d`, 30 buckets), aligned to UTC hours or days, the last bucket being the current one.
//! The dashboard draws its chart from it.

use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use super::ApiState;
use crate::error::Error;
use crate::store::activity::buckets;

/// A window the chart offers: its name, bucket width and bucket count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub name: &'static str,
    pub bucket_secs: u64,
    pub buckets: u64,
}

pub const WINDOWS: [Window; 2] = [
    Window {
        name: "24h",
        bucket_secs: 3_600,
        buckets: 24,
    },
    Window {
        name: "30d",
        bucket_secs: 86_400,
        buckets: 30,
    },
];

/// The window a query names (`24h` without one).
pub fn parse_window(query: Option<&str>) -> Result<Window, Error> {
    let mut window = WINDOWS[0];
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("window", v) => {
                window = WINDOWS.into_iter().find(|w| w.name == v).ok_or_else(|| {
                    Error::InvalidRequest(format!("window {v:?} is neither 24h nor 30d"))
                })?
            }
            (other, _) => {
                return Err(Error::InvalidRequest(format!(
                    "unknown query parameter {other:?} (expected window)"
                )))
            }
        }
    }
    Ok(window)
}

/// Where the window's first bucket starts at `now`: buckets aligned to their width, the last
/// one holding `now`.
pub fn window_start(w: Window, now: u64) -> u64 {
    (now / w.bucket_secs + 1).saturating_sub(w.buckets) * w.bucket_secs
}

pub(super) async fn activity(
    State(s): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Error> {
    let w = parse_window(query.as_deref())?;
    let start = window_start(w, crate::events::now_secs());
    let rows = s
        .store
        .call(move |c| buckets(c, start, w.bucket_secs, w.buckets))
        .await?;
    let rows: Vec<Value> = rows
        .iter()
        .map(|b| {
            json!({
                "start": b.start,
                "received_msat": b.received_msat,
                "received_count": b.received_count,
                "sent_msat": b.sent_msat,
                "sent_count": b.sent_count,
                "forwarded_msat": b.forwarded_msat,
                "forwarded_count": b.forwarded_count,
                "fees_earned_msat": b.fees_earned_msat,
            })
        })
        .collect();
    Ok(Json(json!({
        "window": w.name,
        "bucket_secs": w.bucket_secs,
        "buckets": rows,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_and_align_to_their_buckets() {
        assert_eq!(parse_window(None).unwrap().name, "24h");
        assert_eq!(parse_window(Some("window=30d")).unwrap().buckets, 30);
        for bad in ["window=7d", "window=", "limit=3"] {
            assert!(
                matches!(parse_window(Some(bad)), Err(Error::InvalidRequest(_))),
                "{bad}"
            );
        }
        let day = WINDOWS[1];
        // 2026-12-07T06:30:00Z: the last bucket is that day, the first 29 days before.
        let now = 1_796_625_000;
        let start = window_start(day, now);
        assert_eq!(start % 86_400, 0);
        assert!(start + 29 * 86_400 <= now && now < start + 30 * 86_400);
        let hour = WINDOWS[0];
        let start = window_start(hour, now);
        assert_eq!((now - start) / 3_600, 23);
        assert_eq!(window_start(hour, 10), 0, "no time before 1970");
    }
}
