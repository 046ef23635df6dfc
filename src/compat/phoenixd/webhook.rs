//! The `webhookUrl` of an invoice: when it is paid, its `payment_received` event is POSTed
//! there as JSON, signed as phoenixd signs it (`X-Phoenix-Signature`: the hex HMAC-SHA256 of
//! the body, keyed with the webhook secret). A few attempts, then given up: best effort, as
//! phoenixd's (chanhub's own webhooks, `POST /v1/webhooks`, are the durable ones).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Semaphore;

use super::CompatState;

/// Attempts per delivery, and the wait before the second (doubled after each failure).
pub const ATTEMPTS: u32 = 3;
const RETRY_BASE: Duration = Duration::from_secs(1);
/// One attempt's time limit, connection and answer included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries in flight at once; further ones wait.
const MAX_CONCURRENT: usize = 8;

/// The `X-Phoenix-Signature` of `body`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Delivers the webhooks of paid invoices until the node stops.
pub async fn run(s: CompatState) {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .expect("ring supports the default protocol versions")
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let slots = Arc::new(Semaphore::new(MAX_CONCURRENT));
    let mut live = s.events.subscribe();
    let mut shutdown = s.shutdown.clone();
    loop {
        let e = tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            e = live.recv() => match e {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "phoenixd webhooks fell behind the event log");
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
        };
        let Some((msg, Some(url))) = super::ws::payment_received(&s, &e).await else {
            continue;
        };
        let body = msg.to_string();
        let sig = signature(&s.secrets.webhook, body.as_bytes());
        let client = client.clone();
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        tokio::spawn(async move {
            let _permit = permit;
            for attempt in 0..ATTEMPTS {
                if attempt > 0 {
                    tokio::time::sleep(RETRY_BASE * 2u32.pow(attempt - 1)).await;
                }
                let req = match hyper::Request::post(&url)
                    .header("content-type", "application/json")
                    .header("x-phoenix-signature", &sig)
                    .body(Full::new(Bytes::from(body.clone())))
                {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(%url, error = %e, "invalid phoenixd webhook URL");
                        return;
                    }
                };
                let exchange = async {
                    let resp = client.request(req).await.map_err(|e| e.to_string())?;
                    let status = resp.status();
                    let _ = resp.into_body().collect().await;
                    if status.is_success() {
                        Ok(())
                    } else {
                        Err(format!("HTTP {status}"))
                    }
                };
                match tokio::time::timeout(ATTEMPT_TIMEOUT, exchange).await {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => {
                        tracing::info!(%url, attempt, error = %e, "phoenixd webhook failed")
                    }
                    Err(_) => tracing::info!(%url, attempt, "phoenixd webhook timed out"),
                }
            }
            tracing::warn!(%url, "phoenixd webhook given up");
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_hex_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
