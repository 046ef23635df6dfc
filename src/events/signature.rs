//! Webhook signatures and the retry schedule.
//!
//! `Chanhub-Signature: t=UNIX,v1=HEX`, HEX = HMAC-SHA256(key = the webhook's secret as given
//! (its 64 hex characters, as bytes), message = `UNIX` `.` body). The timestamp is inside the
//! MAC, so a receiver that refuses old timestamps also refuses replayed deliveries.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

fn mac(secret: &str, timestamp: u64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Chanhub-Signature` header value for `body` sent at `timestamp` (Unix seconds).
pub fn signature_header(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Why a receiver should refuse a delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed signature header")]
    Malformed,
    #[error("timestamp {timestamp} is more than {tolerance_secs} s from now ({now})")]
    Stale {
        timestamp: u64,
        now: u64,
        tolerance_secs: u64,
    },
    #[error("signature mismatch")]
    Mismatch,
}

/// What a receiver does: parse the header, refuse a timestamp further than `tolerance_secs`
/// from `now`, and compare the MAC in constant time.
///
/// # Errors
/// [`VerifyError`] saying which check failed.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: u64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<u64>().ok(),
            Some(("v1", v)) => tags.push(hex::decode(v).map_err(|_| VerifyError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed)?;
    if tags.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if timestamp.abs_diff(now) > tolerance_secs {
        return Err(VerifyError::Stale {
            timestamp,
            now,
            tolerance_secs,
        });
    }
    let ok = tags
        .iter()
        .any(|t| mac(secret, timestamp, body).verify_slice(t).is_ok());
    if ok {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// How long to wait after `failed` attempts (at least 1) before the next one: `base` doubled
/// per failure after the first, at most [`MAX_BACKOFF`].
pub fn backoff(base: Duration, failed: u32) -> Duration {
    let doublings = failed.saturating_sub(1).min(63);
    let factor = 1u64 << doublings;
    let ms = u64::try_from(base.as_millis())
        .unwrap_or(u64::MAX)
        .saturating_mul(factor);
    Duration::from_millis(ms).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently with Python's standard library:
    /// ```text
    /// import hmac, hashlib
    /// hmac.new(("5e" * 32).encode(), b"1764000005." + body, hashlib.sha256).hexdigest()
    /// ```
    const VECTOR_SIG: &str = "d7d623739cea4427544612ff144263365e3c87c02463d675ba3164cd01a45b1b";

    fn vector_body() -> String {
        format!(
            r#"{{"id":42,"type":"invoice_paid","created_at":1764000000,"amount_msat":5000,"payment_hash":"{}"}}"#,
            "ab".repeat(32)
        )
    }

    #[test]
    fn the_signature_matches_an_independent_hmac() {
        let secret = "5e".repeat(32);
        let header = signature_header(&secret, 1_764_000_005, vector_body().as_bytes());
        assert_eq!(header, format!("t=1764000005,v1={VECTOR_SIG}"));
    }

    #[test]
    fn a_receiver_refuses_tampering_replays_and_garbage() {
        let secret = "5e".repeat(32);
        let body = vector_body();
        let h = signature_header(&secret, 1000, body.as_bytes());
        assert_eq!(verify(&secret, &h, body.as_bytes(), 1100, 300), Ok(()));
        let tampered = body.replace("5000", "9000");
        assert_eq!(
            verify(&secret, &h, tampered.as_bytes(), 1100, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&"00".repeat(32), &h, body.as_bytes(), 1100, 300),
            Err(VerifyError::Mismatch)
        );
        // The same delivery replayed an hour later.
        assert!(matches!(
            verify(&secret, &h, body.as_bytes(), 4600, 300),
            Err(VerifyError::Stale { .. })
        ));
        // A timestamp moved forward breaks the MAC.
        let moved = h.replace("t=1000", "t=4600");
        assert_eq!(
            verify(&secret, &moved, body.as_bytes(), 4600, 300),
            Err(VerifyError::Mismatch)
        );
        for bad in ["", "t=1000", "v1=00", "t=x,v1=00", "t=1000,v1=zz"] {
            assert_eq!(
                verify(&secret, bad, body.as_bytes(), 1000, 300),
                Err(VerifyError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_an_hour() {
        let base = Duration::from_millis(1000);
        let schedule: Vec<u64> = (1..=14).map(|n| backoff(base, n).as_secs()).collect();
        assert_eq!(
            schedule,
            [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600]
        );
        assert_eq!(
            backoff(Duration::from_millis(50), 3),
            Duration::from_millis(200)
        );
        assert_eq!(backoff(base, 0), base, "treated as the first failure");
        assert_eq!(backoff(Duration::from_secs(u64::MAX / 2), 64), MAX_BACKOFF);
    }
}
