//! Webhook delivery: POSTs each logged event to every webhook subscribed to its type, signed
//! (see [`super::signature`]), until the receiver answers 2xx or the attempts run out.
//!
//! - Each webhook gets its events in id order: only its oldest pending delivery is attempted,
//!   and at most one attempt per webhook is in flight.
//! - At most [`MAX_CONCURRENT`] attempts are in flight across webhooks, and a receiver that
//!   hangs costs at most [`ATTEMPT_TIMEOUT`] per attempt: up to `MAX_CONCURRENT - 1` dead
//!   receivers do not hold up the others at all; more delay them by at most that timeout, and
//!   once backing off a dead receiver holds no slot.
//! - After a failure (a status other than 2xx, a connection error, the timeout) the next
//!   attempt waits [`super::signature::backoff`]; after `max_attempts` the delivery is
//!   `failed` and the webhook's next event goes.
//! - Every attempt's outcome is stored, so pending deliveries resume after a restart. An
//!   attempt cut short by a stop is made again: delivery is at least once, and receivers
//!   deduplicate by `Chanhub-Event-Id`.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::signature::{backoff, signature_header};
use super::{now_ms, now_secs, EventLog};
use crate::store::webhooks::{self as q, Attempt, Due};

/// Attempts in flight at once, across webhooks.
pub const MAX_CONCURRENT: usize = 8;
/// How long one attempt may take, connection and answer included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of an error answer kept for the delivery's `last_error`.
const ERROR_SNIPPET: usize = 200;

/// The retry settings (`chanhub.toml`: `webhook_retry_base_ms`, `webhook_max_attempts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// The wait after the first failed attempt; doubled after each further one.
    pub retry_base: Duration,
    /// Attempts before a delivery is `failed`.
    pub max_attempts: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            retry_base: Duration::from_millis(1000),
            max_attempts: 12,
        }
    }
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An HTTP client for `http` and `https` URLs: rustls with the ring provider and the Mozilla
/// roots compiled in, so nothing depends on the system's certificate store.
fn http_client() -> HttpClient {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .expect("ring supports the default protocol versions")
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(https)
}

/// Delivers pending webhook events until `shutdown`.
pub async fn run(log: EventLog, cfg: DeliveryConfig, mut shutdown: watch::Receiver<bool>) {
    let client = http_client();
    let wake = log.deliveries_wake();
    let store = log.store().clone();
    let mut in_flight: HashSet<u64> = HashSet::new();
    let mut attempts: JoinSet<u64> = JoinSet::new();
    loop {
        let mut next_due: Option<u64> = None;
        match store.call(q::due_heads).await {
            Ok(heads) => {
                let now = now_ms();
                for due in heads {
                    if in_flight.contains(&due.webhook_id) {
                        continue;
                    }
                    if due.next_attempt_at > now {
                        next_due = Some(
                            next_due.map_or(due.next_attempt_at, |n| n.min(due.next_attempt_at)),
                        );
                        continue;
                    }
                    if in_flight.len() >= MAX_CONCURRENT {
                        // A finished attempt wakes the loop again.
                        continue;
                    }
                    in_flight.insert(due.webhook_id);
                    let (client, store) = (client.clone(), store.clone());
                    attempts.spawn(async move {
                        let id = due.webhook_id;
                        attempt(&client, &store, cfg, due).await;
                        id
                    });
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read pending webhook deliveries; retrying");
                next_due = Some(now_ms() + 1000);
            }
        }
        let sleep = next_due.map(|at| Duration::from_millis(at.saturating_sub(now_ms())));
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            _ = wake.notified() => {}
            Some(done) = attempts.join_next() => {
                if let Ok(id) = done {
                    in_flight.remove(&id);
                } else {
                    // A panicked attempt: forget every slot it may hold; the rows say the rest.
                    in_flight.clear();
                    attempts.abort_all();
                }
            }
            _ = tokio::time::sleep(sleep.unwrap_or(Duration::from_secs(3600))), if sleep.is_some() => {}
        }
    }
    attempts.shutdown().await;
    tracing::debug!("webhook delivery stopped");
}

/// One attempt at `due`, and its outcome stored.
async fn attempt(client: &HttpClient, store: &crate::store::Store, cfg: DeliveryConfig, due: Due) {
    let result = post(client, &due).await;
    let made = due.attempts + 1;
    let outcome = match result {
        Ok(status) if (200..300).contains(&status) => Attempt::Delivered { status },
        failure => {
            let (status, error) = match failure {
                Ok(status) => (Some(status), format!("HTTP {status}")),
                Err(Failure { status, error }) => (status, error),
            };
            if made >= cfg.max_attempts {
                tracing::warn!(webhook = due.webhook_id, event = due.event.id, attempts = made,
                    %error, "webhook delivery failed for good");
                Attempt::Failed { status, error }
            } else {
                let wait = backoff(cfg.retry_base, made);
                tracing::info!(webhook = due.webhook_id, event = due.event.id, attempts = made,
                    %error, retry_in_ms = wait.as_millis() as u64, "webhook delivery failed; retrying");
                Attempt::Retry {
                    status,
                    error,
                    next_attempt_at: now_ms() + wait.as_millis() as u64,
                }
            }
        }
    };
    if matches!(outcome, Attempt::Delivered { .. }) {
        tracing::debug!(
            webhook = due.webhook_id,
            event = due.event.id,
            "webhook delivered"
        );
    }
    let (webhook, event) = (due.webhook_id, due.event.id);
    let now = now_ms();
    if let Err(e) = store
        .write(move |tx| q::record_attempt(tx, webhook, event, &outcome, now))
        .await
    {
        // Not recorded: the delivery stays due and is attempted again.
        tracing::warn!(error = %e, "cannot record a webhook attempt");
    }
}

struct Failure {
    status: Option<u16>,
    error: String,
}

/// POSTs the event; the answer's status, read to the end (so the connection can be reused).
async fn post(client: &HttpClient, due: &Due) -> Result<u16, Failure> {
    let fail = |error: String| Failure {
        status: None,
        error,
    };
    let body = due.event.to_json();
    let signature = signature_header(&due.secret, now_secs(), body.as_bytes());
    let req = Request::post(&due.url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("chanhub/", env!("CARGO_PKG_VERSION")))
        .header("chanhub-event-id", due.event.id.to_string())
        .header("chanhub-event-type", due.event.kind().as_str())
        .header("chanhub-signature", signature)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| fail(format!("invalid request: {e}")))?;
    let exchange = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| fail(error_chain(&e)))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.map_err(|e| Failure {
            status: Some(status),
            error: format!("reading the answer: {e}"),
        })?;
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&body.to_bytes()).into_owned();
            let snippet: String = text.chars().take(ERROR_SNIPPET).collect();
            return Err(Failure {
                status: Some(status),
                error: format!("HTTP {status}: {snippet}")
                    .trim_end_matches(": ")
                    .to_string(),
            });
        }
        Ok(status)
    };
    match tokio::time::timeout(ATTEMPT_TIMEOUT, exchange).await {
        Ok(r) => r,
        Err(_) => Err(fail(format!(
            "no answer within {} s",
            ATTEMPT_TIMEOUT.as_secs()
        ))),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::events::EventData;
    use crate::store::Store;

    /// A receiver that answers 200 to every request and counts them, over raw HTTP/1.1.
    async fn ok_receiver() -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 4096];
                    // Headers, then the body by its Content-Length.
                    loop {
                        let n = tcp.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        req.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&req).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len: usize = text
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length: ")
                                        .map(|v| v.trim().parse().unwrap())
                                })
                                .unwrap_or(0);
                            if req.len() >= end + 4 + len {
                                break;
                            }
                        }
                    }
                    seen.fetch_add(1, Ordering::SeqCst);
                    let _ = tcp
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                });
            }
        });
        (addr, count)
    }

    #[tokio::test]
    async fn a_receiver_that_hangs_does_not_hold_up_the_others() {
        let store = Store::open_in_memory().unwrap();
        let log = EventLog::open(store.clone()).await.unwrap();
        // Accepts connections and never answers.
        let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hanging_addr = hanging.local_addr().unwrap();
        let _held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((tcp, _)) = hanging.accept().await {
                open.push(tcp);
            }
        });
        let (ok_addr, delivered) = ok_receiver().await;
        let secret = "5e".repeat(32);
        let l = log.clone();
        store
            .write(move |tx| {
                for _ in 0..MAX_CONCURRENT - 1 {
                    q::insert(tx, &format!("http://{hanging_addr}/"), &[], &secret, 0)?;
                }
                q::insert(tx, &format!("http://{ok_addr}/"), &[], &secret, 0)?;
                for n in 0..3u64 {
                    let data = EventData::InvoicePaid {
                        payment_hash: format!("{n:064x}"),
                        amount_msat: n + 1,
                    };
                    l.record(tx, &data)?;
                }
                Ok(())
            })
            .await
            .unwrap();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(log, DeliveryConfig::default(), stopped));
        // All slots but one are held by hanging receivers: the good one still gets its three
        // events, long before the 10 s timeout would free a slot.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while delivered.load(Ordering::SeqCst) < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} delivered",
                delivered.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let hooks = store.call(q::list).await.unwrap();
        let good = hooks.last().unwrap();
        assert_eq!((good.delivered, good.pending), (3, 0));
        assert!(hooks[..MAX_CONCURRENT - 1]
            .iter()
            .all(|w| w.pending == 3 && w.delivered == 0));
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops promptly, in-flight attempts abandoned")
            .unwrap();
    }
}
