//! Webhook routes: merchants register a URL for the event types they want; the node POSTs
//! each such event there, signed (see `crate::events::delivery`).

use axum::extract::State;
use axum::Json;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{JsonBody, PathParam};
use super::ApiState;
use crate::error::Error;
use crate::events::{now_secs, EventKind};
use crate::store::webhooks::{self as q, Webhook};

type ApiResult = Result<Json<Value>, Error>;

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// A webhook as listed: no secret, with its delivery counts.
fn webhook_json(w: &Webhook) -> Value {
    json!({
        "id": w.id,
        "url": w.url,
        "events": w.events.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "created_at": w.created_at,
        "pending": w.pending,
        "delivered": w.delivered,
        "failed": w.failed,
    })
}

/// Checks a webhook URL: absolute `http` or `https` with a host.
pub(super) fn check_url(url: &str) -> Result<(), Error> {
    let bad = |why: &str| Error::InvalidRequest(format!("url {url:?}: {why}"));
    if url.len() > MAX_URL_LEN {
        return Err(bad(&format!("longer than {MAX_URL_LEN} characters")));
    }
    let uri: hyper::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(bad("must start with http:// or https://")),
    }
    if uri.host().map_or(true, str::is_empty) {
        return Err(bad("has no host"));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WebhookRequest {
    url: String,
    #[serde(default)]
    events: Vec<String>,
}

pub(super) async fn create(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<WebhookRequest>,
) -> ApiResult {
    let url = req.url.trim().to_string();
    check_url(&url)?;
    let events = EventKind::parse_list(req.events.iter().map(String::as_str))
        .map_err(Error::InvalidRequest)?;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let secret = hex::encode(key);
    let now = now_secs();
    let w = s
        .store
        .write(move |tx| q::insert(tx, &url, &events, &secret, now))
        .await?;
    tracing::info!(webhook = w.id, url = %w.url, "webhook added");
    Ok(Json(json!({
        "id": w.id,
        "url": w.url,
        "events": w.events.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "secret": w.secret,
        "created_at": w.created_at,
    })))
}

pub(super) async fn list(State(s): State<ApiState>) -> ApiResult {
    let all = s.store.call(q::list).await?;
    Ok(Json(
        json!({ "webhooks": all.iter().map(webhook_json).collect::<Vec<_>>() }),
    ))
}

fn parse_id(id: &str) -> Result<u64, Error> {
    id.trim()
        .parse()
        .map_err(|_| Error::WebhookNotFound(format!("no webhook {id:?}")))
}

pub(super) async fn show(State(s): State<ApiState>, PathParam(id): PathParam) -> ApiResult {
    let id = parse_id(&id)?;
    let w = s
        .store
        .call(move |c| q::get(c, id))
        .await?
        .ok_or_else(|| Error::WebhookNotFound(format!("no webhook {id}")))?;
    Ok(Json(webhook_json(&w)))
}

/// Removes the webhook; its pending deliveries are dropped.
pub(super) async fn remove(State(s): State<ApiState>, PathParam(id): PathParam) -> ApiResult {
    let id = parse_id(&id)?;
    let w = s
        .store
        .write(move |tx| q::delete(tx, id))
        .await?
        .ok_or_else(|| Error::WebhookNotFound(format!("no webhook {id}")))?;
    tracing::info!(webhook = w.id, url = %w.url, "webhook removed");
    Ok(Json(webhook_json(&w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http_or_https_with_a_host() {
        for ok in [
            "https://shop.example/hooks/chanhub",
            "http://127.0.0.1:8080/x?y=1",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://shop.example/",
            "shop.example/hook",
            "/hook",
            "https://",
            "not a url",
            "",
        ] {
            assert_eq!(
                check_url(bad).unwrap_err().code(),
                "invalid_request",
                "{bad}"
            );
        }
        let long = format!("https://a.example/{}", "x".repeat(MAX_URL_LEN));
        assert!(check_url(&long).is_err());
    }
}
