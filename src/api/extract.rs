//! A JSON body extractor whose every failure is one of our API errors (axum's own answers in
//! plain text and requires a content type; ours answers JSON and only looks at the bytes).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::MAX_BODY_BYTES;
use crate::error::Error;

pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge {
                    limit: MAX_BODY_BYTES,
                }
            } else {
                Error::InvalidRequest(r.body_text())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| Error::InvalidRequest(format!("malformed JSON body: {e}")))
    }
}
