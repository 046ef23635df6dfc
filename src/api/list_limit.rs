//! `?limit=N` on the list routes (`/v1/payments`, `/v1/invoices`, `/v1/forwards`): a hub with
//! a long history answers with its newest rows instead of building every row it ever recorded
//! in memory.

use axum::extract::{FromRequestParts, RawQuery};
use axum::http::request::Parts;

use crate::error::Error;

/// Rows a list answers with when the caller names no limit.
pub const DEFAULT_LIST_LIMIT: usize = 1000;
/// The largest limit a caller may ask for: bounds the memory one request can take.
pub const MAX_LIST_LIMIT: usize = 10_000;

/// How many rows (newest first) a list request wants, checked against `1..=MAX_LIST_LIMIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListLimit(pub usize);

impl Default for ListLimit {
    fn default() -> Self {
        ListLimit(DEFAULT_LIST_LIMIT)
    }
}

impl ListLimit {
    /// Reads the raw query string; no query (or no `limit`) is the default.
    pub fn parse(query: Option<&str>) -> Result<Self, Error> {
        let mut limit = ListLimit::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "limit" => limit = ListLimit(parse_limit(value)?),
                other => {
                    return Err(Error::InvalidRequest(format!(
                        "unknown query parameter {other:?} (expected limit)"
                    )))
                }
            }
        }
        Ok(limit)
    }
}

fn parse_limit(value: &str) -> Result<usize, Error> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
        .ok_or_else(|| {
            Error::InvalidRequest(format!(
                "limit {value:?} is not an integer from 1 to {MAX_LIST_LIMIT}"
            ))
        })
}

impl<S: Send + Sync> FromRequestParts<S> for ListLimit {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        // RawQuery cannot fail.
        let RawQuery(query) = RawQuery::from_request_parts(parts, state)
            .await
            .unwrap_or(RawQuery(None));
        ListLimit::parse(query.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_limit_is_the_default() {
        assert_eq!(
            ListLimit::parse(None).unwrap(),
            ListLimit(DEFAULT_LIST_LIMIT)
        );
        assert_eq!(ListLimit::parse(Some("")).unwrap(), ListLimit(1000));
    }

    #[test]
    fn a_limit_in_range_is_taken() {
        for (q, n) in [
            ("limit=1", 1),
            ("limit=25", 25),
            ("limit=10000", MAX_LIST_LIMIT),
            ("limit=3&limit=7", 7),
        ] {
            assert_eq!(ListLimit::parse(Some(q)).unwrap(), ListLimit(n), "{q}");
        }
    }

    #[test]
    fn anything_else_is_an_invalid_request() {
        for q in [
            "limit=0",
            "limit=10001",
            "limit=-1",
            "limit=abc",
            "limit=",
            "limit",
            "limit=2.5",
            "limit=99999999999999999999999",
            "limit=%31",
            "count=5",
        ] {
            match ListLimit::parse(Some(q)) {
                Err(Error::InvalidRequest(_)) => {}
                other => panic!("{q}: expected invalid_request, got {other:?}"),
            }
        }
    }
}
