//! phoenixd's HTTP Basic authentication: any user name, one of two passwords. The full-access
//! password may do everything; the limited-access one everything but spend (phoenixd's rule:
//! paying is refused, reading and creating invoices are not). Both are made on first start,
//! owner-only, in the data directory, and compared in constant time.

use std::path::Path;

use axum::http::HeaderMap;
use base64::Engine;

use crate::api::auth::{constant_time_eq, load_or_create};

/// The full-access password's file inside the data directory.
pub const PASSWORD_FILE: &str = "compat-phoenixd-password";
/// The limited-access password's file.
pub const LIMITED_PASSWORD_FILE: &str = "compat-phoenixd-limited-password";
/// The key of the `X-Phoenix-Signature` HMAC on webhook deliveries (phoenixd's
/// `webhook-secret`).
pub const WEBHOOK_SECRET_FILE: &str = "compat-phoenixd-webhook-secret";

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Full,
    Limited,
}

/// The two passwords and the webhook secret.
#[derive(Clone)]
pub struct Secrets {
    pub full: String,
    pub limited: String,
    pub webhook: String,
}

impl Secrets {
    /// Reads the files of `datadir`, making each missing one (32 random bytes, hex).
    pub fn load_or_create(datadir: &Path) -> std::io::Result<Secrets> {
        Ok(Secrets {
            full: load_or_create(datadir, PASSWORD_FILE)?,
            limited: load_or_create(datadir, LIMITED_PASSWORD_FILE)?,
            webhook: load_or_create(datadir, WEBHOOK_SECRET_FILE)?,
        })
    }

    /// Which password `password` is, if either. Both are compared in full, so timing tells
    /// nothing of which one nearly matched.
    pub fn check(&self, password: &str) -> Option<Access> {
        let full = constant_time_eq(password.as_bytes(), self.full.as_bytes());
        let limited = constant_time_eq(password.as_bytes(), self.limited.as_bytes());
        match (full, limited) {
            (true, _) => Some(Access::Full),
            (false, true) => Some(Access::Limited),
            _ => None,
        }
    }

    /// The access of a request: `Authorization: Basic base64(user:password)` (the user name
    /// is ignored, as phoenixd does), or for the websocket, the password offered as one of
    /// its `Sec-WebSocket-Protocol` values (browsers cannot set headers on a websocket).
    pub fn access(&self, headers: &HeaderMap, websocket: bool) -> Option<Access> {
        let basic = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(basic_password)
            .and_then(|p| self.check(&p));
        if basic.is_some() || !websocket {
            return basic;
        }
        headers
            .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|p| self.check(p.trim()))
            .min_by_key(|a| *a == Access::Limited)
    }
}

/// The password of a `Basic` credential; `None` when it is not one.
pub fn basic_password(header: &str) -> Option<String> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (_user, password) = text.split_once(':')?;
    Some(password.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn basic(user: &str, password: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {b64}")
    }

    #[test]
    fn secrets_are_made_once_owner_only_and_differ() {
        let dir = tempfile::tempdir().unwrap();
        let a = Secrets::load_or_create(dir.path()).unwrap();
        let b = Secrets::load_or_create(dir.path()).unwrap();
        assert_eq!(
            (&a.full, &a.limited, &a.webhook),
            (&b.full, &b.limited, &b.webhook)
        );
        assert_ne!(a.full, a.limited);
        assert_eq!(a.full.len(), 64);
        #[cfg(unix)]
        for f in [PASSWORD_FILE, LIMITED_PASSWORD_FILE, WEBHOOK_SECRET_FILE] {
            assert_eq!(
                crate::keys::secret_file::mode(&dir.path().join(f)).unwrap(),
                0o600
            );
        }
    }

    #[test]
    fn basic_auth_takes_any_user_and_tells_the_two_passwords_apart() {
        let s = Secrets {
            full: "full".into(),
            limited: "lim".into(),
            webhook: "w".into(),
        };
        let mut h = HeaderMap::new();
        h.insert("authorization", basic("", "full").parse().unwrap());
        assert_eq!(s.access(&h, false), Some(Access::Full));
        h.insert("authorization", basic("anyone", "lim").parse().unwrap());
        assert_eq!(s.access(&h, false), Some(Access::Limited));
        h.insert("authorization", basic("", "ful").parse().unwrap());
        assert_eq!(s.access(&h, false), None);
        h.insert("authorization", HeaderValue::from_static("Bearer full"));
        assert_eq!(s.access(&h, false), None);
        h.insert("authorization", HeaderValue::from_static("Basic !!!"));
        assert_eq!(s.access(&h, false), None);
        assert_eq!(basic_password(&basic("", "a:b")), Some("a:b".into()));

        let mut ws = HeaderMap::new();
        ws.insert("sec-websocket-protocol", HeaderValue::from_static("x, lim"));
        assert_eq!(s.access(&ws, true), Some(Access::Limited));
        assert_eq!(s.access(&ws, false), None, "only the websocket reads it");
    }
}
