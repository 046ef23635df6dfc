//! One HTTP request: path, method, authentication, body limit, work queue, then the
//! JSON-RPC layer on the blocking pool. Statuses and headers as bitcoind's HTTP server.

use std::convert::Infallible;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};

use super::error::RpcError;
use super::value::Json;
use super::{jsonrpc, methods, Shared};

/// bitcoind sleeps this long before refusing wrong credentials, to slow down guessing.
const WRONG_PASSWORD_DELAY: Duration = Duration::from_millis(250);

type Reply = Response<Full<Bytes>>;

fn reply(status: u16, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r
}

fn unauthorized() -> Reply {
    let mut r = reply(401, Bytes::new());
    r.headers_mut().insert(
        "WWW-Authenticate",
        HeaderValue::from_static("Basic realm=\"jsonrpc\""),
    );
    r
}

fn too_large() -> Reply {
    // bitcoind drops the connection after refusing an oversized body; so do we, since the
    // rest of the body may still be on its way.
    let mut r = reply(413, Bytes::new());
    r.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    r
}

pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Reply, Infallible> {
    if req.uri().path() != "/" {
        return Ok(reply(404, Bytes::new()));
    }
    if req.method() != Method::POST {
        return Ok(reply(405, "JSONRPC server handles only POST requests"));
    }
    let Some(auth) = req.headers().get(AUTHORIZATION) else {
        return Ok(unauthorized());
    };
    if !shared.credentials.check(auth.to_str().unwrap_or("")) {
        tracing::warn!("RPC: incorrect password attempt");
        tokio::time::sleep(WRONG_PASSWORD_DELAY).await;
        return Ok(unauthorized());
    }
    let max = shared.options.max_body_bytes;
    let announced = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max as u64) {
        return Ok(too_large());
    }
    let body = match Limited::new(req.into_body(), max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Ok(too_large()),
        Err(_) => return Ok(reply(400, Bytes::new())),
    };
    let Ok(permit) = shared.work.clone().try_acquire_owned() else {
        tracing::warn!("RPC: request refused, work queue depth exceeded");
        return Ok(reply(503, "Work queue depth exceeded"));
    };
    let worker = shared.clone();
    let answered = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        jsonrpc::handle(&body, &|method, params| {
            guarded(|| methods::execute(&worker, method, params))
        })
    })
    .await;
    let (status, json) = match answered {
        Ok(answer) => answer,
        Err(e) => {
            tracing::error!("RPC worker failed: {e}");
            return Ok(reply(500, "Internal error"));
        }
    };
    let Some(json) = json else {
        return Ok(reply(status, Bytes::new()));
    };
    let mut r = reply(status, json.write() + "\n");
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

/// Runs one method call; a panic becomes an error answer (as Core's `CHECK_NONFATAL`) instead
/// of taking the server down.
fn guarded(call: impl FnOnce() -> Result<Json, RpcError>) -> Result<Json, RpcError> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        tracing::error!("RPC method panicked: {what}");
        Err(RpcError::misc(format!("Internal bug detected: {what}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_method_is_an_error_answer() {
        let e = guarded(|| panic!("boom")).unwrap_err();
        assert_eq!(e.code, -1);
        assert_eq!(e.message, "Internal bug detected: boom");
        assert_eq!(guarded(|| Ok(Json::Null)), Ok(Json::Null));
    }
}
