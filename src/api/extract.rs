//! Extractors whose every failure is one of our API errors: axum's own answer in plain text
//! (and its JSON extractor requires a content type); ours answer `{"error": {...}}`.
//!
//! The content type of a body is not checked: a body is JSON if its bytes are, so `curl -d`
//! (which says `application/x-www-form-urlencoded`) works as well as a client that says
//! `application/json`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::MAX_BODY_BYTES;
use crate::error::Error;

/// A JSON request body.
pub struct JsonBody<T>(pub T);

/// A JSON request body that may be left out (empty or blank): `None` then.
pub struct OptionalJsonBody<T>(pub Option<T>);

/// The one parameter of a path such as `/v1/channels/{id}`, percent-decoded.
pub struct PathParam(pub String);

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Error> {
    Bytes::from_request(req, state).await.map_err(|r| {
        if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            }
        } else {
            Error::InvalidRequest(r.body_text())
        }
    })
}

/// A body is one JSON object: serde would also read a struct from an array (`[true]` as
/// `{"force": true}`), which no caller means.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::InvalidRequest(format!("malformed JSON body: {e}")))?;
    if !value.is_object() {
        return Err(Error::InvalidRequest(
            "the body must be a JSON object".into(),
        ));
    }
    T::deserialize(value).map_err(|e| Error::InvalidRequest(format!("malformed JSON body: {e}")))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        parse(&body_bytes(req, state).await?).map(JsonBody)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(None));
        }
        parse(&bytes).map(|v| OptionalJsonBody(Some(v)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        // Fails only when the percent-decoded segment is not UTF-8.
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| PathParam(p.0))
            .map_err(|r| Error::InvalidRequest(format!("bad path parameter: {}", r.body_text())))
    }
}
