//! Bearer-token authentication. Two tokens are made on first start, each in a 0600 file of
//! the data directory and compared in constant time: `api-token` may do everything;
//! `api-token-invoice` may only create and read invoices (for a shop front-end, which must not
//! be able to spend: anything else is `forbidden`).

use std::path::Path;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;

use super::ApiState;
use crate::error::Error;
use crate::keys::secret_file::create_secret_file;

/// The token file's name inside the data directory.
pub const TOKEN_FILE: &str = "api-token";
/// The invoice-only token's file.
pub const INVOICE_TOKEN_FILE: &str = "api-token-invoice";

/// Reads the full token, or makes one (32 random bytes, hex) on first start.
pub fn load_or_create_token(datadir: &Path) -> std::io::Result<String> {
    load_or_create(datadir, TOKEN_FILE)
}

/// Reads the invoice-only token, or makes one on first start.
pub fn load_or_create_invoice_token(datadir: &Path) -> std::io::Result<String> {
    load_or_create(datadir, INVOICE_TOKEN_FILE)
}

/// Reads the secret in `datadir/file`, or makes one (32 random bytes, hex, 0600) when it does
/// not exist. An empty file is an error, not a reason to make a new secret.
pub(crate) fn load_or_create(datadir: &Path, file: &str) -> std::io::Result<String> {
    let path = datadir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        Ok(_) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is empty", path.display()),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let token = hex::encode(bytes);
            create_secret_file(&path, format!("{token}\n").as_bytes())?;
            Ok(token)
        }
        Err(e) => Err(e),
    }
}

/// Compares without an early exit, so response timing says nothing about the token.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Paths served without the token: they hold nothing of the node's.
pub const PUBLIC_PATHS: &[&str] = &[super::openapi::PATH];

/// What the invoice-only token may do: create invoices, list them, read one. Not cancel nor
/// settle one (that moves or refuses money), nothing else.
fn invoice_scope(method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    match path.strip_prefix("/v1/invoices") {
        Some("") => method == Method::GET || method == Method::POST,
        Some(rest) => {
            method == Method::GET
                && rest
                    .strip_prefix('/')
                    .is_some_and(|hash| !hash.is_empty() && !hash.contains('/'))
        }
        None => false,
    }
}

pub(super) async fn require_token(
    State(state): State<ApiState>,
    req: Request,
    next: Next,
) -> Response {
    if PUBLIC_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), state.token.as_bytes()) => next.run(req).await,
        Some(t) if constant_time_eq(t.as_bytes(), state.invoice_token.as_bytes()) => {
            if invoice_scope(req.method(), req.uri().path()) {
                next.run(req).await
            } else {
                Error::Forbidden("this token may only create and read invoices".into())
                    .into_response()
            }
        }
        _ => Error::Unauthorized.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_made_once_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_token(dir.path()).unwrap();
        let b = load_or_create_token(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        #[cfg(unix)]
        assert_eq!(
            crate::keys::secret_file::mode(&dir.path().join(TOKEN_FILE)).unwrap(),
            0o600
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        let i = load_or_create_invoice_token(dir.path()).unwrap();
        assert_ne!(i, a, "a token of its own");
        assert_eq!(i, load_or_create_invoice_token(dir.path()).unwrap());
        #[cfg(unix)]
        assert_eq!(
            crate::keys::secret_file::mode(&dir.path().join(INVOICE_TOKEN_FILE)).unwrap(),
            0o600
        );
    }

    #[test]
    fn the_invoice_token_creates_and_reads_invoices_only() {
        use axum::http::Method;
        let hash = format!("/v1/invoices/{}", "ab".repeat(32));
        assert!(invoice_scope(&Method::POST, "/v1/invoices"));
        assert!(invoice_scope(&Method::GET, "/v1/invoices"));
        assert!(invoice_scope(&Method::GET, &hash));
        assert!(!invoice_scope(&Method::DELETE, &hash), "cancel");
        assert!(!invoice_scope(&Method::POST, &format!("{hash}/settle")));
        assert!(!invoice_scope(&Method::GET, &format!("{hash}/settle")));
        assert!(!invoice_scope(&Method::POST, "/v1/payments"));
        assert!(!invoice_scope(&Method::GET, "/v1/invoicesx"));
        assert!(!invoice_scope(&Method::GET, "/v1/invoices/"));
        assert!(!invoice_scope(&Method::GET, "/v1/balance"));
        assert!(!invoice_scope(&Method::GET, "/metrics"));
    }
}
